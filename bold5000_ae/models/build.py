"""Build any of the four LightningModules from its ``model`` config and the data; only build.

What only the data knows comes from what each network declares it ``consumes`` (see
``components/base.py``): a "volume" net gets ``volume_shape`` (and the brain mask when its
constructor asks for one), a "vector" net ``n_voxels``, an "image" net nothing; a module that
asks for ``mask`` gets the brain mask, one that asks for ``subject_voxels`` each subject's voxel
count (``data/multi_subject.py``). Keys handled here
rather than by a constructor:

- ``compile``: ``torch.compile`` the inner encoder and decoder in place
  (``nn.Module.compile``), so parameter names, and therefore checkpoints, are the same as
  without it.
- ``pretrain``: the autoencoder stage a transfer or image→latent run starts from; it is trained
  by ``training/pipeline.py``, never here, so it is dropped.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class, instantiate
from lightning.pytorch import LightningModule
from omegaconf import DictConfig, OmegaConf
from torch import nn

from bold5000_ae.models.components.base import consumes_of

BUILD_ONLY_KEYS = ("compile", "pretrain")
NET_KEYS = ("net", "bold_net", "image_net")


def data_kwargs(target: str, datamodule: Any) -> dict[str, Any]:
    """The data-derived constructor arguments of the network class ``target``."""
    cls = get_class(target)
    kind = consumes_of(cls)
    if kind == "volume":
        kwargs: dict[str, Any] = {"volume_shape": tuple(datamodule.volume_shape)}
        if "mask" in inspect.signature(cls).parameters:  # a net with a voxel path
            kwargs["mask"] = datamodule.mask
        return kwargs
    if kind == "vector":
        return {"n_voxels": int(datamodule.mask.sum())}
    return {}


def build_net(net_cfg: DictConfig, datamodule: Any) -> nn.Module:
    return instantiate(net_cfg, **data_kwargs(net_cfg._target_, datamodule))


def compile_in_place(module: nn.Module) -> None:
    """Compile what the module calls: each network's encoder and decoder (or the network)."""
    for name in ("net", "bold_net", "encoder", "image_net"):
        inner = getattr(module, name, None)
        if not isinstance(inner, nn.Module):
            continue
        parts = [getattr(inner, p) for p in ("encoder", "decoder") if hasattr(inner, p)]
        for part in parts or [inner]:
            part.compile()


def build_model(model_cfg: DictConfig, datamodule: Any) -> LightningModule:
    """Instantiate ``model`` with the networks built for the data and the brain mask."""
    cfg = OmegaConf.create(OmegaConf.to_container(model_cfg, resolve=True))
    compile_net = bool(cfg.get("compile", False))
    for key in BUILD_ONLY_KEYS:
        cfg.pop(key, None)
    kwargs: dict[str, Any] = {}
    params = inspect.signature(get_class(cfg._target_)).parameters
    if "mask" in params:
        kwargs["mask"] = datamodule.mask
    if "subject_voxels" in params:  # per-subject adapters (models/shared_latent.py)
        kwargs["subject_voxels"] = datamodule.n_voxels
    for key in NET_KEYS:
        if key in cfg:
            kwargs[key] = build_net(cfg[key], datamodule)
    module = instantiate(cfg, **kwargs)
    if compile_net:
        compile_in_place(module)
    return module
