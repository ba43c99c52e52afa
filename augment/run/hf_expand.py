"""``augment run`` over a Hugging Face dataset (``save_to_disk`` folder) or Parquet files.

The rows are expanded with ``augment.hf.Expansion``: each part (a split, a Parquet file) is cut into blocks of
``BLOCK_ROWS`` rows, and each block is mapped (``Dataset.map(batched=True)``) into its own Arrow file in a
scratch folder of OUTPUT, by a pool of ``workers`` processes. Seeds depend only on the row index
(``row:<index>``, copy), so the result depends neither on the number of processes nor on the blocks. Images are
encoded like ``augment run`` encodes files (the source's format, ``--quality``) and stored as bytes in the image
column. OUTPUT gets the same kind as INPUT (a ``save_to_disk`` folder or Parquet files) plus ``manifest.jsonl``
(one record per output row: ``source``/``row``, ``output``/``output_row``, ``copy``, ``seed``, ``ops``,
``sha256`` of the value) and ``run.json``. The expanded rows carry ``source_index`` and ``copy`` columns.

The run owns OUTPUT (``augment.io.lock.FolderLock``) as a folder run does. Resume: a block's file is named by
the run's identity, the number of copies, its part's fingerprint (file names, sizes, mtimes) and its rows, and
is written whole (``datasets`` writes a temporary file and moves it), so a killed run's finished blocks are
reused by the same command and only the missing ones are computed; a part whose files changed gets all its
blocks again. The outputs are assembled from the blocks only when every block exists, then moved into place;
run.json says ``complete`` last. Another spec, seed, input or option is refused, as for folders
(``run_identity``), unless ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from augment.compile.pipeline import Pipeline
from augment.hf import Expansion, is_objects_feature
from augment.io.atomic import atomic_write_bytes
from augment.io.hf_dataset import (
    HFInputError,
    image_columns,
    load_part,
    load_parts,
    part_fingerprint,
    save_part,
    text_column_of,
)
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.lock import LOCK_NAME, FolderLock, new_run_id
from augment.io.manifest import ERRORS, MANIFEST, dumps, read_run_record, write_run_record
from augment.io.paths import OutsideRootError, is_within, read_bytes_within
from augment.run.engine_base import available_cores
from augment.run.engines import start_forkserver, stop_workers
from augment.run.worker import init_pool_worker

__all__ = ["expand_hf", "SCRATCH", "BLOCK_ROWS"]

SCRATCH = ".augment-hf-tmp"
BLOCK_ROWS = 256  # rows per block: the unit of work and of resume ($AUGMENT_HF_BLOCK_ROWS overrides it)


def _block_rows() -> int:
    try:
        return max(1, int(os.environ.get("AUGMENT_HF_BLOCK_ROWS", BLOCK_ROWS)))
    except ValueError:
        return BLOCK_ROWS
EXTRA_COLUMNS = ("source_index", "copy")


class _Encode:
    """Expansion with images decoded and encoded as ``augment run`` does for files (picklable: ``Dataset.map``
    ships it to ``num_proc`` processes). Image columns come in undecoded (``{"bytes", "path"}``): the EXIF
    orientation is applied, originals keep their exact bytes, outputs are written in the source's format. A row
    whose image cannot be read becomes one placeholder row with ``augment_error`` set (filtered out afterwards),
    in its own place, so the output never depends on batch boundaries or ``num_proc``."""

    def __init__(self, expansion: Expansion, images: list[str], quality: int, root: str = "", base: str = "") -> None:
        self.expansion, self.images, self.quality = expansion, images, quality
        self.root, self.base = root, base  # a path-only image is read from INPUT only, relative to its Parquet file

    def _read(self, value: dict) -> bytes:
        if value.get("bytes"):
            return value["bytes"]
        if not isinstance(value.get("path"), str) or not value["path"]:
            raise TypeError("image with neither bytes nor path")
        if not self.root:
            raise OutsideRootError("a path-only image outside a block of INPUT; not read")
        return read_bytes_within(self.root, value["path"], self.base)

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        n = len(indices)
        decoded: dict[str, list] = {col: [None] * n for col in self.images}
        formats: dict[str, list] = {col: [None] * n for col in self.images}
        bad: dict[int, str] = {}
        raw: dict[str, list] = {col: [None] * n for col in self.images}
        for col in self.images:
            for pos, value in enumerate(batch[col]):
                if pos in bad:
                    continue
                if value is None:  # a row without its image: a per-row error, never "None" copies
                    bad[pos] = f"{col}: no image (None)"
                    continue
                try:
                    raw[col][pos] = data = self._read(value)
                    decoded[col][pos], info = decode_image(data)
                    formats[col][pos] = output_format(value.get("path") or "", info)
                except (ImageReadError, OSError, TypeError, OutsideRootError) as exc:
                    bad[pos] = f"{col}: {exc}"
        keep = [pos for pos in range(n) if pos not in bad]
        sub = {k: [v[p] for p in keep] for k, v in batch.items()}
        for col in self.images:
            sub[col] = [decoded[col][p] for p in keep]
        out = self.expansion(sub, [indices[p] for p in keep])
        rows = self.expansion.plan([indices[p] for p in keep])
        for col in self.images:
            encoded = []
            for (subpos, _, copy), value in zip(rows, out[col]):
                pos = keep[subpos]
                if value is None:
                    encoded.append(None)
                elif copy is None:  # the original: its own bytes, untouched
                    encoded.append({"bytes": raw[col][pos], "path": None})
                else:
                    encoded.append({"bytes": encode_image(value, formats[col][pos], self.quality), "path": None})
            out[col] = encoded
        out["augment_error"] = [None] * len(rows)
        if not bad:
            return out
        # put one placeholder row per unreadable input row in its place
        merged: dict[str, list] = {k: [] for k in out}
        by_pos: dict[int, list[int]] = {}
        for r, (subpos, _, _) in enumerate(rows):
            by_pos.setdefault(keep[subpos], []).append(r)
        for pos in range(n):
            if pos in bad:
                for k in merged:
                    merged[k].append(batch[k][pos] if k in batch and k not in self.images else None)
                merged["source_index"][-1] = int(indices[pos])
                merged["augment_error"][-1] = bad[pos]
            else:
                for r in by_pos.get(pos, []):
                    for k in merged:
                        merged[k].append(out[k][r])
        return merged


def _value_hash(value) -> str:
    if isinstance(value, dict) and "bytes" in value:
        data = value["bytes"]
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        data = json.dumps(value, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def expand_hf(pipe: Pipeline, opts, kind: str, library_versions: dict, error_cls=RuntimeError,
              identity_differences=None):
    """Expand the HF/Parquet INPUT ``opts.input`` into the folder ``opts.output``; returns the summary.

    ``identity_differences(previous, current)`` (from ``augment.run.expander``, passed in so this module does not
    import it back) lists what differs between two run records' identities."""
    src, out = Path(opts.input), opts.output
    if not isinstance(out, Path):
        raise error_cls("Hugging Face and Parquet inputs are written to a local OUTPUT folder")
    if out.exists() and not out.is_dir():
        raise error_cls(f"OUTPUT {out} exists and is not a folder")
    if os.path.realpath(out) == os.path.realpath(src) or (src.is_dir() and is_within(src, out)):
        raise error_cls(f"OUTPUT {out} must be outside INPUT: inputs are never modified")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(out, new_run_id()).acquire()  # OutputBusyError: a second run exits 5, touching nothing
    except OSError as exc:
        raise error_cls(f"cannot take OUTPUT {out}: {exc.strerror or exc}") from None
    try:
        with _no_progress_bars():
            return _expand_owned(pipe, opts, kind, library_versions, error_cls, identity_differences)
    finally:
        lock.release()


@contextlib.contextmanager
def _no_progress_bars():
    """``datasets`` draws a bar per map and save, on stderr, whatever ``-q`` says, and each bar creates a
    multiprocessing lock (tqdm) that a stopped worker leaks: off for the run, restored after."""
    try:
        from datasets.utils import logging as ds_logging
    except ImportError:
        yield
        return
    was = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            ds_logging.enable_progress_bar()


def _run_record(pipe: Pipeline, opts, kind: str, library_versions: dict) -> dict:
    record = {"status": "running", "spec": pipe.spec.to_dict(), "spec_hash": pipe.spec_hash, "seed": pipe.spec.seed,
              "copies": pipe.spec.copies, "input": str(Path(opts.input).resolve()), "input_kind": kind,
              "include_originals": opts.include_originals, "quality": opts.quality,
              "text_format": {"text_column": (opts.text_format or {}).get("text_column")},
              "keep_unchanged": bool(getattr(opts, "keep_unchanged", False)), "versions": library_versions}
    return record


def _check_previous(previous: dict | None, record: dict, out: Path, opts, error_cls, identity_differences) -> bool:
    """Whether OUTPUT holds an earlier run of this identity to resume (False: start afresh); refuses the rest."""
    leftovers = [p for p in out.iterdir() if p.name not in (SCRATCH, LOCK_NAME)]
    if opts.overwrite:
        _clear(out, keep_scratch=False)
        return False
    if previous is None:
        if leftovers:
            raise error_cls(f"OUTPUT {out} is not empty and holds no augment run; use another folder or --overwrite")
        return False
    differences = identity_differences(previous, record) if identity_differences and "spec" in previous else (
        [] if previous.get("spec_hash") == record["spec_hash"] and previous.get("input") == record["input"]
        and previous.get("include_originals") == record["include_originals"] else ["spec or input"])
    if previous.get("input_kind") not in (None, record["input_kind"]):
        differences.append(f"input_kind {previous.get('input_kind')!r} -> {record['input_kind']!r}")
    if differences:
        raise error_cls(f"OUTPUT {out} holds a run of another spec, seed or options ({'; '.join(differences)}); "
                        "resume with the same ones, use another folder, or --overwrite to replace it")
    old_copies = previous.get("copies")
    if isinstance(old_copies, int) and record["copies"] < old_copies:
        raise error_cls(f"OUTPUT {out} holds {old_copies} copies per item and this run asks for {record['copies']}: "
                        f"use --overwrite to replace the run with {record['copies']} copies, or another folder")
    return True


def _clear(out: Path, keep_scratch: bool) -> None:
    for child in list(out.iterdir()):
        if child.name == LOCK_NAME or (keep_scratch and child.name == SCRATCH):
            continue
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def _expand_owned(pipe: Pipeline, opts, kind: str, library_versions: dict, error_cls, identity_differences):
    from augment.run.summary import RunSummary

    started = time.perf_counter()
    src, out = Path(opts.input), opts.output
    record = _run_record(pipe, opts, kind, library_versions)
    previous = read_run_record(out)
    resume = _check_previous(previous, record, out, opts, error_cls, identity_differences)
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise error_cls(f"{src} is a Hugging Face dataset or Parquet data: reading it needs the `datasets` package "
                        "(pip install 'augment-pipelines[hf]')") from None
    try:
        parts = load_parts(src, kind)
        fingerprints = {name: part_fingerprint(src, kind, name) for name, _ in parts}
    except (HFInputError, OSError) as exc:
        raise error_cls(str(exc)) from None
    record["input_fingerprints"] = fingerprints
    old_fps = (previous or {}).get("input_fingerprints") or {}
    changed = sorted(n or src.name for n, fp in fingerprints.items() if resume and n in old_fps and old_fps[n] != fp)
    summary = RunSummary(status="running", output=str(out))
    if resume and previous.get("status") == "complete" and old_fps == fingerprints and \
            previous.get("copies") == record["copies"] and (out / MANIFEST).is_file():
        counts = previous.get("counts", {})
        summary.items, summary.resumed_skipped = counts.get("items", 0), counts.get("outputs_in_manifest", 0)
        summary.outputs_in_manifest, summary.status = summary.resumed_skipped, "complete"
        summary.seconds = time.perf_counter() - started
        return summary
    write_run_record(out, record)  # "running": a killed run's OUTPUT is known as this run's, to resume
    scratch = out / SCRATCH
    scratch.mkdir(exist_ok=True)
    shutil.rmtree(scratch / "out", ignore_errors=True)  # what a killed run was assembling: made again below
    identity = hashlib.sha256(json.dumps([record[k] for k in ("spec_hash", "input", "include_originals",
                                                                "quality", "text_format", "copies", "keep_unchanged")],
                                         default=str).encode()).hexdigest()[:12]
    # A complete run of this identity and copies: parts whose files did not change keep their output and records.
    kept = _previous_outputs(out) if resume and previous.get("status") == "complete" and \
        previous.get("copies") == record["copies"] else None
    jobs, plans = [], []
    for name, ds in parts:
        try:
            columns = image_columns(ds) if pipe.modality == "image" else [
                text_column_of(ds, (opts.text_format or {}).get("text_column"))]
        except HFInputError as exc:
            raise error_cls(str(exc)) from None
        if not columns:
            raise error_cls(f"{src}{'/' + name if name else ''} has no image column (datasets.Image feature)")
        clash = [c for c in EXTRA_COLUMNS if c in ds.column_names]
        if clash:
            raise error_cls(f"INPUT already has column(s) {', '.join(clash)}, which the output adds")
        objects = _objects_column(pipe, ds, columns, src, name, error_cls)
        columns = columns + ([f"objects={objects}"] if objects else [])
        key = f"{identity}-{fingerprints[name]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
        if kept is not None and name and old_fps.get(name) == fingerprints[name] and \
                _output_part(out, kind, name, src).exists():
            plans.append((name, ds, columns, None))  # unchanged since the complete run: its output is kept
            continue
        rows = _block_rows()
        blocks = [scratch / f"block-{key}-{a:010d}-{min(a + rows, len(ds)):010d}.arrow" for a in range(0, len(ds), rows)]
        plans.append((name, ds, columns, blocks))
        for path in blocks:
            if not path.is_file():
                jobs.append(_Block(str(src), kind, name, columns, *_range_of(path), str(path)))
    wanted = {p.name for *_, blocks in plans for p in blocks or ()}
    for stale in scratch.iterdir():  # other runs' blocks, and datasets' temporaries of a killed run
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    job = _BlockJob(pipe, opts.include_originals, opts.quality)
    try:
        computed = set(_run_blocks(job, jobs, opts, error_cls))
    except BaseException as exc:  # run.json must not say "running" once this process has stopped (it resumes)
        record["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        write_run_record(out, record)
        raise
    manifest_lines: list[str] = []
    errors: list[dict] = []
    for name, ds, columns, blocks in plans:
        target = scratch / "out" / name if name else scratch / "out" / "dataset"
        if kind == "parquet" and not name:
            target = scratch / "out" / src.name
        source_name = name or src.name
        summary.items += len(ds)
        if blocks is None:
            old_records, old_errors = kept[0].get(source_name, []), kept[1].get(source_name, [])
            _copy(_output_part(out, kind, name, src), target)
            manifest_lines += old_records
            errors += old_errors
            summary.resumed_skipped += len(old_records)
            continue
        expanded = datasets.concatenate_datasets([datasets.Dataset.from_file(str(p)) for p in blocks]) if blocks \
            else _empty_expansion(job, ds, columns)
        reused = sum(len(datasets.Dataset.from_file(str(p))) for p in blocks if str(p) not in computed)
        if "augment_error" in expanded.column_names:
            flags = expanded.select_columns(["source_index", "augment_error"]).to_dict()
            for index, err in zip(flags["source_index"], flags["augment_error"]):
                if err is not None:
                    errors.append({"source": source_name, "row": index, "error": err})
            expanded = expanded.filter(lambda e: e is None, input_columns="augment_error",
                                       keep_in_memory=True)
            expanded = expanded.remove_columns("augment_error")
        for j, row in enumerate(expanded.select_columns(["source_index", "copy", "seed", "augment_ops",
                                                         *_image_columns_of(columns)])):
            manifest_lines.append(dumps({
                "source": source_name, "row": row["source_index"], "output": name or ".", "output_row": j,
                "copy": row["copy"], "seed": row["seed"], "pipeline_hash": pipe.output_hash,
                "ops": json.loads(row["augment_ops"]) if row["copy"] is not None else [],
                "sha256": _value_hash(row[columns[0]]),
            }))
        fingerprint = hashlib.sha256(f"{identity}|{fingerprints[name]}|{name}".encode()).hexdigest()[:16]
        result = expanded.remove_columns(["seed", "augment_ops"], new_fingerprint=fingerprint)
        for c in columns:
            if c.startswith("objects="):  # the input's feature types (bbox float32, area int64, ClassLabel...)
                obj = c.partition("=")[2]
                result = result.cast_column(obj, ds.features[obj], new_fingerprint=fingerprint)
        if pipe.modality == "image":  # decoded again when read back, as the input's images were
            for c in _image_columns_of(columns):
                result = result.cast_column(c, datasets.Image(), new_fingerprint=fingerprint)
        save_part(result, kind, target)
        summary.resumed_skipped += min(reused, len(result))
        summary.written += len(result) - min(reused, len(result))
    if kind == "dataset_dict":
        (scratch / "out" / "dataset_dict.json").write_text(json.dumps({"splits": [n for n, *_ in plans]}))
    # Every part is complete: move the outputs into place, then the manifest, and the run record last.
    _clear(out, keep_scratch=True)
    built = scratch / "out" / "dataset" if kind == "dataset" else scratch / "out"
    for child in sorted(built.iterdir()):
        shutil.move(str(child), str(out / child.name))
    atomic_write_bytes(out / MANIFEST, "".join(line + "\n" for line in manifest_lines).encode("utf-8"))
    atomic_write_bytes(out / ERRORS, "".join(dumps(e) + "\n" for e in errors).encode("utf-8"))
    summary.errors = len(errors)
    summary.error_examples = errors[:5]
    summary.sources_changed, summary.changed_examples = len(changed), changed[:10]
    if changed:
        summary.notes.append(f"{len(changed)} part(s) of INPUT changed since the last run; their rows were made "
                             f"again: {', '.join(changed[:3])}")
    shutil.rmtree(scratch, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    summary.status = "complete"
    summary.outputs_in_manifest = len(manifest_lines)
    record.update(status="complete", counts={"items": summary.items, "outputs_in_manifest": len(manifest_lines),
                                             "written_this_run": summary.written,
                                             "skipped_already_done": summary.resumed_skipped, "errors": len(errors),
                                             "sources_changed": len(changed)})
    write_run_record(out, record)
    return summary


def _output_part(out: Path, kind: str, name: str, src: Path) -> Path:
    if kind == "parquet":
        return out / (name or src.name)
    return out / name if name else out


def _previous_outputs(out: Path) -> tuple[dict, dict]:
    """The manifest lines and error records of a complete run, by source (part)."""
    lines: dict[str, list[str]] = {}
    errs: dict[str, list[dict]] = {}
    for line in (out / MANIFEST).read_text(encoding="utf-8").splitlines() if (out / MANIFEST).is_file() else []:
        if line.strip():
            lines.setdefault(json.loads(line).get("source"), []).append(line)
    for line in (out / ERRORS).read_text(encoding="utf-8").splitlines() if (out / ERRORS).is_file() else []:
        if line.strip():
            rec = json.loads(line)
            errs.setdefault(rec.get("source"), []).append(rec)
    return lines, errs


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def _image_columns_of(columns: list[str]) -> list[str]:
    return [c for c in columns if not c.startswith("objects=")]


def _objects_column(pipe: Pipeline, ds, columns: list[str], src: Path, name: str, error_cls) -> str | None:
    """The detection ``objects`` column of an image dataset (a struct with ``bbox``), checked against the spec."""
    found = [c for c, f in ds.features.items() if is_objects_feature(f)] if pipe.modality == "image" else []
    if not found:
        return None
    where = f"{src}{'/' + name if name else ''}"
    if len(found) > 1 or len(columns) != 1:
        raise error_cls(f"{where} has object column(s) {', '.join(found)} and image column(s) {', '.join(columns)}: "
                        "augment run moves one objects column with one image column")
    try:
        pipe.check_moves_annotations()
    except ValueError as exc:
        raise error_cls(str(exc)) from None
    return found[0]


def _range_of(path: Path) -> tuple[int, int]:
    _, start, end = path.stem.rsplit("-", 2)
    return int(start), int(end)


@dataclass(frozen=True)
class _Block:
    src: str
    kind: str
    part: str
    columns: list
    start: int
    end: int
    path: str


class _BlockJob:
    """Maps one block of rows into its Arrow file; picklable, sent once to each worker process."""

    def __init__(self, pipe: Pipeline, include_originals: bool, quality: int) -> None:
        self.pipe, self.include_originals, self.quality = pipe, include_originals, quality

    def function(self, columns: list[str], block: _Block | None = None):
        objects = next((c.partition("=")[2] for c in columns if c.startswith("objects=")), None)
        columns = [c for c in columns if not c.startswith("objects=")]
        expansion = Expansion(self.pipe, columns, copies=self.pipe.spec.copies, include_originals=self.include_originals,
                              record_ops=True, objects=objects)
        if self.pipe.modality != "image":
            return expansion
        root, base = _read_roots(block) if block is not None else ("", "")
        return _Encode(expansion, columns, self.quality, root, base)

    def __call__(self, block: _Block) -> str:
        ds = _part(block.src, block.kind, block.part).select(range(block.start, block.end))
        if self.pipe.modality == "image":
            for c in _image_columns_of(block.columns):  # undecoded: the bytes are read as `augment run` reads files
                ds = ds.cast_column(c, _raw_image())
        fingerprint = hashlib.sha256(block.path.encode()).hexdigest()[:16]
        ds.map(_Offset(self.function(block.columns, block), block.start), batched=True, batch_size=64, with_indices=True,
               cache_file_name=block.path, new_fingerprint=fingerprint, load_from_cache_file=False)
        return block.path


def _read_roots(block: _Block) -> tuple[str, str]:
    """(root, base) of a block's path-only images: confined to INPUT (a Parquet file's own folder when INPUT is
    that file), relative paths taken from the Parquet file's folder, never from the current directory."""
    src = Path(block.src)
    root = src.parent if src.is_file() else src
    if block.kind == "parquet" and not src.is_file():
        return str(root), str(src.joinpath(*block.part.split("/")).parent)
    return str(root), str(root)


_PARTS: dict[tuple, object] = {}


def _part(src: str, kind: str, name: str):
    """The part a worker reads blocks of, opened once per process (memory-mapped Arrow, or one Parquet file)."""
    key = (src, kind, name)
    if key not in _PARTS:
        _PARTS.clear()
        _PARTS[key] = load_part(Path(src), kind, name)
    return _PARTS[key]


class _Offset:
    """``Dataset.map`` gives a selected block's indices from 0: the function needs the rows' own indices."""

    def __init__(self, fn, start: int) -> None:
        self.fn, self.start = fn, start

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        return self.fn(batch, [i + self.start for i in indices])


def _empty_expansion(job: _BlockJob, ds, columns: list[str]):
    return ds.map(job.function(columns), batched=True, with_indices=True, keep_in_memory=True)


_JOB: _BlockJob | None = None


def _init_worker(job: _BlockJob, threads, run_pid: int) -> None:
    global _JOB
    init_pool_worker(threads, run_pid)
    from datasets.utils import logging as ds_logging

    ds_logging.disable_progress_bar()  # this process is the run's own worker (see _no_progress_bars)
    try:  # even a disabled bar creates tqdm's lock, a multiprocessing semaphore that a stopped worker would leak
        import threading

        from tqdm import tqdm

        tqdm.set_lock(threading.RLock())
    except ImportError:
        pass
    _JOB = job


def _worker_block(block: _Block) -> str:
    return _JOB(block)


def _run_blocks(job: _BlockJob, blocks: list[_Block], opts, error_cls) -> Iterator[str]:
    """Map ``blocks``: in this process (``--engine serial``, one worker, one block), else in a pool of
    ``--workers`` processes (the local engine's forkserver workers: they die with the run)."""
    workers = 1 if opts.engine == "serial" else max(1, opts.workers or available_cores())
    if workers == 1 or len(blocks) <= 1:
        for block in blocks:
            yield _guard(job, block, error_cls)
        return
    start_forkserver()
    pool = ProcessPoolExecutor(min(workers, len(blocks)), mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_init_worker,
                               initargs=(job, max(1, available_cores() // workers), os.getpid()))
    try:
        futures = [pool.submit(_worker_block, b) for b in blocks]
        for fut in futures:
            try:
                yield fut.result()
            except HFInputError as exc:
                raise error_cls(str(exc)) from None
    except BaseException:
        stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _guard(job: _BlockJob, block: _Block, error_cls) -> str:
    try:
        return job(block)
    except HFInputError as exc:
        raise error_cls(str(exc)) from None


def _raw_image():
    import datasets

    return datasets.Image(decode=False)
