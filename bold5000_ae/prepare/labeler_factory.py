"""``build_labeler``: the prepare config's ``labels`` mapping -> one CompositeLabeler.

Why its own module: the factory chooses between the rules of ``labels.py`` (WordNet file, COCO
instances JSON, label table) and those of ``labels_release.py`` (the files BOLD5000 ships), and
the release labelers build on ``labels.py``; kept apart, the imports point one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bold5000_ae.prepare import labels_release as rel
from bold5000_ae.prepare.labels import (
    EXCLUDE_OR_NON_LIVING,
    POLICY_VALUES,
    CocoLabeler,
    CompositeLabeler,
    Labeler,
    LabelTableLabeler,
    ScenesLabeler,
    WordNetLabeler,
    check_policy,
)
from bold5000_ae.utils.errors import InputError

LABELER_DEFAULTS: dict[str, Any] = {
    "wordnet_is_a": None, "unresolved_policy": "exclude", "wordnet_strict": True,
    "coco_instances": None, "coco_mixed_policy": "living", "scenes_policy": "exclude",
    "table": None,
    # release files (labels_release.py): found below release_root unless given
    "release_root": None, "coco_annotations": None, "imagenet_labels": None,
}


def build_labeler(cfg: Mapping[str, Any]) -> CompositeLabeler:
    """A CompositeLabeler from a mapping with defaults. ImageNet: ``wordnet_is_a``, else the
    release's ``imagenet_final_labels.txt``; COCO: ``coco_instances``, else the release's
    ``coco_final_annotations.pkl``; sources with neither label UNKNOWN."""
    unknown = sorted(set(cfg) - set(LABELER_DEFAULTS))
    if unknown:
        raise InputError("labels", f"unknown keys {unknown}; valid: {', '.join(LABELER_DEFAULTS)}")
    c = {**LABELER_DEFAULTS, **cfg}
    policy = check_policy("unresolved_policy", c["unresolved_policy"], EXCLUDE_OR_NON_LIVING)
    mixed = check_policy("coco_mixed_policy", c["coco_mixed_policy"], tuple(POLICY_VALUES))
    found = rel.find_release_labels(c["release_root"])
    pkl, txt = c["coco_annotations"] or found.get("coco"), c["imagenet_labels"] or found.get(
        "imagenet")
    imagenet: Labeler | None = None
    if c["wordnet_is_a"] is not None:
        imagenet = WordNetLabeler(c["wordnet_is_a"], unresolved_policy=policy,
                                  strict=bool(c["wordnet_strict"]))
    elif txt is not None:
        imagenet = rel.ImagenetReleaseLabeler(txt, unresolved_policy=policy)
    coco: Labeler = CocoLabeler(c["coco_instances"], mixed_policy=mixed)
    if c["coco_instances"] is None and pkl is not None:
        coco = rel.CocoAnnotationsLabeler(pkl, mixed_policy=mixed)
    table = None if c["table"] is None else LabelTableLabeler(c["table"])
    return CompositeLabeler(imagenet, coco, ScenesLabeler(c["scenes_policy"]), table)
