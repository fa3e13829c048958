"""Build callbacks, loggers and models from their config groups."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig


def instantiate_list(group: DictConfig | None) -> list[Any]:
    """Every entry of a callbacks/logger group that has a ``_target_`` (others are ignored)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values()
            if isinstance(node, DictConfig) and "_target_" in node]


def instantiate_callbacks(group: DictConfig | None) -> list[Callback]:
    return instantiate_list(group)


def instantiate_loggers(group: DictConfig | None) -> list[Logger]:
    return instantiate_list(group)


def build_model(model_cfg: DictConfig, datamodule: Any) -> LightningModule:
    """Instantiate ``model`` with what only the data knows (see ``models/build.py``: the network
    built for the data's grid or voxel count, the brain mask, ``compile``, ``pretrain``)."""
    from bold5000_ae.models.build import build_model as build

    return build(model_cfg, datamodule)
