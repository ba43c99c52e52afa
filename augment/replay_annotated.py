"""Replaying one output of an annotated run: the image and its annotations, both checked against the manifest."""

from __future__ import annotations

import hashlib
import json
import posixpath
from pathlib import Path

from augment.io.annotations import Item, Layout, encode_item, read_item
from augment.io.annotations.layouts import coco_files
from augment.io.images import decode_image, encode_image, output_format
from augment.io.paths import read_bytes_within


def _coco_payload(source: Path, layout: Layout, image_rel: str) -> dict:
    from augment.io.annotations import find_item

    item = find_item(source, layout, image_rel)
    if item is None or item.payload is None:
        raise ValueError(f"{image_rel} is no longer in {', '.join(coco_files(layout))}")
    return item.payload


def replay_annotated(pipe, run: dict, rec: dict, source: Path, output_dir=None) -> tuple:
    """(image bytes, their sha256, whether image and annotation match the record, annotation bytes, its suffix)."""
    layout = Layout.from_dict(run["annotations"])
    data = read_bytes_within(source, rec["source"])
    image, info = decode_image(data)
    payload = _coco_payload(source, layout, rec["source"]) if layout.format == "coco" else None
    item = Item(rec["source"], rec.get("source_annotation"), payload)  # the output's name is in the record
    targets, _, ann_bytes = read_item(source, layout, item, image.shape[:2])
    from augment.run.partners import DatasetPartners

    partners = DatasetPartners(str(source), run["annotations"], rec["source"], exclude=None if output_dir is None or "://" in str(output_dir) else str(output_dir))
    out, moved, _ = pipe.replay_targets(image, targets, rec["ops"], partners=partners)
    encoded = encode_image(out, output_format(rec["source"], info), run.get("quality", 95))
    _, ann = encode_item(layout, moved, rec["output"], out.shape[:2], ann_bytes, payload["image"] if payload else None)
    digest = hashlib.sha256(encoded).hexdigest()
    if isinstance(ann, dict):
        same_ann = json.loads(json.dumps(ann)) == rec.get("coco")
        ann, suffix = json.dumps(ann, sort_keys=True).encode("utf-8") + b"\n", ".json"
    else:
        same_ann = hashlib.sha256(ann).hexdigest() == rec.get("annotation_sha256")
        suffix = posixpath.splitext(rec.get("annotation") or "")[1] or None
    return encoded, digest, digest == rec.get("sha256") and same_ann, ann, suffix


__all__ = ["replay_annotated"]
