"""What the units of work share (the job config, a chunk's result, per-process caches of the compiled pipeline
and the open output store, atomic output writes), below ``job`` and ``text_job`` so neither imports the other."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from augment.compile.pipeline import Pipeline
from augment.io.store import LocalStore, OutputStore, is_url, open_store
from augment.spec import parse_spec


@dataclass(frozen=True)
class JobConfig:
    spec: dict  # canonical spec dict: picklable and cheap to ship
    spec_hash: str
    input_root: str
    output_root: str  # a local folder or an fsspec URL; workers open the store themselves (``store_for``)
    quality: int = 95
    text_format: dict | None = None
    storage_options: dict | None = None  # fsspec options of a URL output root (no credentials)
    output_format: str = "folder"  # or webdataset / parquet: images are written as shards (augment.run.shard_job)
    annotation_format: dict | None = None  # annotated datasets: the detected layout (augment.io.annotations)
    keep_unchanged: bool = False  # write copies identical to their source or to another copy (no redraw)
    durable: bool = False  # fsync every output (and its folder entry) before it counts as written (--durable)
    # plugin modules the run's process loaded (--plugin, $AUGMENT_PLUGINS): each worker imports them before it
    # compiles the spec, whatever environment it was started with (a forkserver started before the CLI read
    # --plugin, a Dask worker on another host)
    plugins: tuple[str, ...] = ()
    # the run that owns a folder OUTPUT (its lock's run id): workers journal each write and stop once the run no
    # longer owns OUTPUT (``augment.io.journal``); None: neither (URL OUTPUTs, library callers)
    run_id: str | None = None
    # what the manifest records as each output's pipeline_hash: the spec's without ``copies`` (which decides no
    # output's bytes), so a resume with more copies records the same hash as a fresh run; "" -> spec_hash
    pipeline_hash: str = ""

    def __post_init__(self) -> None:
        # workers resolve the roots themselves, and a cluster's workers run in folders of their own: a relative
        # root read another INPUT or wrote OUTPUT's files somewhere else while the run reported them written
        for name in ("input_root", "output_root"):
            root = getattr(self, name)
            if not (is_url(root) or os.path.isabs(root)):
                raise ValueError(f"JobConfig.{name} must be absolute or a URL, got {root!r}")


@dataclass
class ChunkResult:
    records: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    items: int = 0
    # Set when OUTPUT could not be written: the run must stop, but the records of the files this chunk did
    # write travel back with it, so a resumed run does not redo them.
    fatal: str | None = None
    # copies drawn again because they equalled their source or another copy, and those dropped after
    # MAX_REDRAWS redraws (identical to the source / to another copy); notes to show once per run
    redrawn: int = 0
    dropped_unchanged: int = 0
    dropped_duplicate: int = 0
    dropped_filtered: int = 0  # text copies the spec's filter: rejected on every draw
    filter_rejections: dict[str, int] = field(default_factory=dict)  # "op:reason" -> rejected draws
    notes: list[str] = field(default_factory=list)
    work_seconds: float = 0.0  # wall time the worker spent on the chunk (engines report scheduling overhead)
    # where and when the chunk ran, for the engines' busy report (``engine_base.busy_report``): the worker's pid
    # (host-qualified on Dask), its CPU seconds on the chunk, and wall-clock (``time.time``) start and end
    worker: str = ""
    cpu_seconds: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0


_PIPELINES: dict[str, Pipeline] = {}


_STORES: dict[tuple, OutputStore] = {}


def store_for(config: JobConfig) -> OutputStore:
    """One output store per worker process and location, rebuilt from the config (stores are never shipped open)."""
    key = (config.output_root, json.dumps(config.storage_options or {}, sort_keys=True, default=str), config.run_id)
    store = _STORES.get(key)
    if store is None:
        if len(_STORES) > 8:  # a long-lived Dask worker serves one run after another
            _STORES.clear()
        store = open_store(config.output_root, config.storage_options)
        if config.run_id is not None and isinstance(store, LocalStore):
            from augment.io.journal import JournalledStore

            store = JournalledStore(store.root, config.run_id)
        store = _STORES[key] = store
    return store


def pipeline_for(config: JobConfig) -> Pipeline:
    """One compiled pipeline per worker process and spec (compiling per chunk would dominate small images)."""
    pipe = _PIPELINES.get(config.spec_hash)
    if pipe is None:
        if config.plugins:
            from augment.ops import plugins

            plugins.load_modules(m for m in config.plugins if m not in plugins.loaded_modules())
        pipe = _PIPELINES[config.spec_hash] = Pipeline(parse_spec(config.spec))
    return pipe


def pipeline_failure(config: JobConfig) -> str | None:
    """Compile the run's pipeline in this worker (``pipeline_for``); the one line that stops the run if it cannot
    (a plugin it cannot import, another augment version): every chunk would fail alike."""
    try:
        pipeline_for(config)
    except Exception as exc:  # noqa: BLE001 - whatever stops compiling, the worker reports it in one line
        first = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        return (f"a worker cannot compile the pipeline ({first}); install the same augment version and plugins on "
                "every worker")
    return None


def output_record(config: JobConfig, source: str, output: str, copy, seed, ops: list, data: bytes,
                  fingerprint: dict | None = None) -> dict:
    """The manifest record every image output starts from (image folders, shards, annotated datasets): its
    source and the source's fingerprint (a resume compares it), the copy, seed, applied ops and the bytes'
    sha256. Annotated outputs add their annotation's fields after these."""
    return {
        "source_fingerprint": fingerprint,
        "source": source,
        "output": output,
        "copy": copy,
        "seed": seed,
        "pipeline_hash": config.pipeline_hash or config.spec_hash,
        "ops": ops,
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def write_output(root: Path | OutputStore, rel: str, data: bytes, fsync: bool = False) -> None:
    """Write one output atomically under ``root`` (a folder or a store); OUTPUT problems raise OutputWriteError.
    ``fsync`` (the run's ``durable``): on disk, rename included, before this returns."""
    store = LocalStore(root) if isinstance(root, (str, Path)) else root
    store.write_bytes(rel, data, fsync=fsync)


def augmentation_failure(exc: BaseException) -> str:
    """The one-line reason an item is skipped when the pipeline fails on it (a crop larger than the image, an
    image too wide for the jpeg op's encoder...); ``augment preview`` reports the same line."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"augmentation failed: {type(exc).__name__}: {first[:300]}"


__all__ = ["JobConfig", "ChunkResult", "store_for", "pipeline_for", "write_output", "augmentation_failure"]
