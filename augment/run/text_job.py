"""The text unit of work: augment one chunk of dataset rows into a part file.

A chunk's rows are augmented together (``Pipeline.run_batch``), so ops with a batch form — back-translation —
see the whole chunk in one call. The chunk's output rows (each original first when kept, then its copies) are
serialised in the input's format and written atomically as one part file; the parts are joined in chunk order
when the run completes, so the output does not depend on how many workers there were.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from augment.io.text_formats import TextFormat, TextRow, UnrepresentableRowError, format_row
from augment.run.job_base import (
    ChunkResult,
    JobConfig,
    augmentation_failure,
    pipeline_for,
    store_for,
    write_output,
)
from augment.seeding import derive_seed

__all__ = ["PARTS_DIR", "TextTask", "row_seed", "process_text_task"]

PARTS_DIR = ".augment-parts"


@dataclass(frozen=True)
class TextTask:
    source: str  # the dataset file's name (the key its rows' seeds derive from)
    chunk: int
    rows: tuple[TextRow, ...]
    copies: int
    original: bool

    @property
    def part(self) -> str:
        return f"{PARTS_DIR}/chunk-{self.chunk:07d}.part"


def row_seed(spec_seed: int, source: str, row_index: int, copy: int) -> int:
    return derive_seed(spec_seed, f"{source}#{row_index}", copy)


def process_text_task(config: JobConfig, task: TextTask, result: ChunkResult) -> None:
    pipe = pipeline_for(config)
    jobs = [(row, k) for row in task.rows for k in range(task.copies)]
    try:
        outs = pipe.run_batch([row.text for row, _ in jobs], [row_seed(pipe.spec.seed, task.source, row.index, k)
                                                              for row, k in jobs])
    except Exception:  # one bad row must not sink its chunk: redo the rows one at a time, errors per row
        outs = None
    by_row: dict[int, list] = {}
    for i, (row, k) in enumerate(jobs):
        if outs is None:
            try:
                res = pipe.run(row.text, seed=row_seed(pipe.spec.seed, task.source, row.index, k))
            except Exception as exc:
                by_row.setdefault(row.index, []).append((k, None, augmentation_failure(exc)))
                continue
        else:
            res = outs[i]
        by_row.setdefault(row.index, []).append((k, res, None))
    fmt = TextFormat(**config.text_format)  # once per chunk: building it validates the format
    pieces: list[str] = []
    records: list[dict] = []  # reported only once the part file is safely written
    emitted: list[tuple] = []  # (output row, copy, seed): what a Parquet part holds
    for row in task.rows:
        if task.original:
            _emit(config, fmt, task, row, None, None, row, pieces, records, result, emitted=emitted)
        for k, res, err in by_row.get(row.index, []):
            if err is not None:
                result.errors.append({"source": task.source, "row": row.index, "line": row.line, "error": err})
                continue
            seed = row_seed(pipe.spec.seed, task.source, row.index, k)
            _emit(config, fmt, task, row, k, seed, dataclasses.replace(row, text=res.output), pieces, records, result,
                  res.applied, emitted=emitted)
    if getattr(config, "output_format", "folder") == "parquet":  # the part is a Parquet table of the rows
        from augment.io.shards import text_parquet_part, text_parquet_name

        write_output(store_for(config), task.part, text_parquet_part(emitted))
        for rec in records:
            rec["output"] = text_parquet_name(task.source)
    else:
        write_output(store_for(config), task.part, "".join(pieces).encode("utf-8"))
    result.records.extend(records)


def _emit(config, fmt, task, row, copy, seed, out_row, pieces, records, result, ops=(), emitted=None) -> None:
    try:
        text = format_row(out_row, fmt)
    except UnrepresentableRowError as exc:
        result.errors.append({"source": task.source, "row": row.index, "line": row.line, "copy": copy,
                              "error": f"cannot write row: {exc}"})
        return
    pieces.append(text)
    if emitted is not None:
        emitted.append((out_row, copy, seed))
    records.append({
        "source": task.source, "row": row.index, "line": row.line, "copy": copy, "seed": seed,
        "pipeline_hash": config.spec_hash, "ops": list(ops), "output": task.source, "part": task.part,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
    })
