"""Helpers shared by the tests (fixtures stay in ``tests/conftest.py``): in-process Hydra
configs (``hydra``), the tiny synthetic dataset (``synthetic``) and the console scripts
(``cli``)."""
