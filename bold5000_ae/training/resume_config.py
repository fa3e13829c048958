"""What a resumed (or skipped) run must share with the run that trained in its folder.

Why whole subtrees: a resume that changed ``data.normalize`` or ``model.loss`` was accepted
silently and went on training the checkpoint on other data or towards another objective, under
a config that no longer said what epoch 0 did. Everything under ``data`` and ``model`` must now be
as the run saved it, except the keys in :data:`HARMLESS`, which change how fast or how the run is
watched, not what it learns from or towards. Keys outside ``data`` and ``model`` (trainer,
logger, callbacks, ckpt_path, auto_resume, seed, paths) may change.

Values are compared as written (interpolations unresolved), so a run resumes whatever
``PROJECT_ROOT`` is now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.utils.errors import InputError

CHECKED = ("data", "model")
# how the data reaches the model and how often it is watched, not what it is trained on
HARMLESS = ("data.batch_size", "data.num_workers", "data.cache", "data.pin_memory",
            "model.compile", "model.val_ssim_samples")
UNSET = "<unset>"


def read_saved_config(path: Path) -> DictConfig:
    """A run's saved ``config.yaml``, or one line naming it when it cannot be read."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"the run's saved config cannot be read ({first}); restore it "
                               "from .hydra.claimed/ or train into a new folder") from None
    if not isinstance(loaded, dict):
        raise InputError(path, "the run's saved config is not a mapping of keys; restore it "
                               "from .hydra.claimed/ or train into a new folder")
    return OmegaConf.create(loaded)


def _leaves(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _leaves(child, f"{prefix}.{key}", out)
    else:
        out[prefix] = value
    return out


def _raw_tree(cfg: DictConfig, key: str) -> dict[str, Any]:
    node = cfg._get_node(key) if key in cfg else None
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return _leaves(OmegaConf.to_container(node, resolve=False), key, {})
    return {key: node._value() if hasattr(node, "_value") else node}


def _harmless(key: str) -> bool:
    return any(key == h or key.startswith(h + ".") for h in HARMLESS)


def config_differences(saved: DictConfig, now: DictConfig) -> list[str]:
    """``key was → now`` for every leaf of ``data`` and ``model`` that differs, harmless keys
    aside, in the saved config's order."""
    changes = []
    for root in CHECKED:
        before, after = _raw_tree(saved, root), _raw_tree(now, root)
        for key in dict.fromkeys([*before, *after]):
            old, new = before.get(key, UNSET), after.get(key, UNSET)
            if old != new and not _harmless(key):
                changes.append(f"{key} {old!r} → {new!r}")
    return changes


def refuse_changed_config(saved_path: Path, now: DictConfig, out_dir: Path, what: str) -> None:
    """One line naming every differing key when ``now`` would mix two runs in ``out_dir``."""
    changes = config_differences(read_saved_config(saved_path), now)
    if changes:
        raise InputError(out_dir, f"cannot {what}: changed since this run trained: "
                                  f"{'; '.join(changes)}. Use the run's own config (only "
                                  "trainer, logger, callbacks, batch size, workers and the like "
                                  "may change) or a new run folder")
