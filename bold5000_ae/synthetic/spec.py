"""The generators' parameters: one frozen dataclass each, kept verbatim in ground_truth.json.

``BrainSpec`` drives the brain generator (``brain.py``, the default dataset); ``EasySpec`` the easy
one (``easy.py``, fast unit tests). Two dataclasses because the brain generator's brain geometry,
calibrated noise model and voxel tuning mean nothing to the easy model, and the easy model's fields
keep their meaning. ``generator`` names the model (``"brain"`` or ``"easy"``) so a config
(conf/spec/*.yaml) selects one; ``check_common`` holds the checks both share. Calibration sources
are in docs/synthetic.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bold5000_ae.synthetic.design import check_design
from bold5000_ae.utils.errors import InputError

# Literature MNI centres (mm) of the visual regions, left hemisphere; right = x mirrored.
# EVC: calcarine V1/V2; LOC: Malach et al. 1995 / Grill-Spector et al. 2001; FFA (fusiform):
# Kanwisher et al. 1997; PPA: Epstein & Kanwisher 1998; RSC: Epstein 2008; OPA (TOS):
# Dilks et al. 2013. Values are typical group peaks, rounded; see docs/synthetic.md.
VISUAL_ROIS: dict[str, tuple[float, float, float]] = {
    "EVC": (-10.0, -90.0, 2.0),
    "LOC": (-44.0, -76.0, -6.0),
    "FFA": (-40.0, -54.0, -18.0),
    "PPA": (-26.0, -46.0, -8.0),
    "RSC": (-16.0, -56.0, 12.0),
    "OPA": (-34.0, -82.0, 20.0),
}


@dataclass(frozen=True)
class BrainSpec:
    """Everything that decides a brain-generator dataset (noise amplitudes are in the units of
    the baseline, which is median-scaled to 10000 like the real sample volumes)."""

    generator: str = "brain"
    grid: tuple[int, int, int] = (24, 28, 24)
    voxel_size_mm: tuple[float, float, float] = (6.5, 6.5, 6.5)
    subjects: int = 1
    sessions: int = 2
    # one count for every session, or one per session (BOLD5000: 9 or 10)
    runs_per_session: int | tuple[int, ...] = 3
    trials_per_run: int = 37
    tr: float = 2.0
    volumes_per_run: int = 194
    unique_images: int = 200
    # 0: repeats fill the trials left after every image is shown once; R > 0: R images are
    # shown repeat_presentations times (BOLD5000's design; design.py)
    repeated_images: int = 0
    repeat_presentations: int = 4
    living_fraction: float = 0.5
    image_size: int = 32
    baseline: float = 10000.0
    # noise (fmrisim-style components; noise_std scales all of them, 0 = noise-free)
    noise_std: float = 1.0
    temporal_noise: float = 52.0
    system_fraction: float = 0.45
    noise_fwhm_mm: float = 6.8
    ar_rho: float = 0.05
    drift_pct: float = 0.6
    physio_fraction: float = 0.05
    motion_mm: float = 0.08
    # signal
    rois: tuple[str, ...] = ("EVC", "LOC", "FFA", "PPA", "RSC", "OPA")
    roi_sigma_mm: float = 10.0
    roi_cutoff: float = 0.1
    effect_pct: float = 7.0
    evoked_fraction: float = 0.1
    tuning_width: float = 0.4
    factors_per_voxel: int = 2
    saturation: float = 2.0
    trial_gain_sd: float = 0.15
    hrf_peak_range_s: tuple[float, float] = (4.0, 6.0)
    subject_deviation: float = 0.5
    misregistration_mm: float = 3.0
    map_smoothness_mm: float = 8.0
    write_noiseless: bool = True
    seed: int = 0
    # true: each run draws from its own generator seeded by (seed, subject, session, run), so
    # runs can be written in parallel (bold5000-ae-synth n_jobs) with the same result for any
    # n_jobs; false: one stream through all runs (the default data, as it has always been)
    seed_per_run: bool = False
    source_mix: dict[str, float] = field(
        default_factory=lambda: {"imagenet": 0.6, "coco": 0.25, "scenes": 0.15})

    def __post_init__(self) -> None:
        check_common(self)
        check_design(self)
        for name in ("noise_std", "temporal_noise", "drift_pct", "physio_fraction", "motion_mm",
                     "effect_pct", "trial_gain_sd", "subject_deviation", "misregistration_mm"):
            if getattr(self, name) < 0:
                raise InputError(f"spec.{name}", f"must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.system_fraction <= 1 or not 0 <= self.ar_rho < 1:
            raise InputError("spec", "system_fraction must lie in [0, 1] and ar_rho in [0, 1)")
        unknown = [r for r in self.rois if r not in VISUAL_ROIS]
        if unknown:
            raise InputError("spec.rois", f"unknown region(s) {', '.join(unknown)}; valid: "
                                          f"{', '.join(VISUAL_ROIS)}")
        if not 0 <= self.factors_per_voxel <= 5:
            raise InputError("spec.factors_per_voxel", f"must lie in 0..5, got "
                                                       f"{self.factors_per_voxel}")
        lo, hi = self.hrf_peak_range_s
        if not 0 < lo <= hi:
            raise InputError("spec.hrf_peak_range_s", f"need 0 < low <= high, got {lo}, {hi}")


@dataclass(frozen=True)
class EasySpec:
    """Everything that decides an easy-generator dataset."""

    generator: str = "easy"
    grid: tuple[int, int, int] = (24, 28, 24)
    voxel_size_mm: tuple[float, float, float] = (6.0, 6.0, 6.0)
    subjects: int = 1
    sessions: int = 2
    runs_per_session: int = 3
    trials_per_run: int = 37
    tr: float = 2.0
    volumes_per_run: int = 194
    unique_images: int = 200
    living_fraction: float = 0.5
    category_effect: float = 0.5
    category_jitter: float = 0.8
    image_effect: float = 1.0
    n_features: int = 6
    noise_std: float = 1.0
    drift_amplitude: float = 0.02
    anatomy_scale: float = 100.0
    map_smoothness_vox: float = 2.0
    image_size: int = 32
    sample_offsets_s: tuple[float, ...] = (4.0, 6.0, 8.0)
    seed: int = 0
    source_mix: dict[str, float] = field(
        default_factory=lambda: {"imagenet": 0.6, "coco": 0.25, "scenes": 0.15})

    def __post_init__(self) -> None:
        check_common(self)


def check_common(spec: object) -> None:
    """Checks both generators share: a bad grid or size is one line naming the field."""
    grid = tuple(spec.grid)
    if len(grid) != 3 or any(int(n) < 4 for n in grid):
        raise InputError("spec.grid", f"need three sizes >= 4, got {list(grid)}")
    if len(spec.voxel_size_mm) != 3 or any(v <= 0 for v in spec.voxel_size_mm):
        raise InputError("spec.voxel_size_mm", f"need three sizes > 0, got "
                                               f"{list(spec.voxel_size_mm)}")
    runs = spec.runs_per_session
    counts = [runs] if isinstance(runs, int) else list(runs)
    if not isinstance(runs, int) and getattr(spec, "generator", "") != "brain":
        raise InputError("spec.runs_per_session",
                         "one count per session needs the brain generator (spec=brain)")
    if not counts or any(int(r) < 1 for r in counts):
        raise InputError("spec.runs_per_session", f"must be >= 1, got {runs}")
    for name in ("subjects", "sessions", "trials_per_run", "unique_images", "image_size"):
        if int(getattr(spec, name)) < 1:
            raise InputError(f"spec.{name}", f"must be >= 1, got {getattr(spec, name)}")
    if spec.noise_std < 0:
        raise InputError("spec.noise_std", f"must be >= 0, got {spec.noise_std}")
    if not 0 <= spec.living_fraction <= 1:
        raise InputError("spec.living_fraction", f"must lie in [0, 1] (a fraction of the "
                                                 f"images), got {spec.living_fraction}")
    if spec.tr <= 0:
        raise InputError("spec.tr", f"must be > 0, got {spec.tr}")
    last_onset = 6.0 + 10.0 * (spec.trials_per_run - 1) + 8.0
    if spec.volumes_per_run * spec.tr <= last_onset:
        raise InputError("spec.volumes_per_run", f"{spec.volumes_per_run} volumes of "
                         f"{spec.tr} s end before the last trial's volumes ({last_onset} s)")
