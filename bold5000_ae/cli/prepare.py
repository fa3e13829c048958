"""``bold5000-ae-prepare``: raw inputs (source=...) → one prepared HDF5 file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError
from rich.console import Console
from rich.table import Table

from bold5000_ae.cli.rebuild import verify
from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.data.validate import check_bold_dtype
from bold5000_ae.prepare.part_store import parts_path
from bold5000_ae.prepare.preparation import check_n_jobs, prepare_dataset
from bold5000_ae.prepare.prepare_output import check_not_an_input, check_overwritable
from bold5000_ae.prepare.provenance import InputRecorder
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.config_checks import check_prepare_config
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.locks import claim_output

INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def print_summary(summary: dict, output: Path) -> None:
    table = Table(title=f"prepared {output}")
    table.add_column("what")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


def read_ground_truth(path: str | None) -> dict:
    """The generator's ``ground_truth.json`` (recorded in the file's attributes), if present;
    a corrupt one is one line naming it, not a JSON traceback."""
    if not path or not Path(path).is_file():
        return {}
    try:
        truth = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"not a readable JSON file ({exc})") from None
    if not isinstance(truth, dict):
        raise InputError(path, f"expected a JSON object, found {type(truth).__name__}")
    return truth


def prepare_unreported(cfg: DictConfig, quiet: bool = False) -> dict:
    """``prepare`` with its errors raised (``verify`` reports a failed rebuild itself)."""
    claim_output(cfg.output, "prepared file")  # one writer; a folder or read-only: one line
    check_bold_dtype(cfg.bold_dtype)
    check_prepare_config(cfg)
    check_n_jobs(cfg.n_jobs)
    try:
        config = OmegaConf.to_container(cfg, resolve=True)
    except InterpolationToMissingValueError:
        config = None  # a ??? value: instantiating the reader below names it in one line
    if config is not None:
        check_not_an_input(cfg.output, config, cfg.overwrite)
        if cfg.overwrite:
            check_overwritable(cfg.output)
    # every file read from here on is an input of the file (its /provenance): the source's
    # constructor and the ground truth read some before preparation starts
    with InputRecorder(exclude=[cfg.output]) as recorder:
        source = instantiate(cfg.source.reader)
        if config is None:  # the ??? lies outside the reader: resolving raises, naming it
            config = OmegaConf.to_container(cfg, resolve=True)
        truth = read_ground_truth(cfg.source.get("ground_truth"))
        summary = prepare_dataset(
            source, cfg.output, stimuli_root=cfg.source.get("stimuli_root"),
            image_size=cfg.image_size, labels=OmegaConf.to_container(cfg.labels, resolve=True),
            drop_unlabeled=cfg.drop_unlabeled, bold_dtype=cfg.bold_dtype,
            overwrite=cfg.overwrite, extra_attrs={"ground_truth": truth} if truth else {},
            config=config, n_jobs=cfg.n_jobs, shard=cfg.shard, num_shards=cfg.num_shards,
            recorder=recorder)
    if not quiet:
        print_summary(summary, Path(cfg.output))
    return summary


prepare = reports_input_errors(prepare_unreported)


@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    try:
        if cfg.get("verify"):
            verify(cfg, prepare_unreported)
        else:
            prepare(cfg)
    except KeyboardInterrupt:
        # the finished units stay in <output>.parts/ (each written atomically): a rerun resumes
        print(f"error: {cfg.output}: interrupted (Ctrl-C); no output was written; the finished "
              f"units are kept in {parts_path(cfg.output)} and the same command resumes from "
              "them", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None


if __name__ == "__main__":
    main()
