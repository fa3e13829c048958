"""Comparison reports of Hydra multiruns: ``bold5000-ae-report <multirun dir>``."""

from bold5000_ae.report.build import Report, ReportSettings, build_report
from bold5000_ae.report.collect import collect_runs

__all__ = ["Report", "ReportSettings", "build_report", "collect_runs"]
