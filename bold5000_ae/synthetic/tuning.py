"""Voxel tuning and haemodynamics of the brain generator (``brain.py``).

Every visual voxel v has a preferred point mu_v in the six-factor image space (category plus
five measured visual statistics), factor gains g_v and a width tau. Its response to image i is
Gaussian tuning with saturation,

    u_v(i) = exp(-sum_k g_vk^2 (f_ik - mu_vk)^2 / (2 tau^2)),
    resp_v(i) = A_v * (e + (1 - e) * tanh(s u_v(i)) / tanh(s)),

with e the image-independent evoked fraction, s the saturation and A_v = effect_pct/100 *
baseline_v * w_v (w_v the region weight, 0 outside the regions). The HRF is a double gamma whose
peak time varies smoothly over voxels and per subject inside ``hrf_peak_range_s``.

Gains: the category gain is the region's (``REGION_GAINS``). Of the five visual factors each voxel
is tuned to ``factors_per_voxel`` (m): the m with the largest g_rk * exp(z_vk), z_v smooth random
fields shared by the group (plus subject deviations), get gain 1, the others 0 (the voxel is
invariant to them). m = 0 keeps the region gains on every factor (broad tuning, nearly linear).
Why nonlinear: a linear map of image factors to voxels is what PCA recovers exactly. Why
conjunctions of a few factors with narrow tuning: broad tuning over all factors at once is
nearly linear over the images (PCA-8 kept 96% of such a signal, docs/synthetic.md); voxels that
each read a different pair of factors through a narrow bump spread the signal over many linear
dimensions, while an 8-dimensional nonlinear code (six factors, trial gain, volume offset)
still describes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, shift
from scipy.stats import gamma

# Factor gains per region: category, luminance, contrast, orientation, spatial freq., warmth.
REGION_GAINS = {
    "EVC": (0.1, 1.0, 1.0, 1.0, 1.0, 0.6),
    "LOC": (0.4, 0.3, 0.5, 0.6, 0.6, 0.3),
    "FFA": (0.6, 0.2, 0.3, 0.3, 0.3, 0.3),
    "PPA": (0.5, 0.3, 0.4, 0.5, 0.8, 0.4),
    "RSC": (0.4, 0.4, 0.3, 0.4, 0.5, 0.3),
    "OPA": (0.4, 0.3, 0.5, 0.8, 0.6, 0.3),
}
# Preferred category per region (+1 living, -1 non-living): faces/bodies vs places.
REGION_CATEGORY = {"EVC": 0.0, "LOC": 0.3, "FFA": 1.0, "PPA": -1.0, "RSC": -1.0, "OPA": -0.7}
HRF_BINS = 5


def smooth_field(rng: np.random.Generator, grid: tuple[int, ...], sigma_vox: float
                 ) -> np.ndarray:
    """Unit-variance Gaussian random field smoothed with ``sigma_vox``."""
    f = gaussian_filter(rng.standard_normal(grid), sigma_vox)
    return (f - f.mean()) / (f.std() + 1e-12)


@dataclass
class GroupMaps:
    """What every subject shares: tuning centres, amplitude and HRF-peak fields."""

    centres: np.ndarray  # (6, X, Y, Z)
    amplitude: np.ndarray  # (X, Y, Z), log-normal around 1
    peak: np.ndarray  # (X, Y, Z) in [0, 1]
    selectivity: np.ndarray  # (5, X, Y, Z): which visual factors a voxel is tuned to


def group_maps(rng: np.random.Generator, grid: tuple[int, int, int], sigma_vox: float
               ) -> GroupMaps:
    return GroupMaps(centres=np.stack([smooth_field(rng, grid, sigma_vox) for _ in range(6)]),
                     amplitude=np.exp(0.3 * smooth_field(rng, grid, sigma_vox)),
                     peak=smooth_field(rng, grid, sigma_vox),
                     selectivity=np.stack([smooth_field(rng, grid, sigma_vox)
                                           for _ in range(5)]))


@dataclass
class SubjectTuning:
    """One subject's visual voxels (indices into the mask's voxels) and their parameters."""

    voxels: np.ndarray  # indices into the in-mask voxel vector
    amplitude: np.ndarray  # A_v, baseline units
    centres: np.ndarray  # (n, 6)
    gains: np.ndarray  # (n, 6)
    hrf_bin: np.ndarray  # (n,) index into the HRF peak bins
    peaks_s: np.ndarray  # (HRF_BINS,)


def subject_tuning(rng: np.random.Generator, group: GroupMaps, mask: np.ndarray,
                   weights: np.ndarray, label: np.ndarray, regions: list[str],
                   baseline: np.ndarray, shift_vox: np.ndarray, spec: object,
                   sigma_vox: float) -> SubjectTuning:
    """Group maps plus this subject's deviations, moved by its misregistration."""
    dev = spec.subject_deviation
    grid = mask.shape

    def own(field: np.ndarray) -> np.ndarray:
        mixed = (field + dev * smooth_field(rng, grid, sigma_vox)) / np.sqrt(1 + dev ** 2)
        return shift(mixed, shift_vox, order=1, mode="nearest")

    centres = np.stack([own(c) for c in group.centres])
    amplitude = shift(group.amplitude, shift_vox, order=1, mode="nearest")
    peak = own(group.peak) + dev * rng.standard_normal()  # a subject-wide HRF offset too
    inside = weights[mask] > 0
    voxels = np.flatnonzero(inside)
    lab = label[mask][inside]
    cat_pref = np.array([REGION_CATEGORY[regions[k]] for k in lab])
    centre_v = centres[:, mask][:, inside].T.copy()
    centre_v[:, 0] = cat_pref + 0.5 * centre_v[:, 0]
    gains = np.array([REGION_GAINS[regions[k]] for k in lab])
    m = int(getattr(spec, "factors_per_voxel", 0))
    if m > 0:
        z = np.stack([own(f) for f in group.selectivity])[:, mask][:, inside].T
        score = np.log(np.maximum(gains[:, 1:], 1e-6)) + z
        chosen = np.argsort(-score, axis=1)[:, :m]
        gains[:, 1:] = 0.0
        np.put_along_axis(gains[:, 1:], chosen, 1.0, axis=1)
    amp = (spec.effect_pct / 100 * baseline[mask][inside] * weights[mask][inside]
           * amplitude[mask][inside])
    lo, hi = spec.hrf_peak_range_s
    p = peak[mask][inside]
    rank = (np.argsort(np.argsort(p)) + 0.5) / max(len(p), 1)  # uniform over the range
    hrf_bin = np.minimum((rank * HRF_BINS).astype(int), HRF_BINS - 1)
    return SubjectTuning(voxels, amp, centre_v, gains, hrf_bin,
                         np.linspace(lo, hi, HRF_BINS))


def responses(tuning: SubjectTuning, factors: np.ndarray, spec: object) -> np.ndarray:
    """(images, visual voxels) response amplitudes, baseline units."""
    diff = factors[:, None, :] - tuning.centres[None]
    d2 = ((tuning.gains[None] * diff) ** 2).sum(-1)
    u = np.exp(-d2 / (2 * spec.tuning_width ** 2))
    s = spec.saturation
    shaped = np.tanh(s * u) / np.tanh(s) if s > 0 else u
    e = spec.evoked_fraction
    return tuning.amplitude[None] * (e + (1 - e) * shaped)


def hrf(t: np.ndarray, peak_s: float) -> np.ndarray:
    """Double-gamma HRF with its maximum at ``peak_s`` (undershoot 1/6 at peak + 10 s),
    scaled to a maximum of 1."""
    scale = 0.9
    main = gamma.pdf(t, peak_s / scale + 1, scale=scale)
    under = gamma.pdf(t, (peak_s + 10) / scale + 1, scale=scale)
    grid = np.arange(0, 40, 0.05)
    ref = (gamma.pdf(grid, peak_s / scale + 1, scale=scale)
           - gamma.pdf(grid, (peak_s + 10) / scale + 1, scale=scale) / 6).max()
    return (main - under / 6) / ref


def run_signal(tuning: SubjectTuning, resp: np.ndarray, onsets: np.ndarray,
               frame_times: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """(frames, visual voxels) stimulus-driven signal of one run: each trial's response,
    scaled by its trial gain, through each voxel's HRF (1 s events, sampled at mid-event)."""
    out = np.zeros((len(frame_times), len(tuning.voxels)))
    lag = frame_times[:, None] - onsets[None] - 0.5
    for b, peak in enumerate(tuning.peaks_s):
        cols = tuning.hrf_bin == b
        if cols.any():
            h = np.where(lag > 0, hrf(np.maximum(lag, 0), peak), 0.0)
            out[:, cols] = h @ (gains[:, None] * resp[:, cols])
    return out
