"""``bold5000-ae-prepare``: raw inputs (source=...) → one prepared HDF5 file."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from bold5000_ae.cli.reporting import reports_input_errors
from bold5000_ae.data.preparation import prepare_dataset
from bold5000_ae.utils.config import CONFIG_DIR


def print_summary(summary: dict, output: Path) -> None:
    table = Table(title=f"prepared {output}")
    table.add_column("what")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    Console().print(table)


@reports_input_errors
def prepare(cfg: DictConfig) -> dict:
    source = instantiate(cfg.source.reader)
    extra = {}
    truth = cfg.source.get("ground_truth")
    if truth and Path(truth).is_file():
        extra["ground_truth"] = json.loads(Path(truth).read_text())
    summary = prepare_dataset(
        source, cfg.output, stimuli_root=cfg.source.get("stimuli_root"),
        image_size=cfg.image_size, labels=OmegaConf.to_container(cfg.labels, resolve=True),
        drop_unlabeled=cfg.drop_unlabeled, bold_dtype=cfg.bold_dtype, overwrite=cfg.overwrite,
        extra_attrs=extra, config=OmegaConf.to_container(cfg, resolve=True),
        n_jobs=cfg.n_jobs, shard=cfg.shard, num_shards=cfg.num_shards)
    print_summary(summary, Path(cfg.output))
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="prepare")
def main(cfg: DictConfig) -> None:
    prepare(cfg)


if __name__ == "__main__":
    main()
