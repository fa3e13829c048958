"""Build any of the four LightningModules from its ``model`` config and the data.

What only the data knows is passed to the constructors that ask for it (by signature): the
network gets ``volume_shape`` or ``n_voxels``; the module gets ``mask``. Two config keys are
handled here rather than by a constructor:

- ``compile``: ``torch.compile`` the inner network in place (``nn.Module.compile``), so the
  parameter names, and therefore checkpoints, are the same as without it.
- ``pretrain``: for modules that start from a trained autoencoder (transfer, image→latent) and
  were given no ``pretrained`` checkpoint, an autoencoder is trained first on the same data and
  split (see ``pretrain.py``) and its checkpoint is used.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_class, instantiate
from lightning.pytorch import LightningModule
from omegaconf import DictConfig, OmegaConf
from torch import nn

DATA_ARGS = ("volume_shape", "n_voxels")


def _accepts(target: str, name: str) -> bool:
    return name in inspect.signature(get_class(target)).parameters


def data_kwargs(target: str, datamodule: Any) -> dict[str, Any]:
    """The data-derived constructor arguments ``target`` accepts."""
    known = {"volume_shape": lambda: datamodule.volume_shape,
             "n_voxels": lambda: int(datamodule.mask.sum())}
    return {k: f() for k, f in known.items() if _accepts(target, k)}


def build_net(net_cfg: DictConfig, datamodule: Any) -> nn.Module:
    return instantiate(net_cfg, **data_kwargs(net_cfg._target_, datamodule))


def build_model(model_cfg: DictConfig, datamodule: Any) -> LightningModule:
    """Instantiate ``model`` with the network built for the data and the brain mask."""
    cfg = OmegaConf.create(OmegaConf.to_container(model_cfg, resolve=True))
    compile_net = bool(cfg.pop("compile", False))
    pretrain = cfg.pop("pretrain", None)
    kwargs: dict[str, Any] = {}
    if _accepts(cfg._target_, "mask"):
        kwargs["mask"] = datamodule.mask
    for key in ("net", "bold_net"):
        if key in cfg:
            kwargs[key] = build_net(cfg[key], datamodule)
    if "pretrained" in cfg and cfg.pretrained is None and pretrain is not None:
        from bold5000_ae.models.pretrain import pretrain_autoencoder

        kwargs["pretrained"] = str(pretrain_autoencoder(pretrain, datamodule))
    module = instantiate(cfg, **kwargs)
    if compile_net:
        for name in ("net", "encoder", "image_net"):
            inner = getattr(module, name, None)
            if isinstance(inner, nn.Module):
                inner.compile()
    return module
