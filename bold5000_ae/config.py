"""Where the Hydra configs live: ``conf/`` at the repository root (installed editable)."""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")
