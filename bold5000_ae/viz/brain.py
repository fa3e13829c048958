"""Brain figures the way this field reads them (nilearn): one test sample, true, reconstructed
and residual, each as orthogonal cuts in world coordinates (mm) with L/R marks, the cut
coordinates printed, and the brain mask's outline; the title names the sample and its own R².
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402


def sample_r2(true: np.ndarray, recon: np.ndarray, mask: np.ndarray) -> float:
    """R² of one sample over its in-mask voxels against the training mean, which is 0 after the
    datamodule's per-voxel z-scoring: 1 - SS_res / SS_true."""
    t, r = true[mask].astype(np.float64), recon[mask].astype(np.float64)
    total = float(np.sum(t ** 2))
    return float("nan") if total == 0 else 1.0 - float(np.sum((t - r) ** 2)) / total


def peak_coords(volume: np.ndarray, affine: np.ndarray) -> tuple[float, float, float]:
    """World coordinates (mm) of the strongest voxel: the cuts go through the signal."""
    index = np.unravel_index(int(np.argmax(np.abs(volume))), volume.shape)
    x, y, z = nib.affines.apply_affine(affine, index)
    return float(x), float(y), float(z)


def brain_panels(true: np.ndarray, recon: np.ndarray, affine: np.ndarray, mask: np.ndarray,
                 path: str | Path, sample: str = "test sample 0",
                 cut_coords: tuple[float, float, float] | None = None) -> plt.Figure:
    """Three rows (true, reconstructed, residual = true − reconstructed) of nilearn ortho cuts
    through the same point, on one symmetric colour scale with its colour bar, each outlined
    by the mask. Saved to ``path`` and returned (for TensorBoard / wandb)."""
    from nilearn import plotting

    mask = mask.astype(bool)
    affine = np.asarray(affine, dtype=np.float64)
    inside = np.abs(true[mask]) if mask.any() else np.abs(true).ravel()
    vmax = float(np.percentile(inside, 99)) if inside.size and inside.max() > 0 else 1.0
    coords = cut_coords or peak_coords(np.where(mask, true, 0.0), affine)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), affine)
    r2 = sample_r2(true, recon, mask)
    fig, axes = plt.subplots(3, 1, figsize=(9, 9))
    panels = (("true", true), ("reconstructed", recon), ("residual (true − reconstructed)",
                                                         true - recon))
    for ax, (name, volume) in zip(axes, panels, strict=True):
        image = nib.Nifti1Image(np.where(mask, volume, 0.0).astype(np.float32), affine)
        display = plotting.plot_stat_map(
            image, bg_img=None, display_mode="ortho", cut_coords=coords, axes=ax,
            cmap="RdBu_r", vmax=vmax, symmetric_cbar=True, colorbar=True, annotate=True,
            draw_cross=False, black_bg=False, title=name)
        display.add_contours(mask_img, levels=[0.5], colors="k", linewidths=0.8)
    fig.suptitle(f"{sample}: R² {r2:.3f} (this sample, in-mask, vs the training mean)\n"
                 f"cuts at x={coords[0]:.0f} y={coords[1]:.0f} z={coords[2]:.0f} mm · "
                 "colour: normalised BOLD (z) · outline: brain mask", fontsize=10)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return fig
