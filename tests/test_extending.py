"""docs/extending.md's examples, taken from the page itself: each module is put under the
path the page names, each config into a config folder Hydra searches, and each is built (the
loss and the network also train), so a change that breaks an example fails here."""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.cli.prepare import prepare
from bold5000_ae.cli.train import train
from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.utils.errors import InputError
from tests.helpers.hydra import TINY_TRAIN, compose_config

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"\*\*`([^`]+)`\*\*\n\n```(?:python|yaml)\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    """Path named above each code block → the block."""
    return dict(BLOCK.findall(DOC.read_text()))


def test_the_page_has_one_module_and_one_config_per_example() -> None:
    paths = sorted(examples())
    assert paths == sorted([
        "bold5000_ae/losses/log_cosh.py", "conf/model/loss/log_cosh.yaml",
        "bold5000_ae/prepare/sources/npz_runs.py", "conf/source/npz_runs.yaml",
        "bold5000_ae/models/components/linear.py", "conf/model/net/linear.yaml",
        "bold5000_ae/training/callbacks/epoch_seconds.py",
        "conf/callbacks/with_epoch_seconds.yaml",
        "bold5000_ae/evaluation/max_abs_error.py", "conf/model/metrics/max_abs_error.yaml",
        "bold5000_ae/evaluation/readouts/first_voxels.py",
        "bold5000_ae/evaluation/references/random_projection_k.py"])


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every example module importable under its documented name; configs on Hydra's search
    path; read-outs and references the examples register are forgotten after the test. Returns
    the override that adds that search path."""
    from bold5000_ae.evaluation import readout_registry, reconstruction_references

    monkeypatch.setattr(readout_registry, "READOUTS", dict(readout_registry.READOUTS))
    reconstruction_references.references()  # the package's own, before the examples'
    monkeypatch.setattr(reconstruction_references, "REFERENCES",
                        dict(reconstruction_references.REFERENCES))
    conf = tmp_path / "conf"
    for rel, text in examples().items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".py"):
            name = rel.removesuffix(".py").replace("/", ".")
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            monkeypatch.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
            parent, _, leaf = name.rpartition(".")
            monkeypatch.setattr(importlib.import_module(parent), leaf, module, raising=False)
    return [f"hydra.searchpath=[file://{conf}]"]


def test_loss_example_builds_trains_and_is_log_cosh(installed, prepared_h5: Path,
                                                     tmp_path: Path) -> None:
    from bold5000_ae.losses.log_cosh import MaskedLogCosh  # the page's module

    pred, target = torch.tensor([[0.1, -2.0, 30.0]]), torch.zeros(1, 3)
    expected = sum(math.log(math.cosh(e)) for e in (0.1, -2.0, 30.0))
    assert MaskedLogCosh()(pred, target)["loss"].item() == pytest.approx(expected, rel=1e-5)
    cfg = compose_config("train", [*installed, f"data.path={prepared_h5}", *TINY_TRAIN,
                                   "trainer.max_epochs=1", "model/loss=log_cosh"], tmp_path)
    assert cfg.model.loss._target_ == "bold5000_ae.losses.log_cosh.MaskedLogCosh"
    metrics = train(cfg)
    assert math.isfinite(metrics["test/r2"]) and "train/log_cosh" in metrics


def test_source_example_prepares_a_file_the_datamodule_reads(installed,
                                                             tmp_path: Path) -> None:
    root, rng = tmp_path / "npz", np.random.default_rng(0)
    root.mkdir()
    mask = np.zeros((5, 6, 5), bool)
    mask[1:4, 1:5, 1:4] = True
    np.save(root / "mask.npy", mask)
    for session, run in ((1, 1), (1, 2), (2, 1), (2, 2)):
        np.savez(root / f"sub-1_ses-{session:02d}_run-{run:02d}.npz",
                 bold=rng.standard_normal((6, 5, 6, 5)).astype(np.float32),
                 image=np.array([f"img{i}.jpg" for i in range(6)]))
    output = tmp_path / "npz.h5"
    cfg = compose_config("prepare", [*installed, "source=npz_runs", f"source.root={root}",
                                     f"output={output}"], tmp_path)
    summary = prepare(cfg)
    assert summary
    dm = BoldDataModule(output)
    dm.setup()
    assert np.array_equal(dm.mask, mask)
    assert sum(len(d) for d in dm.datasets.values()) == 24


def test_network_example_builds_from_its_declaration_and_trains(installed, prepared_h5: Path,
                                                                tmp_path: Path) -> None:
    base = [o for o in TINY_TRAIN if not o.startswith("model.net.")]
    cfg = compose_config("train", [*installed, f"data.path={prepared_h5}", *base,
                                   "trainer.max_epochs=1", "model/net=linear",
                                   "model.net.latent_dim=4"], tmp_path)
    metrics = train(cfg)
    assert math.isfinite(metrics["test/r2"])
    vae = compose_config("train", [*installed, f"data.path={prepared_h5}", "model=vae",
                                   "model/net=linear"], tmp_path)
    from bold5000_ae.models.build import build_model

    dm = BoldDataModule(prepared_h5)
    dm.setup()
    module = build_model(vae.model, dm)
    mean, logvar = module.posterior(torch.randn(3, int(dm.mask.sum())))
    assert mean.shape == logvar.shape == (3, 64)


def test_callback_example_logs_each_epochs_seconds(installed, prepared_h5: Path,
                                                   tmp_path: Path) -> None:
    quiet = [o for o in TINY_TRAIN if o != "callbacks=none"]
    cfg = compose_config("train", [*installed, f"data.path={prepared_h5}", *quiet,
                                   "callbacks=with_epoch_seconds", "~callbacks.progress_bar",
                                   "~callbacks.reconstruction_figures"], tmp_path)
    assert "model_checkpoint" in cfg.callbacks  # the defaults are kept
    metrics = train(cfg)
    assert 0 < metrics["time/epoch_s"] < 600


def test_metric_example_reports_the_worst_voxel(installed, prepared_h5: Path,
                                                tmp_path: Path) -> None:
    from bold5000_ae.evaluation.max_abs_error import MaxAbsoluteError  # the page's module

    metric = MaxAbsoluteError()
    metric.update(torch.tensor([[0.0, 3.0], [1.0, -1.0]]), torch.zeros(2, 2))
    metric.update(torch.tensor([[0.5, 0.5]]), torch.zeros(1, 2))
    assert metric.compute().item() == 3.0
    cfg = compose_config("train", [*installed, f"data.path={prepared_h5}", *TINY_TRAIN,
                                   "model/metrics=[max_abs_error,explained_variance]"], tmp_path)
    metrics = train(cfg)
    for split in ("val", "test"):  # the worst voxel error is at least the root mean square
        assert metrics[f"{split}/max_abs_error"] >= math.sqrt(metrics[f"{split}/mse"])
        assert math.isfinite(metrics[f"{split}/explained_variance"])


def test_readout_example_is_scored_and_tabled_beside_the_others(installed,
                                                                prepared_h5: Path) -> None:
    from bold5000_ae.data.hdf5_format import open_prepared
    from bold5000_ae.evaluation.readout import classify_file, format_table
    from bold5000_ae.evaluation.readouts import first_voxels  # the page's module

    assert first_voxels.first_voxels_map  # registered on import, by the fixture
    with open_prepared(prepared_h5) as h5:
        mask = h5["mask"][()]
    cfg = {"n_permutations": 0, "n_boot": 20, "raw_baseline": False, "c_features": [1.0],
           "baselines": ["pca_k", "first_voxels"]}
    out = classify_file(lambda x: x[:, :4], [], 4, mask, prepared_h5, cfg, "voxel", "cv",
                        torch.device("cpu"), progress=lambda _: None)
    assert 0 <= out["cv/first_voxels/auc"] <= 1 and "cv/pca_k/auc" in out
    lines = format_table(out).splitlines()
    assert any(line.split()[:1] == ["first_voxels"] for line in lines)
    with pytest.raises(InputError, match="no read-out 'first_voxel'"):
        classify_file(lambda x: x[:, :4], [], 4, mask, prepared_h5,
                      {**cfg, "baselines": ["first_voxel"]}, "voxel", "cv",
                      torch.device("cpu"), progress=lambda _: None)


def test_reconstruction_baseline_example_is_recorded_printed_and_tabled(installed) -> None:
    from bold5000_ae.evaluation.baselines import reconstruction_baselines, summary_lines
    from bold5000_ae.evaluation.references import random_projection_k  # the page's module
    from experiments.phase_tables import reconstruction_table

    assert random_projection_k.random_projection_k  # registered on import, by the fixture
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 40))  # rank 5 + noise
    rows += 0.3 * rng.standard_normal(rows.shape)
    train, test = rows[:150], rows[150:]
    fit = reconstruction_baselines(train, train, k=5, split="fit")
    # PCA-k is the best rank-k linear fit of the training rows; a random rank-5 projection of
    # rank-5 data still recovers most of it
    assert fit["baseline/pca_k/fit/r2"] >= fit["baseline/random_projection_k/fit/r2"] > 0.5
    out = reconstruction_baselines(train, test, k=5)
    assert out["baseline/random_projection_k/k"] == 5
    assert 0.5 < out["baseline/random_projection_k/test/r2"] <= 1
    lines = summary_lines({**out, "test/r2": 0.5})
    assert any(line.split()[:3] == ["random", "projection", "R²"] for line in lines)
    table = reconstruction_table({**out, "test/r2": 0.5, "test/mse": 1.0}, "AE")
    assert "random projection (k = 5)" in table[0] and "PCA-k (k = 5)" in table[0]
