"""Preloaded last by the local engine's forkserver: undoes what ``forkserver_guard`` hid for the preload only, and
silences ``distributed``'s stderr logging in the processes forked from it (the Dask engine's own cluster: a task
cancelled by Ctrl-C, a worker killed by an item; the run reports what matters in its one line and errors.jsonl)."""

from __future__ import annotations

import sys

if "huggingface_hub" in sys.modules and sys.modules["huggingface_hub"] is None:
    del sys.modules["huggingface_hub"]

if "distributed" in sys.modules:
    from augment.run.dask_logs import silence

    silence()


__all__ = []
