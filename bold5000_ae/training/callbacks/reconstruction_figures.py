"""A Lightning callback that shows reconstructions while a model trains, not only at the end:
every ``every_n_epochs`` validation epochs, the first validation sample, true, reconstructed
and residual (nilearn, ``brain_panels``), logged to TensorBoard / wandb at the current step.
TensorBoard's Images tab then has a slider over epochs."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only

from bold5000_ae.viz.brain import brain_panels
from bold5000_ae.viz.figures import log_figure


class ReconstructionFigures(L.Callback):
    """Log ``val/reconstruction`` every ``every_n_epochs`` epochs (and after the last one)."""

    def __init__(self, every_n_epochs: int = 5, key: str = "val/reconstruction") -> None:
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.key = key
        self._bold: torch.Tensor | None = None

    def _due(self, trainer: L.Trainer) -> bool:
        epoch = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and epoch >= trainer.max_epochs
        return epoch % self.every_n_epochs == 0 or last

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        mask = getattr(pl_module, "volume_mask", None)
        # only models that reconstruct BOLD (the AE and VAE define example_volumes)
        if (trainer.sanity_checking or not self._due(trainer) or datamodule is None
                or mask is None or not hasattr(pl_module, "example_volumes")
                or not hasattr(datamodule, "affine")):
            return
        if min(datamodule.mask.shape) < 2:  # ROI columns ((V, 1, 1)): no slices to draw
            return
        if self._bold is None:
            self._bold = next(iter(datamodule.val_dataloader()))["bold"][:1].detach().cpu()
        with torch.no_grad():
            recon = pl_module(self._bold.to(pl_module.device)).float().cpu()
        true_v = mask.to_volume(self._bold.float())[0, 0].numpy()
        recon_v = mask.to_volume(recon)[0, 0].numpy()
        figure = brain_panels(true_v, recon_v, datamodule.affine, datamodule.mask,
                              f"{trainer.default_root_dir}/figures/val_epoch_"
                              f"{trainer.current_epoch + 1:03d}.png",
                              sample=f"validation sample 0, epoch {trainer.current_epoch + 1}")
        log_figure(trainer.loggers, self.key, figure, trainer.global_step)
