"""Benchmark 1: volumes/s delivered to the training step, datamodule cache modes vs the seed.

"Delivered" means a batch on the training device, ready for the step: the datamodule's
normalised masked rows (which the model scatters to volumes on the device, timed as well:
``*_with_scatter``) and the seed's full float32 volumes. Same volumes, same batch size, one
process, no workers on either side, one torch thread by default (a per-core figure, as the
seed's 29 volumes/s was). Cache loading is timed separately (``setup_s``).

    python -m experiments.benchmarks.bench_data --n 192 --grid 88 88 66
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.utils.masking import VolumeMask
from experiments.benchmarks.common import (
    Log,
    TrainOnly,
    default_out,
    load,
    machine_info,
    set_threads,
    sync,
    time_until,
    write_json,
)
from experiments.benchmarks.volumes import (
    SAMPLE_VOLUMES,
    real_volumes,
    synthetic_volumes,
    write_hdf5,
    write_seed_files,
)


def _deliver(loader: Any, device: torch.device, scatter: VolumeMask | None) -> int:
    """One pass over ``loader``: every batch onto ``device`` as volumes. Returns volumes."""
    done = 0
    for batch in loader:
        x = batch["bold"] if isinstance(batch, dict) else batch
        x = x.to(device, non_blocking=True)
        if scatter is not None:
            x = scatter.to_volume(x)
        done += x.shape[0]
    return done


def bench_datamodule(path: Path, cache: str, batch: int, device: torch.device,
                     min_seconds: float) -> dict[str, Any]:
    """``vol_per_s``: normalised masked batches on ``device``, what the training step receives;
    ``vol_per_s_with_scatter``: plus ``VolumeMask.to_volume`` there (the first op of the model's
    forward; on a GPU it is a few microseconds, on a CPU it writes the full grid)."""
    start = time.perf_counter()
    dm = BoldDataModule(path, split=TrainOnly(), batch_size=batch, cache=cache,
                        normalize="voxel")
    dm.setup()
    loader = dm.train_dataloader()
    if cache == "gpu":
        dm.device_split("train")
    sync(device)
    setup_s = time.perf_counter() - start
    scatter = VolumeMask(dm.mask).to(device)
    _deliver(loader, device, scatter)  # warm-up epoch (page cache, allocator)
    volumes, seconds = time_until(lambda: _deliver(loader, device, None), device, min_seconds)
    with_scatter = time_until(lambda: _deliver(loader, device, scatter), device, min_seconds)
    return {"volumes": volumes, "seconds": round(seconds, 3),
            "vol_per_s": round(volumes / seconds, 1),
            "vol_per_s_with_scatter": round(with_scatter[0] / with_scatter[1], 1),
            "setup_s": round(setup_s, 3)}


def bench_seed(paths: list[Path], batch: int, device: torch.device,
               min_seconds: float) -> dict[str, Any]:
    from experiments.benchmarks.seed_path import seed_loader

    loader = seed_loader(paths, batch)
    volumes, seconds = time_until(lambda: _deliver(loader, device, None), device, min_seconds)
    return {"volumes": volumes, "seconds": round(seconds, 3),
            "vol_per_s": round(volumes / seconds, 1), "setup_s": 0.0}


def run(source: str, n: int, grid: tuple[int, int, int], batch: int, device: torch.device,
        dtypes: list[str], caches: list[str], min_seconds: float, log: Log,
        seed: bool = True) -> dict[str, Any]:
    if source == "auto":
        source = "real" if tuple(grid) == (88, 88, 66) and SAMPLE_VOLUMES.is_dir() else "synthetic"
    if source == "real":
        volumes, affine = real_volumes(n)
    else:
        volumes, affine = synthetic_volumes(n, grid)
    grid = tuple(int(s) for s in volumes.shape[1:])
    result: dict[str, Any] = {"benchmark": "data_path", "source": source, "n_volumes": n,
                              "grid": list(grid), "batch": batch, "device": str(device),
                              "load_before": load(), "modes": {}}
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        tmp_dir = Path(tmp)
        if seed:
            paths = write_seed_files(tmp_dir / "seed", volumes, affine)
            log(f"seed-style files: {n} x {grid}, "
                f"{sum(p.stat().st_size for p in paths) / 2**20:.0f} MiB gzipped")
            res = bench_seed(paths, batch, device, min_seconds)
            result["modes"]["seed_nibabel"] = res
            log(f"seed (nibabel x2, .nii.gz): {res['vol_per_s']} vol/s")
        for dtype in dtypes:
            path = tmp_dir / f"bench_{dtype}.h5"
            mask = write_hdf5(path, volumes, affine, bold_dtype=dtype)
            result["voxels_in_mask"] = int(mask.sum())
            for cache in caches:
                res = bench_datamodule(path, cache, batch, device, min_seconds)
                result["modes"][f"{cache}_{dtype}"] = res
                log(f"datamodule cache={cache} {dtype}: {res['vol_per_s']} vol/s, "
                    f"{res['vol_per_s_with_scatter']} with the scatter to volumes "
                    f"(setup {res['setup_s']} s)")
    base = result["modes"].get("seed_nibabel", {}).get("vol_per_s")
    if base:
        result["ratio_vs_seed"] = {k: round(v["vol_per_s"] / base, 1)
                                   for k, v in result["modes"].items() if k != "seed_nibabel"}
        result["ratio_vs_seed_with_scatter"] = {
            k: round(v["vol_per_s_with_scatter"] / base, 1)
            for k, v in result["modes"].items() if k != "seed_nibabel"}
        log(f"ratio vs seed: {result['ratio_vs_seed']}")
    result["load_after"] = load()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["auto", "real", "synthetic"], default="auto",
                        help="auto: the real sample volumes tiled at 88x88x66 when present")
    parser.add_argument("--n", type=int, default=192)
    parser.add_argument("--grid", type=int, nargs=3, default=[88, 88, 66])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    parser.add_argument("--caches", nargs="+", default=["none", "ram", "gpu"])
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: per core, as the seed's figure; 0: default)")
    parser.add_argument("--out", default=None, help="default: results/data_path_<grid>_<dev>")
    args = parser.parse_args()
    set_threads(args.threads)
    args.out = args.out or default_out("data_path", args.grid, args.device)
    log = Log()
    result = run(args.source, args.n, tuple(args.grid), args.batch, torch.device(args.device),
                 args.dtypes, args.caches, args.min_seconds, log, seed=not args.no_seed)
    result["machine"] = machine_info()
    log(f"wrote {write_json(args.out, result)}")


if __name__ == "__main__":
    main()
