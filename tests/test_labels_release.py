"""Labels from the release's own files: the COCO pickle (read safely), ImageNet, scenes."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import release_tree as rt

from bold5000_ae.prepare.labeler_factory import build_labeler
from bold5000_ae.prepare.labels import WordNetLabeler
from bold5000_ae.prepare.labels_release import (
    CocoAnnotationsLabeler,
    ImagenetReleaseLabeler,
    coco_supercategories,
    safe_load_pickle,
    shipped_imagenet_labels,
)
from bold5000_ae.prepare.stimuli import parse_image_name
from bold5000_ae.utils.errors import InputError

PREPARE = Path(sys.executable).with_name("bold5000-ae-prepare")


class _Payload:
    """Pickles as a call of ``func(*args)``: what a tampered file would carry."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _malicious(path: Path, marker: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump({420713: [_Payload(os.system, f"touch {marker}")]}, fh)


@pytest.mark.parametrize("payload", ["system", "eval"])
def test_malicious_pickle_is_refused_without_running_code(tmp_path: Path, payload: str) -> None:
    marker, path = tmp_path / "pwned", tmp_path / "coco_final_annotations.pkl"
    if payload == "system":
        _malicious(path, marker)
        refused = f"{os.system.__module__}.system"
    else:  # builtins are not admitted wholesale: only containers and scalars
        with open(path, "wb") as fh:
            pickle.dump(_Payload(eval, f"open({str(marker)!r}, 'w')"), fh)
        refused = "builtins.eval"
    with pytest.raises(InputError, match=f"refused to unpickle {refused}: only builtin"):
        safe_load_pickle(path)
    assert not marker.exists()


@pytest.mark.subprocess
def test_prepare_refuses_tampered_release_pickle(tmp_path: Path) -> None:
    tree = tmp_path / "release1"
    rt.write_stimuli(tree)
    rt.write_release1(tree)
    marker = tmp_path / "pwned"
    pkl = tree / "BOLD5000_Stimuli/Image_Labels/coco_final_annotations.pkl"
    _malicious(pkl, marker)
    out = tmp_path / "roi.h5"
    result = subprocess.run([str(PREPARE), "source=roi", f"source.root={tree}", f"output={out}"],
                            capture_output=True, text=True, timeout=180, cwd=tmp_path,
                            env={**os.environ, "PROJECT_ROOT": str(tmp_path / "project")})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {pkl}: refused to unpickle {os.system.__module__}.system: only builtin "
        "containers, scalars and numpy arrays are allowed (tampered file?)"]
    assert not marker.exists() and not out.exists()


def test_safe_pickle_admits_containers_scalars_and_arrays(tmp_path: Path) -> None:
    data = {1: [{"a": np.arange(3.0), "b": np.float64(2.5), "c": (1, "x"), "d": {2, 3},
                 "e": None, "f": b"raw", "g": 1 + 2j}]}
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"ok{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        loaded = safe_load_pickle(path)
        np.testing.assert_array_equal(loaded[1][0]["a"], [0.0, 1.0, 2.0])
        assert loaded[1][0]["d"] == {2, 3} and loaded[1][0]["b"] == 2.5
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="junk.pkl: not a readable pickle"):
        safe_load_pickle(tmp_path / "junk.pkl")


def test_coco_labels_from_release_pickle(tmp_path: Path) -> None:
    stim = rt.write_stimuli(tmp_path)
    pkl = stim / "Image_Labels/coco_final_annotations.pkl"
    coco = [(name, label) for name, source, label, _ in rt.POOL if source == "coco"]
    labeler = CocoAnnotationsLabeler(pkl)
    assert [labeler.label_image(parse_image_name(n)) for n, _ in coco] == [e for _, e in coco]
    # the image with a dog and a chair follows the mixed policy
    mixed = parse_image_name("COCO_train2014_000000029114.jpg")
    assert CocoAnnotationsLabeler(pkl, mixed_policy="exclude").label_image(mixed) == -1
    assert CocoAnnotationsLabeler(pkl, mixed_policy="non_living").label_image(mixed) == 0


def test_coco_pickle_shapes(tmp_path: Path) -> None:
    path = tmp_path / "a.pkl"
    ann = {"category_id": 18, "image_id": 5}
    path.write_bytes(pickle.dumps({5: {"annotations": [ann]}}))  # the README's shape
    assert CocoAnnotationsLabeler(path).label_image(
        parse_image_name("COCO_train2014_000000000005.jpg")) == 1
    for bad, problem in [([ann], "expected a dict image id -> annotations, found list"),
                         ({5: [{"image_id": 5}]}, "image 5: expected a list of annotation dicts"),
                         ({5: [{"category_id": 95}]}, "image 5: unknown COCO category 95"),
                         ({"x": [ann]}, "expected integer COCO image ids as keys, found 'x'")]:
        path.write_bytes(pickle.dumps(bad))
        with pytest.raises(InputError, match=f"a.pkl: {problem}"):
            CocoAnnotationsLabeler(path)


def test_shipped_coco_table_matches_public_supercategories(shared_bold5000: Path) -> None:
    table = coco_supercategories()
    shared = dict(line.split() for line in
                  (shared_bold5000 / "labels/coco_super_categories.txt").read_text().splitlines())
    assert {str(k): v for k, v in table.items()} == shared
    living = sorted(k for k, v in table.items() if v in ("person", "animal"))
    assert living == [1, *range(16, 26)]


def test_shipped_imagenet_walk_matches_wordnet(shared_bold5000: Path) -> None:
    """The shipped table is the WordNet walk of the 958 BOLD5000 synsets, and agrees with a
    third party's hand-made supercategories where those are unambiguous."""
    shipped = shipped_imagenet_labels()
    wordnet = WordNetLabeler(shared_bold5000 / "labels/wordnet.is_a.txt")
    kinds = {1: "living", 0: "non_living", -1: "unresolved"}
    assert shipped == {s: kinds[wordnet.label_synset(s)] for s in shipped}
    third_party = dict(line.split() for line in (
        shared_bold5000 / "labels/imagenet_super_categories.txt").read_text().splitlines())
    assert set(shipped) == set(third_party) and len(shipped) == 958
    disagree = {s for s, c in third_party.items()
                if (c in ("animal", "plant", "person") and shipped[s] != "living")
                or (c == "artifact" and shipped[s] != "non_living")}
    # The third party calls "stage" and "bubble" persons; WordNet files seeds and fruits
    # (rapeseed, corn, acorn, rose hip, buckeye, ear) under plant parts, not living things,
    # and toilet tissue under paper (a material), not artifact.
    assert disagree == {"n04296562", "n09229709", "n11879895", "n12144580", "n12267677",
                        "n12620546", "n12768682", "n13133613", "n15075141"}


def test_imagenet_from_release_file(tmp_path: Path) -> None:
    stim = rt.write_stimuli(tmp_path)
    path = stim / "Image_Labels/imagenet_final_labels.txt"
    labeler = ImagenetReleaseLabeler(path)
    imagenet = [(n, e) for n, s, e, _ in rt.POOL if s == "imagenet"]
    assert [labeler.label_image(parse_image_name(n)) for n, _ in imagenet] == \
        [e for _, e in imagenet]
    pretzel = parse_image_name("n07695742_5848.JPEG")
    assert ImagenetReleaseLabeler(path, unresolved_policy="non_living").label_image(pretzel) == 0
    with pytest.raises(InputError, match="synset n02108551 not in the release's ImageNet labels"):
        labeler.label_image(parse_image_name("n02108551_26574.JPEG"))


def test_build_labeler_finds_release_files_and_records_scene_policy(tmp_path: Path) -> None:
    rt.write_stimuli(tmp_path)
    labeler = build_labeler({"release_root": str(tmp_path), "scenes_policy": "non_living"})
    got = [labeler.label(parse_image_name(n)) for n, *_ in rt.POOL]
    want = [e if s != "scenes" else 0 for _, s, e, _ in rt.POOL]
    assert got == want
    rule = labeler.describe()
    assert rule["scenes"] == {"rule": "scenes -> policy (exclude: unknown, -1)",
                              "policy": "non_living"}
    assert rule["coco"]["images"] == 3
    # nothing below the root: every source unknown, as before
    empty = build_labeler({"release_root": str(tmp_path / "BOLD5000_Stimuli/Scene_Stimuli")})
    assert {empty.label(parse_image_name(n)) for n, *_ in rt.POOL} == {-1}
