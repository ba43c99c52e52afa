"""The expander's annotated-dataset hooks: find the layout, plan the tasks, and finish the outputs.

Kept apart from ``augment.run.expander`` so that an image folder run stays as it was: the expander asks
``resolve_layout`` whether INPUT is annotated and, when it is, plans ``AnnotatedTask`` items here and calls
``finish_annotated`` after the manifest is final (COCO: the one output JSON, assembled from the manifest in its
sorted order, so it is the same whatever the workers, and a resumed run rebuilds it whole).
"""

from __future__ import annotations

import json

from augment.io.annotations import FormatError, Layout, detect, scan
from augment.io.annotations import coco
from augment.io.manifest import read_jsonl
from augment.run.annotated_job import AnnotatedTask


def resolve_layout(opts) -> Layout | None:
    from augment.run.errors import RunError

    try:
        return detect(opts.input, opts.dataset_format)
    except FormatError as exc:
        raise RunError(str(exc)) from None


def annotated_tasks(pipe, opts, layout: Layout, done: set, errors, out) -> tuple[list[AnnotatedTask], int, int]:
    from augment.run.errors import RunError

    items, problems, folders = scan(opts.input, layout, exclude=None if out.remote else opts.output)
    for rel, reason in problems:
        errors.write({"source": rel, "error": reason})
    if not out.remote:
        for folder in folders:
            (opts.output / folder).mkdir(parents=True, exist_ok=True)
    for name in layout.extra_files:  # e.g. YOLO data.yaml: the class names hold for the output too
        out.store.write_bytes(name, (opts.input / name).read_bytes())
    if not items:
        raise RunError(f"no annotated images found in {opts.input} ({layout.format} layout)")
    tasks = []
    for item in items:
        copies = tuple(k for k in range(pipe.spec.copies) if (item.image, None, k) not in done)
        original = opts.include_originals and (item.image, None, None) not in done
        if copies or original:
            tasks.append(AnnotatedTask(item.image, item.annotation, copies, original, item.payload))
    return tasks, len(items), len(problems)


def finish_annotated(opts, layout: Layout, manifest_path, store) -> None:
    if layout.format != "coco":
        return
    source_doc = json.loads((opts.input / layout.coco_json).read_bytes())
    entries = [rec["coco"] for rec in read_jsonl(manifest_path) if "coco" in rec]
    store.write_bytes(layout.coco_json, coco.assemble(source_doc, entries))


__all__ = ["resolve_layout", "annotated_tasks", "finish_annotated"]
