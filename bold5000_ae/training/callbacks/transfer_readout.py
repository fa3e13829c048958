"""The transfer read-out of a trained model: its encoder as a fixed feature extractor, scored by
grouped-CV classifiers (``evaluation/readout.py``) on its own file and on other files, beside
the untrained encoder, PCA-k, random projection, raw voxels and the oracle.

``TransferReadout`` runs it at the end of ``trainer.test`` (the phase experiments name it in
their ``callbacks``), on the tested weights, and logs the numbers as ``eval/...``;
``bold5000-ae-eval mode=transfer`` runs the same function on a finished run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch import Callback
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.data.splits import group_keys
from bold5000_ae.evaluation.baselines import untrained_copy
from bold5000_ae.evaluation.readout import (
    DEFAULTS,
    Encode,
    classify_file,
    format_table,
    training_rows,
)
from bold5000_ae.training.pipeline import restore_pretrained


def feature_encoder(model: torch.nn.Module, restore: bool = True) -> Encode:
    """bold vectors → latent features: every module's ``embed`` (for a transfer classifier, its
    pretrained encoder, so fine-tuning on held-out groups cannot leak into the CV; an untrained
    copy is not restored)."""
    if not hasattr(model, "embed"):
        raise TypeError(f"{type(model).__name__} has no encoder to evaluate")
    if restore and getattr(model, "finetune", "frozen") != "frozen" and getattr(
            model, "pretrained", None):
        model = copy.deepcopy(model)
        restore_pretrained(model, model.pretrained)
    return model.embed


def latent_size(model: torch.nn.Module) -> int:
    net = getattr(model, "net", None) or getattr(model, "bold_net", None)
    return int(getattr(model, "latent_dim", None) or net.latent_dim)


def evaluate_trained(model: torch.nn.Module, datamodule: Any, cfg: DictConfig,
                     out_dir: str | Path) -> dict[str, float]:
    """The transfer read-out of a run: its own file (probe pool) and ``other_files``; metrics
    are returned and written to ``evaluation.json``."""
    cls_cfg = {**DEFAULTS, **OmegaConf.to_container(cfg.classification, resolve=True)}
    model.eval()
    device = next(model.parameters()).device
    untrained = [feature_encoder(untrained_copy(model, 1000 + i), restore=False)
                 for i in range(int(cls_cfg["untrained_inits"]))]
    args = (feature_encoder(model), untrained, latent_size(model), datamodule.mask)
    normalize = getattr(datamodule, "normalize", "voxel")
    affine = getattr(datamodule, "affine", None)
    metrics: dict[str, float] = {}
    fit_rows = training_rows(datamodule)  # what the encoder trained on: baselines fit it too
    if cfg.get("own_file", True):
        drop: list[str] = []
        if cls_cfg["probe_pool"] == "heldout":  # the runs the autoencoder trained on
            seen = datamodule.trials[datamodule.assignment == "train"]
            drop = sorted(set(group_keys(seen, list(cls_cfg["group_by"]))))
        elif cls_cfg["probe_pool"] != "all":
            raise ValueError(f"probe_pool must be 'heldout' or 'all', got {cls_cfg['probe_pool']}")
        metrics.update(classify_file(*args, datamodule.path, cls_cfg, normalize, "cv", device,
                                     drop_groups=drop, model_affine=affine,
                                     unlabeled=fit_rows if drop else None))
        # the held-out test run's own CV fold, to read its held-out head AUC against
        test = datamodule.trials[datamodule.assignment == "test"]
        for key in sorted(set(group_keys(test, list(cls_cfg["group_by"])))):
            if f"cv/encoder/fold_auc/{key}" in metrics:
                metrics["cv/encoder/test_run_fold_auc"] = metrics[f"cv/encoder/fold_auc/{key}"]
    for name, path in (cfg.get("other_files") or {}).items():
        metrics.update(classify_file(*args, path, cls_cfg, normalize, f"transfer/{name}",
                                     device, model_affine=affine, unlabeled=fit_rows))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print(format_table(metrics))
    print(f"[eval] wrote {out / 'evaluation.json'}")
    return metrics


class TransferReadout(Callback):
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
        pl_module.log_dict({f"eval/{k}": float(v) for k, v in metrics.items()
                            if np.isfinite(v)}, rank_zero_only=True)
        pl_module.train(was_training)
