"""Where the Hydra configs live, and the ``project_root`` resolver the path configs use.

``conf/`` sits at the repository root (installed editable). The resolvers are registered when
this module is imported, which Hydra does whenever it starts (the plugin package
``hydra_plugins.bold5000_ae_resolvers``), so ``${project_root:}`` never depends on
``HydraConfig``: ``${hydra:runtime.cwd}`` inside ``oc.env`` is resolved while a multirun's
sweep dir is built, before HydraConfig exists, and a bare ``-m`` run then fails.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = str(REPO_ROOT / "conf")


def project_root() -> str:
    """Where ``data/`` and ``logs/`` live: ``$PROJECT_ROOT`` when set, else the checkout this
    package was installed from (so a console script run from any folder finds the data
    ``make train`` prepared), else the current folder (a non-editable install)."""
    if os.environ.get("PROJECT_ROOT"):
        return str(Path(os.environ["PROJECT_ROOT"]).expanduser().resolve())
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "conf").is_dir():
        return str(REPO_ROOT)
    return os.getcwd()


OmegaConf.register_new_resolver("project_root", project_root, replace=True)


def local_config_dir() -> str:
    """``<project root>/conf`` when it exists (machine-local configs in ``conf/local/``), else
    this package's ``conf/``: Hydra warns about a search path that is not there."""
    path = Path(project_root()) / "conf"
    return str(path) if path.is_dir() else CONFIG_DIR


OmegaConf.register_new_resolver("local_config_dir", local_config_dir, replace=True)


def run_name(overrides: str, limit: int = 200) -> str:
    """A run's name from its overrides (``${hydra:job.override_dirname}``), safe as one folder
    name: ``/`` of group overrides becomes ``.``; past ``limit`` characters (a file name holds
    255 bytes) it is cut and ends with a hash of the whole, so two runs never share a name."""
    import hashlib

    name = str(overrides).replace("/", ".")
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:10]
    return name.encode()[: limit - 11].decode(errors="ignore") + "~" + digest


OmegaConf.register_new_resolver("run_name", run_name, replace=True)
