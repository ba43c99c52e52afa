"""Hugging Face ``datasets`` integration: augment on the fly, or expand a dataset with K copies per row.

On the fly (``Dataset.with_transform`` / ``set_transform``)::

    tf = augment.hf.Transform(pipe, columns="image")
    ds = augment.hf.with_row_index(ds).with_transform(tf)   # the transform needs each row's index
    tf.set_epoch(epoch)                                       # before each epoch's DataLoader iterator

Each row's seed is ``derive_seed(spec seed, "row:<index>", epoch)``: the same row gets other values in another
epoch, and the same values again when the run is repeated. Epoch ``e`` of the transform gives exactly copy ``e``
of the expansion below.

Expansion (``Dataset.map``)::

    ex = augment.hf.Expansion(pipe, columns="text", copies=4, include_originals=True)
    bigger = ds.map(ex, batched=True, with_indices=True, num_proc=4, remove_columns=ds.column_names)

Each input row becomes its original (with ``include_originals``) and ``copies`` augmented rows, with the columns
``source_index`` (the input row), ``copy`` (None for the original) and ``seed``; ``record_ops=True`` adds
``augment_ops`` (the applied ops and drawn values as JSON, what a manifest records). Seeds depend only on the row
index, so the result is the same for any ``num_proc`` and batch size.

Labels (``label_column="label"``): text ops that read a text's label (``llm_paraphrase`` prompts with
``{label}``) get the value of that column in the same row, as ``augment run --label-column`` gives them; a
``ClassLabel`` column holds integers, so pass ``label_names=ds.features["label"].names`` to give the ops the
class names instead.

Image columns hold PIL images (the ``datasets.Image`` feature decodes to them) or uint8 arrays; text columns hold
strings. ``None`` values pass through untouched. ``datasets`` itself is only needed by ``with_row_index``.

Detection datasets (``objects="objects"``): the common Hugging Face layout (cppe-5, detection-datasets) has an
``objects`` column per image holding ``bbox`` (COCO ``[x, y, w, h]`` in pixels), ``category`` and optional
``id``/``area``/others, one entry per object, either as a dict of lists or a list of dicts. The boxes move with
the image (``Pipeline.run_targets``: the same drawn values; boxes clipped, and dropped by each op's
``min_visibility``/``min_area`` rules), every per-object field keeps only the kept objects, ``area`` is
recomputed as the new box's w * h, and the column keeps its layout. Presets are refused (their sub-ops move
pixels no box rule follows yet).
"""

from __future__ import annotations

import json
import numbers
from typing import Any, Iterable

from augment.compile.pipeline import Pipeline
from augment.seeding import derive_seed

__all__ = ["INDEX_COLUMN", "Transform", "Expansion", "row_seed", "with_row_index", "move_objects", "is_objects_feature"]

INDEX_COLUMN = "__augment_index__"


def row_seed(spec_seed: int, index: int, copy: int) -> int:
    """The seed of copy ``copy`` (or epoch) of row ``index``."""
    return derive_seed(spec_seed, f"row:{int(index)}", int(copy))


def _columns(columns: str | Iterable[str]) -> list[str]:
    cols = [columns] if isinstance(columns, str) else list(columns)
    if not cols:
        raise ValueError("name at least one column to augment")
    return cols


def _check_columns(batch: dict, columns: list[str]) -> None:
    missing = [c for c in columns if c not in batch]
    if missing:
        raise KeyError(f"column(s) {', '.join(missing)} not in the batch (it has: {', '.join(batch)})")


def _augment_column(pipe: Pipeline, values: list, seeds: list[int], labels: list | None = None):
    """(outputs, applied) for one column: None values pass through; texts go through run_batch together, with
    their rows' ``labels`` when given."""
    outputs = list(values)
    applied: list[list | None] = [None] * len(values)
    todo = [i for i, v in enumerate(values) if v is not None]
    if todo:
        results = pipe.run_batch([values[i] for i in todo], [seeds[i] for i in todo],
                                 **({} if labels is None else {"labels": [labels[i] for i in todo]}))
        for i, res in zip(todo, results):
            outputs[i], applied[i] = res.output, res.applied
    return outputs, applied


def is_objects_feature(feature: Any) -> bool:
    """Whether a ``datasets`` feature is a detection ``objects`` column: a struct (or a list of structs) with a
    ``bbox`` field."""
    inner = getattr(feature, "feature", None)  # Sequence / List of a struct
    if isinstance(feature, list) and feature:
        inner = feature[0]
    for candidate in (feature, inner):
        if isinstance(candidate, dict) and "bbox" in candidate:
            return True
    return False


def _objects_in(value) -> tuple[list[dict], str]:
    """The objects of one row as a list of dicts, and the layout they came in (``columns``: a dict of lists)."""
    if value is None:
        return [], "columns"
    if isinstance(value, dict):
        n = len(value.get("bbox") or [])
        return [{k: (v[i] if isinstance(v, (list, tuple)) and len(v) == n else v) for k, v in value.items()}
                for i in range(n)], "columns"
    return [dict(o) for o in value], "rows"


def _objects_out(objects: list[dict], like, layout: str):
    """``objects`` (the kept ones) in the layout of ``like``: per-object lists hold only the kept objects."""
    if layout == "rows":
        return objects
    if not isinstance(like, dict):
        return like if like is None and not objects else {"bbox": [o["bbox"] for o in objects]}
    n = len(like.get("bbox") or [])
    return {k: [o[k] for o in objects] if isinstance(v, (list, tuple)) and len(v) == n else v
            for k, v in like.items()}


def move_objects(pipeline: Pipeline, image, objects, seed: int):
    """Augment ``image`` and its detection ``objects`` (see the module notes) with the values of ``seed``.

    Returns ``(image, objects, applied)``: the image in the type it came in, the objects in their layout with only
    the kept ones, and the applied ops with their drawn values."""
    import numpy as np

    from augment.compile.pixels import _to_array
    from augment.compile.targets import Targets

    pipeline.check_moves_annotations()
    rows, layout = _objects_in(objects)
    xywh = np.array([o["bbox"] for o in rows], dtype=np.float64).reshape(-1, 4)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    labels = [o.get("category", o.get("label")) for o in rows]
    arr, restore = _to_array(image)
    targets = Targets(boxes=xyxy, labels=labels, extras=tuple({"i": i} for i in range(len(rows))))
    out, moved, applied, _ = pipeline.run_targets(arr, targets, seed=seed)
    kept = []
    for box, extra in zip(moved.boxes, moved.extras):
        obj = dict(rows[extra["i"]])
        x0, y0, x1, y1 = (float(v) for v in box)
        obj["bbox"] = [x0, y0, x1 - x0, y1 - y0]
        if "area" in obj:
            area = (x1 - x0) * (y1 - y0)
            obj["area"] = int(round(area)) if isinstance(obj["area"], int) else float(area)
        kept.append(obj)
    return restore(out), _objects_out(kept, objects, layout), applied


def _augment_objects(pipe: Pipeline, values: list, objects: list, seeds: list[int]):
    outputs, moved, applied = list(values), list(objects), [None] * len(values)
    for i, (value, objs, seed) in enumerate(zip(values, objects, seeds)):
        if value is not None:
            outputs[i], moved[i], applied[i] = move_objects(pipe, value, objs, seed)
    return outputs, moved, applied


class _Labels:
    """The label column of a text pipeline's rows (see the module docstring), checked when the transform is made."""

    def __init__(self, pipeline: Pipeline, column: str | None, names: Iterable[str] | None) -> None:
        if names is not None and column is None:
            raise ValueError("label_names needs label_column (the column whose values they name)")
        if column is not None and pipeline.modality != "text":
            raise ValueError("label_column: only text pipelines read labels (llm_paraphrase prompts); drop it")
        self.column = column
        self.names = None if names is None else [str(n) for n in names]

    def columns(self) -> list[str]:
        return [] if self.column is None else [self.column]

    def of(self, values: list) -> list | None:
        if self.column is None:
            return None
        if self.names is None:
            return list(values)
        out = []
        for v in values:
            if v is None:
                out.append(None)
            elif isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= int(v) < len(self.names):
                out.append(self.names[int(v)])
            else:
                raise ValueError(f"label_names: {v!r} in column {self.column!r} is not a class index "
                                 f"0..{len(self.names) - 1}")
        return out


def _check_objects(pipeline: Pipeline, columns: list[str], objects: str | None) -> None:
    if objects is None:
        return
    if len(columns) != 1:
        raise ValueError(f"objects={objects!r} belong to one image column; got columns {', '.join(columns)}")
    pipeline.check_moves_annotations()


class _SharedEpoch:
    """An epoch number shared with the worker processes a DataLoader starts from this process.

    A ``multiprocessing.RawValue`` is inherited by forked workers and travels with the pickle that starts a spawned
    or forkserver worker; any other pickle (a dataset fingerprint, a copy) carries the plain number instead, since
    shared memory can only be handed to a child at its start.
    """

    def __init__(self, epoch: int) -> None:
        import multiprocessing

        self._value = multiprocessing.RawValue("q", epoch)

    def get(self) -> int:
        return int(self._value.value)

    def set(self, epoch: int) -> None:
        self._value.value = epoch

    def __getstate__(self) -> dict:
        from multiprocessing import context

        if context.get_spawning_popen() is not None:
            return {"value": self._value}
        return {"epoch": self.get()}

    def __setstate__(self, state: dict) -> None:
        if "value" in state:
            self._value = state["value"]
        else:
            self.__init__(state["epoch"])


class Transform:
    """A batch transform for ``Dataset.with_transform`` / ``set_transform`` (batch dict in, batch dict out).

    ``columns``: the image or text column(s) to augment (each column draws its own values: its name is part of the
    row key). Rows are identified by ``index_column`` (added by ``with_row_index``); it is dropped from the
    output unless ``keep_index``.
    """

    def __init__(self, pipeline: Pipeline, columns: str | Iterable[str], *, epoch: int = 0,
                 index_column: str = INDEX_COLUMN, keep_index: bool = False, objects: str | None = None,
                 label_column: str | None = None, label_names: Iterable[str] | None = None) -> None:
        self.pipeline = pipeline
        self.columns = _columns(columns)
        self.objects = objects
        _check_objects(pipeline, self.columns, objects)
        self.labels = _Labels(pipeline, label_column, label_names)
        self._epoch = _SharedEpoch(int(epoch))
        self.index_column = index_column
        self.keep_index = keep_index

    @property
    def epoch(self) -> int:
        return self._epoch.get()

    @epoch.setter
    def epoch(self, epoch: int) -> None:
        self._epoch.set(int(epoch))

    def set_epoch(self, epoch: int) -> None:
        """Draw the values of epoch ``epoch`` from now on. The epoch lives in shared memory, so it also reaches
        DataLoader workers that outlive an epoch (``persistent_workers=True``) and those started before it."""
        self._epoch.set(int(epoch))

    def __call__(self, batch: dict) -> dict:
        if self.index_column not in batch:
            raise KeyError(f"the batch has no {self.index_column!r} column: add it with augment.hf.with_row_index(ds) "
                           "before with_transform (a transform is not told which rows it gets)")
        _check_columns(batch, self.columns + ([self.objects] if self.objects else []) + self.labels.columns())
        out = dict(batch)
        indices = [int(i) for i in batch[self.index_column]]
        labels = self.labels.of(list(batch[self.labels.column])) if self.labels.column else None
        epoch = self.epoch  # read per batch: a persistent worker sees set_epoch of the main process
        for col in self.columns:
            seeds = [_column_seed(self.pipeline.spec.seed, i, epoch, col, self.columns) for i in indices]
            if self.objects:
                out[col], out[self.objects], _ = _augment_objects(self.pipeline, list(batch[col]),
                                                                  list(batch[self.objects]), seeds)
            else:
                out[col], _ = _augment_column(self.pipeline, list(batch[col]), seeds, labels)
        if not self.keep_index:
            out.pop(self.index_column)
        return out


def _column_seed(spec_seed: int, index: int, copy: int, column: str, columns: list[str]) -> int:
    # One column: the plain row seed (the same as `augment run` on a one-column dataset). Several: the column name
    # joins the key, so an image and its mask column would NOT share draws -- augment them in one column instead.
    if len(columns) == 1:
        return row_seed(spec_seed, index, copy)
    return derive_seed(spec_seed, f"row:{int(index)}:{column}", int(copy))


class Expansion:
    """A ``Dataset.map(batched=True, with_indices=True)`` function adding ``copies`` augmented rows per row."""

    def __init__(self, pipeline: Pipeline, columns: str | Iterable[str], *, copies: int | None = None,
                 include_originals: bool = False, record_ops: bool = False, objects: str | None = None,
                 label_column: str | None = None, label_names: Iterable[str] | None = None) -> None:
        self.pipeline = pipeline
        self.columns = _columns(columns)
        self.objects = objects
        _check_objects(pipeline, self.columns, objects)
        self.labels = _Labels(pipeline, label_column, label_names)
        self.copies = int(copies if copies is not None else pipeline.spec.copies)
        if self.copies < 0:
            raise ValueError(f"copies must be >= 0, got {self.copies}")
        self.include_originals = include_originals
        self.record_ops = record_ops

    def plan(self, indices: Iterable[int]) -> list[tuple[int, int, int | None]]:
        """(position in the batch, row index, copy) of every output row, in output order."""
        rows = []
        for pos, index in enumerate(indices):
            if self.include_originals:
                rows.append((pos, int(index), None))
            rows += [(pos, int(index), k) for k in range(self.copies)]
        return rows

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        _check_columns(batch, self.columns + ([self.objects] if self.objects else []) + self.labels.columns())
        rows = self.plan(indices)
        out: dict[str, list] = {name: [values[pos] for pos, _, _ in rows] for name, values in batch.items()}
        seeds: list[int | None] = [None] * len(rows)
        ops: list[list] = [[] for _ in rows]
        augmented = [r for r, (_, _, k) in enumerate(rows) if k is not None]
        labels = self.labels.of([out[self.labels.column][r] for r in augmented]) if self.labels.column else None
        for col in self.columns:
            col_seeds = [_column_seed(self.pipeline.spec.seed, rows[r][1], rows[r][2], col, self.columns)
                         for r in augmented]
            if self.objects:
                values, moved, applied = _augment_objects(self.pipeline, [out[col][r] for r in augmented],
                                                          [out[self.objects][r] for r in augmented], col_seeds)
                for r, objs in zip(augmented, moved):
                    out[self.objects][r] = objs
            else:
                values, applied = _augment_column(self.pipeline, [out[col][r] for r in augmented], col_seeds,
                                                  labels)
            for r, value, app, seed in zip(augmented, values, applied, col_seeds):
                out[col][r] = value
                ops[r] += [dict(a, column=col) for a in app or []] if len(self.columns) > 1 else app or []
                seeds[r] = seed if len(self.columns) == 1 else None
        out["source_index"] = [index for _, index, _ in rows]
        out["copy"] = [k for _, _, k in rows]
        out["seed"] = seeds if len(self.columns) == 1 else [None] * len(rows)
        if self.record_ops:
            out["augment_ops"] = [json.dumps(o, separators=(",", ":"), ensure_ascii=False) for o in ops]
        return out


def with_row_index(dataset: Any, column: str = INDEX_COLUMN) -> Any:
    """``dataset`` with a column holding each row's index (what ``Transform`` keys its seeds on)."""
    if column in dataset.column_names:
        return dataset
    return dataset.add_column(column, list(range(len(dataset))))
