"""TensorBoard's HParams tab: each run's hyperparameters beside its final metrics, so runs of a
sweep can be sorted and filtered by what was changed and what it gave.

Lightning's ``log_hyperparams(params, metrics)`` also re-logs every metric at step 0, which
adds a false first point to every validation curve; here the HParams summaries are written
directly and refer to the scalar tags the run already logged (only metrics that were never
logged as scalars, such as the ground truth's ceiling, are added, at the final step).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger

SCALAR_PREFIXES = ("train/", "val/", "test/")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model.optimizer.lr": 0.001, ...}``; lists and None become strings (TensorBoard takes
    only numbers, strings and booleans); ``_target_`` keys are left out (class paths, not
    hyperparameters)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif str(key) == "_target_":
            continue
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def hyperparameters(config: Mapping[str, Any], overrides: Iterable[str] = (),
                    keys: Sequence[str] = ("seed", "data.batch_size", "trainer.max_epochs",
                                           "trainer.precision")) -> dict[str, Any]:
    """What a reader compares runs by: the model's settings, a few run-level ones, and every
    command-line override of this run (including sweep values), by their config key."""
    flat = flatten(config)
    chosen = {k: v for k, v in flat.items() if k.startswith("model.") or k in keys}
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~")
        chosen[key] = flat.get(key, value)
    return chosen


def log_hparams(loggers: Sequence[Logger], params: Mapping[str, Any],
                metrics: Mapping[str, float], step: int) -> None:
    """Write the HParams summaries (experiment, session start and end) for every TensorBoard
    logger; metrics not yet logged as scalars are added at ``step``."""
    from torch.utils.tensorboard.summary import hparams

    # numbers only: metrics.json also carries words ("status": "finished" | "untrained")
    values = {k: float(v) for k, v in metrics.items()
              if isinstance(v, int | float) and not isinstance(v, bool)}
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            continue
        writer = logger.experiment
        for key, value in values.items():
            if not key.startswith(SCALAR_PREFIXES):
                writer.add_scalar(key, value, global_step=step)
        experiment, start, end = hparams(dict(params), values)
        file_writer = writer._get_file_writer()
        for summary in (experiment, start, end):
            file_writer.add_summary(summary)
        writer.flush()
