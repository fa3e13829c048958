"""The default 3D autoencoder and its fast-path settings, for the training benchmarks.

The benchmark must time the model ``make train`` trains, so the module comes from the same
place training gets it: ``conf/train.yaml`` composed with Hydra's compose API and built by
``bold5000_ae.models.build.build_model`` (which also compiles it the way training does). The
GPU machine lacks Hydra and OmegaConf: ``gpu_check.sh`` installs their carried wheels first.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch

from bold5000_ae.models.autoencoder import AutoencoderModule

if TYPE_CHECKING:
    from omegaconf import DictConfig


@dataclass(frozen=True)
class FastPath:
    """The fast-path switches, each a config value in the framework (README.md here maps them)."""

    precision: str = "bf16-mixed"  # trainer.precision
    compile: bool = True  # model.compile (encoder and decoder compiled in place)
    cudnn_benchmark: bool = True  # trainer.benchmark
    channels_last: bool = False  # channels_last_3d: only where measured to help
    fused_adam: bool = True  # model.optimizer.fused (CUDA only)

    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(self.precision)

    def model_overrides(self, device: torch.device) -> list[str]:
        """The ``model.*`` overrides of the model-side switches, as a user would type them."""
        overrides = [f"model.compile={str(self.compile).lower()}"]
        if self.fused_adam and device.type == "cuda":
            overrides.append("+model.optimizer.fused=true")
        return overrides


EAGER_FP32 = FastPath(precision="32-true", compile=False, cudnn_benchmark=False,
                      channels_last=False, fused_adam=False)


def compose_train_config(overrides: list[str]) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``, composed as ``bold5000-ae-train`` would."""
    from hydra import compose, initialize_config_dir

    from bold5000_ae.utils.config import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def build_module(mask: np.ndarray, device: torch.device, fast: FastPath,
                 seed: int = 0) -> AutoencoderModule:
    """The default AE for ``mask``'s grid on ``device`` with ``fast``'s model-side switches,
    built by the package's builder from the default config."""
    from bold5000_ae.models.build import build_model

    torch.manual_seed(seed)
    cfg = compose_train_config(fast.model_overrides(device))
    data = SimpleNamespace(volume_shape=tuple(mask.shape), mask=mask)
    module = build_model(cfg.model, data).to(device)
    if fast.channels_last:
        module.net.to(memory_format=torch.channels_last_3d)
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
