"""``bold5000-ae-eval``: a finished run, rebuilt from its saved config and checkpoint.

Two modes (``mode=``):

- ``test`` (default, what users of Lightning templates expect): the checkpoint's own test
  metrics on a chosen split (``split=test|val``, Lightning ``trainer.test``), with the
  reconstruction baselines (training mean, PCA-k, ceiling) beside them for autoencoders;
- ``transfer``: the encoder as a fixed feature extractor (``evaluation/readout.py``): grouped-CV
  read-out on the run's own file and on ``other_files``, beside the untrained encoder, PCA-k,
  random projection, raw voxels and the oracle.

Both print where they wrote ``metrics.json`` / ``evaluation.json``. The read-out code lives in
``bold5000_ae.evaluation`` and ``training/callbacks/transfer_readout.py`` (whose callback runs
the same read-out at the end of ``trainer.test`` in the phase experiments); this module only
rebuilds the run and wires the parts. It imports torch and Lightning only once the arguments
are checked, so ``--help`` and a mistyped mode answer at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from bold5000_ae.cli.reporting import config_errors_exit_2, reports_input_errors
from bold5000_ae.training.data_identity import check_identity
from bold5000_ae.training.resume_config import read_saved_config
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.config import CONFIG_DIR
from bold5000_ae.utils.errors import InputError


def latest_checkpoint(log_dir: str | Path, run_task: str = "train") -> Path:
    """The newest run of ``run_task`` (``<log_dir>/<run_task>/runs/<time>``) that has a
    checkpoint: its best one (``epoch_*.ckpt``, the one ``make train`` tested), else last."""
    runs = sorted(Path(log_dir, run_task, "runs").glob("*/checkpoints"), reverse=True)
    for folder in runs:
        found = sorted(folder.glob("epoch_*.ckpt")) or sorted(folder.glob("last.ckpt"))
        if found:
            return found[-1]
    raise InputError(Path(log_dir, run_task, "runs"),
                     f"no checkpoint of a {run_task} run here (run bold5000-ae-{run_task} "
                     "first, or pass checkpoint=<path>)")


def checkpoint_file(path: Path) -> Path:
    """``path`` when it is a file; for a folder (a run's or its ``checkpoints/``), one line
    saying which file to pass instead."""
    if not path.is_dir():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = sorted(folder.glob("*.ckpt"))
    if not found:
        raise InputError(path, "is a folder with no checkpoint in it; pass a checkpoint file: "
                               "checkpoint=<run>/checkpoints/<name>.ckpt")
    best = next((p for p in found if p.name.startswith("epoch_")), found[-1])
    raise InputError(path, f"is a folder; pass one checkpoint file, e.g. checkpoint={best} "
                           f"(here: {', '.join(p.name for p in found)}; epoch_*.ckpt is the "
                           "best, last.ckpt the newest)")


def load_run(checkpoint: str | Path, run_config: str | Path | None) -> tuple[Any, Any, DictConfig]:
    """Rebuild a finished run's datamodule and model from its saved config and checkpoint."""
    from bold5000_ae.models.build import build_model
    from bold5000_ae.training.checkpoint_io import load_into, load_state_dict

    checkpoint = checkpoint_file(Path(checkpoint))
    cfg_path = Path(run_config) if run_config else checkpoint.parent.parent / ".hydra/config.yaml"
    if not cfg_path.is_file():
        raise InputError(cfg_path, "the training run's config was not found (set run_config)")
    run_cfg = read_saved_config(cfg_path)
    with open_dict(run_cfg):
        run_cfg.model.pretrain = None  # weights come from the checkpoint, nothing is trained
        if "pretrained" in run_cfg.model:
            run_cfg.model.pretrained = None
    datamodule = instantiate(run_cfg.data)
    datamodule.setup()
    model = build_model(run_cfg.model, datamodule)
    load_into(model, load_state_dict(checkpoint), checkpoint)
    return datamodule, model, run_cfg


def test_metrics(model: Any, datamodule: Any, split: str, out_dir: Path,
                 accelerator: str = "auto") -> dict[str, float]:
    """The checkpoint's test-step metrics on ``split`` (named ``<split>/...``) and, for an
    autoencoder, the reconstruction baselines on the same rows."""
    import lightning as L

    from bold5000_ae.evaluation.baselines import model_baselines

    trainer = L.Trainer(accelerator=accelerator, devices=1, logger=False,
                        default_root_dir=out_dir, enable_model_summary=False)
    loader = datamodule.test_dataloader() if split == "test" else datamodule.val_dataloader()
    print(f"[eval] testing the checkpoint on the {split} split ({len(loader.dataset)} samples)")
    trainer.test(model, dataloaders=loader, weights_only=True)
    metrics = {split + k[4:] if k.startswith("test/") else k: float(v)
               for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    # an autoencoder: its baselines on the same rows, its signal R² and training-row fit
    metrics.update(model_baselines(model, datamodule, split))
    return metrics


@reports_input_errors
def evaluate(cfg: DictConfig) -> dict[str, float]:
    """``mode=test``: the checkpoint's metrics on ``split``; ``mode=transfer``: the read-out."""
    out = Path(cfg.paths.output_dir)
    if cfg.mode not in ("test", "transfer"):
        raise InputError("mode", f"must be 'test' or 'transfer', got {cfg.mode!r}")
    if cfg.mode == "test" and cfg.split not in ("test", "val"):
        raise InputError("split", f"must be 'test' or 'val', got {cfg.split!r}")
    checkpoint = (latest_checkpoint(cfg.paths.log_dir, cfg.get("run_task", "train"))
                  if cfg.checkpoint == "latest" else Path(cfg.checkpoint))
    print(f"[eval] rebuilding the run of {checkpoint}")
    datamodule, model, _ = load_run(checkpoint, cfg.get("run_config"))
    run_dir = checkpoint_file(checkpoint).parent.parent
    if not check_identity(run_dir, datamodule.path, "evaluate",
                          bool(cfg.get("allow_data_mismatch", False)),
                          "allow_data_mismatch=true"):
        print(f"[eval] note: {run_dir} recorded no data identity; {datamodule.path} is taken "
              "on trust as the file it trained on")
    if cfg.mode == "transfer":
        from bold5000_ae.training.callbacks.transfer_readout import evaluate_trained

        return evaluate_trained(model, datamodule, cfg.evaluation, out)
    from bold5000_ae.evaluation.baselines import summary_lines, with_verdict

    metrics = with_verdict(test_metrics(model, datamodule, cfg.split, out,
                                        cfg.get("accelerator", "auto")), cfg.split)
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"\nrun: {run_dir} ({checkpoint_file(checkpoint).name}, {cfg.split} split)")
    for key in (f"{cfg.split}/{m}" for m in ("r2", "pearson_r", "mse", "auc")):
        if key in metrics:
            print(f"  {key:<16} {metrics[key]:.4f}")
    for line in summary_lines(metrics, cfg.split):
        print(line)
    print(f"[eval] wrote {out / 'metrics.json'}")
    print(f"[eval] (every metric, in an eval folder of its own; the run's folder {run_dir} is "
          "left as it was)")
    return metrics


@config_errors_exit_2  # config typos exit 2
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
