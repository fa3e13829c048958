"""Metrics, cross-validated read-outs and baselines: how every number is computed."""
