"""How much memory a cache may take: the host's available memory and the cgroup's limit.

Why check: an in-RAM cache larger than the memory left ends in a silent OOM kill (exit 137) after
minutes of loading, and under SLURM the job's cgroup limit, not the node's RAM, is what counts.
Refusing up front, in one line, with the need and what is available, lets the user pick
``data.cache=none`` or a bigger allocation.
"""

from __future__ import annotations

from pathlib import Path

from bold5000_ae.utils.errors import InputError

# Leave this fraction of the available memory for everything else (model, batches, workers).
HEADROOM = 0.9
CGROUP_FILES = (  # (limit, usage): cgroup v2, then v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def mem_available() -> int:
    """``MemAvailable`` from /proc/meminfo, in bytes (what the kernel can hand out without
    swapping), or a huge number where the file is missing (not Linux: no check)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def cgroup_available() -> int | None:
    """The cgroup's limit minus its usage, in bytes, or None without a limit."""
    for limit_file, usage_file in CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and limit < 1 << 60:
            return max(limit - (usage or 0), 0)
    return None


def available_bytes() -> int:
    """The smaller of the host's available memory and the cgroup's room."""
    room = cgroup_available()
    return min(mem_available(), room) if room is not None else mem_available()


def size(n: float) -> str:
    """Bytes for a person: GiB from 1 GiB up, MiB below."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_fits(need: int, what: str, where: str, available: int | None = None) -> None:
    """Refuse (InputError naming ``where``) when ``need`` bytes exceed the headroom."""
    available = available_bytes() if available is None else available
    if need > HEADROOM * available:
        raise InputError(where, f"data.cache=ram needs {size(need)} for {what}, "
                                f"{size(available)} available (MemAvailable and cgroup limit); "
                                "use data.cache=none (reads the file per batch) or more memory")
