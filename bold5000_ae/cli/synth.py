"""``bold5000-ae-synth``: write the built-in synthetic BOLD5000 (see bold5000_ae/synthetic/)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.prepare.preparation import check_n_jobs
from bold5000_ae.synthetic import generate, make_spec
from bold5000_ae.synthetic.manifest import check_replaceable
from bold5000_ae.utils.atomic_io import clean_orphans, disk_error
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.interrupts import raise_if_interrupted, recorded_sigint
from bold5000_ae.utils.locks import claim_output

INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def _swap_in(staging: Path, out: Path) -> None:
    """Put the finished ``staging`` folder at ``out`` and delete the old dataset, which
    ``check_replaceable`` has shown holds only files synth wrote. Renames only, so a failure
    leaves the old dataset in place."""
    trash = out.with_name(f".{out.name}.{os.getpid()}.replaced.tmp")
    try:
        out.rename(trash)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(out, f"cannot replace it: {disk_error(exc) or exc.strerror}") from None
    try:
        staging.rename(out)
    except OSError as exc:
        trash.rename(out)
        shutil.rmtree(staging, ignore_errors=True)
        raise InputError(out, f"cannot replace it: {disk_error(exc) or exc.strerror}") from None
    shutil.rmtree(trash, ignore_errors=True)


@reports_input_errors
def synth(cfg: DictConfig) -> dict:
    """Generate into a staging folder; replace an existing dataset only once the new one is
    complete, so a failed or killed regeneration leaves the old one intact. Only a folder that
    holds nothing but synth's own files (its manifest says which) is ever replaced."""
    out = Path(cfg.output_dir).expanduser().absolute()
    claim_output(out, "synthetic dataset", folder=True)  # one writer at a time
    if out.exists() and not cfg.overwrite:
        raise InputError(out, "already exists; pass overwrite=true to regenerate")
    spec = make_spec(OmegaConf.to_container(cfg.spec, resolve=True))
    n_jobs = cfg.get("n_jobs", 1)
    check_n_jobs(n_jobs)
    if out.exists():
        check_replaceable(out)
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(out, "permission denied: this folder is not writable")
    if out.exists():
        clean_orphans(out)  # staging and replaced folders of writers that were killed
        staging = out.with_name(f".{out.name}.{os.getpid()}.staging.tmp")
        truth = generate(staging, spec, n_jobs)
        raise_if_interrupted()
        _swap_in(staging, out)
    else:
        truth = generate(out, spec, n_jobs)
    print(f"synthetic BOLD5000 written to {out}")
    print(json.dumps({k: v for k, v in truth.items() if k != "spec"}, indent=2))
    return truth


@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="synth")
def main(cfg: DictConfig) -> None:
    try:
        with recorded_sigint():
            synth(cfg)
    except KeyboardInterrupt:
        print(f"error: {cfg.output_dir}: interrupted (Ctrl-C); nothing was written and an "
              "existing dataset there is unchanged", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None


if __name__ == "__main__":
    main()
