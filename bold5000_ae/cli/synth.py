"""``bold5000-ae-synth``: write the built-in synthetic BOLD5000 (see data/synthetic/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.data.synthetic import generate, make_spec
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.locks import claim_output


@reports_input_errors
def synth(cfg: DictConfig) -> dict:
    """Generate into a staging folder; replace an existing dataset only once the new one is
    complete, so a failed or killed regeneration leaves the old one intact."""
    out = Path(cfg.output_dir)
    claim_output(out, "synthetic dataset", folder=True)  # one writer at a time
    if out.exists() and not cfg.overwrite:
        raise InputError(out, "already exists; pass overwrite=true to regenerate")
    spec = make_spec(OmegaConf.to_container(cfg.spec, resolve=True))
    staging = out.with_name(out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    truth = generate(staging, spec, int(cfg.get("n_jobs", 1)))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    print(f"synthetic BOLD5000 written to {out}")
    print(json.dumps({k: v for k, v in truth.items() if k != "spec"}, indent=2))
    return truth


@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="synth")
def main(cfg: DictConfig) -> None:
    synth(cfg)


if __name__ == "__main__":
    main()
