"""Sharded output (``--output-format webdataset|parquet``): the per-item work of a folder run, written as shards.

The sorted list of source images is cut into shards of a fixed number of sources (``items_per_shard``: the
shard size in samples divided by the outputs per source), so which outputs share a shard depends only on the
inputs, never on workers, engine or order. One ``ShardTask`` is one shard: a worker runs the usual image job on
each of its sources into a ``MemoryStore`` instead of a folder, then writes the shard as one atomic object. Its
manifest records are those of a folder run (``output`` is the name the file would have, ``sha256`` its bytes)
plus ``shard``. A resumed run skips the shards whose every output is in the manifest and redoes the others
whole; a shard is never half-written.

Text (``--output-format parquet``): each chunk's part file is a Parquet table of its output rows instead of
text lines, and the parts are joined in chunk order into ``OUTPUT/<input stem>.parquet`` (columns ``text``,
``label``, the input's other columns, ``source_row``, ``copy``, ``seed``). Everything else (chunks, seeds,
resume, errors) is the text run's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import PurePosixPath

from augment.io.shards import (  # noqa: F401 (the text helpers are re-exported)
    Sample,
    join_text_parquet,
    parquet_shard,
    shard_name,
    tar_shard,
    text_parquet_name,
    text_parquet_part,
)

__all__ = [
    "ShardTask",
    "MemoryStore",
    "items_per_shard",
    "shard_tasks",
    "process_shard_task",
    "text_parquet_name",
    "text_parquet_part",
    "join_text_parquet",
]


@dataclass(frozen=True)
class ShardTask:
    index: int
    fmt: str  # webdataset | parquet
    tasks: tuple  # ImageTasks of the shard's sources, in sorted order, every output wanted

    @property
    def source(self) -> str:  # what an engine names when the worker dies on this task
        return self.name

    @property
    def name(self) -> str:
        return shard_name(self.fmt, self.index)


class MemoryStore:
    """Collects what the image job writes, in order, instead of writing files."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def write_bytes(self, rel: str, data: bytes, fsync: bool = False) -> None:
        self.objects[rel] = data


def items_per_shard(shard_size: int, copies: int, include_originals: bool) -> int:
    return max(1, math.ceil(shard_size / max(1, copies + int(include_originals))))


def shard_tasks(tasks: list, fmt: str, per_shard: int, done: set) -> tuple[list[ShardTask], int]:
    """Group ``tasks`` (every source, every output) into shards; returns the shards to (re)do and the number of
    outputs skipped because their whole shard is done."""
    shards, skipped = [], 0
    for index, start in enumerate(range(0, len(tasks), per_shard)):
        members = tuple(tasks[start:start + per_shard])
        wanted = [(t.source, None, k) for t in members for k in t.copies]
        wanted += [(t.source, None, None) for t in members if t.original]
        if wanted and all(w in done for w in wanted):
            skipped += len(wanted)
            continue
        shards.append(ShardTask(index, fmt, members))
    return shards, skipped


def process_shard_task(config, task: ShardTask, result, process_image) -> None:
    """Run ``process_image`` (the folder run's per-image work, passed in by ``job.process_chunk`` so this module
    does not import it back) on every member into memory, then write the shard as one atomic file."""
    from augment.run.job_base import store_for, write_output

    memory = MemoryStore()
    first = len(result.records)
    for item in task.tasks:
        process_image(config, item, result, store=memory)
    records = result.records[first:]
    samples = []
    for rec in records:
        label = PurePosixPath(rec["source"]).parts[0] if "/" in rec["source"] else None
        samples.append(Sample(rec["output"], data=memory.objects[rec["output"]], meta={
            "source": rec["source"], "copy": rec["copy"], "seed": rec["seed"], "label": label}))
        rec["shard"] = task.name
    data = tar_shard(samples) if task.fmt == "webdataset" else parquet_shard(samples)
    try:
        write_output(store_for(config), task.name, data)
    except BaseException:
        del result.records[first:]  # nothing of this shard is on disk
        raise
