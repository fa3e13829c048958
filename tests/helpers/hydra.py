"""Compose a config in-process, as the entry point would, with every output under a temporary
folder. Hydra's global state is cleared after each test by ``conftest._clear_hydra``."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bold5000_ae.utils.config import CONFIG_DIR

# A training run small enough for seconds on the tiny data
TINY_TRAIN = ["trainer=cpu", "trainer.max_epochs=2", "data.batch_size=8",
              "model.net.channels=[4,8]", "model.net.latent_dim=8", "logger=csv",
              "callbacks=none", "trainer.enable_progress_bar=false"]


def clear_hydra() -> None:
    """Forget the composed config (GlobalHydra and HydraConfig), as a fresh process would."""
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


def compose_config(name: str, overrides: list[str], tmp_path: Path) -> DictConfig:
    """Compose ``conf/<name>.yaml`` in-process as the entry point would, outputs in tmp_path."""
    clear_hydra()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path)
        cfg.paths.output_dir = str(tmp_path / "out")
        cfg.hydra.runtime.output_dir = str(tmp_path / "out")
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg
