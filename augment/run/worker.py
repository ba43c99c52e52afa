"""Set-up of the processes the engines start for themselves (never applied to a user's own process)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading

from augment.compile.import_guard import TORCH_HELPERS


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# the run's pid, in the environment only while the engine starts the forkserver (see forkserver_guard)
PARENT_VAR = "AUGMENT_FORKSERVER_PARENT"


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent exits (``prctl(PR_SET_PDEATHSIG)``).

    Returns whether it applied (Linux with glibc/musl); elsewhere callers rely on their parent-pid checks.
    The signal follows the parent *thread* that forked this process: the forkserver is single-threaded, and
    the engines start it from the thread that runs the pool.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (the pid was reused)
        return True
    return True


@contextlib.contextmanager
def stop_signals_deferred():
    """Ctrl-C or SIGTERM landing inside this block is acted on when it ends, in this (the main) thread.

    Python runs a signal's handler at the next bytecode of the main thread, wherever that is: inside an at-fork
    callback (logging's lock release), where the KeyboardInterrupt is printed and dropped, so a cancelled search
    ran on to the end; or inside ``Process.start`` between spawning the child and writing its start-up data,
    which left the child reading an empty pipe and printing ``EOFError: Ran out of input`` under the run's
    one-line error. Only the main thread sets handlers; elsewhere (a library caller's thread) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig, handler in previous.items():
        if handler not in (signal.SIG_IGN, None):  # an ignored signal stays ignored
            signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        if caught:
            handler = previous[caught[0]]
            if callable(handler):
                handler(caught[0], None)  # KeyboardInterrupt, or the CLI's RunTerminated, raised here
            else:
                os.kill(os.getpid(), caught[0])  # SIG_DFL: the default action, now that it is back


@contextlib.contextmanager
def children_born_deaf_to_ctrl_c():
    """Processes started inside this block begin life with SIGINT blocked, and this process finishes starting
    them before it acts on Ctrl-C or SIGTERM (:func:`stop_signals_deferred`). Each child calls
    :func:`ignore_ctrl_c` once it runs our code.

    Ctrl-C reaches the terminal's whole process group, and this process stops its children itself: a child
    interrupted while its interpreter starts (spawn, forkserver) prints ``Fatal Python error: init_sys_streams
    ... KeyboardInterrupt`` under the run's one-line error, and one interrupted before its handler is set prints
    a traceback. A blocked signal waits and an ignored one is dropped; unlike a handler, the mask survives fork
    and exec. Blocking it in this thread is not enough for this process: the kernel then hands it to another
    thread (BLAS, torch), and Python still runs the handler here at once, hence the deferral.

    multiprocessing's resource tracker unblocks SIGINT after starting itself (the same technique, for its own
    process), so it is started first."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    with stop_signals_deferred():
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_ctrl_c() -> None:
    """In a child started inside :func:`children_born_deaf_to_ctrl_c`: ignore SIGINT, then unblock it (a Ctrl-C
    that came while it was blocked is dropped). The parent stops this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def init_pool_worker(threads: int | None, run_pid: int) -> None:
    """Initializer of the local engine's pool processes: ``init_worker`` plus the guarantees that a worker
    never outlives the run.

    A worker is a child of the forkserver, which is a child of the run's process (``run_pid``). Each gets a
    parent-death SIGKILL, so killing the run (SIGKILL included, which no handler sees) takes the forkserver
    and then every worker with it; without it they were re-parented to init and lived on (~265 MB), one
    blocked writing to a pipe nobody read. The check after ``prctl`` closes the race where the run died
    before the signal was armed. Ctrl-C reaches the whole process group: workers ignore SIGINT and let the
    run's process stop them, so an interrupt prints one line, not one traceback per worker.
    """
    set_parent_death_signal()
    if not pid_alive(run_pid):
        os._exit(1)
    ignore_ctrl_c()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    init_worker(threads)

__all__ = ["init_worker", "LARGE_BUFFER", "return_large_buffers", "limit_threads"]


def init_worker(threads: int | None = None) -> None:
    """Set up a worker process the engines own: native thread pools sized to its share of the cores, and no
    torch import by albumentations.

    ``threads``: the cores this worker may use (cores // workers). OpenCV, torch and BLAS each start a thread
    per core by default; with one worker per core that is cores x cores threads fighting over the cores. On
    100x100 images a plain loop is even faster with OpenCV on one thread (6.1 vs 6.5 s, 1.0 vs 1.3 cores
    busy), since warpAffine's thread pool costs more than it saves on so few rows.

    albumentations imports its optional ``albumentations.pytorch`` helpers, and with them all of torch, whenever
    torch is installed: 2 s and ~470 MB per worker that the albumentations backend never uses. Marking that
    module as absent makes albumentations skip it (it guards the import). Only done in processes the engines
    own, so library users who want ``albumentations.pytorch`` are unaffected (the CLI's own process, which does
    the work with ``--engine serial``, uses ``compile.import_guard.without_torch_helpers`` for the run only);
    the torchvision backend imports torch itself and is unaffected too.
    """
    if "albumentations" not in sys.modules:  # this process is ours for good: the marker stays
        sys.modules.setdefault(TORCH_HELPERS, None)
    if threads is not None:
        limit_threads(threads)
    return_large_buffers()


# glibc's mallopt parameter: allocations at least this large are mmapped and given back to the OS on free
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
LARGE_BUFFER = 4 * 2**20


def return_large_buffers(threshold: int = LARGE_BUFFER) -> bool:
    """Make freed large buffers go back to the OS (glibc only; a no-op elsewhere). Returns whether it applied.

    glibc raises its mmap threshold after the first large buffer is freed, so a worker that met one 3024x3024
    photo (27 MB a copy) kept ~100 MB of freed heap for the rest of the run: a 2-worker run's memory then
    depended on which workers had met a large image, not on the work in flight (sign_digits has two such
    photos). A fixed threshold keeps every buffer of 4 MiB or more mmapped, unmapped when freed; smaller
    images never reach it.

    Fixing the mmap threshold also fixes glibc's trim threshold, at 128 KiB unless set: every freed buffer of an
    image's size at the top of the heap was then handed back to the OS and faulted in again, page by page, by the
    next image (a 1-worker run on 512x512 JPEGs: 250,000 page faults, ~0.5 CPU-s of system time, 15 % of its
    wall clock). Twice the mmap threshold, glibc's own dynamic rule, keeps at most 8 MiB of free heap for reuse.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * int(threshold)))


def limit_threads(threads: int) -> None:
    """Size OpenCV's, torch's and the BLAS/OpenMP thread pools to ``threads`` in this process (workers only).

    Libraries already loaded (numpy's OpenBLAS is, before any initializer runs) read their environment
    variables only at load time, so setting ``OPENBLAS_NUM_THREADS`` afterwards did nothing: threadpoolctl
    resizes the pools that are loaded, the variables cover libraries loaded later (torch reads them at import),
    and OpenCV and torch are set directly.
    """
    from threadpoolctl import threadpool_limits

    threads = max(1, int(threads))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threadpool_limits(limits=threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover - opencv comes with albumentations
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
