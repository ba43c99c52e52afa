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

Image columns hold PIL images (the ``datasets.Image`` feature decodes to them) or uint8 arrays; text columns hold
strings. ``None`` values pass through untouched. ``datasets`` itself is only needed by ``with_row_index``.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from augment.compile.pipeline import Pipeline
from augment.seeding import derive_seed

__all__ = ["INDEX_COLUMN", "Transform", "Expansion", "row_seed", "with_row_index"]

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


def _augment_column(pipe: Pipeline, values: list, seeds: list[int]):
    """(outputs, applied) for one column: None values pass through; texts go through run_batch together."""
    outputs = list(values)
    applied: list[list | None] = [None] * len(values)
    todo = [i for i, v in enumerate(values) if v is not None]
    if todo:
        results = pipe.run_batch([values[i] for i in todo], [seeds[i] for i in todo])
        for i, res in zip(todo, results):
            outputs[i], applied[i] = res.output, res.applied
    return outputs, applied


class Transform:
    """A batch transform for ``Dataset.with_transform`` / ``set_transform`` (batch dict in, batch dict out).

    ``columns``: the image or text column(s) to augment (each column draws its own values: its name is part of the
    row key). Rows are identified by ``index_column`` (added by ``with_row_index``); it is dropped from the
    output unless ``keep_index``.
    """

    def __init__(self, pipeline: Pipeline, columns: str | Iterable[str], *, epoch: int = 0,
                 index_column: str = INDEX_COLUMN, keep_index: bool = False) -> None:
        self.pipeline = pipeline
        self.columns = _columns(columns)
        self.epoch = int(epoch)
        self.index_column = index_column
        self.keep_index = keep_index

    def set_epoch(self, epoch: int) -> None:
        """Draw the values of epoch ``epoch`` from now on (call before creating each epoch's iterator)."""
        self.epoch = int(epoch)

    def __call__(self, batch: dict) -> dict:
        if self.index_column not in batch:
            raise KeyError(f"the batch has no {self.index_column!r} column: add it with augment.hf.with_row_index(ds) "
                           "before with_transform (a transform is not told which rows it gets)")
        _check_columns(batch, self.columns)
        out = dict(batch)
        indices = [int(i) for i in batch[self.index_column]]
        for col in self.columns:
            seeds = [_column_seed(self.pipeline.spec.seed, i, self.epoch, col, self.columns) for i in indices]
            out[col], _ = _augment_column(self.pipeline, list(batch[col]), seeds)
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
                 include_originals: bool = False, record_ops: bool = False) -> None:
        self.pipeline = pipeline
        self.columns = _columns(columns)
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
        _check_columns(batch, self.columns)
        rows = self.plan(indices)
        out: dict[str, list] = {name: [values[pos] for pos, _, _ in rows] for name, values in batch.items()}
        seeds: list[int | None] = [None] * len(rows)
        ops: list[list] = [[] for _ in rows]
        augmented = [r for r, (_, _, k) in enumerate(rows) if k is not None]
        for col in self.columns:
            col_seeds = [_column_seed(self.pipeline.spec.seed, rows[r][1], rows[r][2], col, self.columns)
                         for r in augmented]
            values, applied = _augment_column(self.pipeline, [out[col][r] for r in augmented], col_seeds)
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
