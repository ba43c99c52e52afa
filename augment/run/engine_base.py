"""What every engine shares (core count, the result of an item that killed its worker), below the engines so the
Dask engine does not import the local one."""

from __future__ import annotations

import os
import time

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


class BusyMeter:
    """Where an engine's worker time went, from the chunks' own timings (``ChunkResult.worker`` / ``started_at``
    / ``finished_at`` / ``cpu_seconds``): the summary's ``scheduling`` block.

    Each worker's share of the run's wall time (engine start to last result) is split into busy (on chunks),
    start-up (before its first chunk: process start, imports, first pipeline build), gaps (between its chunks:
    waiting on the main process for work, or on the pool) and tail (after its last chunk, while others finish).
    A worker that never got a chunk counts as start-up throughout. The main process's CPU over the same span
    (dispatch, unpickling results, manifest lines) is reported per output. Times come from ``time.time`` in each
    worker, so they compare across processes of one machine; on a cluster of several, clocks may disagree by a
    few ms.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.started = time.time()
        self.main_cpu = time.process_time()
        self.per: dict[str, dict] = {}
        self.chunks = self.outputs = 0

    def add(self, result: ChunkResult) -> None:
        self.chunks += 1
        self.outputs += len(result.records)
        if not result.worker:  # made here, not by a worker (``died_result``): no worker time to account for
            return
        w = self.per.setdefault(result.worker, {"chunks": 0, "outputs": 0, "busy": 0.0, "cpu": 0.0,
                                                        "first": result.started_at, "last": result.finished_at})
        w["chunks"] += 1
        w["outputs"] += len(result.records)
        w["busy"] += result.work_seconds
        w["cpu"] += result.cpu_seconds
        w["first"] = min(w["first"], result.started_at)
        w["last"] = max(w["last"], result.finished_at)

    def report(self) -> dict:
        end = time.time()
        wall = max(end - self.started, 1e-9)
        main_cpu = time.process_time() - self.main_cpu
        slots = max(self.workers, len(self.per))
        busy = sum(w["busy"] for w in self.per.values())
        startup = sum(max(0.0, w["first"] - self.started) for w in self.per.values()) + wall * (slots - len(self.per))
        tail = sum(max(0.0, end - w["last"]) for w in self.per.values())
        gaps = sum(max(0.0, (w["last"] - w["first"]) - w["busy"]) for w in self.per.values())
        capacity = wall * slots

        def r(x: float) -> float:
            return round(x, 3)

        return {
            "chunks": self.chunks, "outputs": self.outputs, "threads": slots, "wall_seconds": r(wall),
            "worker_seconds": r(busy), "busy_fraction": r(min(1.0, busy / capacity)),
            "overhead_ms_per_output": r(1000 * max(0.0, capacity - busy) / self.outputs) if self.outputs else None,
            "idle_seconds": {"startup": r(startup), "gaps": r(gaps), "tail": r(tail)},
            "worker_cpu_ms_per_output": r(1000 * sum(w["cpu"] for w in self.per.values()) / self.outputs)
            if self.outputs else None,
            "main_cpu_seconds": r(main_cpu),
            "main_cpu_ms_per_output": r(1000 * main_cpu / self.outputs) if self.outputs else None,
            "workers": [{"chunks": w["chunks"], "outputs": w["outputs"], "busy_seconds": r(w["busy"]),
                         "cpu_seconds": r(w["cpu"]), "busy_fraction": r(min(1.0, w["busy"] / wall)),
                         "first_chunk_at": r(w["first"] - self.started), "last_chunk_done_at": r(w["last"] - self.started)}
                        for w in self.per.values()],
        }


__all__ = ["available_cores", "task_source", "died_result", "BusyMeter"]
