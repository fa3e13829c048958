"""``bold5000-ae-fetch``: download the public BOLD5000 parts a user names (conf/fetch.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.fetch.catalog import RemoteFile
from bold5000_ae.fetch.download import fetch_all
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError

INTERRUPTED_EXIT = 130


def planned(cfg: DictConfig) -> list[RemoteFile]:
    """The files of every part named in ``cfg.parts``, listed by their hosts."""
    unknown = [p for p in cfg.parts if p not in cfg.catalog]
    if unknown:
        raise InputError("parts", f"unknown part(s) {unknown}; choose from "
                                  f"{sorted(cfg.catalog)}")
    files: list[RemoteFile] = []
    for name in cfg.parts:
        part = instantiate(cfg.catalog[name])
        files += part.files(list(cfg.subjects), list(cfg.sessions))
    return files


def _bytes(size: int | None) -> str:
    return "?" if size is None else f"{size:,}"


def print_plan(files: list[RemoteFile], root: Path) -> None:
    table = Table(title=f"would fetch into {root}")
    for column in ("file", "bytes", "checksum", "here"):
        table.add_column(column)
    for remote in files:
        here = (root / remote.path).is_file()
        table.add_row(remote.path, _bytes(remote.size),
                      remote.known_hash.split(":")[0] if remote.known_hash else "first-seen",
                      "yes" if here else "no")
    Console(width=200).print(table)
    total = sum(f.size or 0 for f in files)
    todo = sum(f.size or 0 for f in files if not (root / f.path).is_file())
    print(f"{len(files)} file(s), {total:,} bytes ({total / 2**30:,.2f} GiB) in all, {todo:,} "
          "bytes still to download (archives take about as much again unpacked)")


@reports_input_errors
def fetch(cfg: DictConfig) -> None:
    root = Path(cfg.root).expanduser().absolute()
    files = planned(cfg)
    if cfg.dry_run:
        print_plan(files, root)
        return
    fetch_all(files, root, progressbar=cfg.progress,
              done=lambda remote, path: print(f"ok {path}", flush=True))
    print(f"fetched {len(files)} file(s) into {root}")


@config_errors_exit_2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="fetch")
def main(cfg: DictConfig) -> None:
    try:
        fetch(cfg)
    except KeyboardInterrupt:
        print(f"error: {cfg.root}: interrupted (Ctrl-C); partial files are kept as *.part and "
              "the same command resumes them", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None


if __name__ == "__main__":
    main()
