"""Config values checked before any work, each refusal one line naming the key.

Why: unchecked, these values fail deep inside a library with a traceback (``batch_size=0`` in the
DataLoader, ``lr=nan`` in the optimizer, ``image_size=0`` in the image resampler), or after a
long wait (``logger.wandb.offline=false`` with no key or network gives up after 108 s). Each check
is cheap and runs before a file is opened.
"""

from __future__ import annotations

import math
import netrc
import os
import socket
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bold5000_ae.utils.errors import InputError

WANDB_HOST = "api.wandb.ai"


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)


def positive_int(cfg: DictConfig, key: str) -> None:
    """``key``, when set, is a whole number ≥ 1."""
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(key, f"must be a whole number ≥ 1, got {value!r}")


def positive_finite(cfg: DictConfig, key: str) -> None:
    """``key``, when set, is a finite number > 0 (a learning rate)."""
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and value > 0):
        raise InputError(key, f"must be a finite number > 0, got {value!r}")


def whole_number(cfg: DictConfig, key: str, minimum: int) -> None:
    """``key``, when set, is a whole number ≥ ``minimum``."""
    value = _get(cfg, key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(key, f"must be a whole number ≥ {minimum}, got {value!r}")


def channel_list(cfg: DictConfig, key: str) -> None:
    """``key``, when set, is a non-empty list of whole numbers ≥ 1 (one per encoder level)."""
    value = _get(cfg, key)
    if value is None:
        return
    items = list(value) if OmegaConf.is_list(value) or isinstance(value, list) else None
    if not items or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in items):
        shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        raise InputError(key, f"must be a non-empty list of whole numbers ≥ 1 (channels per "
                              f"level, e.g. [16,32,64]), got {shown!r}")


def _wandb_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(WANDB_HOST) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def online_wandb(cfg: DictConfig, timeout_s: float = 3.0) -> None:
    """``logger.wandb.offline=false`` needs a key and a reachable server: refuse at once
    instead of after wandb's retries (``WANDB_MODE=offline|disabled`` wins, as in wandb)."""
    node = _get(cfg, "logger.wandb")
    if not isinstance(node, DictConfig) or node.get("offline", True):
        return
    if os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun"):
        return
    if not _wandb_key():
        raise InputError("logger.wandb.offline", "false needs a wandb API key (WANDB_API_KEY "
                                                 "or `wandb login`) and none was found; log "
                                                 "offline and `wandb sync` later")
    host = str(node.get("host") or os.environ.get("WANDB_BASE_URL") or WANDB_HOST)
    host = host.split("://")[-1].split("/")[0].split(":")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError("logger.wandb.offline", f"false but {host} cannot be reached "
                                                 f"({exc.strerror or exc}); log offline and "
                                                 "`wandb sync` later") from None


def check_train_config(cfg: DictConfig) -> None:
    """The training values that otherwise fail late or deep inside a library (checked before
    any data is read or any run folder made)."""
    seed = _get(cfg, "seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError("seed", f"must be a whole number (or null), got {seed!r}")
    positive_int(cfg, "data.batch_size")
    whole_number(cfg, "data.num_workers", 0)
    positive_int(cfg, "model.net.latent_dim")
    channel_list(cfg, "model.net.channels")
    positive_finite(cfg, "model.optimizer.lr")
    max_epochs = _get(cfg, "trainer.max_epochs")
    if max_epochs is not None and (not isinstance(max_epochs, int) or max_epochs < -1):
        raise InputError("trainer.max_epochs", f"must be a whole number ≥ 0 (-1: no limit), "
                                               f"got {max_epochs!r}")
    path = _get(cfg, "data.path")
    if isinstance(path, str) and os.path.isdir(path):
        raise InputError(path, "is a folder; data.path must name a prepared .h5 file")
    online_wandb(cfg)


def check_prepare_config(cfg: DictConfig) -> None:
    """The preparation values that otherwise fail deep inside a library."""
    positive_int(cfg, "image_size")
