"""CPU seconds of a command and every process it starts, exactly (benchmark helper, not a test).

``RUSAGE_CHILDREN`` counts a process only once its parent has waited for it. The local engine's forkserver is
never waited for by the CLI (it ends on the parent-death signal after the CLI exits), and the workers are its
children, so the CLI's ``RUSAGE_CHILDREN`` missed them: ``bench_dask_startup.py`` (session 9) reported ~1 CPU-s for
a one-image local run that costs ~2. Here the benchmark's process is made a child subreaper
(``prctl(PR_SET_CHILD_SUBREAPER)``, Linux): orphaned descendants are re-parented to it, it waits for every one
of them, and each one's CPU then adds to its ``RUSAGE_CHILDREN``. Sampling ``/proc`` (psutil) misses a process's
last sampling interval and any process that lives less than one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import subprocess
import time

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed: tree CPU needs Linux")


def reap_all(timeout: float = 60.0) -> None:
    """Wait for every child of this process, orphaned descendants included (they end on their own: the forkserver
    on its parent-death signal, Dask's processes when their cluster closes)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("a descendant of the measured command is still running")
            time.sleep(0.01)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_measured(cmd: list[str], **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd`` to the end of its last descendant: (completed process, wall seconds to its own exit, CPU
    seconds of the whole tree). Nothing else of this process may have children running meanwhile."""
    become_subreaper()
    reap_all()
    before = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, **kwargs)
    wall = time.perf_counter() - start
    reap_all()
    return proc, wall, children_cpu() - before
