"""Wall clock of ``make train``'s three steps at an earlier commit and at the working tree.

``bench_default_path`` times the pieces of the fast path; this times the whole demo a user runs,
so anything else that crept onto the default path (a dearer metric, a callback) shows up too.
The earlier commit is checked out into a temporary git worktree; both sides run with this
environment's Python (``python -m bold5000_ae.<step>`` from each tree, so each imports its own
package) and write to their own ``PROJECT_ROOT``. Synthesis and preparation run once per side;
training runs ``--rounds`` times, the sides interleaved, so a drifting load hits both alike.
Each side's ``test/r2`` is recorded: equal figures show the two runs did the same work.

    python -m experiments.benchmarks.bench_make_train --rev dad504e --rounds 3

``--synth``/``--train`` add Hydra overrides to both sides (the test runs it at a tiny size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.benchmarks.common import RESULTS, Log, load, machine_info, write_json

REPO = Path(__file__).resolve().parents[2]
STEPS = ("synth", "prepare")


def timed_step(tree: Path, root: Path, step: str, *overrides: str) -> float:
    """Run ``python -m bold5000_ae[.cli].<step>`` in ``tree`` with data under ``root``; seconds.
    Entry points moved into ``bold5000_ae/cli/``; an older tree still has them at the top."""
    log = root / f"{step}.log"
    module = f"bold5000_ae.cli.{step}" if (tree / "bold5000_ae" / "cli" / f"{step}.py").is_file() \
        else f"bold5000_ae.{step}"
    start = time.perf_counter()
    with log.open("a") as out:
        subprocess.run([sys.executable, "-m", module, *overrides], cwd=tree,
                       env={**_env(), "PROJECT_ROOT": str(root)}, stdout=out,
                       stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def _env() -> dict[str, str]:
    """This environment without PYTHONPATH (each tree imports its own package), no wandb."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"WANDB_MODE": "disabled"}


def run(rev: str, rounds: int, log: Log, synth: tuple[str, ...] = (),
        train: tuple[str, ...] = (), prepare: tuple[str, ...] = ()) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "make_train_ab", "rev_before": rev,
                              "rev_now": _git("rev-parse", "--short", "HEAD") + _dirty(),
                              "rounds": rounds,
                              "overrides": {"synth": synth, "prepare": prepare, "train": train},
                              "load_before": load()}
    extra = {"synth": synth, "prepare": prepare, "train": train}
    with tempfile.TemporaryDirectory(prefix="make_train_ab_") as tmp:
        before_tree = Path(tmp) / "before"
        _git("worktree", "add", "--detach", str(before_tree), rev)
        try:
            trees = {"before": before_tree, "now": REPO}
            roots = {side: Path(tmp) / f"data_{side}" for side in trees}
            seconds: dict[str, dict[str, Any]] = {side: {"train": []} for side in trees}
            for side, tree in trees.items():
                roots[side].mkdir()
                for step in STEPS:
                    seconds[side][step] = round(timed_step(tree, roots[side], step,
                                                           *extra[step]), 1)
                    log(f"{side} {step}: {seconds[side][step]} s")
            r2: dict[str, list[float]] = {side: [] for side in trees}
            for k in range(rounds):
                for side, tree in trees.items():
                    run_dir = roots[side] / f"run{k}"
                    s = timed_step(tree, roots[side], "train", f"hydra.run.dir={run_dir}",
                                   *extra["train"])
                    seconds[side]["train"].append(round(s, 1))
                    metrics = json.loads((run_dir / "metrics.json").read_text())
                    r2[side].append(round(metrics["test/r2"], 4))
                    log(f"round {k + 1} {side} train: {s:.1f} s, test/r2 {r2[side][-1]}, "
                        f"load {load()[0]}")
        finally:
            _git("worktree", "remove", "--force", str(before_tree))
    medians = {side: statistics.median(v["train"]) for side, v in seconds.items()}
    result.update(seconds=seconds, test_r2=r2, median_train_s=medians,
                  now_vs_before_pct=round(100 * (medians["now"] / medians["before"] - 1), 1),
                  load_after=load())
    return result


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True,
                          text=True).stdout.strip()


def _dirty() -> str:
    return "+dirty" if _git("status", "--porcelain", "--untracked-files=no") else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="the earlier commit (the 'before' side)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--synth", nargs="*", default=[], help="overrides for both synth runs")
    parser.add_argument("--prepare", nargs="*", default=[],
                        help="overrides for both prepare runs (source=synthetic for spec=easy "
                             "data, which has no visual ROI masks)")
    parser.add_argument("--train", nargs="*", default=[], help="overrides for every train run")
    parser.add_argument("--out", default=str(RESULTS / "make_train_ab_cpu.json"))
    args = parser.parse_args()
    log = Log()
    result = run(args.rev, args.rounds, log, tuple(args.synth), tuple(args.train),
                 tuple(args.prepare))
    result["machine"] = machine_info()
    log(f"median train s: {result['median_train_s']}; now vs before "
        f"{result['now_vs_before_pct']:+.1f}%")
    log(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    main()
