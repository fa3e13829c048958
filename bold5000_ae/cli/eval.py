"""Evaluate a trained encoder as a fixed feature extractor; ``bold5000-ae-eval`` entry point.

What is measured, on the run's own file and on any ``other_files`` (the generalization
question: another subject, or a "second experiment" with its own anatomy, noise and stimuli):
the grouped-CV living/non-living AUC of a logistic read-out of the encoder's latent (means, for
a VAE), its permutation p-value, the same CV on the raw in-mask voxels, and the generator's
oracle AUC where the file records one. Every fold normalises voxels with its training groups'
statistics only. Another file's volumes are put on the encoder's grid and mask: the same grid
is re-masked; another grid is resampled (trilinear) first.

Two ways in: the ``EvaluationCallback`` (``callbacks.evaluation`` in the phase experiments)
runs it at the end of ``trainer.test``, on the tested weights, and logs its numbers so they land
in the run's metrics.json; ``bold5000-ae-eval checkpoint=...`` rebuilds a finished run from its
saved config and checkpoint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.data.splits import group_keys
from bold5000_ae.evaluation.crossval import grouped_cv, raw_voxel_map, standardize
from bold5000_ae.training.checkpoint_io import load_into, load_state_dict, load_submodule
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.masking import VolumeMask

Encode = Callable[[torch.Tensor], torch.Tensor]


def feature_encoder(model: torch.nn.Module) -> Encode:
    """bold vectors → latent features, for an AE, a VAE, a transfer classifier (its pretrained
    encoder, so fine-tuning on held-out groups cannot leak into the CV) or an image→latent
    model (its frozen BOLD encoder)."""
    if hasattr(model, "latent_mean"):
        return model.latent_mean
    if hasattr(model, "target_latent"):
        return model.target_latent
    if hasattr(model, "features"):
        if getattr(model, "finetune", "frozen") != "frozen" and model.pretrained:
            model = copy.deepcopy(model)
            load_submodule(model.encoder, model.pretrained, "net.encoder.")
        return model.features
    raise TypeError(f"{type(model).__name__} has no encoder to evaluate")


def onto_mask(bold: np.ndarray, mask: np.ndarray, target_mask: np.ndarray) -> np.ndarray:
    """Masked vectors of one mask → masked vectors of ``target_mask`` (resampled if the grids
    differ; voxels outside the source mask read as 0, the normalised mean)."""
    if mask.shape == target_mask.shape and np.array_equal(mask, target_mask):
        return bold
    volume = VolumeMask(mask).to_volume(torch.from_numpy(bold).float())
    if mask.shape != target_mask.shape:
        volume = F.interpolate(volume, size=target_mask.shape, mode="trilinear",
                               align_corners=False)
    return VolumeMask(target_mask).to_vector(volume).numpy()


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


def load_labeled(path: str | Path, group_by: list[str]) -> dict[str, Any]:
    """Labeled samples of a prepared file: raw bold, labels, CV groups, mask, ground truth."""
    with open_prepared(path) as h5:
        trials = read_trials(h5)
        rows = np.flatnonzero(trials.label.to_numpy() >= 0)
        bold = h5["bold"][rows].astype(np.float32) if len(rows) else None
        mask, attrs = h5["mask"][()], read_attrs(h5)
    if bold is None or len(np.unique(trials.label.to_numpy()[rows])) < 2:
        raise InputError(path, "needs labeled samples of both classes for classification")
    truth = attrs.get("ground_truth", {})
    return {"bold": bold, "labels": trials.label.to_numpy()[rows],
            "groups": group_keys(trials.iloc[rows], group_by), "mask": mask,
            "truth": truth if isinstance(truth, dict) else {}}


def classify_file(model: torch.nn.Module, model_mask: np.ndarray, path: str | Path,
                  cfg: DictConfig, normalize: str, prefix: str) -> dict[str, float]:
    """Encoder-feature CV, raw-voxel CV and the oracle for one file, under ``prefix``."""
    data = load_labeled(path, list(cfg.group_by))
    device = next(model.parameters()).device
    model.eval()
    bold = onto_mask(data["bold"], data["mask"], model_mask)
    common = {"n_splits": cfg.get("n_splits"), "n_permutations": int(cfg.n_permutations),
              "seed": int(cfg.get("seed", 0))}
    out = grouped_cv(encoder_map(feature_encoder(model), bold, device, normalize),
                     data["labels"], data["groups"], c=float(cfg.c_features),
                     **common).as_metrics(f"{prefix}/encoder")
    if cfg.get("raw_baseline", True):
        raw = grouped_cv(raw_voxel_map(data["bold"]), data["labels"], data["groups"],
                         c=float(cfg.c_raw), scale=False, **common)
        out.update(raw.as_metrics(f"{prefix}/raw_voxels"))
    for key in ("oracle_auc_volume", "oracle_auc_trial_mean", "noise_ceiling_r2"):
        if key in data["truth"]:
            out[f"{prefix}/{key}"] = float(data["truth"][key])
    out[f"{prefix}/n_samples"] = float(len(data["labels"]))
    out[f"{prefix}/n_groups"] = float(len(np.unique(data["groups"])))
    return out


def evaluate_trained(model: torch.nn.Module, datamodule: Any, cfg: DictConfig,
                     out_dir: str | Path) -> dict[str, float]:
    """The ``evaluation`` block of a run: classification on its own file and on
    ``other_files``; metrics are returned and written to ``evaluation.json``."""
    metrics: dict[str, float] = {}
    normalize = getattr(datamodule, "normalize", "voxel")
    cls_cfg = cfg.classification
    if cfg.get("own_file", True):
        metrics.update(classify_file(model, datamodule.mask, datamodule.path, cls_cfg,
                                     normalize, "cv"))
    for name, path in (cfg.get("other_files") or {}).items():
        metrics.update(classify_file(model, datamodule.mask, path, cls_cfg, normalize,
                                     f"transfer/{name}"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print_table(metrics)
    return metrics


def print_table(metrics: dict[str, float]) -> None:
    prefixes = sorted({k.rsplit("/", 2)[0] for k in metrics if k.endswith("/auc")})
    for prefix in prefixes:
        enc, raw = metrics.get(f"{prefix}/encoder/auc"), metrics.get(f"{prefix}/raw_voxels/auc")
        print(f"  {prefix}: encoder AUC {enc:.3f} (p={metrics[f'{prefix}/encoder/p_value']:.3f})"
              + (f", raw voxels {raw:.3f}" if raw is not None else "")
              + (f", oracle {metrics[f'{prefix}/oracle_auc_volume']:.3f}"
                 if f"{prefix}/oracle_auc_volume" in metrics else ""))


def load_run(checkpoint: str | Path, run_config: str | Path | None) -> tuple[Any, Any, DictConfig]:
    """Rebuild a finished run's datamodule and model from its saved config and checkpoint."""
    from bold5000_ae.models.build import build_model

    checkpoint = Path(checkpoint)
    cfg_path = Path(run_config) if run_config else checkpoint.parent.parent / ".hydra/config.yaml"
    if not cfg_path.is_file():
        raise InputError(cfg_path, "the training run's config was not found (set run_config)")
    run_cfg = OmegaConf.load(cfg_path)
    with open_dict(run_cfg):
        run_cfg.model.pretrain = None  # weights come from the checkpoint, nothing is trained
        if "pretrained" in run_cfg.model:
            run_cfg.model.pretrained = None
    datamodule = instantiate(run_cfg.data)
    datamodule.setup()
    model = build_model(run_cfg.model, datamodule)
    load_into(model, load_state_dict(checkpoint), checkpoint)
    return datamodule, model, run_cfg


class EvaluationCallback(Callback):
    """``evaluate_trained`` at the end of testing; its metrics are logged as ``eval/...``."""

    def __init__(self, classification: DictConfig | dict, own_file: bool = True,
                 other_files: dict[str, str] | None = None) -> None:
        self.cfg = OmegaConf.create({"classification": classification, "own_file": own_file,
                                     "other_files": dict(other_files or {})})

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        metrics = evaluate_trained(pl_module, trainer.datamodule, self.cfg,
                                   trainer.default_root_dir)
        was_training = pl_module.training
        pl_module.eval()
        pl_module.log_dict({f"eval/{k}": float(v) for k, v in metrics.items()},
                           rank_zero_only=True)
        pl_module.train(was_training)


@reports_input_errors
def evaluate(cfg: DictConfig) -> dict[str, float]:
    datamodule, model, _ = load_run(cfg.checkpoint, cfg.get("run_config"))
    return evaluate_trained(model, datamodule, cfg.evaluation, cfg.paths.output_dir)


@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
