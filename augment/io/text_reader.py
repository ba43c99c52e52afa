"""Streaming reader of text datasets: one row at a time, bad rows reported and skipped, nothing else lost.

The file is read in binary mode and decoded one physical line at a time, so an invalid byte costs one row,
not the file, and memory stays bounded by the row cap whatever the file size. Two engines:

- line engine (TSV/CSV with ``quoting="none"``, JSONL, TXT): a physical line is a row;
- csv engine (``quoting="csv"``): the csv module parses records (quotes, embedded delimiters and newlines)
  from the decoded lines; a record may span several physical lines.

Rules shared by every format (also in ``read_text_dataset``'s docstring):

- a UTF-8 BOM at the start is skipped (and recorded in the format, so the writer can restore it); a UTF-16
  or UTF-32 BOM is a ``TextFormatError``: only UTF-8 is read;
- lines end with LF or CRLF (or a CR at the very end of the file); the line ending is not part of the text,
  a lone CR inside a line is;
- empty lines are skipped silently and take no index (they are not errors): a blank line is not an example;
- a row with invalid UTF-8, a NUL byte, the wrong number of fields, or more than ``max_row_bytes`` bytes
  (line ending included) is a ``RowError``; the reader resumes at the next row;
- fields are never padded, truncated or re-typed, so a label can never move onto another row's text.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import replace
from typing import Any, BinaryIO, Callable, Generator, Iterator

from augment.io.text_model import (
    DEFAULT_MAX_ROW_BYTES,
    RowError,
    TextFormat,
    TextFormatError,
    TextRow,
)

__all__ = ["read_rows", "resolve_format"]

_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 16  # how much of an over-long line is held at once while skipping it
_JSON_TYPE = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
# A JSON \u escape of a surrogate: only then can json.loads produce a lone surrogate, so only then do we pay
# for the full check.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _RowTooLong(Exception):
    """Raised through the csv module by the line source when a record exceeds the byte cap."""


def read_rows(
    path: str | os.PathLike[str],
    fmt: TextFormat,
    *,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    resolved: bool = False,
) -> Generator[TextRow | RowError, None, None]:
    """Yield every data row of ``path`` as a ``TextRow``, or a ``RowError`` for a row that cannot be read.

    ``read_text_dataset`` (in ``text_detect``) adds format detection (``fmt=None``). ``resolved``: ``fmt`` comes
    from ``resolve_format``/``detect_format`` already and is not checked against the file again. The header (or the
    first JSONL objects) is checked now, before this returns, so a wrong column name raises
    ``TextFormatError`` at once rather than at the first ``next``. Rows are then read lazily: the file is
    open only while the iterator is being consumed (close it early with ``.close()``).

    Empty lines are skipped and take no index. Row errors take an index, so indices never depend on
    whether other rows are valid. See the module docstring for the full rules.
    """
    if max_row_bytes < 1:
        raise ValueError(f"max_row_bytes must be positive, got {max_row_bytes}")
    if not resolved:
        fmt = resolve_format(path, fmt, max_row_bytes=max_row_bytes)
    return _rows(path, fmt, max_row_bytes)


def resolve_format(
    path: str | os.PathLike[str], fmt: TextFormat, *, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
) -> TextFormat:
    """Return ``fmt`` completed from the file: ``columns`` (the header, or the first JSONL object's keys)
    and ``bom``. Raises ``TextFormatError`` when the chosen text/label column is not there, naming the
    columns that are; when ``fmt.columns`` is already set it must match the file's header."""
    with _open(path) as (f, bom):
        lines = _PhysicalLines(f, max_row_bytes)
        if fmt.kind in ("tsv", "csv") and fmt.has_header:
            header, _ = _read_header(lines, fmt, max_row_bytes, path)
            _check_columns(header, fmt, path, "column", "in header")
            if fmt.columns is not None and tuple(fmt.columns) != header:
                raise TextFormatError(
                    f"{path}: header is ({', '.join(header)}) but the format expects ({', '.join(fmt.columns)})"
                )
            return replace(fmt, columns=header, bom=bom)
        if fmt.kind == "jsonl":
            probe = _json_probe(lines, fmt)
            if probe is None:
                return replace(fmt, bom=bom)
            lineno, obj, fits = probe
            if not fits:  # none of the first objects has the fields: the configuration, not the data, is wrong
                _check_columns(tuple(obj), fmt, path, "field", f"in the first JSON object (line {lineno})")
            return replace(fmt, columns=fmt.columns or tuple(obj), bom=bom)
        return replace(fmt, bom=bom)


# ---------------------------------------------------------------------------------------------- file access


class _open:
    """Open ``path`` in binary mode positioned after a UTF-8 BOM; yields ``(file, had_bom)``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path

    def __enter__(self) -> tuple[BinaryIO, bool]:
        if os.path.isdir(self.path):
            raise TextFormatError(f"{self.path} is a directory, not a text dataset file")
        self.f: BinaryIO = open(self.path, "rb", buffering=_SKIP_CHUNK)
        head = self.f.read(4)
        if head.startswith(_BOM):
            self.f.seek(len(_BOM))
            return self.f, True
        if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head in (b"\x00\x00\xfe\xff",):
            self.f.close()
            raise TextFormatError(f"{self.path} starts with a UTF-16/UTF-32 byte-order mark; convert it to UTF-8")
        self.f.seek(0)
        return self.f, False

    def __exit__(self, *exc: object) -> None:
        self.f.close()


class _PhysicalLines:
    """Iterate ``(line_number, raw_line_with_its_ending)``, or ``(line_number, None)`` for a line longer than
    ``max_bytes``, which is skipped in chunks so that it is never held in memory whole (each discarded chunk
    goes to ``on_skip`` if set). Lines split on LF only: CR, U+2028 and friends are ordinary characters here,
    as they are for every TSV/JSONL producer."""

    def __init__(self, f: BinaryIO, max_bytes: int) -> None:
        self.f = f
        self.max_bytes = max_bytes
        self.lineno = 0
        self.on_skip: Callable[[bytes], None] | None = None

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> tuple[int, bytes | None]:
        raw = self.f.readline(self.max_bytes + 1)
        if not raw:
            raise StopIteration
        self.lineno += 1
        if len(raw) <= self.max_bytes:
            return self.lineno, raw
        while True:
            if self.on_skip is not None:
                self.on_skip(raw)
            if raw.endswith(b"\n"):
                break
            raw = self.f.readline(_SKIP_CHUNK)
            if not raw:
                break
        return self.lineno, None


def _strip_ending(raw: bytes) -> bytes:
    # Only the last line can lack the LF; a CR there is the rest of a CRLF cut short, not text.
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def _decode(raw: bytes) -> tuple[str, None] | tuple[None, str]:
    """Strict UTF-8 decode of one line; on failure a one-line reason with the byte offset in the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the line (0x{raw[e.start]:02x})"
    if "\x00" in text:
        return None, f"NUL byte at byte {raw.index(0)} of the line (binary data?)"
    return text, None


def _too_long(max_bytes: int) -> str:
    return f"row longer than {max_bytes} bytes (the cap; see max_row_bytes)"


# ------------------------------------------------------------------------------------------- header checks


def _check_columns(
    columns: tuple[str, ...], fmt: TextFormat, path: object, what: str, where: str
) -> None:
    for role, name in (("text", fmt.text_column), ("label", fmt.label_column)):
        if name is not None and name not in columns:
            listing = ", ".join(columns) if columns else "(none)"
            raise TextFormatError(f"{path}: {role} {what} {name!r} not found {where}; {what}s are: {listing}")


def _read_header(
    lines: _PhysicalLines, fmt: TextFormat, max_bytes: int, path: object
) -> tuple[tuple[str, ...], _CsvLines | None]:
    """Parse the header (the first non-empty row). For the csv engine, also return the line source so that
    the data rows continue from the same position."""
    if fmt.quoting == "csv":
        src = _CsvLines(lines, max_bytes, str(fmt.delimiter))
        reader = _csv_reader(src, fmt)
        while True:
            src.begin_record()
            try:
                fields = _next_record(reader, src.max_bytes)
            except StopIteration:
                raise TextFormatError(f"{path}: file is empty; expected a header line") from None
            except (_RowTooLong, csv.Error) as e:
                raise TextFormatError(f"{path}: cannot read the header: {_csv_reason(e, max_bytes)}") from None
            if src.problem:
                raise TextFormatError(f"{path}: header (line {src.start}): {src.problem}")
            if fields:
                return _unique(tuple(fields), path), src
    for lineno, raw in lines:
        if raw is None:
            raise TextFormatError(f"{path}: header (line {lineno}): {_too_long(max_bytes)}")
        raw = _strip_ending(raw)
        if not raw:
            continue
        text, problem = _decode(raw)
        if text is None:
            raise TextFormatError(f"{path}: header (line {lineno}): {problem}")
        assert fmt.delimiter
        return _unique(tuple(text.split(fmt.delimiter)), path), None
    raise TextFormatError(f"{path}: file is empty; expected a header line")


def _unique(columns: tuple[str, ...], path: object) -> tuple[str, ...]:
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            # Ambiguous: we could not tell which one is the text, nor write the row back faithfully.
            raise TextFormatError(f"{path}: duplicate column name {c!r} in header ({', '.join(columns)})")
        seen.add(c)
    return columns


JSON_PROBE = 100  # JSON objects looked at to tell a wrong field name from a few bad rows


def _json_probe(lines: _PhysicalLines, fmt: TextFormat) -> tuple[int, dict[str, Any], bool] | None:
    """(line, object, fits): the first of the first ``JSON_PROBE`` valid JSON objects that has the text and
    label fields (``fits``), else the very first valid object; None when there is no valid object.

    One object without the fields is a bad row, reported by the reader like any other; only when none of the
    first objects has them is the format wrong (a misspelt field name), which is an error for the whole file.
    """
    first = None
    seen = 0
    wanted = [name for name in (fmt.text_column, fmt.label_column) if name is not None]
    for lineno, raw in lines:
        if raw is None:
            continue
        text, _ = _decode(_strip_ending(raw))
        if not text:
            continue
        obj, _ = _parse_json(text)
        if obj is None:
            continue
        if all(name in obj for name in wanted):
            return lineno, obj, True
        first = first or (lineno, obj)
        seen += 1
        if seen >= JSON_PROBE:
            break
    return None if first is None else (*first, False)


# -------------------------------------------------------------------------------------------------- engines


def _rows(
    path: str | os.PathLike[str], fmt: TextFormat, max_bytes: int
) -> Generator[TextRow | RowError, None, None]:
    with _open(path) as (f, _bom):
        lines = _PhysicalLines(f, max_bytes)
        if fmt.quoting == "csv" and fmt.kind in ("tsv", "csv"):
            yield from _csv_rows(lines, fmt, max_bytes, path)
        else:
            yield from _line_rows(lines, fmt, max_bytes, path)


def _line_rows(
    lines: _PhysicalLines, fmt: TextFormat, max_bytes: int, path: object
) -> Iterator[TextRow | RowError]:
    tabular = fmt.kind in ("tsv", "csv")
    columns = fmt.columns
    if tabular and fmt.has_header:
        header, _ = _read_header(lines, fmt, max_bytes, path)
        if header != columns:
            raise TextFormatError(f"{path}: header changed since the format was resolved")
    index = 0
    for lineno, raw in lines:
        if raw is None:
            yield RowError(index, lineno, _too_long(max_bytes))
            index += 1
            continue
        raw = _strip_ending(raw)
        if not raw:
            continue  # empty line: not an example, no index
        text, problem = _decode(raw)
        if text is None:
            assert problem is not None
            yield RowError(index, lineno, problem)
        elif tabular:
            assert columns is not None and fmt.delimiter
            yield _tabular_row(text.split(fmt.delimiter), columns, fmt, index, lineno)
        elif fmt.kind == "jsonl":
            yield _json_row(text, fmt, index, lineno)
        else:
            yield TextRow(index=index, line=lineno, text=text)
        index += 1


def _tabular_row(
    fields: list[str], columns: tuple[str, ...], fmt: TextFormat, index: int, lineno: int
) -> TextRow | RowError:
    if len(fields) != len(columns):
        reason = f"expected {len(columns)} fields, got {len(fields)}"
        if len(fields) == 1 and fmt.delimiter == "\t":
            reason += " (no tab in the line)"
        if not fmt.has_header:
            reason += f"; rows are {_layout(fmt)}"
        return RowError(index, lineno, reason)
    values = dict(zip(columns, fields))
    text = values.pop(fmt.text_column)
    label = values.pop(fmt.label_column) if fmt.label_column is not None else None
    return TextRow(index=index, line=lineno, text=text, label=label, extra=values)


def _layout(fmt: TextFormat) -> str:
    sep = "<TAB>" if fmt.delimiter == "\t" else str(fmt.delimiter)
    return sep.join(fmt.columns or ())


def _parse_json(text: str) -> tuple[dict[str, Any], None] | tuple[None, str]:
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as e:
        return None, str(e)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON at column {e.colno}: {e.msg}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {_JSON_TYPE.get(type(obj), 'null')}"
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "invalid JSON string: a \\u escape of a lone surrogate (not valid Unicode)"
    return obj, None


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last value silently; writing the row back would then lose the first.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(f"duplicate key {key!r} in JSON object")
        obj[key] = value
    return obj


def _json_row(text: str, fmt: TextFormat, index: int, lineno: int) -> TextRow | RowError:
    obj, problem = _parse_json(text)
    if obj is None:
        assert problem is not None
        return RowError(index, lineno, problem)
    if fmt.text_column not in obj:
        return RowError(index, lineno, f"missing text field {fmt.text_column!r}")
    body = obj[fmt.text_column]
    if not isinstance(body, str):
        kind = _JSON_TYPE.get(type(body), "null")
        return RowError(index, lineno, f"text field {fmt.text_column!r} is a JSON {kind}, not a string")
    label: str | None = None
    label_json = False
    if fmt.label_column is not None:
        if fmt.label_column not in obj:
            return RowError(index, lineno, f"missing label field {fmt.label_column!r}")
        value = obj[fmt.label_column]
        if isinstance(value, str):
            label = value
        else:
            # Keep the JSON text so that 1 stays the number 1 and 1.50 never becomes "1.5" in a string.
            label, label_json = json.dumps(value, ensure_ascii=False), True
    extra = {k: v for k, v in obj.items() if k != fmt.text_column and k != fmt.label_column}
    return TextRow(
        index=index, line=lineno, text=body, label=label, extra=extra, field_order=tuple(obj), label_json=label_json
    )


# ---------------------------------------------------------------------------------------------- csv engine


class _CsvLines:
    """Feeds the csv module one decoded physical line at a time (line ending kept: it may be inside a quoted
    field), and remembers problems of the current record instead of failing, so that the record boundaries
    stay intact and only that record is reported.

    A record over the byte cap raises ``_RowTooLong`` only after the rest of the record has been skipped
    (tracked by ``_QuoteScanner``): stopping in the middle of a quoted field would make its remaining lines
    look like rows, with the wrong labels."""

    def __init__(self, lines: _PhysicalLines, max_bytes: int, delimiter: str) -> None:
        self.lines = lines
        self.max_bytes = max_bytes
        self.delimiter = delimiter
        self.lineno = 0
        self.start = 1
        self.size = 0
        self.problem: str | None = None
        self.record: list[bytes] = []  # raw lines of the current record, to prime a scanner if needed
        self.scanner: _QuoteScanner | None = None
        self.unclosed = False
        lines.on_skip = self._skipped_chunk

    def begin_record(self) -> None:
        self.start = self.lineno + 1
        self.size = 0
        self.problem = None
        self.record = []
        self.scanner = None
        self.unclosed = False

    def __iter__(self) -> _CsvLines:
        return self

    def _scanner(self) -> _QuoteScanner:
        if self.scanner is None:
            self.scanner = _QuoteScanner(self.delimiter)
            for raw in self.record:
                self.scanner.feed(raw)
            self.record = []
        return self.scanner

    def _skipped_chunk(self, chunk: bytes) -> None:
        """Called by ``_PhysicalLines`` with each piece of an over-long line as it is discarded."""
        self._scanner().feed(chunk)

    def _skip_rest_of_record(self) -> None:
        scanner = self._scanner()
        while scanner.in_quotes:
            try:
                lineno, raw = next(self.lines)
            except StopIteration:
                self.unclosed = True
                return
            self.lineno = lineno
            if raw is not None:  # None: already fed chunk by chunk
                scanner.feed(raw)

    def __next__(self) -> str:
        lineno, raw = next(self.lines)
        self.lineno = lineno
        if raw is not None:
            self.size += len(raw)
            if self.size <= self.max_bytes:
                self.record.append(raw)
            else:
                self._scanner().feed(raw)
                raw = None
        if raw is None:
            self._skip_rest_of_record()
            raise _RowTooLong
        text, problem = _decode(raw)
        if text is None:
            # Decode anyway so the csv module still sees the quotes and the record ends where it should.
            if self.problem is None:
                self.problem = problem if lineno == self.start else problem.replace("the line", f"line {lineno}")
            text = raw.decode("utf-8", "surrogateescape").replace("\x00", "\ufffd")
        return text


class _QuoteScanner:
    """Follows the csv module's state machine (strict, doubled quotes, no escape character) over raw bytes in
    O(1) memory, only to find where a record ends while it is being skipped. The delimiter and quote are ASCII,
    so they never occur inside a multi-byte UTF-8 sequence and bytes are as good as characters here."""

    START, FIELD, QUOTED, QUOTE_IN_QUOTED, TO_EOL = range(5)

    def __init__(self, delimiter: str) -> None:
        self.delim = ord(delimiter)
        self.field_end = re.compile(b"[" + re.escape(delimiter.encode()) + b"\r\n]")
        self.state = self.START

    @property
    def in_quotes(self) -> bool:
        """At a line boundary: does the record continue on the next line?"""
        return self.state == self.QUOTED

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            state = self.state
            if state == self.QUOTED:
                j = data.find(b'"', i)
                if j < 0:
                    return
                self.state, i = self.QUOTE_IN_QUOTED, j + 1
                continue
            if state == self.TO_EOL:
                # After a CR or a strict-mode error the csv module drops the rest of the line.
                j = data.find(b"\n", i)
                if j < 0:
                    return
                self.state, i = self.START, j + 1
                continue
            if state == self.FIELD:
                m = self.field_end.search(data, i)
                if m is None:
                    return
                i = m.start()
                state = self.START if data[i] == self.delim else self.TO_EOL
                self.state = self.START if data[i] == 10 else state
                i += 1
                continue
            c = data[i]
            i += 1
            if c == 10:  # LF outside quotes: the record ends
                self.state = self.START
            elif c == 13:
                self.state = self.TO_EOL
            elif state == self.QUOTE_IN_QUOTED:
                self.state = self.QUOTED if c == 34 else self.START if c == self.delim else self.TO_EOL
            elif c == 34:
                self.state = self.QUOTED
            elif c != self.delim:
                self.state = self.FIELD


def _next_record(reader: Any, max_bytes: int) -> list[str]:
    """``next(reader)`` with the csv module's field size limit raised to our own byte cap for this one record.

    The csv module refuses fields over 128 KiB by default; our byte cap bounds records instead. The limit is
    process-global, so it is raised only while a record is parsed and put back before the caller (the user's
    code, between rows) runs again.
    """
    previous = csv.field_size_limit()
    if previous >= max_bytes:
        return next(reader)
    csv.field_size_limit(max_bytes)
    try:
        return next(reader)
    finally:
        csv.field_size_limit(previous)


def _csv_reader(src: _CsvLines, fmt: TextFormat) -> Any:
    # strict: a stray quote or an unclosed quoted field is an error row, not silently merged text.
    return csv.reader(src, delimiter=str(fmt.delimiter), quotechar='"', doublequote=True, strict=True)


def _csv_reason(e: Exception, max_bytes: int) -> str:
    if isinstance(e, _RowTooLong):
        return _too_long(max_bytes)
    msg = str(e)
    if msg.startswith("new-line character seen in unquoted field"):
        return "carriage return inside an unquoted field"
    if msg == "unexpected end of data":
        return "unclosed quoted field at end of file"
    return f"malformed CSV: {msg}"


def _csv_rows(
    lines: _PhysicalLines, fmt: TextFormat, max_bytes: int, path: object
) -> Iterator[TextRow | RowError]:
    columns = fmt.columns
    assert columns is not None
    if fmt.has_header:
        header, src_or_none = _read_header(lines, fmt, max_bytes, path)
        if header != columns:
            raise TextFormatError(f"{path}: header changed since the format was resolved")
        assert src_or_none is not None
        src = src_or_none
    else:
        src = _CsvLines(lines, max_bytes, str(fmt.delimiter))
    reader = _csv_reader(src, fmt)
    index = 0
    while True:
        src.begin_record()
        problem: str | None
        try:
            fields = _next_record(reader, src.max_bytes)
        except StopIteration:
            return
        except (_RowTooLong, csv.Error) as e:
            problem = _csv_reason(e, max_bytes)
            if src.unclosed:
                problem += "; its quoted field is never closed"
        else:
            if not fields:
                continue  # empty line
            problem = src.problem
        if problem is None:
            row = _tabular_row(fields, columns, fmt, index, src.start)
            if isinstance(row, RowError) and src.lineno > src.start:
                row = RowError(index, src.start, f"{row.reason} (record spans lines {src.start}-{src.lineno})")
            yield row
        else:
            if src.lineno > src.start:
                problem += f" (record spans lines {src.start}-{src.lineno})"
            yield RowError(index, src.start, problem)
        index += 1
