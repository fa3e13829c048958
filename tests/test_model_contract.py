"""The written model contract (models/components/base.py): nets declare what they consume, the
VAE encoder's posterior comes by name, every LightningModule embeds the same way, and the masked
wrapper keeps checkpoint keys where they were."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import get_class
from omegaconf import OmegaConf
from torch import nn

from bold5000_ae.models.build import data_kwargs
from bold5000_ae.models.components.base import AutoencoderNet, BoldModule, Encoder, consumes_of
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from bold5000_ae.models.components.masked import MaskedNet
from bold5000_ae.models.components.mlp import MLPAutoencoderNet
from bold5000_ae.training.checkpoint_io import load_into, load_state_dict
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.masking import VolumeMask

GRID = (6, 7, 6)
MASK = np.zeros(GRID, bool)
MASK[1:5, 1:6, 1:5] = True


class _Data:
    mask = MASK
    volume_shape = GRID


@pytest.mark.parametrize("path", sorted((Path(CONFIG_DIR) / "model" / "net").glob("*.yaml")))
def test_every_net_config_follows_the_contract(path: Path) -> None:
    cls = get_class(OmegaConf.load(path)._target_)
    assert issubclass(cls, AutoencoderNet) and consumes_of(cls) in ("volume", "vector")
    kwargs = data_kwargs(OmegaConf.load(path)._target_, _Data())
    if cls.consumes == "vector":
        assert kwargs == {"n_voxels": int(MASK.sum())}
        return
    assert kwargs.pop("volume_shape") == GRID
    # the brain mask only for a net whose constructor takes one (its voxel path)
    assert ("mask" in kwargs) == ("mask" in inspect.signature(cls).parameters)
    assert np.array_equal(kwargs.pop("mask", MASK), MASK) and kwargs == {}


def test_a_net_that_declares_nothing_is_refused_in_one_line() -> None:
    class Undeclared(nn.Module):
        pass

    with pytest.raises(TypeError, match="Undeclared must declare consumes") as err:
        consumes_of(Undeclared)
    assert "\n" not in str(err.value)


def test_posterior_by_name_and_code_is_its_mean() -> None:
    net = Conv3dAutoencoderNet(GRID, channels=(2,), latent_dim=3, encoder_heads=2).eval()
    x = torch.randn(4, 1, *GRID)
    mean, logvar = net.encoder.posterior(x)
    raw = net.encoder(x)
    torch.testing.assert_close(mean, raw[:, :3])
    torch.testing.assert_close(logvar, raw[:, 3:])
    torch.testing.assert_close(net.encoder.code(x), mean)
    one_head = Conv3dAutoencoderNet(GRID, channels=(2,), latent_dim=3)
    with pytest.raises(ValueError, match="two heads"):
        one_head.encoder.posterior(x)


@pytest.mark.parametrize("net", [Conv3dAutoencoderNet(GRID, channels=(2,), latent_dim=3),
                                 MLPAutoencoderNet(int(MASK.sum()), hidden=(8,), latent_dim=3)])
def test_masked_net_takes_and_gives_vectors_whatever_the_net_consumes(net: nn.Module) -> None:
    net.eval()
    mask = VolumeMask(MASK)
    masked = MaskedNet(net.encoder, mask, net.decoder)
    bold = torch.randn(5, int(MASK.sum()))
    x = bold if net.consumes == "vector" else mask.to_volume(bold)
    torch.testing.assert_close(masked.code(bold), net.encoder(x))
    out = masked.decode(masked.code(bold))
    assert out.shape == bold.shape
    expected = net.decoder(net.encoder(x))
    torch.testing.assert_close(out, expected if net.consumes == "vector"
                               else mask.to_vector(expected))


def test_encoders_subclass_the_base() -> None:
    net = MLPAutoencoderNet(10, hidden=(4,), latent_dim=2, encoder_heads=2)
    assert isinstance(net.encoder, Encoder) and net.encoder.heads == 2
    with pytest.raises(ValueError, match="1 head"):
        Encoder(3, heads=3)


def _modules() -> dict[str, BoldModule]:
    from bold5000_ae.losses.mse import MaskedMSE
    from bold5000_ae.models.autoencoder import AutoencoderModule
    from bold5000_ae.models.components.image_cnn import ImageEncoder
    from bold5000_ae.models.image_to_latent import ImageToLatentModule
    from bold5000_ae.models.transfer import TransferClassifier
    from bold5000_ae.models.vae import VAEModule

    def net(heads: int = 1) -> Conv3dAutoencoderNet:
        torch.manual_seed(0)
        return Conv3dAutoencoderNet(GRID, channels=(2,), latent_dim=3, encoder_heads=heads)

    opt = torch.optim.AdamW
    return {"ae": AutoencoderModule(net(), MaskedMSE(), MASK, opt),
            "vae": VAEModule(net(2), MaskedMSE(), MASK, opt),
            "transfer": TransferClassifier(net(), MASK, opt),
            "image_to_latent": ImageToLatentModule(ImageEncoder(3, channels=(2,)), net(), MASK,
                                                   opt)}


def test_every_module_embeds_masked_vectors_to_the_latent() -> None:
    bold = torch.randn(4, int(MASK.sum()))
    reference = None
    for name, module in _modules().items():
        module.eval()
        z = module.embed(bold)
        assert z.shape == (4, 3), name
        if name != "vae":  # same seed, same one-headed encoder: the same code
            reference = z if reference is None else reference
            torch.testing.assert_close(z, reference)


LEGACY = Path(__file__).parent / "data" / "legacy"


@pytest.mark.parametrize("name", ["ae", "vae", "transfer", "image_to_latent"])
def test_checkpoints_written_before_the_contract_still_load(name: str) -> None:
    """tests/data/legacy/*.ckpt were written by the modules of commit ebebda3 (before this
    contract) with the same tiny nets as ``_modules``: every tensor still has its place."""
    module = _modules()[name]
    state = load_state_dict(LEGACY / f"{name}.ckpt")
    load_into(module, state, LEGACY / f"{name}.ckpt")
    assert all(torch.equal(module.state_dict()[k], state[k]) for k in state)


def test_an_old_vector_net_checkpoint_loads_and_embeds() -> None:
    from bold5000_ae.losses.mse import MaskedMSE
    from bold5000_ae.models.autoencoder import AutoencoderModule

    module = AutoencoderModule(MLPAutoencoderNet(int(MASK.sum()), hidden=(8,), latent_dim=3),
                               MaskedMSE(), MASK, torch.optim.AdamW)
    load_into(module, load_state_dict(LEGACY / "mlp_ae.ckpt"), LEGACY / "mlp_ae.ckpt")
    assert torch.isfinite(module.eval().embed(torch.randn(2, int(MASK.sum())))).all()


def test_an_old_autoencoder_checkpoint_starts_a_transfer_classifier() -> None:
    from bold5000_ae.training.pipeline import restore_pretrained

    module = _modules()["transfer"]
    restore_pretrained(module, LEGACY / "ae.ckpt")
    old = load_state_dict(LEGACY / "ae.ckpt")
    assert torch.equal(module.encoder.head.weight, old["net.encoder.head.weight"])
