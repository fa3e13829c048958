"""``python -m bold5000_ae.report.screenshot <multirun dir> <out dir>`` (``make
docs-screenshots``): the pictures in docs/ are made, not drawn. A sweep's ``report.html`` is
photographed by headless chromium, as a reader's browser draws it (Plotly renders in the page,
so a screenshot is the only faithful picture), and the nilearn brain figure of the sweep's best
job is copied beside it."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from bold5000_ae.report.build import build_report
from bold5000_ae.report.collect import OK, collect_runs


def screenshot(page: Path, out: Path, browser: str, width: int = 1400,
               height: int = 2600) -> Path:
    """A PNG of ``page`` after its scripts ran (virtual time: Plotly has drawn)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--no-first-run", f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", "--virtual-time-budget=15000",
                        f"--screenshot={out.resolve()}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=300)
    return out


def best_job_figure(multirun_dir: Path) -> Path | None:
    """``figures/reconstruction.png`` of the first finished job of the top-ranked configuration."""
    summary = multirun_dir / "report" / "summary.csv"
    runs, _ = collect_runs(multirun_dir)
    ranked = list(pd.read_csv(summary)["label"]) if summary.is_file() else []
    for label in ranked or list(runs["label"]):
        for _, row in runs[(runs["label"] == label) & (runs["status"] == OK)].iterrows():
            figure = Path(row["dir"]) / "figures" / "reconstruction.png"
            if figure.is_file():
                return figure
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    page = args.multirun_dir / "report" / "report.html"
    if not page.is_file():
        page = build_report(args.multirun_dir).files["report.html"]
    print(screenshot(page, args.out_dir / "sweep_report.png", args.browser))
    figure = best_job_figure(args.multirun_dir)
    if figure is not None:
        print(shutil.copyfile(figure, args.out_dir / "brain_figure.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
