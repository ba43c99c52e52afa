"""Ctrl-C and SIGTERM that Python swallowed are acted on at the next checkpoint.

Python raises KeyboardInterrupt wherever the main thread is when the signal's handler runs: inside a weakref
callback (importlib's module-lock cleanup), an at-fork hook or a ``__del__``, it is printed as "Exception ignored"
and dropped, and the work goes on. A run interrupted 1.1 s after its start wrote every output and exited 0. The
CLI's handler (:func:`install`) also notes the interrupt; the loops of the engines and of the evaluation call
:func:`raise_if_pending` between items, which raises it again there. Nothing is installed for library callers,
whose handlers stay as they are: :func:`raise_if_pending` is then a no-op.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["quiet_start", "ready", "install", "note", "pending", "raise_if_pending", "clear"]

_pending: list[type[BaseException]] = []
_STARTING = b"error: interrupted (Ctrl-C) while starting; nothing was done\n"


def _interrupted_while_starting(signum, frame) -> None:
    os.write(2, _STARTING)
    os._exit(130)


_TERMINATED = b"error: terminated (SIGTERM); run the same command again\n"


def _terminated_before_handling(signum, frame) -> None:
    os.write(2, _TERMINATED)
    os._exit(143)


def quiet_start() -> None:
    """For the CLI's start (the console script, ``python -m augment.cli``): importing it takes about a second
    (numpy, pydantic, the op catalog), and Ctrl-C then raised KeyboardInterrupt inside an import and printed its
    traceback. Until :func:`ready`, Ctrl-C exits at once with one line and code 130: nothing has been done, so
    there is nothing to clean up or resume. A SIGINT that is ignored (a shell's background job) or handled by
    someone else stays as it is."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_starting)
    # SIGTERM's default killed the process without a word until a command that handles it (run, eval) took
    # over, ~1 s of imports and plugin loading; the commands put this back when they are done
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated_before_handling)


def ready() -> None:
    """The CLI is imported: Ctrl-C raises KeyboardInterrupt again, which its commands turn into their own line,
    and is noted for the loops that check for one Python swallowed (:func:`install`)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        install()


def note(exc_type: type[BaseException]) -> None:
    """Record an interrupt (the CLI's SIGTERM handler notes its ``RunTerminated`` here before raising it)."""
    if not _pending:
        _pending.append(exc_type)


def _on_ctrl_c(signum, frame) -> None:
    note(KeyboardInterrupt)
    raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C raises KeyboardInterrupt and is noted (main thread; only over Python's default handler). An
    interrupt Python swallows is not printed either (:func:`_quiet_unraisable`): the command's own line says it."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_ctrl_c)
        if sys.unraisablehook is not _quiet_unraisable:
            global _previous_hook
            _previous_hook = sys.unraisablehook
            sys.unraisablehook = _quiet_unraisable


_previous_hook = sys.unraisablehook


def _quiet_unraisable(unraisable) -> None:
    """Python prints an exception raised where nothing can catch it (a weakref callback, ``__del__``, an at-fork
    hook) as "Exception ignored in ..." with its traceback. A Ctrl-C or SIGTERM landing there is noted instead
    (the next checkpoint acts on it, and the command ends in its one line); anything else is printed as before."""
    exc_type = unraisable.exc_type
    if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):  # SIGTERM's RunTerminated is one too
        note(exc_type)
        return
    _previous_hook(unraisable)


def pending() -> type[BaseException] | None:
    """The interrupt noted and not cleared, if any: errors raised after it are its consequences."""
    return _pending[0] if _pending else None


def raise_if_pending() -> None:
    """Raise the interrupt noted earlier, if any (once it ends the command, nothing clears it)."""
    if _pending:
        raise _pending[0]()


def clear() -> None:
    """Forget a noted interrupt (for a caller that handled it and goes on: tests, a long-lived process)."""
    _pending.clear()
