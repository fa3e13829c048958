"""Lightning's model summary, without a FLOPs count it did not measure.

Why: Lightning counts FLOPs by running ``example_input_array`` through the model; a model without
one got a FLOPs column of zeros and "Total FLOPs: 0", which reads as a measurement. This summary
shows the FLOPs where Lightning counted them and leaves the column and the total out otherwise
(the step's real FLOPs: ``make bench``, experiments/benchmarks/).
"""

from __future__ import annotations

import logging
from typing import Any

from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import _format_summary_table

log = logging.getLogger(__name__)
FLOPS_LINE = "total flops"  # Lightning writes "Total Flops"


class MeasuredFlopsSummary(ModelSummary):
    """``ModelSummary`` whose FLOPs appear only when they were counted (non-zero)."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int,
                  trainable_parameters: int, model_size: float,
                  total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        if not total_flops:
            summary_data = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = _format_summary_table(total_parameters, trainable_parameters, model_size,
                                      total_training_modes, total_flops, *summary_data)
        if not total_flops:
            table = "\n".join(line for line in table.splitlines()
                              if not line.strip().lower().endswith(FLOPS_LINE))
        log.info("\n" + table)
