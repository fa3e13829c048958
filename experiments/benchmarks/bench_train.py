"""Benchmark 2/3: training-step volumes/s of the default 3D AE, fast path vs a plain fp32 loop.

Variants (all on the same prepared file, same model and optimizer, same batch size):
- ``eager_fp32``: a plain PyTorch loop, float32, eager, cudnn.benchmark off, batches sliced from
  the device cache (so the baseline is not slowed by its data: the ratio is the compute path's).
- ``lightning_default``: Lightning with the defaults ``make train`` uses (32-true, RAM cache).
- ``raw_fast``: a plain loop with the fast path (autocast, compiled net, cudnn.benchmark, fused
  AdamW on CUDA, device cache): the reference for Lightning's overhead.
- ``lightning_fast``: the same settings through ``Trainer.fit`` and the datamodule (end to end).
- ``raw_fast_cl3d``: ``raw_fast`` with channels_last_3d weights (decides that switch).
Each variant runs ``warmup`` steps (compilation, cudnn autotuning), then ``steps`` timed steps,
then, on CUDA, 3 steps under ``torch.cuda.set_sync_debug_mode`` to count host synchronisations.

    python -m experiments.benchmarks.bench_train --grid 24 28 24 --batch 32
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, Trainer

from bold5000_ae.data.datamodule import BoldDataModule
from experiments.benchmarks.common import (
    Log,
    TrainOnly,
    default_out,
    load,
    machine_info,
    peak_mib,
    reset_peak,
    set_threads,
    sync,
    write_json,
)
from experiments.benchmarks.train_setup import (
    EAGER_FP32,
    FastPath,
    build_module,
    count_flops,
    train_loss,
)
from experiments.benchmarks.volumes import synthetic_volumes, write_hdf5

SYNC_STEPS = 3
VARIANTS = ("eager_fp32", "lightning_default", "raw_fast", "lightning_fast", "raw_fast_cl3d")


def _batches(loader: Any):
    while True:
        yield from loader


class _SyncCounter:
    """Counts host synchronisations CUDA reports while active (``set_sync_debug_mode``)."""

    def __init__(self, device: torch.device) -> None:
        self.on = device.type == "cuda"
        self.caught: list[warnings.WarningMessage] = []
        self._ctx = warnings.catch_warnings(record=True)

    def __enter__(self) -> _SyncCounter:
        if self.on:
            self.caught = self._ctx.__enter__()
            warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.on:
            torch.cuda.set_sync_debug_mode(0)
            self._ctx.__exit__(*exc)

    def arm(self) -> None:
        if self.on:
            torch.cuda.set_sync_debug_mode(1)

    def disarm(self) -> None:
        """Stop counting (before teardown, which moves the model off the device)."""
        if self.on:
            torch.cuda.set_sync_debug_mode(0)
            self.frozen = self.count()

    def count(self) -> int | None:
        if not self.on:
            return None
        if getattr(self, "frozen", None) is not None:
            return self.frozen
        return sum("synchroniz" in str(w.message) for w in self.caught)


def raw_loop(module: Any, loader: Any, fast: FastPath, device: torch.device, warmup: int,
             steps: int) -> dict[str, Any]:
    torch.backends.cudnn.benchmark = fast.cudnn_benchmark
    optimizer = module.optimizer_factory(params=module.parameters())
    dtype = fast.autocast_dtype()
    batches = _batches(loader)
    module.train()

    def step() -> None:
        bold = next(batches)["bold"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = train_loss(module, bold)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warm_s = time.perf_counter() - start
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    with _SyncCounter(device) as counter:
        counter.arm()
        for _ in range(SYNC_STEPS if device.type == "cuda" else 0):
            step()
    return {"seconds": seconds, "warmup_s": warm_s, "host_syncs_per_step":
            None if counter.count() is None else counter.count() / SYNC_STEPS}


class _StepTimer(Callback):
    """Times steps ``warmup+1 .. warmup+steps`` (data fetch included) and arms the sync counter
    for the steps after them."""

    def __init__(self, warmup: int, steps: int, device: torch.device,
                 counter: _SyncCounter) -> None:
        self.warmup, self.steps, self.device, self.counter = warmup, steps, device, counter
        self.calls, self.t0, self.t1, self.start = 0, 0.0, 0.0, time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        self.calls += 1
        if self.calls == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()
        elif self.calls == self.warmup + self.steps:
            sync(self.device)
            self.t1 = time.perf_counter()
            self.counter.arm()
        elif self.calls == self.warmup + self.steps + SYNC_STEPS:
            self.counter.disarm()


def lightning_fit(module: Any, datamodule: BoldDataModule, fast: FastPath,
                  device: torch.device, warmup: int, steps: int) -> dict[str, Any]:
    extra = SYNC_STEPS if device.type == "cuda" else 0
    with _SyncCounter(device) as counter:
        timer = _StepTimer(warmup, steps, device, counter)
        trainer = Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
            precision=fast.precision, benchmark=fast.cudnn_benchmark,
            max_steps=warmup + steps + extra, max_epochs=-1, limit_val_batches=0,
            num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
        trainer.fit(module, datamodule=datamodule)
    return {"seconds": timer.t1 - timer.t0, "warmup_s": timer.t0 - timer.start,
            "host_syncs_per_step": None if counter.count() is None
            else counter.count() / SYNC_STEPS}


def run_variant(name: str, path: Path, mask: Any, device: torch.device, batch: int,
                fast: FastPath, warmup: int, steps: int) -> dict[str, Any]:
    settings = EAGER_FP32 if name in ("eager_fp32", "lightning_default") else fast
    if name == "raw_fast_cl3d":
        settings = dataclasses.replace(fast, channels_last=True)
    cache = "ram" if name == "lightning_default" else "gpu"
    reset_peak(device)
    dm = BoldDataModule(path, split=TrainOnly(), batch_size=batch, cache=cache)
    module = build_module(mask, device, settings)
    if name.startswith("lightning"):
        res = lightning_fit(module, dm, settings, device, warmup, steps)
    else:
        dm.setup()
        res = raw_loop(module, dm.train_dataloader(), settings, device, warmup, steps)
    res.update(vol_per_s=round(steps * batch / res["seconds"], 1), peak_mib=peak_mib(device),
               cache=cache, settings=dataclasses.asdict(settings),
               seconds=round(res["seconds"], 3), warmup_s=round(res["warmup_s"], 1))
    if cache == "gpu":
        res["dataset_on_device_mib"] = round(dm.device_split("train").nbytes / 2**20, 1)
    return res


def prepare_file(folder: Path, grid: tuple[int, int, int], n: int,
                 bold_dtype: str = "float16") -> tuple[Path, Any]:
    """The benchmark's prepared file (synthetic volumes at ``grid``) and its mask."""
    volumes, affine = synthetic_volumes(n, grid)
    path = Path(folder) / f"train_{bold_dtype}.h5"
    return path, write_hdf5(path, volumes, affine, bold_dtype=bold_dtype)


def run(grid: tuple[int, int, int], batch: int, n: int, device: torch.device, fast: FastPath,
        variants: list[str], warmup: int, steps: int, log: Log, bold_dtype: str = "float16",
        data: tuple[Path, Any] | None = None) -> dict[str, Any]:
    """Time ``variants``; ``data`` is a ``prepare_file`` result to reuse (else one is made)."""
    result: dict[str, Any] = {"benchmark": "train_step", "grid": list(grid), "batch": batch,
                              "n_samples": n, "device": str(device), "storage": bold_dtype,
                              "fast_path": dataclasses.asdict(fast), "warmup": warmup,
                              "steps": steps, "load_before": load(), "variants": {}}
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        path, mask = data or prepare_file(Path(tmp), grid, n, bold_dtype)
        result["voxels_in_mask"] = int(mask.sum())
        probe = build_module(mask, device, EAGER_FP32)
        bold = torch.randn(2, int(mask.sum()), device=device)
        result["flops"] = count_flops(probe, bold)
        log(f"FLOPs per volume: {result['flops']}")
        del probe, bold
        for name in variants:
            res = run_variant(name, path, mask, device, batch, fast, warmup, steps)
            res["achieved_tflops"] = round(
                result["flops"]["train_gflop_per_volume"] * res["vol_per_s"] / 1e3, 4)
            result["variants"][name] = res
            log(f"{name}: {res['vol_per_s']} vol/s, peak {res['peak_mib']} MiB, "
                f"{res['achieved_tflops']} TFLOP/s, syncs/step {res['host_syncs_per_step']}, "
                f"warm-up {res['warmup_s']} s (load {load()[0]})")
    result["summary"] = summarize(result["variants"])
    log(f"summary: {result['summary']}")
    result["load_after"] = load()
    return result


def summarize(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    vps = {k: v["vol_per_s"] for k, v in variants.items()}
    out: dict[str, Any] = {}
    if "eager_fp32" in vps:
        out["speedup_vs_eager_fp32"] = {k: round(v / vps["eager_fp32"], 2)
                                        for k, v in vps.items() if k != "eager_fp32"}
    if "raw_fast" in vps and "lightning_fast" in vps:
        out["lightning_overhead_pct"] = round(100 * (1 - vps["lightning_fast"] / vps["raw_fast"]),
                                              1)
    if "raw_fast" in vps and "raw_fast_cl3d" in vps:
        out["channels_last_3d_gain_pct"] = round(
            100 * (vps["raw_fast_cl3d"] / vps["raw_fast"] - 1), 1)
    return out


def parse_fast(args: argparse.Namespace) -> FastPath:
    return FastPath(precision=args.precision, compile=not args.no_compile,
                    cudnn_benchmark=True, channels_last=False, fused_adam=True)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--grid", type=int, nargs=3, default=[24, 28, 24])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=256, help="samples in the file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="bf16-mixed",
                        help="fast path's trainer.precision (bf16-mixed, 32-true)")
    parser.add_argument("--no-compile", action="store_true", help="fast path without compile")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS[:4]), choices=VARIANTS,
                        help="none: count FLOPs only")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default)")
    parser.add_argument("--out", default=None, help="default: results/train_step_<grid>_<dev>")
    args = parser.parse_args()
    set_threads(args.threads)
    args.out = args.out or default_out("train_step", args.grid, args.device)
    log = Log()
    result = run(tuple(args.grid), args.batch, args.n, torch.device(args.device),
                 parse_fast(args), args.variants, args.warmup, args.steps, log)
    result["machine"] = machine_info()
    log(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    main()
