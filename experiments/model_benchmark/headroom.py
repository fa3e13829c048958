"""How much of the recoverable signal any map of one volume can reach on the benchmark's split:
the measured diagnosis of why no family beats PCA-k.

    python -m experiments.model_benchmark.headroom --out logs/model_benchmark/bold5000 \
        [--write-readme]

Why: the families land within a few thousandths of PCA-k on signal R². That is either a
shortfall of the models (tuning, objective, epochs) or a property of the data. The estimators
here are *given the noise-free target while they train* (the twin's rows), which no
autoencoder is: the best ridge map from a noisy volume to its twin (the linear bound), and an
MLP on top of it (a nonlinear bound at this sample size). If those hold little more of the
signal than PCA-k, no unsupervised model can beat PCA-k by more than that, whatever its tuning.
Two references say where the rest is lost: the twin projected on its own top-k components
(how much of the signal k linear dimensions hold without noise) and PCA-k at other k.

Everything is fitted on the benchmark's training rows, with its split and normalisation (a
finished run's datamodule), and scored on its test trials with the benchmark's bootstrap CIs
over trials against PCA-k.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.neural_network import MLPRegressor

from bold5000_ae.cli.eval import load_run
from bold5000_ae.evaluation.baselines import normalised_split
from bold5000_ae.evaluation.ceiling import normalised_twin
from bold5000_ae.evaluation.pca import fit_pca
from bold5000_ae.evaluation.repeat_wiener import (
    fit_repeat_wiener,
    repeat_noise_cov,
    repeat_pairs,
    wiener_matrix,
)
from experiments.model_benchmark.run import best_checkpoint
from experiments.model_benchmark.signal import (
    load_errors,
    r2,
    save_errors,
    seed_mean_difference,
    trial_codes,
    trial_errors,
)

HERE = Path(__file__).resolve().parent
START, END = "<!-- headroom table: start -->", "<!-- headroom table: end -->"
PCA_GRID = (8, 16, 32, 64, 128, 256)
RIDGE_ALPHAS = np.logspace(0, 5, 11)

Estimator = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def pca(k: int) -> Estimator:
    """PCA-k of the noisy training rows (no target)."""
    def estimate(train: np.ndarray, _: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = fit_pca(train, k)
        return model.inverse_transform(model.transform(test))
    return estimate


def ridge_to_twin(train: np.ndarray, twin: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The linear bound: ridge from the noisy rows to their twin, α by leave-one-out (GCV)."""
    return RidgeCV(alphas=RIDGE_ALPHAS).fit(train, twin).predict(test)


def mlp_to_twin(train: np.ndarray, twin: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The nonlinear bound: the ridge map plus an MLP fitted to what it leaves of the twin
    (early stopping on 10% of the training rows), so it holds at least what ridge holds."""
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(train, twin)
    mlp = MLPRegressor(hidden_layer_sizes=(512, 512), alpha=1e-3, batch_size=256,
                       learning_rate_init=1e-3, max_iter=60, early_stopping=True,
                       n_iter_no_change=5, random_state=0)
    mlp.fit(train, twin - ridge.predict(train))
    return ridge.predict(test) + mlp.predict(test)


def ridge_to_trial_volumes(train: np.ndarray, trials: pd.DataFrame, test: np.ndarray
                           ) -> np.ndarray:
    """A second view without the twin (Noise2Noise): ridge from each volume to the mean of the
    other volumes of its trial (same image, later or earlier in the HRF, their own noise)."""
    key = trials[["subject", "session", "run", "trial"]].astype(str).agg("-".join, axis=1)
    groups = [np.asarray(g) for g in key.groupby(key).indices.values() if len(g) > 1]
    inputs = np.concatenate(groups)
    targets = np.stack([train[np.delete(g, i)].mean(0) for g in groups for i in range(len(g))])
    return RidgeCV(alphas=RIDGE_ALPHAS).fit(train[inputs], targets).predict(test)


def wiener(train: np.ndarray, noise_cov: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The Wiener filter of ``train`` with a given noise covariance, applied to ``test``."""
    mean = train.mean(0, keepdims=True)
    return mean + (test - mean) @ wiener_matrix(train, noise_cov)


def wiener_from_repeats(train: np.ndarray, trials: pd.DataFrame, test: np.ndarray,
                        k: int | None = None) -> np.ndarray:
    """The Wiener filter with the noise covariance of the repeat differences, over all voxels
    or inside PCA-k's subspace of the training rows (``k``: the package's repeat Wiener on
    PCA-k's scores), where the few hundred repeated images can estimate it."""
    if k is None:
        return wiener(train, repeat_noise_cov(train, repeat_pairs(trials)), test)
    model = fit_pca(train, k)
    denoise = fit_repeat_wiener(model.transform(train), trials)
    return model.inverse_transform(denoise(model.transform(test)))


def twin_rank(k: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The twin's test rows on the top-k components of the training twin: the signal k linear
    dimensions hold when there is no noise at all."""
    def estimate(train_twin: np.ndarray, test_twin: np.ndarray) -> np.ndarray:
        model = fit_pca(train_twin, k)
        return model.inverse_transform(model.transform(test_twin))
    return estimate


def measure(out: Path) -> dict[str, Any]:
    """Every estimator's per-trial errors (kept under ``<out>/headroom/``) and the summary."""
    runs = sorted(p.parent for p in (out / "runs").glob("*/seed*/metrics.json"))
    if not runs:
        raise SystemExit(f"error: {out}: no finished benchmark run (run.py first)")
    datamodule, model, _ = load_run(best_checkpoint(runs[0]), None)
    k = int(model.net.latent_dim)
    train, test = (normalised_split(datamodule, s).astype(np.float64) for s in ("train", "test"))
    train_twin, test_twin = normalised_twin(datamodule, "train"), normalised_twin(datamodule,
                                                                                  "test")
    if test_twin is None:
        raise SystemExit(f"error: {datamodule.path}: no matching noise-free twin")
    codes = trial_codes(datamodule, "test")
    trials = datamodule.trials.iloc[np.asarray(datamodule.datasets["train"].rows)]
    trials = trials.reset_index(drop=True)
    folder = out / "headroom"
    folder.mkdir(exist_ok=True)
    estimators: dict[str, Callable[[], np.ndarray]] = {
        **{f"pca_{j}": (lambda j=j: pca(j)(train, train_twin, test)) for j in PCA_GRID},
        "ridge_to_twin": lambda: ridge_to_twin(train, train_twin, test),
        "mlp_to_twin": lambda: mlp_to_twin(train, train_twin, test),
        f"twin_rank_{k}": lambda: twin_rank(k)(train_twin, test_twin),
        "ridge_to_trial_volumes": lambda: ridge_to_trial_volumes(train, trials, test),
        "wiener_repeat_noise": lambda: wiener_from_repeats(train, trials, test),
        f"wiener_repeat_noise_pca_{k}": lambda: wiener_from_repeats(train, trials, test, k),
        "wiener_true_noise": lambda: wiener(train, np.cov(train - train_twin, rowvar=False),
                                            test),
    }
    errors, seconds = {}, {}
    for name, estimate in estimators.items():
        path = folder / f"{name}.npz"
        if not path.is_file():
            start = time.perf_counter()
            save_errors(path, trial_errors(estimate(), test, test_twin, codes))
            seconds[name] = time.perf_counter() - start
            print(f"[headroom] {name}: signal R² {r2(load_errors(path), 'signal'):.3f} "
                  f"({seconds[name]:.0f} s)")
        errors[name] = load_errors(path)
    reference = errors[f"pca_{k}"]
    rows = {name: {"signal_r2": r2(e, "signal"), "input_r2": r2(e, "input"),
                   "signal_r2_minus_pca_k": seed_mean_difference([e], reference, "signal"),
                   "seconds": seconds.get(name)}
            for name, e in errors.items()}
    result = {"out": str(out), "data": str(datamodule.path), "k": k, "n_train_rows": len(train),
              "n_test_trials": int(len(reference["ss_signal"])), "estimators": rows}
    (folder / "headroom.json").write_text(json.dumps(result, indent=2))
    return result


LABELS = {"ridge_to_twin": "ridge, noisy volume → twin (trained on the twin: linear bound)",
          "mlp_to_twin": "ridge + MLP, noisy volume → twin (trained on the twin)",
          "wiener_true_noise": "Wiener filter, the twin's noise covariance",
          "wiener_repeat_noise": "Wiener filter, noise covariance from repeats (no twin)",
          "ridge_to_trial_volumes": "ridge, volume → the trial's other volumes (no twin)"}


def table(result: dict[str, Any]) -> str:
    k = result["k"]
    lines = [f"`python -m experiments.model_benchmark.headroom --out {result['out']}`: "
             f"{result['n_train_rows']} training rows, {result['n_test_trials']} test trials; "
             "CIs: 95% bootstrap over test trials of the difference from PCA-k", "",
             f"| estimator | signal R² | − PCA-{k} | R² (input) |", "| --- | --- | --- | --- |"]
    for name, row in sorted(result["estimators"].items(), key=lambda kv: -kv[1]["signal_r2"]):
        d = row["signal_r2_minus_pca_k"]
        label = LABELS.get(name, name.replace("pca_", "PCA-"))
        if name.startswith("wiener_repeat_noise_pca_"):
            label = f"Wiener filter in PCA-{k}'s subspace, noise covariance from repeats (no twin)"
        if name.startswith("twin_rank_"):
            label = f"noise-free twin on its own top {k} components (no noise at all)"
        lines.append(f"| {label} | {row['signal_r2']:.3f} | {d['diff']:+.3f} "
                     f"[{d['lo']:+.3f}, {d['hi']:+.3f}] | {row['input_r2']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="the benchmark's output folder (run.py --out)")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.out)
    print(table(result))
    if args.write_readme:
        readme = HERE / "README.md"
        head, rest = readme.read_text().split(START, 1)
        readme.write_text(f"{head}{START}\n{table(result)}\n{END}{rest.split(END, 1)[1]}")


if __name__ == "__main__":
    main()
