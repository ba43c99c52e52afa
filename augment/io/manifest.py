"""The manifest (one JSON record per written file), the error log and the run record.

Records are appended and flushed one by one by a single writer, so a killed run loses at most the record being
written; a torn last line is ignored on reading. When a run completes the manifest is rewritten sorted by
(source, copy), so its bytes do not depend on the number of workers or the order in which items finished.
"""

from __future__ import annotations

import heapq
import base64
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from augment.io.atomic import TMP_MARK, atomic_write_bytes

__all__ = [
    "MANIFEST",
    "ERRORS",
    "RUN_RECORD",
    "dumps",
    "parse_jsonl_lines",
    "read_jsonl",
    "JsonlAppender",
    "record_key",
    "RecordIndex",
    "finalize_manifest",
    "write_run_record",
    "read_run_record",
]

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
RUN_RECORD = "run.json"


NAME_KEYS = ("source", "output", "annotation", "source_annotation")


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def dumps(record: dict) -> str:
    """One JSON line. A file name that is not UTF-8 on disk (read as ``surrogateescape`` text, e.g. ``b\\udcff.jpg``
    for the bytes ``b\\xff.jpg``) is written JSON-escaped, which Python reads back to the same name, and its
    bytes are added as ``<key>_bytes_b64`` (base64 of the name's bytes) for readers that refuse lone surrogates:
    such names are recorded losslessly, never crash the manifest."""
    line = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if not _has_surrogates(line):
        return line
    record = dict(record)
    for key in NAME_KEYS:
        value = record.get(key)
        if isinstance(value, str) and _has_surrogates(value):
            record[f"{key}_bytes_b64"] = base64.b64encode(os.fsencode(value)).decode("ascii")
    return json.dumps(record, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def parse_jsonl_lines(lines: Iterable[str]) -> Iterator[dict]:
    """Records of JSONL lines (with their line ends); stops at a torn last line, skips corrupt ones."""
    for line in lines:
        if not line.endswith("\n"):
            break  # torn last line, from a killed writer
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            yield rec


def read_jsonl(path: Path) -> Iterator[dict]:
    """Records of a JSONL file; a torn or corrupt line (from a killed writer) is skipped."""
    try:
        fh = open(path, "r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        yield from parse_jsonl_lines(fh)


class JsonlAppender:
    def __init__(self, path: Path, truncate: bool = False) -> None:
        self.path = path
        if not truncate:
            _drop_torn_tail(path)
        self._fh = open(path, "w" if truncate else "a", encoding="utf-8")

    def write(self, record: dict) -> str:
        """Append one record and flush it; returns the line written (without its newline)."""
        line = dumps(record)
        self.write_line(line)
        return line

    def write_line(self, line: str) -> None:
        """Append one serialised record (no newline) and flush it."""
        self._fh.write(line + "\n")
        self._fh.flush()

    def write_records(self, records: list[dict], fsync: bool = False) -> list[str]:
        """Append a chunk's records with one write and one flush (``fsync``: and on disk before returning);
        returns their lines. A process killed meanwhile leaves at most a torn last line, cut on the next open."""
        lines = [dumps(record) for record in records]
        if lines:
            self._fh.write("".join(line + "\n" for line in lines))
            self._fh.flush()
            if fsync:
                os.fsync(self._fh.fileno())
        return lines

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut a half-written last line so the next append starts on a fresh line."""
    try:
        with open(path, "rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def record_key(rec: dict) -> tuple:
    return (rec.get("source", ""), rec.get("row", -1), -1 if rec.get("copy") is None else rec["copy"])


class RecordIndex:
    """A run's manifest records as their serialised lines, keyed and de-duplicated by (source, row, copy), the
    last line added for a key winning; sorted by key at the end.

    At most ``max_in_memory`` lines are held: beyond that the buffer is sorted and spilled to a run file in a
    private temporary folder, and :meth:`sorted_lines` merges the runs. A run's main process then needs the
    same memory for 5 thousand outputs as for 5 million (it held about 0.8 KB per output before).
    """

    def __init__(self, records: Iterable[dict] = (), max_in_memory: int = 5_000) -> None:
        self.max_in_memory = max(1, int(max_in_memory))
        self._lines: dict[tuple, tuple[int, str]] = {}
        self._seq = 0
        self._runs: list[Path] = []
        self._spill_dir: Path | None = None
        for rec in records:
            self.add(rec)

    def add(self, rec: dict, line: str | None = None) -> None:
        self._lines[record_key(rec)] = (self._seq, line if line is not None else dumps(rec))
        self._seq += 1
        if len(self._lines) >= self.max_in_memory:
            self._spill()

    def _spill(self) -> None:
        if self._spill_dir is None:
            self._spill_dir = Path(tempfile.mkdtemp(prefix="augment-manifest-sort-"))
        path = self._spill_dir / f"run{len(self._runs):05d}.tsv"
        with open(path, "w", encoding="utf-8") as fh:
            for key in sorted(self._lines):
                seq, line = self._lines[key]
                fh.write(f"{json.dumps(key, ensure_ascii=True)}\t{seq}\t{line}\n")
        self._runs.append(path)
        self._lines.clear()

    def _memory_run(self) -> Iterator[tuple[tuple, int, str]]:
        for key in sorted(self._lines):
            seq, line = self._lines[key]
            yield key, seq, line

    @staticmethod
    def _file_run(path: Path) -> Iterator[tuple[tuple, int, str]]:
        with open(path, encoding="utf-8") as fh:
            for row in fh:
                key, seq, line = row.rstrip("\n").split("\t", 2)
                yield tuple(json.loads(key)), int(seq), line

    def sorted_lines(self) -> Iterator[str]:
        """Every key's last line, in key order (a k-way merge of the spilled runs and the buffer)."""
        runs = [self._file_run(p) for p in self._runs] + [self._memory_run()]
        pending: tuple[tuple, int, str] | None = None
        for item in heapq.merge(*runs, key=lambda entry: (entry[0], entry[1])):
            if pending is not None and item[0] != pending[0]:
                yield pending[2]
            pending = item  # same key: the later line (higher sequence number) replaces it
        if pending is not None:
            yield pending[2]

    def close(self) -> None:
        """Remove the spilled runs (also done when the index is garbage-collected)."""
        if self._spill_dir is not None:
            shutil.rmtree(self._spill_dir, ignore_errors=True)
            self._spill_dir = None
            self._runs = []

    def __del__(self) -> None:
        self.close()


def finalize_manifest(path: Path, index: RecordIndex) -> int:
    """Rewrite the manifest sorted and de-duplicated by (source, row, copy); returns the record count."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_MARK}")
    count = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for line in index.sorted_lines():
                fh.write(line + "\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        index.close()
    return count


def write_run_record(out_dir: Path, record: dict) -> None:
    text = json.dumps(record, indent=2, ensure_ascii=False)
    if _has_surrogates(text):  # a note naming a file whose name is not UTF-8: escaped, as in the manifest
        text = json.dumps(record, indent=2, ensure_ascii=True)
    atomic_write_bytes(out_dir / RUN_RECORD, (text + "\n").encode(), fsync=True)


def read_run_record(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"status": "unreadable"}
