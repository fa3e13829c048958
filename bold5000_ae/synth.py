"""``bold5000-ae-synth``: write the built-in synthetic BOLD5000 (see data/synthetic.py)."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.cli import reports_input_errors
from bold5000_ae.config import CONFIG_DIR
from bold5000_ae.data.synthetic import SyntheticSpec, generate
from bold5000_ae.errors import InputError


@reports_input_errors
def synth(cfg: DictConfig) -> dict:
    out = Path(cfg.output_dir)
    if out.exists():
        if not cfg.overwrite:
            raise InputError(out, "already exists; pass overwrite=true to regenerate")
        import shutil

        shutil.rmtree(out)
    spec = SyntheticSpec(**{k: tuple(v) if isinstance(v, list) else v
                            for k, v in OmegaConf.to_container(cfg.spec, resolve=True).items()})
    truth = generate(out, spec)
    print(f"synthetic BOLD5000 written to {out}")
    print(json.dumps({k: v for k, v in truth.items() if k != "spec"}, indent=2))
    return truth


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="synth")
def main(cfg: DictConfig) -> None:
    synth(cfg)


if __name__ == "__main__":
    main()
