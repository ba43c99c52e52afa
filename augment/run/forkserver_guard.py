"""Preloaded by the local engine's forkserver: the forkserver dies with the run that started it.

``LocalEngine`` starts the forkserver with ``AUGMENT_FORKSERVER_PARENT`` set to its own pid and this module in
the forkserver's preload list. Importing it anywhere else does nothing: the variable is set only while the
forkserver is being started, and only a process whose parent has that pid acts on it.
"""

from __future__ import annotations

import os

import sys

from augment.compile.import_guard import TORCH_HELPERS, UPDATE_CHECK_VAR
from augment.run.worker import PARENT_VAR, ignore_ctrl_c, set_parent_death_signal


def _guard() -> None:
    parent = os.environ.get(PARENT_VAR, "")
    if not parent.isdigit() or os.getppid() != int(parent):
        return
    set_parent_death_signal()
    if os.getppid() != int(parent):  # the run died before the signal was armed
        os._exit(1)
    # started with SIGINT blocked (``forkserver.start_forkserver``): ignored from here on, and the forkserver hands
    # an ignored SIGINT down to every worker it forks, so none can be interrupted before its initializer runs
    ignore_ctrl_c()
    # This process is the run's forkserver: the modules preloaded after this one (the pipeline's backend, see
    # ``forkserver.start_forkserver``) are imported here once, and every worker forked from here starts with
    # them. Set up as ``worker.init_worker`` does in a worker: albumentations without its torch helpers, and
    # without its update check.
    sys.modules.setdefault(TORCH_HELPERS, None)
    os.environ[UPDATE_CHECK_VAR] = "1"
    # albumentations' optional Hub mixin (save/load transforms on the Hugging Face Hub, which runs never use)
    # imports huggingface_hub when installed: ~0.3 s of the forkserver's start, which every worker waits for.
    # Hidden for the preload only: ``forkserver_ready`` (preloaded last) removes the marker, so a worker that
    # needs huggingface_hub itself (a Hugging Face dataset run) still imports it.
    if "huggingface_hub" not in sys.modules:
        sys.modules["huggingface_hub"] = None  # type: ignore[assignment]


_guard()


__all__ = []
