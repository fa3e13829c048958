"""Train the autoencoder a transfer or image→latent run starts from, when none is given.

Why here and not as a separate command: ``experiment=phase3_transfer`` must run end to end on
its own. The autoencoder sees the same file and the same split as the run that uses it (only
its training groups, labeled or not), so nothing from the held-out groups leaks into the
encoder. Its best checkpoint (by validation loss) and metrics go to ``pretrain.output_dir``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig

from bold5000_ae.data.datamodule import BoldDataModule


def autoencoder_data(datamodule: BoldDataModule) -> BoldDataModule:
    """The same file, split and normalisation rule, every sample, no images."""
    dm = BoldDataModule(path=datamodule.path, split=datamodule.split,
                        batch_size=datamodule.batch_size, num_workers=datamodule.num_workers,
                        cache=datamodule.cache, normalize=datamodule.normalize)
    dm.setup()
    return dm


def pretrain_autoencoder(cfg: DictConfig, datamodule: Any) -> Path:
    """Fit ``cfg.model`` for ``cfg.max_epochs`` and return the best checkpoint's path."""
    from bold5000_ae.models.build import build_model

    out = Path(cfg.output_dir)
    dm = autoencoder_data(datamodule)
    model = build_model(cfg.model, dm)
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val/loss",
                           mode="min", save_top_k=1)
    trainer = L.Trainer(max_epochs=int(cfg.max_epochs), accelerator=cfg.get("accelerator", "auto"),
                        devices=1, precision=cfg.get("precision", "32-true"),
                        logger=CSVLogger(out, name="csv"), callbacks=[best],
                        enable_progress_bar=False, enable_model_summary=False,
                        log_every_n_steps=5)
    trainer.fit(model, datamodule=dm)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    return Path(best.best_model_path)
