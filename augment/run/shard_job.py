"""Sharded output (``--output-format webdataset|parquet``): the per-item work of a folder run, written as shards.

The sorted list of source images is cut into shards of a fixed number of sources (``items_per_shard``: the
shard size in samples divided by the outputs per source), so which outputs share a shard depends only on the
inputs, never on workers, engine or order. Each shard is cut again into parts of a few sources (``ShardTask``,
one part each): a worker runs the usual image job on a part's sources into a ``MemoryStore`` instead of a folder
and sends back the encoded samples (a tar fragment, or the Parquet rows) with the manifest records. The run's
main process (``ShardAssembler``) appends the parts of each shard in their order to the shard's temporary file
in OUTPUT and renames it into place when its last part is in; only then do the shard's records reach the
manifest. Parts run on every worker whatever shard they belong to, so the number of shards no longer limits
the parallelism (7 shards over 2 workers left the last one running alone), and a shard is never half-written.

Manifest records are those of a folder run (``output`` is the name the file would have, ``sha256`` its bytes)
plus ``shard``. A resumed run skips a shard when its file exists and the manifest records exactly the outputs
the plan puts into it; any other shard is redone whole (an input that changed, went away or appeared moves the
boundaries of the shards after it, which are then redone too).

Text (``--output-format parquet``): each chunk's part file is a Parquet table of its output rows instead of
text lines, and the parts are joined in chunk order into ``OUTPUT/<input stem>.parquet`` (columns ``text``,
``label``, the input's other columns, ``source_row``, ``copy``, ``seed``). Everything else (chunks, seeds,
resume, errors) is the text run's.
"""

from __future__ import annotations

import errno
import math
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from augment.io.atomic import TMP_MARK
from augment.io.shards import (  # noqa: F401 (the text helpers are re-exported)
    SHARD_SUFFIX,
    ParquetShardWriter,
    Sample,
    join_text_parquet,
    shard_name,
    tar_end,
    tar_members,
    text_parquet_name,
    text_parquet_part,
)
from augment.io.store import OutputWriteError

__all__ = [
    "ShardTask",
    "ShardAssembler",
    "MemoryStore",
    "PART_KEY",
    "items_per_shard",
    "recorded_shards",
    "shard_tasks",
    "stale_shards",
    "process_shard_task",
    "text_parquet_name",
    "text_parquet_part",
    "join_text_parquet",
]

PART_KEY = "_shard_part"  # the record that carries a part's samples back to the main process (never in a manifest)


@dataclass(frozen=True)
class ShardTask:
    """Part ``part`` (of ``parts``) of shard ``index``: a few of its sources."""

    index: int
    fmt: str  # webdataset | parquet
    tasks: tuple  # ImageTasks of the part's sources, in sorted order, every output wanted
    part: int = 0
    parts: int = 1

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


def _wanted(members) -> set[tuple]:
    wanted = {(t.source, None, k) for t in members for k in t.copies}
    return wanted | {(t.source, None, None) for t in members if t.original}


def recorded_shards(records) -> dict[str, set[tuple]]:
    """Shard name -> the (source, row, copy) keys the manifest records in it."""
    shards: dict[str, set[tuple]] = {}
    for rec in records:
        if rec.get("shard"):
            shards.setdefault(rec["shard"], set()).add((rec.get("source"), rec.get("row"), rec.get("copy")))
    return shards


def shard_tasks(tasks: list, fmt: str, per_shard: int, done: set, recorded: dict[str, set[tuple]] | None = None,
                part_size: int = 16) -> tuple[list[ShardTask], int]:
    """Group ``tasks`` (every source, every output) into shards and the shards into parts of ``part_size``
    sources; returns the parts of the shards to (re)do and the number of outputs skipped because their shard is
    done: on disk (``done``) and recorded with exactly the outputs planned into it (``recorded``)."""
    parts, skipped = [], 0
    part_size = max(1, part_size)
    for index, start in enumerate(range(0, len(tasks), per_shard)):
        members = tuple(tasks[start:start + per_shard])
        wanted = _wanted(members)
        name = shard_name(fmt, index)
        if wanted and wanted <= done and (recorded is None or recorded.get(name) == wanted):
            skipped += len(wanted)
            continue
        count = math.ceil(len(members) / part_size)
        parts += [ShardTask(index, fmt, members[p * part_size:(p + 1) * part_size], p, count) for p in range(count)]
    return parts, skipped


def stale_shards(names: list[str], fmt: str, count: int) -> list[str]:
    """Shard files of this format numbered ``count`` or more: left by a run with more shards (inputs removed
    since), they would hold samples the plan puts elsewhere now."""
    pattern = re.compile(r"shard-(\d{6,})" + re.escape(SHARD_SUFFIX[fmt]))
    return [n for n in names if (m := pattern.fullmatch(n)) and int(m.group(1)) >= count]


def process_shard_task(config, task: ShardTask, result, process_image) -> None:
    """Run ``process_image`` (the folder run's per-image work, passed in by ``job.process_chunk`` so this module
    does not import it back) on the part's sources into memory; the samples travel back in a ``PART_KEY`` record
    put first in ``result.records``, for ``ShardAssembler`` to write."""
    memory = MemoryStore()
    marker = {PART_KEY: None}
    result.records.append(marker)
    first = len(result.records)
    for item in task.tasks:
        process_image(config, item, result, store=memory)
    samples = []
    for rec in result.records[first:]:
        label = PurePosixPath(rec["source"]).parts[0] if "/" in rec["source"] else None
        samples.append(Sample(rec["output"], data=memory.objects[rec["output"]], meta={
            "source": rec["source"], "copy": rec["copy"], "seed": rec["seed"], "label": label}))
        rec["shard"] = task.name
    # webdataset: the tar bytes themselves (the main process only appends them); parquet: the samples
    payload = tar_members(samples) if task.fmt == "webdataset" else samples
    marker[PART_KEY] = {"index": task.index, "part": task.part, "parts": task.parts, "data": payload}


class _OpenShard:
    """One shard being written: its parts arrive in any order and are appended in theirs to a temporary file."""

    def __init__(self, path: Path, fmt: str, parts: int) -> None:
        self.path, self.fmt, self.parts = path, fmt, parts
        self.next = 0
        self.waiting: dict[int, tuple] = {}  # part -> (data, records) of parts that came early
        self.records: list[dict] = []
        self.size = 0
        self.fh = open(path, "wb")
        self.parquet = ParquetShardWriter(self.fh) if fmt == "parquet" else None

    def add(self, part: int, data, records: list[dict]) -> bool:
        """Take a part; append every part now in order. True when the last part is written."""
        self.waiting[part] = (data, records)
        while self.next in self.waiting:
            data, records = self.waiting.pop(self.next)
            if self.parquet is not None:
                self.parquet.write(data)
            else:
                self.fh.write(data)
                self.size += len(data)
            self.records += records
            self.next += 1
        return self.next == self.parts

    def close(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        else:
            self.fh.write(tar_end(self.size))
        self.fh.close()

    def discard(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


class ShardAssembler:
    """The main process's side of a sharded run: takes each ``ChunkResult`` as it comes back, writes its part
    into its shard, and returns what the manifest may record now: the records of the shards completed by this
    part (their file renamed into place), plus the part's errors and counts, which never wait.

    ``scratch`` is where temporary shard files are written (OUTPUT itself for a folder, so the rename is
    atomic; the staging folder for a URL OUTPUT, whose shards are uploaded as one object each); ``publish(name,
    path)`` puts a finished file in place. Temporary files carry this process's pid, so a killed run's are
    removed by the next run's clean-up (``augment.io.atomic.remove_stale_temporaries``).
    """

    def __init__(self, scratch: Path, publish, fmt: str) -> None:
        self.scratch, self.publish, self.fmt = Path(scratch), publish, fmt
        self.open: dict[int, _OpenShard] = {}
        self.failed: set[str] = set()

    def take(self, result):
        groups: list[tuple[dict, list[dict]]] = []
        for rec in result.records:
            if PART_KEY in rec:
                groups.append((rec[PART_KEY], []))
            elif groups:
                groups[-1][1].append(rec)
        result.records = []
        if not groups:  # a worker died on this part (engines report it under the shard's name): drop the shard
            for err in result.errors:
                self._fail(err.get("source"))
        for part, records in groups:
            result.records += self._add(part, records)
        return result

    def _add(self, part: dict, records: list[dict]) -> list[dict]:
        name = shard_name(self.fmt, part["index"])
        if name in self.failed:
            return []
        try:
            shard = self.open.get(part["index"])
            if shard is None:
                tmp = self.scratch / f".{name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_MARK}"
                shard = self.open[part["index"]] = _OpenShard(tmp, self.fmt, part["parts"])
            if not shard.add(part["part"], part["data"], records):
                return []
            del self.open[part["index"]]
            shard.close()
            self.publish(name, shard.path)
            return shard.records
        except OSError as exc:
            self.abort()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
                raise OutputWriteError(f"cannot write {name}: {exc.strerror}") from None
            raise

    def _fail(self, source) -> None:
        for index, shard in list(self.open.items()):
            if shard_name(self.fmt, index) == source:
                shard.discard()
                del self.open[index]
        if isinstance(source, str) and source.startswith("shard-"):
            self.failed.add(source)

    def abort(self) -> None:
        """Remove the temporary files of the shards not finished (the run stops; a resume redoes them)."""
        for shard in self.open.values():
            shard.discard()
        self.open.clear()

    def finish(self) -> None:
        """At the end of the run: shards still open lost a part (its worker died, reported in errors.jsonl)."""
        self.abort()


def publish_local(root: Path):
    """``publish`` for a folder OUTPUT: rename the temporary file into place (atomic on one file system)."""
    def publish(name: str, path: Path) -> None:
        os.replace(path, Path(root) / name)
    return publish


def publish_to_store(store):
    """``publish`` for a URL OUTPUT: upload the finished file as one object, then remove it."""
    def publish(name: str, path: Path) -> None:
        store.write_bytes(name, path.read_bytes())
        path.unlink(missing_ok=True)
    return publish


__all__ += ["publish_local", "publish_to_store"]
