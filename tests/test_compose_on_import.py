"""Hydra's compose API resolves every config after ``import bold5000_ae`` alone: the resolvers
the configs use (``project_root``, ``local_config_dir``, ``run_name``) are registered when Hydra
starts. Checked in a fresh interpreter that imports nothing else of the package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "conf"
APPS = ["train", "eval", "prepare", "synth", "report", "fetch"]
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))

# Composes every app config and every experiment, and resolves the values the package's
# resolvers produce; prints what it resolved, as JSON, for the assertions below.
SCRIPT = """
import json, sys
import bold5000_ae
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

conf, apps, experiments = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
jobs = [(app, []) for app in apps] + [("train", [f"experiment={e}"]) for e in experiments]
out = {}
with initialize_config_dir(config_dir=conf, version_base="1.3"):
    for name, overrides in jobs:
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
        key = overrides[0] if overrides else name
        root = OmegaConf.select(cfg, "paths.root_dir")
        out[key] = {"root_dir": root, "task_name": cfg.get("task_name")}
run_name = OmegaConf.create({"v": "${run_name:'data/split=holdout_runs'}"}).v
print(json.dumps({"configs": out, "run_name": run_name}))
"""


@pytest.mark.subprocess
def test_import_alone_lets_hydra_compose_every_config() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(CONF), ",".join(APPS), ",".join(EXPERIMENTS)],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out = result["configs"]
    assert len(EXPERIMENTS) >= 10
    assert set(out) == set(APPS) | {f"experiment={e}" for e in EXPERIMENTS}
    # every config but the report's takes conf/paths/default.yaml: root_dir is ${project_root:}
    assert {key for key, row in out.items() if row["root_dir"] is None} == {"report"}
    for key, row in out.items():
        assert row["root_dir"] is None or Path(row["root_dir"]).is_dir(), key
    assert result["run_name"] == "data.split=holdout_runs"  # the logger's run-name resolver
    assert out["train"]["task_name"] == "train" and out["fetch"]["task_name"] == "fetch"
    # an experiment's own task name replaces train's, so the experiment was really applied
    assert out["experiment=phase1_autoencoder"]["task_name"] == "phase1_autoencoder"
