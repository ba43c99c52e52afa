"""The engine-neutral unit of work: process a chunk of items into written files, manifest records and errors.

Every engine (serial, process pool, Dask) ships the same picklable ``JobConfig`` and lists of tasks to
``process_chunk`` and gets a ``ChunkResult`` back. Workers write output files themselves (atomically, into the
output store that ``store_for`` rebuilds from the config: a folder or an fsspec URL); manifest records travel back
to the one process that writes the manifest. A bad item becomes an error record; only a problem with the output
location (disk full, permission, an unreachable store) stops the run.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import PurePosixPath

from augment.compile.pipeline import Pipeline  # noqa: F401 (re-exported)
from augment.io.fingerprint import fingerprint_of
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.paths import OutsideRootError, UnsafePathError, open_within
from augment.io.store import LocalStore, OutputStore, OutputWriteError, open_store  # noqa: F401 (re-exported)
from augment.run.job_base import (  # noqa: F401 (re-exported: the engines and tests import them from here)
    ChunkResult,
    JobConfig,
    augmentation_failure,
    output_record as _record,
    pipeline_failure,
    pipeline_for,
    store_for,
    write_output,
)
from augment.run.text_job import process_text_task
from augment.seeding import derive_seed
from augment.text.llm_client import EndpointUnreachableError

__all__ = [
    "JobConfig",
    "ImageTask",
    "ChunkResult",
    "store_for",
    "pipeline_for",
    "output_name",
    "process_chunk",
    "write_output",
]


@dataclass(frozen=True, slots=True)  # slots: a run holds one per input image (~half the memory of a __dict__)
class ImageTask:
    source: str  # relative POSIX path under INPUT
    copies: tuple[int, ...]  # copy indices still to write
    original: bool = False  # also copy the source file itself


def output_name(source: str, copy: int) -> str:
    pure = PurePosixPath(source)
    return str(pure.with_name(f"{pure.stem}__aug{copy}{pure.suffix}"))


def process_chunk(config: JobConfig, tasks: list) -> ChunkResult:
    # which process ran the chunk (the busy report counts per worker); the host too, for Dask clusters
    result = ChunkResult(worker=f"{_HOST}:{os.getpid()}", started_at=time.time())
    started, cpu = time.perf_counter(), time.process_time()
    try:
        _process_tasks(config, tasks, result)
    finally:
        result.work_seconds = time.perf_counter() - started
        result.cpu_seconds = time.process_time() - cpu
        result.finished_at = result.started_at + result.work_seconds
    return result


_HOST = platform.node()


def _process_tasks(config: JobConfig, tasks: list, result: ChunkResult) -> None:
    result.fatal = pipeline_failure(config)  # compiled once per worker and spec: the tasks below use it
    if result.fatal:  # nothing written: a resume redoes this chunk
        return
    for task in tasks:
        try:
            if isinstance(task, ImageTask):
                _process_image(config, task, result)
            elif hasattr(task, "fmt"):  # a ShardTask
                from augment.run.shard_job import process_shard_task

                process_shard_task(config, task, result, _process_image)
                result.items += len(task.tasks) - 1
            elif config.annotation_format is not None:
                from augment.run.annotated_job import process_annotated_task

                process_annotated_task(config, task, result)
            else:
                process_text_task(config, task, result)
        except (OutputWriteError, EndpointUnreachableError) as exc:
            result.fatal = str(exc)  # the run stops; this chunk wrote nothing, so a resume redoes it
            break
        result.items += len(getattr(task, "rows", ())) or 1


def _process_image(config: JobConfig, task: ImageTask, result: ChunkResult, store=None) -> None:
    pipe = pipeline_for(config)
    out_root = store if store is not None else store_for(config)
    try:
        with open_within(config.input_root, task.source) as fh:
            data = fh.read()
            fingerprint = fingerprint_of(data, os.fstat(fh.fileno()))  # of the bytes used: a resume compares it
        image, info = decode_image(data)
    except OutsideRootError as exc:  # a symlink swapped in after the scan: still never read
        result.errors.append({"source": task.source, "error": f"{exc}; not read"})
        return
    except ImageReadError as exc:
        result.errors.append({"source": task.source, "error": str(exc)})
        return
    except PermissionError:
        result.errors.append({"source": task.source, "error": "permission denied"})
        return
    except OSError as exc:
        result.errors.append({"source": task.source, "error": f"cannot read file: {exc.strerror or exc}"})
        return
    fmt = output_format(task.source, info)
    try:
        if task.original:
            write_output(out_root, task.source, data, config.durable)
            result.records.append(_record(config, task.source, task.source, None, None, [], data, fingerprint))
        for copy in task.copies:
            seed, out = _image_copy(pipe, config, task.source, copy, image, result)
            if out is None:
                continue
            encoded = encode_image(out.output, fmt, config.quality)
            rel = output_name(task.source, copy)
            write_output(out_root, rel, encoded, config.durable)
            result.records.append(_record(config, task.source, rel, copy, seed, out.applied, encoded, fingerprint))
    except (OutputWriteError, UnsafePathError):
        raise
    except Exception as exc:  # an op failing on one item (e.g. a crop larger than the image) skips that item
        result.errors.append({"source": task.source, "error": augmentation_failure(exc)})


# Redraws of an image copy on which no op fired (it would be a re-encoded source), from derived seeds.
MAX_REDRAWS = 4


def _image_copy(pipe: Pipeline, config: JobConfig, source: str, copy: int, image, result: ChunkResult):
    """(seed, result) of one image copy; a copy on which no op fired is drawn again up to ``MAX_REDRAWS`` times
    from derived seeds, then dropped and counted ((seed, None)), unless ``config.keep_unchanged``. Replay reads
    the recorded ops, so a redrawn copy replays like any other."""
    seed = derive_seed(pipe.spec.seed, source, copy)
    out = pipe.run(image, seed=seed)
    if config.keep_unchanged:
        return seed, out
    for attempt in range(1, MAX_REDRAWS + 1):
        if out.applied:
            if attempt > 1:
                result.redrawn += 1
            return seed, out
        seed = derive_seed(pipe.spec.seed, f"{source}#redraw{attempt}", copy)
        out = pipe.run(image, seed=seed)
    if out.applied:
        result.redrawn += 1
        return seed, out
    result.dropped_unchanged += 1
    return seed, None


# The per-copy rule of a run (redraws of copies on which no op fired), for callers that augment single items the
# way `augment run` does (the HTTP service).
image_copy = _image_copy
__all__ += ["image_copy"]
