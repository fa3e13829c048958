"""Benchmark: time and peak memory of synth, prepare and datamodule setup against the
number of runs, the two high-pass filters per run, and the growth extrapolated to BOLD5000.

Each measurement runs in a fresh child process, so its peak resident set (``ru_maxrss``) is its
own; ``rss_before_mib`` is the child's resident set after imports, before the work. ``cpu_s``
is the child's own user + system time (stable under load, unlike wall time). The
high-pass figures are per run, one BLAS/OpenMP thread (``OMP_NUM_THREADS=1`` in the children
except ``prepare n_jobs=2``, whose workers joblib caps at one thread each).

    python -m experiments.benchmarks.bench_scale --grid 88 88 66 --runs 1 2 4
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks.common import RESULTS, Log, TrainOnly, load, machine_info, write_json

RUNS_PER_SUBJECT = 142  # BOLD5000 CSI1-3: 15 sessions of 9-10 runs (CSI4 has fewer)
MASK = "{root}/derivatives/masks/sub-CSI{subject}_brainmask.nii.gz"
# the seed's field of view (88 x 88 x 66 at 2.4 mm): the brain generator covers it on any grid
SEED_FOV_MM = (211.2, 211.2, 158.4)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _cpu_s() -> float:
    """User + system CPU seconds of this process: on a shared machine, wall time measures the
    neighbours too; CPU time of single-threaded work does not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _source(root: Path, **kwargs: Any) -> Any:
    from bold5000_ae.prepare.sources.bids import BidsSource

    return BidsSource(root / "bids", mask=MASK, **kwargs)


def child(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """One measurement; runs in its own process under ``--child``."""
    from bold5000_ae.data.datamodule import BoldDataModule
    from bold5000_ae.prepare.preparation import prepare_dataset
    from bold5000_ae.synthetic import BrainSpec, EasySpec, generate

    root = Path(args["root"])
    before = _rss_mib()
    start, cpu0 = time.perf_counter(), _cpu_s()
    out: dict[str, Any] = {}
    if kind == "synth":
        grid = tuple(args["grid"])
        size = dict(sessions=1, runs_per_session=args["runs"], volumes_per_run=args["volumes"],
                    trials_per_run=min(37, (args["volumes"] - 12) // 5), seed=0)
        if args.get("generator", "brain") == "brain":  # the default generator, twin included
            voxel = tuple(round(f / g, 3) for f, g in zip(SEED_FOV_MM, grid, strict=True))
            spec = BrainSpec(grid=grid, voxel_size_mm=voxel, subjects=1, **size)
        else:
            spec = EasySpec(grid=grid, voxel_size_mm=(2.4, 2.4, 2.4), **size)
        generate(root, spec)
        out["generator"] = args.get("generator", "brain")
    elif kind == "highpass":
        rows = {}
        for name in ("cosine", "butterworth"):
            source = _source(root, high_pass_filter=name)
            source.mask_and_affine()
            t0, c0 = time.perf_counter(), _cpu_s()
            rows[name] = source.load(source.units()[0]).bold.astype(np.float64)
            out[f"{name}_s_per_run"] = round(time.perf_counter() - t0, 2)
            out[f"{name}_cpu_s_per_run"] = round(_cpu_s() - c0, 2)
        a, b = rows["cosine"], rows["butterworth"]
        r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
        out.update(voxels=int(a.shape[1]), rows=int(a.shape[0]),
                   speedup=round(out["butterworth_s_per_run"] / out["cosine_s_per_run"], 1),
                   speedup_cpu=round(out["butterworth_cpu_s_per_run"]
                                     / out["cosine_cpu_s_per_run"], 1),
                   corr_median=round(float(np.median(r)), 4),
                   corr_p5=round(float(np.percentile(r, 5)), 4),
                   corr_min=round(float(r.min()), 4),
                   rms_diff=round(float(np.sqrt(np.mean((a - b) ** 2))), 4))
    elif kind == "prepare":
        summary = prepare_dataset(_source(root), args["output"], stimuli_root=None,
                                  image_size=8, labels={}, n_jobs=args["n_jobs"],
                                  bold_dtype=args.get("dtype", "float32"), overwrite=True)
        out.update(samples=summary["samples"], bold_mib=summary["bold_mib"])
    elif kind == "setup":
        dm = BoldDataModule(args["output"], split=TrainOnly(), cache=args["cache"])
        dm.setup()
        train = dm.datasets["train"]
        getattr(train, "load", lambda: None)()  # the cache fills lazily, on first use
        out.update(train_rows=len(train), cache=args["cache"],
                   train_split_mib=round(len(train) * dm.mask.sum() * args["itemsize"] / 2**20,
                                         1))
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["cpu_s"] = round(_cpu_s() - cpu0, 2)  # this process only (not joblib's workers)
    out["rss_before_mib"] = before
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _spawn(kind: str, args: dict[str, Any], threads: int | None = 1) -> dict[str, Any]:
    env = dict(os.environ)
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                               "MKL_NUM_THREADS")})
    done = subprocess.run([sys.executable, "-m", "experiments.benchmarks.bench_scale",
                           "--child", kind, json.dumps(args)], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).resolve().parents[2], check=False)
    if done.returncode:
        raise RuntimeError(f"child {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fit(xs: list[int], ys: list[float]) -> dict[str, Any]:
    """Least-squares line y = a + b·runs and its value at one subject and at four."""
    if len(set(xs)) < 2:
        return {}
    b, a = np.polyfit(xs, ys, 1)
    return {"intercept": round(float(a), 2), "per_run": round(float(b), 3),
            "one_subject": round(float(a + b * RUNS_PER_SUBJECT), 1),
            "four_subjects": round(float(a + b * 4 * RUNS_PER_SUBJECT), 1)}


def run(grid: tuple[int, int, int], runs: list[int], volumes: int, log: Log,
        tmp: Path, spawn: Any = _spawn, highpass: bool = True,
        n_jobs_2: bool = True, generator: str = "brain") -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "scale", "grid": list(grid), "runs": runs,
                              "volumes_per_run": volumes, "generator": generator,
                              "load_before": load(), "steps": {}}
    steps = result["steps"]
    for n in runs:
        root, output = tmp / f"raw_{n}", tmp / f"prepared_{n}.h5"
        steps[f"synth_{n}"] = spawn("synth", {"root": str(root), "grid": list(grid), "runs": n,
                                              "volumes": volumes, "generator": generator})
        log(f"synth {n} run(s): {steps[f'synth_{n}']}")
        if highpass and n == runs[0]:
            result["highpass"] = spawn("highpass", {"root": str(root)})
            log(f"high-pass per run: {result['highpass']}")
        steps[f"prepare_{n}"] = spawn("prepare", {"root": str(root), "output": str(output),
                                                  "n_jobs": 1})
        log(f"prepare {n} run(s), n_jobs=1: {steps[f'prepare_{n}']}")
        if n_jobs_2 and n == runs[-1] and n > 1:
            steps[f"prepare_{n}_n_jobs_2"] = spawn("prepare", {
                "root": str(root), "output": str(output), "n_jobs": 2}, threads=None)
            log(f"prepare {n} run(s), n_jobs=2: {steps[f'prepare_{n}_n_jobs_2']}")
            result["n_jobs_2_speedup"] = round(steps[f"prepare_{n}"]["seconds"]
                                               / steps[f"prepare_{n}_n_jobs_2"]["seconds"], 2)
        steps[f"setup_ram_{n}"] = spawn("setup", {"root": str(root), "output": str(output),
                                                  "cache": "ram", "itemsize": 4})
        log(f"datamodule setup cache=ram {n} run(s): {steps[f'setup_ram_{n}']}")
    result["fits"] = {
        f"{what}_{col}": _fit(runs, [steps[f"{what}_{n}"][col] for n in runs])
        for what in ("synth", "prepare", "setup_ram")
        for col in ("cpu_s", "seconds", "peak_rss_mib")}
    result["load_after"] = load()
    return result


def setup_only(work: Path, runs: list[int], log: Log, spawn: Any = _spawn) -> dict[str, Any]:
    """Datamodule setup alone on files a full run kept (``--work``): re-measure after a change
    to the datamodule without preparing again."""
    result: dict[str, Any] = {"benchmark": "scale_setup", "runs": runs, "load_before": load(),
                              "steps": {}}
    for n in runs:
        path = work / f"prepared_{n}.h5"
        result["steps"][f"setup_ram_{n}"] = spawn("setup", {"root": str(work), "output": str(path),
                                                            "cache": "ram", "itemsize": 4})
        log(f"datamodule setup cache=ram {n} run(s): {result['steps'][f'setup_ram_{n}']}")
    result["fits"] = {f"setup_ram_{col}": _fit(runs, [result["steps"][f"setup_ram_{n}"][col]
                                                      for n in runs])
                      for col in ("cpu_s", "seconds", "peak_rss_mib")}
    result["load_after"] = load()
    return result


LINE = re.compile(r"\] (synth|prepare|datamodule setup cache=ram) (\d+) run\(s\)"
                  r"(?:, n_jobs=(\d))?: (\{.*\})$")


def from_log(path: Path) -> dict[str, Any]:
    """The result of a run stopped before its end (e.g. at a deadline), from its printed lines:
    the steps that finished, the high-pass figures and the fits over the runs measured."""
    result: dict[str, Any] = {"benchmark": "scale", "from_log": str(path), "steps": {}}
    for line in path.read_text().splitlines():
        if "high-pass per run: " in line:
            result["highpass"] = ast.literal_eval(line.split("high-pass per run: ", 1)[1])
        match = LINE.search(line)
        if match:
            kind = {"datamodule setup cache=ram": "setup_ram"}.get(match[1], match[1])
            key = f"{kind}_{match[2]}" + ("_n_jobs_2" if match[3] == "2" else "")
            result["steps"][key] = ast.literal_eval(match[4])
    steps = result["steps"]
    result["fits"] = {}
    for what in ("synth", "prepare", "setup_ram"):
        runs = sorted(int(k.rsplit("_", 1)[1]) for k in steps
                      if k.startswith(f"{what}_") and k.rsplit("_", 1)[1].isdigit())
        for col in ("cpu_s", "seconds", "peak_rss_mib"):
            result["fits"][f"{what}_{col}"] = _fit(runs, [steps[f"{what}_{n}"][col] for n in runs])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=int, nargs=3, default=[88, 88, 66])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--volumes", type=int, default=194)
    parser.add_argument("--generator", choices=["brain", "easy"], default="brain",
                        help="synthetic generator (brain: the default dataset's, with its twin)")
    parser.add_argument("--out", default=None, help="default: results/scale_<grid>_cpu.json")
    parser.add_argument("--work", default=None, help="keep the data here (default: a temp dir)")
    parser.add_argument("--from-log", default=None,
                        help="rebuild the JSON from the log of a run stopped early")
    parser.add_argument("--setup-only", action="store_true",
                        help="only datamodule setup, on --work's prepared_<runs>.h5 files")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]))))
        return
    out = args.out or RESULTS / f"scale_{'x'.join(map(str, args.grid))}_cpu.json"
    log = Log()
    if args.from_log:
        result = from_log(Path(args.from_log))
    elif args.setup_only:
        result = setup_only(Path(args.work), args.runs, log)
    else:
        with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
            work = Path(args.work) if args.work else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            result = run(tuple(args.grid), args.runs, args.volumes, log, work,
                         generator=args.generator)
    result["machine"] = machine_info()
    log(f"wrote {write_json(out, result)}")
    log.write(Path(out).with_suffix(".log"))


if __name__ == "__main__":
    main()
