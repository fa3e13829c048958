"""Assemble a sweep's report: tables (Markdown, CSV), figures (PNG), and one interactive,
self-contained HTML page; for an Optuna sweep, the study's own views too."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bold5000_ae.report import interactive
from bold5000_ae.report.collect import (
    FAILED,
    PRUNED,
    RUNNING,
    STALE,
    UNTRAINED,
    collect_runs,
    read_sweep_info,
)
from bold5000_ae.report.curves import all_curves
from bold5000_ae.report.figures import learning_curves, metric_bars, palette, slice_montage
from bold5000_ae.report.html import write_html
from bold5000_ae.report.optuna_views import study_views
from bold5000_ae.report.table import (
    beats_lines,
    present_metrics,
    ranking,
    references,
    runs_markdown,
    summarise,
    to_markdown,
)
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class ReportSettings:
    """Mirrors ``conf/report.yaml``."""

    metrics: list[str] = field(default_factory=lambda: ["test/r2", "test/pearson_r"])
    rank_by: str = "test/r2"
    higher_is_better: bool = True
    curve_metrics: list[str] = field(default_factory=lambda: ["val/r2", "val/pearson_r"])
    seed_keys: list[str] = field(default_factory=lambda: ["seed"])
    fold_keys: list[str] = field(default_factory=lambda: ["data.split.fold"])
    # the confidence level of the interval over a configuration's seeds × folds
    confidence: float = 0.95
    out_subdir: str = "report"
    ceilings: dict[str, str] = field(
        default_factory=lambda: {"ground_truth/noise_ceiling_r2": "test/r2"})

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


    def for_sweep(self, info: dict[str, Any], explicit_rank: bool = False) -> ReportSettings:
        """An Optuna sweep is ranked by its objective, in its direction, unless ``rank_by`` was
        asked for explicitly: a search is judged by what it optimised."""
        objectives = info.get("objective")
        if not objectives or explicit_rank or info.get("sweeper") != "optuna":
            return self
        # several objectives: all shown, the first one ranks
        objectives = [objectives] if isinstance(objectives, str) else list(objectives)
        direction = info.get("direction") or "maximize"
        direction = direction if isinstance(direction, str) else direction[0]
        metrics = [*objectives, *[m for m in self.metrics if m not in objectives]]
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(metrics=metrics, rank_by=objectives[0],
                      higher_is_better=direction != "minimize")
        return ReportSettings(**values)


ConfigStore.instance().store(name="report_schema", node=ReportSettings)


@dataclass
class Report:
    folder: Path
    files: dict[str, Path]
    n_runs: int
    n_failed: int
    # ", 2 pruned by the search (not ranked)": what else the jobs' statuses say
    notes: str = ""


def _attempt(what: str, make: Callable[[], T]) -> T | None:
    """A figure that cannot be drawn is logged and left out; the report still gets written."""
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - a broken figure must not cost the report
        log.warning("report: %s not drawn: %s: %s", what, type(exc).__name__, exc)
        return None


META_COLUMNS = ("job", "dir", "overrides", "status", "error", "label", "seed", "fold")


def metric_names(runs: Any) -> list[str]:
    """Every metric some job reported (the names ``--rank-by`` and ``--metrics`` accept)."""
    return sorted(c for c in runs.columns if c not in META_COLUMNS and runs[c].notna().any())


def check_metric_names(runs: Any, settings: ReportSettings, explicit_rank: bool,
                       explicit_metrics: bool) -> None:
    """A metric asked for by name that no job reported is refused in one line, before anything
    is written: a typo would otherwise overwrite a good report with an empty table."""
    known = metric_names(runs)
    asked = ([("--rank-by", settings.rank_by)] if explicit_rank else []) + (
        [("--metrics", m) for m in settings.metrics] if explicit_metrics else [])
    for option, name in asked:
        if name not in known:
            valid = ", ".join(k for k in known if "loss" not in k) or "(none: no job finished)"
            raise InputError(option, f"no job reported a metric named {name!r}; valid: {valid}")


def _write(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)``, then the rename: never a cut file under ``path``'s name."""
    with atomic_path(path) as tmp:
        write(tmp)


def build_report(multirun_dir: str | Path | Sequence[str | Path],
                 settings: ReportSettings | None = None, out_dir: str | Path | None = None,
                 explicit_rank: bool = False, explicit_metrics: bool = False) -> Report:
    """Write ``summary.{md,csv}``, ``references.csv``, ``ranking.csv`` (configurations and
    references in one order by value), ``runs.{md,csv}``, ``metrics.png``,
    ``learning_curves.png``, ``montage.png`` and ``report.html`` into ``<multirun_dir>/report``
    (or ``out_dir``). ``multirun_dir`` may be a sweep folder, one run folder, or several (then
    ``out_dir`` is needed). Every file is written under a temporary name and renamed."""
    sources = ([Path(multirun_dir).resolve()] if isinstance(multirun_dir, str | Path)
               else [Path(d).resolve() for d in multirun_dir])
    source = sources[0]
    info = read_sweep_info(source) if len(sources) == 1 else {}
    settings = (settings or ReportSettings.load()).for_sweep(info, explicit_rank)
    if out_dir is None and len(sources) > 1:
        raise InputError("--out", "several folders need --out <folder> for their report")
    folder = Path(out_dir).resolve() if out_dir else source / settings.out_subdir
    runs, common = collect_runs(sources, tuple(settings.seed_keys), tuple(settings.fold_keys))
    if not len(runs):
        raise InputError(source, "holds no runs: give a sweep folder (its job folders 0, 1, ... "
                                 "hold .hydra/) or a run folder (.hydra/ of its own)")
    check_metric_names(runs, settings, explicit_rank, explicit_metrics)
    metrics = present_metrics(runs, settings.metrics)
    table = summarise(runs, metrics, settings.rank_by, settings.higher_is_better,
                      settings.confidence)
    refs = references(runs, metrics, settings.ceilings)
    colours = palette([*table.get("label", []), *runs.get("label", [])])
    files = {name: folder / name for name in ("summary.csv", "references.csv", "ranking.csv",
                                              "runs.csv", "summary.md", "runs.md")}
    _write(files["summary.csv"], lambda tmp: table.to_csv(tmp, index=False))
    _write(files["references.csv"], lambda tmp: refs.to_csv(tmp, index=False))
    _write(files["ranking.csv"], lambda tmp: ranking(
        table, refs, metrics, settings.rank_by, settings.higher_is_better).to_csv(tmp, index=False))
    rank_metric = settings.rank_by if settings.rank_by in metrics else (
        metrics[0] if metrics else settings.rank_by)
    verdicts = beats_lines(table, refs, rank_metric, settings.higher_is_better)
    _write(files["runs.csv"], lambda tmp: runs.assign(
        overrides=runs["overrides"].map(" ".join)).to_csv(tmp, index=False))
    counts = {status: int((runs["status"] == status).sum()) for status in (
        FAILED, PRUNED, UNTRAINED, RUNNING, STALE)}
    n_failed = counts[FAILED]
    notes = "".join(f", {counts[k]} {text}" for k, text in (
        (PRUNED, "pruned by the search (not ranked)"), (UNTRAINED, "untrained (not ranked)"),
        (RUNNING, "still running (not ranked)"),
        (STALE, "stale, from an earlier sweep into this folder (not ranked)")) if counts[k])
    ranked = (f"ranked by {settings.rank_by} "
              f"({'higher' if settings.higher_is_better else 'lower'} is better)")
    name = source.name if len(sources) == 1 else f"{len(sources)} folders"
    header = (f"# Sweep report: {name}\n\n{len(runs)} jobs, {n_failed} failed{notes}. "
              f"Shared by every job: `{' '.join(common) or '(nothing)'}`.\n\n")
    _write(files["summary.md"], lambda tmp: tmp.write_text(
        header + "".join(f"- {line}\n" for line in verdicts) + ("\n" if verdicts else "")
        + f"## Ranking (mean ± std over seeds and folds, {ranked}, with its "
        f"{settings.confidence:.0%} confidence interval; baselines and ceilings in italics, "
        "placed by value)\n\n"
        + to_markdown(table, metrics, refs, settings.rank_by, settings.higher_is_better)))
    _write(files["runs.md"], lambda tmp: tmp.write_text(
        header + "## Every job\n\n" + runs_markdown(runs, metrics)))
    curves = _attempt("curves", lambda: all_curves(runs, settings.curve_metrics)) or {}
    have_table = bool(len(table) and metrics)
    pngs = [
        (_attempt("metric bars", lambda: metric_bars(
            table, metrics, folder / "metrics.png", colours, refs) if have_table else None),
         "shared metrics, mean ± std over seeds, with baselines and ceilings"),
        (_attempt("learning curves", lambda: learning_curves(
            curves, folder / "learning_curves.png", colours)),
         "validation curves, mean ± std over seeds (one colour per configuration)"),
        (_attempt("montage", lambda: slice_montage(runs, list(table.get("label", [])),
                                                   folder / "montage.png")),
         "one test volume: true, then each configuration's reconstruction (ranked)"),
    ]
    files.update({p.name: p for p, _ in pngs if p is not None})
    plots = [
        ("bars", _attempt("interactive bars", lambda: interactive.bars(
            table, metrics, colours, refs) if have_table else None)),
        ("curves", _attempt("interactive curves", lambda: interactive.curves(curves, colours)
                            if curves else None)),
        ("parallel", _attempt("parallel coordinates", lambda: interactive.parallel(
            runs, settings.rank_by if settings.rank_by in metrics else
            (metrics[0] if metrics else "")))),
    ]
    studies = []
    if info.get("sweeper") == "optuna" and info.get("storage"):
        # an equal-budget comparison keeps one study per family
        for name in info.get("study_names") or [info.get("study_name")]:
            if name:
                studies.append(_attempt(f"Optuna views of {name}", lambda name=name: study_views(
                    str(info["storage"]), str(name), info.get("objective") or "objective")))
    shared = html.escape(" ".join(common) or "(nothing)")
    page_header = (f"<p>multirun: <code>{html.escape(' '.join(map(str, sources)))}</code> · "
                   f"{len(runs)} jobs, {n_failed} failed{html.escape(notes)} · "
                   f"{html.escape(ranked)}</p>"
                   f"<p>shared by every job: <code>{shared}</code></p>"
                   + "".join(f"<p><strong>{html.escape(line)}</strong></p>"
                             for line in verdicts))
    files["report.html"] = write_html(
        folder / "report.html", title=f"Sweep report: {name}", header=page_header,
        table=ranking(table, refs, metrics, settings.rank_by, settings.higher_is_better),
        refs=refs, runs=runs, metrics=metrics, colours=colours, plots=plots,
        pngs=pngs, studies=[s for s in studies if s is not None])
    return Report(folder=folder, files=files, n_runs=len(runs), n_failed=n_failed, notes=notes)
