"""The Dask distributed engine: the same ``process_chunk`` unit of work, run on a Dask cluster.

``DaskEngine(scheduler="tcp://host:port")`` connects to an existing cluster (Kubernetes, SLURM, a cloud Dask
service); without a scheduler it starts a ``LocalCluster`` of ``workers`` single-threaded processes and closes it
when the run ends.

Cluster users, note:
- Workers import ``augment`` themselves (tasks ship a reference to ``augment.run.dask_engine.run_packed``, not its
  code), so every worker must have the same ``augment`` version installed as the client, with the same
  albumentations/OpenCV/Pillow versions if outputs are to be byte-identical to a local run.
- Workers read INPUT and write OUTPUT themselves: both paths must mean the same place on every worker (a shared
  file system).
- A worker that dies on an item is detected through ``KilledWorker``. On a ``LocalCluster`` made here the
  scheduler's ``allowed-failures`` is 0, so a poisoned chunk fails at once; an existing cluster keeps its own
  setting (Dask's default is 3), so a poisoned item may kill a few workers (their nannies restart them) before
  it is reported.

Chunks are submitted here, a bounded number at a time (the executor's ``map`` would ignore chunk size and
queue everything), and results come back in completion order. A chunk whose worker died is retried item by
item, one at a time, and only an item that kills a worker on its own is reported failed, with the same error
as the local engine.
"""

from __future__ import annotations

import pickle
import warnings
from collections import deque
from typing import Iterable, Iterator

from augment.run.engine_base import BusyMeter, available_cores, died_result
from augment import interrupts
from augment.run.errors import RunError


def scheduling_stats(chunks: int, outputs: int, work_seconds: float, wall_seconds: float, threads: int) -> dict:
    """What the cluster's time went to: the workers' threads were available ``wall x threads`` seconds and spent
    ``work_seconds`` on chunks; the rest (scheduling, moving tasks and results, waiting for the client, the last
    chunks' tail) is the overhead, reported per output. Cluster start-up is not in it."""
    capacity = wall_seconds * threads
    idle = max(0.0, capacity - work_seconds)
    return {"chunks": chunks, "outputs": outputs, "threads": threads, "wall_seconds": round(wall_seconds, 3),
            "worker_seconds": round(work_seconds, 3),
            "busy_fraction": round(work_seconds / capacity, 3) if capacity > 0 else None,
            "overhead_ms_per_output": round(1000 * idle / outputs, 3) if outputs else None}


class SchedulerError(RunError):
    """The Dask scheduler named with --scheduler cannot be used; the message names it and what failed."""


def _skip_distributed_preload_imports() -> None:
    """distributed's ``get_mp_context`` for the forkserver method sets the forkserver's preload once per process,
    importing each package it would list (pandas among them: ~0.5 s) in this process first. Ours is already
    running with its own preload (``start_forkserver``), which that list would not change; distributed's flag
    saying it has been set is all it checks. Without the flag (another distributed), it imports them: slower,
    nothing else."""
    import distributed.utils

    if hasattr(distributed.utils, "_forkserver_preload_set"):
        distributed.utils._forkserver_preload_set = True


def _reason(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0] or type(exc).__name__


def check_scheduler(address: str, timeout: float) -> None:
    """Raise ``SchedulerError`` unless a Dask scheduler completes a handshake at ``address`` within ``timeout``
    seconds.

    ``Client(address, timeout=...)`` bounds the TCP connect only: an address where something else listens (an
    HTTP port such as the dashboard's 8787) took the handshake into a read that never ended (> 5 minutes), and a
    closed port surfaced as an OSError the CLI reported as "cannot write to OUTPUT". A plain socket says which
    of "nothing listens", "cannot resolve" or "not a scheduler" it is; the handshake runs under our deadline.
    """
    import asyncio
    import socket

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    hint = "check the address (tcp://HOST:PORT; a scheduler listens on 8786 by default) or raise --scheduler-timeout"
    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location) if scheme in ("tcp", "tls") else (None, None)
    except (ValueError, TypeError) as exc:
        raise SchedulerError(f"Dask scheduler {address!r}: {_reason(exc)}") from None
    if host is not None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except socket.gaierror as exc:
            raise SchedulerError(f"Dask scheduler {address}: cannot resolve host {host!r} ({exc.strerror}); {hint}") from None
        except ConnectionRefusedError:
            raise SchedulerError(f"Dask scheduler {address}: connection refused (nothing listens on port {port}); "
                                 f"{hint}") from None
        except (TimeoutError, socket.timeout):
            raise SchedulerError(f"Dask scheduler {address}: no answer to a TCP connect within {timeout:g} s; {hint}") from None
        except OSError as exc:
            raise SchedulerError(f"Dask scheduler {address}: cannot connect ({exc.strerror or exc}); {hint}") from None

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:
        asyncio.run(handshake())
    except (TimeoutError, asyncio.TimeoutError):
        raise SchedulerError(f"Dask scheduler {address}: something listens there but no Dask handshake came back "
                             f"within {timeout:g} s (not a scheduler port?); {hint}") from None
    except (OSError, ValueError) as exc:
        raise SchedulerError(f"Dask scheduler {address}: {_reason(exc)}; {hint}") from None
from augment.run.job import ChunkResult, JobConfig, process_chunk

__all__ = ["DaskEngine", "scheduling_stats", "run_packed"]

_CONFIGS: dict[bytes, JobConfig] = {}
_SET_UP = False

# The cluster made for a run has no dashboard to feed, so none of its sampling: each worker's statistical profiler
# (every 10 ms it walks every thread's stack) and the system and event-loop monitors of every process cost the run
# ~0.1 ms of worker CPU and ~0.03 ms of the run process's per output (sign_digits, flip + zoom: workers 1.51 -> 1.41
# CPU-ms per output, the local engine's 1.37). The memory monitor (psutil reading /proc every 100 ms: a quarter
# of what a worker's event loop still costs, py-spy) runs every 500 ms: a run's tasks hold no data to spill, and
# the nanny's limit is checked as often. An existing cluster keeps its own settings.
_QUIET = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s",
          "distributed.admin.system-monitor.interval": "10s", "distributed.worker.memory.monitor-interval": "500ms"}


def run_packed(config: bytes, chunk: bytes, own_threads: int | None = None) -> ChunkResult:
    """``process_chunk`` of a config and a chunk the client pickled. The scheduler unpickles every task it is
    given: as objects, the spec and each item's dataclass were rebuilt there (in the run's own process, on the
    workers' cores) only to be pickled again for a worker; as bytes they pass through. A worker unpickles the
    config once per run. ``own_threads``: the worker is one of the run's own cluster, set up on its first task
    (``worker.init_worker``) rather than by a round trip to every worker before the first task is sent."""
    global _SET_UP
    if own_threads is not None and not _SET_UP:
        from augment.run.worker import init_worker

        init_worker(own_threads)
        _SET_UP = True
    job = _CONFIGS.get(config)
    if job is None:
        _CONFIGS.clear()
        job = _CONFIGS[config] = pickle.loads(config)
    return process_chunk(job, pickle.loads(chunk))


class DaskEngine:
    """Runs chunks on a Dask cluster; see the module notes for what cluster workers need."""

    name = "dask"

    def __init__(
        self,
        workers: int | None = None,
        scheduler: str | None = None,
        in_flight_per_worker: int = 2,
        scheduler_timeout: float = 10.0,
    ) -> None:
        self.workers = max(1, workers or available_cores())
        self.scheduler = scheduler
        self.scheduler_timeout = scheduler_timeout
        self.in_flight_per_worker = in_flight_per_worker
        self.stats: dict | None = None  # after a run: chunks, worker time, overhead per output (scheduling_stats)

    def _connect(self, config: JobConfig | None = None):
        """A client and, when we made it, the LocalCluster to close afterwards."""
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            check_scheduler(self.scheduler, self.scheduler_timeout)
            try:
                with dask.config.set({"distributed.comm.timeouts.connect": f"{self.scheduler_timeout}s"}):
                    return Client(self.scheduler, timeout=f"{self.scheduler_timeout}s"), None
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerError(f"Dask scheduler {self.scheduler}: {_reason(exc)}") from None
        from augment.run.dask_logs import SILENT
        from augment.run.forkserver import DASK_PRELOAD, dask_preload, start_forkserver
        from augment.run.worker import children_born_deaf_to_ctrl_c

        # The cluster's worker processes are forked from the run's forkserver (already started by ``warm_up``
        # while the CLI imported), with distributed and the pipeline's modules imported: spawned, each imported
        # them itself before its first task, ~1.5 s of a run's wall clock on 2 cores.
        start_forkserver(dask_preload(config.spec, config.annotation_format is not None) if config is not None
                         else DASK_PRELOAD)
        _skip_distributed_preload_imports()
        cluster = client = None
        try:
            # Ctrl-C reaches the whole process group: the cluster's processes are born deaf to it (this process
            # closes them), and one that lands while the cluster starts is acted on once it is up, so it closes
            # whole. Interrupted half-way, a start left worker processes running after the CLI exited, and
            # distributed's tracebacks ("Nanny failed to start", its exit hook's) under the one-line error.
            with children_born_deaf_to_ctrl_c(), warnings.catch_warnings(), \
                    dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                     "distributed.worker.multiprocessing-method": "forkserver", **_QUIET}):
                # the scheduler's HTTP routes move to a free port when 8787 is taken (another cluster): not news
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                    silence_logs=SILENT,  # its default (WARNING) would let the lines ``quiet`` hides through
                )
                client = Client(cluster)
            return client, cluster
        except BaseException:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
            raise

    def run(self, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]:
        import distributed  # noqa: F401 (its logging set up before it is silenced)

        from augment.run.dask_logs import quiet

        with quiet():  # one line from the run, not distributed's (augment.run.dask_logs)
            client, cluster = self._connect(config)
            try:
                yield from self._run(client, config, chunks)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()

    def _max_in_flight(self, client) -> int:
        if self.scheduler:  # an existing cluster: size the window to the threads it has now
            threads = sum(client.nthreads().values()) or 1
        else:
            threads = self.workers
        return max(1, threads * self.in_flight_per_worker)

    def _run(self, client, config: JobConfig, chunks: Iterable[list]) -> Iterator[ChunkResult]:
        from distributed import KilledWorker, as_completed

        max_in_flight = self._max_in_flight(client)
        threads = sum(client.nthreads().values()) or max_in_flight // self.in_flight_per_worker or 1
        source = iter(chunks)
        packed = pickle.dumps(config, pickle.HIGHEST_PROTOCOL)
        # workers of a cluster made here are ours: their share of the cores, and no torch import by albumentations
        own = None if self.scheduler else max(1, available_cores() // self.workers)
        suspects: deque = deque()
        inflight: dict = {}
        pending = as_completed()

        def submit_more() -> None:
            while len(inflight) < max_in_flight:
                chunk = next(source, None)
                if chunk is None:
                    return
                fut = client.submit(run_packed, packed, pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL), own, pure=False)
                inflight[fut.key] = chunk
                pending.add(fut)

        meter = BusyMeter(threads)  # from the first task: cluster start-up is not in it
        submit_more()
        while inflight:
            interrupts.raise_if_pending()  # a Ctrl-C Python swallowed (augment.interrupts)
            fut = next(pending)
            chunk = inflight.pop(fut.key)
            if fut.status == "error":
                exc = fut.exception()
                if isinstance(exc, KilledWorker):
                    suspects.extend(chunk)
                else:
                    fut.result()  # a real failure (e.g. OUTPUT not writable) stops the run, as in the local engine
            else:
                result = fut.result()
                meter.add(result)
                yield result
            fut.release()
            submit_more()
        self.stats = meter.report()
        yield from self._isolate(client, packed, own, suspects)

    def _isolate(self, client, packed: bytes, own: int | None, suspects: deque) -> Iterator[ChunkResult]:
        """Run each suspect item alone, one at a time, so a death can only be blamed on the item that caused it."""
        from distributed import KilledWorker

        while suspects:
            task = suspects.popleft()
            fut = client.submit(run_packed, packed, pickle.dumps([task], pickle.HIGHEST_PROTOCOL), own, pure=False)
            try:
                yield fut.result()
            except KilledWorker:
                yield died_result(task, "the process exited abnormally")
            finally:
                fut.release()
