"""The tiny synthetic BOLD5000 the fixtures build once per session, and how it is prepared."""

from __future__ import annotations

import json
from pathlib import Path

from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.synthetic import EasySpec

SHARED_BOLD5000 = Path(__file__).resolve().parents[2].parent / "shared" / "bold5000"

# Small enough for seconds, large enough to hold 4 runs for group splits.
TINY_SPEC = EasySpec(grid=(12, 14, 12), voxel_size_mm=(8.0, 8.0, 8.0), sessions=2,
                     runs_per_session=2, trials_per_run=8, volumes_per_run=50,
                     unique_images=24, image_size=16, seed=3)


def prepare_synthetic(raw: Path, output: Path, **source_kwargs) -> dict:
    """Prepare a synthetic raw folder the way source=synthetic does."""
    source = BidsSource(raw / "bids", mask=str(raw / "bids/derivatives/masks/"
                                               "sub-CSI{subject}_brainmask.nii.gz"),
                        **source_kwargs)
    truth = json.loads((raw / "ground_truth.json").read_text())
    return prepare_dataset(source, output,
                           stimuli_root=raw / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli",
                           image_size=16, labels={"table": str(raw / "labels.tsv")},
                           extra_attrs={"ground_truth": truth})
