"""Generate, prepare (data + noise-free twin) and score PCA-k against the measured ceiling.

    .venv/bin/python -m experiments.synthetic_brain.measure --out /tmp/brain [--set key=value ...]
        [--mask visual|brain] [--k 8 64]

Why a script: the calibration numbers in docs/synthetic.md come from here, on the
same split the default ``make train`` uses, so anyone can re-run them.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.evaluation.baselines import datamodule_baselines
from bold5000_ae.evaluation.ceiling import ceiling_metrics, twin_path
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.synthetic import BrainSpec, generate
from bold5000_ae.synthetic.noise import HIGH_PASS_HZ, MOTION_COLUMNS

STIMULI = "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli"
# which per-subject mask the preparation keeps: the visual ROIs (conf/source/synthetic_visual.yaml,
# what `make data` prepares) or the whole brain
MASKS = {"visual": "sub-CSI{subject}_mask-visual.nii.gz",
         "brain": "sub-CSI{subject}_brainmask.nii.gz"}


def prepare_tree(raw: Path, bids: Path, output: Path, image_size: int = 32,
                 high_pass: float | None = HIGH_PASS_HZ, mask: str = "visual") -> None:
    """Prepare as conf/source/synthetic_visual.yaml does: linear cleaning, the motion confounds and
    the confounds file's cosine columns (the 128 s high-pass; ``high_pass=None``: motion only,
    no high-pass), the visual ROI voxels (``mask="brain"``: the whole brain)."""
    confounds = list(MOTION_COLUMNS)
    if high_pass is not None:
        if high_pass != HIGH_PASS_HZ:
            raise ValueError(f"the confounds files hold a {HIGH_PASS_HZ} Hz cosine basis")
        header = next(bids.rglob("*_desc-confounds_timeseries.tsv")).read_text().split("\n")[0]
        confounds += [c for c in header.split("\t") if c.startswith("cosine")]
    source = BidsSource(bids, mask=str(bids / "derivatives/masks" / MASKS[mask]),
                        standardize=False, confounds=confounds, high_pass=None)
    truth = json.loads((raw / "ground_truth.json").read_text())
    prepare_dataset(source, output, stimuli_root=raw / STIMULI, image_size=image_size,
                    labels={"table": str(raw / "labels.tsv")}, overwrite=True,
                    extra_attrs={"ground_truth": truth})


def build(out: Path, spec: BrainSpec, high_pass: float | None = HIGH_PASS_HZ,
          mask: str = "visual") -> Path:
    """Generate ``spec`` under ``out/raw`` and prepare both trees; return the data file."""
    shutil.rmtree(out, ignore_errors=True)
    generate(out / "raw", spec)
    data = out / "data.h5"
    prepare_tree(out / "raw", out / "raw" / "bids", data, spec.image_size, high_pass, mask)
    prepare_tree(out / "raw", out / "raw" / "noiseless" / "bids", twin_path(data),
                 spec.image_size, high_pass, mask)
    return data


def pca_r2(dm: BoldDataModule, k: int) -> float:
    """Test R² of PCA-k fitted on the training rows (normalised as the model sees them)."""
    return datamodule_baselines(dm, k)["baseline/pca_k/test/r2"]


def score(data: Path, ks: tuple[int, ...] = (8, 64)) -> dict[str, float]:
    dm = BoldDataModule(data)
    dm.setup()
    out = {k: v for k, v in ceiling_metrics(dm).items() if "/run_" not in k}
    out.update({f"pca_{k}/test/r2": pca_r2(dm, k) for k in ks})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--set", nargs="*", default=[], help="BrainSpec overrides key=value")
    parser.add_argument("--mask", choices=sorted(MASKS), default="visual")
    parser.add_argument("--k", type=int, nargs="*", default=[8, 64])
    args = parser.parse_args()
    over = {}
    for item in args.set:
        key, value = item.split("=", 1)
        default = getattr(BrainSpec(), key)
        over[key] = (tuple(json.loads(value)) if isinstance(default, tuple)
                     else type(default)(float(value)))
    data = build(args.out, replace(BrainSpec(), **over), mask=args.mask)
    out = {"set": over, "mask": args.mask, **score(data, tuple(args.k))}
    for k in args.k:
        out[f"ceiling_minus_pca_{k}"] = out["ceiling/test/r2"] - out[f"pca_{k}/test/r2"]
        out[f"twin_pca_{k}_share"] = clean_pca_r2(data, k)
        out[f"noise_pca_{k}_share"] = noise_pca_r2(data, k)
    out.update(visual_reliability(data, args.out / "raw"))
    (args.out / "measure.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def _split(dm: BoldDataModule, name: str) -> np.ndarray:
    """A split's rows as the datamodule serves them (loaded into RAM on first use)."""
    dm.datasets[name].load()
    return dm.datasets[name]._bold.numpy()


def clean_pca_r2(data: Path, k: int) -> float:
    """Share of the twin's test variance PCA-k (fitted on the twin's training rows) keeps: how
    many linear dimensions the planted signal needs."""
    twin = BoldDataModule(twin_path(data), normalize="mean")
    twin.setup()
    train = _split(twin, "train").astype(np.float64)
    test = _split(twin, "test").astype(np.float64)
    _, _, vt = np.linalg.svd(train, full_matrices=False)
    recon = test @ vt[:k].T @ vt[:k]
    return float(1 - ((recon - test) ** 2).sum() / (test ** 2).sum())


def noise_pca_r2(data: Path, k: int) -> float:
    """Share of the prepared noise's test variance (observed - twin) PCA-k fitted on the
    training noise keeps: what a rank-k model gains by reconstructing noise."""
    obs, twin = BoldDataModule(data), BoldDataModule(twin_path(data), normalize="none")
    obs.setup()
    twin.setup()
    parts = {}
    for name in ("train", "test"):
        o = _split(obs, name).astype(np.float64)
        c = (_split(twin, name) - obs.mean) / obs.std
        parts[name] = o - c
    _, _, vt = np.linalg.svd(parts["train"], full_matrices=False)
    test = parts["test"]
    recon = test @ vt[:k].T @ vt[:k]
    return float(1 - ((recon - test) ** 2).sum() / (test ** 2).sum())


def visual_reliability(data: Path, raw: Path) -> dict[str, float]:
    """Per-voxel single-volume R² of the twin against the observed rows, all rows, in the
    visual voxels of subject 1 (median, 90th percentile) and elsewhere (max)."""
    obs, twin = BoldDataModule(data, normalize="none"), BoldDataModule(twin_path(data),
                                                                        normalize="none")
    obs.setup()
    twin.setup()
    o = np.concatenate([_split(obs, n) for n in ("train", "val", "test")])
    c = np.concatenate([_split(twin, n) for n in ("train", "val", "test")])
    r2 = 1 - ((o - c) ** 2).sum(0) / ((o - o.mean(0)) ** 2).sum(0)
    truth = np.load(raw / "ground_truth.npz")
    visual = (truth["sub-CSI1_roi_weight"] > 0)[obs.mask]
    return {"visual_median_r2": float(np.median(r2[visual])),
            "visual_p90_r2": float(np.percentile(r2[visual], 90)),
            "outside_max_r2": float(r2[~visual].max()) if (~visual).any() else None,
            "visual_fraction": float(visual.mean())}


if __name__ == "__main__":
    main()
