"""bold5000_ae's Optuna sweeper for Hydra (``hydra/sweeper=optuna``, conf/hydra/sweeper/)."""
