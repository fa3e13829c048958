"""Registers the OmegaConf resolvers of bold5000_ae's configs whenever Hydra starts.

Why a Hydra plugin package: Hydra imports every module under ``hydra_plugins`` when it discovers
its plugins, before it composes a config, so ``${project_root:}`` and the others resolve in the
compose API from any script or notebook, while ``import bold5000_ae`` itself stays free of
OmegaConf (the GPU check imports the package on a machine that lacks it).
"""

from bold5000_ae.utils import config  # noqa: F401  (registers the resolvers, replace=True)
