"""The dataset expander: INPUT dataset + pipeline -> OUTPUT dataset in the same layout, with a manifest.

Re-running the same command into the same OUTPUT resumes: outputs that have a manifest record and exist on disk
are skipped, everything else is (re)done, and the manifest is de-duplicated when the run completes. A different
spec or seed into a non-empty OUTPUT is refused unless ``overwrite``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from augment._version import __version__
from augment.compile.pipeline import Pipeline
from augment.io.atomic import remove_stale_temporaries
from augment.io.image_folder import scan_image_folder
from augment.io.manifest import (
    ERRORS,
    MANIFEST,
    JsonlAppender,
    finalize_manifest,
    read_jsonl,
    read_run_record,
    write_run_record,
)
from augment.io.paths import is_within
from augment.run.engines import make_engine
from augment.run.job import ChunkResult, ImageTask, JobConfig, OutputWriteError


class RunError(RuntimeError):
    """The run cannot start or cannot go on; the message is one line for the user."""


@dataclass
class RunOptions:
    input: Path
    output: Path
    include_originals: bool = False
    workers: int | None = None
    engine: str = "local"
    scheduler: str | None = None
    quality: int = 95
    overwrite: bool = False
    chunk_size: int = 16
    text_format: dict | None = None  # for text datasets: the reader/writer format options


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


def _check_locations(pipe: Pipeline, opts: RunOptions) -> None:
    src, out = opts.input, opts.output
    if not src.exists():
        raise RunError(f"INPUT {src} does not exist")
    if pipe.modality == "image" and not src.is_dir():
        raise RunError(f"INPUT {src} must be a folder of images (one sub-folder per class, or flat)")
    if pipe.modality == "text" and not src.is_file():
        raise RunError(f"INPUT {src} must be a text dataset file (.tsv, .csv, .jsonl, .txt)")
    if out.exists() and not out.is_dir():
        raise RunError(f"OUTPUT {out} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(src):
        raise RunError("OUTPUT must differ from INPUT: inputs are never modified")
    if src.is_dir() and out.exists() and is_within(src, out):
        raise RunError(f"OUTPUT {out} contains INPUT {src}: outputs would land among the inputs")


def _prepare_output(pipe: Pipeline, opts: RunOptions) -> list[dict]:
    """Check the run record, apply --overwrite, and return the manifest records of a resumable earlier run."""
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
    return []


def _done_outputs(records: list[dict], out: Path) -> set[tuple]:
    done = set()
    for rec in records:
        output = rec.get("part") or rec.get("output")  # text rows live in part files until assembled
        if output and (out / output).is_file():
            done.add((rec.get("source"), rec.get("row"), rec.get("copy")))
    return done


def _image_tasks(pipe: Pipeline, opts: RunOptions, done: set, errors: JsonlAppender) -> tuple[list[ImageTask], int, int]:
    scan = scan_image_folder(opts.input, exclude=opts.output)
    for rel, reason in scan.problems:
        errors.write({"source": rel, "error": reason})
    for folder in scan.folders:  # mirror the layout, empty classes included
        (opts.output / folder).mkdir(parents=True, exist_ok=True)
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
    _check_locations(pipe, opts)
    records = _prepare_output(pipe, opts)
    remove_stale_temporaries(opts.output)
    done = _done_outputs(records, opts.output)
    text_format = None
    if pipe.modality == "text":
        from augment.run.text_expand import resolve_text_format

        text_format = resolve_text_format(opts.input, opts.text_format)
    config = JobConfig(
        spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(opts.input),
        output_root=str(opts.output), quality=opts.quality,
        text_format=dataclasses.asdict(text_format) if text_format else None,
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
    write_run_record(opts.output, run_record)
    errors = JsonlAppender(opts.output / ERRORS, truncate=True)
    manifest = JsonlAppender(opts.output / MANIFEST)
    summary = RunSummary(status="running", output=str(opts.output))
    try:
        counts = {"rows": 0, "problems": 0}
        if pipe.modality == "image":
            tasks, summary.items, summary.errors = _image_tasks(pipe, opts, done, errors)
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
            _collect(result, manifest, errors, summary, records)
            if progress:
                progress(result.items)
        if pipe.modality == "text":
            from augment.run.text_expand import assemble_text_output

            summary.items = counts["rows"]
            summary.errors += counts["problems"]
            if summary.items == 0:
                raise RunError(f"no readable rows in {opts.input}")
            assemble_text_output(opts, text_format)
    finally:
        manifest.close()
        errors.close()
    count = finalize_manifest(opts.output / MANIFEST, records)
    summary.seconds = time.perf_counter() - started
    summary.status = "complete"
    run_record.update(status="complete", counts={
        "items": summary.items, "outputs_in_manifest": count, "written_this_run": summary.written,
        "skipped_already_done": summary.resumed_skipped, "errors": summary.errors,
    })
    write_run_record(opts.output, run_record)
    return summary


def _collect(result: ChunkResult, manifest: JsonlAppender, errors: JsonlAppender, summary: RunSummary, records: list) -> None:
    for rec in result.records:
        manifest.write(rec)
        records.append(rec)
    summary.written += len(result.records)
    for err in result.errors:
        errors.write(err)
        summary.errors += 1
        if len(summary.error_examples) < 5:
            summary.error_examples.append(err)
    if result.fatal:
        raise OutputWriteError(result.fatal)
