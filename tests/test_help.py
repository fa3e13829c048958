"""``--help`` of each Hydra console script: first its own one-line purpose, and no config group
that belongs to another script (synth must not list model/loss)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIRST_LINES = {
    "synth": "bold5000-ae-synth: write a synthetic BOLD5000",
    "prepare": "bold5000-ae-prepare: mask, clean and pick the trial volumes",
    "train": "bold5000-ae-train: fit and test a model",
    "eval": "bold5000-ae-eval: evaluate a trained checkpoint",
    "fetch": "bold5000-ae-fetch: download public BOLD5000 parts",
}


@pytest.mark.subprocess
@pytest.mark.parametrize("name", sorted(FIRST_LINES))
def test_help_says_what_the_script_does(name: str) -> None:
    script = str(Path(sys.executable).with_name(f"bold5000-ae-{name}"))
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[0].startswith(FIRST_LINES[name])
    groups = "model/loss" in done.stdout
    assert groups == (name == "train")  # only train composes the model groups


@pytest.mark.subprocess
@pytest.mark.parametrize("name", ["train", "eval"])
def test_entry_point_checks_its_config_before_importing_torch(name: str, tmp_path: Path) -> None:
    """``--help``, a config typo or a refused run folder answer before torch and Lightning load
    (seconds on a laptop): the entry point imports them only for a run that passed its checks."""
    probe = (f"import sys, bold5000_ae.cli.{name}; "
             "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.subprocess
def test_eval_refuses_an_unknown_mode_before_reading_any_run(tmp_path: Path) -> None:
    """No run exists under ``tmp_path``: the mode is refused first, in one line, exit 2."""
    script = str(Path(sys.executable).with_name("bold5000-ae-eval"))
    done = subprocess.run([script, "mode=tranfser"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env={**os.environ,
                                                          "PROJECT_ROOT": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: mode: must be 'test' or 'transfer', "
                                   "got 'tranfser'")
