"""Benchmarks of the data path and the training step; see README.md here.

Importable without Hydra, OmegaConf, nilearn or scikit-learn so that the GPU check runs on a bare
machine with torch, lightning and h5py (nibabel is needed only for the seed-style data path).
"""
