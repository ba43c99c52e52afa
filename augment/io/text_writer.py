"""Writing rows back in the format they were read from.

``format_row`` and ``write_header`` return strings so that the expander can assemble chunks and write them
atomically itself; ``TextDatasetWriter`` is the plain file-writing convenience on top of them.

Output rules (also in ``format_row``'s docstring):

- UTF-8, LF line endings always (CRLF input is written with LF: the line ending is not data);
- a UTF-8 BOM only if the input had one (``fmt.bom``), so tools that added it keep seeing it;
- CSV engine: the csv module with minimal quoting (a row holding a lone CR is written fully quoted, because the
  csv module leaves a bare CR unquoted and it could not be read back); the input's choice of quoting more
  fields than needed is not reproduced, which changes no value;
- ``quoting="none"`` (header-less TSV, TSV with header) and TXT cannot hold a delimiter or a newline inside a
  field: TAB (the delimiter), LF and CR are replaced by a space, the only lossy rule;
- JSONL: keys in the source object's order, ``ensure_ascii=False``, the json module's default separators;
- rows that cannot be represented raise ``UnrepresentableRowError`` (NUL, lone surrogates, a missing or
  unknown column, an empty line in a line format), never a silently different file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from types import TracebackType
from typing import Any, Iterable

from augment.io.text_model import TextFormat, TextFormatError, TextRow, UnrepresentableRowError

__all__ = ["TextDatasetWriter", "format_row", "write_header"]

_BOM = "\ufeff"


def write_header(fmt: TextFormat) -> str:
    """Everything that precedes the first row: the BOM if ``fmt.bom``, then the header line if the format
    has one. Empty for a header-less file without BOM. The format must be resolved (``columns`` known)."""
    head = _BOM if fmt.bom else ""
    if fmt.kind in ("tsv", "csv") and fmt.has_header:
        if fmt.columns is None:
            raise TextFormatError("the format's columns are unknown: resolve it from the input first")
        if fmt.quoting == "csv":
            head += _csv_line(list(fmt.columns), fmt)
        else:
            head += str(fmt.delimiter).join(fmt.columns) + "\n"
    return head


def format_row(row: TextRow, fmt: TextFormat) -> str:
    """One row serialised for ``fmt``, ending with LF. Encode it as UTF-8 (it always can be).

    Rows read with ``fmt`` read back with the same text, label and extra fields, except that in
    ``quoting="none"`` and TXT formats TAB, LF and CR inside a value become a space. One edge for callers
    writing files themselves: in a header-less file without BOM, a first row starting with U+FEFF would be
    read back as a BOM; ``TextDatasetWriter`` handles that by writing a BOM first.
    """
    if fmt.kind == "jsonl":
        line = _json_line(row, fmt)
    elif fmt.kind == "txt":
        if row.label is not None:
            raise UnrepresentableRowError("a txt file is unlabelled; this row has a label")
        if row.extra:
            raise UnrepresentableRowError(f"a txt file has one text per line; extra fields: {', '.join(row.extra)}")
        line = _plain_line([_flatten(row.text, "")], "text")
    else:
        values = _tabular_values(row, fmt)
        if fmt.quoting == "csv":
            line = _csv_line(values, fmt)
        else:
            line = _plain_line([_flatten(v, str(fmt.delimiter)) for v in values], fmt.text_column, fmt)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UnrepresentableRowError(f"row {row.index}: not valid Unicode ({e.reason}: {line[e.start]!r})") from None
    return line


def _tabular_values(row: TextRow, fmt: TextFormat) -> list[str]:
    if fmt.columns is None:
        raise TextFormatError("the format's columns are unknown: resolve it from the input first")
    if fmt.label_column is not None and row.label is None:
        raise UnrepresentableRowError(f"row {row.index} has no label; the format needs {fmt.label_column!r}")
    if fmt.label_column is None and row.label is not None:
        raise UnrepresentableRowError(f"row {row.index} has a label but the format is unlabelled")
    unknown = [k for k in row.extra if k not in fmt.columns or k in (fmt.text_column, fmt.label_column)]
    if unknown:
        raise UnrepresentableRowError(f"row {row.index}: columns not in the format: {', '.join(unknown)}")
    values: list[str] = []
    for col in fmt.columns:
        if col == fmt.text_column:
            value: Any = row.text
        elif col == fmt.label_column:
            value = row.label
        elif col in row.extra:
            value = row.extra[col]
        else:
            raise UnrepresentableRowError(f"row {row.index} has no value for column {col!r}")
        if not isinstance(value, str):
            raise UnrepresentableRowError(f"row {row.index}: column {col!r} is {type(value).__name__}, not str")
        if "\x00" in value:
            # The reader treats NUL as binary garbage, so writing it would make the row unreadable.
            raise UnrepresentableRowError(f"row {row.index}: NUL character in column {col!r}")
        values.append(value)
    return values


def _flatten(value: str, delimiter: str) -> str:
    """Make a value fit on one line of a format without quoting (the only lossy rule, documented)."""
    for ch in ("\n", "\r", delimiter):
        if ch and ch in value:
            value = value.replace(ch, " ")
    return value


def _plain_line(values: list[str], what: str, fmt: TextFormat | None = None) -> str:
    line = (str(fmt.delimiter) if fmt else "").join(values)
    if not line:
        # An empty line is skipped by the reader: the row would silently vanish on the next read.
        raise UnrepresentableRowError(f"an empty {what} would be an empty line, which is not a row")
    if "\x00" in line:
        raise UnrepresentableRowError("NUL character in text")
    return line + "\n"


def _csv_line(values: list[str], fmt: TextFormat) -> str:
    buf = io.StringIO()
    quoting = csv.QUOTE_ALL if any("\r" in v for v in values) else csv.QUOTE_MINIMAL
    csv.writer(buf, delimiter=str(fmt.delimiter), quotechar='"', lineterminator="\n", quoting=quoting).writerow(
        values
    )
    return buf.getvalue()


def _json_line(row: TextRow, fmt: TextFormat) -> str:
    text_key, label_key = fmt.text_column, fmt.label_column
    obj: dict[str, Any] = {}
    order = row.field_order or fmt.columns or (text_key, label_key)
    # Source key order first, then anything not in it (text/label always present).
    for key in (*order, text_key, label_key, *row.extra):
        if key is None or key in obj:
            continue
        if key == text_key:
            obj[key] = row.text
        elif key == label_key:
            obj[key] = _json_label(row, label_key)
        elif key in row.extra:
            obj[key] = row.extra[key]
    if label_key is None and row.label is not None:
        raise UnrepresentableRowError(f"row {row.index} has a label but the format is unlabelled")
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _json_label(row: TextRow, key: str) -> Any:
    if row.label is None:
        raise UnrepresentableRowError(f"row {row.index} has no label; the format needs {key!r}")
    if not row.label_json:
        return row.label
    try:
        return json.loads(row.label)
    except ValueError:
        raise UnrepresentableRowError(f"row {row.index}: label {row.label!r} is marked JSON but is not") from None


class TextDatasetWriter:
    """Write rows to ``path`` in ``fmt`` (a resolved format, e.g. from ``detect_format`` on the input).

    Use as a context manager; the file is created or truncated at construction. Not atomic on its own: for
    crash-safe output, write to a temporary file in the same directory and rename it.
    """

    def __init__(self, path: str | os.PathLike[str], fmt: TextFormat) -> None:
        self.fmt = fmt
        header = write_header(fmt)
        self._pending_bom_check = header == ""
        self._file = open(path, "w", encoding="utf-8", newline="")  # newline="": LF on every platform
        self._file.write(header)
        self.rows_written = 0

    def write(self, row: TextRow) -> None:
        line = format_row(row, self.fmt)
        if self._pending_bom_check:
            self._pending_bom_check = False
            if line.startswith(_BOM):
                # Otherwise the reader would take this character for a BOM and drop it from the text.
                self._file.write(_BOM)
        self._file.write(line)
        self.rows_written += 1

    def write_rows(self, rows: Iterable[TextRow]) -> int:
        n = 0
        for row in rows:
            self.write(row)
            n += 1
        return n

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> TextDatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
