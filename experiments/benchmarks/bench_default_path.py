"""A/B of two speed-ups on ``make train``'s default path (RAM cache, fp32, CPU).

The two changes that touch the default path, each against the way it was before, interleaved
round by round so that a shared, busy machine slows both sides alike (the median is reported):
- the loader: per-sample ``__getitem__`` + default collate (before) against one gather per
  batch (``_Batched.__getitems__``, now);
- the mask scatter/gather around the network: boolean-mask indexing (before) against flat
  index ``index_copy``/``index_select`` (now), forward and backward.
The convolutions themselves, which dominate a CPU epoch, are untouched by the issue.

    python -m experiments.benchmarks.bench_default_path --grid 24 28 24 --n 666
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.utils.masking import VolumeMask
from experiments.benchmarks.common import (
    RESULTS,
    Log,
    TrainOnly,
    load,
    machine_info,
    set_threads,
    write_json,
)
from experiments.benchmarks.volumes import synthetic_volumes, write_hdf5


def _epoch(loader: Any) -> int:
    return sum(len(batch["bold"]) for batch in loader)


def _bool_mask_roundtrip(mask: torch.Tensor, bold: torch.Tensor) -> None:
    """The scatter/gather as it was: boolean-mask indexing."""
    x = bold.detach().requires_grad_()
    volume = x.new_zeros((x.shape[0], *mask.shape))
    volume[:, mask] = x
    (volume.unsqueeze(1)[:, 0][:, mask] * 2).sum().backward()


def _index_roundtrip(vm: VolumeMask, bold: torch.Tensor) -> None:
    x = bold.detach().requires_grad_()
    (vm.to_vector(vm.to_volume(x)) * 2).sum().backward()


def _timed(fn: Any, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def run(grid: tuple[int, int, int], n: int, batch: int, rounds: int, log: Log) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "default_path_ab", "grid": list(grid), "n": n,
                              "batch": batch, "rounds": rounds, "load_before": load()}
    volumes, affine = synthetic_volumes(n, grid)
    with tempfile.TemporaryDirectory(prefix="bench_default_") as tmp:
        path = Path(tmp) / "f32.h5"
        write_hdf5(path, volumes, affine, "float32")
        dm = BoldDataModule(path, split=TrainOnly(), batch_size=batch, cache="ram")
        dm.setup()
        before = DataLoader(dm.datasets["train"], batch_size=batch, shuffle=True)
        now = dm.train_dataloader()
        vm = VolumeMask(dm.mask)
        bold = next(iter(now))["bold"]
        times: dict[str, list[float]] = {k: [] for k in
                                         ("loader_before", "loader_now", "mask_before", "mask_now")}
        for _ in range(rounds):
            times["loader_before"].append(_timed(lambda: _epoch(before), 1) / len(before))
            times["loader_now"].append(_timed(lambda: _epoch(now), 1) / len(now))
            times["mask_before"].append(_timed(lambda: _bool_mask_roundtrip(vm.mask, bold), 5))
            times["mask_now"].append(_timed(lambda: _index_roundtrip(vm, bold), 5))
    ms = {k: round(1e3 * statistics.median(v), 3) for k, v in times.items()}
    result["median_ms_per_batch"] = ms
    result["speedup"] = {"loader": round(ms["loader_before"] / ms["loader_now"], 1),
                         "mask": round(ms["mask_before"] / ms["mask_now"], 2)}
    result["load_after"] = load()
    log(f"median ms per batch of {batch}: {ms}; speedup {result['speedup']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, nargs=3, default=[24, 28, 24])
    parser.add_argument("--n", type=int, default=666, help="the built-in dataset's samples")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: a per-core figure; 0: torch's default)")
    parser.add_argument("--out", default=str(RESULTS / "default_path_ab_cpu.json"))
    args = parser.parse_args()
    set_threads(args.threads)
    log = Log()
    result = run(tuple(args.grid), args.n, args.batch, args.rounds, log)
    result["machine"] = machine_info()
    log(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    main()
