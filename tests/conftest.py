"""Shared fixtures: a tiny synthetic BOLD5000 (raw and prepared), in-process Hydra configs, and
Hydra's global state cleared after every test. Helpers live in ``tests/helpers/``."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from omegaconf import DictConfig

from bold5000_ae.synthetic import generate
from tests.helpers.hydra import TINY_TRAIN, clear_hydra, compose_config
from tests.helpers.synthetic import SHARED_BOLD5000, TINY_SPEC, prepare_synthetic

# re-exported: tests import these from here as well as from tests.helpers
__all__ = ["TINY_SPEC", "TINY_TRAIN", "compose_config", "prepare_synthetic"]

os.environ.setdefault("WANDB_MODE", "disabled")

# A test whose body starts a process must say so (``@pytest.mark.subprocess``), so
# ``-m "not subprocess"`` gives a quick in-process run; CI runs everything.
SUBPROCESS_CALLS = ("subprocess.run(", "subprocess.Popen(", "run_train(")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        func = getattr(item, "function", None)
        if func is None or item.get_closest_marker("subprocess"):
            continue
        if any(call in inspect.getsource(func) for call in SUBPROCESS_CALLS):
            unmarked.append(item.nodeid)
    if unmarked:
        raise pytest.UsageError("start processes but are not marked @pytest.mark.subprocess: "
                                + ", ".join(unmarked))


@pytest.fixture(autouse=True)
def _clear_hydra():
    """Every test starts and ends with no composed config, whatever it composed."""
    yield
    clear_hydra()


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


@pytest.fixture(scope="session")
def prepared_h5(synthetic_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("prepared") / "tiny.h5"
    prepare_synthetic(synthetic_raw, output)
    return output


@pytest.fixture
def train_cfg(prepared_h5: Path, tmp_path: Path):
    """A factory: ``train_cfg(extra_overrides)`` → composed train config on the tiny data."""

    def make(extra: list[str] | None = None) -> DictConfig:
        return compose_config("train", [f"data.path={prepared_h5}", *TINY_TRAIN,
                                        *(extra or [])], tmp_path)

    return make
