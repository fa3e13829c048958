"""Small builders shared by the encoder/decoder families: normalisation and activation by name."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "identity": nn.Identity, "none": nn.Identity,
}
NORMS = ("batch", "group", "instance", "none")


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def make_norm(kind: str, channels: int, dims: int) -> nn.Module:
    """Normalisation layer for ``dims``-D feature maps (1 = vectors)."""
    if kind == "batch":
        return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims](channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "instance":
        if dims == 1:
            return nn.LayerNorm(channels)
        return {2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[dims](channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(NORMS)}")


def zero_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """A linear map from the voxels that starts at zero.

    Why: its gradient is a combination of the training rows, so started at zero it only ever
    grows inside their span (exactly with SGD, nearly with Adam). A random start keeps a random
    component outside that span, which no gradient removes and which a few hundred rows of
    thousands of voxels leave large: it scores the test rows with noise (and keeps a VAE's
    posterior away from the prior however large β is). Weight decay removes it only slowly."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    nn.init.zeros_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer
