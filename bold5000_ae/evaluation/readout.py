"""A trained encoder as a fixed feature extractor, beside its honest baselines.

What is measured on a prepared file (the run's own, or another for the generalization
question): the grouped-CV living/non-living AUC of a logistic read-out (C by nested grouped CV)
of, on the same folds:

- the trained encoder's latent (means, for a VAE);
- the untrained encoder: same architecture, ``untrained_inits`` fresh random inits;
- PCA-k and a random Gaussian projection to k dims (k = the latent size), and PCA at the k an
  inner CV on each fold's training rows picks from ``pca_k_grid`` (``pca_best_k``);
- the raw in-mask voxels;
- the oracle, on the same folds, where the file has a prepared noise-free twin beside it
  (``baselines.oracle_map``; fitted on each fold's training rows plus the runs outside the
  probe pool, never on the rows it scores); and the generator's whole-file oracle AUC where
  recorded.

Each with a bootstrap CI over trials; the trained encoder with the trial-level permutation p;
trained − untrained with a paired bootstrap CI. Every map (encoders, PCA, projection, raw
voxels) is fitted without labels on its fold's training rows plus ``unlabeled``, the rows the
encoder trained on (``equal_footing.with_unlabeled``): the baselines see what the encoder saw.

**Probe pool (no transductive leak).** On the run's own file, the CV scores only groups (runs)
the autoencoder never trained on: the rows of its training split are dropped (``probe_pool:
heldout``, the default). Why this and not pretraining an AE per outer fold: it costs nothing
extra (one AE, not one per fold), and the leak is impossible by construction; the price is
fewer probe runs (two on the built-in data: val and test), which the CIs show honestly.
``probe_pool: all`` scores every run, transductively, for comparison only.

Another file's volumes are put on the encoder's grid and mask: the same grid is re-masked;
another grid is resampled (trilinear, nilearn, from both files' affines) first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from nilearn.image import resample_img

from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.data.splits import group_keys
from bold5000_ae.evaluation.baselines import oracle_map
from bold5000_ae.evaluation.ceiling import KEYS, twin_path
from bold5000_ae.evaluation.crossval import (
    fold_mean_auc,
    grouped_cv,
    paired_difference_ci,
    raw_voxel_map,
    standardize,
)
from bold5000_ae.evaluation.equal_footing import K_GRID, pca_inner_k_map, with_unlabeled
from bold5000_ae.evaluation.readout_registry import ReadoutInputs, readouts, selected
from bold5000_ae.evaluation.stats import bootstrap_ci, trial_units
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.masking import VolumeMask

Encode = Callable[[torch.Tensor], torch.Tensor]

C_GRID = [1e-3, 1e-2, 1e-1, 1.0]
DEFAULTS: dict[str, Any] = {
    "group_by": ["subject", "session", "run"], "n_splits": None, "n_permutations": 100,
    "c_features": C_GRID, "c_raw": [1e-4, 1e-3, 1e-2], "raw_baseline": True, "seed": 0,
    "n_boot": 200, "untrained_inits": 3, "probe_pool": "heldout", "unit": "trial",
    "baselines": [r.name for r in readouts() if r.default],
    "pca_k_grid": list(K_GRID)}


def onto_mask(bold: np.ndarray, mask: np.ndarray, target_mask: np.ndarray,
              affine: np.ndarray | None = None, target_affine: np.ndarray | None = None,
              chunk: int = 256) -> np.ndarray:
    """Masked vectors of one mask → masked vectors of ``target_mask``. Another grid (shape or
    affine) is resampled in world coordinates with nilearn (trilinear), from both affines: by
    array shape alone a different voxel size or field of view lands voxels in the wrong place.
    Voxels outside the source mask or field of view read as 0, the normalised mean."""
    same_grid = mask.shape == target_mask.shape and (
        affine is None or target_affine is None or np.allclose(affine, target_affine))
    if same_grid and np.array_equal(mask, target_mask):
        return bold
    if same_grid:
        volume = VolumeMask(mask).to_volume(torch.from_numpy(bold).float())
        return VolumeMask(target_mask).to_vector(volume).numpy()
    if affine is None or target_affine is None:
        raise ValueError("resampling onto another grid needs both affines")
    source, target = VolumeMask(mask), VolumeMask(target_mask)
    out = []
    for start in range(0, len(bold), chunk):  # (N, X, Y, Z) at once would not fit for real N
        volume = source.to_volume(torch.from_numpy(bold[start:start + chunk]).float())
        img = nib.Nifti1Image(volume[:, 0].permute(1, 2, 3, 0).numpy(), np.asarray(affine))
        moved = resample_img(img, target_affine=np.asarray(target_affine),
                             target_shape=target_mask.shape, interpolation="linear",
                             fill_value=0.0, force_resample=True, copy_header=True)
        data = torch.from_numpy(np.asarray(moved.dataobj, dtype=np.float32))
        out.append(target.to_vector(data.permute(3, 0, 1, 2).unsqueeze(1)).numpy())
    return np.concatenate(out) if out else np.zeros((0, target.n_voxels), np.float32)


@torch.no_grad()
def encode_all(encode: Encode, bold: np.ndarray, device: torch.device,
               batch_size: int = 128) -> np.ndarray:
    out = [encode(torch.from_numpy(bold[i:i + batch_size]).float().to(device)).float().cpu()
           for i in range(0, len(bold), batch_size)]
    return torch.cat(out).numpy()


def encoder_map(encode: Encode, bold: np.ndarray, device: torch.device, normalize: str):
    """A fold's features: voxels normalised with its training rows, then encoded."""

    def features(train_rows: np.ndarray) -> np.ndarray:
        if normalize == "voxel":
            x = standardize(train_rows, bold)
        elif normalize == "mean":
            x = bold - bold[train_rows].mean(0)
        else:
            x = bold
        return encode_all(encode, x.astype(np.float32), device)

    return features


def load_labeled(path: str | Path, group_by: list[str], unit: str = "trial",
                 drop_groups: Sequence[str] = ()) -> dict[str, Any]:
    """Labeled samples of a prepared file (minus ``drop_groups``): raw bold, labels, CV groups,
    statistical units, mask, ground truth."""
    with open_prepared(path) as h5:
        trials = read_trials(h5)
        groups = group_keys(trials, group_by)
        rows = np.flatnonzero((trials.label.to_numpy() >= 0) & ~np.isin(groups, drop_groups))
        bold = h5["bold"][rows].astype(np.float32) if len(rows) else None
        mask, attrs, affine = h5["mask"][()], read_attrs(h5), h5["affine"][()]
    labels = trials.label.to_numpy()[rows]
    if bold is None or len(np.unique(labels)) < 2:
        raise InputError(path, "needs labeled samples of both classes for classification")
    truth = attrs.get("ground_truth", {})
    return {"bold": bold, "labels": labels, "groups": groups[rows], "rows": rows,
            "units": trial_units(trials.iloc[rows], unit), "mask": mask, "affine": affine,
            "truth": truth if isinstance(truth, dict) else {}}


def training_rows(datamodule: Any) -> np.ndarray:
    """The raw rows of a set-up datamodule's training split (on its mask): the unlabeled rows
    the encoder trained on, which every baseline is fitted on too."""
    try:
        return datamodule.files.read(np.flatnonzero(datamodule.assignment == "train"),
                                     np.float32)
    finally:
        datamodule.files.close()  # nothing left open before DataLoader workers fork


def load_twin(path: str | Path, rows: np.ndarray) -> np.ndarray | None:
    """``rows`` of the prepared noise-free twin of ``path`` (``ceiling.twin_path``), or None
    when there is no twin, it holds other trials, or either file was z-scored per run (then
    observed − twin is not the noise, and the oracle would be wrong)."""
    twin = twin_path(path)
    if not twin.is_file():
        return None
    with open_prepared(path) as obs_h5, open_prepared(twin) as twin_h5:
        if any(read_attrs(h).get("source", {}).get("standardize") for h in (obs_h5, twin_h5)):
            warnings.warn(f"{path} or its twin was z-scored per run: no oracle read-out",
                          stacklevel=2)
            return None
        obs, clean = read_trials(obs_h5), read_trials(twin_h5)
        if len(obs) != len(clean) or not np.allclose(obs[KEYS].to_numpy(float),
                                                      clean[KEYS].to_numpy(float),
                                                      equal_nan=True):
            warnings.warn(f"{twin} does not hold the rows of {path}: no oracle read-out",
                          stacklevel=2)
            return None
        return twin_h5["bold"][np.asarray(rows)].astype(np.float32)


def classify_file(encode: Encode, untrained: Sequence[Encode], latent_dim: int,
                  model_mask: np.ndarray, path: str | Path, cfg: dict[str, Any],
                  normalize: str, prefix: str, device: torch.device,
                  drop_groups: Sequence[str] = (), model_affine: np.ndarray | None = None,
                  progress: Callable[[str], None] = print,
                  unlabeled: np.ndarray | None = None) -> dict[str, float]:
    """Every read-out of one file on the same folds, under ``prefix``. ``unlabeled``: the rows
    the encoder trained on (raw, on ``model_mask``): every representation map is fitted on them
    too (``equal_footing.with_unlabeled``), never on the rows it scores."""
    cfg = {**DEFAULTS, **dict(cfg)}
    data = load_labeled(path, list(cfg["group_by"]), cfg["unit"], drop_groups)
    bold = onto_mask(data["bold"], data["mask"], model_mask, data["affine"], model_affine)
    y, units = data["labels"], data["units"]
    common = {"n_splits": cfg["n_splits"], "seed": int(cfg["seed"]), "units": units,
              "n_boot": int(cfg["n_boot"])}
    perms = int(cfg["n_permutations"])
    feats = list(cfg["c_features"]) if not np.isscalar(cfg["c_features"]) else cfg["c_features"]

    def run(name: str, fmap: Any, n_perm: int = 0, **kw: Any):
        progress(f"[eval] {prefix}: {name} read-out ({len(y)} samples, "
                 f"{len(np.unique(data['groups']))} groups)")
        kw = {"c": feats, **kw}
        return grouped_cv(fmap, y, data["groups"], n_permutations=n_perm, **common, **kw)

    def pooled(make: Callable[[np.ndarray], Any]) -> Any:
        return with_unlabeled(make, bold, unlabeled)

    trained = run("encoder", pooled(lambda x: encoder_map(encode, x, device, normalize)), perms)
    out = trained.as_metrics(f"{prefix}/encoder")
    for i, auc in enumerate(trained.fold_auc):  # one group per fold: name the fold by it
        names = np.unique(data["groups"][trained.fold_of == i])
        if len(names) == 1:
            out[f"{prefix}/encoder/fold_auc/{names[0]}"] = auc
    wanted = selected(cfg["baselines"])
    if "untrained" in wanted and untrained:
        raw_results = [run(f"untrained encoder init {i}", pooled(
            lambda x, e=e: encoder_map(e, x, device, normalize))) for i, e in enumerate(untrained)]
        aucs = [r.auc for r in raw_results]
        out[f"{prefix}/untrained/auc"] = float(np.mean(aucs))
        out[f"{prefix}/untrained/auc_init_std"] = float(np.std(aucs))
        lo, hi = bootstrap_ci(lambda rows: float(np.mean([fold_mean_auc(
            y, r.oof, r.fold_of, rows) for r in raw_results])), units, int(cfg["n_boot"]),
            int(cfg["seed"]))
        out[f"{prefix}/untrained/auc_ci_low"], out[f"{prefix}/untrained/auc_ci_high"] = lo, hi
        out[f"{prefix}/untrained/n_inits"] = float(len(aucs))
        d, lo, hi = paired_difference_ci(y, trained, raw_results, units, int(cfg["n_boot"]),
                                         int(cfg["seed"]))
        out.update({f"{prefix}/trained_minus_untrained/auc": d,
                    f"{prefix}/trained_minus_untrained/auc_ci_low": lo,
                    f"{prefix}/trained_minus_untrained/auc_ci_high": hi})
    inputs = ReadoutInputs(latent_dim=latent_dim, seed=int(cfg["seed"]))
    for readout in readouts():  # every baseline that is one feature map per fold
        if readout.features is not None and readout.name in wanted:
            out.update(run(readout.description, pooled(
                lambda x, build=readout.features: build(x, inputs))).as_metrics(
                f"{prefix}/{readout.name}"))
    if "pca_k" in wanted:
        out[f"{prefix}/pca_k/k"] = float(latent_dim)
    if "pca_best_k" in wanted:
        ks: list[int] = []
        best = run("PCA at the inner-CV k", pooled(lambda x: pca_inner_k_map(
            x, y, data["groups"], units, feats if not np.isscalar(feats) else [feats],
            cfg["pca_k_grid"], ks)))
        out.update(best.as_metrics(f"{prefix}/pca_best_k"))
        d = paired_difference_ci(y, trained, [best], units, int(cfg["n_boot"]), int(cfg["seed"]))
        out.update(dict(zip([f"{prefix}/encoder_minus_pca_best_k/auc{s}" for s in
                             ("", "_ci_low", "_ci_high")], d, strict=True)))
        out[f"{prefix}/pca_best_k/k_median"] = float(np.median(ks))
        out.update({f"{prefix}/pca_best_k/k_fold{i}": float(k) for i, k in enumerate(ks)})
    if cfg["raw_baseline"]:
        raw_c = cfg["c_raw"] if not np.isscalar(cfg["c_raw"]) else [cfg["c_raw"]]
        out.update(run("raw voxels", pooled(raw_voxel_map), c=list(raw_c),
                       scale=False).as_metrics(f"{prefix}/raw_voxels"))
    out[f"{prefix}/n_unlabeled_fit_rows"] = float(0 if unlabeled is None else len(unlabeled))
    twin = load_twin(path, data["rows"])
    if twin is not None:  # one score per row: no C to choose, no permutations
        extra = None
        if len(drop_groups):  # the runs outside the probe pool join the oracle's fit
            rest = load_labeled(path, list(cfg["group_by"]), cfg["unit"])
            kept = ~np.isin(rest["rows"], data["rows"])
            rest_twin = load_twin(path, rest["rows"][kept])
            if rest_twin is not None and kept.any():
                extra = (rest["bold"][kept], rest_twin, rest["labels"][kept])
        out.update(run("oracle (noise-free twin)", oracle_map(data["bold"], twin, y, extra),
                       c=[1.0]).as_metrics(f"{prefix}/oracle"))
        out[f"{prefix}/oracle/n_extra_rows"] = float(0 if extra is None else len(extra[2]))
    for key in ("oracle_auc_volume", "oracle_auc_trial_mean", "noise_ceiling_r2"):
        if key in data["truth"]:
            out[f"{prefix}/{key}"] = float(data["truth"][key])
    out[f"{prefix}/n_samples"] = float(len(y))
    out[f"{prefix}/n_groups"] = float(len(np.unique(data["groups"])))
    out[f"{prefix}/n_units"] = float(len(np.unique(units)))
    return out


def format_table(metrics: dict[str, float]) -> str:
    """Every read-out of every evaluated file with its CI; the encoder's trial-level p."""
    lines = []
    prefixes = sorted({k.rsplit("/", 2)[0] for k in metrics if k.endswith("/encoder/auc")})
    for p in prefixes:
        lines.append(f"  {p}  ({metrics.get(f'{p}/n_samples', 0):.0f} samples, "
                     f"{metrics.get(f'{p}/n_units', 0):.0f} trials, "
                     f"{metrics.get(f'{p}/n_groups', 0):.0f} groups; AUC [95% CI over trials])")
        for readout in readouts():
            name = readout.name
            if f"{p}/{name}/auc" in metrics:
                lines.append(f"    {readout.label:<18} {metrics[f'{p}/{name}/auc']:.3f} "
                             f"[{metrics.get(f'{p}/{name}/auc_ci_low', float('nan')):.3f}, "
                             f"{metrics.get(f'{p}/{name}/auc_ci_high', float('nan')):.3f}]")
        if f"{p}/oracle_auc_volume" in metrics:
            lines.append(f"    {'generator oracle':<18} {metrics[f'{p}/oracle_auc_volume']:.3f} "
                         "(whole file, before preparation; no CI)")
        d = f"{p}/trained_minus_untrained/auc"
        if d in metrics:
            lines.append(f"    trained − untrained {metrics[d]:+.3f} "
                         f"[{metrics[d + '_ci_low']:+.3f}, {metrics[d + '_ci_high']:+.3f}]")
        if f"{p}/encoder/test_run_fold_auc" in metrics:
            lines.append("    encoder AUC on the held-out test run's own CV fold "
                         f"{metrics[f'{p}/encoder/test_run_fold_auc']:.3f}")
        lines.append("    encoder trial-level permutation p = "
                     f"{metrics[f'{p}/encoder/p_value']:.4f}")
    return "\n".join(lines)
