"""Engines: different ways to run ``process_chunk`` over chunks of tasks, with one contract.

``engine.run(config, chunks)`` yields ``ChunkResult``s in completion order. Outputs never depend on the engine,
because every item's seed derives from its identity. Per-item errors come back inside results; a worker process
that dies (segfault, ``os._exit``, out of memory) costs nothing but the item that killed it: its chunk is retried
item by item, each alone, and only the item that kills a worker on its own is reported as failed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator, Protocol

from augment import interrupts
from augment.run.engine_base import BusyMeter, available_cores, died_result, task_source  # noqa: F401 (re-exported)
from augment.run.forkserver import preload_for_spec, start_forkserver, warm_up  # noqa: F401 (re-exported)
from augment.run.job import ChunkResult, JobConfig, process_chunk
from augment.run.worker import init_pool_worker, stop_signals_deferred

__all__ = ["Engine", "available_cores", "SerialEngine", "task_source", "died_result", "LocalEngine", "make_engine",
           "preload_for", "preload_for_spec", "start_forkserver", "warm_up"]


class Engine(Protocol):
    name: str

    def run(self, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]: ...


class SerialEngine:
    """In-process, in order: for debugging, tests and tiny inputs."""

    name = "serial"

    def run(self, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]:
        for chunk in chunks:
            interrupts.raise_if_pending()
            yield process_chunk(config, chunk)


class LocalEngine:
    """A process pool with a bounded number of chunks in flight, so memory stays flat for any dataset size."""

    name = "local"

    def __init__(self, workers: int | None = None, in_flight_per_worker: int = 2) -> None:
        self.workers = max(1, workers or available_cores())
        self.max_in_flight = self.workers * in_flight_per_worker
        self._preload: tuple[str, ...] = ()
        self.stats: dict | None = None  # after a run: where the workers' time went (``BusyMeter.report``)

    def _pool(self, config: JobConfig | None = None) -> ProcessPoolExecutor:
        # forkserver: workers start clean (no inherited threads or locks), and still start fast.
        if config is not None:
            self._preload = preload_for(config)
        start_forkserver(self._preload)
        return ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("forkserver"), initializer=init_pool_worker,
            initargs=(max(1, available_cores() // self.workers), os.getpid()),
        )

    def run(self, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]:
        meter = BusyMeter(self.workers)  # from before the pool starts: worker start-up counts as idle
        try:
            for result in self._run(config, chunks):
                meter.add(result)
                yield result
        finally:
            self.stats = meter.report()

    def _run(self, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]:
        source = iter(chunks)
        suspects: deque = deque()  # single items from chunks whose worker died
        pool = self._pool(config)
        try:
            inflight: dict = {}
            exhausted = False
            while True:
                interrupts.raise_if_pending()  # a Ctrl-C Python swallowed (augment.interrupts)
                while not suspects and not exhausted and len(inflight) < self.max_in_flight:
                    chunk = next(source, None)
                    if chunk is None:
                        exhausted = True
                        break
                    inflight[_submit(pool, config, chunk)] = chunk
                if not inflight:
                    if suspects:
                        pool = yield from self._isolate(config, suspects, pool)
                        continue
                    if exhausted:
                        return
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    chunk = inflight.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.extend(chunk)
                if broken:
                    for fut, chunk in inflight.items():
                        suspects.extend(chunk)
                    inflight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop now; a chunk's finished files are redone on resume
            stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _isolate(self, config: JobConfig, suspects: deque, pool: ProcessPoolExecutor):
        """Run each suspect item alone; the one that kills its worker alone is the poisoned one."""
        while suspects:
            task = suspects.popleft()
            fut = _submit(pool, config, [task])
            try:
                yield fut.result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = self._pool()
                yield died_result(task, "the process exited abnormally")
        return pool


def _submit(pool: ProcessPoolExecutor, config: JobConfig, chunk: list):
    """``pool.submit``, which starts a worker when one is missing: Ctrl-C or SIGTERM then waits until the worker is
    started and known to the pool, so ``stop_workers`` kills it. Interrupted half-way, a worker the pool did not
    know yet went on starting after the run had cleaned up, and printed ``FileNotFoundError`` (its queue's
    semaphore gone) under the run's one-line error."""
    with stop_signals_deferred():
        return pool.submit(process_chunk, config, chunk)


def preload_for(config: JobConfig) -> tuple[str, ...]:
    """The modules the forkserver preloads for a run of ``config``: the worker's job modules and, for image
    runs, the backend of the spec (text runs load their models per worker, on demand)."""
    return preload_for_spec(config.spec, config.annotation_format is not None)


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's workers at once (they ignore SIGINT; a chunk may take a while to finish)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, ValueError):  # already gone, or already closed
            pass
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    # The pool's manager thread closes its wake-up pipe as it notices the dead workers. Python 3.11's exit hook
    # writes to that pipe after checking it is open, unlocked: exiting during the close printed "Exception
    # ignored ... OSError: [Errno 9] Bad file descriptor" under the run's one-line error (CI). Once the thread has
    # ended, the hook finds the pipe closed and writes nothing.
    if manager is not None and manager is not threading.current_thread():
        manager.join(timeout=10)


def make_engine(name: str, workers: int | None = None, scheduler: str | None = None,
                scheduler_timeout: float = 10.0) -> Engine:
    if name == "serial":
        return SerialEngine()
    if name == "local":
        return LocalEngine(workers)
    if name == "dask":
        from augment.extras import require

        require("dask", "--engine dask")
        from augment.run.dask_engine import DaskEngine

        return DaskEngine(workers=workers, scheduler=scheduler, scheduler_timeout=scheduler_timeout)
    raise ValueError(f"unknown engine {name!r}; choose serial, local or dask")
