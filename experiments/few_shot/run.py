"""Few-shot adaptation of the shared latent to a new subject, beside three baselines.

    python -m experiments.few_shot.run            (make few-shot; data: make data-multi-subject)

The shared-latent model (``model=shared_latent``) is trained on every subject but the new one;
then only the new subject's adapters are fitted on 1, 2 and 4 of its sessions. Beside it, on the
same rows: the same architecture trained on the new subject alone, the shared response model
(fastsrm) and PCA-k (``methods.py``). Scored on the new subject's held-out sessions (5 and 6 of
``data=multi_subject``), each with a 95% bootstrap CI over test trials
(``bold5000_ae.evaluation.stats``):

- ``recon_r2``: R² of the reconstruction against the observed rows (training mean = 0);
- ``signal_r2``: R² of the reconstruction against the noise-free twin of those rows
  (``<file>_noiseless.h5``, normalised with the same training statistics), i.e. how much of the
  planted signal comes back; the ceiling row is the twin itself against the observed rows;
- ``auc``: living / non-living from the latent of the test rows, grouped CV by run
  (``bold5000_ae.evaluation.crossval.grouped_cv``, CI over trials); no encoder saw those rows.

Writes ``results.csv`` and the table in ``README.md`` (between its markers) under ``--out``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from bold5000_ae.data.multi_subject import MultiSubjectDataModule, SubjectData
from bold5000_ae.data.prepared_set import PreparedSet
from bold5000_ae.evaluation.ceiling import twin_path
from bold5000_ae.evaluation.crossval import CVResult, grouped_cv, paired_difference_ci
from bold5000_ae.evaluation.stats import bootstrap_ci, trial_units
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError
from experiments.few_shot import methods
from experiments.few_shot.report import write_readme

HERE = Path(__file__).resolve().parent
KEYS = ["subject", "session", "run", "trial", "offset_s"]


def r2(pred: np.ndarray, target: np.ndarray) -> float:
    return float(1.0 - ((pred - target) ** 2).sum() / max((target ** 2).sum(), 1e-12))


def test_twin(sub: SubjectData) -> np.ndarray:
    """The noise-free twin of the test rows, normalised with the subject's training stats."""
    path = twin_path(sub.path)
    if not path.is_file():
        raise InputError(path, "no noise-free twin beside the prepared file (make "
                               "data-multi-subject prepares it)")
    twin = PreparedSet(path)
    rows = sub.rows("test")
    if not np.allclose(twin.trials[KEYS].to_numpy(float)[rows],
                       sub.trials[KEYS].to_numpy(float)[rows]):
        raise InputError(path, f"does not hold the rows of {sub.path}")
    out = (twin.read(rows, np.float64) - sub.mean) / sub.std
    twin.close()
    return out


@dataclass
class Scored:
    """A method's numbers on the test rows, and what the paired differences need."""

    metrics: dict[str, float]
    recon: np.ndarray
    cv: CVResult


def test_rows(sub: SubjectData) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    trials = sub.trials.iloc[sub.rows("test")].reset_index(drop=True)
    return sub.bold["test"].astype(np.float64), trials, trial_units(trials)


def score(fitted: methods.Fitted, sub: SubjectData, clean: np.ndarray,
          n_boot: int, seed: int) -> Scored:
    x, trials, units = test_rows(sub)
    recon = np.asarray(fitted.reconstruct(x), np.float64)
    out: dict[str, float] = {}
    for name, target in (("recon_r2", x), ("signal_r2", clean)):
        out[name] = r2(recon, target)
        out[f"{name}_low"], out[f"{name}_high"] = bootstrap_ci(
            lambda rows, t=target: r2(recon[rows], t[rows]), units, n_boot, seed)
    cv = transfer_auc(np.asarray(fitted.encode(x)), trials, units, n_boot, seed)
    out.update({"auc": cv.auc, "auc_low": cv.ci[0], "auc_high": cv.ci[1]})
    return Scored(out, recon, cv)


def labeled(trials: pd.DataFrame) -> np.ndarray:
    return trials.label.to_numpy() >= 0


def transfer_auc(latent: np.ndarray, trials: pd.DataFrame, units: np.ndarray,
                 n_boot: int, seed: int) -> CVResult:
    keep = labeled(trials)
    runs = (trials.session.astype(str) + "/" + trials.run.astype(str)).to_numpy()
    return grouped_cv(lambda _train: latent[keep], trials.label.to_numpy()[keep], runs[keep],
                      n_permutations=0, c=1.0, seed=seed, units=units[keep], n_boot=n_boot)


def difference(a: Scored, b: Scored, sub: SubjectData, clean: np.ndarray, n_boot: int,
               seed: int) -> dict[str, float]:
    """a − b on every metric, with a paired bootstrap CI over test trials (the same resampled
    trials for both, so what makes a trial hard for both cancels)."""
    x, trials, units = test_rows(sub)
    out: dict[str, float] = {}
    for name, target in (("recon_r2", x), ("signal_r2", clean)):
        def gap(rows: np.ndarray, t: np.ndarray = target) -> float:
            return r2(a.recon[rows], t[rows]) - r2(b.recon[rows], t[rows])

        out[name] = gap(np.arange(len(x)))
        out[f"{name}_low"], out[f"{name}_high"] = bootstrap_ci(gap, units, n_boot, seed)
    keep = labeled(trials)
    out["auc"], out["auc_low"], out["auc_high"] = paired_difference_ci(
        trials.label.to_numpy()[keep].astype(int), a.cv, [b.cv], units[keep], n_boot, seed)
    return out


def ceiling_row(sub: SubjectData, clean: np.ndarray, n_boot: int, seed: int) -> dict:
    x = sub.bold["test"].astype(np.float64)
    units = trial_units(sub.trials.iloc[sub.rows("test")])
    low, high = bootstrap_ci(lambda rows: r2(clean[rows], x[rows]), units, n_boot, seed)
    return {"recon_r2": r2(clean, x), "recon_r2_low": low, "recon_r2_high": high}


def fitted_methods(cfg: DictConfig, args: argparse.Namespace, pool: MultiSubjectDataModule,
                   weights: dict, new: MultiSubjectDataModule, k: int,
                   seed: int) -> Iterator[tuple[str, methods.Fitted]]:
    """Each method fitted on the new subject's training sessions, one at a time."""
    subject = args.new_subject
    sub = new.data[subject]
    yield "shared + adapter", methods.shared(cfg.model, pool, weights, new, subject,
                                             args.adapt_epochs, seed)
    yield "same net, alone", methods.alone(cfg.model, new, subject, args.adapt_epochs, seed)
    yield f"SRM-{k} (fastsrm)", methods.srm([pool.data[s] for s in pool.subjects], sub, k,
                                            args.srm_pca, seed)
    yield f"PCA-{k}", methods.pca(sub.bold["train"], k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="where data/processed/multi_subject is")
    parser.add_argument("--new-subject", type=int, default=4)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    # chosen without subject 4 (README, "How the settings were chosen"): 600 steps on subjects
    # 1-3; 15 epochs for the new subject's fits (100 steps on one session, 200 on two)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--adapt-epochs", type=int, default=15)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--srm-pca", type=int, default=100,
                        help="each subject's own PCA dimension before the SRM")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--overrides", nargs="*", default=[],
                        help="Hydra overrides of bold5000-ae-train's config, e.g. model.width=128")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        # no validation session: sessions 1-4 train (the pool's, and the new subject's budget)
        cfg = compose("train", overrides=["data=multi_subject", "model=shared_latent",
                                          "data.split.val=[]",
                                          f"paths.data_dir={Path(args.data_dir).resolve()}",
                                          *args.overrides])
    from hydra.utils import instantiate

    pool_data = instantiate(cfg.data)
    pool_data.setup()
    pool_subjects = [s for s in pool_data.subjects if s != args.new_subject]
    if len(pool_subjects) == len(pool_data.subjects):
        raise InputError("--new-subject", f"subject {args.new_subject} is not in the data "
                                          f"(subjects {pool_data.subjects})")
    pool = instantiate(cfg.data, subjects=pool_subjects)
    pool.setup()
    k = int(cfg.model.core.latent_dim)
    rows = []
    for seed in args.seeds:
        start = time.time()
        weights = methods.pretrain_shared(cfg.model, pool, args.pretrain_steps, seed)
        print(f"seed {seed}: shared model on subjects {pool_subjects} "
              f"({time.time() - start:.0f} s)", flush=True)
        for n in args.sessions:
            new = methods.new_subject_data(cfg.data, args.new_subject, n)
            sub = new.data[args.new_subject]
            clean = test_twin(sub)
            base = {"seed": seed, "sessions": n, "train_rows": len(sub.bold["train"]),
                    "test_rows": len(sub.bold["test"])}
            start = time.time()
            scored: dict[str, Scored] = {}
            for name, fitted in fitted_methods(cfg, args, pool, weights, new, k, seed):
                scored[name] = score(fitted, sub, clean, args.n_boot, seed)
                row = {**base, "method": name, **scored[name].metrics}
                rows.append(row)
                print(f"  {n} session(s) {name}: recon {row['recon_r2']:.3f} signal "
                      f"{row['signal_r2']:.3f} auc {row['auc']:.3f} "
                      f"({time.time() - start:.0f} s)", flush=True)
                start = time.time()
            rows.append({**base, "method": "ceiling (noise-free twin)",
                         **ceiling_row(sub, clean, args.n_boot, seed)})
            first, *others = scored
            for other in others:
                rows.append({**base, "method": f"{first} − {other}",
                             **difference(scored[first], scored[other], sub, clean,
                                          args.n_boot, seed)})
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "results.csv", index=False, float_format="%.4f")
    write_readme(table, args.out / "README.md", vars(args))
    print(f"wrote {args.out / 'results.csv'} and the table in {args.out / 'README.md'}")


if __name__ == "__main__":
    main()
