"""``bold5000-ae-report [folder ...]``: write a sweep's comparison report.

argparse rather than Hydra: the one thing it needs is a folder, given positionally, and it must
not start a Hydra run folder of its own. Defaults come from ``conf/report.yaml``. With no folder
it reports the newest sweep under ``logs/`` (as ``bold5000-ae-eval`` takes the newest run); a
single run folder is reported as one job; several folders (sweeps or runs) are compared in one
report written to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bold5000_ae.report.build import ReportSettings, build_report
from bold5000_ae.utils.atomic_io import disk_error
from bold5000_ae.utils.config import project_root
from bold5000_ae.utils.errors import InputError, ReportedError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bold5000-ae-report", description=__doc__.split("\n")[0])
    parser.add_argument("folders", type=Path, nargs="*", metavar="folder",
                        help="a sweep folder (logs/<task>/multiruns/<time>), a run folder, or "
                             "several of them to compare (default: the newest sweep under logs/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: <folder>/report; needed for several)")
    parser.add_argument("--rank-by", default=None, help="metric to rank by (conf/report.yaml)")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="shared metrics to tabulate (conf/report.yaml)")
    parser.add_argument("--lower-is-better", action="store_true",
                        help="rank ascending (e.g. for an error metric)")
    return parser.parse_args(argv)


def newest_sweep(log_dir: Path) -> Path:
    """The newest ``<log_dir>/<task>/multiruns/<time>`` (dated names sort by time), or one line
    saying there is none."""
    sweeps = [p for p in log_dir.glob("*/multiruns/*") if p.is_dir()]
    if not sweeps:
        raise InputError(log_dir, "no sweep here (logs/<task>/multiruns/<time>); run one with "
                                  "bold5000-ae-train -m ..., or name a folder")
    return max(sweeps, key=lambda p: (p.name, p.stat().st_mtime))


def report(args: argparse.Namespace) -> int:
    folders = list(args.folders)
    if not folders:
        folders = [newest_sweep(Path(project_root()) / "logs")]
        print(f"report of the newest sweep: {folders[0]}")
    for folder in folders:
        if not folder.is_dir():
            raise InputError(folder, "not a folder")
    settings = ReportSettings.load(rank_by=args.rank_by, metrics=args.metrics,
                                   higher_is_better=False if args.lower_is_better else None)
    done = build_report(folders[0] if len(folders) == 1 else folders, settings, args.out,
                        explicit_rank=args.rank_by is not None,
                        explicit_metrics=args.metrics is not None)
    print(f"{done.n_runs} jobs ({done.n_failed} failed{done.notes}) → "
          f"{done.files['report.html']}")
    for name in ("summary.md", "metrics.png", "learning_curves.png", "montage.png"):
        if name in done.files:
            print(f"  {done.files[name]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return report(args)
    except (ReportedError, OSError) as exc:
        reason = disk_error(exc) if isinstance(exc, OSError) else None
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or (
                isinstance(exc, OSError) and reason is None):
            raise
        line = str(exc) if reason is None else (
            f"{getattr(exc, 'filename', None) or args.out or 'the report folder'}: {reason}")
        print(f"error: {line}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, ReportedError) else InputError.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
