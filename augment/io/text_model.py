"""The value types of text datasets: a format description, a row, a row error.

Kept apart from the reader and writer so that both (and the expander) share one definition without import
cycles. Only the standard library is used: these objects cross process boundaries and must stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

__all__ = [
    "Kind",
    "Quoting",
    "KINDS",
    "DEFAULT_MAX_ROW_BYTES",
    "HEADERLESS_COLUMNS",
    "TextFormatError",
    "UnrepresentableRowError",
    "TextFormat",
    "TextRow",
    "RowError",
]

Kind = Literal["tsv", "csv", "jsonl", "txt"]
Quoting = Literal["csv", "none"]

KINDS: tuple[str, ...] = ("tsv", "csv", "jsonl", "txt")

#: A row (a physical line, or a CSV record spanning lines) longer than this many bytes is reported as an error
#: and skipped; the reader never holds more than about this much of one row in memory.
DEFAULT_MAX_ROW_BYTES = 10 * 1024 * 1024

#: The implicit columns of a header-less TSV/CSV (the format of ``datasets/text/*/train.tsv``).
HEADERLESS_COLUMNS: tuple[str, str] = ("label", "text")


class TextFormatError(ValueError):
    """The file as a whole cannot be read with the requested format (wrong column name, no header, ...).

    Raised before any row is produced; the message is one line and says what to change.
    """


class UnrepresentableRowError(ValueError):
    """A row cannot be written in the format (a NUL character, a lone surrogate, a missing column)."""


@dataclass(frozen=True)
class TextFormat:
    """How a text dataset is laid out on disk.

    ``text_column`` / ``label_column`` name header columns (CSV/TSV) or object keys (JSONL);
    ``label_column=None`` means unlabelled. ``columns`` is the header in file order: ``None`` until the file
    has been looked at (``resolve_format`` fills it); for header-less files it names the fields by position
    (default ``("label", "text")``). ``bom`` records whether the input started with a UTF-8 BOM, so that the
    output does too. ``quoting="csv"`` parses with the csv module (quotes, embedded delimiters and newlines);
    ``"none"`` splits each physical line on the delimiter, so quotes are literal characters (the usual TSV
    convention, and what NLP TSVs with unbalanced quotes in sentences need).
    """

    kind: Kind
    text_column: str = "text"
    label_column: str | None = "label"
    has_header: bool | None = None  # None: the kind's default (csv: True; tsv, jsonl, txt: False)
    delimiter: str | None = None  # None: the kind's default (tsv: TAB, csv: comma)
    quoting: Quoting | None = None  # None: the kind's default (tsv: none, csv: csv)
    columns: tuple[str, ...] | None = None
    bom: bool = False

    def __post_init__(self) -> None:
        # Defaults that depend on the kind are filled here so that a TextFormat is always complete once built.
        if self.kind not in KINDS:
            raise TextFormatError(f"unknown text format {self.kind!r}; expected one of: {', '.join(KINDS)}")
        tabular = self.kind in ("tsv", "csv")
        if self.has_header is None:
            object.__setattr__(self, "has_header", self.kind == "csv")
        if self.delimiter is None:
            object.__setattr__(self, "delimiter", {"tsv": "\t", "csv": ","}.get(self.kind, ""))
        if self.quoting is None:
            object.__setattr__(self, "quoting", "csv" if self.kind == "csv" else "none")
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))
        if tabular:
            self._check_tabular()
        else:
            if self.has_header:
                raise TextFormatError(f"{self.kind} files have no header line (has_header must be False)")
            if self.delimiter:
                raise TextFormatError(f"{self.kind} files have no delimiter (got {self.delimiter!r})")
        if self.kind == "txt" and self.label_column is not None:
            if self.label_column != "label":  # the default is dropped quietly: TextFormat(kind="txt") just works
                raise TextFormatError(
                    f"txt files are unlabelled (one text per line); got label_column={self.label_column!r}"
                )
            object.__setattr__(self, "label_column", None)
        if not self.text_column:
            raise TextFormatError("text_column must be a non-empty name")
        if self.label_column is not None and self.label_column == self.text_column:
            raise TextFormatError(f"text and label columns are the same ({self.text_column!r})")

    def _check_tabular(self) -> None:
        d = self.delimiter
        # ASCII only: the reader finds record ends in raw bytes when it skips an over-long CSV record.
        if not isinstance(d, str) or len(d) != 1 or not d.isascii() or d in '\r\n"':
            raise TextFormatError(f"delimiter must be one ASCII character other than a quote or newline, got {d!r}")
        if self.quoting not in ("csv", "none"):
            raise TextFormatError(f"quoting must be 'csv' or 'none', got {self.quoting!r}")
        if not self.has_header:
            if self.columns is None:
                object.__setattr__(self, "columns", HEADERLESS_COLUMNS)
            assert self.columns is not None
            missing = [c for c in (self.text_column, self.label_column) if c is not None and c not in self.columns]
            if missing or len(set(self.columns)) != len(self.columns):
                raise TextFormatError(
                    f"a header-less {self.kind} names its fields by position with columns={self.columns!r}; "
                    f"it must list the text and label columns exactly once"
                )

    @property
    def labelled(self) -> bool:
        return self.label_column is not None

    def describe(self) -> str:
        """One line for logs and error messages, e.g. ``tsv (no header: label<TAB>text)``."""
        if self.kind in ("tsv", "csv") and not self.has_header:
            sep = "<TAB>" if self.delimiter == "\t" else self.delimiter or ""
            return f"{self.kind} (no header: {sep.join(self.columns or ())})"
        label = f", label={self.label_column!r}" if self.label_column else ", unlabelled"
        return f"{self.kind} (text={self.text_column!r}{label})" if self.kind != "txt" else "txt (one text per line)"


@dataclass(frozen=True, slots=True)
class TextRow:
    """One example read from a text dataset.

    ``index`` counts data rows from 0 (rows reported as errors take an index too, so that fixing one bad row
    never renumbers the others); ``line`` is the 1-based physical line where the row starts. ``label`` is the
    label exactly as written in the file (``"01"`` stays ``"01"``). ``extra`` holds every other column or
    field, in file order, so that the row can be written back unchanged except for ``text``.

    JSONL only: ``field_order`` is the key order of the source object (text and label included), and
    ``label_json`` says that the label was a JSON number/boolean/null/array/object whose JSON text ``label``
    holds (``1`` is read as ``"1"`` and written back as the number ``1``).
    """

    index: int
    line: int
    text: str
    label: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)
    field_order: tuple[str, ...] = ()
    label_json: bool = False


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that could not be read; it is skipped and nothing else is affected.

    ``reason`` is one line, e.g. ``invalid UTF-8 at byte 17 (0xff)`` or ``expected 2 fields, got 3``.
    """

    index: int
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
