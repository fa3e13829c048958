"""The brain generator (spec=brain): brain geometry, signal only in visual regions, calibrated
noise, subjects that differ, and a ceiling measured on the prepared noise-free twin."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.evaluation.ceiling import ceiling_metrics, twin_path
from bold5000_ae.synthetic import BrainSpec, generate, make_spec
from bold5000_ae.synthetic.images import global_statistics, render_images
from bold5000_ae.synthetic.tuning import REGION_GAINS, group_maps, hrf, subject_tuning
from bold5000_ae.utils.errors import InputError
from experiments.synthetic_brain.measure import build, pca_r2

# one xdist worker runs this module: its module-scoped tiny_brain is built once
pytestmark = pytest.mark.xdist_group("synthetic_brain")

# The default model on a coarse grid with few, short runs: seconds, same mechanisms.
TINY_BRAIN = BrainSpec(grid=(16, 18, 16), voxel_size_mm=(10.0, 10.0, 10.0), sessions=2,
                       runs_per_session=2, trials_per_run=8, volumes_per_run=50,
                       unique_images=24, image_size=16, seed=4)
REPO = Path(__file__).resolve().parents[1]
FUNC = "bids/sub-CSI{s}/ses-01/func/sub-CSI{s}_ses-01_task-5000scenes_run-01_{kind}"


@pytest.fixture(scope="module")
def tiny_brain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("brain") / "raw"
    generate(root, TINY_BRAIN)
    return root


@pytest.mark.parametrize(("values", "field"), [
    ({"grid": [0, 28, 24]}, "spec.grid"), ({"noise_std": -1}, "spec.noise_std"),
    ({"voxel_size_mm": [6, 0, 6]}, "spec.voxel_size_mm"), ({"rois": ["V9"]}, "spec.rois"),
    ({"generator": "v3"}, "spec.generator"), ({"volumes_per_run": 20}, "spec.volumes_per_run")])
def test_bad_spec_is_one_error_naming_the_field(values: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        make_spec(values)
    assert str(err.value).startswith(f"{field}: ")
    with pytest.raises(InputError, match=r"^spec\.grid: "):
        make_spec({"generator": "easy", "grid": [0, 28, 24]})


def test_synth_cli_bad_grid_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    from hydra.core.global_hydra import GlobalHydra

    from bold5000_ae.cli.synth import synth
    from tests.helpers.hydra import compose_config

    cfg = compose_config("synth", [f"output_dir={tmp_path / 'x'}", "spec.grid=[0,28,24]"],
                         tmp_path)
    with pytest.raises(SystemExit) as stop:
        synth(cfg)
    GlobalHydra.instance().clear()
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: spec.grid: need three sizes >= 4, got [0, 28, 24]"
    assert not (tmp_path / "x").exists()


def test_presets_compose_to_their_generators(tmp_path: Path) -> None:
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from tests.helpers.hydra import compose_config

    specs = {}
    for preset in ("brain", "easy", "grid88"):
        cfg = compose_config("synth", [f"spec={preset}"], tmp_path)
        specs[preset] = make_spec(OmegaConf.to_container(cfg.spec, resolve=True))
        GlobalHydra.instance().clear()
    assert specs["brain"] == BrainSpec()  # the config mirrors the constructor's defaults
    assert specs["easy"].generator == "easy"
    assert specs["grid88"].grid == (88, 88, 66) and specs["grid88"].generator == "brain"


def test_brain_mask_is_the_mni_brain(tiny_brain: Path) -> None:
    truth = np.load(tiny_brain / "ground_truth.npz")
    mask, affine = truth["mask"], truth["affine"]
    # MNI152 brain volume is ~1.5-1.9 litres; at 10 mm voxels that is 1500-1900 voxels
    assert 1300 < mask.sum() < 2100
    ijk = np.argwhere(mask)
    xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    assert xyz[:, 1].min() < -90 and xyz[:, 1].max() > 50  # occipital pole to frontal lobe
    assert abs(xyz[:, 0].mean()) < 5  # left-right symmetric


def test_no_planted_stimulus_variance_outside_visual_regions(tmp_path: Path) -> None:
    spec = replace(TINY_BRAIN, noise_std=0.0, subjects=2, misregistration_mm=6.0)
    generate(tmp_path / "raw", spec)
    truth = np.load(tmp_path / "raw/ground_truth.npz")
    for s in (1, 2):
        data = np.asarray(nib.load(tmp_path / "raw" / FUNC.format(s=s, kind="bold.nii.gz"))
                          .dataobj)
        variance = np.ptp(data, axis=-1)  # any change over time at all
        visual = truth[f"sub-CSI{s}_roi_weight"] > 0
        outside = truth["mask"] & ~visual
        assert outside.sum() > 3 * visual.sum() > 0
        assert variance[outside].max() == 0.0
        assert (variance[visual] > 0).mean() > 0.9
    # misregistration: the subjects' visual regions are not the same voxels
    assert not np.array_equal(truth["sub-CSI1_roi_weight"] > 0, truth["sub-CSI2_roi_weight"] > 0)


BOLD5000_ROIS = ["EarlyVis", "LOC", "FFA", "PPA", "RSC", "OPA"]


def test_visual_roi_masks_in_the_bold5000_format(tiny_brain: Path) -> None:
    """Per subject, LH/RH masks named as BOLD5000's ROI files and their union, in both trees;
    the union is exactly the voxels with planted stimulus variance."""
    truth = np.load(tiny_brain / "ground_truth.npz")
    visual = truth["sub-CSI1_roi_weight"] > 0
    for tree in ("bids", "noiseless/bids"):
        folder = tiny_brain / tree / "derivatives/masks"
        union = np.zeros_like(visual, dtype=int)
        x = None
        for roi in BOLD5000_ROIS:
            for hemi in ("LH", "RH"):
                img = nib.load(folder / f"sub-CSI1_mask-{hemi}{roi}.nii.gz")
                m = np.asarray(img.dataobj) > 0
                np.testing.assert_allclose(img.affine, truth["affine"])
                if x is None:
                    x = (np.argwhere(np.ones_like(m)) @ img.affine[:3, :3].T
                         + img.affine[:3, 3])[:, 0].reshape(m.shape)
                if m.any():  # left ROIs lie left of the midline (MNI x < 0)
                    assert (x[m].mean() < 0) == (hemi == "LH")
                union += m
        assert union.max() == 1  # no voxel in two ROIs
        combined = np.asarray(nib.load(folder / "sub-CSI1_mask-visual.nii.gz").dataobj) > 0
        assert np.array_equal(combined, union > 0)
        assert np.array_equal(combined, visual) and visual.sum() > 0


def test_default_preparation_keeps_the_visual_rois(tmp_path: Path) -> None:
    from hydra.core.global_hydra import GlobalHydra

    from tests.helpers.hydra import compose_config

    cfg = compose_config("prepare", [], tmp_path)  # plain bold5000-ae-prepare, as make data
    GlobalHydra.instance().clear()
    reader = cfg.source.reader
    assert reader.mask.endswith("/bids/derivatives/masks/sub-CSI{subject}_mask-visual.nii.gz")
    assert reader.standardize is False
    # the high-pass is the confounds file's cosine columns, every one a default run holds
    assert reader.high_pass is None
    assert list(reader.confounds[:6]) == ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y",
                                          "rot_z"]
    duration = BrainSpec().volumes_per_run * BrainSpec().tr
    assert list(reader.confounds[6:]) == [f"cosine{k:02d}" for k in range(int(2 * duration / 128))]
    assert "then prep=;" in (REPO / "Makefile").read_text()  # make data: this default on brain
    data = build(tmp_path / "d", replace(TINY_BRAIN, noise_std=0.0))
    truth = np.load(tmp_path / "d/raw/ground_truth.npz")
    dm = BoldDataModule(data)
    dm.setup()
    assert np.array_equal(dm.mask, truth["sub-CSI1_roi_weight"] > 0)


@pytest.mark.parametrize("m", [0, 1, 2, 3])
def test_each_voxel_is_tuned_to_factors_per_voxel_visual_factors(m: int) -> None:
    grid = (6, 7, 5)
    rng = np.random.default_rng(0)
    group = group_maps(rng, grid, 0.5)
    mask = np.ones(grid, bool)
    label = np.where(rng.random(grid) < 0.5, 0, 1).astype(np.int16)
    spec = replace(TINY_BRAIN, factors_per_voxel=m)
    tuning = subject_tuning(rng, group, mask, np.ones(grid), label, ["EVC", "FFA"],
                            np.full(grid, 100.0), np.zeros(3), spec, 0.5)
    visual = tuning.gains[:, 1:]
    region = np.array([REGION_GAINS[r] for r in ("EVC", "FFA")])[label.ravel()]
    np.testing.assert_array_equal(tuning.gains[:, 0], region[:, 0])  # category: the region's
    if m == 0:
        np.testing.assert_array_equal(visual, region[:, 1:])
    else:
        assert set(np.unique(visual)) <= {0.0, 1.0}
        assert ((visual > 0).sum(1) == m).all()
        if m < 5:  # voxels differ in which factors they read
            assert len({tuple(row) for row in visual}) > 1


def test_twin_layout_and_confounds(tiny_brain: Path) -> None:
    func = FUNC.format(s=1, kind="desc-confounds_timeseries.tsv")
    confounds = pd.read_csv(tiny_brain / func, sep="\t")
    assert list(confounds.columns[:6]) == ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y",
                                           "rot_z"]
    assert len(confounds) == TINY_BRAIN.volumes_per_run
    # fMRIPrep's cosine columns: a 128 s high-pass of this run length
    cosines = [c for c in confounds.columns if c.startswith("cosine")]
    duration = TINY_BRAIN.volumes_per_run * TINY_BRAIN.tr
    assert cosines == [f"cosine{k:02d}" for k in range(int(2 * duration / 128))] != []
    basis = confounds[cosines].to_numpy()
    np.testing.assert_allclose(basis.T @ basis, np.eye(len(cosines)), atol=1e-4)
    first = (tiny_brain / func).read_text().splitlines()[1].split("\t")
    assert first[list(confounds.columns).index("framewise_displacement")] == "n/a"  # fMRIPrep
    assert confounds[["trans_x", "trans_y", "trans_z"]].abs().max().max() > 0
    for kind in ("bold.nii.gz", "events.tsv", "desc-confounds_timeseries.tsv"):
        assert (tiny_brain / "noiseless" / FUNC.format(s=1, kind=kind)).is_file()
    events = FUNC.format(s=1, kind="events.tsv")
    assert (tiny_brain / events).read_text() == (tiny_brain / "noiseless" / events).read_text()
    noisy = np.asarray(nib.load(tiny_brain / FUNC.format(s=1, kind="bold.nii.gz")).dataobj)
    clean = np.asarray(nib.load(tiny_brain / "noiseless" / FUNC.format(s=1, kind="bold.nii.gz"))
                       .dataobj)
    resid = (noisy - clean)[np.load(tiny_brain / "ground_truth.npz")["mask"]]
    assert 0.5 * TINY_BRAIN.temporal_noise < resid.std() < 20 * TINY_BRAIN.temporal_noise


def test_living_is_not_a_global_image_statistic() -> None:
    rng = np.random.default_rng(0)
    living = rng.random(400) < 0.5
    images = render_images(rng, living, 32)
    stats = np.concatenate([global_statistics(images), images.mean((1, 2)),
                            images.std((1, 2))], axis=1)
    stats = (stats - stats.mean(0)) / stats.std(0)
    auc = cross_val_score(LogisticRegression(max_iter=2000), stats, living, cv=5,
                          scoring="roc_auc").mean()
    assert auc < 0.65


def test_factors_are_measured_on_the_written_images(tiny_brain: Path) -> None:
    from PIL import Image

    truth = np.load(tiny_brain / "ground_truth.npz")
    folder = tiny_brain / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli"
    paths = {p.name: p for p in folder.rglob("*") if p.is_file()}
    images = np.stack([np.asarray(Image.open(paths[n]).convert("RGB"))
                       for n in truth["image_names"]])
    stats = global_statistics(images)
    for k in range(5):
        r = np.corrcoef(stats[:, k], truth["image_factors"][:, k + 1])[0, 1]
        assert r > 0.95, (truth["factor_names"][k + 1], r)
    assert np.array_equal(truth["image_factors"][:, 0], np.where(truth["image_living"], 1, -1))


@pytest.mark.parametrize("peak", [4.0, 5.0, 6.0])
def test_hrf_peaks_where_asked(peak: float) -> None:
    t = np.arange(0, 30, 0.01)
    h = hrf(t, peak)
    assert t[np.argmax(h)] == pytest.approx(peak, abs=0.05)
    assert h.max() == pytest.approx(1.0, abs=1e-3) and h.min() < 0  # undershoot


def test_noise_free_data_scores_ceiling_one(tmp_path: Path) -> None:
    data = build(tmp_path, replace(TINY_BRAIN, noise_std=0.0))
    dm = BoldDataModule(data)
    dm.setup()
    ceiling = ceiling_metrics(dm)
    assert ceiling["ceiling/test/r2"] == pytest.approx(1.0, abs=1e-5)
    assert ceiling["ceiling/train/r2"] == pytest.approx(1.0, abs=1e-5)


def test_motion_alone_is_removed_by_the_confounds(tmp_path: Path) -> None:
    """Only motion as noise: prepare regresses the written confounds, so the prepared data equal
    the prepared twin (the motion term is linear in the six columns). Without the high-pass:
    with nilearn 0.14's Butterworth filter in the same call ~3% of the motion variance is left
    (measured; docs/synthetic.md), which the ceiling then counts as noise."""
    spec = replace(TINY_BRAIN, temporal_noise=0.0, drift_pct=0.0, physio_fraction=0.0,
                   motion_mm=0.3)
    data = build(tmp_path, spec, high_pass=None)
    # centred, not z-scored: outside the regions both are 0 up to float32 rounding, which a
    # per-voxel z-score would blow up to unit variance
    dm = BoldDataModule(data, normalize="mean")
    dm.setup()
    assert ceiling_metrics(dm)["ceiling/test/r2"] == pytest.approx(1.0, abs=1e-4)
    raw = np.asarray(nib.load(tmp_path / "raw" / FUNC.format(s=1, kind="bold.nii.gz")).dataobj)
    clean = np.asarray(nib.load(tmp_path / "raw/noiseless" / FUNC.format(s=1, kind="bold.nii.gz"))
                       .dataobj)
    assert np.abs(raw - clean).max() > 1.0  # the motion was there before cleaning


def test_drift_is_high_passed_in_every_run(tmp_path: Path) -> None:
    """Drift and motion only: after the default cleaning (motion and cosine columns regressed)
    no run keeps more than a small part of its drift, whatever its motion trace looks like."""
    spec = replace(TINY_BRAIN, temporal_noise=0.0, physio_fraction=0.0, drift_pct=2.0,
                   motion_mm=0.3, volumes_per_run=90, trials_per_run=8)
    data = build(tmp_path, spec)
    obs, twin = (BoldDataModule(p, normalize="none") for p in (data, twin_path(data)))
    obs.setup()
    twin.setup()
    raw = np.asarray(nib.load(tmp_path / "raw" / FUNC.format(s=1, kind="bold.nii.gz")).dataobj)
    clean = np.asarray(nib.load(tmp_path / "raw/noiseless" / FUNC.format(s=1, kind="bold.nii.gz"))
                       .dataobj)
    before = (raw - clean)[obs.mask].std()
    for name in ("train", "val", "test"):
        rows = np.flatnonzero(obs.assignment == name)
        left = obs.files.read(rows, np.float32) - twin.files.read(rows, np.float32)
        assert left.std() < 0.1 * before, name
    obs.files.close()
    twin.files.close()


def test_stale_or_standardized_twin_gives_no_ceiling(tmp_path: Path, prepared_h5: Path
                                                     ) -> None:
    import shutil

    data = build(tmp_path / "a", TINY_BRAIN)
    other = build(tmp_path / "b", replace(TINY_BRAIN, seed=TINY_BRAIN.seed + 1))
    dm = BoldDataModule(data)
    dm.setup()
    assert 0 < ceiling_metrics(dm)["ceiling/test/r2"] < 1  # its own twin
    shutil.copy(twin_path(other), twin_path(data))  # same row layout, another dataset
    with pytest.warns(UserWarning, match="does not hold the rows"):
        assert ceiling_metrics(dm) == {}
    easy = tmp_path / "easy.h5"
    shutil.copy(prepared_h5, easy)  # z-scored per run, as the conftest fixture prepares it
    dm = BoldDataModule(easy)
    dm.setup()
    assert ceiling_metrics(dm) == {}  # no twin beside it
    shutil.copy(twin_path(other), twin_path(easy))
    with pytest.warns(UserWarning, match="z-scored per run"):
        assert ceiling_metrics(dm) == {}


def test_pca_and_a_trained_model_do_not_exceed_the_ceiling(tmp_path: Path, capsys) -> None:
    """Small default-like data (the default model, 6 runs): PCA with the model's latent size
    and the conv AE trained by ``train`` stay at or below the ceiling ``train`` records."""
    from hydra.core.global_hydra import GlobalHydra

    from bold5000_ae.cli.train import train
    from tests.helpers.hydra import TINY_TRAIN, compose_config

    data = build(tmp_path / "data", replace(TINY_BRAIN, sessions=2, runs_per_session=3,
                                            trials_per_run=12, volumes_per_run=70,
                                            unique_images=40))
    cfg = compose_config("train", [f"data.path={data}", *TINY_TRAIN], tmp_path)
    metrics = train(cfg)
    GlobalHydra.instance().clear()
    ceiling = metrics["ceiling/test/r2"]
    assert 0 < ceiling < 1
    assert metrics["test/r2"] <= ceiling
    dm = BoldDataModule(data)
    dm.setup()
    assert ceiling_metrics(dm)["ceiling/test/r2"] == pytest.approx(ceiling)  # same test rows
    assert pca_r2(dm, cfg.model.net.latent_dim) <= ceiling
    assert "ceiling R²" in capsys.readouterr().out


@pytest.mark.slow
def test_default_data_pca_k_stays_below_the_ceiling(tmp_path: Path) -> None:
    """What the default data must show (BrainSpec(), prepared as `make data` does,
    the holdout-runs split of `make train`): PCA with the default latent size k reaches at most
    the ceiling minus 0.05, and PCA-8 stays below it too."""
    from omegaconf import OmegaConf

    k = int(OmegaConf.load(REPO / "conf/model/net/conv3d.yaml").latent_dim)
    data = build(tmp_path, BrainSpec())
    dm = BoldDataModule(data)
    dm.setup()
    ceiling = ceiling_metrics(dm)["ceiling/test/r2"]
    assert pca_r2(dm, k) <= ceiling - 0.05
    assert pca_r2(dm, 8) < ceiling


def test_cross_subject_auc_below_within_subject(tmp_path: Path) -> None:
    spec = replace(TINY_BRAIN, subjects=2, sessions=2, runs_per_session=2, trials_per_run=16,
                   volumes_per_run=90, unique_images=48, seed=7)
    data = build(tmp_path, spec)
    dm = BoldDataModule(data, normalize="none")
    dm.setup()
    trials = dm.trials
    with __import__("h5py").File(data, "r") as h5:
        bold = h5["bold"][()]
    # z-score within subject (each subject's own scale), as a cross-subject decoder would
    for s in (1, 2):
        rows = trials.subject.to_numpy() == s
        bold[rows] = (bold[rows] - bold[rows].mean(0)) / (bold[rows].std(0) + 1e-6)
    label, subject, session = (trials[c].to_numpy() for c in ("label", "subject", "session"))
    train = (subject == 1) & (session == 1)
    clf = LogisticRegression(C=0.01, max_iter=3000).fit(bold[train], label[train])
    within = roc_auc_score(label[(subject == 1) & (session == 2)],
                           clf.decision_function(bold[(subject == 1) & (session == 2)]))
    cross = roc_auc_score(label[(subject == 2) & (session == 2)],
                          clf.decision_function(bold[(subject == 2) & (session == 2)]))
    assert within > 0.6
    assert cross < within
    assert json.loads((tmp_path / "raw/ground_truth.json").read_text())["generator"] == "brain"
