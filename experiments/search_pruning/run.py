"""Wall time of one search with and without pruning: the same parameter sets (the random
sampler, one seed), each trial up to ``--epochs`` epochs on the tiny synthetic data the tests
use. Prints and writes (``--out``/results.json) per pruner: wall seconds, trials pruned, epochs
trained, the best val/r2.

    .venv/bin/python -m experiments.search_pruning.run --out logs/search_pruning
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna

from bold5000_ae.utils.optuna_storage import open_storage


def tiny_data(folder: Path) -> Path:
    from bold5000_ae.synthetic import generate
    from tests.helpers.synthetic import TINY_SPEC, prepare_synthetic

    h5 = folder / "tiny.h5"
    if not h5.is_file():
        generate(folder / "raw", TINY_SPEC)
        prepare_synthetic(folder / "raw", h5)
    return h5


def search(root: Path, h5: Path, pruner: str, trials: int, epochs: int) -> dict:
    script = Path(sys.executable).with_name("bold5000-ae-train")
    cmd = [str(script), "hparams_search=autoencoder_optuna", "hydra/sweeper/sampler=random",
           f"hydra/sweeper/pruner={pruner}", f"hydra.sweeper.n_trials={trials}",
           f"data.path={h5}", "trainer=cpu", f"trainer.max_epochs={epochs}",
           "data.batch_size=8", "model.net.channels=[4,8]", "logger=csv", "callbacks=none",
           "trainer.enable_progress_bar=false", "test=false"]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root)}
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name="autoencoder", storage=open_storage(
        f"sqlite:///{root / 'logs/optuna/autoencoder.db'}", create=False))
    states = [t.state.name for t in study.trials]
    return {"pruner": pruner, "wall_s": round(wall, 1), "trials": len(states),
            "pruned": states.count("PRUNED"), "complete": states.count("COMPLETE"),
            "epochs_trained": sum(len(t.intermediate_values) for t in study.trials),
            "best_val_r2": round(study.best_value, 4),
            "params": [t.params for t in study.trials]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("logs/search_pruning"))
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    h5 = tiny_data(args.out / "data")
    results = []
    for pruner in ("median", "none"):
        root = args.out / pruner
        if root.exists():
            raise SystemExit(f"{root} exists: give another --out")
        results.append(search(root, h5, pruner, args.trials, args.epochs))
        print({k: v for k, v in results[-1].items() if k != "params"}, flush=True)
    same = results[0]["params"] == results[1]["params"]
    print(f"same parameter sets in both searches: {same}")
    (args.out / "results.json").write_text(json.dumps(
        {"same_parameter_sets": same, "results": [
            {k: v for k, v in r.items() if k != "params"} for r in results]}, indent=2))


if __name__ == "__main__":
    main()
