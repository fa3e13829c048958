"""Living / non-living labels from the files the BOLD5000 release itself ships.

Why: COCO's instances JSON is not part of BOLD5000, so with it as the only COCO rule 2,000 of the
4,916 images stay unlabelled. The release's ``Image_Labels/`` folder carries what is needed:

- ``coco_final_annotations.pkl``: a pickled dict, COCO image id -> list of COCO annotation dicts
  (each with ``category_id``), as public loaders read it (some describe a dict with an
  ``annotations`` list per image; both shapes are accepted, anything else is refused). Category
  ids map to supercategories through COCO's public category table, shipped as
  ``resources/coco_categories.tsv``; person and animal count as living, as for the JSON rule.
- ``imagenet_final_labels.txt``: ``synset name, name, ...`` per line, the release's ImageNet
  synsets. Living / non-living comes from WordNet: the user's ``wordnet_is_a`` file when given,
  otherwise ``resources/imagenet_wordnet.tsv``, the WordNet hypernym walk of the 958 BOLD5000
  synsets shipped with the package (regenerated and checked against WordNet in the tests).

A pickle can run code when loaded, so the annotations are read with an unpickler that admits
only builtin containers, scalars and numpy arrays: a tampered file is refused in one line before
anything in it runs.
"""

from __future__ import annotations

import pickle
import re
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

from bold5000_ae.prepare.labels import (
    COCO_LIVING_SUPERCATEGORIES,
    LIVING,
    NON_LIVING,
    POLICY_VALUES,
    UNKNOWN,
    PathArg,
    existing_file,
)
from bold5000_ae.prepare.sources.release import find_below
from bold5000_ae.prepare.stimuli import ImageRef
from bold5000_ae.utils.errors import InputError

COCO_PKL = "coco_final_annotations.pkl"
IMAGENET_TXT = "imagenet_final_labels.txt"
# Globals a numpy array (or a set) needs to be rebuilt; nothing else is ever imported.
_ALLOWED_GLOBALS = {
    *((module, name) for module in ("builtins", "__builtin__")  # Python 3 and 2 spellings
      for name in ("set", "frozenset", "complex", "bytearray")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5
    ("_codecs", "encode"),  # how protocols 0-2 spell bytes (a numpy scalar's buffer)
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, handle: Any, path: Path) -> None:
        super().__init__(handle, encoding="latin1")  # Python 2 pickles of numpy arrays
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise InputError(self.path, f"refused to unpickle {module}.{name}: only builtin "
                                    "containers, scalars and numpy arrays are allowed "
                                    "(tampered file?)")


def safe_load_pickle(path: PathArg) -> Any:
    """Unpickle ``path`` admitting only builtin containers, scalars and numpy arrays."""
    path = existing_file(path, "pickle file")
    try:
        with open(path, "rb") as handle:
            return _RestrictedUnpickler(handle, path).load()
    except InputError:
        raise
    except Exception as exc:  # truncated or not a pickle: one line, never a traceback
        raise InputError(path, f"not a readable pickle ({type(exc).__name__}: {exc})") from None


def _resource_lines(name: str) -> list[list[str]]:
    text = resources.files("bold5000_ae.prepare.resources").joinpath(name).read_text()
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return rows[1:]  # header


def coco_supercategories() -> dict[int, str]:
    """COCO category id -> supercategory, from the shipped table."""
    return {int(row[0]): row[2] for row in _resource_lines("coco_categories.tsv")}


def shipped_imagenet_labels() -> dict[str, str]:
    """BOLD5000 ImageNet synset -> ``living`` / ``non_living`` / ``unresolved`` (WordNet walk)."""
    return {row[0]: row[1] for row in _resource_lines("imagenet_wordnet.tsv")}


def _annotation_list(path: Path, image_id: Any, value: Any) -> list[dict]:
    if isinstance(value, dict) and isinstance(value.get("annotations"), list):
        value = value["annotations"]
    if not isinstance(value, list) or not all(isinstance(a, dict) and "category_id" in a
                                              for a in value):
        raise InputError(path, f"image {image_id!r}: expected a list of annotation dicts with "
                               f"category_id, found {type(value).__name__}")
    return value


class CocoAnnotationsLabeler:
    """COCO labels from the release's ``coco_final_annotations.pkl`` (rule as ``CocoLabeler``)."""

    def __init__(self, path: PathArg, *, mixed_policy: str = "living") -> None:
        self.path, self.mixed_policy = existing_file(path, "COCO annotations file"), mixed_policy
        data = safe_load_pickle(self.path)
        if not isinstance(data, dict) or not data:
            raise InputError(self.path, f"expected a dict image id -> annotations, found "
                                        f"{type(data).__name__}")
        supercat = coco_supercategories()
        self._kinds: dict[int, set[bool]] = defaultdict(set)
        for image_id, value in data.items():
            try:
                key = int(image_id)
            except (TypeError, ValueError):
                raise InputError(self.path, f"expected integer COCO image ids as keys, found "
                                            f"{image_id!r}") from None
            for ann in _annotation_list(self.path, image_id, value):
                category = int(ann["category_id"])
                if category not in supercat:
                    raise InputError(self.path, f"image {key}: unknown COCO category "
                                                f"{category}")
                self._kinds[key].add(supercat[category] in COCO_LIVING_SUPERCATEGORIES)
            self._kinds.setdefault(key, set())

    def label_image(self, ref: ImageRef) -> int:
        digits = re.search(r"(\d+)\.\w+$", ref.image_name)
        kinds = self._kinds.get(int(digits.group(1)), set()) if digits else set()
        if len(kinds) == 2:
            return POLICY_VALUES[self.mixed_policy]
        return UNKNOWN if not kinds else LIVING if True in kinds else NON_LIVING

    def describe(self) -> dict[str, Any]:
        return {"rule": "category -> COCO supercategory (shipped table); any person/animal "
                        "object -> 1, only other objects -> 0, both -> mixed_policy, "
                        "unannotated -> -1",
                "file": str(self.path), "images": len(self._kinds),
                "mixed_policy": self.mixed_policy}


class ImagenetReleaseLabeler:
    """ImageNet labels for the synsets of ``imagenet_final_labels.txt``, by the shipped WordNet
    walk (``resources/imagenet_wordnet.tsv``). A synset missing from the release's file means
    the wrong file or a truncated one, so it is refused rather than labelled unknown."""

    def __init__(self, path: PathArg, *, unresolved_policy: str = "exclude") -> None:
        self.path, self.unresolved_policy = existing_file(path, "ImageNet label file"), \
            unresolved_policy
        self.names: dict[str, str] = {}
        for lineno, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            synset, _, names = line.strip().partition(" ")
            if not re.fullmatch(r"n\d{8}", synset):
                raise InputError(self.path, f"line {lineno}: expected 'n########  names', found "
                                            f"{line[:40]!r}")
            self.names[synset] = names.strip()
        self._walk = shipped_imagenet_labels()
        values = {"living": LIVING, "non_living": NON_LIVING,
                  "unresolved": POLICY_VALUES[unresolved_policy]}
        self._values = values

    def label_image(self, ref: ImageRef) -> int:
        if ref.synset not in self.names:
            raise InputError(self.path, f"cannot label {ref.image_name}: synset {ref.synset} "
                                        "not in the release's ImageNet labels")
        kind = self._walk.get(ref.synset)
        return UNKNOWN if kind is None else self._values[kind]

    def describe(self) -> dict[str, Any]:
        return {"rule": "synset listed in the release file; WordNet hypernyms (shipped walk) "
                        "reach living thing -> 1, artifact -> 0", "file": str(self.path),
                "unresolved_policy": self.unresolved_policy, "synsets": len(self.names)}


def find_release_labels(root: PathArg | None) -> dict[str, Path]:
    """``Image_Labels`` files below a release root: {"coco": pkl, "imagenet": txt} as found."""
    if not root or not Path(root).is_dir():
        return {}
    found = {key: find_below(Path(root), [name], prefer=("Image_Labels",
                                                         "BOLD5000_Stimuli/Image_Labels"))
             for key, name in (("coco", COCO_PKL), ("imagenet", IMAGENET_TXT))}
    return {key: path for key, path in found.items() if path is not None}
