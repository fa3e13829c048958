"""Known answers for the training machinery, on the default data (``make data``'s file).

Each is a property any correct optimiser, model and loss must show, so a defect of the kind
that once kept every autoencoder below PCA (a decoder that could not fit its own training rows,
weight decay too weak to clear a linear map's weights outside the rows' span) fails here:

- a linear autoencoder trained with MSE reaches PCA-k's test R² (the optimum of the same
  bottleneck on the training rows) within 0.01;
- a model with enough capacity and no weight decay fits its training rows at least as well as
  PCA-k does (PCA-k is the best any rank-k linear map can do there);
- the default conv autoencoder fits its training rows about as well as PCA-k, reaches its test
  R² within 0.01, and holds more of the noise-free signal (R² against the twin) than PCA-k.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bold5000_ae.cli.train import train
from tests.helpers.hydra import compose_config

# one xdist worker runs this module: its module-scoped default_data is built once
pytestmark = pytest.mark.xdist_group("models_learn")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make data`` into a temporary folder: the default synthetic data, prepared with its
    noise-free twin exactly as ``make train`` uses them."""
    root = tmp_path_factory.mktemp("default_data")
    prepared = root / "processed" / "synthetic.h5"
    twin = root / "processed" / "synthetic_noiseless.h5"
    subprocess.run(["make", "-s", "-C", str(REPO), "data", f"SYNTH_DIR={root / 'synthetic'}",
                    f"PREPARED={prepared}", f"NOISELESS={twin}"], check=True, capture_output=True)
    return prepared


QUIET = ["~callbacks.progress_bar", "~callbacks.reconstruction_figures"]


def fit(data: Path, tmp_path: Path, overrides: list[str]) -> dict[str, float]:
    quiet = [] if "callbacks=none" in overrides else QUIET
    cfg = compose_config("train", [f"data.path={data}", "trainer=cpu", "logger=csv", *quiet,
                                   *overrides], tmp_path)
    return train(cfg)


@pytest.mark.subprocess
def test_linear_autoencoder_reaches_pca(default_data: Path, tmp_path: Path) -> None:
    m = fit(default_data, tmp_path, ["model/net=mlp", "model.net.hidden=[]",
                                     "model.net.norm=none", "trainer.max_epochs=60"])
    assert m["test/r2"] == pytest.approx(m["baseline/pca_k/test/r2"], abs=0.01)
    assert m["fit/r2"] == pytest.approx(m["baseline/pca_k/fit/r2"], abs=0.01)


@pytest.mark.subprocess
def test_a_model_with_capacity_fits_its_training_rows_beyond_pca(default_data: Path,
                                                                 tmp_path: Path) -> None:
    # the last weights (callbacks=none: no best-on-validation checkpoint, no early stop)
    m = fit(default_data, tmp_path, ["model/net=mlp", "model.optimizer.weight_decay=0",
                                     "trainer.max_epochs=60", "callbacks=none"])
    assert m["fit/r2"] >= m["baseline/pca_k/fit/r2"]


@pytest.mark.subprocess
def test_default_conv_autoencoder_fits_and_reaches_pca(default_data: Path,
                                                       tmp_path: Path) -> None:
    m = fit(default_data, tmp_path, [])
    assert m["fit/r2"] >= m["baseline/pca_k/fit/r2"] - 0.005
    assert m["test/r2"] >= m["baseline/pca_k/test/r2"] - 0.01
    assert m["test/signal_r2"] > m["baseline/pca_k/test/signal_r2"]
    # the default file repeats images: both codes are also scored through the repeat Wiener
    for key in ("test/signal_r2_repeat_wiener", "baseline/pca_k/test/signal_r2_repeat_wiener"):
        assert -1.0 < m[key] < 1.0
