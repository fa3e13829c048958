"""The console scripts as a user types them (tests of documented commands go through these)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TINY_CLI = ["trainer=cpu", "trainer.max_epochs=1", "data.batch_size=8", "model.net.channels=[4,8]",
            "model.net.latent_dim=8", "logger=csv", "callbacks=none",
            "trainer.enable_progress_bar=false"]


def console_script(name: str) -> str:
    """The installed ``name`` (e.g. ``bold5000-ae-train``) beside this interpreter."""
    return str(Path(sys.executable).with_name(name))


def run_train(args: list[str], root: Path, h5: Path, timeout: int = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``bold5000-ae-train <args>`` with outputs under ``root`` and the tiny data."""
    flags = [a for a in args if a.startswith("-")]  # Hydra's argparse: flags before overrides
    cmd = [console_script("bold5000-ae-train"), *flags, f"data.path={h5}",
           *TINY_CLI, *[a for a in args if a not in flags]]
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def sweep_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted((root / "logs" / task / "multiruns").iterdir())
