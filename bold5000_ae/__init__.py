"""bold5000_ae: learning from BOLD5000 fMRI volumes with Lightning and Hydra.

The OmegaConf resolvers the configs in ``conf/`` use (``project_root``, ``local_config_dir``,
``run_name``; ``bold5000_ae.utils.config``) are registered by the Hydra plugin package
``hydra_plugins.bold5000_ae_resolvers`` whenever Hydra starts, so the compose API works from a
script or a notebook with nothing imported first.
"""

__version__ = "0.1.0"
