"""Living (1) / non-living (0) / unknown (-1) labels for BOLD5000 stimuli, one rule per source.

Why several labelers: each source carries different evidence (ImageNet a WordNet synset, COCO
object annotations, scenes none, users their own table). Labelers answer UNKNOWN rather than
guess, and ``describe()`` returns the exact rule and files, stored with the prepared data.
``labeler_factory.build_labeler`` assembles them from the prepare config.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Literal, Protocol

from bold5000_ae.prepare.stimuli import ImageRef
from bold5000_ae.utils.errors import InputError

LIVING, NON_LIVING, UNKNOWN = 1, 0, -1
LIVING_THING = "n00004258"  # WordNet "living thing, animate thing"
ARTIFACT = "n00021939"  # WordNet "artifact, artefact"
COCO_LIVING_SUPERCATEGORIES = frozenset({"person", "animal"})
POLICY_VALUES = {"living": LIVING, "non_living": NON_LIVING, "exclude": UNKNOWN}
_LABEL_NAMES = {"living": LIVING, "non_living": NON_LIVING, "unknown": UNKNOWN}
_TABLE_TOKENS = {**{str(v): v for v in _LABEL_NAMES.values()}, **_LABEL_NAMES}
EXCLUDE_OR_NON_LIVING = ("exclude", "non_living")

PathArg = str | PathLike[str]


class Labeler(Protocol):
    """What CompositeLabeler dispatches to (also the release labelers, labels_release.py)."""

    def label_image(self, ref: ImageRef) -> int: ...

    def describe(self) -> dict[str, Any]: ...


def check_policy(key: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise InputError(key, f"unknown policy {value!r}; valid: {', '.join(valid)}")
    return value


def existing_file(path: PathArg, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, f"{what} not found")
    return path


class WordNetLabeler:
    """ImageNet labels by walking WordNet hypernyms to living thing or artifact.

    All parents are followed (breadth first), since a synset can have several hypernyms. A synset
    reaching both roots is labelled LIVING (living-first) and recorded in ``ambiguous``; none of
    BOLD5000's 958 synsets does. Synsets reaching neither (foods, geological formations, fruits)
    get UNKNOWN under ``exclude`` or NON_LIVING under ``non_living``.

    ``strict=True`` (default) raises for a synset absent from the file: for BOLD5000 that means a
    wrong or truncated file, which should fail loudly rather than turn every image UNKNOWN.
    """

    def __init__(self, is_a_path: PathArg, *,
                 unresolved_policy: Literal["exclude", "non_living"] = "exclude",
                 strict: bool = True) -> None:
        self.path = existing_file(is_a_path, "WordNet is_a file")
        self.unresolved_policy = check_policy("unresolved_policy", unresolved_policy,
                                               EXCLUDE_OR_NON_LIVING)
        self.strict = strict
        self.ambiguous: set[str] = set()
        self._parents: dict[str, list[str]] = defaultdict(list)
        self._known: set[str] = set()
        self._cache: dict[str, int] = {}
        for lineno, line in enumerate(self.path.read_text().splitlines(), 1):
            parts = line.split()
            if parts and len(parts) != 2:
                raise InputError(self.path, f"line {lineno}: expected 'parent child'")
            if parts:
                self._parents[parts[1]].append(parts[0])
                self._known.update(parts)
        if not self._known:
            raise InputError(self.path, "no hypernym edges")

    def label_synset(self, synset: str) -> int:
        """LIVING, NON_LIVING or UNKNOWN for one synset (memoised)."""
        if synset in self._cache:
            return self._cache[synset]
        if synset not in self._known:
            if self.strict:
                raise InputError(self.path, f"cannot label {synset}: synset not in WordNet")
            return UNKNOWN
        seen, queue = {synset}, deque([synset])
        while queue:
            for parent in self._parents.get(queue.popleft(), ()):
                if parent not in seen:
                    seen.add(parent)
                    queue.append(parent)
        living, artifact = LIVING_THING in seen, ARTIFACT in seen
        if living and artifact:
            self.ambiguous.add(synset)
        unresolved = POLICY_VALUES[self.unresolved_policy]
        label = LIVING if living else NON_LIVING if artifact else unresolved
        self._cache[synset] = label
        return label

    def label_image(self, ref: ImageRef) -> int:
        """Label an ImageNet image by its synset (the part of the name before ``_``)."""
        if ref.synset is None:
            raise InputError(ref.presented_name, f"WordNet labels ImageNet only, not {ref.source}")
        if ref.synset not in self._known and self.strict:
            raise InputError(
                self.path, f"cannot label image {ref.image_name}: synset not in WordNet"
            )
        return self.label_synset(ref.synset)

    def describe(self) -> dict[str, Any]:
        return {
            "rule": f"WordNet hypernyms reach {LIVING_THING} -> 1, else {ARTIFACT} -> 0",
            "file": str(self.path),
            "unresolved_policy": self.unresolved_policy,
            "strict": self.strict,
        }


class CocoLabeler:
    """COCO labels from instances annotations: any person/animal object makes an image living.

    Rule: an image with only person/animal objects is LIVING; with only other objects
    NON_LIVING; with both, ``mixed_policy`` decides (default ``living``: a person or animal is in
    view, which is what the living/non-living contrast is about). Images absent from the
    annotations, or present without any object, are UNKNOWN. Images are matched by file name or,
    failing that, by the numeric COCO id, so 2014 and 2017 annotation files both work.
    """

    def __init__(self, instances_json_paths: PathArg | Sequence[PathArg] | None, *,
                 mixed_policy: Literal["living", "non_living", "exclude"] = "living") -> None:
        self.mixed_policy = check_policy("coco_mixed_policy", mixed_policy, tuple(POLICY_VALUES))
        if instances_json_paths is None:
            paths: list[PathArg] = []
        elif isinstance(instances_json_paths, str | PathLike):
            paths = [instances_json_paths]
        else:
            paths = list(instances_json_paths)
        self.paths = [existing_file(p, "COCO instances file") for p in paths]
        self._by_id: dict[int, set[bool]] = defaultdict(set)  # image id -> {is living object}
        self._id_of_name: dict[str, int] = {}
        for path in self.paths:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
            supercat = {c["id"]: c["supercategory"] for c in data["categories"]}
            self._id_of_name.update({im["file_name"]: im["id"] for im in data["images"]})
            for ann in data["annotations"]:
                if ann["category_id"] not in supercat:
                    raise InputError(path, f"annotation with unknown category {ann['category_id']}")
                is_living = supercat[ann["category_id"]] in COCO_LIVING_SUPERCATEGORIES
                self._by_id[ann["image_id"]].add(is_living)
        except json.JSONDecodeError as err:
            raise InputError(path, f"not valid JSON ({err})") from err
        except (KeyError, TypeError) as err:
            raise InputError(path, f"not a COCO instances file (missing {err})") from err

    def label_image(self, ref: ImageRef) -> int:
        image_id = self._id_of_name.get(ref.image_name)
        if image_id is None:
            digits = re.search(r"(\d+)\.\w+$", ref.image_name)
            image_id = int(digits.group(1)) if digits else None
        kinds = self._by_id.get(image_id, set()) if image_id is not None else set()
        if len(kinds) == 2:  # both living and other objects
            return POLICY_VALUES[self.mixed_policy]
        return UNKNOWN if not kinds else LIVING if True in kinds else NON_LIVING

    def describe(self) -> dict[str, Any]:
        return {
            "rule": "any person/animal object -> 1, only other objects -> 0, "
            "both -> mixed_policy, unannotated -> -1",
            "files": [str(p) for p in self.paths],
            "mixed_policy": self.mixed_policy,
        }


class ScenesLabeler:
    """Scene images show places, often with people in them, so by default they are excluded."""

    def __init__(self, policy: Literal["exclude", "non_living"] = "exclude") -> None:
        self.policy = check_policy("scenes_policy", policy, EXCLUDE_OR_NON_LIVING)

    def label_image(self, ref: ImageRef) -> int:
        return POLICY_VALUES[self.policy]

    def describe(self) -> dict[str, Any]:
        """The policy is recorded: scene labels are a choice, not evidence."""
        return {"rule": "scenes -> policy (exclude: unknown, -1)", "policy": self.policy}


class LabelTableLabeler:
    """Labels from a TSV ``image_name<TAB>label`` (1/0/-1 or living/non_living/unknown).

    The generic source: the synthetic dataset writes one, and users can bring their own labels.
    An optional header line ``image_name<TAB>label`` and ``#`` comments are skipped.
    """

    def __init__(self, path: PathArg) -> None:
        self.path = existing_file(path, "label table")
        self.labels: dict[str, int] = {}
        for lineno, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("\t")]
            if lineno == 1 and parts == ["image_name", "label"]:
                continue
            if len(parts) != 2 or parts[1].lower() not in _TABLE_TOKENS:
                valid = ", ".join(_TABLE_TOKENS)
                raise InputError(self.path, f"line {lineno}: want 'name<TAB>label' in {valid}")
            name, label = parts[0], _TABLE_TOKENS[parts[1].lower()]
            if self.labels.get(name, label) != label:
                raise InputError(self.path, f"line {lineno}: conflicting labels for {name}")
            self.labels[name] = label

    def __contains__(self, ref: ImageRef) -> bool:
        return ref.image_name in self.labels

    def label_image(self, ref: ImageRef) -> int:
        return self.labels.get(ref.image_name, UNKNOWN)

    def describe(self) -> dict[str, Any]:
        return {"rule": "label table", "file": str(self.path), "entries": len(self.labels)}


class CompositeLabeler:
    """Dispatch on ``ImageRef.source``; a label table, when given, wins for the names it holds."""

    def __init__(self, imagenet: Labeler | None = None, coco: Labeler | None = None,
                 scenes: ScenesLabeler | None = None,
                 table: LabelTableLabeler | None = None) -> None:
        self.by_source = {
            "imagenet": imagenet,
            "coco": coco,
            "scenes": scenes if scenes is not None else ScenesLabeler(),
        }
        self.table = table

    def label(self, ref: ImageRef) -> int:
        if self.table is not None and ref in self.table:
            return self.table.label_image(ref)
        labeler = self.by_source.get(ref.source)
        return UNKNOWN if labeler is None else labeler.label_image(ref)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable rule, policies and files (store it as an HDF5 attribute)."""
        out: dict[str, Any] = {
            "values": _LABEL_NAMES,
            "table": None if self.table is None else self.table.describe(),
        }
        for source, labeler in self.by_source.items():
            out[source] = None if labeler is None else labeler.describe()
        return out
