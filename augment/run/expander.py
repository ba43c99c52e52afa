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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from augment._version import __version__
from augment.compile.pipeline import Pipeline
from augment.io.image_folder import scan_image_folder
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
from augment.io.paths import UnsafePathError, is_within
from augment.io.store import FsspecStore, LocalStore, OutputStore, output_location, storage_options_for
from augment.run.engines import make_engine
from augment.run.job import ChunkResult, ImageTask, JobConfig, OutputWriteError
from augment.run.text_job import PARTS_DIR

SEGMENTS_DIR = ".augment-manifest"  # manifest records uploaded during a run into a URL OUTPUT


class RunError(RuntimeError):
    """The run cannot start or cannot go on; the message is one line for the user."""


@dataclass
class RunOptions:
    input: Path
    output: Path | str  # a folder, or an fsspec URL (s3://bucket/prefix, memory://x, ...)
    include_originals: bool = False
    workers: int | None = None
    engine: str = "local"
    scheduler: str | None = None
    quality: int = 95
    overwrite: bool = False
    chunk_size: int = 16
    text_format: dict | None = None  # for text datasets: the reader/writer format options
    storage_options: dict | None = None  # fsspec options for a URL OUTPUT (merged over $AUGMENT_STORAGE_OPTIONS)
    remote_flush_records: int = 1000  # URL OUTPUT: upload new manifest records after this many...
    remote_flush_seconds: float = 30.0  # ...or this long, whichever comes first
    keep_unchanged: bool = False  # write copies identical to their source or another copy (no redraw, no drop)


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


def _open_output(opts: RunOptions) -> _Output:
    where = output_location(opts.output)
    if isinstance(where, Path):
        return _Output(LocalStore(where), where, remote=False)
    try:
        options = storage_options_for(where, opts.storage_options)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    if where.partition("://")[0].lower() == "memory" and opts.engine != "serial":
        raise RunError("a memory:// OUTPUT lives in one process: use --engine serial with it")
    meta = staging_dir(where)
    shutil.rmtree(meta, ignore_errors=True)  # the store holds the truth; staging is scratch space for one run
    meta.mkdir(parents=True, exist_ok=True)
    return _Output(FsspecStore(where, options), meta, remote=True)


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


@dataclass
class RunSummary:
    status: str
    output: str
    items: int = 0
    written: int = 0
    resumed_skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_examples: list[dict] = field(default_factory=list)
    redrawn: int = 0  # copies drawn again because they equalled their source or another copy
    dropped_unchanged: int = 0  # copies still identical to their source after the redraws: not written
    dropped_duplicate: int = 0  # copies still identical to another copy of the same source: not written
    dropped_filtered: int = 0  # text copies the spec's filter: rejected on every draw: not written
    filter_rejections: dict[str, int] = field(default_factory=dict)  # "op:reason" -> rejected draws
    notes: list[str] = field(default_factory=list)  # said once per run (e.g. an op without resources)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["outputs_per_second"] = round(self.written / self.seconds, 1) if self.seconds > 0 else None
        d["seconds"] = round(self.seconds, 3)
        return d


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
    if remote:
        return
    if out.exists() and not out.is_dir():
        raise RunError(f"OUTPUT {out} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(src):
        raise RunError("OUTPUT must differ from INPUT: inputs are never modified")
    if src.is_dir() and out.exists() and is_within(src, out):
        raise RunError(f"OUTPUT {out} contains INPUT {src}: outputs would land among the inputs")


def _prepare_output(pipe: Pipeline, opts: RunOptions, where: _Output | None = None) -> list[dict]:
    """Check the run record, apply --overwrite, and return the manifest records of a resumable earlier run."""
    if where is not None and where.remote:
        try:
            return _prepare_remote(pipe, opts, where.store)
        except (RunError, OutputWriteError):
            raise
        except Exception as exc:  # unreachable endpoint, missing bucket, no credentials: one line for the user
            raise RunError(f"OUTPUT {opts.output} cannot be used: {type(exc).__name__}: {exc}") from None
    out = opts.output
    out.mkdir(parents=True, exist_ok=True)
    previous = read_run_record(out)
    if previous is None:
        leftovers = [p for p in out.iterdir() if not p.name.startswith(".")]
        if leftovers and not opts.overwrite:
            raise RunError(f"OUTPUT {out} is not empty and holds no augment run; use another folder or --overwrite")
        return []
    same = previous.get("spec_hash") == pipe.spec_hash and previous.get("input") == str(opts.input.resolve())
    if same and not opts.overwrite:
        return list(read_jsonl(out / MANIFEST))
    if not opts.overwrite:
        raise RunError(
            f"OUTPUT {out} holds a run of another spec, seed or input (hash {previous.get('spec_hash')}, "
            f"this run {pipe.spec_hash}); use another folder or --overwrite to replace it"
        )
    for rec in read_jsonl(out / MANIFEST):
        target = out / rec.get("output", "")
        if rec.get("output") and is_within(target, out) and target.is_file():
            target.unlink()
    for name in (MANIFEST, ERRORS, "run.json"):
        (out / name).unlink(missing_ok=True)
    LocalStore(out).remove_tree(PARTS_DIR)  # parts of the replaced run must not be joined into the new output
    return []


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


def _prepare_remote(pipe: Pipeline, opts: RunOptions, store: OutputStore) -> list[dict]:
    try:
        previous = json.loads(store.read_bytes(RUN_RECORD))
    except FileNotFoundError:
        previous = None
    except (json.JSONDecodeError, UnicodeDecodeError):
        previous = {"status": "unreadable"}
    if previous is None:
        leftovers = [name for name in store.top_level() if not name.startswith(".")]
        if leftovers and not opts.overwrite:
            raise RunError(f"OUTPUT {opts.output} is not empty and holds no augment run; use another location or "
                           "--overwrite")
        return []
    same = previous.get("spec_hash") == pipe.spec_hash and previous.get("input") == str(opts.input.resolve())
    if same and not opts.overwrite:
        return remote_manifest(store)
    if not opts.overwrite:
        raise RunError(
            f"OUTPUT {opts.output} holds a run of another spec, seed or input (hash {previous.get('spec_hash')}, "
            f"this run {pipe.spec_hash}); use another location or --overwrite to replace it"
        )
    for rec in remote_manifest(store):
        try:
            if rec.get("output"):
                store.remove(rec["output"])
        except UnsafePathError:
            continue
    for name in (MANIFEST, ERRORS, RUN_RECORD):
        store.remove(name)
    store.remove_tree(SEGMENTS_DIR)
    store.remove_tree(PARTS_DIR)
    return []


def _done_outputs(records: list[dict], out: Path | _Output) -> set[tuple]:
    if isinstance(out, _Output) and out.remote:
        existing = set(out.store.list())  # one listing, not one request per record
        exists = existing.__contains__
    else:
        root = out.meta if isinstance(out, _Output) else out
        exists = lambda rel: (root / rel).is_file()  # noqa: E731
    done = set()
    for rec in records:
        output = rec.get("part") or rec.get("output")  # text rows live in part files until assembled
        if output and exists(output):
            done.add((rec.get("source"), rec.get("row"), rec.get("copy")))
    return done


def _image_tasks(pipe: Pipeline, opts: RunOptions, done: set, errors: JsonlAppender,
                 remote: bool = False) -> tuple[list[ImageTask], int, int]:
    scan = scan_image_folder(opts.input, exclude=None if remote else opts.output)
    for rel, reason in scan.problems:
        errors.write({"source": rel, "error": reason})
    for folder in scan.folders if not remote else ():  # mirror the layout, empty classes included (object
        (opts.output / folder).mkdir(parents=True, exist_ok=True)  # stores have no empty folders)
    if not scan.images:
        raise RunError(f"no images found in {opts.input} (looked for {', '.join(sorted({'.jpg', '.png', '.bmp', '.gif', '.tif', '.webp'}))})")
    tasks, skipped = [], 0
    for rel in scan.images:
        copies = tuple(k for k in range(pipe.spec.copies) if (rel, None, k) not in done)
        original = opts.include_originals and (rel, None, None) not in done
        skipped += pipe.spec.copies - len(copies) + (opts.include_originals and not original)
        if copies or original:
            tasks.append(ImageTask(rel, copies, original))
    return tasks, len(scan.images), len(scan.problems)


def _chunks(tasks: list, size: int) -> Iterator[list]:
    for i in range(0, len(tasks), size):
        yield tasks[i : i + size]


def expand(
    pipe: Pipeline,
    opts: RunOptions,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run ``pipe`` over ``opts.input`` into ``opts.output``. ``progress(n)`` is called as items finish."""
    started = time.perf_counter()
    where = output_location(opts.output)
    opts = dataclasses.replace(opts, output=where)
    _check_locations(pipe, opts, remote=not isinstance(where, Path))
    out = _open_output(opts)
    try:
        previous = _prepare_output(pipe, opts, out)
        out.store.remove_stale_temporaries()
        done = _done_outputs(previous, out)
        records = RecordIndex(previous)
        del previous
    except BaseException:
        if out.remote:  # a refused or unreachable OUTPUT leaves no staging folder behind
            shutil.rmtree(out.meta, ignore_errors=True)
        raise
    text_format = None
    if pipe.modality == "text":
        from augment.run.text_expand import resolve_text_format

        text_format = resolve_text_format(opts.input, opts.text_format)
    config = JobConfig(
        spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(opts.input),
        output_root=str(opts.output), quality=opts.quality,
        text_format=dataclasses.asdict(text_format) if text_format else None,
        storage_options=out.store.options if out.remote else None, keep_unchanged=opts.keep_unchanged,
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
        "versions": library_versions(),
    }
    write_run_record(out.meta, run_record)
    try:
        out.publish(RUN_RECORD)
    except BaseException:  # e.g. the bucket does not exist
        shutil.rmtree(out.meta, ignore_errors=True)
        raise
    errors = JsonlAppender(out.meta / ERRORS, truncate=True)
    manifest = JsonlAppender(out.meta / MANIFEST)
    sync = _ManifestSync(out, opts.remote_flush_records, opts.remote_flush_seconds) if out.remote else None
    summary = RunSummary(status="running", output=str(opts.output))
    try:
        counts = {"rows": 0, "problems": 0}
        if pipe.modality == "image":
            tasks, summary.items, summary.errors = _image_tasks(pipe, opts, done, errors, out.remote)
            chunk_iter = _chunks(tasks, opts.chunk_size)
            total = len(tasks)
        else:
            from augment.run.text_expand import text_chunks

            chunk_iter = text_chunks(pipe, opts, text_format, done, errors, counts)
            total = None  # rows are streamed; the bar counts them without a total
        summary.resumed_skipped = len(done)
        if on_total:
            on_total(total)
        engine = make_engine(opts.engine, opts.workers, opts.scheduler)
        for result in engine.run(config, chunk_iter):
            _collect(result, manifest, errors, summary, records, sync)
            if progress:
                progress(result.items)
        if pipe.modality == "text":
            from augment.run.text_expand import assemble_text_output

            summary.items = counts["rows"]
            summary.errors += counts["problems"]
            if summary.items == 0:
                raise RunError(f"no readable rows in {opts.input}")
            assemble_text_output(opts, text_format, out.store)
    except BaseException:
        if sync is not None:  # keep what this run did: a resumed run then skips it
            try:
                sync.flush()
            except Exception:
                pass
        raise
    finally:
        manifest.close()
        errors.close()
    count = finalize_manifest(out.meta / MANIFEST, records)
    summary.seconds = time.perf_counter() - started
    summary.status = "complete"
    run_record.update(status="complete", counts={
        "items": summary.items, "outputs_in_manifest": count, "written_this_run": summary.written,
        "skipped_already_done": summary.resumed_skipped, "errors": summary.errors,
        "redrawn": summary.redrawn, "dropped_unchanged": summary.dropped_unchanged,
        "dropped_duplicate": summary.dropped_duplicate, "dropped_filtered": summary.dropped_filtered,
        "filter_rejections": summary.filter_rejections,
    }, **({"notes": summary.notes} if summary.notes else {}))
    write_run_record(out.meta, run_record)
    if out.remote:
        out.publish(MANIFEST, ERRORS)
        out.store.remove_tree(SEGMENTS_DIR)  # all in the manifest now
        out.publish(RUN_RECORD)  # last: "complete" means the manifest above is final
        shutil.rmtree(out.meta, ignore_errors=True)
    return summary


def _collect(result: ChunkResult, manifest: JsonlAppender, errors: JsonlAppender, summary: RunSummary,
             records: RecordIndex, sync: _ManifestSync | None = None) -> None:
    for rec in result.records:
        records.add(rec, manifest.write(rec))
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
        summary.errors += 1
        if len(summary.error_examples) < 5:
            summary.error_examples.append(err)
    if sync is not None:
        sync.add(result.records)
    if result.fatal:
        raise OutputWriteError(result.fatal)
