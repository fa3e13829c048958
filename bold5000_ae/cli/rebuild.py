"""``bold5000-ae-prepare verify=FILE``: rebuild FILE from the inputs and config it records and
say whether the result is the same file, or what differs.

The rebuild is written to a temporary folder beside FILE (same disk; the system's temporary
folder when FILE's folder is read-only), with the recorded config run from the recorded working
folder (so relative paths mean what they meant), and removed afterwards: FILE is only read.
``n_jobs`` given on the command line is used for the rebuild (it never changes the result).
Exit status: 0 identical, 1 something differs, 2 FILE unreadable or without provenance.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.cli.reporting import reports_input_errors
from bold5000_ae.data.hdf5_format import open_prepared
from bold5000_ae.prepare.provenance import library_versions, read_provenance
from bold5000_ae.prepare.rebuild_check import (
    check_recorded_inputs,
    compare_input_sets,
    compare_prepared,
    compare_versions,
)
from bold5000_ae.utils.errors import InputError, ReportedError

DIFFERS_EXIT = 1


def recorded(path: str | Path) -> dict[str, Any]:
    """FILE's provenance; a file without one (or not a prepared file) is one line."""
    with open_prepared(path) as h5:
        made = read_provenance(h5)
    if made is None:
        raise InputError(path, "records no provenance (prepared by an older bold5000_ae); "
                               "nothing to rebuild it from")
    return made


@contextlib.contextmanager
def _scratch(beside: Path) -> Iterator[Path]:
    try:
        folder = Path(tempfile.mkdtemp(prefix=".verify-", dir=beside.parent))
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="bold5000-ae-verify-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _working_folder(path: str) -> Iterator[None]:
    before = os.getcwd()
    if path and Path(path).is_dir():
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _rebuild_config(made: dict[str, Any], output: Path, n_jobs: int) -> DictConfig:
    config = dict(made["config"])
    config.update(output=str(output), overwrite=False, verify=None, n_jobs=n_jobs, shard=None,
                  num_shards=1)
    return OmegaConf.create(config)


@reports_input_errors
def verify(cfg: DictConfig, prepare: Callable[..., dict]) -> None:
    """Rebuild ``cfg.verify`` with ``prepare`` (the unreported prepare) and print the verdict."""
    target = Path(cfg.verify).absolute()
    made = recorded(target)
    print(f"verifying {target}: {len(made['inputs'])} recorded input file(s), prepared "
          f"{made.get('created_utc', '?')} by: {made.get('command_line', '?')}")
    problems = check_recorded_inputs(made["inputs"])
    versions = compare_versions(made["versions"], library_versions())
    exact = not versions
    rebuilt_inputs: list[dict[str, Any]] = []
    with _scratch(target) as scratch:
        output = scratch / target.name
        try:
            with _working_folder(made.get("cwd", "")):
                prepare(_rebuild_config(made, output, cfg.n_jobs), quiet=True)
        except ReportedError as exc:
            problems.append(f"rebuild failed: {exc}")
        else:
            with h5py.File(output, "r") as h5:
                rebuilt_inputs = (read_provenance(h5) or {}).get("inputs", [])
            problems += compare_input_sets(made["inputs"], rebuilt_inputs)
            problems += compare_prepared(target, output, exact=exact)
    for line in versions:
        print(f"library version differs: {line} (datasets compared within rtol 1e-5)")
    if problems:
        for line in problems:
            print(f"DIFFERS: {line}")
        print(f"{target}: does not rebuild from its inputs ({len(problems)} difference(s))")
        raise SystemExit(DIFFERS_EXIT)
    how = "bit for bit" if exact else "within tolerance (library versions differ)"
    print(f"{target}: identical {how} to a rebuild from its {len(rebuilt_inputs)} recorded "
          f"input file(s)")
    sys.stdout.flush()
