"""The engine-neutral unit of work: process a chunk of items into written files, manifest records and errors.

Every engine (serial, process pool, Dask) ships the same picklable ``JobConfig`` and lists of tasks to
``process_chunk`` and gets a ``ChunkResult`` back. Workers write output files themselves (atomically, into the
output store that ``store_for`` rebuilds from the config: a folder or an fsspec URL); manifest records travel back
to the one process that writes the manifest. A bad item becomes an error record; only a problem with the output
location (disk full, permission, an unreachable store) stops the run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from augment.compile.pipeline import Pipeline
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.paths import UnsafePathError
from augment.io.store import LocalStore, OutputStore, OutputWriteError, open_store  # noqa: F401 (re-exported)
from augment.seeding import derive_seed
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
    keep_unchanged: bool = False  # write copies identical to their source or to another copy (no redraw)


@dataclass(frozen=True, slots=True)  # slots: a run holds one per input image (~half the memory of a __dict__)
class ImageTask:
    source: str  # relative POSIX path under INPUT
    copies: tuple[int, ...]  # copy indices still to write
    original: bool = False  # also copy the source file itself


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


_PIPELINES: dict[str, Pipeline] = {}


_STORES: dict[tuple, OutputStore] = {}


def store_for(config: JobConfig) -> OutputStore:
    """One output store per worker process and location, rebuilt from the config (stores are never shipped open)."""
    key = (config.output_root, json.dumps(config.storage_options or {}, sort_keys=True, default=str))
    store = _STORES.get(key)
    if store is None:
        store = _STORES[key] = open_store(config.output_root, config.storage_options)
    return store


def pipeline_for(config: JobConfig) -> Pipeline:
    """One compiled pipeline per worker process and spec (compiling per chunk would dominate small images)."""
    pipe = _PIPELINES.get(config.spec_hash)
    if pipe is None:
        pipe = _PIPELINES[config.spec_hash] = Pipeline(parse_spec(config.spec))
    return pipe


def output_name(source: str, copy: int) -> str:
    pure = PurePosixPath(source)
    return str(pure.with_name(f"{pure.stem}__aug{copy}{pure.suffix}"))


def process_chunk(config: JobConfig, tasks: list) -> ChunkResult:
    result = ChunkResult()
    for task in tasks:
        try:
            if isinstance(task, ImageTask):
                _process_image(config, task, result)
            else:
                from augment.run.text_job import process_text_task

                process_text_task(config, task, result)
        except OutputWriteError as exc:
            result.fatal = str(exc)
            break
        result.items += len(getattr(task, "rows", ())) or 1
    return result


def write_output(root: Path | OutputStore, rel: str, data: bytes) -> None:
    """Write one output atomically under ``root`` (a folder or a store); OUTPUT problems raise OutputWriteError."""
    store = LocalStore(root) if isinstance(root, (str, Path)) else root
    store.write_bytes(rel, data)


def _process_image(config: JobConfig, task: ImageTask, result: ChunkResult) -> None:
    pipe = pipeline_for(config)
    out_root = store_for(config)
    try:
        with open(Path(config.input_root, *PurePosixPath(task.source).parts), "rb") as fh:
            data = fh.read()
        image, info = decode_image(data)
    except ImageReadError as exc:
        result.errors.append({"source": task.source, "error": str(exc)})
        return
    except PermissionError:
        result.errors.append({"source": task.source, "error": "permission denied"})
        return
    except OSError as exc:
        result.errors.append({"source": task.source, "error": f"cannot read file: {exc.strerror or exc}"})
        return
    fmt = output_format(task.source, info)
    try:
        if task.original:
            write_output(out_root, task.source, data)
            result.records.append(_record(config, task.source, task.source, None, None, [], data))
        for copy in task.copies:
            seed, out = _image_copy(pipe, config, task.source, copy, image, result)
            if out is None:
                continue
            encoded = encode_image(out.output, fmt, config.quality)
            rel = output_name(task.source, copy)
            write_output(out_root, rel, encoded)
            result.records.append(_record(config, task.source, rel, copy, seed, out.applied, encoded))
    except (OutputWriteError, UnsafePathError):
        raise
    except Exception as exc:  # an op failing on one item (e.g. a crop larger than the image) skips that item
        result.errors.append({"source": task.source, "error": f"augmentation failed: {type(exc).__name__}: {exc}"})


# Redraws of an image copy on which no op fired (it would be a re-encoded source), from derived seeds.
MAX_REDRAWS = 4


def _image_copy(pipe: Pipeline, config: JobConfig, source: str, copy: int, image, result: ChunkResult):
    """(seed, result) of one image copy; a copy on which no op fired is drawn again up to ``MAX_REDRAWS`` times
    from derived seeds, then dropped and counted ((seed, None)), unless ``config.keep_unchanged``. Replay reads
    the recorded ops, so a redrawn copy replays like any other."""
    seed = derive_seed(pipe.spec.seed, source, copy)
    out = pipe.run(image, seed=seed)
    if config.keep_unchanged:
        return seed, out
    for attempt in range(1, MAX_REDRAWS + 1):
        if out.applied:
            if attempt > 1:
                result.redrawn += 1
            return seed, out
        seed = derive_seed(pipe.spec.seed, f"{source}#redraw{attempt}", copy)
        out = pipe.run(image, seed=seed)
    if out.applied:
        result.redrawn += 1
        return seed, out
    result.dropped_unchanged += 1
    return seed, None


def _record(config: JobConfig, source: str, output: str, copy, seed, ops: list, data: bytes) -> dict:
    return {
        "source": source,
        "output": output,
        "copy": copy,
        "seed": seed,
        "pipeline_hash": config.spec_hash,
        "ops": ops,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
