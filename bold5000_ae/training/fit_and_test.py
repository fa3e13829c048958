"""Fit, test and record one run in its claimed folder: seed, datamodule, model, trainer;
the test beside the training mean, PCA-k and the ceilings (the twin's and the repeats'); the
example brain figure; metrics.json and the printed summary.

Why apart from ``cli/train.py``: torch and Lightning load with this module, so the entry point
imports it only after the config and the run folder have passed their checks; a refused run
answers in about a second instead of after the seconds those imports take."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.multi_subject import MultiSubjectDataModule
from bold5000_ae.evaluation.baselines import model_baselines, summary_lines, with_verdict
from bold5000_ae.evaluation.ceiling import ceiling_metrics
from bold5000_ae.evaluation.noise_ceiling import repeat_ceiling_metrics, summary_line
from bold5000_ae.evaluation.oracle import oracle_scores
from bold5000_ae.evaluation.subject_baselines import per_subject_baselines
from bold5000_ae.training.callbacks.optuna_pruning import pruned_epoch
from bold5000_ae.training.pipeline import build_trainer, model_for_run, scalar_metrics
from bold5000_ae.training.preemption import preemption_guard
from bold5000_ae.training.resume_path import resolve_ckpt_path
from bold5000_ae.training.run_dir import run_status
from bold5000_ae.viz.brain import brain_panels
from bold5000_ae.viz.figures import log_figure
from bold5000_ae.viz.tensorboard import hyperparameters, log_hparams


def fit_and_test(cfg: DictConfig, out_dir: Path) -> dict[str, float]:
    """Fit and test the configured model in ``out_dir`` (claimed by ``claim_run_dir``); return
    the metrics (also written to metrics.json)."""
    if cfg.get("seed") is not None:  # after the checks: seed=abc is one line, not a traceback
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), out_dir, cfg.get("auto_resume", False))
    model = model_for_run(cfg, datamodule)
    trainer = build_trainer(cfg)
    hparams = OmegaConf.to_container(cfg, resolve=True)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    if trainer.is_global_zero:
        out_dir.mkdir(parents=True, exist_ok=True)
        datamodule.split_table().to_csv(out_dir / "split.csv", index=False)

    # read once, by Lightning: weights only, other architectures refused in one line (see
    # training/checkpoint_io.py and BoldModule.on_load_checkpoint)
    with preemption_guard(trainer, out_dir):  # SIGTERM: checkpoint, status.json, exit 143
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = scalar_metrics(trainer.callback_metrics)
    pruned_at = pruned_epoch(trainer)  # an Optuna search stopped it: no test, never ranked
    if cfg.get("test") and pruned_at is None:
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True)
        metrics.update(scalar_metrics(trainer.callback_metrics))
        # training mean, PCA-k, the ceiling, on the same test rows; for several subjects,
        # each reference per subject on its own voxels, pooled (the twins: experiments/few_shot/)
        if trainer.is_global_zero and isinstance(datamodule, MultiSubjectDataModule):
            metrics.update(with_verdict({**metrics, **per_subject_baselines(
                datamodule, int(model.core.latent_dim))}))
        elif trainer.is_global_zero and isinstance(datamodule, BoldDataModule):
            metrics.update(ceiling_metrics(datamodule, oracle=oracle_scores))  # the twin
            metrics.update(repeat_ceiling_metrics(datamodule))  # repeated images, no twin needed
            metrics.update(with_verdict({**metrics, **model_baselines(model, datamodule)}))
        # brain slices need a 3D grid: none for ROI columns (mask (V, 1, 1))
        if (trainer.is_global_zero and hasattr(model, "example_volumes") and model.example
                and min(datamodule.mask.shape) > 1):
            true, recon = model.example_volumes()
            (out_dir / "figures").mkdir(parents=True, exist_ok=True)
            # the sweep report's slice montage reads every run's example volume; the affine and
            # mask place it in the brain (bold5000_ae.viz.brain)
            np.savez_compressed(out_dir / "figures" / "example.npz", true=true, recon=recon,
                                affine=datamodule.affine, mask=datamodule.mask)
            fig = brain_panels(true, recon, datamodule.affine, datamodule.mask,
                               out_dir / "figures" / "reconstruction.png",
                               sample="test sample 0 (first of the test split)")
            log_figure(trainer.loggers, "test/reconstruction", fig, trainer.global_step)
    truth = getattr(datamodule, "ground_truth", {})
    metrics.update({f"ground_truth/{k}": v for k, v in truth.items()
                    if isinstance(v, int | float)})
    metrics.update(run_status(trainer))  # max_epochs=0: "status": "untrained"
    if pruned_at is not None:
        metrics.update({"status": "pruned", "optuna/pruned_at_epoch": pruned_at})
    if trainer.is_global_zero:
        overrides = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
        log_hparams(trainer.loggers, hyperparameters(hparams, overrides), metrics,
                    trainer.global_step)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        print_summary(metrics, out_dir)
    return metrics



def print_summary(metrics: dict[str, float], out_dir: Path) -> None:
    shown = [k for k in ("test/r2", "test/pearson_r", "test/mse", "val/r2", "test/auc",
                          "eval/cv/encoder/test_run_fold_auc") if k in metrics]
    print(f"\noutputs: {out_dir}")
    if metrics.get("status") == "untrained":
        print("  status           untrained: no optimizer step ran (trainer.max_epochs=0 or an "
              "empty training split); the numbers below are an untrained model's")
    for key in shown:
        print(f"  {key:<16} {metrics[key]:.4f}")
    if "ceiling/test/r2" in metrics:
        print(f"  {'ceiling R²':<16} {metrics['ceiling/test/r2']:.4f} (the noise-free twin, "
              "prepared alike, on these test rows)")
    elif "ground_truth/noise_ceiling_r2" in metrics:
        print(f"  {'noise ceiling R²':<16} {metrics['ground_truth/noise_ceiling_r2']:.4f} "
              "(planted signal before cleaning; not a bound on these rows)")
    if line := summary_line(metrics):  # NC% from repeated images (noise_ceiling.py)
        print(line)
    for line in summary_lines(metrics):
        print(line)
