"""The manifest (one JSON record per written file), the error log and the run record.

Records are appended and flushed one by one by a single writer, so a killed run loses at most the record being
written; a torn last line is ignored on reading. When a run completes the manifest is rewritten sorted by
(source, copy), so its bytes do not depend on the number of workers or the order in which items finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from augment.io.atomic import TMP_MARK, atomic_write_bytes

MANIFEST = "manifest.jsonl"
ERRORS = "errors.jsonl"
RUN_RECORD = "run.json"


def dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


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
        self._fh.write(line + "\n")
        self._fh.flush()
        return line

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
    """A run's manifest records held as their serialised lines, keyed and de-duplicated by (source, row, copy).

    Lines take a fraction of the memory of the dicts they come from, so a run of millions of outputs can still
    sort its manifest at the end.
    """

    def __init__(self, records: Iterable[dict] = ()) -> None:
        self._lines: dict[tuple, str] = {}
        for rec in records:
            self.add(rec)

    def add(self, rec: dict, line: str | None = None) -> None:
        self._lines[record_key(rec)] = line if line is not None else dumps(rec)

    def __len__(self) -> int:
        return len(self._lines)

    def sorted_lines(self) -> Iterator[str]:
        for key in sorted(self._lines):
            yield self._lines[key]


def finalize_manifest(path: Path, index: RecordIndex) -> int:
    """Rewrite the manifest sorted and de-duplicated by (source, row, copy); returns the record count."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_MARK}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for line in index.sorted_lines():
                fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(index)


def write_run_record(out_dir: Path, record: dict) -> None:
    atomic_write_bytes(out_dir / RUN_RECORD, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode(), fsync=True)


def read_run_record(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"status": "unreadable"}
