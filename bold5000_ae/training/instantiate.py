"""Build callbacks and loggers from their config groups (entries with a ``_target_``)."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig


def instantiate_list(group: DictConfig | None, skip: tuple[str, ...] = ()) -> list[Any]:
    """Every entry of a callbacks/logger group that has a ``_target_`` (others are ignored),
    except those named in ``skip``. Nodes are built where they sit, so interpolations into the
    rest of the config resolve."""
    if not group:
        return []
    return [instantiate(node) for name, node in group.items()
            if name not in skip and isinstance(node, DictConfig) and "_target_" in node]


def instantiate_callbacks(group: DictConfig | None, skip: tuple[str, ...] = ()) -> list[Callback]:
    return instantiate_list(group, skip)


def instantiate_loggers(group: DictConfig | None) -> list[Logger]:
    return instantiate_list(group)
