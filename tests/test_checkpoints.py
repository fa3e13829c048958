"""Checkpoints: weights only, compiled or not, the encoder arriving bit-exact in a fresh
classifier, and another architecture refused in one line naming the mismatch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.models.build import build_model
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from bold5000_ae.models.transfer import TransferClassifier
from bold5000_ae.training.checkpoint_io import load_into, load_state_dict, load_submodule
from bold5000_ae.training.pipeline import restore_pretrained
from bold5000_ae.utils.errors import InputError

GRID = (6, 7, 6)
MASK = np.ones(GRID, bool)


def _net(channels=(2, 4), latent=3, heads=1) -> Conv3dAutoencoderNet:
    return Conv3dAutoencoderNet(GRID, channels=channels, latent_dim=latent, encoder_heads=heads)


def _save(tmp_path: Path, net: torch.nn.Module, name: str = "ae.ckpt") -> Path:
    path = tmp_path / name
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "epoch": 3}, path)
    return path


def _classifier(net: torch.nn.Module, ckpt: Path | None, **kw) -> TransferClassifier:
    """Built fresh, then the encoder restored by the training layer (weights only)."""
    classifier = TransferClassifier(net, MASK, torch.optim.AdamW, **kw)
    if ckpt:
        restore_pretrained(classifier, ckpt)
    return classifier


def test_lightning_checkpoint_loads_weights_only(train_cfg) -> None:
    cfg = train_cfg(["trainer.max_epochs=1"])  # Lightning adds its default checkpointing
    train(cfg)
    ckpt = next(Path(cfg.paths.output_dir).rglob("*.ckpt"))
    torch.load(ckpt, map_location="cpu", weights_only=True)  # no pickled objects inside
    state = load_state_dict(ckpt)
    assert any(k.startswith("net.encoder.") for k in state)


def test_encoder_weights_arrive_bit_exact(tmp_path: Path) -> None:
    trained = _net()
    for p in trained.parameters():
        torch.nn.init.normal_(p)
    trained.encoder.features[1].running_mean.uniform_()  # buffers travel too
    classifier = _classifier(_net(), _save(tmp_path, trained))
    ours, theirs = classifier.encoder.state_dict(), trained.encoder.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not hasattr(classifier, "decoder") and "decoder" not in str(classifier.state_dict())
    assert classifier.pretrained == str(tmp_path / "ae.ckpt")


def test_compiled_checkpoint_loads_into_plain_module_and_back(tmp_path: Path) -> None:
    net = _net()
    compiled = torch.compile(net, backend="eager")
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    path = _save(tmp_path, compiled)
    fresh = _net()
    load_submodule(fresh, path, "net.")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                 net.state_dict().values()))
    target = torch.compile(_net(), backend="eager")
    load_into(target, {k: v for k, v in net.state_dict().items()}, path)
    assert torch.equal(target._orig_mod.encoder.head.weight, net.encoder.head.weight)


def test_model_compile_option_keeps_checkpoint_keys(prepared_h5: Path) -> None:
    from omegaconf import OmegaConf

    from bold5000_ae.data.datamodule import BoldDataModule

    dm = BoldDataModule(prepared_h5)
    dm.setup()
    cfg = OmegaConf.create({
        "_target_": "bold5000_ae.models.autoencoder.AutoencoderModule", "compile": True,
        "net": {"_target_": "bold5000_ae.models.components.conv3d.Conv3dAutoencoderNet",
                "channels": [2], "latent_dim": 3},
        "loss": {"_target_": "bold5000_ae.losses.mse.MaskedMSE"},
        "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True}})
    module = build_model(cfg, dm)
    # compiled in place: what the module calls, the encoder and the decoder
    assert module.net.encoder._compiled_call_impl is not None
    assert module.net.decoder._compiled_call_impl is not None
    assert not any("_orig_mod" in k for k in module.state_dict())


@pytest.mark.parametrize("other, needle", [
    (dict(channels=(2, 8)), "architecture mismatch: net.encoder 'features.3.weight' is"),
    (dict(latent=5), "'head.weight' is (5, "),
    (dict(heads=2), "'head.weight' is (6, "),
    (dict(channels=(2, 4, 4)), "needs 'features.6.weight'"),
])
def test_architecture_mismatch_is_one_line_naming_it(tmp_path: Path, other: dict,
                                                     needle: str) -> None:
    path = _save(tmp_path, _net())
    with pytest.raises(InputError) as err:
        _classifier(_net(**other), path)
    message = str(err.value)
    assert needle in message and "\n" not in message and str(path) in message


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"loss": torch.nn.MSELoss()}}, path)
    with pytest.raises(InputError, match="weights-only"):
        load_state_dict(path)


def test_missing_checkpoint_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="checkpoint not found"):
        load_state_dict(tmp_path / "nope.ckpt")


# ---- integrity and moved run folders -------------------------------------------------------


def _lightning_like(folder: Path) -> dict:
    """What Lightning hands AtomicCheckpointIO: weights, optimizer state, ModelCheckpoint's
    absolute paths."""
    best = str(folder.resolve() / "epoch_001.ckpt")
    return {"state_dict": {"net.w": torch.arange(6.0).reshape(2, 3)}, "epoch": 1,
            "optimizer_states": [{"state": {0: {"exp_avg": torch.ones(3)}}, "param_groups": []}],
            "callbacks": {"ModelCheckpoint{'monitor': 'val/loss'}": {
                "dirpath": str(folder.resolve()), "best_model_path": best,
                "best_k_models": {best: torch.tensor(0.5)},
                "last_model_path": str(folder.resolve() / "last.ckpt"),
                "kth_best_model_path": best, "best_model_score": torch.tensor(0.5)}}}


def test_bit_flipped_checkpoint_is_refused(tmp_path: Path) -> None:
    from bold5000_ae.training.checkpoint_io import AtomicCheckpointIO

    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint(_lightning_like(tmp_path), path)
    assert load_state_dict(path)["net.w"].sum() == 15  # intact: loads
    payload = torch.load(path, weights_only=True)
    flipped = payload["state_dict"]["net.w"].view(torch.int32)
    flipped[1, 2] ^= 1 << 20  # one bit of one float, the checksum kept as written
    torch.save(payload, path)
    with pytest.raises(InputError, match="checksum mismatch") as err:
        load_state_dict(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="checksum mismatch"):  # Lightning's resume path too
        AtomicCheckpointIO().load_checkpoint(path)


def test_moved_run_folder_restores_its_checkpoint_paths(tmp_path: Path) -> None:
    from bold5000_ae.training.checkpoint_io import AtomicCheckpointIO

    old, new = tmp_path / "old" / "checkpoints", tmp_path / "new" / "checkpoints"
    old.mkdir(parents=True)
    AtomicCheckpointIO().save_checkpoint(_lightning_like(old), old / "last.ckpt")
    stored = torch.load(old / "last.ckpt", weights_only=True)["callbacks"]
    [state] = stored.values()
    assert state["dirpath"] == "." and state["best_model_path"] == "epoch_001.ckpt"
    (tmp_path / "old").rename(tmp_path / "new")
    [state] = AtomicCheckpointIO().load_checkpoint(new / "last.ckpt")["callbacks"].values()
    assert state["dirpath"] == str(new.resolve())
    assert state["best_model_path"] == str(new.resolve() / "epoch_001.ckpt")
    assert list(state["best_k_models"]) == [str(new.resolve() / "epoch_001.ckpt")]
