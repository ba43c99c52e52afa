"""The dataset expander: INPUT dataset + pipeline -> OUTPUT dataset in the same layout, with a manifest.

Re-running the same command into the same OUTPUT resumes: outputs that have a manifest record and exist on disk
are skipped, everything else is (re)done, and the manifest is de-duplicated when the run completes. A different
spec or seed into a non-empty OUTPUT is refused unless ``overwrite``.

OUTPUT may also be an fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``; see ``augment.io.store``
for storage options). Workers then write outputs and text part files straight to the store, one atomic object
each. Objects cannot be appended to, so the manifest, error log and run record are kept in a local staging folder
(``$AUGMENT_CACHE_DIR/staging/<hash of the URL>``) while the run goes on: the run record is uploaded when the run
starts and ends, and new manifest records are uploaded as segment objects (``.augment-manifest/*.jsonl``, with
the error log) every ``remote_flush_records`` records or ``remote_flush_seconds``, so a killed run loses at most
that many records (their outputs are simply redone, byte-identical, on resume). At the end the sorted manifest is
uploaded as ``manifest.jsonl``, the segments are deleted and the final run record is uploaded last. A resumed run
reads ``manifest.jsonl`` and any segments, and lists the store once to check which outputs exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from augment._version import __version__
from augment.compile.pipeline import Pipeline
from augment.io.fingerprint import compare
from augment.io import journal
from augment.io.image_folder import scan_image_folder
from augment.io.images import codec_versions
from augment.io.lock import FolderLock, OutputBusyError, StoreLease, new_run_id
from augment.io.manifest import (
    ERRORS,
    MANIFEST,
    RUN_RECORD,
    JsonlAppender,
    dumps,
    RecordIndex,
    finalize_manifest,
    parse_jsonl_lines,
    read_jsonl,
    read_run_record,
    write_run_record,
)
from augment.io.naming import NAME_MAX, find_collision, name_max, overlong_part, reserved_name
from augment.io.paths import UnsafePathError, is_within
from augment.io.store import FsspecStore, LocalStore, OutputStore, output_location, storage_options_for
from augment.ops import plugins
from augment.run.engines import available_cores, make_engine, warm_up
from augment.run.errors import RunError  # noqa: F401 (re-exported: callers catch expander.RunError)
from augment.run.summary import RunSummary  # noqa: F401 (re-exported)
from augment.run.job import ChunkResult, ImageTask, JobConfig, OutputWriteError, output_name
from augment.run.text_job import PARTS_DIR

SEGMENTS_DIR = ".augment-manifest"  # manifest records uploaded during a run into a URL OUTPUT


@dataclass
class RunOptions:
    input: Path
    output: Path | str  # a folder, or an fsspec URL (s3://bucket/prefix, memory://x, ...)
    include_originals: bool = False
    workers: int | None = None
    engine: str = "local"
    scheduler: str | None = None
    scheduler_timeout: float = 10.0  # seconds for a Dask scheduler to answer (--scheduler-timeout)
    quality: int = 95
    overwrite: bool = False
    chunk_size: int | None = None  # items per chunk; None: by item cost (``cost_chunks``), 16 for shards/annotated
    text_format: dict | None = None  # for text datasets: the reader/writer format options
    storage_options: dict | None = None  # fsspec options for a URL OUTPUT (merged over $AUGMENT_STORAGE_OPTIONS)
    remote_flush_records: int = 1000  # URL OUTPUT: upload new manifest records after this many...
    remote_flush_seconds: float = 30.0  # ...or this long, whichever comes first
    output_format: str = "folder"  # or "webdataset" / "parquet": outputs written as shards (augment.run.shard_job)
    shard_size: int = 1000  # samples per shard (whole sources: rounded up to a multiple of copies per source)
    dataset_format: str | None = None  # annotated images: voc | yolo | coco | masks (None: detect)
    keep_unchanged: bool = False  # write copies identical to their source or another copy (no redraw, no drop)
    durable: bool = False  # fsync each output and each chunk's manifest lines (--durable): survives power loss


@dataclass
class _Output:
    """Where a run writes: ``store`` gets the outputs (and text parts); ``meta`` is the folder where the manifest,
    error log and run record are written as the run goes (OUTPUT itself, or a local staging folder for a URL)."""

    store: OutputStore
    meta: Path
    remote: bool

    def publish(self, *names: str) -> None:
        """Upload staged files to the store (one atomic object each); nothing to do for a local folder."""
        if self.remote:
            for name in names:
                path = self.meta / name
                if path.is_file():
                    self.store.write_bytes(name, path.read_bytes())


def staging_dir(url: str) -> Path:
    cache = Path(os.environ.get("AUGMENT_CACHE_DIR") or Path.home() / ".cache" / "augment").expanduser()
    return cache / "staging" / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _store_for(opts: RunOptions) -> _Output:
    where = output_location(opts.output)
    if isinstance(where, Path):
        return _Output(LocalStore(where), where, remote=False)
    try:
        options = storage_options_for(where, opts.storage_options)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if where.partition("://")[0].lower() == "memory" and opts.engine != "serial":
        raise RunError("a memory:// OUTPUT lives in one process: use --engine serial with it")
    return _Output(FsspecStore(where, options), staging_dir(where), remote=True)


def _use_staging(out: _Output) -> None:
    """A URL OUTPUT's local staging folder, emptied: called once the run owns OUTPUT (another run's staging
    folder for the same URL on this host is never touched)."""
    if out.remote:
        shutil.rmtree(out.meta, ignore_errors=True)  # the store holds the truth; staging is scratch for one run
        out.meta.mkdir(parents=True, exist_ok=True)


class _ManifestSync:
    """URL OUTPUT: upload the records collected since the last upload as one segment object (and the error log
    when it grew) every ``every`` records or ``seconds`` seconds."""

    def __init__(self, out: _Output, every: int, seconds: float) -> None:
        self.out, self.every, self.seconds = out, max(1, every), seconds
        self.pending: list[dict] = []
        self.token = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        self.seq = 0
        self.last = time.monotonic()
        self.errors_size = -1

    def add(self, records: list[dict]) -> None:
        self.pending.extend(records)
        if len(self.pending) >= self.every or (self.pending and time.monotonic() - self.last >= self.seconds):
            self.flush()

    def flush(self) -> None:
        if self.pending:
            data = "".join(dumps(r) + "\n" for r in self.pending).encode("utf-8")
            self.out.store.write_bytes(f"{SEGMENTS_DIR}/{self.token}-{self.seq:06d}.jsonl", data)
            self.seq += 1
            self.pending = []
        errors = self.out.meta / ERRORS
        size = errors.stat().st_size if errors.is_file() else -1
        if size != self.errors_size:
            self.out.publish(ERRORS)
            self.errors_size = size
        self.last = time.monotonic()


def library_versions() -> dict:
    import importlib.metadata as md

    versions = {"augment": __version__, "python": platform.python_version()}
    for dist in ("numpy", "pillow", "albumentations", "albucore", "opencv-python-headless", "torch", "torchvision", "nlpaug", "nltk"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return versions


def _check_locations(pipe: Pipeline, opts: RunOptions, remote: bool = False) -> None:
    src, out = opts.input, opts.output
    if not src.exists():
        raise RunError(f"INPUT {src} does not exist")
    if pipe.modality == "image" and not src.is_dir():
        raise RunError(f"INPUT {src} must be a folder of images (one sub-folder per class, or flat)")
    if pipe.modality == "text" and not src.is_file():
        raise RunError(f"INPUT {src} must be a text dataset file (.tsv, .csv, .jsonl, .txt)")
    if pipe.modality == "text" and reserved_name(src.name):
        raise RunError(f"INPUT {src.name!r} would be written over the run's own {src.name} in OUTPUT; "
                       "rename the input file")
    if remote:
        return
    if out.exists() and not out.is_dir():
        raise RunError(f"OUTPUT {out} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(src):
        raise RunError("OUTPUT must differ from INPUT: inputs are never modified")
    if src.is_dir() and out.exists() and is_within(src, out):
        raise RunError(f"OUTPUT {out} contains INPUT {src}: outputs would land among the inputs")


def _take_ownership(out: _Output, opts: RunOptions, run_id: str):
    """Lock a folder OUTPUT (flock) or lease a URL OUTPUT, before anything in it is read, removed or written."""
    try:
        if out.remote:
            return StoreLease(out.store, run_id).acquire()
        opts.output.mkdir(parents=True, exist_ok=True)
        return FolderLock(opts.output, run_id).acquire()
    except OutputBusyError:
        raise
    except OSError as exc:
        raise RunError(f"cannot take OUTPUT {opts.output}: {exc.strerror or exc}") from None
    except Exception as exc:  # unreachable endpoint, missing bucket, no credentials: one line for the user
        raise RunError(f"OUTPUT {opts.output} cannot be used: {type(exc).__name__}: {exc}") from None


def run_identity(record: dict) -> dict:
    """What of a run record decides its output bytes, apart from the number of copies (which may grow on resume):
    the spec (its seed included), INPUT, --include-originals, and --quality (images) or the text format (text)."""
    spec = dict(record.get("spec") or {})
    spec.pop("copies", None)
    seed = spec.pop("seed", record.get("seed"))
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    ident = {"spec": hashlib.sha256(canonical.encode()).hexdigest()[:16], "seed": seed,
             "input": record.get("input"), "include_originals": bool(record.get("include_originals"))}
    ident["keep_unchanged"] = bool(record.get("keep_unchanged"))
    ident["annotations"] = json.loads(json.dumps(record.get("annotations")))  # tuples read back as lists
    ident["output_format"] = record.get("output_format") or "folder"
    ident["shard_size"] = record.get("shard_size") if ident["output_format"] != "folder" else None
    if spec.get("modality") == "text":
        ident["text_format"] = json.loads(json.dumps(record.get("text_format")))  # tuples read back as lists
    else:
        ident["quality"] = record.get("quality", 95)
    return ident


def identity_differences(previous: dict, current: dict) -> list[str]:
    old, new = run_identity(previous), run_identity(current)
    return [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in new if old.get(key) != new.get(key)]


def _previous_run(out: _Output) -> dict | None:
    if not out.remote:
        return read_run_record(out.meta)
    try:
        return json.loads(out.store.read_bytes(RUN_RECORD))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"status": "unreadable"}


def _previous_records(out: _Output) -> list[dict]:
    return remote_manifest(out.store) if out.remote else list(read_jsonl(out.meta / MANIFEST))


def _prepare_output(pipe: Pipeline, opts: RunOptions, out: _Output, run_record: dict) -> tuple[list[dict], dict | None]:
    """Check the earlier run in OUTPUT against this one; return its records (what a resume keeps) and run record.

    Same identity (``run_identity``): a resume, also with more copies. Fewer copies, or another identity:
    refused with one line, unless ``--overwrite``, which removes the earlier run's outputs and files first.
    """
    try:
        return _prepare(pipe, opts, out, run_record)
    except (RunError, OutputWriteError):
        raise
    except Exception as exc:
        if not out.remote:
            raise
        raise RunError(f"OUTPUT {opts.output} cannot be used: {type(exc).__name__}: {exc}") from None


def _prepare(pipe: Pipeline, opts: RunOptions, out: _Output, run_record: dict) -> tuple[list[dict], dict | None]:
    where = "location" if out.remote else "folder"
    previous = _previous_run(out)
    if previous is None:
        leftovers = [name for name in out.store.top_level() if not name.startswith(".")]
        if leftovers and not opts.overwrite:
            raise RunError(f"OUTPUT {opts.output} is not empty and holds no augment run; use another {where} or "
                           "--overwrite")
        return [], None
    differences = identity_differences(previous, run_record) if "spec" in previous else ["run.json unreadable"]
    old_copies = (previous.get("spec") or {}).get("copies", previous.get("copies"))
    if not differences and not opts.overwrite and isinstance(old_copies, int) and pipe.spec.copies < old_copies:
        raise RunError(
            f"OUTPUT {opts.output} holds {old_copies} copies per item and this run asks for {pipe.spec.copies}: "
            f"use --overwrite to replace the run with {pipe.spec.copies} copies, or another {where}")
    if differences and not opts.overwrite:
        raise RunError(
            f"OUTPUT {opts.output} holds a run of another spec, seed or options ({'; '.join(differences)}); resume "
            f"with the same ones, use another {where}, or --overwrite to replace it")
    if not opts.overwrite:
        records = _previous_records(out)
        if pipe.modality == "text" and old_copies != pipe.spec.copies:
            out.store.remove_tree(PARTS_DIR)  # a text output is one file: other copies re-plan it as a whole
            return [], previous
        return records, previous
    for rec in _previous_records(out):
        try:
            if rec.get("output"):
                out.store.remove(rec.get("shard") or rec["output"])
            if rec.get("annotation"):  # an annotated run's annotation files go with their images
                out.store.remove(rec["annotation"])
        except UnsafePathError:
            continue
    for name in (MANIFEST, ERRORS, RUN_RECORD):
        out.store.remove(name)
    if out.remote:
        out.store.remove_tree(SEGMENTS_DIR)
    out.store.remove_tree(PARTS_DIR)  # parts of the replaced run must not be joined into the new output
    return [], None


def _jsonl_bytes(data: bytes) -> list[dict]:
    return list(parse_jsonl_lines(data.decode("utf-8", errors="replace").splitlines(keepends=True)))


def remote_manifest(store: OutputStore) -> list[dict]:
    """The records of a URL OUTPUT: its manifest, then the segments a killed run uploaded (oldest first)."""
    try:
        records = _jsonl_bytes(store.read_bytes(MANIFEST))
    except FileNotFoundError:
        records = []
    for rel in store.list(SEGMENTS_DIR):
        if rel.endswith(".jsonl"):
            records.extend(_jsonl_bytes(store.read_bytes(rel)))
    return records


def _done_outputs(records: list[dict], out: Path | _Output, text_complete: str | None = None) -> set[tuple]:
    """Keys of the records whose output exists. Text rows count as done while their part file exists, or, once
    a complete run has joined the parts and removed them, when ``text_complete`` (the output's name) exists."""
    if isinstance(out, _Output) and out.remote:
        existing = set(out.store.list())  # one listing, not one request per record
        exists = existing.__contains__
    else:
        root = out.meta if isinstance(out, _Output) else out
        exists = lambda rel: (root / rel).is_file()  # noqa: E731
    assembled = text_complete is not None and exists(text_complete)
    done = set()
    for rec in records:
        output = rec.get("part") or rec.get("shard") or rec.get("output")  # text rows live in part files until
        # assembled; sharded outputs live in their shard
        if output and (exists(output) or (assembled and rec.get("part") and rec.get("output") == text_complete)):
            done.add((rec.get("source"), rec.get("row"), rec.get("copy")))
    return done


class _ErrorLog:
    """The error log of a run: every skipped item is written, counted and sampled for the summary."""

    def __init__(self, appender: JsonlAppender, summary: "RunSummary") -> None:
        self.appender, self.summary = appender, summary

    def write(self, record: dict) -> None:
        self.appender.write(record)
        self.summary.errors += 1
        if len(self.summary.error_examples) < 5:
            self.summary.error_examples.append(record)


def _source_changes(scan, previous: list[dict], input_root: Path) -> tuple[set[str], set[str], dict[str, dict]]:
    """Sources whose file changed since their outputs were made, sources gone from INPUT, and the new
    fingerprints of sources only touched (same bytes, another mtime)."""
    recorded: dict[str, dict | None] = {}
    for rec in previous:
        source = rec.get("source")
        if isinstance(source, str) and rec.get("row") is None:
            fp = rec.get("source_fingerprint")
            if source in recorded and recorded[source] != fp:
                fp = {"size": -1}  # records from two versions of the file: redo it
            recorded[source] = fp
    present = set(scan.images)
    unreadable = {rel for rel, _ in scan.problems}
    changed, touched = set(), {}
    for src, fp in recorded.items():
        if src in present:
            state, current = compare(input_root.joinpath(*PurePosixPath(src).parts), fp)
            if state == "changed":
                changed.add(src)
            elif state == "touched":
                touched[src] = current
    gone = {src for src in recorded if src not in present and src not in unreadable
            and not any(src.startswith(prefix + "/") for prefix in unreadable)}
    return changed, gone, touched


def _drop_outputs_of(sources: set[str], previous: list[dict], out: _Output) -> list[dict]:
    """Remove the outputs recorded for ``sources`` and return the records of the others."""
    kept = []
    for rec in previous:
        if rec.get("source") in sources:
            try:
                if rec.get("output"):
                    out.store.remove(rec.get("shard") or rec["output"])  # a shard goes whole: it is redone
            except UnsafePathError:
                pass
        else:
            kept.append(rec)
    return kept


def _image_plan(pipe: Pipeline, opts: RunOptions, scan, done: set, errors: _ErrorLog,
                remote: bool = False, mirror: bool = True) -> tuple[list[ImageTask], int]:
    for rel, reason in scan.problems:
        errors.write({"source": rel, "error": reason})
    for folder in scan.folders if (mirror and not remote) else ():  # mirror the layout, empty classes included (object
        (opts.output / folder).mkdir(parents=True, exist_ok=True)  # stores have no empty folders)
    limit = NAME_MAX if remote else name_max(opts.output)
    tasks = []
    for rel in scan.images:
        longest = output_name(rel, pipe.spec.copies - 1)
        if overlong_part(longest, limit) is not None:
            errors.write({"source": rel, "error": f"output name {PurePosixPath(longest).name[:40]}... would be "
                          f"{len(PurePosixPath(longest).name.encode('utf-8', 'surrogateescape'))} bytes, over the "
                          f"{limit}-byte file name limit of OUTPUT; rename the source"})
            continue
        copies = tuple(k for k in range(pipe.spec.copies) if (rel, None, k) not in done)
        original = opts.include_originals and (rel, None, None) not in done
        if copies or original:
            tasks.append(ImageTask(rel, copies, original))
    return tasks, len(scan.images)


def _scan_images(pipe: Pipeline, opts: RunOptions, remote: bool):
    scan = scan_image_folder(opts.input, exclude=None if remote else opts.output)
    if not scan.images:
        raise RunError(f"no images found in {opts.input} (looked for {', '.join(sorted({'.jpg', '.png', '.bmp', '.gif', '.tif', '.webp'}))})")
    clash = find_collision(scan.images, pipe.spec.copies, opts.include_originals, output_name)
    if clash is not None:
        path, first, second = clash
        raise RunError(f"two outputs would be written to {path} ({first} and {second}); INPUT seems to hold an "
                       "earlier OUTPUT's copies: remove or rename them, or run without --include-originals")
    return scan


def _chunks(tasks: list, size: int) -> Iterator[list]:
    for i in range(0, len(tasks), size):
        yield tasks[i : i + size]


DEFAULT_CHUNK = 16
# Chunks of image tasks close at this much work: source bytes x outputs (a 10 kB JPEG written 3 times costs
# 30 kB). 100x100 images then travel ~70 to a chunk (16 each drowned them in pickling and scheduling), and a
# 12-megapixel photo goes alone.
CHUNK_COST = 2 * 2**20
MAX_CHUNK = 256


def engine_workers(opts: RunOptions) -> int:
    return 1 if opts.engine == "serial" else max(1, opts.workers or available_cores())


def cost_chunks(tasks: list[ImageTask], root: Path, workers: int, size: int | None = None) -> Iterator[list]:
    """Image tasks in chunks of about equal work (``CHUNK_COST``), or of ``size`` items when given.

    An item's cost is its source's size in bytes times the outputs it makes: one stat per source, in the
    process that plans anyway. The budget shrinks so that each worker gets at least 4 chunks, and near the end
    to the work left over twice the workers (``chunk_budget``): the last chunks get smaller and smaller, so the
    workers finish together instead of one finishing a full chunk while the others wait (with chunks of
    constant size the tail averaged half a chunk per worker). Chunking decides only which process does what:
    outputs never depend on it.
    """
    if size:
        yield from _chunks(tasks, size)
        return
    costs = []
    for task in tasks:
        try:
            nbytes = os.stat(os.path.join(root, task.source)).st_size
        except OSError:  # the worker reports what is wrong with it
            nbytes = 0
        costs.append(max(nbytes, 1) * (len(task.copies) + int(task.original)))
    total = remaining = sum(costs)
    budget = chunk_budget(total, remaining, workers)
    chunk: list = []
    spent = 0
    for task, cost in zip(tasks, costs):
        chunk.append(task)
        spent += cost
        if spent >= budget or len(chunk) >= MAX_CHUNK:
            yield chunk
            remaining -= spent
            budget = chunk_budget(total, remaining, workers)
            chunk, spent = [], 0
    if chunk:
        yield chunk


def chunk_budget(total: int, remaining: int, workers: int) -> int:
    """The cost at which the next chunk closes: ``CHUNK_COST``, at most a quarter of a worker's share of the
    whole run, and at most the work left over twice the workers (guided self-scheduling: with two chunks in
    flight per worker, the chunks still queued when the first worker runs dry hold about as much as the ones
    running)."""
    return max(1, min(CHUNK_COST, total // (4 * workers), remaining // (2 * workers)))


def _examples(names: set[str], limit: int = 10) -> list[str]:
    return sorted(names)[:limit]


def expand(
    pipe: Pipeline,
    opts: RunOptions,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run ``pipe`` over ``opts.input`` into ``opts.output``. ``progress(n)`` is called as items finish.

    The run owns OUTPUT from start to end (``augment.io.lock``): a second run into it fails at once with
    ``OutputBusyError``.
    """
    started = time.perf_counter()
    where = output_location(opts.output)
    opts = dataclasses.replace(opts, output=where)
    hf_kind = _hf_kind(opts.input)
    _check_output_format(pipe, opts, hf_kind)
    if hf_kind is not None:  # a save_to_disk folder or Parquet files: written back in the same kind
        from augment.run.hf_expand import expand_hf

        return expand_hf(pipe, opts, hf_kind, library_versions(), RunError, identity_differences)
    _check_locations(pipe, opts, remote=not isinstance(where, Path))
    # the workers' imports run on another core while this process walks INPUT, takes OUTPUT and plans. Whether
    # INPUT is annotated is known only after the walk: the annotated job (~90 ms of imports) is then imported by
    # each worker of an annotated run, rather than by the forkserver of every run
    warm_up(opts.engine, pipe.spec.to_dict(), annotated=False, scheduler=opts.scheduler)
    layout = layout_scan = None
    if pipe.modality == "image":  # before OUTPUT is touched: a refused INPUT leaves nothing behind
        from augment.run.annotated_expand import resolve_layout

        layout, layout_scan = resolve_layout(opts)  # the items too: found by the same walk, not walked again
        if layout is not None and layout.format == "coco":
            from augment.extras import require

            require("coco", "a COCO dataset")  # before any item: each would fail alike in its worker
    out = _store_for(opts)
    lock = _take_ownership(out, opts, new_run_id())
    try:
        _use_staging(out)
        try:
            return _expand_owned(pipe, opts, out, lock, started, progress, on_total, layout, layout_scan)
        finally:
            if out.remote:
                shutil.rmtree(out.meta, ignore_errors=True)  # the store holds what a resume needs
    finally:
        if not out.remote:
            journal.end(out.meta, lock.run_id)  # before the lock goes: no task of this run writes any more
        lock.release()


def _expand_owned(pipe, opts, out: _Output, lock, started, progress, on_total, layout=None, layout_scan=None
                  ) -> RunSummary:
    text_format = None
    if pipe.modality == "text":
        from augment.run.text_expand import resolve_text_format

        text_format = resolve_text_format(opts.input, opts.text_format)
    config = JobConfig(  # absolute roots: a Dask worker on a cluster runs in a folder of its own
        spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(Path(opts.input).absolute()),
        output_root=str(opts.output.absolute() if isinstance(opts.output, Path) else opts.output), quality=opts.quality,
        text_format=dataclasses.asdict(text_format) if text_format else None,
        storage_options=out.store.options if out.remote else None, output_format=opts.output_format,
        annotation_format=layout.to_dict() if layout is not None else None, keep_unchanged=opts.keep_unchanged,
        durable=opts.durable, plugins=tuple(plugins.loaded_modules()),
        run_id=None if out.remote else lock.run_id,  # workers journal their writes (augment.io.journal)
        pipeline_hash=pipe.output_hash,
    )
    run_record = {
        "status": "running",
        "spec": pipe.spec.to_dict(),
        "spec_hash": pipe.spec_hash,
        "seed": pipe.spec.seed,
        "copies": pipe.spec.copies,
        "input": str(opts.input.resolve()),
        "include_originals": opts.include_originals,
        "quality": opts.quality,
        "text_format": config.text_format,
        "output_format": opts.output_format,
        "shard_size": opts.shard_size if opts.output_format != "folder" else None,
        "keep_unchanged": opts.keep_unchanged,
        "versions": library_versions(),
    }
    if pipe.modality == "image":  # which encoder made the bytes (augment.io.images.codec_versions)
        run_record["codec"] = codec_versions()
    if layout is not None:
        run_record["annotations"] = config.annotation_format
    if pipe.plugin_origins():  # plugin and library ops: which distribution and version (replay checks them)
        run_record["plugins"] = pipe.plugin_origins()
    run_record["identity"] = run_identity(run_record)
    summary = RunSummary(status="running", output=str(opts.output))
    if pipe.modality == "image":
        try:
            pipe.check_writes_images()
        except ValueError as exc:
            raise RunError(str(exc)) from None
    if layout is not None:
        try:
            pipe.check_moves_annotations()
        except ValueError as exc:
            raise RunError(str(exc)) from None
    if layout is not None and opts.output_format != "folder":
        raise RunError(f"--output-format {opts.output_format} is for image folders; annotated datasets are written "
                       "in their own format")
    scan = _scan_images(pipe, opts, out.remote) if pipe.modality == "image" and layout is None else None
    if not out.remote:  # before anything of an earlier run is removed: a journal that cannot be written stops here
        journal.begin(out.meta, lock.run_id)
    previous, previous_run = _prepare_output(pipe, opts, out, run_record)
    drift = _code_drift(previous_run, run_record) if previous and previous_run else []
    if drift:  # a resume under other code: its outputs and the earlier ones may differ, and that is said and kept
        summary.notes.append(f"the outputs already in OUTPUT were made with {'; '.join(drift)}: outputs made now may "
                             "differ from them (--overwrite remakes all with this version)")
        run_record["earlier"] = [*previous_run.get("earlier", []),
                                 {k: previous_run[k] for k in ("versions", "codec", "plugins") if k in previous_run}]
    elif previous_run and previous and previous_run.get("earlier"):
        run_record["earlier"] = previous_run["earlier"]
    out.store.remove_stale_temporaries()
    if not out.remote and opts.overwrite:  # what a stopped earlier run wrote but never recorded goes with the rest
        _note_unrecorded(summary, journal.remove_journalled(out.store, out.meta, set()), "the earlier run")
        journal.clear(out.meta)
        journal.begin(out.meta, lock.run_id)  # its marker went with the earlier journal
    changed: set[str] = set()
    gone: set[str] = set()
    text_complete = None
    annotated_scan = None
    if layout is not None:  # annotated: the image and its annotation are both compared (annotated_expand)
        from augment.run.annotated_expand import annotated_source_changes

        changed, gone, previous, annotated_scan = annotated_source_changes(opts, layout, previous, out, layout_scan)
    elif scan is not None:
        changed, gone, touched = _source_changes(scan, previous, opts.input)
        if changed or gone:
            previous = _drop_outputs_of(changed | gone, previous, out)
        for rec in previous:  # checked by content: record the new mtime so the next resume need not hash again
            if rec.get("source") in touched:
                rec["source_fingerprint"] = touched[rec["source"]]
        summary.skipped_hidden = scan.hidden
        summary.skipped_non_data = len(scan.ignored)
        summary.skipped_non_data_examples = [rel for rel, _ in scan.ignored[:5]]
        summary.skipped_earlier_outputs = list(scan.earlier_outputs)
    elif pipe.modality == "text":
        from augment.io.fingerprint import file_fingerprint

        run_record["source_fingerprint"] = fingerprint = file_fingerprint(opts.input)
        old = (previous_run or {}).get("source_fingerprint")
        if previous and old is not None and old.get("sha256") != fingerprint["sha256"]:
            changed = {opts.input.name}  # rows may have moved: the whole file is planned again
            previous = []
            out.store.remove_tree(PARTS_DIR)
        elif (previous_run or {}).get("status") == "complete":
            text_complete = opts.input.name
    summary.sources_changed, summary.sources_removed = len(changed), len(gone)
    summary.changed_examples, summary.removed_examples = _examples(changed), _examples(gone)
    if changed:
        summary.notes.append(f"{len(changed)} source(s) changed since their outputs were made; their outputs were "
                             f"made again: {', '.join(_examples(changed, 3))}")
    if gone:
        summary.notes.append(f"{len(gone)} source(s) no longer in INPUT; their outputs and records were removed: "
                             f"{', '.join(_examples(gone, 3))}")
    for folder in summary.skipped_earlier_outputs:
        summary.notes.append(f"{folder} holds an earlier augment OUTPUT (manifest.jsonl and run.json); skipped")
    done = _done_outputs(previous, out, text_complete)
    records = RecordIndex(previous)
    shards_recorded = _recorded_shards(previous, opts)
    del previous
    write_run_record(out.meta, run_record)
    out.publish(RUN_RECORD)
    errors = _ErrorLog(JsonlAppender(out.meta / ERRORS, truncate=True), summary)
    manifest = JsonlAppender(out.meta / MANIFEST, truncate=True)
    for line in records.sorted_lines():  # what is kept; records of redone or removed sources must not come back
        manifest.write_line(line)
    sync = _ManifestSync(out, opts.remote_flush_records, opts.remote_flush_seconds) if out.remote else None
    try:
        counts = {"rows": 0, "problems": 0}
        assembler = None
        if layout is not None:
            from augment.run.annotated_expand import annotated_tasks

            tasks, summary.items, _ = annotated_tasks(pipe, opts, layout, done, errors, out,  # errors counts itself
                                                      annotated_scan, summary)
            chunk_iter = _chunks(tasks, opts.chunk_size or DEFAULT_CHUNK)
            total = len(tasks)
        elif pipe.modality == "image":
            if opts.output_format == "folder":
                tasks, summary.items = _image_plan(pipe, opts, scan, done, errors, out.remote)
            else:  # shards: every output of a shard is redone when any is missing (see augment.run.shard_job)
                tasks, summary.items = _sharded_tasks(pipe, opts, scan, done, errors, out, shards_recorded)
                assembler = _shard_assembler(opts, out)
            chunk_iter = (cost_chunks(tasks, opts.input, engine_workers(opts), opts.chunk_size)
                          if opts.output_format == "folder" else _chunks(tasks, 1))
            total = len(tasks) if opts.output_format == "folder" else sum(len(t.tasks) for t in tasks)
        else:
            from augment.run.text_expand import text_chunks

            chunk_iter = text_chunks(pipe, opts, text_format, done, errors, counts)
            total = None  # rows are streamed; the bar counts them without a total
        summary.resumed_skipped = len(done)
        if on_total:
            on_total(total)
        engine = make_engine(opts.engine, opts.workers, opts.scheduler, opts.scheduler_timeout)
        for result in engine.run(config, chunk_iter):
            if assembler is not None:  # sharded: records reach the manifest once their shard is in place
                result = assembler.take(result)
            _collect(result, manifest, errors, summary, records, sync, durable=opts.durable)
            lock.check()
            if progress:
                progress(result.items)
        summary.scheduling = getattr(engine, "stats", None)  # where the workers' time went (local, Dask)
        if assembler is not None:
            assembler.finish()
        if pipe.modality == "text":
            from augment.run.text_expand import assemble_text_output

            summary.items = counts["rows"]
            if summary.items == 0:
                raise RunError(f"no readable rows in {opts.input}")
            if out.store.list(PARTS_DIR) or not out.store.exists(opts.input.name):
                assemble_text_output(opts, text_format, out.store)
    except BaseException as exc:
        if assembler is not None:
            assembler.abort()
        # run.json must not say "running" once this process has stopped (the same command still resumes)
        run_record["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        try:
            write_run_record(out.meta, run_record)
        except OSError:
            pass
        if sync is not None:  # keep what this run did: a resumed run then skips it
            try:
                sync.flush()
            except Exception:
                pass
        raise
    finally:
        manifest.close()
        errors.appender.close()
    lock.check()
    count = finalize_manifest(out.meta / MANIFEST, records)
    if layout is not None:
        from augment.run.annotated_expand import finish_annotated

        finish_annotated(opts, layout, out.meta / MANIFEST, out.store)
    if pipe.modality == "text":
        out.store.remove_tree(PARTS_DIR)  # joined into the output; the manifest keeps every row's record
    out.store.remove_stale_temporaries()  # e.g. of a worker killed mid-write: no writer of this run is left
    if not out.remote:  # files a stopped chunk wrote (this run's or an earlier one's) that no record lists
        _note_unrecorded(summary, journal.remove_journalled(out.store, out.meta, _listed(out.meta / MANIFEST)),
                         "a stopped chunk")
        journal.clear(out.meta)
    summary.seconds = time.perf_counter() - started
    summary.status = "complete"
    summary.outputs_in_manifest = count
    run_record.update(status="complete", counts={
        "items": summary.items, "outputs_in_manifest": count, "written_this_run": summary.written,
        "skipped_already_done": summary.resumed_skipped, "errors": summary.errors,
        "sources_changed": summary.sources_changed, "sources_removed": summary.sources_removed,
        "skipped_hidden": summary.skipped_hidden, "skipped_non_data": summary.skipped_non_data,
        "redrawn": summary.redrawn, "dropped_unchanged": summary.dropped_unchanged,
        "dropped_duplicate": summary.dropped_duplicate, "dropped_filtered": summary.dropped_filtered,
        "filter_rejections": summary.filter_rejections,
    }, **({"notes": summary.notes} if summary.notes else {}))
    write_run_record(out.meta, run_record)
    if out.remote:
        out.publish(MANIFEST, ERRORS)
        out.store.remove_tree(SEGMENTS_DIR)  # all in the manifest now
        out.publish(RUN_RECORD)  # last: "complete" means the manifest above is final
    return summary


def _code_drift(previous: dict, current: dict) -> list[str]:
    """What code a resumed run's earlier outputs were made with that this run's differs from: library versions,
    the image codecs, plugin and library ops' providers (``name old -> new``)."""
    out = []
    for key in ("versions", "codec"):
        old, new = previous.get(key) or {}, current.get(key) or {}
        out += [f"{name} {old[name]} (now {new.get(name)})" for name in sorted(old) if name in new and old[name] != new[name]]
    old_ops, new_ops = previous.get("plugins") or {}, current.get("plugins") or {}
    for op in sorted(set(old_ops) & set(new_ops)):
        before, now = old_ops[op].get("version"), new_ops[op].get("version")
        if before != now:
            out.append(f"{old_ops[op].get('distribution') or old_ops[op].get('module')} {before} for {op} (now {now})")
    return out


def _listed(manifest: Path) -> set[str]:
    names: set[str] = set()
    for rec in read_jsonl(manifest):
        names.update(rec[k] for k in ("output", "shard", "annotation") if isinstance(rec.get(k), str))
    return names


def _note_unrecorded(summary: RunSummary, removed: int, who: str) -> None:
    if removed:
        summary.notes.append(f"removed {removed} file(s) that {who} wrote but never recorded in the manifest "
                             "(it was stopped mid-chunk)")


def _collect(result: ChunkResult, manifest: JsonlAppender, errors: _ErrorLog, summary: RunSummary,
             records: RecordIndex, sync: _ManifestSync | None = None, durable: bool = False) -> None:
    for rec, line in zip(result.records, manifest.write_records(result.records, fsync=durable)):
        records.add(rec, line)
    summary.written += len(result.records)
    summary.redrawn += result.redrawn
    summary.dropped_unchanged += result.dropped_unchanged
    summary.dropped_duplicate += result.dropped_duplicate
    summary.dropped_filtered += result.dropped_filtered
    for key, n in result.filter_rejections.items():
        summary.filter_rejections[key] = summary.filter_rejections.get(key, 0) + n
    summary.notes.extend(n for n in result.notes if n not in summary.notes)
    for err in result.errors:
        errors.write(err)
    if sync is not None:
        sync.add(result.records)
    if result.fatal:
        raise OutputWriteError(result.fatal)


__all__ = [
    "SEGMENTS_DIR",
    "RunError",
    "RunOptions",
    "staging_dir",
    "RunSummary",
    "library_versions",
    "remote_manifest",
    "expand",
]


def _hf_kind(path: Path) -> str | None:
    from augment.io.hf_dataset import hf_input_kind

    return hf_input_kind(Path(path))


def _sharded_tasks(pipe: Pipeline, opts: RunOptions, scan, done: set, errors: "_ErrorLog", out: _Output,
                   recorded: dict):
    from augment.run.shard_job import items_per_shard, shard_tasks, stale_shards

    tasks, items = _image_plan(pipe, opts, scan, set(), errors, out.remote, mirror=False)
    per_shard = items_per_shard(opts.shard_size, pipe.spec.copies, opts.include_originals)
    parts, _skipped = shard_tasks(tasks, opts.output_format, per_shard, done, recorded,
                                  opts.chunk_size or DEFAULT_CHUNK)
    for name in stale_shards(out.store.top_level(), opts.output_format, -(-len(tasks) // per_shard)):
        out.store.remove(name)
    return parts, items


def _recorded_shards(previous: list[dict], opts: RunOptions) -> dict:
    if opts.output_format == "folder":
        return {}
    from augment.run.shard_job import recorded_shards

    return recorded_shards(previous)


def _shard_assembler(opts: RunOptions, out: _Output):
    from augment.run.shard_job import ShardAssembler, publish_local, publish_to_store

    if out.remote:
        return ShardAssembler(out.meta, publish_to_store(out.store), opts.output_format)
    return ShardAssembler(opts.output, publish_local(opts.output), opts.output_format)


def _check_output_format(pipe: Pipeline, opts: RunOptions, hf_kind: str | None) -> None:
    if opts.output_format == "folder":
        return
    if hf_kind is not None:
        raise RunError(f"INPUT is a Hugging Face dataset or Parquet data: it is written back in the same kind; "
                       f"drop --output-format {opts.output_format}")
    if pipe.modality == "text" and opts.output_format == "webdataset":
        raise RunError("--output-format webdataset is for images; text datasets take --output-format parquet")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        if opts.output_format == "parquet":
            raise RunError("--output-format parquet needs pyarrow: pip install 'augment-pipelines[hf]'") from None
