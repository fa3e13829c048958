"""nilearn cleaning of one BIDS run: the options, the confounds file and the masked, cleaned rows.

One module so the BIDS source only finds runs and picks volumes, and every choice that changes
the cleaned values (filter, confounds, the cosine-with-confounds workaround) sits in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import make_first_level_design_matrix
from nilearn.maskers import NiftiMasker

from bold5000_ae.utils.errors import InputError


def clean_options(smoothing_fwhm: float | None, detrend: bool, high_pass: float | None,
                  high_pass_filter: Literal["cosine", "butterworth"],
                  standardize: bool) -> dict[str, Any]:
    """``NiftiMasker`` keyword arguments for the chosen cleaning."""
    if high_pass_filter not in ("cosine", "butterworth"):
        raise InputError("high_pass_filter", f"unknown filter {high_pass_filter!r}; valid: "
                                             "cosine, butterworth")
    return dict(smoothing_fwhm=smoothing_fwhm, detrend=detrend, high_pass=high_pass,
                # cosine: DCT drift regressors, one least-squares solve for all voxels (SPM's
                # way); butterworth: one sosfiltfilt per voxel, 50x slower at 88 x 88 x 66
                # (docs/scaling.md). No high-pass: no filter (nilearn's cosine wants a cut-off).
                clean_args={"filter": high_pass_filter if high_pass else False},
                standardize="zscore_sample" if standardize else None)


def high_pass_filter_name(clean_kwargs: dict[str, Any]) -> str | None:
    """The filter recorded in the file's attributes: None when nothing is high-passed."""
    return clean_kwargs["clean_args"]["filter"] or None


def read_confounds(path: Path, columns: Sequence[str], n_volumes: int) -> pd.DataFrame:
    """The chosen columns of an fMRIPrep-style ``*_desc-confounds_timeseries.tsv``."""
    if not path.is_file():
        raise InputError(path, "confounds file not found")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(path, f"missing confound column(s) {', '.join(missing)}")
    if len(table) != n_volumes:
        raise InputError(path, f"{len(table)} rows but the run has {n_volumes} volumes")
    return table[list(columns)].fillna(0.0)  # fMRIPrep leaves the first derivative empty


def with_cosine_drift(confounds: pd.DataFrame, tr: float, high_pass: float,
                      clean_kwargs: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The confounds with nilearn's cosine drift regressors appended, and the cleaning options
    without its cosine filter: the same high-pass, regressed jointly with the confounds.

    Why: nilearn (0.14) skips its whole cosine filter, with only a warning, when any confound
    column correlates above 0.9 with one of its cosines ("Cosine filter(s) exist in user supplied
    confounds"). A slowly drifting motion trace does that, and such a run kept its drift.
    """
    frame_times = np.arange(len(confounds)) * tr
    drift = make_first_level_design_matrix(frame_times, drift_model="cosine",
                                           high_pass=high_pass).drop(columns="constant")
    joined = pd.concat([confounds.reset_index(drop=True), drift.reset_index(drop=True)], axis=1)
    return joined, {**clean_kwargs, "high_pass": None,
                    "clean_args": {**clean_kwargs["clean_args"], "filter": False}}


def clean_run(img: nib.Nifti1Image, mask_img: nib.Nifti1Image, tr: float,
              confounds: pd.DataFrame | None, clean_kwargs: dict[str, Any]) -> np.ndarray:
    """(T, V) float32 rows of the run inside the mask, cleaned by nilearn."""
    if confounds is not None and clean_kwargs["clean_args"]["filter"] == "cosine":
        confounds, clean_kwargs = with_cosine_drift(confounds, tr, clean_kwargs["high_pass"],
                                                    clean_kwargs)
    masker = NiftiMasker(mask_img=mask_img, t_r=tr, target_affine=mask_img.affine,
                         target_shape=mask_img.shape, **clean_kwargs)
    return masker.fit_transform(img, confounds=confounds).astype(np.float32)
