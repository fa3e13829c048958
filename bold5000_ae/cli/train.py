"""``bold5000-ae-train``: compose the config, fit, test, and write everything to one folder.

A transfer or image→latent run first runs its autoencoder stage (``training/pipeline.py``);
either way the model fitted here is built fresh, weights restored where it starts from a
checkpoint, and trained with ``cfg.trainer``, ``cfg.callbacks`` and ``cfg.logger``
(``training/fit_and_test.py``). This module imports no torch or Lightning: ``--help``, a config
typo or a refused run folder answer before those imports."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from bold5000_ae.cli.help_groups import hide_groups_in_help
from bold5000_ae.cli.hydra_callbacks import record_failures
from bold5000_ae.cli.job_output import route_lightning_to_root
from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.training.run_dir import claim_run_dir
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.config_checks import check_train_config


@reports_input_errors
def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and test the configured model; return the metrics (also written to metrics.json)."""
    out_dir = Path(cfg.paths.output_dir)
    check_train_config(cfg)  # values that would fail late or deep inside a library
    if (finished := claim_run_dir(cfg, out_dir)) is not None:  # lock, resume checks, skip done
        return finished
    from bold5000_ae.training.fit_and_test import fit_and_test  # torch and Lightning, now

    route_lightning_to_root()  # the console handler Lightning added at import: dropped
    return fit_and_test(cfg, out_dir)


@hide_groups_in_help(("source", "spec"))  # prepare's and synth's groups
@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@record_failures  # in a multirun a failed job writes failed.json; the others go on
def main(cfg: DictConfig) -> float | list[float | None] | None:
    """The objective(s) a sweeper optimises: ``optimized_metric``'s value, or one value per
    metric when it is a list (a multi-objective search)."""
    metrics = train(cfg)
    wanted = cfg.get("optimized_metric")
    if not wanted:
        return None
    if isinstance(wanted, str):
        return metrics.get(wanted)
    return [metrics.get(str(name)) for name in wanted]


if __name__ == "__main__":
    main()
