"""The unit of work of an annotated dataset: one image and its annotations into augmented copies of both.

Each copy's seed is the one an image folder run gives (pipeline seed, the image's relative path, copy index),
and the annotations move with the image's drawn values (``Pipeline.run_targets``). The annotation file is written
before its image, so an output image on disk always has its annotation (resume checks the image). COCO outputs
have no file of their own: their entries travel in the manifest record and the expander assembles one JSON from
the manifest when the run completes. A bad annotation skips its item with a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from augment.io.annotations import AnnotationError, Item, Layout, encode_item, read_item
from augment.io.fingerprint import fingerprint_of
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.paths import OutsideRootError, UnsafePathError, open_within
from augment.io.store import OutputWriteError
from augment.run.job_base import output_record, pipeline_for, store_for, write_output
from augment.seeding import derive_seed


@dataclass(frozen=True, slots=True)
class AnnotatedTask:
    source: str  # the image, relative POSIX path under INPUT
    annotation: str | None  # its annotation file (None: COCO, or a YOLO background image)
    copies: tuple[int, ...]
    original: bool = False
    payload: dict | None = None  # COCO: the image entry and its annotations
    sidecar: str | None = None  # its annotation file, or where an image without one gets its empty one


def output_name(source: str, copy: int) -> str:
    pure = PurePosixPath(source)
    return str(pure.with_name(f"{pure.stem}__aug{copy}{pure.suffix}"))


def annotation_fingerprint(root: Path, annotation: str | None, payload: dict | None, data: bytes | None) -> dict | None:
    """The fingerprint of an item's annotation, which a resume compares as it compares the image's: the file's
    (size, mtime, sha256 of the bytes read), or for COCO the sha256 of the item's own entries in the JSON (so an
    edit to one image's annotations redoes that image only); None for a YOLO background image (no label file)."""
    if payload is not None:
        return {"sha256": hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()}
    if annotation is None or data is None:
        return None
    return fingerprint_of(data, os.stat(Path(root, *PurePosixPath(annotation).parts)))


def _read_source(config, task: AnnotatedTask, result):
    try:
        with open_within(config.input_root, task.source) as fh:
            data = fh.read()
            fingerprint = fingerprint_of(data, os.fstat(fh.fileno()))  # of the bytes used: a resume compares it
        image, info = decode_image(data)
    except OutsideRootError as exc:  # a symlink swapped in after the scan: still never read
        result.errors.append({"source": task.source, "error": f"{exc}; not read"})
        return None
    except ImageReadError as exc:
        result.errors.append({"source": task.source, "error": str(exc)})
        return None
    except OSError as exc:
        result.errors.append({"source": task.source, "error": f"cannot read file: {exc.strerror or exc}"})
        return None
    layout = Layout.from_dict(config.annotation_format)
    item = _item(task)
    try:
        targets, repairs, ann_bytes = read_item(Path(config.input_root), layout, item, image.shape[:2])
        ann_fingerprint = annotation_fingerprint(Path(config.input_root), task.annotation, task.payload, ann_bytes)
    except AnnotationError as exc:
        result.errors.append({"source": task.source, "annotation": task.annotation, "error": str(exc)})
        return None
    except OSError as exc:
        result.errors.append({"source": task.source, "annotation": task.annotation,
                              "error": f"cannot read annotation: {exc.strerror or exc}"})
        return None
    return data, image, info, layout, targets, repairs, ann_bytes, {"source_fingerprint": fingerprint,
                                                                   "annotation_fingerprint": ann_fingerprint}


def _item(task: AnnotatedTask) -> Item:
    return Item(task.source, task.annotation, task.payload, task.sidecar)


def process_annotated_task(config, task: AnnotatedTask, result) -> None:
    pipe = pipeline_for(config)
    out_root = store_for(config)
    source = _read_source(config, task, result)
    if source is None:
        return
    data, image, info, layout, targets, repairs, ann_bytes, prints = source
    fmt = output_format(task.source, info)
    entry = (task.payload or {}).get("image")
    try:
        if task.original:
            rel_ann, ann = _encode_original(layout, targets, task, image.shape[:2], ann_bytes, entry)
            if rel_ann is not None:
                write_output(out_root, rel_ann, ann, config.durable)
            write_output(out_root, task.source, data, config.durable)
            result.records.append(_record(config, task, task.source, None, None, [], data, rel_ann, ann,
                                          None, repairs.counts, prints))
        for copy in task.copies:
            seed = derive_seed(pipe.spec.seed, task.source, copy)
            out, moved, applied, report = pipe.run_targets(image, targets, seed=seed, partners=_partners(config, task))
            encoded = encode_image(out, fmt, config.quality)
            rel = output_name(task.source, copy)
            rel_ann, ann = encode_item(layout, moved, rel, out.shape[:2], ann_bytes, entry, _item(task))
            if rel_ann is not None:
                write_output(out_root, rel_ann, ann, config.durable)
            write_output(out_root, rel, encoded, config.durable)
            result.records.append(_record(config, task, rel, copy, seed, applied, encoded, rel_ann, ann,
                                          report.as_dict(), repairs.counts, prints))
    except (OutputWriteError, UnsafePathError):
        raise
    except Exception as exc:  # an op failing on one item (a crop larger than the image, bad flip_pairs) skips it
        result.errors.append({"source": task.source, "error": f"augmentation failed: {type(exc).__name__}: {exc}"})


def _partners(config, task: AnnotatedTask):
    from augment.run.partners import DatasetPartners

    local = "://" not in config.output_root
    return DatasetPartners(config.input_root, config.annotation_format, task.source,
                           exclude=config.output_root if local else None)


def _encode_original(layout, targets, task, hw, ann_bytes, entry):
    if layout.format == "coco" or ann_bytes is None:  # an image without an annotation file gets an empty one
        return encode_item(layout, targets, task.source, hw, None, entry, _item(task))
    from augment.io.annotations import annotation_path

    return annotation_path(layout, task.source, _item(task)), ann_bytes


def _record(config, task, output, copy, seed, ops, data, rel_ann, ann, objects, repairs, prints) -> dict:
    rec = output_record(config, task.source, output, copy, seed, ops, data, prints["source_fingerprint"])
    if task.annotation is not None:
        rec["source_annotation"] = task.annotation
    rec["source_annotation_fingerprint"] = prints["annotation_fingerprint"]
    if rel_ann is not None:
        rec["annotation"] = rel_ann
        rec["annotation_sha256"] = hashlib.sha256(ann).hexdigest()
    elif isinstance(ann, dict):  # COCO: the entries the final JSON is assembled from
        rec["coco"] = ann
        if (task.payload or {}).get("json"):  # one of several COCO files: the output JSON it goes into
            rec["coco_json"] = task.payload["json"]
        if ann["image"].get("source_id") is not None:
            rec["source_id"] = ann["image"]["source_id"]
    partners = sorted({n for op in ops for n in op["params"].get("partners", ())})
    if partners:
        rec["partners"] = partners
    if objects is not None:
        rec["objects"] = objects
    if repairs:
        rec["repairs"] = repairs
    return rec


__all__ = ["AnnotatedTask", "annotation_fingerprint", "output_name", "process_annotated_task"]
