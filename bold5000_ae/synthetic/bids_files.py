"""The raw-format files both generators write the same way: image names, BOLD headers, events
and stimulus lists.

Why shared: the generated data must go through the real reading code (``prepare/sources/bids.py``,
``prepare/events.py``, ``prepare/stimuli.py``), so both generators spell names, columns and headers
as the BOLD5000 release does, in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import nibabel as nib
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bold5000_ae.synthetic.spec import BrainSpec, EasySpec

# the release's events.tsv columns, the last (reaction time) unnamed
EVENT_COLUMNS = ["onset", "duration", "Subj", "Sess", "Run", "Trial", "ImgName", "ImgType",
                 "StimOn(s)", "StimOff(s)", "Response", ""]
# image source -> its folder under BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli
SOURCE_FOLDERS = {"imagenet": "ImageNet", "coco": "COCO", "scenes": "Scene"}


def image_names(rng: np.random.Generator,
                spec: EasySpec | BrainSpec) -> tuple[list[str], list[str]]:
    """``spec.unique_images`` file names in each source's naming scheme, and their sources,
    drawn by ``spec.source_mix``."""
    kinds = rng.choice(list(spec.source_mix), size=spec.unique_images,
                       p=np.array(list(spec.source_mix.values())) / sum(spec.source_mix.values()))
    names = []
    for j, kind in enumerate(kinds):
        if kind == "imagenet":
            names.append(f"n9{j % 7:07d}_{1000 + j}.JPEG")
        elif kind == "coco":
            names.append(f"COCO_train2014_{j:012d}.jpg")
        else:
            names.append(f"synthscene{j:04d}.jpg")
    return names, list(kinds)


def bold_header(tr: float) -> nib.Nifti1Header:
    """A NIfTI header in mm and seconds whose fourth pixdim is the TR, as in the release."""
    header = nib.Nifti1Header()
    header.set_xyzt_units("mm", "sec")
    header["pixdim"][4] = tr
    return header


def write_events(path: Path, onsets: np.ndarray, sub: int, ses: int, run: int,
                 shown: list[str], kinds: list[str], rng: np.random.Generator) -> None:
    """Same columns as the real files, including the unnamed reaction-time column."""
    img_type = [("rep_" if n.startswith("rep_") else "") + k for n, k in zip(shown, kinds)]
    durations = rng.uniform(0.96, 1.0, len(onsets))
    rows = pd.DataFrame({
        "onset": onsets.round(4), "duration": durations.round(4), "Subj": sub, "Sess": ses,
        "Run": run, "Trial": np.arange(1, len(onsets) + 1), "ImgName": shown,
        "ImgType": img_type, "StimOn(s)": onsets.round(4),
        "StimOff(s)": (onsets + durations).round(4),
        "Response": rng.integers(1, 4, len(onsets)), "": rng.uniform(0.5, 4, len(onsets)).round(4),
    }, columns=EVENT_COLUMNS)
    rows.to_csv(path, sep="\t", index=False)


def write_stim_lists(root: Path, stim_lists: dict[str, list[str]]) -> None:
    """Each subject's presented names (``rep_`` marking repeats) in the release's
    ``Image_Labels/CSI{n}_stim_lists.txt``."""
    lists_dir = root / "BOLD5000_Stimuli" / "Image_Labels"
    lists_dir.mkdir(parents=True)
    for sub, presented in stim_lists.items():
        (lists_dir / f"{sub.removeprefix('sub-')}_stim_lists.txt").write_text(
            "\n".join(presented) + "\n")
