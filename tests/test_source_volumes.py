"""Preprocessed single volumes: the 15 real CSI1 volumes, and the errors on small fakes."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.events import read_events
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.volumes import VolumesSource
from bold5000_ae.utils.errors import InputError

# one xdist worker runs this module: its module-scoped real_volumes_h5 is built once
pytestmark = pytest.mark.xdist_group("source_volumes")

FIRST_FIVE = ["n01930112_19568.JPEG", "n03733281_29214.JPEG", "n07695742_5848.JPEG",
              "COCO_train2014_000000420713.jpg", "COCO_train2014_000000488558.jpg"]


@pytest.fixture(scope="module")
def real_volumes_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "bold5000"
    if not shared.is_dir():
        pytest.skip(f"real BOLD5000 files not found at {shared}")
    output = tmp_path_factory.mktemp("volumes") / "csi1.h5"
    source = VolumesSource(shared / "sample_volumes", events_root=shared / "events")
    prepare_dataset(source, output, stimuli_root=None, image_size=8,
                    labels={"wordnet_is_a": str(shared / "labels/wordnet.is_a.txt")})
    return output


def test_real_events_parse_with_unnamed_last_column(shared_bold5000: Path) -> None:
    files = sorted((shared_bold5000 / "events").glob("*_events.tsv"))
    assert len(files) == 10
    for run, path in enumerate(files, 1):
        events = read_events(path)
        assert len(events) == 37 and events.Trial.tolist() == list(range(1, 38))
        assert events.columns[-1] == "reaction_time" and (events.Run == run).all()
        assert 5 < events.onset.iloc[0] < 7 and 365 < events.onset.iloc[-1] < 368


def test_real_sample_volumes_map_to_trials_1_to_5(real_volumes_h5: Path) -> None:
    data = read_prepared(real_volumes_h5)
    t = data.trials
    assert len(t) == 15 and data.mask.shape == (88, 88, 66)
    assert (t.subject == 1).all() and (t.session == 1).all() and (t.run == 1).all()
    assert t.trial.tolist() == [k // 3 + 1 for k in range(15)]
    assert t.offset_s.tolist() == [4.0, 6.0, 8.0] * 5
    shown = [data.image_names[i] for i in t.image_index[::3]]
    assert shown == FIRST_FIVE
    assert t.label.iloc[0] == 1  # n01930112: a nematode, living
    assert t.label.tolist()[::3][:3] == [1, 0, -1]  # nematode, a machine, a food (unresolved)
    # nilearn's compute_multi_epi_mask on the real volumes
    assert 95_000 < data.mask.sum() < 120_000
    volume = nib.load(Path(data.attrs["source"]["root"]) / "CSI1_session1_run1_volume1.nii.gz")
    np.testing.assert_allclose(data.bold[0], np.asanyarray(volume.dataobj)[data.mask])
    np.testing.assert_allclose(data.affine, volume.affine)


def test_real_volumes_through_the_stimulus_list(shared_bold5000: Path) -> None:
    source = VolumesSource(shared_bold5000 / "sample_volumes",
                           stim_list=str(shared_bold5000 / "stim_lists"), mode="mean",
                           mask=str(shared_bold5000 / "sample_volumes" /
                                    "CSI1_session1_run1_volume1.nii.gz"))
    unit = source.load("sub-CSI1_ses-01_run-01")
    assert unit.samples.presented_name.tolist() == FIRST_FIVE
    assert unit.bold.shape[0] == 5 and np.isnan(unit.samples.offset_s).all()


def _fake_volumes(root: Path, n: int, shape: tuple[int, ...] = (4, 5, 3)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        data = np.random.default_rng(k).normal(100, 1, shape).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)), root / f"CSI1_session1_run1_volume{k}.nii.gz")


def test_volume_errors(tmp_path: Path, shared_bold5000: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    shutil.copy(shared_bold5000 / "events/sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv",
                events)
    _fake_volumes(tmp_path / "vols", 114)  # 38 trials: the run has 37
    with pytest.raises(InputError, match="the computed mask is empty"):
        VolumesSource(tmp_path / "vols", events_root=events, mask_runs=1).mask_and_affine()
    mask = str(tmp_path / "mask.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((4, 5, 3), np.uint8), np.eye(4)), mask)
    source = VolumesSource(tmp_path / "vols", events_root=events, mask=mask)
    with pytest.raises(InputError, match="volume count does not match the events: 114 volumes "
                                         "are 38 trials, the events list 37"):
        source.load(source.units()[0])
    (tmp_path / "vols/CSI1_session1_run1_volume114.nii.gz").unlink()
    with pytest.raises(InputError, match="113 volumes is not a whole number of trials"):
        VolumesSource(tmp_path / "vols", events_root=events, mask=mask).mask_and_affine()
    shutil.rmtree(tmp_path / "vols")
    _fake_volumes(tmp_path / "vols", 6)
    nib.save(nib.Nifti1Image(np.ones((4, 5, 4), np.uint8), np.eye(4)), tmp_path / "mask.nii.gz")
    with pytest.raises(InputError, match=r"mask.nii.gz: mask grid \(4, 5, 4\) does not match"):
        VolumesSource(tmp_path / "vols", events_root=events,
                      mask=str(tmp_path / "mask.nii.gz")).mask_and_affine()
    bad = np.full((4, 5, 3), np.nan, np.float32)
    nib.save(nib.Nifti1Image(bad, np.eye(4)), tmp_path / "vols/CSI1_session1_run1_volume2.nii.gz")
    nib.save(nib.Nifti1Image(np.ones((4, 5, 3), np.uint8), np.eye(4)), tmp_path / "mask.nii.gz")
    source = VolumesSource(tmp_path / "vols", events_root=events,
                           mask=str(tmp_path / "mask.nii.gz"))
    with pytest.raises(InputError, match="volume2.nii.gz: 60 NaN or Inf voxel values"):
        source.load(source.units()[0])
