"""Preloaded by the local engine's forkserver: the forkserver dies with the run that started it.

``LocalEngine`` starts the forkserver with ``AUGMENT_FORKSERVER_PARENT`` set to its own pid and this module in
the forkserver's preload list. Importing it anywhere else does nothing: the variable is set only while the
forkserver is being started, and only a process whose parent has that pid acts on it.
"""

from __future__ import annotations

import os

import sys

from augment.compile.import_guard import TORCH_HELPERS, UPDATE_CHECK_VAR
from augment.run.worker import PARENT_VAR, set_parent_death_signal


def _guard() -> None:
    parent = os.environ.get(PARENT_VAR, "")
    if not parent.isdigit() or os.getppid() != int(parent):
        return
    set_parent_death_signal()
    if os.getppid() != int(parent):  # the run died before the signal was armed
        os._exit(1)
    # This process is the run's forkserver: the modules preloaded after this one (the pipeline's backend, see
    # ``engines.start_forkserver``) are imported here once, and every worker forked from here starts with
    # them. Set up as ``worker.init_worker`` does in a worker: albumentations without its torch helpers, and
    # without its update check.
    sys.modules.setdefault(TORCH_HELPERS, None)
    os.environ[UPDATE_CHECK_VAR] = "1"


_guard()


__all__ = []
