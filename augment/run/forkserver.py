"""Starting the forkserver every worker of a run is forked from, with the modules they all need imported once: the
local engine's pool workers, and the worker processes of the ``LocalCluster`` the Dask engine makes (with
``distributed`` preloaded too). Apart from the engines (which import the job, and with it every op), so that the
CLI can start it before its own imports (``warm_up``): the two processes then import on separate cores."""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import Iterable

from augment.compile.import_guard import spec_needs_albumentations
from augment.run.worker import PARENT_VAR, children_born_deaf_to_ctrl_c

__all__ = ["preload_for_spec", "dask_preload", "start_forkserver", "warm_up", "DASK_PRELOAD"]


# What a worker imports before its first item, by the spec's backend: preloaded by the forkserver, the imports
# (the op catalogue and the backend; albumentations itself only where a kernel needs it) are paid once per run
# instead of once per worker.
_WORKER_MODULES = ("augment.run.job",)
_BACKEND_MODULES = {
    "albumentations": ("augment.compile.backend_albumentations",),
    "torchvision": ("augment.compile.backend_torchvision",),
}


def preload_for_spec(spec: dict | None, annotated: bool = False) -> tuple[str, ...]:
    """``preload_for`` from what a run knows before its job config: the spec and whether INPUT is annotated."""
    spec = spec or {}
    if spec.get("modality", "image") != "image":
        return _WORKER_MODULES
    backend = spec.get("backend", "albumentations")
    # albumentations itself (~0.8 s) only where an op calls its kernels: once here, not once per worker
    kernels = ("albumentations",) if backend == "albumentations" and spec_needs_albumentations(spec) else ()
    return (_WORKER_MODULES + (("augment.run.annotated_job",) if annotated else ())
            + _BACKEND_MODULES.get(backend, ()) + kernels)


# What a Dask worker process runs before any task: distributed's worker and nanny (~0.5 s of CPU per process
# when each imports it after a spawn)
DASK_PRELOAD = ("distributed",)


def dask_preload(spec: dict | None, annotated: bool = False) -> tuple[str, ...]:
    """What the forkserver of the Dask engine's own ``LocalCluster`` preloads: distributed and the run's modules."""
    return DASK_PRELOAD + preload_for_spec(spec, annotated)


def warm_up(engine: str, spec: dict | None, annotated: bool = False, scheduler: str | None = None) -> None:
    """Start the forkserver now, so that its imports (the backend: ~1 s of CPU) run on another core while this
    process scans INPUT and prepares OUTPUT, instead of after (``ensure_running`` does not wait for the preload;
    the first worker does). Call it from the thread that will run the engine (see ``start_forkserver``). The local
    engine's workers and the Dask engine's own ``LocalCluster`` (no ``scheduler``) are forked from it; the serial
    engine and an existing Dask cluster start nothing here. The forkserver keeps this preload for the rest of the
    process: a later pool's ``preload_for`` adds nothing to it."""
    if engine == "local":
        start_forkserver(preload_for_spec(spec, annotated))
    elif engine == "dask" and not scheduler:
        start_forkserver(dask_preload(spec, annotated))


def start_forkserver(preload: Iterable[str] = ()) -> None:
    """Start the forkserver from this thread, tied to this process: it preloads ``forkserver_guard``, which
    arms a parent-death signal when its parent is the pid in ``PARENT_VAR`` (set only while it starts), then
    ``preload`` (modules every worker needs: imported once, inherited by each worker). A forkserver already
    running (started earlier in this process) is left as it is."""
    from multiprocessing import forkserver

    previous = os.environ.get(PARENT_VAR)
    os.environ[PARENT_VAR] = str(os.getpid())
    try:
        forkserver.set_forkserver_preload([*_main_preload(), "augment.run.forkserver_guard", *preload,
                                           "augment.run.forkserver_ready"])
        with children_born_deaf_to_ctrl_c():
            forkserver.ensure_running()
    finally:
        if previous is None:
            os.environ.pop(PARENT_VAR, None)
        else:
            os.environ[PARENT_VAR] = previous


def _main_preload() -> list[str]:
    """``__main__`` (multiprocessing's default preload: a script's own functions and ops reach the workers), except
    when it is the CLI: workers never use its module, and importing it (click, the commands) delayed every
    worker's first item by ~60 ms of the forkserver's start."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) == "augment.cli":  # python -m augment.cli
        return []
    path = getattr(main, "__file__", None) or ""
    # the `augment` console script pip writes into the environment's scripts folder: it only calls augment.cli.main
    if os.path.basename(path) == "augment" and os.path.dirname(os.path.realpath(path)) == os.path.realpath(
            sysconfig.get_path("scripts")):
        return []
    return ["__main__"]
