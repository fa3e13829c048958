"""bold5000_ae: learning from BOLD5000 fMRI volumes with Lightning and Hydra."""

__version__ = "0.1.0"
