"""Brain figures (nilearn), the figure callback's schedule, and the job-output helpers."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bold5000_ae.cli.job_output import DropAdverts, PrefixedStream
from bold5000_ae.training.callbacks.reconstruction_figures import ReconstructionFigures
from bold5000_ae.viz.brain import brain_panels, peak_coords, sample_r2

AFFINE = np.diag([4.0, 4.0, 4.0, 1.0]) + np.array([[0, 0, 0, -20], [0, 0, 0, -24],
                                                   [0, 0, 0, -16], [0, 0, 0, 0]])


def volumes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mask = np.zeros((10, 12, 8), bool)
    mask[2:8, 2:10, 1:7] = True
    true = np.where(mask, rng.normal(size=mask.shape), 0.0)
    true[5, 6, 3] = 6.0  # the peak
    return true, 0.5 * true, mask


def test_sample_r2_and_peak() -> None:
    true, half, mask = volumes()
    assert sample_r2(true, half, mask) == pytest.approx(0.75)  # 1 - 0.25
    assert sample_r2(true, true, mask) == 1.0
    assert sample_r2(true, np.zeros_like(true), mask) == 0.0
    assert peak_coords(true, AFFINE) == (0.0, 0.0, -4.0)  # voxel (5, 6, 3) in mm


def test_brain_panels_states_sample_r2_and_cuts(tmp_path: Path) -> None:
    true, half, mask = volumes()
    fig = brain_panels(true, half, AFFINE, mask, tmp_path / "b.png", sample="test sample 3")
    title = fig._suptitle.get_text()
    assert title.startswith("test sample 3: R² 0.750 (this sample")
    assert "cuts at x=0 y=0 z=-4 mm" in title
    assert (tmp_path / "b.png").stat().st_size > 20_000
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"L", "R", "x=0", "y=0", "z=-4"} <= texts  # orientation marks and cut coordinates
    assert {"true", "reconstructed", "residual (true − reconstructed)"} <= texts


@pytest.mark.parametrize(("every", "max_epochs", "due"), [
    (5, 12, [5, 10, 12]), (1, 3, [1, 2, 3]), (4, 4, [4])])
def test_figure_schedule(every: int, max_epochs: int, due: list[int]) -> None:
    callback = ReconstructionFigures(every_n_epochs=every)
    logged = [e + 1 for e in range(max_epochs) if callback._due(
        SimpleNamespace(current_epoch=e, max_epochs=max_epochs))]
    assert logged == due


def test_prefixed_stream_and_advert_filter() -> None:
    out = io.StringIO()
    stream = PrefixedStream(out, "[job 3] ")
    stream.write("epoch 1\nepoch")
    stream.write(" 2\n")
    assert out.getvalue() == "[job 3] epoch 1\n[job 3] epoch 2\n"
    record = logging.LogRecord("lightning", logging.INFO, "", 0, "💡 Tip: try litmodels", None,
                               None)
    assert not DropAdverts().filter(record)
    record.msg = "GPU available: False"
    assert DropAdverts().filter(record)
