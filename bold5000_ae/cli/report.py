"""``bold5000-ae-report <multirun dir>``: write a sweep's comparison report.

argparse rather than Hydra: the one thing it needs is a folder, given positionally, and it must
not start a Hydra run folder of its own. Defaults come from ``conf/report.yaml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bold5000_ae.report.build import ReportSettings, build_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bold5000-ae-report", description=__doc__.split("\n")[0])
    parser.add_argument("multirun_dir", type=Path,
                        help="a sweep folder, e.g. logs/loss_comparison/multiruns/<time>")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: <multirun_dir>/report)")
    parser.add_argument("--rank-by", default=None, help="metric to rank by (conf/report.yaml)")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="shared metrics to tabulate (conf/report.yaml)")
    parser.add_argument("--lower-is-better", action="store_true",
                        help="rank ascending (e.g. for an error metric)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.multirun_dir.is_dir():
        print(f"error: {args.multirun_dir}: not a folder", file=sys.stderr)
        return 2
    settings = ReportSettings.load(rank_by=args.rank_by, metrics=args.metrics,
                                   higher_is_better=False if args.lower_is_better else None)
    report = build_report(args.multirun_dir, settings, args.out,
                          explicit_rank=args.rank_by is not None)
    print(f"{report.n_runs} jobs ({report.n_failed} failed) → {report.files['report.html']}")
    for name in ("summary.md", "metrics.png", "learning_curves.png", "montage.png"):
        if name in report.files:
            print(f"  {report.files[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
