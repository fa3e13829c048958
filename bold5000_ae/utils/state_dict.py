"""Compare a checkpoint's tensors with a module's before copying: one line naming the first
mismatch. Here (a low layer) so that a model's ``on_load_checkpoint`` and the checkpoint IO in
``training/`` use the same rule, and models never import the training layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bold5000_ae.utils.errors import InputError

COMPILED_PREFIX = "_orig_mod."


def clean_key(key: str) -> str:
    """Drop every ``_orig_mod.`` a compiled module (or submodule) put into a key."""
    return key.replace(COMPILED_PREFIX, "")


def check_state(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path,
                what: str = "model") -> None:
    """Raise a one-line InputError unless ``state`` holds exactly ``module``'s tensors, with
    their shapes (keys compared without ``_orig_mod.``)."""
    own = {clean_key(k): v for k, v in module.state_dict().items()}
    state = {clean_key(k): v for k, v in state.items()}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if not state:
        raise InputError(source, f"architecture mismatch: the checkpoint holds no {what} weights")
    if missing:
        raise InputError(source, f"architecture mismatch: {what} needs {missing[0]!r}, which the "
                                 f"checkpoint lacks ({len(missing)} missing)")
    if unexpected:
        raise InputError(source, f"architecture mismatch: the checkpoint's {unexpected[0]!r} has "
                                 f"no place in the {what} ({len(unexpected)} unexpected)")
    for key, value in own.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise InputError(source, f"architecture mismatch: {what} {key!r} is "
                                     f"{tuple(value.shape)} but {tuple(state[key].shape)} in the "
                                     "checkpoint")


def fill_optional(module: Any, state: Mapping[str, Any]) -> dict[str, Any]:
    """``state`` with the tensors ``module`` lists in ``optional_state`` (recorded statistics
    that older checkpoints lack) taken from the module where the checkpoint has none."""
    names = getattr(module, "optional_state", ())
    return {**{n: getattr(module, n).detach().clone() for n in names if n not in state},
            **state}
