"""Report settings are a Hydra structured config (ConfigStore ``report_schema``): conf/report.yaml
is checked against the dataclass, so a misspelt key or a wrong type is one line, not ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.config_store import ConfigStore

import bold5000_ae.report.build as build
from bold5000_ae.report.build import ReportSettings
from bold5000_ae.utils.errors import InputError


def test_the_shipped_report_yaml_matches_the_schema() -> None:
    settings = ReportSettings.load(rank_by="test/auc", metrics=None)
    assert settings.rank_by == "test/auc" and "test/r2" in settings.metrics
    assert "report_schema.yaml" in ConfigStore.instance().list("")


@pytest.mark.parametrize("text, needle", [
    ("rank_bye: test/r2\n", "rank_bye"),
    ("higher_is_better: maybe\n", "higher_is_better"),
])
def test_a_bad_report_yaml_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       text: str, needle: str) -> None:
    (tmp_path / "report.yaml").write_text(text)
    monkeypatch.setattr(build, "CONFIG_DIR", str(tmp_path))
    with pytest.raises(InputError) as err:
        ReportSettings.load()
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert str(tmp_path / "report.yaml") in str(err.value)
