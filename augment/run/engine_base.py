"""What every engine shares (core count, the result of an item that killed its worker), below the engines so the
Dask engine does not import the local one."""

from __future__ import annotations

import os

from augment.run.job import ChunkResult


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def task_source(task) -> str:
    return getattr(task, "source", None) or getattr(task, "key", "?")


def died_result(task, detail: str) -> ChunkResult:
    return ChunkResult(errors=[{"source": task_source(task), "error": f"worker process died on this item ({detail})"}], items=1)


__all__ = ["available_cores", "task_source", "died_result"]
