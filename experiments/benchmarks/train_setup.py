"""The default 3D autoencoder and its settings, built without Hydra, for the training benchmarks.

Why read ``conf/``: the benchmark must time the model ``make train`` trains, so the network and
optimizer hyperparameters come from ``conf/model/net/conv3d.yaml`` and
``conf/model/autoencoder.yaml`` (plain YAML, read with PyYAML, which Lightning already needs).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from bold5000_ae.models.autoencoder import AutoencoderModule
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet

CONF = Path(__file__).resolve().parents[2] / "conf"


@dataclass(frozen=True)
class FastPath:
    """The fast-path switches, each a config value in the framework (README.md here maps them)."""

    precision: str = "bf16-mixed"  # trainer.precision
    compile: bool = True  # model.compile (inner network compiled in place)
    cudnn_benchmark: bool = True  # trainer.benchmark
    channels_last: bool = False  # channels_last_3d: only where measured to help
    fused_adam: bool = True  # model.optimizer.fused (CUDA only)

    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(self.precision)


EAGER_FP32 = FastPath(precision="32-true", compile=False, cudnn_benchmark=False,
                      channels_last=False, fused_adam=False)


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def default_net_kwargs() -> dict[str, Any]:
    """``model/net/conv3d.yaml`` minus Hydra keys, restricted to the constructor's parameters."""
    cfg = _yaml(CONF / "model" / "net" / "conv3d.yaml")
    params = inspect.signature(Conv3dAutoencoderNet).parameters
    return {k: v for k, v in cfg.items() if k in params and k != "volume_shape"}


def default_optimizer_kwargs() -> dict[str, Any]:
    cfg = _yaml(CONF / "model" / "autoencoder.yaml").get("optimizer", {})
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def build_module(mask: np.ndarray, device: torch.device, fast: FastPath,
                 seed: int = 0) -> AutoencoderModule:
    """The default AE for ``mask``'s grid on ``device`` with ``fast``'s model-side switches.

    Compiling follows the framework's rule: the inner network is compiled in place
    (``nn.Module.compile``), so parameter names and checkpoints stay clean."""
    from bold5000_ae.losses.mse import MaskedMSE

    torch.manual_seed(seed)
    net = Conv3dAutoencoderNet(tuple(mask.shape), mask=mask, **default_net_kwargs())
    opt_kwargs = default_optimizer_kwargs()
    if fast.fused_adam and device.type == "cuda":
        opt_kwargs["fused"] = True
    optimizer = functools.partial(torch.optim.AdamW, **opt_kwargs)
    module = AutoencoderModule(net=net, loss=MaskedMSE(), mask=mask, optimizer=optimizer)
    module = module.to(device)
    if fast.channels_last:
        module.net.to(memory_format=torch.channels_last_3d)
    if fast.compile:
        module.net.compile()
    return module


def train_loss(module: AutoencoderModule, bold: torch.Tensor) -> torch.Tensor:
    """What ``training_step`` optimises for the default AE (no regularizers): the loss of the
    reconstruction of masked vectors."""
    return module.loss_fn(module(bold), bold)["loss"]


def count_flops(module: AutoencoderModule, bold: torch.Tensor) -> dict[str, float]:
    """FLOPs per volume of one forward and of one training step (forward + backward), from
    torch's flop counter (convolutions and matmuls; elementwise ops and interpolation are not
    counted, so achieved TFLOP/s is a lower bound on work done)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        recon = module(bold)
    forward = counter.get_total_flops()
    counter = FlopCounterMode(display=False)
    with counter:
        module.loss_fn(module(bold), bold)["loss"].backward()
    module.zero_grad(set_to_none=True)
    n = bold.shape[0]
    del recon
    return {"forward_gflop_per_volume": round(forward / n / 1e9, 3),
            "train_gflop_per_volume": round(counter.get_total_flops() / n / 1e9, 3)}
