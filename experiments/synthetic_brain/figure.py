"""Real sample volume beside a synthetic one (same grid, same colour scale) with their spatial
noise spectra, and the real-vs-synthetic table: ``make synthetic-figure``.

    .venv/bin/python -m experiments.synthetic_brain.figure --synthetic data/synthetic \
        --real ../shared/bold5000/sample_volumes --out docs/figures
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bold5000_ae.synthetic.calibration import (  # noqa: E402
    noise_stats,
    resampled_real,
    synthetic_sample,
    triple_pairs,
)


def radial_spectrum(residuals: np.ndarray, mask: np.ndarray, voxel_mm: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Mean spatial power of the in-brain residuals by radial frequency (cycles/mm), each
    volume's power normalised to sum 1 so the two data sets compare in shape."""
    power = 0.0
    for vol in residuals:
        field = np.where(mask, vol, 0.0)
        p = np.abs(np.fft.fftn(field)) ** 2
        power = power + p / p.sum()
    freqs = np.meshgrid(*[np.fft.fftfreq(n, voxel_mm) for n in mask.shape], indexing="ij")
    radius = np.sqrt(sum(f ** 2 for f in freqs))
    edges = np.linspace(0, radius.max(), 16)
    idx = np.digitize(radius.ravel(), edges)
    spec = np.array([power.ravel()[idx == i].mean() if (idx == i).any() else np.nan
                     for i in range(1, len(edges))])
    return (edges[:-1] + edges[1:]) / 2, spec


def _slices(ax_row: np.ndarray, volume: np.ndarray, mask: np.ndarray, vmin: float,
            vmax: float, title: str) -> None:
    centre = [int(np.mean(np.nonzero(mask.any(axis=tuple(j for j in range(3) if j != i)))))
              for i in range(3)]
    views = [volume[centre[0]].T, volume[:, centre[1]].T, volume[:, :, centre[2]].T]
    for ax, view in zip(ax_row, views):
        ax.imshow(view, origin="lower", cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_axis_off()
    ax_row[0].set_title(title, loc="left", fontsize=9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--real", type=Path, default=Path("../shared/bold5000/sample_volumes"))
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    args = parser.parse_args()
    syn, syn_mask, syn_zooms = synthetic_sample(args.synthetic)
    vox = float(np.mean(syn_zooms))
    real, real_mask, real_zooms = resampled_real(args.real, vox)
    pairs = triple_pairs(len(syn))
    table = {"voxel_mm": vox,
             "real": noise_stats(real, real_mask, real_zooms, pairs),
             "synthetic": noise_stats(syn, syn_mask, syn_zooms, pairs)}
    table["ratio"] = {k: table["synthetic"][k] / table["real"][k] for k in table["real"]
                      if not k.startswith("n_") and table["real"][k]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synthetic_calibration.json").write_text(json.dumps(table, indent=2))

    fig = plt.figure(figsize=(10, 6.5))
    grid = fig.add_gridspec(3, 4, width_ratios=[1, 1, 1, 1.6])
    vmin, vmax = 0.0, float(np.percentile(np.r_[real[0][real_mask], syn[0][syn_mask]], 99.5))
    _slices(np.array([fig.add_subplot(grid[0, i]) for i in range(3)]), real[0], real_mask,
            vmin, vmax, f"real CSI1 volume 1 (on {vox:g} mm)")
    _slices(np.array([fig.add_subplot(grid[1, i]) for i in range(3)]), syn[0], syn_mask,
            vmin, vmax, "synthetic (brain), sub-CSI1 run 1, same frame")
    res_real, res_syn = real - real.mean(0), syn - syn.mean(0)
    lim = float(np.percentile(np.abs(res_real[0][real_mask]), 99))
    axes = [fig.add_subplot(grid[2, i]) for i in range(3)]
    for ax, vol, mask, name in ((axes[0], res_real[0], real_mask, "real residual"),
                                (axes[1], res_syn[0], syn_mask, "synthetic residual")):
        centre = int(np.mean(np.nonzero(mask.any(axis=(0, 1)))))
        ax.imshow(np.where(mask, vol, np.nan)[:, :, centre].T, origin="lower", cmap="RdBu_r",
                  vmin=-lim, vmax=lim)
        ax.set_title(name, fontsize=9, loc="left")
        ax.set_axis_off()
    axes[2].set_axis_off()
    spec_ax = fig.add_subplot(grid[:, 3])
    for res, mask, name in ((res_real, real_mask, "real"), (res_syn, syn_mask, "synthetic")):
        f, p = radial_spectrum(res, mask, vox)
        spec_ax.semilogy(f, p, marker="o", label=name)
    spec_ax.set_xlabel("spatial frequency (cycles/mm)")
    spec_ax.set_ylabel("normalised residual power")
    spec_ax.set_title("spatial noise spectra", fontsize=9)
    spec_ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "synthetic_real_vs_brain.png", dpi=110)
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
