"""Stimulus names, lists and images, checked against the real BOLD5000 files where they exist."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from bold5000_ae.prepare.stimuli import (
    ImageRef,
    find_stimulus_image,
    load_image,
    parse_image_name,
    read_all_image_names,
    read_stimulus_list,
    repeat_indices,
)
from bold5000_ae.utils.errors import InputError


@pytest.fixture(scope="module")
def csi1_list(shared_bold5000: Path) -> list[str]:
    return read_stimulus_list(shared_bold5000 / "stim_lists" / "CSI1_stim_lists.txt")


def test_parse_names_and_types() -> None:
    ref = parse_image_name("n01930112_19568.JPEG", "imagenet")
    assert ref == ImageRef("n01930112_19568.JPEG", "n01930112_19568.JPEG", "imagenet")
    assert ref.synset == "n01930112"
    rep = parse_image_name("rep_COCO_train2014_000000113449.jpg", "rep_coco")
    assert (rep.image_name, rep.source, rep.synset) == (
        "COCO_train2014_000000113449.jpg",
        "coco",
        None,
    )
    assert parse_image_name("airplanecabin1.jpg").source == "scenes"
    assert parse_image_name("synth_0001.png", "unknown").source == "unknown"


def test_parse_rejects_bad_types() -> None:
    with pytest.raises(InputError, match="contradicts"):
        parse_image_name("COCO_train2014_000000113449.jpg", "imagenet")
    with pytest.raises(InputError, match="imagenet, coco, scenes, unknown"):
        parse_image_name("x.jpg", "places")
    with pytest.raises(InputError, match="empty"):
        parse_image_name("rep_")


def test_event_file_names_agree_with_img_type(shared_bold5000: Path) -> None:
    frames = sorted((shared_bold5000 / "events").glob("*_events.tsv"))
    assert len(frames) == 10
    events = pd.concat([pd.read_csv(p, sep="\t") for p in frames])
    refs = [parse_image_name(n, t) for n, t in zip(events["ImgName"], events["ImgType"])]
    first = refs[0]
    assert (first.image_name, first.source, first.synset) == (
        "n01930112_19568.JPEG",
        "imagenet",
        "n01930112",
    )
    assert Counter(r.source for r in refs) == {"imagenet": 148, "coco": 148, "scenes": 74}
    # Event files carry the repeat flag in ImgType only, never in ImgName.
    assert not any(r.presented_name.startswith("rep_") for r in refs)


def test_csi1_list_counts_and_repeats(csi1_list: list[str]) -> None:
    assert len(csi1_list) == 5254
    assert csi1_list[0] == "n01930112_19568.JPEG"
    refs = [parse_image_name(n) for n in csi1_list]
    assert Counter(r.source for r in refs) == {"coco": 2135, "imagenet": 2051, "scenes": 1068}
    identities = Counter(r.image_name for r in refs)
    assert len(identities) == 4916
    assert Counter(identities.values()) == {1: 4803, 4: 112, 3: 1}

    prefixed = [n.startswith("rep_") for n in csi1_list]
    order = repeat_indices(csi1_list)
    # Both definitions give the 338: 338 rep_ names, 338 presentations after the first.
    assert sum(prefixed) == 338
    assert sum(i > 0 for i in order) == 338
    assert max(order) == 3
    # ...but not on the same trials: for 77 of the 113 repeated images the rep_ prefix sits on
    # the first presentation and is missing from a later one.
    assert sum(p != (i > 0) for p, i in zip(prefixed, order)) == 154


def test_repeat_indices_counts_earlier_presentations() -> None:
    names = ["a.jpg", "rep_b.jpg", "rep_a.jpg", "b.jpg", "a.jpg", "c.jpg"]
    assert repeat_indices(names) == [0, 0, 1, 1, 2, 0]
    assert repeat_indices([]) == []


def test_read_stimulus_list_errors(tmp_path: Path) -> None:
    good = tmp_path / "list.txt"
    good.write_text("\n a.jpg \n\nrep_a.jpg\n")
    assert read_stimulus_list(good) == ["a.jpg", "rep_a.jpg"]
    missing = tmp_path / "CSI9_stim_lists.txt"
    with pytest.raises(InputError, match="CSI9_stim_lists.txt: stimulus list not found"):
        read_stimulus_list(missing)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match="no image names"):
        read_stimulus_list(empty)


def test_all_img_names(shared_bold5000: Path, csi1_list: list[str]) -> None:
    pairs = read_all_image_names(shared_bold5000 / "stim_lists" / "all_img_names.mat")
    assert len(pairs) == 4916
    assert pairs[0] == ("airplanecabin1.jpg", "scenes")
    assert Counter(s for _, s in pairs) == {"imagenet": 1916, "coco": 2000, "scenes": 1000}
    assert all(parse_image_name(n).source == s for n, s in pairs)
    assert {parse_image_name(n).image_name for n in csi1_list} == {n for n, _ in pairs}


def _write_v73(path: Path, rows: list[tuple[str, str]]) -> None:
    """A MATLAB v7.3 cell array as MATLAB writes it: HDF5 with a 512-byte header, refs to chars."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = np.empty((2, len(rows)), dtype=h5py.ref_dtype)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                chars = np.frombuffer(text.encode("utf-16-le"), dtype=np.uint16)
                refs[j, i] = f.create_dataset(f"#refs#/{i}_{j}", data=chars[:, None]).ref
        f.create_dataset("all_img_names", data=refs)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def test_all_img_names_v73_and_errors(tmp_path: Path) -> None:
    v73 = tmp_path / "v73.mat"
    _write_v73(v73, [("a.jpg", "scenes"), ("n01930112_1.JPEG", "imagenet")])
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(v73)  # proves the h5py path is the one being tested
    assert read_all_image_names(v73) == [("a.jpg", "scenes"), ("n01930112_1.JPEG", "imagenet")]

    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"names": np.zeros(3)})
    with pytest.raises(InputError, match=r"other.mat: no variable 'all_img_names' \(found: names"):
        read_all_image_names(other)
    with pytest.raises(InputError, match="not found"):
        read_all_image_names(tmp_path / "absent.mat")


def test_find_stimulus_image(tmp_path: Path) -> None:
    coco = parse_image_name("rep_COCO_train2014_000000113449.jpg")
    scene = parse_image_name("airplanecabin1.jpg")
    (tmp_path / "COCO").mkdir()
    (tmp_path / "COCO" / coco.image_name).write_bytes(b"x")
    (tmp_path / scene.image_name).write_bytes(b"x")
    assert find_stimulus_image(tmp_path, coco) == tmp_path / "COCO" / coco.image_name
    assert find_stimulus_image(tmp_path, scene) == tmp_path / scene.image_name
    assert find_stimulus_image(tmp_path, parse_image_name("n01930112_19568.JPEG")) is None


def test_load_image_centre_crops(tmp_path: Path) -> None:
    wide = np.zeros((20, 60, 3), dtype=np.uint8)
    wide[:, :20] = (255, 0, 0)
    wide[:, 20:40] = (0, 255, 0)
    wide[:, 40:] = (0, 0, 255)
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    out = load_image(path, 8)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out == (0, 255, 0)).all()  # only the green centre survives the crop

    gray = tmp_path / "gray.png"
    Image.fromarray(np.full((30, 10), 77, dtype=np.uint8)).save(gray)
    out = load_image(gray, 5)
    assert out.shape == (5, 5, 3) and (out == 77).all()


def test_load_image_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(InputError, match="bad.png: cannot read image"):
        load_image(bad, 8)
    with pytest.raises(InputError, match="missing.png: image file not found"):
        load_image(tmp_path / "missing.png", 8)
