"""Text datasets: the public API for reading and writing them (TSV, CSV, JSONL, TXT).

Import from here; the ``text_*`` modules behind it are an implementation detail.

    fmt = detect_format("train.tsv")                 # header-less label<TAB>text
    for item in read_text_dataset("train.tsv", fmt):  # streams; never loads the file
        if isinstance(item, RowError): ...           # report and go on: the row is skipped
    with TextDatasetWriter("out.tsv", fmt) as w:     # same layout as the input
        w.write(replace(row, text=new_text))

Rules in brief (details in each function's docstring):

- formats: header-less ``label<TAB>text`` TSV; CSV/TSV with a header and chosen text/label columns, other
  columns carried through; JSONL with chosen text/label fields, other fields carried through; TXT, one
  unlabelled text per line;
- reading: binary, decoded per line; UTF-8 BOM skipped, CRLF accepted, empty lines skipped (not errors);
  invalid UTF-8, NUL bytes, a wrong field count, malformed CSV quoting, invalid JSON, a missing text/label
  field, or a row over ``max_row_bytes`` (10 MiB by default) is a ``RowError`` for that row only;
  labels are strings exactly as written;
- writing: UTF-8 with LF, BOM only if the input had one, same columns/keys and order; formats without quoting
  turn TAB/LF/CR inside a value into a space (the one lossy rule).
"""

from __future__ import annotations

from augment.io.text_detect import EXTENSIONS, HEADER_WORDS, detect_format, read_text_dataset
from augment.io.text_model import (
    DEFAULT_MAX_ROW_BYTES,
    RowError,
    TextFormat,
    TextFormatError,
    TextRow,
    UnrepresentableRowError,
)
from augment.io.text_reader import resolve_format
from augment.io.text_writer import TextDatasetWriter, format_row, write_header

__all__ = [
    "DEFAULT_MAX_ROW_BYTES",
    "EXTENSIONS",
    "HEADER_WORDS",
    "RowError",
    "TextDatasetWriter",
    "TextFormat",
    "TextFormatError",
    "TextRow",
    "UnrepresentableRowError",
    "detect_format",
    "format_row",
    "read_text_dataset",
    "resolve_format",
    "write_header",
]
