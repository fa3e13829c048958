"""Lightning callbacks: what runs inside ``trainer.fit`` / ``trainer.test`` (each named by
``conf/callbacks/*.yaml``, an experiment or a search config). Hydra callbacks, which look
after run folders and sweeps, are in ``cli/hydra_callbacks.py`` and ``training/run_dir.py``."""
