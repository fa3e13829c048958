"""Per-subject linear adapters between each subject's own voxels and one common width.

Why linear: subjects differ by where their regions sit (misregistration), how strongly each
voxel responds and which voxels their masks hold; a linear map per subject can absorb all
three, so the shared network behind it sees one space. It is also the smallest thing that can be
fitted from one session of a new subject (MindEye2's recipe: a shared model, a per-subject
linear layer). The input adapter starts at zero (``blocks.zero_linear`` says why: few rows,
thousands of voxels); the output adapter starts at PyTorch's default.

Subjects are keyed by their number as a string (``nn.ModuleDict`` keys must be strings), so a
checkpoint names the subject each adapter belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from bold5000_ae.models.components.blocks import zero_linear


class SubjectAdapters(nn.Module):
    """``encode(x, s)``: (B, V_s) → (B, width); ``decode(h, s)``: (B, width) → (B, V_s)."""

    def __init__(self, n_voxels: Mapping[int, int], width: int) -> None:
        super().__init__()
        self.width = int(width)
        self.inputs = nn.ModuleDict()
        self.outputs = nn.ModuleDict()
        for subject, n in n_voxels.items():
            self.add_subject(int(subject), int(n))

    @property
    def subjects(self) -> list[int]:
        return sorted(int(k) for k in self.inputs)

    def add_subject(self, subject: int, n_voxels: int) -> None:
        """Fresh adapters for ``subject`` (replacing any it had)."""
        self.inputs[str(subject)] = zero_linear(n_voxels, self.width)
        self.outputs[str(subject)] = nn.Linear(self.width, n_voxels)

    def _check(self, subject: int) -> str:
        key = str(int(subject))
        if key not in self.inputs:
            raise KeyError(f"no adapter for subject {subject}; have {self.subjects}")
        return key

    def encode(self, bold: torch.Tensor, subject: int) -> torch.Tensor:
        return self.inputs[self._check(subject)](bold)

    def decode(self, hidden: torch.Tensor, subject: int) -> torch.Tensor:
        return self.outputs[self._check(subject)](hidden)

    def parameters_of(self, subject: int) -> list[nn.Parameter]:
        key = self._check(subject)
        return [*self.inputs[key].parameters(), *self.outputs[key].parameters()]
