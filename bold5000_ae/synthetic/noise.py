"""fMRI noise for the brain generator, in the spirit of BrainIAK's fmrisim (Ellis et al. 2020).

Why not ``brainiak`` itself: it pulls MPI, Cython extensions and TensorFlow-era dependencies
into every install for a few functions; the components below are each a few lines, draw from
our own seeded generator, and stream one run at a time. Per run, for in-mask voxel v
and frame t (sigma_T = temporal_noise * noise_std, q = system_fraction):

    spatial_t  = rho * spatial_{t-1} + sqrt(1 - rho^2) * G_fwhm * w_t      (unit variance)
    noise[t,v] = sigma_T (sqrt(1-q) spatial_t[v] + sqrt(q) z[t,v])        (AR + system)
               + p sigma_T sqrt(2) sum_{f in cardiac, resp} a_v sin(2 pi f t + phi_v)
               + B_v d/100 sum_j c_jv cos(2 pi t / P_j)                    (drift)
               - grad B_v . (T(t) + omega(t) x r_v)                         (motion)

w, z white Gaussian; a_v, phi_v, c_jv smooth random fields; T, omega the motion parameters
written to ``*_desc-confounds_timeseries.tsv`` (fMRIPrep names), so prepare can regress the
motion term out exactly (it is linear in those six columns). The file also holds fMRIPrep's
``cosine00``, ``cosine01``, ... columns: the discrete cosine basis of a 128 s high-pass
(nilearn's ``create_cosine_drift``, the basis nilearn's own cosine filter uses). Why: nilearn
(0.14) drops its own cosine regressors for a run whenever any user confound correlates > 0.9
with one of them, which a slowly drifting motion trace does in some runs; that run then keeps its
drift. Regressing the written columns gives every run the same high-pass
(conf/source/synthetic_visual.yaml).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from bold5000_ae.synthetic.tuning import smooth_field

CARDIAC_HZ, RESPIRATION_HZ = 1.17, 0.3
DRIFT_PERIODS_S = (400.0, 250.0, 160.0)
MOTION_COLUMNS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
HIGH_PASS_HZ = 1 / 128  # fMRIPrep's cut-off for its cosine columns
HEAD_RADIUS_MM = 50.0


class RunNoise:
    """Per-subject noise fields; ``draw`` makes one run's (frames, voxels) noise and motion."""

    def __init__(self, rng: np.random.Generator, mask: np.ndarray, baseline: np.ndarray,
                 coords_mm: np.ndarray, centre_mm: np.ndarray, voxel_mm: np.ndarray,
                 spec: object) -> None:
        self.rng, self.mask, self.spec = rng, mask, spec
        grid = mask.shape
        self.sigma_vox = spec.noise_fwhm_mm / 2.3548 / np.asarray(voxel_mm)
        probe = gaussian_filter(rng.standard_normal(grid), self.sigma_vox)
        self.field_scale = 1.0 / probe[mask].std()
        smooth = max(float(np.mean(self.sigma_vox)), 1.0)
        self.phys_amp = np.exp(0.3 * smooth_field(rng, grid, smooth))[mask]
        self.phys_phase = np.stack([np.pi * smooth_field(rng, grid, smooth)[mask]
                                    for _ in range(2)])
        self.drift_w = np.stack([smooth_field(rng, grid, 2 * smooth)[mask]
                                 for _ in DRIFT_PERIODS_S])
        self.base = baseline[mask]
        grads = np.stack(np.gradient(baseline, *voxel_mm), axis=-1)[mask]  # units per mm
        r = coords_mm[mask] - centre_mm
        self.motion_gain = np.concatenate([-grads, -np.cross(r, grads)], axis=1)  # (V, 6)

    def draw(self, frame_times: np.ndarray, rng: np.random.Generator | None = None
             ) -> tuple[np.ndarray, pd.DataFrame]:
        """``rng``: the run's own generator (``spec.seed_per_run``); default the subject's."""
        spec, rng = self.spec, self.rng if rng is None else rng
        n_t, n_v = len(frame_times), int(self.mask.sum())
        sigma = spec.temporal_noise * spec.noise_std
        q, rho = spec.system_fraction, spec.ar_rho
        out = np.empty((n_t, n_v), np.float64)
        state = np.zeros(n_v)
        for t in range(n_t):
            white = gaussian_filter(rng.standard_normal(self.mask.shape), self.sigma_vox)
            white = white[self.mask] * self.field_scale
            state = white if t == 0 else rho * state + np.sqrt(1 - rho ** 2) * white
            out[t] = state
        out *= sigma * np.sqrt(1 - q)
        out += sigma * np.sqrt(q) * rng.standard_normal((n_t, n_v))
        amp = spec.physio_fraction * sigma * np.sqrt(2) * self.phys_amp
        for k, hz in enumerate((CARDIAC_HZ, RESPIRATION_HZ)):
            rate = hz * (1 + 0.05 * np.cumsum(rng.standard_normal(n_t)) / np.sqrt(n_t))
            phase = 2 * np.pi * np.cumsum(rate) * (frame_times[1] - frame_times[0])
            out += amp * np.sin(phase[:, None] + self.phys_phase[k][None])
        drift = np.cos(2 * np.pi * frame_times[:, None] / np.array(DRIFT_PERIODS_S)
                       + rng.uniform(0, 2 * np.pi, len(DRIFT_PERIODS_S)))
        out += (drift @ self.drift_w) * self.base * spec.drift_pct / 100 * spec.noise_std
        motion = self._motion(n_t, rng)
        out += motion @ self.motion_gain.T
        return out, _confounds(motion, frame_times)

    def _motion(self, n_t: int, rng: np.random.Generator) -> np.ndarray:
        """(frames, 6) slow random-walk translations (mm) and rotations (rad), starting at 0."""
        scale = self.spec.motion_mm * self.spec.noise_std
        walk = gaussian_filter(np.cumsum(rng.standard_normal((n_t, 6)), 0), (2, 0))
        walk -= walk[0]
        walk /= np.sqrt(n_t)
        walk[:, :3] *= scale
        walk[:, 3:] *= scale / HEAD_RADIUS_MM
        return walk


def cosine_columns(frame_times: np.ndarray) -> pd.DataFrame:
    """fMRIPrep-style ``cosineNN`` columns: the DCT-II basis of a ``HIGH_PASS_HZ`` high-pass."""
    from nilearn.signal import create_cosine_drift

    basis = create_cosine_drift(HIGH_PASS_HZ, frame_times)[:, :-1]  # the last is the constant
    return pd.DataFrame(basis, columns=[f"cosine{k:02d}" for k in range(basis.shape[1])])


def _confounds(motion: np.ndarray, frame_times: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(motion, columns=list(MOTION_COLUMNS))
    step = np.abs(np.diff(motion, axis=0))
    fd = step[:, :3].sum(1) + HEAD_RADIUS_MM * step[:, 3:].sum(1)
    table["framewise_displacement"] = np.r_[np.nan, fd]
    return pd.concat([table, cosine_columns(frame_times)], axis=1)


def write_confounds(path: Path, table: pd.DataFrame) -> None:
    """fMRIPrep writes ``n/a`` where a value is undefined (the first FD)."""
    table.to_csv(path, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
