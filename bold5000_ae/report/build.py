"""Assemble a sweep's report: tables (Markdown, CSV), figures (PNG) and one HTML page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bold5000_ae.report.collect import FAILED, collect_runs
from bold5000_ae.report.figures import learning_curves, metric_bars, slice_montage
from bold5000_ae.report.html import write_html
from bold5000_ae.report.table import present_metrics, runs_markdown, summarise, to_markdown
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ReportSettings:
    """Mirrors ``conf/report.yaml``."""

    metrics: list[str] = field(default_factory=lambda: ["test/r2", "test/pearson_r"])
    rank_by: str = "test/r2"
    higher_is_better: bool = True
    curve_metrics: list[str] = field(default_factory=lambda: ["val/r2", "val/pearson_r"])
    seed_keys: list[str] = field(default_factory=lambda: ["seed"])
    out_subdir: str = "report"

    def __post_init__(self) -> None:
        dropped = [m for m in self.metrics + self.curve_metrics if "loss" in m]
        if dropped:
            log.warning("report: loss values are not comparable across runs; dropped %s",
                        dropped)
        self.metrics = [m for m in self.metrics if "loss" not in m]
        self.curve_metrics = [m for m in self.curve_metrics if "loss" not in m]

    @classmethod
    def load(cls, **overrides: Any) -> ReportSettings:
        """``conf/report.yaml`` with ``overrides`` (None values ignored) on top, checked against
        this dataclass as a structured config: an unknown key or a wrong type is one line."""
        path = Path(CONFIG_DIR) / "report.yaml"
        names = {f.name for f in fields(cls)}
        try:
            merged = OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.load(path), {
                k: v for k, v in overrides.items() if v is not None and k in names})
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", None)
            problem = str(exc).strip().splitlines()[0]
            raise InputError(path, f"{key}: {problem}" if key else problem) from exc
        return cls(**OmegaConf.to_container(merged))


ConfigStore.instance().store(name="report_schema", node=ReportSettings)


@dataclass
class Report:
    folder: Path
    files: dict[str, Path]
    n_runs: int
    n_failed: int


def _attempt(what: str, make: Callable[[], Path | None]) -> Path | None:
    """A figure that cannot be drawn is logged and left out; the report still gets written."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - a broken figure must not cost the report
        log.warning("report: %s not drawn: %s: %s", what, type(exc).__name__, exc)
        return None


def build_report(multirun_dir: str | Path, settings: ReportSettings | None = None,
                 out_dir: str | Path | None = None) -> Report:
    """Write ``summary.{md,csv}``, ``runs.{md,csv}``, ``metrics.png``, ``learning_curves.png``,
    ``montage.png`` and ``report.html`` into ``<multirun_dir>/report`` (or ``out_dir``)."""
    settings = settings or ReportSettings.load()
    source = Path(multirun_dir).resolve()
    folder = Path(out_dir) if out_dir else source / settings.out_subdir
    folder.mkdir(parents=True, exist_ok=True)
    runs, common = collect_runs(source, tuple(settings.seed_keys))
    metrics = present_metrics(runs, settings.metrics)
    table = summarise(runs, metrics, settings.rank_by, settings.higher_is_better)
    files = {"summary.csv": folder / "summary.csv", "runs.csv": folder / "runs.csv",
             "summary.md": folder / "summary.md", "runs.md": folder / "runs.md"}
    table.to_csv(files["summary.csv"], index=False)
    runs.assign(overrides=runs["overrides"].map(" ".join)).to_csv(files["runs.csv"], index=False)
    n_failed = int((runs["status"] == FAILED).sum()) if len(runs) else 0
    header = (f"# Sweep report: {source.name}\n\n{len(runs)} jobs, {n_failed} failed. "
              f"Shared by every job: `{' '.join(common) or '(nothing)'}`.\n\n")
    files["summary.md"].write_text(header + "## Ranking (mean ± std over seeds, ranked by "
                                   f"{settings.rank_by})\n\n" + to_markdown(table, metrics))
    files["runs.md"].write_text(header + "## Every job\n\n" + runs_markdown(runs, metrics))
    figures = [
        (_attempt("metric bars", lambda: metric_bars(table, metrics, folder / "metrics.png")
                  if len(table) and metrics else None), "shared metrics, mean ± std over seeds"),
        (_attempt("learning curves", lambda: learning_curves(
            runs, settings.curve_metrics, folder / "learning_curves.png")),
         "validation learning curves (one colour per configuration)"),
        (_attempt("montage", lambda: slice_montage(runs, list(table.get("label", [])),
                                                   folder / "montage.png")),
         "one test volume: true, then each configuration's reconstruction (ranked)"),
    ]
    files.update({p.name: p for p, _ in figures if p is not None})
    files["report.html"] = write_html(
        folder / "report.html", title=f"Sweep report: {source.name}", source=str(source),
        common=common, table=table, runs=runs, metrics=metrics, figures=figures)
    return Report(folder=folder, files=files, n_runs=len(runs), n_failed=n_failed)
