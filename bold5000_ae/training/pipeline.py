"""Pipeline stages: what trains before the configured model, and how its weights get there.

A transfer or image→latent run (``model.pretrain`` set, ``model.pretrained`` null) is two
stages. Stage 1 fits the autoencoder of ``conf/model/pretrain/autoencoder.yaml`` on the rows it
is given; stage 2 is the configured model, built fresh, whose pretrained parts are then copied
from stage 1's best checkpoint ("restore weights only, fresh trainer", as in nn-template).

Why a stage and not a step inside ``build_model``: both stages get their trainer, callbacks and
loggers from the run's own ``cfg.trainer``, ``cfg.callbacks`` and ``cfg.logger`` (so the
finite-loss guard, early stopping and the atomic checkpoint writer apply to stage 1 too), and
models never train models or read files. Stage 1 writes under ``model.pretrain.output_dir``
(``<run>/pretrain``): its checkpoints, logs, ``split.csv`` (the rows it trained on) and
``metrics.json``.

The rows stage 1 trains on are an argument (``data``): by default the run's own file and split,
every sample, no images (``autoencoder_data``); a caller that keeps the autoencoder away from
rows scored later passes another datamodule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch import LightningModule
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, open_dict

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.models.build import build_model
from bold5000_ae.training.checkpoint_io import load_into, load_state_dict, select
from bold5000_ae.training.instantiate import instantiate_callbacks, instantiate_loggers
from bold5000_ae.utils.errors import InputError


def build_trainer(cfg: DictConfig, skip_callbacks: tuple[str, ...] = (),
                  extra_callbacks: list[Any] | None = None, **overrides: Any) -> L.Trainer:
    """A trainer from ``cfg.trainer`` with the callbacks and loggers of ``cfg`` (minus the
    callbacks named in ``skip_callbacks``); ``overrides`` replace trainer arguments."""
    callbacks = (instantiate_callbacks(cfg.get("callbacks"), skip_callbacks)
                 + list(extra_callbacks or []))
    return instantiate(cfg.trainer, callbacks=callbacks,
                       logger=instantiate_loggers(cfg.get("logger")), **overrides)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) or (torch.is_tensor(v) and v.numel() == 1)}


def autoencoder_data(datamodule: BoldDataModule, split: Any | None = None) -> BoldDataModule:
    """The rows stage 1 trains on: ``datamodule``'s file, normalisation rule and (unless another
    ``split`` is given) split, every sample, labeled or not, no images."""
    dm = BoldDataModule(path=datamodule.path, split=split or datamodule.split,
                        batch_size=datamodule.batch_size, num_workers=datamodule.num_workers,
                        cache=datamodule.cache, normalize=datamodule.normalize)
    dm.setup()
    return dm


def stage_config(cfg: DictConfig, output_dir: str | Path) -> DictConfig:
    """``cfg`` with its output folder moved: trainer, callbacks and loggers follow it."""
    stage = copy.deepcopy(cfg)
    with open_dict(stage):
        stage.paths.output_dir = str(output_dir)
    return stage


def pretrain_autoencoder(cfg: DictConfig, data: BoldDataModule) -> Path:
    """Stage 1: fit ``cfg.model.pretrain.model`` on ``data``; return its best checkpoint."""
    pre = cfg.model.pretrain
    out = Path(pre.output_dir)
    stage = stage_config(cfg, out)
    model = build_model(pre.model, data)
    best = instantiate(pre.checkpoint)
    if not isinstance(best, ModelCheckpoint):
        raise InputError("model.pretrain.checkpoint", "must build a ModelCheckpoint")
    trainer = build_trainer(stage, skip_callbacks=tuple(pre.get("skip_callbacks") or ()),
                            extra_callbacks=[best], max_epochs=int(pre.max_epochs))
    trainer.fit(model, datamodule=data, weights_only=True)
    finish_wandb(trainer)
    if trainer.is_global_zero:  # which rows stage 1 saw, and how it did
        out.mkdir(parents=True, exist_ok=True)
        data.split_table().to_csv(out / "split.csv", index=False)
        (out / "metrics.json").write_text(json.dumps(scalar_metrics(trainer.callback_metrics),
                                                     indent=2, sort_keys=True))
    if not best.best_model_path:
        raise InputError(out, "stage 1 (autoencoder pretraining) wrote no checkpoint")
    return Path(best.best_model_path)


def finish_wandb(trainer: L.Trainer) -> None:
    """Close a stage's wandb run, so the next stage's logger starts its own."""
    if any(type(lg).__name__ == "WandbLogger" for lg in trainer.loggers):
        import wandb

        wandb.finish()


def restore_pretrained(module: LightningModule, path: str | Path) -> None:
    """Copy each pretrained part of ``module`` from the checkpoint at ``path`` (read once),
    exactly or refused in one line; record the path on the module."""
    parts = getattr(module, "pretrained_parts", None)
    if parts is None:
        raise InputError(path, f"{type(module).__name__} takes no pretrained weights")
    state = load_state_dict(path)
    for prefix, part in parts().items():
        load_into(part, select(state, prefix), path, what=prefix.rstrip("."))
    module.pretrained = str(path)


def needs_pretraining(model_cfg: DictConfig) -> bool:
    return model_cfg.get("pretrain") is not None and not model_cfg.get("pretrained")


def model_for_run(cfg: DictConfig, datamodule: BoldDataModule,
                  pretrain_data: BoldDataModule | None = None) -> LightningModule:
    """Stage 1 when the model needs it, then the configured model built fresh with its
    pretrained weights restored (from ``model.pretrained`` or stage 1)."""
    pretrained = cfg.model.get("pretrained")
    if needs_pretraining(cfg.model):
        pretrained = pretrain_autoencoder(cfg, pretrain_data or autoencoder_data(datamodule))
    model = build_model(cfg.model, datamodule)
    if pretrained:
        restore_pretrained(model, pretrained)
    return model
