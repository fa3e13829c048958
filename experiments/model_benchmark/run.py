"""Model families on one prepared file, each trained the same way, ranked beside PCA-k.

    python -m experiments.model_benchmark.run --data data/processed/synthetic_bold5000.h5 \
        --out logs/model_benchmark/bold5000 [--families conv3d_ae mlp_ae] [--seeds 0 1 2] \
        [--epochs 10] [--tune 8] [--write-readme]

For every family of ``families.yaml`` and seed: ``bold5000-ae-train`` (the console script, as a
user runs it) on ``data/split=holdout_sessions`` (``--split``) into
``<out>/runs/<family>/seed<S>``; the trained model's per-trial errors on the test sessions
against the input and against the noise-free twin (``signal.py``); and ``bold5000-ae-eval
mode=transfer`` (living / non-living from the latent, grouped CV over the runs the model never
trained on, beside PCA-k and raw voxels on the same folds). PCA-k is fitted once on the same
training rows. Each model and PCA-k is also scored with its code denoised by the Wiener filter
of the training rows' repeated images (``bold5000_ae/evaluation/repeat_wiener.py``). Finished
steps are kept: the same command resumes an interrupted benchmark. ``report.py`` turns
``results.json`` into the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bold5000_ae.cli.eval import load_run
from experiments.model_benchmark.report import summarise, write_readme
from experiments.model_benchmark.signal import load_errors, save_errors, split_errors
from experiments.model_benchmark.tune import search_family, tuned_overrides

HERE = Path(__file__).resolve().parent
# each run's test errors as trained, and with its code denoised by the repeat Wiener filter
SUFFIX = {"as_trained": "", "repeat_wiener": "_repeat_wiener"}
BIN = Path(sys.executable).parent
COMMON = ["~callbacks.progress_bar", "logger=csv"]
# the transfer read-out beside PCA-k only, without its permutation test: the benchmark ranks
# families on 2 CPU cores (the full read-out, with raw voxels, untrained encoders and the
# oracle, took over 14 minutes per run at this size there); the phase-3 table holds it all
TRANSFER = ["evaluation.classification.n_permutations=0",
            "evaluation.classification.baselines=[pca_k]",
            "evaluation.classification.raw_baseline=false",
            "evaluation.classification.n_boot=100"]


def best_checkpoint(run_dir: Path) -> Path:
    best = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))
    return best[-1] if best else run_dir / "checkpoints" / "last.ckpt"


def train_family(run_dir: Path, data: Path, overrides: list[str], seed: int,
                 epochs: int, split: str, common: list[str]) -> float:
    """Train one family and seed unless finished; the wall time in seconds (0 if skipped)."""
    metrics = run_dir / "metrics.json"
    if metrics.is_file() and json.loads(metrics.read_text()).get("status") == "finished":
        return 0.0
    resume = ["auto_resume=true"] if run_dir.exists() else []
    start = time.perf_counter()
    command = [str(BIN / "bold5000-ae-train"), f"data.path={data}", f"data/split={split}",
               *COMMON, f"seed={seed}", f"trainer.max_epochs={epochs}",
               f"hydra.run.dir={run_dir}", *resume, *common, *overrides]
    if subprocess.run(command).returncode != 0:
        sys.exit(f"error: {run_dir}: training failed: {' '.join(command)}")
    return time.perf_counter() - start


def transfer(run_dir: Path, run: bool = True) -> dict[str, float]:
    """The run's transfer read-out: computed unless recorded, or ``{}`` when ``run`` is false
    and none is recorded."""
    out = run_dir / "transfer"
    if not (out / "evaluation.json").is_file():
        if not run:
            return {}
        command = [str(BIN / "bold5000-ae-eval"), "mode=transfer",
                   f"checkpoint={best_checkpoint(run_dir)}", f"hydra.run.dir={out}", *TRANSFER]
        if subprocess.run(command).returncode != 0:
            sys.exit(f"error: {run_dir}: the transfer read-out failed: {' '.join(command)}")
    return json.loads((out / "evaluation.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    families = yaml.safe_load((HERE / "families.yaml").read_text())
    parser.add_argument("--families", nargs="+", default=list(families), choices=list(families))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--split", default="holdout_sessions",
                        help="data/split of every run (holdout_sessions: whole test sessions)")
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="bold5000-ae-train overrides for every family (e.g. "
                             "data.batch_size=256)")
    parser.add_argument("--tune", type=int, default=0, metavar="N",
                        help="an equal tuning budget: N Optuna trials per family (its first: "
                             "the defaults), each family then trained at its best; 0: the "
                             "defaults, untuned")
    parser.add_argument("--no-transfer", action="store_true",
                        help="report recorded transfer read-outs only; compute no new ones")
    parser.add_argument("--write-readme", action="store_true",
                        help="also write the table into experiments/model_benchmark/README.md")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        parser.error(f"{args.data}: not found (make data-bold5000 makes the BOLD5000-sized file)")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"data": str(args.data), "epochs": args.epochs, "seeds": args.seeds,
              "split": args.split, "overrides": args.overrides, "tune": args.tune,
              "command": "python -m experiments.model_benchmark.run " + " ".join(sys.argv[1:]),
              "families": {}}
    pca_paths = {wiener: args.out / f"pca_k_errors{SUFFIX[wiener]}.npz" for wiener in SUFFIX}
    if args.tune:
        record["tuned"] = {}
    for name in args.families:
        overrides = list(families[name])
        if args.tune:
            tuned = search_family(BIN, name, overrides, args.data, args.out, args.tune, [
                f"data/split={args.split}", *COMMON, f"trainer.max_epochs={args.epochs}",
                *args.overrides])
            record["tuned"][name] = tuned
            overrides += tuned_overrides(tuned)
        runs = []
        for seed in args.seeds:
            run_dir = args.out / "runs" / name / f"seed{seed}"
            wall = train_family(run_dir, args.data, overrides, seed, args.epochs,
                                args.split, args.overrides)
            paths = {wiener: run_dir / f"errors{SUFFIX[wiener]}.npz" for wiener in SUFFIX}
            if not all(p.is_file() for p in [*paths.values(), *pca_paths.values()]):
                datamodule, model, _ = load_run(best_checkpoint(run_dir), None)
                for wiener, path in paths.items():
                    if not path.is_file():
                        save_errors(path, split_errors(datamodule, model, model.net.latent_dim,
                                                       repeat_wiener=wiener == "repeat_wiener"))
                for wiener, path in pca_paths.items():
                    if not path.is_file():
                        save_errors(path, split_errors(datamodule, None, model.net.latent_dim,
                                                       repeat_wiener=wiener == "repeat_wiener"))
            metrics = json.loads((run_dir / "metrics.json").read_text())
            runs.append({"seed": seed, "train_seconds": wall, "metrics": metrics,
                         "transfer": transfer(run_dir, not args.no_transfer),
                         "errors": {w: str(p) for w, p in paths.items()}})
        record["families"][name] = runs
    results = summarise(record, {w: load_errors(p) for w, p in pca_paths.items()}, {
        name: {w: [load_errors(Path(r["errors"][w])) for r in runs] for w in SUFFIX}
        for name, runs in record["families"].items()})
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"[benchmark] wrote {args.out / 'results.json'}")
    if args.write_readme:
        write_readme(results, HERE / "README.md")


if __name__ == "__main__":
    main()
