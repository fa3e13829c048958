"""Shared fixtures: a tiny synthetic BOLD5000 (raw and prepared) and in-process Hydra configs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bold5000_ae.data.preparation import prepare_dataset
from bold5000_ae.data.sources.bids import BidsSource
from bold5000_ae.data.synthetic import SyntheticSpec, generate
from bold5000_ae.utils.config import CONFIG_DIR

os.environ.setdefault("WANDB_MODE", "disabled")
SHARED_BOLD5000 = Path(__file__).resolve().parents[1].parent / "shared" / "bold5000"

# Small enough for seconds, large enough to hold 4 runs for group splits.
TINY_SPEC = SyntheticSpec(grid=(12, 14, 12), voxel_size_mm=(8.0, 8.0, 8.0), sessions=2,
                          runs_per_session=2, trials_per_run=8, volumes_per_run=50,
                          unique_images=24, image_size=16, seed=3)


@pytest.fixture(scope="session")
def shared_bold5000() -> Path:
    if not SHARED_BOLD5000.is_dir():
        pytest.skip(f"real BOLD5000 files not found at {SHARED_BOLD5000}")
    return SHARED_BOLD5000


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "raw"
    generate(root, TINY_SPEC)
    return root


def prepare_synthetic(raw: Path, output: Path, **source_kwargs) -> dict:
    """Prepare a synthetic raw folder the way source=synthetic does."""
    source = BidsSource(raw / "bids", mask=str(raw / "bids/derivatives/masks/"
                                               "sub-CSI{subject}_brainmask.nii.gz"),
                        **source_kwargs)
    truth = json.loads((raw / "ground_truth.json").read_text())
    return prepare_dataset(source, output,
                           stimuli_root=raw / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli",
                           image_size=16, labels={"table": str(raw / "labels.tsv")},
                           extra_attrs={"ground_truth": truth})


@pytest.fixture(scope="session")
def prepared_h5(synthetic_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("prepared") / "tiny.h5"
    prepare_synthetic(synthetic_raw, output)
    return output


def compose_config(name: str, overrides: list[str], tmp_path: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` in-process as the entry point would, outputs in tmp_path."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path)
        cfg.paths.output_dir = str(tmp_path / "out")
        cfg.hydra.runtime.output_dir = str(tmp_path / "out")
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg


TINY_TRAIN = ["trainer=cpu", "trainer.max_epochs=2", "data.batch_size=8",
              "model.net.channels=[4,8]", "model.net.latent_dim=8", "logger=csv",
              "callbacks=none", "trainer.enable_progress_bar=false"]


@pytest.fixture
def train_cfg(prepared_h5: Path, tmp_path: Path):
    """A factory: ``train_cfg(extra_overrides)`` → composed train config on the tiny data."""

    def make(extra: list[str] | None = None) -> DictConfig:
        return compose_config("train", [f"data.path={prepared_h5}", *TINY_TRAIN,
                                        *(extra or [])], tmp_path)

    return make
