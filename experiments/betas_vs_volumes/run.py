"""Betas against volumes: the same autoencoder and the same transfer read-out, fed LSS betas,
the mean of the 4-8 s volumes, or each volume, on the default synthetic data and split.

For each input it prepares the file and its noise-free twin (``source.reader.mode``), trains
``bold5000-ae-train`` with its defaults, runs ``bold5000-ae-eval mode=transfer`` on that run,
and writes the table (transfer AUCs with their bootstrap CIs, reconstruction R² beside PCA-k and
the twin's ceiling, the repeat-based noise ceiling) into ``README.md`` here. Every step is
skipped when its output exists, so a rerun resumes.

    python -m experiments.betas_vs_volumes.run --write-readme
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SYNTH = "data/synthetic"
STIMULI = f"{SYNTH}/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli"
# input name -> (reader mode, prepared file); `make data` writes the each-volume pair
INPUTS = {"lss": ("lss", "data/processed/synthetic_lss.h5"),
          "mean": ("mean", "data/processed/synthetic_mean.h5"),
          "each": ("each", "data/processed/synthetic.h5")}
READOUTS = [("encoder", "trained encoder"), ("untrained", "untrained encoder"),
            ("pca_k", "PCA-k"), ("pca_best_k", "PCA, inner-CV k"),
            ("random_projection", "random projection"), ("raw_voxels", "raw voxels"),
            ("oracle", "oracle (twin)")]
BEGIN, END = "<!-- betas_vs_volumes:begin -->", "<!-- betas_vs_volumes:end -->"


def _run(command: list[str], log: Path) -> None:
    print("$", " ".join(command), flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                              check=False)
    if done.returncode:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}; see {log}")


def prepare(bin_dir: Path, mode: str, path: str, logs: Path) -> None:
    """The file and its twin, as `make data` prepares them, in ``mode``."""
    twin = path.replace(".h5", "_noiseless.h5")
    if not (REPO / path).is_file():
        _run([str(bin_dir / "bold5000-ae-prepare"), f"source.reader.mode={mode}",
              f"output={path}"], logs / f"prepare_{mode}.log")
    if not (REPO / twin).is_file():
        _run([str(bin_dir / "bold5000-ae-prepare"), f"source.reader.mode={mode}",
              f"source.root={SYNTH}/noiseless", f"output={twin}",
              f"source.stimuli_root={STIMULI}", f"source.labels_table={SYNTH}/labels.tsv",
              f"source.ground_truth={SYNTH}/ground_truth.json"], logs / f"prepare_{mode}_twin.log")


def train_and_eval(bin_dir: Path, name: str, path: str, out: Path) -> dict[str, Any]:
    """Train and read out one input; each step's wall seconds are kept in ``seconds.json``
    beside its folders, so a resumed invocation still reports them."""
    train, evaluation = out / name / "train", out / name / "eval"
    timing = out / name / "seconds.json"
    seconds = json.loads(timing.read_text()) if timing.is_file() else {}
    if not (train / "metrics.json").is_file():
        started = time.time()
        _run([str(bin_dir / "bold5000-ae-train"), f"data.path={path}",
              f"hydra.run.dir={train}"], out / name / "train.log")
        seconds["train"] = round(time.time() - started)
    if not (evaluation / "evaluation.json").is_file():
        # the best checkpoint, the one training tested (bold5000-ae-eval's own default)
        found = sorted((train / "checkpoints").glob("epoch_*.ckpt")) or [
            train / "checkpoints/last.ckpt"]
        started = time.time()
        _run([str(bin_dir / "bold5000-ae-eval"), "mode=transfer", f"checkpoint={found[-1]}",
              f"hydra.run.dir={evaluation}"], out / name / "eval.log")
        seconds["eval"] = round(time.time() - started)
    timing.write_text(json.dumps(seconds))
    return {"metrics": json.loads((train / "metrics.json").read_text()),
            "evaluation": json.loads((evaluation / "evaluation.json").read_text()),
            "seconds": seconds}


def _auc(e: dict[str, float], name: str) -> str:
    key = f"cv/{name}/auc"
    if key not in e:
        return "–"
    return f"{e[key]:.3f} [{e[key + '_ci_low']:.3f}, {e[key + '_ci_high']:.3f}]"


def _num(m: dict[str, float], key: str, fmt: str = ".3f") -> str:
    return format(m[key], fmt) if key in m else "–"


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    head = "| | " + " | ".join(f"`{n}`" for n in names) + " |\n|---|" + "---|" * len(names)
    rows = []
    ev = {n: results[n]["evaluation"] for n in names}
    me = {n: results[n]["metrics"] for n in names}
    rows.append("| probe rows / trials (held-out runs) | " + " | ".join(
        f"{ev[n].get('cv/n_samples', 0):.0f} / {ev[n].get('cv/n_units', 0):.0f}"
        for n in names) + " |")
    for key, label in READOUTS:
        rows.append(f"| transfer AUC: {label} [95% CI over trials] | "
                    + " | ".join(_auc(ev[n], key) for n in names) + " |")
    rows.append("| trained − untrained AUC [paired CI] | " + " | ".join(
        (f"{ev[n]['cv/trained_minus_untrained/auc']:+.3f} "
         f"[{ev[n]['cv/trained_minus_untrained/auc_ci_low']:+.3f}, "
         f"{ev[n]['cv/trained_minus_untrained/auc_ci_high']:+.3f}]")
        if "cv/trained_minus_untrained/auc" in ev[n] else "–" for n in names) + " |")
    rows.append("| encoder trial-level permutation p | " + " | ".join(
        _num(ev[n], "cv/encoder/p_value", ".3f") for n in names) + " |")
    rows.append("| test reconstruction R² (AE) | " + " | ".join(
        _num(me[n], "test/r2") for n in names) + " |")
    rows.append("| test R² of PCA-k (same k, training rows) | " + " | ".join(
        _num(me[n], "baseline/pca_k/test/r2") for n in names) + " |")
    rows.append("| test R² ceiling (noise-free twin, same preparation) | " + " | ".join(
        _num(me[n], "baseline/ceiling/test/r2") for n in names) + " |")
    rows.append("| repeat noise ceiling NC% (one row; mean over voxels) | " + " | ".join(
        _num(me[n], "noise_ceiling/repeats/nc_percent_mean", ".1f") for n in names) + " |")
    rows.append("| repeated images × up to repeats | " + " | ".join(
        (f"{me[n]['noise_ceiling/repeats/n_images']:.0f} × "
         f"{me[n]['noise_ceiling/repeats/n_repeats']:.0f}")
        if "noise_ceiling/repeats/n_images" in me[n] else "–" for n in names) + " |")
    rows.append("| wall time: train / read-out (s) | " + " | ".join(
        f"{results[n]['seconds'].get('train', '?')} / {results[n]['seconds'].get('eval', '?')}"
        for n in names) + " |")
    return head + "\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, default=Path(".venv/bin"),
                        help="folder of the console scripts")
    parser.add_argument("--out", type=Path, default=Path("logs/betas_vs_volumes"))
    parser.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=list(INPUTS))
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    bin_dir = args.bin if args.bin.is_absolute() else REPO / args.bin
    out = args.out if args.out.is_absolute() else REPO / args.out
    if not (REPO / SYNTH / "ground_truth.json").is_file():
        sys.exit(f"{SYNTH} not found: run `make data` first")
    results = {}
    for name in args.inputs:
        mode, path = INPUTS[name]
        prepare(bin_dir, mode, path, out)
        results[name] = train_and_eval(bin_dir, name, path, out)
    text = table(results)
    print(text)
    (out / "table.md").write_text(text + "\n")
    if args.write_readme:
        readme = HERE / "README.md"
        body = readme.read_text()
        stamp = (f"Made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
                 f"`python -m experiments.betas_vs_volumes.run --write-readme` "
                 f"(runs in `{args.out}`); load average {os.getloadavg()[0]:.1f} on "
                 f"{os.cpu_count()} cores.\n\n")
        start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
        readme.write_text(body[:start] + "\n\n" + stamp + text + "\n\n" + body[end:])


if __name__ == "__main__":
    main()
