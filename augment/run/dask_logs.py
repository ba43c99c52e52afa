"""``distributed``'s log lines on stderr, silenced while the Dask engine runs.

distributed logs to stderr from every process of a cluster: a task cancelled by Ctrl-C or SIGTERM ("Async
instruction ... ended with CancelledError"), a worker killed by an item (the scheduler's "marked as failed",
the nanny's "Restarting worker"), a client whose cluster went away. The run says what happened in one line, and
an item that killed its worker is in ``errors.jsonl``: these lines only buried that line. ``silence`` raises
the level of distributed's own stderr handlers (those of ``distributed.config.initialize_logging``) above
CRITICAL; other handlers, augment's messages, and a cluster's own logs (an external scheduler's) are untouched.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

SILENT = logging.CRITICAL + 1
LOGGERS = ("distributed", "tornado", "bokeh")  # where distributed puts its stderr handlers

__all__ = ["SILENT", "silence", "quiet"]


def silence() -> list[tuple[logging.Handler, int]]:
    """Silence distributed's stderr handlers in this process; the (handler, level) pairs changed."""
    changed = []
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.level < SILENT:
                changed.append((handler, handler.level))
                handler.setLevel(SILENT)
    return changed


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """``silence`` for the life of the block (a library caller's logging is as it was afterwards)."""
    changed = silence()
    try:
        yield
    finally:
        for handler, level in changed:
            handler.setLevel(level)
