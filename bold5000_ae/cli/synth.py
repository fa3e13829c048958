"""``bold5000-ae-synth``: write the built-in synthetic BOLD5000 (see data/synthetic.py)."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.data.synthetic import SyntheticSpec, generate
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.locks import claim_output


def _spec(values: DictConfig) -> SyntheticSpec:
    spec = OmegaConf.to_container(values, resolve=True)
    valid = sorted(f.name for f in fields(SyntheticSpec))
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        raise InputError("spec", f"unknown field(s) {', '.join(unknown)}; valid: "
                                 f"{', '.join(valid)}")
    return SyntheticSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})


@reports_input_errors
def synth(cfg: DictConfig) -> dict:
    """Generate into a staging folder; replace an existing dataset only once the new one is
    complete, so a failed or killed regeneration leaves the old one intact."""
    out = Path(cfg.output_dir)
    claim_output(out, "synthetic dataset", folder=True)  # one writer at a time
    if out.exists() and not cfg.overwrite:
        raise InputError(out, "already exists; pass overwrite=true to regenerate")
    spec = _spec(cfg.spec)
    staging = out.with_name(out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    truth = generate(staging, spec)
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
