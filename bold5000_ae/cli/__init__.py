"""Thin Hydra entry points (console scripts bold5000-ae-*) and their Hydra plumbing."""
