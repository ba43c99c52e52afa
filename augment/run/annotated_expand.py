"""The expander's annotated-dataset hooks: find the layout, plan the tasks, and finish the outputs.

Kept apart from ``augment.run.expander`` so that an image folder run stays as it was: the expander asks
``resolve_layout`` whether INPUT is annotated and, when it is, finds the items that changed since an earlier run
(``annotated_source_changes``), plans ``AnnotatedTask`` items here and calls
``finish_annotated`` after the manifest is final (COCO: the one output JSON, assembled from the manifest in its
sorted order, so it is the same whatever the workers, and a resumed run rebuilds it whole).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from augment.io.annotations import AnnotationsFoundError, FormatError, Layout, detect_and_scan, scan
from augment.io.annotations import coco
from augment.io.annotations.layouts import coco_files
from augment.io.fingerprint import compare
from augment.io.manifest import read_jsonl
from augment.io.paths import OutsideRootError, UnsafePathError, read_bytes_within
from augment.run.annotated_job import AnnotatedTask, annotation_fingerprint


def resolve_layout(opts):
    """(the layout of INPUT or None for class folders, its items from the same walk: ``scanned`` below)."""
    from augment.run.errors import AnnotationsFound, RunError

    exclude = opts.output if isinstance(opts.output, Path) else None
    try:
        return detect_and_scan(opts.input, opts.dataset_format, exclude=exclude)
    except AnnotationsFoundError as exc:
        raise AnnotationsFound(str(exc)) from None
    except FormatError as exc:
        raise RunError(str(exc)) from None


def annotated_source_changes(opts, layout: Layout, previous: list[dict], out, scanned=None):
    """(changed, gone, kept records, the scan) for a resumed run: an item is redone when its image or its
    annotation (file, or for COCO its own entries) changed since its outputs were made, or when it gained or lost
    its annotation file (a YOLO background image given labels); the outputs and records of changed items and of
    items gone from INPUT are removed. Only touched files (same bytes, another mtime) keep their outputs, with the
    new fingerprint recorded. Records of a version that kept no fingerprints are trusted, as for image folders."""
    scanned = scanned or scan(opts.input, layout, exclude=None if out.remote else opts.output)
    items, problems, _ = scanned
    by_image = {it.image: it for it in items}
    unreadable = {rel for rel, _ in problems}
    recorded: dict[str, tuple] = {}
    for rec in previous:
        source = rec.get("source")
        if not isinstance(source, str):
            continue
        state = (json.dumps(rec.get("source_fingerprint"), sort_keys=True), rec.get("source_annotation"),
                 json.dumps(rec.get("source_annotation_fingerprint"), sort_keys=True))
        if recorded.setdefault(source, state) != state:
            recorded[source] = None  # records from two versions of the item: redo it
    changed, gone, touched = set(), set(), {}
    for source, state in recorded.items():
        item = by_image.get(source)
        if item is None:
            if source not in unreadable:
                gone.add(source)
            continue
        if state is None or state[1] != item.annotation:
            changed.add(source)
            continue
        new = {}
        image_fp, ann_fp = json.loads(state[0]), json.loads(state[2])
        what, current = compare(opts.input.joinpath(*PurePosixPath(source).parts), image_fp)
        if what == "touched":
            new["source_fingerprint"] = current
        if what != "changed" and item.payload is not None and isinstance(ann_fp, dict):
            if annotation_fingerprint(opts.input, None, item.payload, None) != ann_fp:
                what = "changed"
        elif what != "changed" and item.annotation is not None:
            ann_what, ann_current = compare(opts.input.joinpath(*PurePosixPath(item.annotation).parts), ann_fp)
            what = "changed" if ann_what == "changed" else what
            if ann_what == "touched":
                new["source_annotation_fingerprint"] = ann_current
        if what == "changed":
            changed.add(source)
        elif new:
            touched[source] = new
    kept = []
    for rec in previous:
        if rec.get("source") in changed | gone:
            for key in ("output", "annotation"):
                if rec.get(key):
                    try:
                        out.store.remove(rec[key])
                    except UnsafePathError:
                        pass
        else:
            kept.append({**rec, **touched.get(rec.get("source"), {})})
    return changed, gone, kept, scanned


def annotated_tasks(pipe, opts, layout: Layout, done: set, errors, out, scanned=None, summary=None
                    ) -> tuple[list[AnnotatedTask], int, int]:
    from augment.run.errors import RunError

    scanned = scanned or scan(opts.input, layout, exclude=None if out.remote else opts.output)
    items, problems, folders = scanned
    if summary is not None:  # README, LICENSE, notes: counted apart, never errors
        ignored = getattr(scanned, "ignored", [])
        summary.skipped_non_data = len(ignored)
        summary.skipped_non_data_examples = [rel for rel, _ in ignored[:5]]
    for rel, reason in problems:
        errors.write({"source": rel, "error": reason})
    if not out.remote:
        for folder in folders:
            (opts.output / folder).mkdir(parents=True, exist_ok=True)
    for name in layout.extra_files:  # e.g. YOLO data.yaml: the class names hold for the output too
        try:
            data = read_bytes_within(opts.input, name)
        except OutsideRootError:
            raise RunError(f"{name}: resolves outside INPUT (a symlink leaving it); copy the file into INPUT") \
                from None
        except OSError as exc:
            raise RunError(f"{name}: cannot be copied to OUTPUT ({exc.strerror or exc})") from None
        out.store.write_bytes(name, data)
    if not items:
        raise RunError(f"no annotated images found in {opts.input} ({layout.format} layout)")
    bare = [it.image for it in items if it.annotation is None and it.payload is None]
    if bare and summary is not None:
        summary.notes.append(f"{len(bare)} image(s) without an annotation file are written with an empty one (counted in "
                     f"their records' repairs): {', '.join(bare[:3])}")
    unlisted = [it.image for it in items if (it.payload or {}).get("unlisted")]
    if unlisted and summary is not None:
        summary.notes.append(f"{len(unlisted)} image(s) not listed in the COCO file are written as background images "
                             f"(listed in the output JSON with no annotations, counted in their records' repairs): "
                             f"{', '.join(unlisted[:3])}")
    tasks = []
    for item in items:
        copies = tuple(k for k in range(pipe.spec.copies) if (item.image, None, k) not in done)
        original = opts.include_originals and (item.image, None, None) not in done
        if copies or original:
            tasks.append(AnnotatedTask(item.image, item.annotation, copies, original, item.payload, item.sidecar))
    return tasks, len(items), len(problems)


def finish_annotated(opts, layout: Layout, manifest_path, store) -> None:
    """COCO: one output JSON per source JSON (Roboflow writes one per split), at the same path."""
    if layout.format != "coco":
        return
    entries: dict[str, list] = {rel: [] for rel in coco_files(layout)}
    for rec in read_jsonl(manifest_path):
        if "coco" in rec:
            entries.setdefault(rec.get("coco_json") or layout.coco_json, []).append(rec["coco"])
    for rel, items in entries.items():
        source_doc = json.loads(read_bytes_within(opts.input, rel))
        store.write_bytes(rel, coco.assemble(source_doc, items))


__all__ = ["resolve_layout", "annotated_source_changes", "annotated_tasks", "finish_annotated"]
