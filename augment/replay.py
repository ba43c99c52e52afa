"""Reproducing one output of a run from its manifest record, byte for byte."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from augment.compile.pipeline import Pipeline
from augment.io.images import decode_image, encode_image, output_format
from augment.io.manifest import MANIFEST, RUN_RECORD, read_jsonl, read_run_record
from augment.io.store import is_url, join_location, open_store, storage_options_for
from augment.spec import SpecError, parse_spec


class ReplayError(RuntimeError):
    pass


@dataclass
class ReplayResult:
    data: bytes
    sha256: str
    identical: bool
    annotation: bytes | None = None  # annotated datasets: the reproduced annotation file (COCO: its entries)
    annotation_suffix: str | None = None


def _manifest_records(output_dir):
    if is_url(output_dir):  # a run into an fsspec URL: its uploaded manifest and any segments of a killed run
        from augment.run.expander import remote_manifest

        return remote_manifest(open_store(output_dir, storage_options_for(output_dir)))
    return read_jsonl(Path(output_dir) / MANIFEST)


def _run_record(output_dir) -> dict | None:
    if not is_url(output_dir):
        return read_run_record(Path(output_dir))
    try:
        return json.loads(open_store(output_dir, storage_options_for(output_dir)).read_bytes(RUN_RECORD))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"status": "unreadable"}


def find_record(output_dir: Path | str, output_file: str, row: int | None = None, copy: int | None = None) -> dict:
    """The manifest record of an output file (images) or of one row and copy of an output file (text).
    ``output_dir`` is the run's OUTPUT: a folder or an fsspec URL."""
    for rec in _manifest_records(output_dir):
        if rec.get("output") == output_file and (row is None or (rec.get("row") == row and rec.get("copy") == copy)):
            return rec
    what = output_file if row is None else f"{output_file} row {row} copy {copy}"
    raise ReplayError(f"{what} has no record in {join_location(output_dir, MANIFEST)}")


def replay_output(
    output_dir: Path | str, output_file: str, row: int | None = None, copy: int | None = None
) -> ReplayResult:
    """Re-apply the recorded ops and values to the recorded source (images; text rows re-run from their seed).

    Text outputs share one file, so a text record is named by ``row`` (0-based data row) and ``copy``.
    """
    if not is_url(output_dir):
        output_dir = Path(output_dir)
    run = _run_record(output_dir)
    if not run or "spec" not in run:
        raise ReplayError(f"{output_dir} holds no readable run.json")
    try:
        pipe = Pipeline(parse_spec(run["spec"]))
    except SpecError as exc:
        raise ReplayError(f"run.json spec is invalid: {exc}") from None
    rec = find_record(output_dir, output_file, row, copy)
    source = Path(run["input"])
    if pipe.modality == "image" and run.get("annotations") and rec.get("copy") is not None:
        from augment.replay_annotated import replay_annotated

        try:
            return replay_annotated(pipe, run, rec, source, output_dir)
        except (OSError, ValueError) as exc:
            raise ReplayError(f"cannot replay {output_file}: {str(exc).splitlines()[0]}") from None
    if pipe.modality == "image":
        path = source / rec["source"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReplayError(f"cannot read source {path}: {exc.strerror or exc}") from None
        if rec.get("copy") is None:
            out = data
        else:
            image, info = decode_image(data)
            out = encode_image(pipe.replay(image, rec["ops"]), output_format(rec["source"], info), run.get("quality", 95))
    else:
        from augment.run.text_expand import replay_text_record

        out = replay_text_record(pipe, run, rec)
    digest = hashlib.sha256(out).hexdigest()
    return ReplayResult(out, digest, digest == rec.get("sha256"))
