"""``augment run`` over a Hugging Face dataset (``save_to_disk`` folder) or Parquet files.

The rows are expanded with ``augment.hf.Expansion`` through ``Dataset.map(batched=True, num_proc=workers)``, so
the seeds (``row:<index>``, copy) and the result do not depend on the number of processes. Images are encoded
like ``augment run`` encodes files (the source's format, ``--quality``) and stored as bytes in the image column.
OUTPUT gets the same kind as INPUT (a ``save_to_disk`` folder or Parquet files) plus ``manifest.jsonl`` (one record
per output row: ``source``/``row``, ``output``/``output_row``, ``copy``, ``seed``, ``ops``, ``sha256`` of the
value) and ``run.json``. The expanded rows carry ``source_index`` and ``copy`` columns.

Re-running the same command finds the complete run and does nothing; a different spec, seed or input is refused
unless ``--overwrite``. A killed run leaves no partial dataset: parts are written to a scratch folder in OUTPUT
and moved into place when all are done.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from augment.compile.pipeline import Pipeline
from augment.hf import Expansion
from augment.io.hf_dataset import HFInputError, image_columns, load_parts, save_part, text_column_of
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.manifest import ERRORS, MANIFEST, dumps, read_run_record, write_run_record

__all__ = ["expand_hf", "SCRATCH"]

SCRATCH = ".augment-hf-tmp"
EXTRA_COLUMNS = ("source_index", "copy")


class _Encode:
    """Expansion with images decoded and encoded as ``augment run`` does for files (picklable: ``Dataset.map``
    ships it to ``num_proc`` processes). Image columns come in undecoded (``{"bytes", "path"}``): the EXIF
    orientation is applied, originals keep their exact bytes, outputs are written in the source's format. A row
    whose image cannot be read becomes one placeholder row with ``augment_error`` set (filtered out afterwards),
    in its own place, so the output never depends on batch boundaries or ``num_proc``."""

    def __init__(self, expansion: Expansion, images: list[str], quality: int) -> None:
        self.expansion, self.images, self.quality = expansion, images, quality

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        n = len(indices)
        decoded: dict[str, list] = {col: [None] * n for col in self.images}
        formats: dict[str, list] = {col: [None] * n for col in self.images}
        bad: dict[int, str] = {}
        for col in self.images:
            for pos, value in enumerate(batch[col]):
                if value is None or pos in bad:
                    continue
                try:
                    data = value.get("bytes") or Path(value["path"]).read_bytes()
                    decoded[col][pos], info = decode_image(data)
                    formats[col][pos] = output_format(value.get("path") or "", info)
                except (ImageReadError, OSError, TypeError) as exc:
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
                    encoded.append({"bytes": batch[col][pos].get("bytes") or Path(batch[col][pos]["path"]).read_bytes(),
                                    "path": None})
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


def expand_hf(pipe: Pipeline, opts, kind: str, library_versions: dict, error_cls=RuntimeError):
    """Expand the HF/Parquet INPUT ``opts.input`` into the folder ``opts.output``; returns the summary dict."""
    from augment.run.summary import RunSummary

    started = time.perf_counter()
    src, out = Path(opts.input), opts.output
    if not isinstance(out, Path):
        raise error_cls("Hugging Face and Parquet inputs are written to a local OUTPUT folder")
    previous = read_run_record(out) if out.is_dir() else None
    same = previous is not None and previous.get("spec_hash") == pipe.spec_hash and \
        previous.get("input") == str(src.resolve()) and previous.get("include_originals") == opts.include_originals
    if same and previous.get("status") == "complete" and not opts.overwrite:
        counts = previous.get("counts", {})
        return RunSummary(status="complete", output=str(out), items=counts.get("items", 0),
                          resumed_skipped=counts.get("outputs_in_manifest", 0),
                          seconds=time.perf_counter() - started)
    if out.is_dir() and any(p for p in out.iterdir() if p.name != SCRATCH):
        if previous is None and not opts.overwrite:
            raise error_cls(f"OUTPUT {out} is not empty and holds no augment run; use another folder or --overwrite")
        if previous is not None and not same and not opts.overwrite:
            raise error_cls(f"OUTPUT {out} holds a run of another spec, seed or input (hash "
                            f"{previous.get('spec_hash')}, this run {pipe.spec_hash}); use another folder or "
                            "--overwrite")
    try:
        import datasets  # noqa: F401
    except ImportError:
        raise error_cls(f"{src} is a Hugging Face dataset or Parquet data: reading it needs the `datasets` package "
                        "(pip install 'augment[hf]')") from None
    try:
        parts = load_parts(src, kind)
    except HFInputError as exc:
        raise error_cls(str(exc)) from None
    scratch = out / SCRATCH
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    run_record = {"status": "running", "spec": pipe.spec.to_dict(), "spec_hash": pipe.spec_hash,
                  "seed": pipe.spec.seed, "copies": pipe.spec.copies, "input": str(src.resolve()), "input_kind": kind,
                  "include_originals": opts.include_originals, "quality": opts.quality, "versions": library_versions}
    summary = RunSummary(status="running", output=str(out))
    manifest_lines: list[str] = []
    errors: list[dict] = []
    workers = 1 if opts.engine == "serial" else max(1, opts.workers or 1)
    written_parts = []
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
        expansion = Expansion(pipe, columns, copies=pipe.spec.copies, include_originals=opts.include_originals,
                              record_ops=True)
        fn = _Encode(expansion, columns, opts.quality) if pipe.modality == "image" else expansion
        fingerprint = hashlib.sha256(f"{pipe.spec_hash}|{src.resolve()}|{name}|{opts.include_originals}|"
                                     f"{opts.quality}".encode()).hexdigest()[:16]
        if pipe.modality == "image":
            for c in columns:  # undecoded: the bytes are read as `augment run` reads files
                ds = ds.cast_column(c, _raw_image())
        expanded = ds.map(
            fn, batched=True, batch_size=64, with_indices=True, num_proc=workers if len(ds) >= workers > 1 else None,
            cache_file_name=str(scratch / f"cache-{fingerprint}.arrow"), new_fingerprint=fingerprint,
        )
        source_name = name or src.name
        if "augment_error" in expanded.column_names:
            for row in expanded.select_columns(["source_index", "augment_error"]):
                if row["augment_error"] is not None:
                    errors.append({"source": source_name, "row": row["source_index"], "error": row["augment_error"]})
            expanded = expanded.filter(lambda e: e is None, input_columns="augment_error",
                                       cache_file_name=str(scratch / f"ok-{fingerprint}.arrow"))
            expanded = expanded.remove_columns("augment_error")
        j = 0
        for row in expanded.select_columns(["source_index", "copy", "seed", "augment_ops", *columns]):
            manifest_lines.append(dumps({
                "source": source_name, "row": row["source_index"], "output": name or ".", "output_row": j,
                "copy": row["copy"], "seed": row["seed"], "pipeline_hash": pipe.spec_hash,
                "ops": json.loads(row["augment_ops"]) if row["copy"] is not None else [],
                "sha256": _value_hash(row[columns[0]]),
            }))
            j += 1
        result = expanded.remove_columns(["seed", "augment_ops"])
        if pipe.modality == "image":  # decoded again when read back, as the input's images were
            import datasets

            for c in columns:
                result = result.cast_column(c, datasets.Image())
        target = scratch / "out" / name if name else scratch / "out" / "dataset"
        if kind == "parquet" and not name:
            target = scratch / "out" / src.name
        save_part(result, kind, target)
        written_parts.append(target)
        summary.items += len(ds)
        summary.written += len(result)
    if kind == "dataset_dict":
        (scratch / "out" / "dataset_dict.json").write_text(json.dumps({"splits": [n for n, _ in parts]}))
    # Every part is complete: move the outputs into place, then the manifest and the run record (last).
    for child in list(out.iterdir()):
        if child.name != SCRATCH:
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    built = scratch / "out"
    if kind == "dataset":
        built = built / "dataset"
    for child in sorted(built.iterdir()):
        shutil.move(str(child), str(out / child.name))
    (out / MANIFEST).write_text("".join(line + "\n" for line in manifest_lines), encoding="utf-8")
    (out / ERRORS).write_text("".join(dumps(e) + "\n" for e in errors), encoding="utf-8")
    summary.errors = len(errors)
    summary.error_examples = errors[:5]
    shutil.rmtree(scratch, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    summary.status = "complete"
    summary.outputs_in_manifest = len(manifest_lines)
    run_record.update(status="complete", counts={"items": summary.items, "outputs_in_manifest": len(manifest_lines),
                                                 "written_this_run": summary.written, "skipped_already_done": 0,
                                                 "errors": len(errors)})
    write_run_record(out, run_record)
    return summary


def _raw_image():
    import datasets

    return datasets.Image(decode=False)
