"""The GPU check as one run: parity, training benchmarks, data path; JSON + log to $OUT.

Order: the bf16-vs-fp32 parity check first (cheap, and decides whether the speed figures
count), then the training step (eager fp32, raw fast loop, Lightning fast end to end), then the
optional parts while the time budget allows (Lightning with default settings, channels_last_3d,
the data path against the seed's way). Every part's result is written as soon as it exists, so a
run cut short still leaves its figures. ``--smoke`` shrinks everything to seconds on a CPU.

    python3 -m experiments.benchmarks.gpu_check [--smoke] [--out DIR] [--budget-s 420]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.benchmarks import bench_data, bench_train
from experiments.benchmarks.common import Log, load, machine_info, write_json
from experiments.benchmarks.parity import bf16_parity
from experiments.benchmarks.train_setup import FastPath
from experiments.benchmarks.volumes import synthetic_volumes

TARGETS = {"vol_per_s": 1500.0, "speedup_vs_eager_fp32": 3.0, "lightning_overhead_pct": 5.0}
FULL = {"grid": (88, 88, 66), "batch": 64, "n": 1024, "warmup": 8, "steps": 60,
        "eager_steps": 20, "data_n": 128, "min_seconds": 2.0}
SMOKE = {"grid": (12, 14, 12), "batch": 8, "n": 32, "warmup": 2, "steps": 3,
         "eager_steps": 3, "data_n": 16, "min_seconds": 0.2}


def parity_batch(grid: tuple[int, int, int], batch: int,
                 device: torch.device) -> tuple[np.ndarray, torch.Tensor]:
    """A batch of masked vectors z-scored per voxel, as the datamodule serves them."""
    volumes, _ = synthetic_volumes(batch, grid, seed=1)
    mask = (volumes != 0).any(axis=0)
    rows = volumes[:, mask]
    rows = (rows - rows.mean(0)) / np.maximum(rows.std(0), 1e-6)
    return mask, torch.from_numpy(rows.astype(np.float32)).to(device)


def check_targets(train: dict[str, Any], parity: dict[str, Any] | None) -> dict[str, Any]:
    fast = train.get("variants", {}).get("lightning_fast", {}).get("vol_per_s")
    summary = train.get("summary", {})
    speedup = summary.get("speedup_vs_eager_fp32", {}).get("lightning_fast")
    overhead = summary.get("lightning_overhead_pct")
    return {
        "lightning_fast_vol_per_s": fast,
        "vol_per_s_ok": fast is not None and fast >= TARGETS["vol_per_s"],
        "speedup_vs_eager_fp32": speedup,
        "speedup_ok": speedup is not None and speedup >= TARGETS["speedup_vs_eager_fp32"],
        "lightning_overhead_pct": overhead,
        "overhead_ok": overhead is not None and overhead < TARGETS["lightning_overhead_pct"],
        "parity_ok": bool(parity and parity.get("passed")),
        "targets": TARGETS,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU, seconds)")
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="skip optional parts once this much time has passed")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    size = SMOKE if args.smoke else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    log = Log()
    report: dict[str, Any] = {"machine": machine_info(), "size": size, "smoke": args.smoke,
                              "device": str(device), "load_before": load()}
    log(f"device {device} {report['machine'].get('gpu', report['machine']['cpu'])}; "
        f"torch {torch.__version__}; size {size}")
    json_path = out / "gpu_check.json"

    def save() -> None:
        write_json(json_path, report)
        log.write(out / "gpu_check.log")

    grid, batch = size["grid"], size["batch"]
    try:
        mask, bold = parity_batch(grid, batch, device)
        report["parity"] = bf16_parity(mask, bold)
        log(f"parity bf16 vs fp32: {report['parity']}")
    except Exception:  # record and go on: the speed figures are still worth having
        report["parity"] = {"error": traceback.format_exc()}
        log(report["parity"]["error"])
    save()

    fast = FastPath(precision="bf16-mixed", compile=not args.no_compile)
    report["train"] = {"variants": {}}
    plan = [("eager_fp32", size["eager_steps"], True), ("raw_fast", size["steps"], True),
            ("lightning_fast", size["steps"], True), ("raw_fast_cl3d", size["steps"], False),
            ("lightning_default", size["eager_steps"], False)]
    tmp = tempfile.TemporaryDirectory(prefix="gpu_check_")
    data = bench_train.prepare_file(Path(tmp.name), grid, size["n"])
    log(f"prepared {size['n']} samples x {int(data[1].sum())} voxels (float16)")
    for name, steps, required in plan:
        if not required and log.elapsed() > args.budget_s * 0.6:
            log(f"skipping {name}: {log.elapsed():.0f} s of the {args.budget_s:.0f} s budget used")
            continue
        try:
            res = bench_train.run(grid, batch, size["n"], device, fast, [name],
                                  size["warmup"], steps, log, data=data)
        except Exception:
            report["train"]["variants"][name] = {"error": traceback.format_exc()}
            log(report["train"]["variants"][name]["error"])
            if not fast.compile or name == "eager_fp32":
                continue
            # e.g. no C compiler for Triton's launcher: keep the other fast switches
            report["compile_failed"] = True
            fast = dataclasses.replace(fast, compile=False)
            log(f"retrying {name} and the rest without torch.compile")
            try:
                res = bench_train.run(grid, batch, size["n"], device, fast, [name],
                                      size["warmup"], steps, log, data=data)
            except Exception:
                log(traceback.format_exc())
                continue
        report["train"]["flops"] = res["flops"]
        report["train"]["variants"].update(res["variants"])
        report["train"]["summary"] = bench_train.summarize(
            {k: v for k, v in report["train"]["variants"].items() if "vol_per_s" in v})
        report["targets"] = check_targets(report["train"], report.get("parity"))
        save()
    tmp.cleanup()

    if log.elapsed() < args.budget_s * 0.8:
        seed = importlib.util.find_spec("nibabel") is not None
        try:
            report["data_path"] = bench_data.run(
                "synthetic", size["data_n"], grid, 32, device, ["float16"],
                ["none", "ram", "gpu"], size["min_seconds"], log, seed=seed)
        except Exception:
            report["data_path"] = {"error": traceback.format_exc()}
            log(report["data_path"]["error"])
    report["targets"] = check_targets(report["train"], report.get("parity"))
    report["load_after"] = load()
    log(f"targets: {report['targets']}")
    save()
    log(f"wrote {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
