"""bf16-mixed against float32: loss and gradients of the default AE on one batch.

Why: bf16 conv3d kernels differ by backend and version; a silent accuracy loss would make every
speed figure worthless. The fp32 reference runs with TF32 off so it is a true float32 reference.
Thresholds are loose enough for bf16's 8-bit mantissa, tight enough to catch a broken kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from experiments.benchmarks.train_setup import EAGER_FP32, build_module, train_loss

LOSS_RTOL = 2e-2
MIN_GLOBAL_COSINE = 0.99
MIN_TENSOR_COSINE = 0.95


def _loss_and_grads(module: Any, bold: torch.Tensor,
                    dtype: torch.dtype | None) -> tuple[float, list[torch.Tensor]]:
    params = [p for p in module.parameters() if p.requires_grad]
    with torch.autocast(bold.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = train_loss(module, bold)
    grads = torch.autograd.grad(loss.float(), params)
    return float(loss.detach()), [g.float() for g in grads]


def bf16_parity(mask: np.ndarray, bold: torch.Tensor) -> dict[str, Any]:
    """Compare one batch's loss and gradients under bf16 autocast with the fp32 ones."""
    device = bold.device
    module = build_module(mask, device, EAGER_FP32)
    module.train()
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        loss32, g32 = _loss_and_grads(module, bold, None)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    loss16, g16 = _loss_and_grads(module, bold, torch.bfloat16)
    cos = torch.nn.functional.cosine_similarity
    flat32, flat16 = torch.cat([g.flatten() for g in g32]), torch.cat([g.flatten() for g in g16])
    per_tensor = [float(cos(a.flatten(), b.flatten(), dim=0)) for a, b in zip(g32, g16,
                                                                              strict=True)]
    result = {
        "batch": int(bold.shape[0]), "loss_fp32": loss32, "loss_bf16": loss16,
        "loss_rel_diff": abs(loss16 - loss32) / max(abs(loss32), 1e-12),
        "grad_global_cosine": float(cos(flat32, flat16, dim=0)),
        "grad_rel_l2": float((flat16 - flat32).norm() / flat32.norm().clamp_min(1e-12)),
        "grad_min_tensor_cosine": min(per_tensor),
        "thresholds": {"loss_rel_diff": LOSS_RTOL, "grad_global_cosine": MIN_GLOBAL_COSINE,
                       "grad_min_tensor_cosine": MIN_TENSOR_COSINE},
    }
    result["passed"] = (result["loss_rel_diff"] <= LOSS_RTOL
                        and result["grad_global_cosine"] >= MIN_GLOBAL_COSINE
                        and result["grad_min_tensor_cosine"] >= MIN_TENSOR_COSINE)
    return result
