"""``results.json`` and the README table of the model benchmark (``run.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.model_benchmark.signal import r2, seed_mean_difference

# the README block each run writes: the families at the defaults, or each at its tuned best
BLOCKS = {False: "benchmark table", True: "tuned benchmark table"}


def _auc(transfer: dict[str, float], readout: str) -> tuple[float, float, float] | None:
    key = f"cv/{readout}/auc"
    if key not in transfer:
        return None
    return (transfer[key], transfer.get(f"{key}_ci_low", np.nan),
            transfer.get(f"{key}_ci_high", np.nan))


def summarise(record: dict[str, Any], pca: dict[str, dict[str, np.ndarray]],
              errors: dict[str, dict[str, list[dict[str, np.ndarray]]]]) -> dict[str, Any]:
    """Per family: R² against the input and the twin (mean over seeds), each one's difference
    from PCA-k with a bootstrap CI over test trials, fit R², transfer AUC beside PCA-k's; and
    the signal R² with the code denoised by the repeat Wiener filter, against plain PCA-k."""
    plain = pca["as_trained"]
    kinds = [k for k in ("input", "signal") if f"ss_{k}" in plain]
    first = next(iter(record["families"].values()))[0]
    m0, t0 = first["metrics"], first["transfer"]
    out: dict[str, Any] = {**{k: v for k, v in record.items() if k != "families"},
                           "n_test_trials": int(len(plain["ss_input"])),
                           "pca_k": {"k": m0.get("baseline/pca_k/k"),
                                     **{f"{k}_r2": r2(plain, k) for k in kinds},
                                     "fit_r2": m0.get("baseline/pca_k/fit/r2"),
                                     "auc": _auc(t0, "pca_k")},
                           "ceiling": {"input_r2": m0.get("ceiling/test/r2"),
                                       "signal_r2": 1.0 if "signal" in kinds else None,
                                       "repeat_nc_percent": m0.get(
                                           "noise_ceiling/repeats/nc_percent_mean"),
                                       "oracle_auc": _auc(t0, "oracle")},
                           "raw_voxels_auc": _auc(t0, "raw_voxels"), "families": {}}
    if "signal" in kinds:
        out["pca_k"]["repeat_wiener"] = {
            "signal_r2": r2(pca["repeat_wiener"], "signal"),
            "signal_r2_minus_pca_k": seed_mean_difference([pca["repeat_wiener"]], plain,
                                                          "signal")}
    for name, runs in record["families"].items():
        row: dict[str, Any] = {"seeds": [r["seed"] for r in runs],
                               "train_seconds": [r["train_seconds"] for r in runs]}
        trained = errors[name]["as_trained"]
        for kind in kinds:
            row[f"{kind}_r2"] = float(np.mean([r2(e, kind) for e in trained]))
            row[f"{kind}_r2_minus_pca_k"] = seed_mean_difference(trained, plain, kind)
        if "signal" in kinds:
            denoised = errors[name]["repeat_wiener"]
            row["repeat_wiener"] = {
                "signal_r2": float(np.mean([r2(e, "signal") for e in denoised])),
                "signal_r2_minus_pca_k": seed_mean_difference(denoised, plain, "signal")}
        row["fit_r2"] = float(np.mean([r["metrics"].get("fit/r2", np.nan) for r in runs]))
        aucs = [_auc(r["transfer"], "encoder") for r in runs]
        if all(aucs):
            row["auc"] = float(np.mean([a[0] for a in aucs]))
            row["auc_seed_cis"] = [[a[1], a[2]] for a in aucs]
            # PCA-k on the same folds and unlabeled rows as this family's read-out
            pca_aucs = [_auc(r["transfer"], "pca_k") for r in runs]
            if all(pca_aucs):
                row["auc_pca_k"] = float(np.mean([a[0] for a in pca_aucs]))
        out["families"][name] = row
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _diff(d: dict[str, float] | None) -> str:
    if not d:
        return "–"
    mark = " **>**" if d["lo"] > 0 else (" <" if d["hi"] < 0 else "")
    return f"{d['diff']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]{mark}"


def _auc_cell(row: dict[str, Any]) -> str:
    if row.get("auc") is None:
        return "–"
    ci = row["auc_seed_cis"][0] if len(row["auc_seed_cis"]) == 1 else None
    cell = _fmt(row["auc"]) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    return cell + (f" (PCA-k {row['auc_pca_k']:.3f})" if "auc_pca_k" in row else "")


def table(results: dict[str, Any]) -> str:
    pca, ceil = results["pca_k"], results["ceiling"]
    n_seeds = len(results["seeds"])
    tuning = (f"each family at its best of {results['tune']} Optuna trials (equal budget, the "
              "first the defaults; best by val/r2), " if results.get("tune") else "")
    lines = [f"`{results['command']}`: {tuning}{n_seeds} seed{'s' * (n_seeds != 1)}, "
             f"{results['epochs']} epochs, {results['n_test_trials']} test trials; CIs: 95% "
             "bootstrap over test trials of the seed-mean difference from PCA-k (**>**: "
             "above PCA-k, CI excludes 0; <: below); + repeat Wiener: the code denoised by the "
             "Wiener filter of the training rows' repeated images, then decoded, against plain "
             "PCA-k; transfer AUC with its 95% CI over trials, beside PCA-k's on the same folds",
             "",
             "| model | signal R² | − PCA-k | + repeat Wiener | − PCA-k | R² (input) | − PCA-k "
             "| fit R² | transfer AUC |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in sorted(results["families"].items(),
                            key=lambda kv: -kv[1].get("signal_r2", kv[1]["input_r2"])):
        wiener = row.get("repeat_wiener", {})
        lines.append(f"| {name} | {_fmt(row.get('signal_r2'))} | "
                     f"{_diff(row.get('signal_r2_minus_pca_k'))} | "
                     f"{_fmt(wiener.get('signal_r2'))} | "
                     f"{_diff(wiener.get('signal_r2_minus_pca_k'))} | {_fmt(row['input_r2'])} | "
                     f"{_diff(row.get('input_r2_minus_pca_k'))} | {_fmt(row['fit_r2'])} | "
                     f"{_auc_cell(row)} |")
    wiener = pca.get("repeat_wiener", {})
    lines.append(f"| PCA-k (k={_fmt(pca['k'], 0)}, same training rows) | "
                 f"{_fmt(pca.get('signal_r2'))} | | {_fmt(wiener.get('signal_r2'))} | "
                 f"{_diff(wiener.get('signal_r2_minus_pca_k'))} | {_fmt(pca['input_r2'])} | | "
                 f"{_fmt(pca['fit_r2'])} | beside each family |")
    raw = results.get("raw_voxels_auc") or (None,)
    oracle = ceil.get("oracle_auc") or (None,)
    lines.append(f"| ceiling (noise-free twin) / raw voxels, oracle AUC | "
                 f"{_fmt(ceil.get('signal_r2'))} | | | | {_fmt(ceil.get('input_r2'))} | | | "
                 f"raw {_fmt(raw[0])}, oracle {_fmt(oracle[0])} |")
    if ceil.get("repeat_nc_percent") is not None:
        lines += ["", f"Repeat noise ceiling of one volume: NC {ceil['repeat_nc_percent']:.1f}%."]
    if results.get("tuned"):
        lines += ["", "| family | trials (pruned) | best trial | best val/r2 | parameters |",
                  "| --- | --- | --- | --- | --- |"]
        for name, tuned in results["tuned"].items():
            params = ", ".join(
                f"{k.rsplit('.', 1)[-1]} {format(v, '.3g') if isinstance(v, float) else v}"
                for k, v in tuned["params"].items())
            lines.append(f"| {name} | {tuned['trials']} ({tuned['pruned']}) | "
                         f"{tuned['best_trial']} | {tuned['best_val_r2']:.4f} | {params} |")
    return "\n".join(lines)


def write_readme(results: dict[str, Any], readme: Path) -> None:
    """Replace the README block of this kind of run (``BLOCKS``) with its table."""
    block = BLOCKS[bool(results.get("tune"))]
    start, end = f"<!-- {block}: start -->", f"<!-- {block}: end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"error: {readme}: no {start} ... {end} block to write the table into")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table(results)}\n{end}{tail}")
