"""What every benchmark records: machine, versions, load, timing and memory helpers, JSON output.

Why one place: figures are only comparable when each carries the machine, the software versions,
the load average it was taken under and the exact command.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

PACKAGES = ("torch", "lightning", "numpy", "h5py", "nibabel", "pandas")


class TrainOnly:
    """A split that puts every sample in training: benchmarks time the training loader only."""

    def assign(self, trials: pd.DataFrame) -> np.ndarray:
        return np.full(len(trials), "train", dtype=object)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["torch"] = torch.__version__
    info: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(), "python": platform.python_version(), "cpu": cpu,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "versions": versions, "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def load() -> list[float]:
    """1, 5 and 15 minute load averages (CPU figures mean little without them)."""
    return [round(x, 2) for x in os.getloadavg()]


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads (0 leaves torch's default). On a shared, oversubscribed CPU,
    multi-threaded torch ops stall waiting for descheduled threads (measured here: a 31 MB row
    gather took 500 ms with 2 threads under load 5, 5 ms with 1), so per-core figures are the
    stable ones."""
    if n > 0:
        torch.set_num_threads(n)


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_mib(device: torch.device | str) -> float:
    """Peak device memory since ``reset_peak`` (CUDA), or the process's peak RSS (CPU)."""
    if torch.device(device).type == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def time_until(step: Callable[[], int], device: torch.device | str, min_seconds: float,
               min_calls: int = 1) -> tuple[int, float]:
    """Call ``step`` (returns volumes done) until ``min_seconds`` and ``min_calls`` have passed;
    returns (volumes, seconds), synchronising the device only at the ends."""
    sync(device)
    start = time.perf_counter()
    done = calls = 0
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        done += step()
        calls += 1
    sync(device)
    return done, time.perf_counter() - start


RESULTS = Path(__file__).resolve().parent / "results"


def default_out(name: str, grid: list[int] | tuple[int, ...], device: str) -> Path:
    """``results/<name>_<X>x<Y>x<Z>_<cpu|cuda>.json``: one file per benchmark, size and device."""
    return RESULTS / f"{name}_{'x'.join(str(g) for g in grid)}_{torch.device(device).type}.json"


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


class Log:
    """Prints and keeps lines, so a run's log can be written beside its JSON."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.start = time.perf_counter()

    def __call__(self, msg: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f}s] {msg}"
        print(line, flush=True)
        self.lines.append(line)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def write(self, path: str | Path) -> None:
        Path(path).write_text("\n".join(self.lines) + "\n")
