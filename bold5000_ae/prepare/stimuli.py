"""Stimulus identity and images: what was shown on a trial, where its file is, and its pixels.

BOLD5000 names a trial's image in three places that do not agree on spelling: the event files
(``ImgName`` without prefix, ``ImgType`` such as ``rep_coco``), the per-subject stimulus lists
(``rep_`` prefixed names) and ``all_img_names.mat`` (the 4916 unique names). Everything
downstream (labels, the image table, split grouping) keys on one identity, the name without
``rep_``, so it is parsed here once.

Note on ``rep_``: in the real lists the prefix does *not* mark "second or later presentation".
It marks all but one presentation of the 113 repeated images, and that one may come first or
last. Repeat counts are therefore computed from presentation order (:func:`repeat_indices`),
never from the prefix, although both total 338 on CSI1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import h5py
import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from bold5000_ae.prepare.provenance import note_input
from bold5000_ae.utils.errors import InputError

SOURCES = ("imagenet", "coco", "scenes", "unknown")
REPEAT_PREFIX = "rep_"
_IMAGENET = re.compile(r"^n\d{8}_\d+\.jpe?g$", re.IGNORECASE)
_COCO = re.compile(r"^COCO_(?:train|val)\d{4}_\d{12}\.jpg$", re.IGNORECASE)
# BOLD5000's Presented_Stimuli folders, one per source.
_FOLDERS = {"coco": "COCO", "imagenet": "ImageNet", "scenes": "Scene"}
# Where Presented_Stimuli may sit below a stimuli root: the folder itself, the unzipped
# BOLD5000_Stimuli, or the folder holding it.
PRESENTED_PREFIXES = ("", "Presented_Stimuli", "Scene_Stimuli/Presented_Stimuli",
                      "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli")


@dataclass(frozen=True)
class ImageRef:
    """One stimulus as presented: the name as written, its identity and its source dataset."""

    presented_name: str
    image_name: str
    source: str

    @property
    def synset(self) -> str | None:
        """WordNet synset of an ImageNet image (the part before ``_``); None for other sources."""
        return self.image_name.split("_", 1)[0] if self.source == "imagenet" else None


def _strip_repeat(text: str) -> str:
    return text[len(REPEAT_PREFIX) :] if text.startswith(REPEAT_PREFIX) else text


def infer_source(image_name: str) -> str:
    """Source from the file name alone: BOLD5000 has only three, so anything else is a scene."""
    if _IMAGENET.match(image_name):
        return "imagenet"
    if _COCO.match(image_name):
        return "coco"
    return "scenes"


def parse_image_name(name: str, img_type: str | None = None) -> ImageRef:
    """Parse a stimulus name, optionally checked against the event file's ``ImgType``.

    ``img_type`` may carry ``rep_`` too. A declared type that contradicts the name (a COCO-shaped
    name typed ``imagenet``) is an error rather than a silent choice, since labels depend on it;
    ``img_type="unknown"`` is accepted for images outside BOLD5000 (e.g. synthetic ones).
    """
    if not isinstance(name, str):  # a NaN from an empty table cell
        raise InputError(repr(name), "empty stimulus name")
    presented = name.strip()
    image_name = _strip_repeat(presented)
    if not image_name:
        raise InputError(repr(name), "empty stimulus name")
    source = infer_source(image_name)
    if img_type is not None:
        declared = _strip_repeat(img_type.strip().lower())
        if declared not in SOURCES:
            raise InputError(name, f"unknown ImgType {img_type!r}; valid: {', '.join(SOURCES)}")
        if declared == "unknown":
            source = declared
        elif declared != source:
            raise InputError(name, f"ImgType {img_type!r} contradicts name (looks like {source})")
    return ImageRef(presented_name=presented, image_name=image_name, source=source)


def read_stimulus_list(path: str | PathLike[str]) -> list[str]:
    """Read ``CSI{n}_stim_lists.txt``: one presented name per trial, in presentation order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "stimulus list not found")
    try:
        names = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read stimulus list ({err})") from err
    names = [n for n in names if n]
    if not names:
        raise InputError(path, "stimulus list holds no image names")
    return names


def repeat_indices(names: Sequence[str]) -> list[int]:
    """How many times each trial's image identity was presented before it (0 = first time).

    Identity ignores ``rep_``; this is what split grouping and repeat analyses need, and unlike
    the prefix it always gives 0 on an image's first presentation.
    """
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        identity = _strip_repeat(name.strip())
        out.append(seen[identity])
        seen[identity] += 1
    return out


def _cell_text(cell: object) -> str:
    """A scipy-loaded MATLAB char cell (array of one string, or nested) as a plain str."""
    while isinstance(cell, np.ndarray):
        if cell.size != 1:
            return "".join(str(c) for c in cell.ravel())
        cell = cell.ravel()[0]
    return str(cell)


def _read_v73_cells(path: Path, key: str) -> list[list[str]]:
    """MATLAB v7.3 (HDF5) cell array of strings: references to uint16 character arrays."""
    note_input(path)  # HDF5 opens files outside Python: no audit event
    with h5py.File(path, "r") as f:
        if key not in f:
            raise InputError(path, f"no variable {key!r} (found: {', '.join(f.keys())})")
        refs = f[key][()]
        # MATLAB stores column-major, so an N x 2 cell arrives as 2 x N.
        texts = [
            [f[r][()].astype(np.uint16).tobytes().decode("utf-16-le") for r in row]
            for row in refs.T
        ]
    return texts


def read_mat_cells(path: str | PathLike[str], key: str, width: int = 2) -> list[list[str]]:
    """Read a MATLAB cell array of strings, N x ``width``, as rows of str.

    Works for MATLAB v5 (scipy.io) and v7.3 (HDF5, via h5py) files: the release ships both
    kinds (``all_img_names.mat``, the per-run ``CSI_sess{SS}_run{RR}.mat`` lists).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "MATLAB file not found")
    if h5py.is_hdf5(path):
        rows = _read_v73_cells(path, key)
    else:
        try:
            mat = scipy.io.loadmat(path)
        except (ValueError, TypeError, OSError, NotImplementedError) as err:
            raise InputError(path, f"not a readable MATLAB file ({err})") from err
        if key not in mat:
            found = ", ".join(k for k in mat if not k.startswith("__"))
            raise InputError(path, f"no variable {key!r} (found: {found})")
        cells = np.atleast_2d(mat[key])
        if cells.dtype != object:
            raise InputError(path, f"{key} is a {cells.dtype} array, expected a cell array of "
                                   "strings")
        rows = [[_cell_text(c) for c in row] for row in cells]
    if not rows or any(len(row) != width for row in rows):
        shape = f"{len(rows)} x {len(rows[0]) if rows else 0}"
        raise InputError(path, f"{key} must be an N x {width} cell array of strings, found "
                               f"{shape}")
    return rows


def read_all_image_names(path: str | PathLike[str]) -> list[tuple[str, str]]:
    """Read ``all_img_names.mat`` (cell array N x 2 of name, source) as (name, source) pairs."""
    path = Path(path)
    key = "all_img_names"
    if not path.is_file():
        raise InputError(path, "image name file not found")
    rows = read_mat_cells(path, key)
    pairs = [(name.strip(), source.strip().lower()) for name, source in rows]
    bad = sorted({s for _, s in pairs if s not in SOURCES})
    if bad:
        raise InputError(path, f"unknown sources {bad}; valid: {', '.join(SOURCES)}")
    return pairs


def find_stimulus_image(root: str | PathLike[str], ref: ImageRef) -> Path | None:
    """Locate an image under ``root``: ``{COCO,ImageNet,Scene}/<name>`` or flat, in ``root`` or in
    the release's ``BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli`` below it, so the folder
    the user downloaded works as it is.

    Returns None rather than raising, because a missing image is a per-dataset decision (drop
    the trial, or fail) that belongs to the caller.
    """
    folders = [_FOLDERS[ref.source]] if ref.source in _FOLDERS else list(_FOLDERS.values())
    for base in [Path(root) / prefix for prefix in PRESENTED_PREFIXES]:
        for candidate in [base / folder / ref.image_name for folder in folders]:
            if candidate.is_file():
                return candidate
        if (base / ref.image_name).is_file():
            return base / ref.image_name
    return None


def load_image(path: str | PathLike[str], size: int) -> np.ndarray:
    """Load an image as uint8 (size, size, 3) RGB: centre-crop to a square, then resize.

    Cropping before resizing keeps the aspect ratio, so objects are not squashed.
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    path = Path(path)
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except FileNotFoundError as err:
        raise InputError(path, "image file not found") from err
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(path, f"cannot read image ({err})") from err
    # Crop, then resize: ImageOps.fit resizes with a box and its filter reads pixels outside it.
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
