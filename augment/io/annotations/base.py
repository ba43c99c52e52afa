"""Shared types of the annotation formats: the dataset layout, one item, and the per-item problems.

A layout is detected once from INPUT (``augment.io.annotations.detect``) and shipped to workers as a plain dict.
Every problem with one item's annotations raises ``AnnotationError`` with a one-line reason (it becomes an
``errors.jsonl`` record and the item is skipped); documented repairs (clipping a box to the image) are counted
in the item's manifest record under ``repairs`` instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

FORMATS = ("voc", "yolo", "coco", "masks")


class AnnotationError(ValueError):
    """One item's annotations cannot be used; the message is one line, fit for errors.jsonl."""


@dataclass(frozen=True)
class Layout:
    format: str  # voc | yolo | coco | masks
    images: str  # folder of the images, relative to INPUT ("images", "JPEGImages", "" for COCO next to the JSON)
    annotations: str = ""  # folder of the annotation files (voc: XML, yolo: labels, masks: PNG); "" for COCO
    coco_json: str = ""  # COCO: the annotation file, relative to INPUT
    class_names: tuple = ()  # YOLO data.yaml names; COCO category names by id order
    categories: tuple = ()  # COCO: the categories list as read (dicts)
    extra_files: tuple = ()  # files copied to OUTPUT as they are (YOLO data.yaml)
    ignore_index: int = 255  # masks: the value of pixels the ops cannot see
    kpt_shape: tuple | None = None  # YOLO pose (data.yaml kpt_shape): (K keypoints, 2 or 3 numbers each)
    flip_idx: tuple | None = None  # YOLO pose (data.yaml flip_idx): keypoint i becomes flip_idx[i] in a mirror
    coco_files: tuple = ()  # COCO with several files (Roboflow's one per split): all of them; () for one

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("kpt_shape", "flip_idx"):  # absent unless set: run records (and identities) of other
            if d[key] is None:  # datasets stay as they were
                del d[key]
        if not d["coco_files"]:
            del d["coco_files"]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "Layout":
        d = dict(data)
        for key in ("class_names", "categories", "extra_files", "coco_files"):
            d[key] = tuple(d.get(key) or ())
        for key in ("kpt_shape", "flip_idx"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class Repairs:
    """Documented changes made to an item's annotations while reading them (counted, never silent)."""

    counts: dict = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n


def clip_box(box: list[float], w: int, h: int, repairs: Repairs, where: str) -> list[float]:
    """Clip a box to the image (a counted repair); a box with no area left is an error."""
    x0, y0, x1, y1 = box
    if not all(map(_finite, box)):
        raise AnnotationError(f"{where}: box {box} has a non-finite coordinate")
    if x1 <= x0 or y1 <= y0:
        raise AnnotationError(f"{where}: box {_fmt(box)} has zero or negative area")
    c = [min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h)]
    if c[2] <= c[0] or c[3] <= c[1]:
        raise AnnotationError(f"{where}: box {_fmt(box)} lies outside the {w}x{h} image")
    if c != [x0, y0, x1, y1]:
        repairs.add("boxes_clipped_to_image")
    return c


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))


def _fmt(box) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


__all__ = ["FORMATS", "AnnotationError", "Layout", "Repairs", "clip_box"]
