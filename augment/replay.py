"""Reproducing one output of a run from its manifest record, byte for byte.

run.json and the manifest are files: they can be edited, truncated or corrupted. Everything read from them is
checked before use (types, the spec, a source inside INPUT, recorded values the op could have drawn), and any
problem is a one-line ``ReplayError``, never a KeyError or a spin inside OpenCV. The output file on disk is also
compared with the sha256 its record holds, so a file changed after the run is reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tarfile
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augment.compile.pipeline import Pipeline
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.manifest import MANIFEST, RUN_RECORD, read_jsonl, read_run_record
from augment.io.paths import OutsideRootError, UnsafePathError, is_within, read_bytes_within, safe_relative
from augment.io.store import is_url, join_location, open_store, storage_options_for
from augment.io.text_formats import RowError, TextFormat, TextFormatError, format_row, read_text_dataset
from augment.ops.drawn import DrawnValueError
from augment.run.text_job import row_seed
from augment.spec import SpecError, parse_spec
from augment.text.llm_cache import run_cache
from augment.text.llm_client import EndpointUnreachableError

__all__ = ["ReplayError", "ReplayResult", "find_record", "replay_output"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ReplayError(RuntimeError):
    pass


@dataclass
class ReplayResult:
    data: bytes
    sha256: str
    identical: bool  # the replayed bytes have the recorded sha256
    # the file in OUTPUT against the recorded sha256: "identical", "differs", "missing", "outside OUTPUT" (the
    # record names a path that resolves outside OUTPUT: not opened), or "not checked" (a text
    # row shares its file with every other row)
    on_disk: str = "not checked"
    annotation: bytes | None = None  # annotated datasets: the reproduced annotation file (COCO: its entries)
    annotation_suffix: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)  # e.g. a plugin at another version than the run's


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
        if not isinstance(rec, dict):
            continue  # not a record at all (a damaged line that still parses as JSON)
        if rec.get("output") == output_file and (row is None or (rec.get("row") == row and rec.get("copy") == copy)):
            return rec
    what = output_file if row is None else f"{output_file} row {row} copy {copy}"
    raise ReplayError(f"{what} has no record in {join_location(output_dir, MANIFEST)}")


def _field(doc: dict, key: str, kinds: tuple, where: str, optional: bool = False) -> Any:
    """``doc[key]`` if it has one of the types ``kinds`` (or is null, when ``optional``); else a ReplayError."""
    if key not in doc:
        raise ReplayError(f"{where}: {key!r} is missing; the file was changed or damaged")
    value = doc[key]
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ReplayError(f"{where}: {key!r} should be {names}, got {shown}; the file was changed or damaged")
    return value


def _check_run(run: Any, output_dir) -> tuple[Pipeline, dict]:
    where = str(join_location(output_dir, RUN_RECORD))
    if not isinstance(run, dict) or "spec" not in run:
        raise ReplayError(f"{output_dir} holds no readable run.json")
    _check_plugins(run, where)
    try:
        pipe = Pipeline(parse_spec(run["spec"]))
    except SpecError as exc:
        raise ReplayError(f"{where}: its spec is invalid: {str(exc).splitlines()[0]}") from None
    source = _field(run, "input", (str,), where)
    if not source or "\x00" in source or not Path(source).is_absolute():
        raise ReplayError(f"{where}: 'input' should be the absolute path of the run's INPUT, got {source[:80]!r}")
    quality = _field(run, "quality", (int,), where, optional=True) if "quality" in run else None
    if quality is not None and not 1 <= quality <= 100:
        raise ReplayError(f"{where}: 'quality' should be 1..100, got {quality}")
    if pipe.modality == "text":
        text_format = _field(run, "text_format", (dict,), where)
        try:
            TextFormat(**text_format)
        except (TypeError, ValueError, TextFormatError) as exc:
            raise ReplayError(f"{where}: 'text_format' is invalid: {str(exc).splitlines()[0]}") from None
    return pipe, run


def _check_plugins(run: dict, where: str) -> None:
    """Every plugin or library op the run used must be here: a missing one is one line naming it and its package."""
    from augment.ops.catalog import registry

    used = run.get("plugins") or {}
    if not isinstance(used, dict):
        raise ReplayError(f"{where}: 'plugins' should be a mapping of op names; the file was changed or damaged")
    for name, origin in sorted(used.items()):
        origin = origin if isinstance(origin, dict) else {}
        if name in registry():
            continue
        dist, version, module = (str(origin.get(k) or "")[:80] for k in ("distribution", "version", "module"))
        how = (f"pip install '{dist}=={version}'" if dist and version else f"pip install {dist}" if dist else
               f"pass --plugin {module or 'MODULE'}")
        raise ReplayError(f"the run used op {name!r} from {dist or module or 'a plugin'}"
                          f"{' ' + version if version else ''}, which is not available here: {how} "
                          f"(or pass --plugin MODULE)")


def plugin_warnings(run: dict, pipe: Pipeline) -> list[str]:
    """One warning per plugin or library whose version differs from the run's (the bytes may then differ)."""
    used = run.get("plugins") if isinstance(run.get("plugins"), dict) else {}
    now = pipe.plugin_origins()
    out = []
    for name, origin in sorted(used.items()):
        if not isinstance(origin, dict) or name not in now:
            continue
        then_v, now_v = origin.get("version"), now[name].get("version")
        if then_v != now_v:
            who = now[name].get("distribution") or now[name].get("module")
            out.append(f"op {name}: the run used {who} {then_v}, this is {who} {now_v}; the replayed bytes may differ")
    return out


def _check_record(rec: dict, where: str, text: bool) -> None:
    _field(rec, "source", (str,), where)
    copy = _field(rec, "copy", (int,), where, optional=True)
    if copy is not None and copy < 0:
        raise ReplayError(f"{where}: 'copy' should be a non-negative integer, got {copy}")
    sha = _field(rec, "sha256", (str,), where)
    if not _SHA256.fullmatch(sha):
        raise ReplayError(f"{where}: 'sha256' is not a sha256 hex digest")
    if copy is not None:
        _field(rec, "seed", (int,), where)
        _field(rec, "ops", (list,), where)
    if text:
        _field(rec, "row", (int,), where)


def _source_path(input_root: Path, rel: str, where: str) -> Path:
    """The recorded source under INPUT; a source naming anything outside INPUT is refused, not read."""
    try:
        path = input_root.joinpath(*safe_relative(rel).parts)
    except UnsafePathError as exc:
        raise ReplayError(f"{where}: source {rel[:80]!r} is outside INPUT ({exc}); refusing to read it") from None
    if not is_within(path, input_root):
        raise ReplayError(f"{where}: source {rel[:80]!r} resolves outside INPUT {input_root}; refusing to read it")
    return path


def _on_disk(output_dir, output_file: str, expected: str, shard: str | None = None, fmt: str | None = None) -> str:
    """Compare the written output (a file, or a sample inside its shard) with the recorded sha256."""
    stored = shard if isinstance(shard, str) else output_file
    try:
        if is_url(output_dir):
            data = open_store(output_dir, storage_options_for(output_dir)).read_bytes(stored)
        else:  # confined to OUTPUT: a tampered manifest (or a symlink planted in OUTPUT) opens nothing outside it
            data = read_bytes_within(output_dir, safe_relative(stored).as_posix())
        if stored is not output_file:
            from augment.io.shards import read_sample

            data = read_sample(data, fmt or "webdataset", output_file)
    except (OutsideRootError, UnsafePathError):
        return "outside OUTPUT"
    except (OSError, ValueError, KeyError, TypeError, tarfile.TarError):  # a damaged shard
        return "missing"
    if data is None:
        return "missing"
    return "identical" if hashlib.sha256(data).hexdigest() == expected else "differs"


def replay_output(
    output_dir: Path | str, output_file: str, row: int | None = None, copy: int | None = None
) -> ReplayResult:
    """Re-apply the recorded ops and values to the recorded source (images; text rows re-run from their seed).

    Text outputs share one file, so a text record is named by ``row`` (0-based data row) and ``copy``.
    """
    if not is_url(output_dir):
        output_dir = Path(output_dir)
    pipe, run = _check_run(_run_record(output_dir), output_dir)
    warnings = plugin_warnings(run, pipe)
    rec = find_record(output_dir, output_file, row, copy)
    where = f"{join_location(output_dir, MANIFEST)} record of {output_file}"
    _check_record(rec, where, pipe.modality == "text")
    if pipe.modality == "image" and run.get("annotations") and rec.get("copy") is not None:
        from augment.replay_annotated import replay_annotated

        _source_path(Path(run["input"]), rec["source"], where)  # refused outside INPUT, like any source
        try:
            data, digest, identical, ann, suffix = replay_annotated(pipe, run, rec, Path(run["input"]), output_dir)
        except (OSError, ValueError) as exc:
            raise ReplayError(f"cannot replay {output_file}: {str(exc).splitlines()[0]}") from None
        on_disk = _on_disk(output_dir, output_file, rec["sha256"])
        return ReplayResult(data, digest, identical, on_disk, ann, suffix, warnings)
    if pipe.modality == "image":
        path = _source_path(Path(run["input"]), rec["source"], where)
        try:
            data = read_bytes_within(run["input"], rec["source"])
        except OutsideRootError as exc:  # swapped for a symlink since the check above
            raise ReplayError(f"{where}: source {exc}; refusing to read it") from None
        except OSError as exc:
            raise ReplayError(f"cannot read source {path}: {exc.strerror or exc}") from None
        if rec["copy"] is None:
            out = data
        else:
            try:
                image, info = decode_image(data)
                replayed = pipe.replay(image, rec["ops"])
            except ImageReadError as exc:
                raise ReplayError(f"source {path}: {exc}") from None
            except DrawnValueError as exc:
                raise ReplayError(f"{where}: {exc}") from None
            out = encode_image(replayed, output_format(rec["source"], info), run.get("quality") or 95)
        on_disk = _on_disk(output_dir, output_file, rec["sha256"], rec.get("shard"), run.get("output_format"))
    else:
        out = replay_text_record(pipe, run, rec, where, None if is_url(output_dir) else output_dir)
        on_disk = "not checked"
    digest = hashlib.sha256(out).hexdigest()
    return ReplayResult(out, digest, digest == rec["sha256"], on_disk, warnings=warnings)


def replay_text_record(pipe: Pipeline, run: dict, rec: dict, where: str = "record", output_dir=None) -> bytes:
    """The serialised output row of a text record, recomputed from the source row and the recorded seed
    (``output_dir``: a local run folder, whose LLM answer cache is used)."""
    fmt = TextFormat(**run["text_format"])
    path = Path(run["input"])
    if rec["source"] != path.name:
        raise ReplayError(f"{where}: source {rec['source'][:80]!r} is not the run's input {path.name!r}")
    try:
        rows = read_text_dataset(path, fmt)
    except (OSError, TextFormatError) as exc:
        raise ReplayError(f"cannot read source {path}: {str(exc).splitlines()[0]}") from None
    for item in rows:
        if not isinstance(item, RowError) and item.index == rec["row"]:
            if rec.get("copy") is None:
                return format_row(item, fmt).encode("utf-8")
            seed = row_seed(pipe.spec.seed, rec["source"], item.index, rec["copy"], rec.get("attempt", 0))
            if seed != rec["seed"]:
                raise ReplayError(f"{where}: recorded seed {rec['seed']} is not the seed of row {item.index} copy "
                                  f"{rec['copy']} ({seed}); the record was changed")
            try:
                with run_cache(output_dir):  # LLM answers of the run: a replay never calls the server for them
                    out = pipe.run(item.text, seed=seed, label=item.label).output
            except EndpointUnreachableError as exc:
                raise ReplayError(f"cannot replay row {item.index}: {exc}") from None
            return format_row(dataclasses.replace(item, text=out), fmt).encode("utf-8")
    raise ReplayError(f"row {rec['row']} not found in {path}")
