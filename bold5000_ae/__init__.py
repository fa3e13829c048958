"""bold5000_ae: learning from BOLD5000 fMRI volumes with Lightning and Hydra.

Importing the package registers the OmegaConf resolvers the configs in ``conf/`` use
(``project_root``, ``local_config_dir``, ``run_name``; ``bold5000_ae.utils.config``), so
Hydra's compose API works after ``import bold5000_ae`` alone, from a script or a notebook.
Registration uses ``replace=True``: importing twice is harmless.
"""

from bold5000_ae.utils import config as _config  # noqa: F401  (registers the resolvers)

__version__ = "0.1.0"
