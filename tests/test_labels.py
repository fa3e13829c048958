"""Living / non-living labels: WordNet on the real files, COCO, scenes and tables on tiny ones."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from bold5000_ae.prepare.labeler_factory import build_labeler
from bold5000_ae.prepare.labels import (
    LIVING,
    NON_LIVING,
    UNKNOWN,
    CocoLabeler,
    CompositeLabeler,
    LabelTableLabeler,
    ScenesLabeler,
    WordNetLabeler,
)
from bold5000_ae.prepare.stimuli import parse_image_name, read_stimulus_list
from bold5000_ae.utils.errors import InputError

# Where the WordNet rule and the third-party supercategory file disagree (9 of 895 synsets).
DISAGREEMENTS = {
    "n04296562": ("person", NON_LIVING),  # stage: a platform, the third party's error
    "n09229709": ("person", UNKNOWN),  # bubble
    "n11879895": ("plant", UNKNOWN),  # rapeseed (seed, not plant)
    "n12144580": ("plant", UNKNOWN),  # corn (grain)
    "n12267677": ("plant", UNKNOWN),  # acorn
    "n12620546": ("plant", UNKNOWN),  # rose hip
    "n12768682": ("plant", UNKNOWN),  # buckeye (nut)
    "n13133613": ("plant", UNKNOWN),  # ear, spike
    "n15075141": ("artifact", UNKNOWN),  # toilet tissue
}


@pytest.fixture(scope="module")
def wordnet(shared_bold5000: Path) -> WordNetLabeler:
    return WordNetLabeler(shared_bold5000 / "labels" / "wordnet.is_a.txt")


@pytest.fixture(scope="module")
def supercategories(shared_bold5000: Path) -> dict[str, str]:
    table = pd.read_csv(
        shared_bold5000 / "labels" / "imagenet_super_categories.txt", sep=" ", header=None
    )
    return dict(zip(table[0], table[1]))


def test_first_trial_is_a_living_nematode(shared_bold5000: Path, wordnet: WordNetLabeler) -> None:
    events = pd.read_csv(
        shared_bold5000 / "events" / "sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv", sep="\t"
    )
    first = events[events["Trial"] == 1].iloc[0]
    ref = parse_image_name(first["ImgName"], first["ImgType"])
    assert ref.image_name == "n01930112_19568.JPEG"
    assert wordnet.label_image(ref) == LIVING


def test_wordnet_counts_on_bold5000_synsets(
    wordnet: WordNetLabeler, supercategories: dict[str, str]
) -> None:
    labels = {s: wordnet.label_synset(s) for s in supercategories}
    assert len(labels) == 958
    assert Counter(labels.values()) == {LIVING: 380, NON_LIVING: 510, UNKNOWN: 68}
    assert not wordnet.ambiguous & set(labels)  # no BOLD5000 synset reaches both roots

    expected = {"animal": LIVING, "plant": LIVING, "person": LIVING, "artifact": NON_LIVING}
    compared = {s: c for s, c in supercategories.items() if c in expected}
    disagree = {s: (c, labels[s]) for s, c in compared.items() if labels[s] != expected[c]}
    assert len(compared) == 895
    assert disagree == DISAGREEMENTS
    assert 1 - len(disagree) / len(compared) == pytest.approx(886 / 895)
    # Foods and natural scenes reach neither root, as the README warns.
    assert {labels[s] for s, c in supercategories.items() if c in ("food", "scene")} == {UNKNOWN}


def test_wordnet_counts_on_csi1_images(shared_bold5000: Path, wordnet: WordNetLabeler) -> None:
    names = read_stimulus_list(shared_bold5000 / "stim_lists" / "CSI1_stim_lists.txt")
    refs = {parse_image_name(n).image_name: parse_image_name(n) for n in names}
    imagenet = [r for r in refs.values() if r.source == "imagenet"]
    assert len(imagenet) == 1916
    counts = Counter(wordnet.label_image(r) for r in imagenet)
    assert counts == {LIVING: 760, NON_LIVING: 1020, UNKNOWN: 136}


def test_unresolved_policy_non_living(
    shared_bold5000: Path, supercategories: dict[str, str]
) -> None:
    labeler = WordNetLabeler(
        shared_bold5000 / "labels" / "wordnet.is_a.txt", unresolved_policy="non_living"
    )
    counts = Counter(labeler.label_synset(s) for s in supercategories)
    assert counts == {LIVING: 380, NON_LIVING: 578}


def test_wordnet_strictness_and_wrong_source(
    shared_bold5000: Path, wordnet: WordNetLabeler
) -> None:
    ghost = parse_image_name("n99999999_1.JPEG")
    with pytest.raises(InputError, match="cannot label image n99999999_1.JPEG: synset not in"):
        wordnet.label_image(ghost)
    lenient = WordNetLabeler(shared_bold5000 / "labels" / "wordnet.is_a.txt", strict=False)
    assert lenient.label_image(ghost) == UNKNOWN
    with pytest.raises(InputError, match="ImageNet only"):
        wordnet.label_image(parse_image_name("airplanecabin1.jpg"))


def test_wordnet_walks_all_parents(tmp_path: Path) -> None:
    path = tmp_path / "is_a.txt"
    edges = [
        ("n00004258", "n00000010"),  # living thing -> a
        ("n00021939", "n00000020"),  # artifact -> b
        ("n00000020", "n00000030"),  # b -> c
        ("n00000099", "n00000030"),  # unrelated second parent of c
        ("n00000010", "n00000040"),  # a -> both (also child of c)
        ("n00000030", "n00000040"),
        ("n00000099", "n00000050"),  # reaches neither root
    ]
    path.write_text("\n".join(f"{p} {c}" for p, c in edges) + "\n")
    labeler = WordNetLabeler(path)
    assert labeler.label_synset("n00000030") == NON_LIVING  # found through one of two parents
    assert labeler.label_synset("n00000040") == LIVING  # both roots: living first
    assert labeler.ambiguous == {"n00000040"}
    assert labeler.label_synset("n00000050") == UNKNOWN
    path.write_text("n00004258 n00000010 extra\n")
    with pytest.raises(InputError, match="is_a.txt: line 1: expected 'parent child'"):
        WordNetLabeler(path)
    with pytest.raises(InputError, match="absent.txt: WordNet is_a file not found"):
        WordNetLabeler(tmp_path / "absent.txt")


def _coco_file(path: Path, names: dict[int, str], objects: dict[int, list[int]]) -> Path:
    categories = [
        {"id": 1, "name": "person", "supercategory": "person"},
        {"id": 3, "name": "car", "supercategory": "vehicle"},
        {"id": 18, "name": "dog", "supercategory": "animal"},
        {"id": 47, "name": "cup", "supercategory": "kitchen"},
    ]
    images = [{"id": i, "file_name": n} for i, n in names.items()]
    annotations = [
        {"id": k, "image_id": i, "category_id": c}
        for k, (i, c) in enumerate((i, c) for i, cs in objects.items() for c in cs)
    ]
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def _coco(i: int) -> str:
    return f"COCO_train2014_{i:012d}.jpg"


@pytest.fixture
def coco_json(tmp_path: Path) -> Path:
    names = {i: _coco(i) for i in range(1, 7)}
    objects = {1: [1, 1], 2: [18], 3: [3, 47], 4: [1, 3], 5: [], 6: [18, 47]}
    return _coco_file(tmp_path / "instances.json", names, objects)


@pytest.mark.parametrize(
    ("policy", "mixed"), [("living", LIVING), ("non_living", NON_LIVING), ("exclude", UNKNOWN)]
)
def test_coco_rule(coco_json: Path, policy: str, mixed: int) -> None:
    labeler = CocoLabeler([coco_json], mixed_policy=policy)
    got = [labeler.label_image(parse_image_name(_coco(i))) for i in range(1, 8)]
    # person, dog, car+cup, person+car, no objects, dog+cup, absent from the file
    assert got == [LIVING, LIVING, NON_LIVING, mixed, UNKNOWN, mixed, UNKNOWN]


def test_coco_matches_2017_names_by_id_and_merges_files(tmp_path: Path) -> None:
    a = _coco_file(tmp_path / "a.json", {3: "000000000003.jpg"}, {3: [3]})
    b = _coco_file(tmp_path / "b.json", {9: _coco(9)}, {9: [18]})
    labeler = CocoLabeler([a, b])
    assert labeler.label_image(parse_image_name(_coco(3))) == NON_LIVING
    assert labeler.label_image(parse_image_name("rep_" + _coco(9))) == LIVING
    assert CocoLabeler(None).label_image(parse_image_name(_coco(3))) == UNKNOWN


def test_coco_bad_inputs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match="broken.json: not valid JSON"):
        CocoLabeler(broken)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"images": [], "categories": []}))
    with pytest.raises(InputError, match="partial.json: not a COCO instances file.*annotations"):
        CocoLabeler(partial)
    with pytest.raises(InputError, match="nothere.json: COCO instances file not found"):
        CocoLabeler([tmp_path / "nothere.json"])
    with pytest.raises(InputError, match="coco_mixed_policy: .*valid: living, non_living, exclude"):
        CocoLabeler(None, mixed_policy="maybe")  # type: ignore[arg-type]


def test_scenes_policies() -> None:
    scene = parse_image_name("airplanecabin1.jpg")
    assert ScenesLabeler().label_image(scene) == UNKNOWN
    assert ScenesLabeler("non_living").label_image(scene) == NON_LIVING
    with pytest.raises(InputError, match="scenes_policy: unknown policy 'living'"):
        ScenesLabeler("living")  # type: ignore[arg-type]


def test_label_table(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("image_name\tlabel\n# comment\na.png\t1\nb.png\tnon_living\nc.png\tunknown\n")
    table = LabelTableLabeler(path)
    assert table.labels == {"a.png": LIVING, "b.png": NON_LIVING, "c.png": UNKNOWN}
    assert table.label_image(parse_image_name("rep_b.png")) == NON_LIVING
    assert parse_image_name("d.png") not in table
    path.write_text("a.png\t1\na.png\t0\n")
    with pytest.raises(InputError, match="line 2: conflicting labels for a.png"):
        LabelTableLabeler(path)
    path.write_text("a.png\tanimal\n")
    with pytest.raises(InputError, match="labels.tsv: line 1: .*living, non_living, unknown"):
        LabelTableLabeler(path)


def test_composite_dispatch_and_describe(tmp_path: Path, coco_json: Path) -> None:
    table = tmp_path / "t.tsv"
    table.write_text(f"{_coco(3)}\tliving\nsynth.png\t0\n")
    composite = CompositeLabeler(coco=CocoLabeler(coco_json), table=LabelTableLabeler(table))
    assert composite.label(parse_image_name(_coco(3))) == LIVING  # table wins over COCO
    assert composite.label(parse_image_name(_coco(2))) == LIVING
    assert composite.label(parse_image_name("synth.png", "unknown")) == NON_LIVING
    assert composite.label(parse_image_name("other.png", "unknown")) == UNKNOWN
    assert composite.label(parse_image_name("n01930112_19568.JPEG")) == UNKNOWN  # no WordNet
    assert composite.label(parse_image_name("airplanecabin1.jpg")) == UNKNOWN
    described = json.loads(json.dumps(composite.describe()))
    assert described["coco"]["files"] == [str(coco_json)]
    assert described["table"]["entries"] == 2
    assert described["imagenet"] is None and described["scenes"]["policy"] == "exclude"


def test_build_labeler(shared_bold5000: Path) -> None:
    cfg = {
        "wordnet_is_a": str(shared_bold5000 / "labels" / "wordnet.is_a.txt"),
        "unresolved_policy": "non_living",
        "scenes_policy": "non_living",
    }
    labeler = build_labeler(cfg)
    assert labeler.label(parse_image_name("n01930112_19568.JPEG")) == LIVING
    assert labeler.label(parse_image_name("n07695742_5848.JPEG")) == NON_LIVING  # a food
    assert labeler.label(parse_image_name("airplanecabin1.jpg")) == NON_LIVING
    assert labeler.describe()["imagenet"]["unresolved_policy"] == "non_living"
    assert build_labeler({}).label(parse_image_name("n01930112_19568.JPEG")) == UNKNOWN


def test_build_labeler_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unresolved_policy: .*'drop'; valid: exclude, non_living"):
        build_labeler({"unresolved_policy": "drop"})
    with pytest.raises(InputError, match="unknown keys \\['wordnet'\\]; valid: wordnet_is_a"):
        build_labeler({"wordnet": "x"})
    with pytest.raises(InputError, match="gone.tsv: label table not found"):
        build_labeler({"table": str(tmp_path / "gone.tsv")})
