"""Segmentation masks found by what they are: a single-channel (gray or palette) PNG of class indices whose name
pairs with an image's, wherever the labelling tool put it.

The tools write them as: ``images/`` + ``masks/`` (or ``labels/``) mirroring each other; the VOC devkit and CVAT's
"Segmentation mask 1.1": ``JPEGImages/`` + ``SegmentationClass/`` (and ``SegmentationObject/``, instance ids);
labelme2voc: ``SegmentationClassPNG/``; Roboflow's "semantic segmentation masks": ``foo.jpg`` + ``foo_mask.png`` side
by side. So a PNG is a mask of image ``I`` when it is gray or palette and

* its stem is ``I``'s stem plus a mask suffix (``_mask``, ``_label``, ``_seg``, ``_gt`` ...), beside ``I`` or in a
  folder mirroring ``I``'s (the same path but for one folder name); or
* its stem is ``I``'s and it lies in such a mirroring folder whose name says masks (``masks``, ``labels``,
  ``SegmentationClass`` ...); or
* its stem is ``I``'s, beside ``I`` or in any mirroring folder, ``I`` is not itself a gray PNG, the two have the
  same size and the PNG holds few distinct values (class indices, not a photograph).

Only PNGs whose names pair structurally are opened (their headers; pixels only for the last rule), so a folder of
gray class-folder PNGs costs nothing. An image with two masks, or a mask naming two images, is an ambiguity the
caller reports in one line; an instance-id mask (``SegmentationObject``) loses to a semantic one.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from augment.io.paths import read_bytes_within

MASK_SUFFIXES = ("_mask", "_masks", "-mask", "_label", "_labels", "_seg", "_segmentation", "_gt", "_annotation")
_MASKISH = re.compile(r"mask|label|annot|segment|seg\b|gt|truth|semantic", re.IGNORECASE)
_INSTANCE = re.compile(r"object|instance", re.IGNORECASE)
MAX_CLASS_VALUES = 64  # a gray PNG with more distinct values is a photograph, not class indices
MASK_MODES = ("L", "P", "1")


@dataclass
class MaskPairs:
    pairs: dict[str, str] = field(default_factory=dict)  # image -> its mask
    ignored: list[tuple[str, str]] = field(default_factory=list)  # masks not used, with why
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)  # file -> the files it pairs with
    colour: list[str] = field(default_factory=list)  # RGB PNGs where masks would be: annotation-like, unreadable


def _dir(rel: str) -> str:
    return posixpath.dirname(rel)


def _stem(rel: str) -> str:
    return posixpath.splitext(posixpath.basename(rel))[0]


def _base(stem: str) -> tuple[str, str] | None:
    """(image stem, suffix) when ``stem`` ends with a mask suffix."""
    low = stem.lower()
    for suffix in MASK_SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix):
            return stem[: -len(suffix)], stem[-len(suffix):]
    return None


def _mirror(a: str, b: str) -> tuple[str, str] | None:
    """The one folder name that differs between two folders of the same depth, (in a, in b); None otherwise."""
    pa, pb = (a.split("/") if a else []), (b.split("/") if b else [])
    if len(pa) != len(pb):
        return None
    diff = [(x, y) for x, y in zip(pa, pb) if x != y]
    return diff[0] if len(diff) == 1 else None


def _header(root: Path, rel: str, cache: dict) -> tuple[str, tuple[int, int]] | None:
    """(mode, size) of an image from its header; None when unreadable (an item's error later, not a mask)."""
    if rel not in cache:
        try:
            with Image.open(io.BytesIO(read_bytes_within(root, rel))) as img:  # only files that pair by name
                cache[rel] = (img.mode, img.size)
        except Exception:  # unreadable, not an image, outside INPUT: not a mask candidate
            cache[rel] = None
    return cache[rel]


def _few_values(root: Path, rel: str) -> bool:
    try:
        with Image.open(io.BytesIO(read_bytes_within(root, rel))) as img:
            return len(np.unique(np.asarray(img))) <= MAX_CLASS_VALUES
    except Exception:
        return False


def in_mask_folder(rel: str) -> bool:
    """Whether a file lies in a folder named for masks (``masks/``, ``SegmentationClassVisualization/``)."""
    return any(_MASKISH.search(part) for part in _dir(rel).split("/") if part)


def find_mask_pairs(root: Path, images: list[str]) -> MaskPairs:
    """Which of ``images`` (relative POSIX paths under ``root``) are masks of which others."""
    by_stem: dict[str, list[str]] = defaultdict(list)
    for rel in images:
        by_stem[_stem(rel).lower()].append(rel)
    headers: dict = {}
    found = MaskPairs()
    claims: dict[str, list[str]] = defaultdict(list)  # image -> masks that pair with it
    for png in images:
        if posixpath.splitext(png)[1].lower() != ".png":
            continue
        stem, folder = _stem(png), _dir(png)
        base = _base(stem)
        matches = []
        for image in by_stem.get(stem.lower(), []) + (by_stem.get(base[0].lower(), []) if base else []):
            if image == png:
                continue
            suffixed = _stem(image).lower() != stem.lower()
            same = _dir(image) == folder
            swap = None if same else _mirror(folder, _dir(image))
            if not same and swap is None:
                continue
            if _base(_stem(image)) or (swap is not None and _MASKISH.search(swap[1])):
                continue  # the other side is itself where masks (or their visualisations) are kept
            named = suffixed or (swap is not None and bool(_MASKISH.search(swap[0])))
            matches.append((image, named, named))
        if not matches:
            continue
        head = _header(root, png, headers)
        if head is None:  # unreadable (a decompression bomb, a truncated file) but named as a mask: it is one,
            matches = [m for m in matches if m[2]]  # and reading it is then its item's error, never an image
            if not matches:
                continue
        elif head[0] not in MASK_MODES:
            if any(named for _, _, named in matches):
                found.colour.append(png)  # a colour PNG where a mask would be: its classes are not indices
            continue
        kept = []
        for image, strong, _ in matches:
            if not strong:  # same stem in a mirroring folder named like anything: prove it by content
                other = _header(root, image, headers)
                if other is None or (posixpath.splitext(image)[1].lower() == ".png" and other[0] in MASK_MODES) \
                        or other[1] != head[1] or not _few_values(root, png):
                    continue
            kept.append(image)
        if len(kept) > 1:
            found.ambiguous.append((png, sorted(kept)))
            continue
        if kept:
            claims[kept[0]].append(png)
    for image, masks in sorted(claims.items()):
        if len(masks) > 1:  # the VOC devkit's SegmentationObject (instance ids) beside SegmentationClass
            semantic = [m for m in masks if not _INSTANCE.search(_dir(m))]
            if len(semantic) == 1:
                found.ignored += [(m, f"instance-id mask of {image} (the semantic mask {semantic[0]} is used)")
                                  for m in masks if m != semantic[0]]
                masks = semantic
            else:
                found.ambiguous.append((image, sorted(masks)))
                continue
        found.pairs[image] = masks[0]
    # an image whose mask is itself paired as an image (chains): the mask side wins, it is never an item
    for image in [im for im in found.pairs if im in set(found.pairs.values())]:
        del found.pairs[image]
    return found


__all__ = ["MASK_SUFFIXES", "MaskPairs", "find_mask_pairs", "in_mask_folder"]
