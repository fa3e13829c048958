"""The phase READMEs' result tables, printed from one run's ``metrics.json``.

Every number beside its baselines from the same run (docs/architecture.md, "Rules of the science"):
reconstruction beside the training mean, PCA-k and the ceiling (the noise-free twin on the same
test rows); every read-out beside the untrained encoder, PCA at the encoder's k and at the k an
inner CV picks, a random projection, raw voxels (each fitted on the rows the encoder trained on
too) and the shrinkage linear oracle on the same folds, each with its 95% CI over trials, plus the
trained encoder's trial-level p; phase 4 beside the image-only (other trials of the image) and
category-only predictors.

Re-running a phase after a data change is one command; the Makefile's phase targets end with
this script, on the run they just made:

    make phase3                          # train, then print the table
    make phase3 UPDATE_README=1          # ... and write it into the phase's README
    python -m experiments.phase_tables phase3 [RUN_DIR] [--write]   # any finished run

Without RUN_DIR the newest ``logs/<task>/runs/*`` with a ``metrics.json`` is used. ``--write``
replaces the text between ``<!-- phase_tables:begin -->`` and ``<!-- phase_tables:end -->`` in the
phase's README. Nothing is computed here: a value the run did not record prints as "–".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import sys
from pathlib import Path

import yaml

from bold5000_ae.evaluation.readout_registry import readouts
from bold5000_ae.evaluation.reconstruction_references import reference, references

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- phase_tables:begin -->", "<!-- phase_tables:end -->"
# phase → (task_name of its experiment config, README folder)
PHASES = {"phase1": ("phase1_autoencoder", "phase1_autoencoder"),
          "phase2": ("phase2_vae", "phase2_vae"),
          "phase3": ("phase3_transfer", "phase3_transfer"),
          "phase4": ("phase4_image_to_latent", "phase4_image_to_latent"),
          "generalization": ("generalization", "generalization")}
NA = "–"


def fmt(value: float | None, digits: int = 3, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def with_ci(m: dict[str, float], key: str, digits: int = 3, sign: bool = False) -> str:
    """``value [low, high]`` from ``<key>``, ``<key>_ci_low``, ``<key>_ci_high``."""
    value = m.get(key)
    if value is None:
        return NA
    lo, hi = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
    if lo is None or hi is None:
        return fmt(value, digits, sign)
    return f"{fmt(value, digits, sign)} [{fmt(lo, digits, sign)}, {fmt(hi, digits, sign)}]"


def find_run(task: str, root: Path = ROOT) -> Path:
    """The newest ``logs/<task>/runs/<time>`` that finished (has ``metrics.json``)."""
    runs = sorted((root / "logs" / task / "runs").glob("*/metrics.json"),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"error: no finished run under {root / 'logs' / task / 'runs'} "
                         f"(run `make {task.split('_')[0]}` first, or pass RUN_DIR)")
    return runs[-1].parent


def load_metrics(run: Path) -> dict[str, float]:
    """``metrics.json`` with the evaluation callback's ``eval/`` prefix dropped (its keys are
    those of ``evaluation.json``)."""
    path = run / "metrics.json"
    if not path.is_file():
        raise SystemExit(f"error: {path}: not found (the run did not finish)")
    raw = json.loads(path.read_text())
    out = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
    out.update({k[5:]: v for k, v in out.items() if k.startswith("eval/")})
    return out


def provenance(run: Path, phase: str) -> list[str]:
    """Command, data file, date, wall time, machine and load, as the README records them."""
    overrides = []
    if (run / ".hydra" / "overrides.yaml").is_file():
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    data = NA
    if (run / ".hydra" / "config.yaml").is_file():
        cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text()) or {}
        name = str((cfg.get("data") or {}).get("path", NA)).replace("${paths.data_dir}", "data")
        path = Path(name) if Path(name).is_absolute() else ROOT / name
        data = f"`{name}`"
        if path.is_file():
            stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            data += f", prepared {stamp:%Y-%m-%d %H:%M} UTC"
    start = (run / ".hydra" / "config.yaml").stat().st_mtime if (run / ".hydra").is_dir() else None
    end = (run / "metrics.json").stat().st_mtime
    when = dt.datetime.fromtimestamp(start or end, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    wall = f"{(end - start) / 60:.1f} min" if start else NA
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        rel = run.resolve().relative_to(ROOT)
    except ValueError:
        rel = run
    shown = [o.replace(f"{ROOT}/", "") for o in overrides if not o.startswith("hydra.run.dir=")]
    extra = [o for o in shown if not o.startswith("experiment=")]
    make = f"make {phase}" + (f" ARGS=\"{' '.join(extra)}\"" if extra else "")
    return [f"Command: `{make}` (= `bold5000-ae-train {' '.join(shown)}`)",
            f"(run folder `{rel}`; data {data}).",
            f"Run {when}, wall time {wall} on {os.cpu_count()} CPU cores "
            f"({platform.machine()}); load average (1/5/15 min) when the table was made: "
            f"{load}.",
            f"Table: `python -m experiments.phase_tables {phase} {rel}`."]


def reconstruction_table(m: dict[str, float], model: str) -> list[str]:
    """Test-run reconstruction beside every reconstruction reference the run recorded (the
    training mean, PCA-k, ..., and the twin's ceiling)."""
    fitted = [r for r in references() if r.fit is not None and f"baseline/{r.name}/test/r2" in m]
    ceiling = m.get("baseline/ceiling/test/r2", m.get("ceiling/test/r2"))
    heads = [r.column + (f" (k = {fmt(m[f'baseline/{r.name}/k'], 0)})"
                         if f"baseline/{r.name}/k" in m else "") for r in fitted]
    blank = " |" * (len(fitted) + 1)
    rows = [f"| held-out test run | {model} | {' | '.join(heads)} | "
            f"{reference('ceiling').column} |", "| --- |" + " --- |" * (len(fitted) + 2)]
    for metric, label, bound in (("r2", "R² vs the training mean", f" {fmt(ceiling)} |"),
                                 ("mse", "MSE per voxel", " |")):
        cells = [fmt(m.get(f"baseline/{r.name}/test/{metric}")) for r in fitted]
        shown = f"**{fmt(m.get('test/r2'))}**" if metric == "r2" else fmt(m.get("test/mse"))
        rows.append(f"| {label} | {shown} | {' | '.join(cells)} |{bound}")
    for key, label in (("test/pearson_r", "per-sample r"), ("test/voxel_r", "voxel-wise r"),
                       ("test/identification", "pairwise identification (r)"),
                       ("test/ssim", "3D SSIM in the mask")):
        if key in m:
            rows.append(f"| {label} | {fmt(m[key])} |{blank}")
    gap = m.get("test/r2_minus_pca_k")
    if gap is not None:
        verdict = "**beats PCA-k**" if gap > 0 else "**loses to PCA-k**"
        rows += ["", f"{model} R² − PCA-k R² = {fmt(gap, sign=True)}: {verdict} "
                 "(PCA fitted on the training runs, same normalisation, same test rows)."]
    if ceiling is not None and m.get("baseline/pca_k/test/r2", -1) > ceiling:
        rows.append("PCA-k exceeds the twin's ceiling: a projection keeps the noise inside its "
                    "subspace, so this ceiling bounds predicting the signal, not re-encoding.")
    return rows


def readout_table(m: dict[str, float], prefix: str, title: str) -> list[str]:
    """Every read-out of one file on the same folds, with CIs, the p and trained − untrained."""
    if f"{prefix}/encoder/auc" not in m:
        return [f"({title}: no read-out recorded under `{prefix}/`)"]
    rows = [f"{title}: {fmt(m.get(f'{prefix}/n_samples'), 0)} volumes, "
            f"{fmt(m.get(f'{prefix}/n_units'), 0)} trials, "
            f"{fmt(m.get(f'{prefix}/n_groups'), 0)} runs (one CV fold per run); every "
            f"representation fitted without labels on the fold's training rows plus the "
            f"{fmt(m.get(f'{prefix}/n_unlabeled_fit_rows'), 0)} rows the encoder trained on", "",
            "| read-out (grouped CV) | ROC AUC [95% CI over trials] | fold sd |",
            "| --- | --- | --- |"]
    for readout in readouts():
        name, label = readout.name, readout.description
        key = f"{prefix}/{name}/auc"
        if key not in m:
            continue
        extra = ""
        if name == "untrained":
            extra = (f" ({fmt(m.get(f'{prefix}/untrained/n_inits'), 0)} inits, sd "
                     f"{fmt(m.get(f'{prefix}/untrained/auc_init_std'))})")
        if name == "encoder":
            extra = f", trial-level p = {fmt(m.get(f'{prefix}/encoder/p_value'), 3)}"
        if name == "pca_k":
            extra = f" (k = {fmt(m.get(f'{prefix}/pca_k/k'), 0)})"
        if name == "pca_best_k":
            ks = [fmt(m[k], 0) for k in sorted(m) if k.startswith(f"{prefix}/pca_best_k/k_fold")]
            extra = f" (k per fold: {', '.join(ks) or NA})"
        cell = with_ci(m, key)
        rows.append(f"| {label} | {'**' + cell + '**' if name == 'encoder' else cell}{extra} "
                    f"| {fmt(m.get(f'{prefix}/{name}/auc_fold_std'))} |")
    if f"{prefix}/oracle_auc_volume" in m:
        rows.append(f"| generator's oracle (whole file, before preparation) | "
                    f"{fmt(m[f'{prefix}/oracle_auc_volume'])} (no CI: one number) | |")
    for name, label in (("trained_minus_untrained", "trained − untrained"),
                        ("encoder_minus_pca_best_k", "trained − PCA at the inner-CV k")):
        if f"{prefix}/{name}/auc" in m:
            rows.append(f"| **{label}** (paired over trials) | "
                        f"**{with_ci(m, f'{prefix}/{name}/auc', sign=True)}** | |")
    rows += ["", verdict(m, prefix)]
    above = above_the_oracle(m, prefix)
    if above:
        rows += ["", f"**Above the linear oracle ({fmt(m[f'{prefix}/oracle/auc'])}):** "
                 f"{'; '.join(above)}. The oracle is Fisher's discriminant with the true class "
                 "means and a shrunk full within-class covariance, the best linear read-out up "
                 "to estimation error: a point estimate above it inside the CIs is sampling "
                 "noise; a linear read-out clearly above it would point at a defect."]
    return rows


def short_label(label: str) -> str:
    """A read-out's name for a sentence: its table label without the qualifiers."""
    return label.split(",")[0].split(" (")[0]


def above_the_oracle(m: dict[str, float], prefix: str) -> list[str]:
    """The read-outs whose AUC exceeds the oracle's (then the oracle is no bound here)."""
    oracle = m.get(f"{prefix}/oracle/auc")
    if oracle is None:
        return []
    return [f"{short_label(r.description)} {fmt(m[f'{prefix}/{r.name}/auc'])}"
            for r in readouts() if r.kind != "bound"
            and m.get(f"{prefix}/{r.name}/auc", -1) > oracle]


def verdict(m: dict[str, float], prefix: str) -> str:
    """What the table says about the trained encoder, in words."""
    enc = m[f"{prefix}/encoder/auc"]
    beaten = [short_label(r.description) for r in readouts() if r.kind == "baseline"
              and m.get(f"{prefix}/{r.name}/auc", -1) >= enc]
    parts = []
    lo = m.get(f"{prefix}/trained_minus_untrained/auc_ci_low")
    if lo is not None:
        parts.append("trained − untrained CI " + ("excludes 0" if lo > 0 or m.get(
            f"{prefix}/trained_minus_untrained/auc_ci_high", 1) < 0 else "includes 0"))
    p = m.get(f"{prefix}/encoder/p_value")
    if p is not None:
        parts.append(f"p {'≤' if p <= 0.05 else '>'} 0.05 at trial level")
    if beaten:
        parts.append("at or below: " + ", ".join(beaten))
    else:
        parts.append("above every baseline read-out")
    lo, hi = (m.get(f"{prefix}/encoder_minus_pca_best_k/auc{s}") for s in ("_ci_low", "_ci_high"))
    if lo is not None and hi is not None:
        parts.append("trained − PCA at the inner-CV k: " + (
            "above, CI excludes 0" if lo > 0 else "below, CI excludes 0" if hi < 0
            else "CI includes 0 (no claim either way)"))
    return "Trained encoder: " + "; ".join(parts) + "."


def vae_rows(m: dict[str, float]) -> list[str]:
    rows = ["| VAE term (test run) | value |", "| --- | --- |"]
    for key, label in (("test/kl", "KL (nats per sample)"), ("test/elbo", "ELBO −(recon + KL)"),
                       ("test/active_units", "active units (Var E[z|x] > 0.01)")):
        rows.append(f"| {label} | {fmt(m.get(key), 1 if 'units' not in key else 0)} |")
    return rows


def phase3_head(m: dict[str, float]) -> list[str]:
    return ["| held-out test run (the head trained on the train runs) | ROC AUC |",
            "| --- | --- |",
            f"| classifier head, `test/auc` | {fmt(m.get('test/auc'))} |",
            f"| the trained encoder's CV fold on that run | "
            f"{fmt(m.get('cv/encoder/test_run_fold_auc'))} |",
            f"| linear oracle on that run (twin, fitted on the training runs) | "
            f"{fmt(m.get('ceiling/test/oracle_auc'))} |"]


def phase4_table(m: dict[str, float]) -> list[str]:
    n = next((k.split("_")[-1] for k in sorted(m)
              if re.fullmatch(r"test/identification_\d+way", k) and not k.endswith("_2way")),
             "50way")
    rows = ["Identification compares centred latents (the training rows' mean latent "
            "removed). The image-only reference predicts a trial from the other trials of its "
            f"image ({fmt(m.get('test/baseline/image_mean/n_defined'), 0)} test samples have "
            "one; the rest are left out of its scores), never from the trial itself.", "",
            "| held-out run, unseen images | image CNN | image-only (other trials of the image) "
            "| category only (category_mean) | chance | AE's own reconstruction "
            "| ceiling (twin, image's other trials) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            f"| latent cosine | **{fmt(m.get('test/cosine'))}** | | | | | |"]
    for key, label, chance in (("identification_2way", "2-way identification", 0.5),
                               (f"identification_{n}", f"{n[:-3]}-way identification",
                                m.get(f"test/identification_{n}_chance"))):
        rows.append(f"| {label} | **{fmt(m.get(f'test/{key}'))}** | "
                    f"{fmt(m.get(f'test/baseline/image_mean/{key}'))} | "
                    f"{fmt(m.get(f'test/baseline/category_mean/{key}'))} | {fmt(chance)} | | |")
    rows.append(f"| decoded volume: R² vs training mean | **{fmt(m.get('test/predicted_bold/r2'))}"
                f"** | {fmt(m.get('test/baseline/image_mean/predicted_bold/r2'))} | "
                f"{fmt(m.get('test/baseline/category_mean/predicted_bold/r2'))} | | "
                f"{fmt(m.get('test/autoencoded_bold/r2'))} | "
                f"{fmt(m.get('ceiling/test/ideal_image_r2'))} |")
    for key, label in (("pearson_r", "per-sample r"), ("voxel_r", "voxel-wise r"),
                       ("identification", "pairwise identification (r)")):
        if f"test/predicted_bold/{key}" in m:
            rows.append(f"| decoded volume: {label} | {fmt(m[f'test/predicted_bold/{key}'])} | "
                        f"| | | {fmt(m.get(f'test/autoencoded_bold/{key}'))} | |")
    return rows


def tables(phase: str, m: dict[str, float]) -> list[str]:
    out: list[str] = []
    if phase in ("phase1", "generalization"):
        out += reconstruction_table(m, "AE")
    if phase == "phase2":
        out += reconstruction_table(m, "VAE") + [""] + vae_rows(m) + [""]
        out += readout_table(m, "cv", "Linear probe on the latent means, runs the VAE never saw")
    if phase == "phase3":
        out += readout_table(m, "cv", "Runs the autoencoder never saw")
        out += [""] + phase3_head(m)
    if phase == "phase4":
        out += phase4_table(m)
    if phase == "generalization":
        out += [""] + readout_table(m, "cv", "Built-in file, runs the AE never saw")
        for prefix in sorted({k.rsplit("/", 2)[0] for k in m
                              if k.startswith("transfer/") and k.endswith("/encoder/auc")}):
            out += [""] + readout_table(m, prefix, f"`{prefix.split('/', 1)[1]}` (never seen)")
    return out


def render(phase: str, run: Path) -> str:
    m = load_metrics(run)
    lines = [BEGIN, "", *provenance(run, phase), "", *tables(phase, m), "", END]
    return "\n".join(lines) + "\n"


def write_block(readme: Path, block: str) -> None:
    """Replace the marked block of ``readme`` (the markers must be there)."""
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)
    if not pattern.search(text):
        raise SystemExit(f"error: {readme} has no {BEGIN} … {END} block to replace")
    readme.write_text(pattern.sub(lambda _: block, text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.phase_tables",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("phase", choices=sorted(PHASES))
    parser.add_argument("run_dir", nargs="?", type=Path, default=None,
                        help="a finished run (default: the newest of the phase's task)")
    parser.add_argument("--write", action="store_true",
                        help="replace the marked table block in the phase's README")
    args = parser.parse_args(argv)
    task, folder = PHASES[args.phase]
    run = args.run_dir or find_run(task)
    block = render(args.phase, run)
    print(block)
    if args.write:
        readme = ROOT / "experiments" / folder / "README.md"
        write_block(readme, block)
        print(f"wrote the table into {readme.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
