"""Choosing a ``TextFormat`` from a path and the user's options, by fixed rules (no content sniffing beyond
the checks listed in ``detect_format``)."""

from __future__ import annotations

import os
from pathlib import Path

from augment.io.text_model import (
    DEFAULT_MAX_ROW_BYTES,
    KINDS,
    Kind,
    Quoting,
    RowError,
    TextFormat,
    TextFormatError,
)
from augment.io.text_reader import read_rows, resolve_format

__all__ = ["EXTENSIONS", "HEADER_WORDS", "detect_format", "read_text_dataset"]

EXTENSIONS: dict[str, Kind] = {
    ".tsv": "tsv", ".tab": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"
}

#: Names that mark the first line of a header-less TSV/CSV as a header row (compared case-insensitively).
HEADER_WORDS = frozenset(
    {"label", "labels", "class", "category", "target", "sentiment", "y", "id",
     "text", "sentence", "sentence1", "review", "content", "document", "tweet", "comment"}
)


def detect_format(
    path: str | os.PathLike[str],
    *,
    kind: Kind | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    unlabelled: bool = False,
    has_header: bool | None = None,
    delimiter: str | None = None,
    quoting: Quoting | None = None,
    columns: tuple[str, ...] | None = None,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
) -> TextFormat:
    """The resolved format of ``path`` (header and BOM read) from its extension and the options given.

    Rules, in order:

    1. Kind: ``kind`` if given, else the extension (case-insensitive): ``.tsv``/``.tab`` → tsv, ``.csv`` → csv,
       ``.jsonl``/``.ndjson`` → jsonl, ``.txt`` → txt; any other extension is an error asking for a kind.
    2. txt: one unlabelled text per line; naming a column is an error.
    3. tsv: **without** ``text_column``/``label_column`` (and ``has_header`` not True) it is header-less
       ``label<TAB>text`` (the format of ``datasets/text/*/train.tsv``; ``columns`` may reorder the fields,
       e.g. ``("text", "label")``), and its first row must pass two checks, else an error asks for
       ``--text-column``: it has exactly two fields, and neither field is a usual column name
       (``HEADER_WORDS``: label, text, sentence, ...); a first row unreadable for another reason (bad UTF-8)
       decides nothing. **With** a column named (or ``has_header=True``) it has a header. Quotes are literal
       in TSV (``quoting="none"``) unless ``quoting="csv"``.
    4. csv: a header is required unless ``has_header=False`` (then the fields are ``label,text`` and the checks
       of rule 3 apply); quotes follow the csv module (``quoting="csv"``); ``delimiter`` may change the comma.
    5. Header formats and JSONL: the text column/field defaults to ``text``, the label to ``label``;
       ``unlabelled=True`` reads no label. A named (or default) column missing from the header, or from the
       first valid JSONL object, is an error that lists the columns that are there.
    """
    path_str = os.fspath(path)
    if kind is None:
        ext = Path(path_str).suffix.lower()
        if ext not in EXTENSIONS:
            raise TextFormatError(
                f"{path_str}: cannot tell the text format from the extension {ext or '(none)'!r}; "
                f"use one of {', '.join(EXTENSIONS)} or name the format ({', '.join(KINDS)})"
            )
        kind = EXTENSIONS[ext]
    elif kind not in KINDS:
        raise TextFormatError(f"unknown text format {kind!r}; expected one of: {', '.join(KINDS)}")
    if unlabelled and label_column is not None:
        raise TextFormatError("unlabelled and label_column contradict each other; give one of them")

    if kind == "txt":
        if text_column is not None or label_column is not None:
            raise TextFormatError("txt files have one text per line and no columns; drop --text/label-column")
        return resolve_format(path, TextFormat(kind="txt", label_column=None), max_row_bytes=max_row_bytes)

    named = text_column is not None or label_column is not None
    if kind in ("tsv", "csv"):
        if has_header is None:
            has_header = kind == "csv" or named
        if not has_header:
            if named or unlabelled:
                raise TextFormatError(
                    f"a header-less {kind} is always label{'<TAB>' if kind == 'tsv' else ','}text; "
                    f"column names need a header line (has_header=True)"
                )
            fmt = TextFormat(kind=kind, has_header=False, delimiter=delimiter, quoting=quoting, columns=columns)
            fmt = resolve_format(path, fmt, max_row_bytes=max_row_bytes)
            _check_headerless_first_row(path_str, fmt, max_row_bytes)
            return fmt
    elif has_header:
        raise TextFormatError(f"{kind} files have no header line")

    if columns is not None:
        raise TextFormatError("columns= names the fields of a header-less tsv/csv; this format names its own")
    fmt = TextFormat(
        kind=kind,
        text_column=text_column or "text",
        label_column=None if unlabelled else (label_column or "label"),
        has_header=has_header if kind in ("tsv", "csv") else False,
        delimiter=delimiter,
        quoting=quoting,
    )
    return resolve_format(path, fmt, max_row_bytes=max_row_bytes)


def _check_headerless_first_row(path: str, fmt: TextFormat, max_row_bytes: int) -> None:
    rows = read_rows(path, fmt, max_row_bytes=max_row_bytes)
    try:
        first = next(rows, None)
    finally:
        rows.close()
    hint = "if the file has a header, name its text column (--text-column) and label column (--label-column)"
    if isinstance(first, RowError):
        if first.reason.startswith("expected "):
            raise TextFormatError(f"{path}: read as header-less {fmt.describe()}, line {first.line}: "
                                  f"{first.reason}; {hint}")
        return  # another kind of bad row (bad UTF-8...): reported per row, says nothing about the layout
    if first is None:
        return
    names = [v for v in (first.label, first.text) if v is not None and v.strip().lower() in HEADER_WORDS]
    if names:
        raise TextFormatError(
            f"{path}: first line ({', '.join(repr(n) for n in names)}) looks like a header row, not "
            f"{fmt.describe()}; {hint}"
        )



def read_text_dataset(
    path: str | os.PathLike[str], fmt: TextFormat | None = None, *, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES
):
    """Every data row of ``path`` as a ``TextRow``, or a ``RowError`` for a row that cannot be read (see
    ``text_reader.read_rows`` for the rules). ``fmt=None`` detects the format from the extension
    (``detect_format`` with no options)."""
    if max_row_bytes < 1:
        raise ValueError(f"max_row_bytes must be positive, got {max_row_bytes}")
    if fmt is None:
        return read_rows(path, detect_format(path, max_row_bytes=max_row_bytes), max_row_bytes=max_row_bytes,
                         resolved=True)
    return read_rows(path, fmt, max_row_bytes=max_row_bytes)
