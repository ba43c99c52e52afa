"""Format detection rules, the TextFormat checks, and the public API of augment.io.text_formats."""

from __future__ import annotations

from pathlib import Path

import pytest

import augment.io.text_formats as text_formats
from augment.io.text_formats import TextFormat, TextFormatError, detect_format


def put(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_public_api_is_explicit() -> None:
    for name in text_formats.__all__:
        assert getattr(text_formats, name) is not None
    assert {"read_text_dataset", "detect_format", "format_row", "write_header", "TextDatasetWriter",
            "TextFormat", "TextRow", "RowError"} <= set(text_formats.__all__)


def test_extensions(tmp_path: Path) -> None:
    assert detect_format(put(tmp_path, "a.TSV", b"1\tx\n")).describe() == "tsv (no header: label<TAB>text)"
    assert detect_format(put(tmp_path, "a.tab", b"1\tx\n")).kind == "tsv"
    assert detect_format(put(tmp_path, "a.csv", b"text,label\n")).kind == "csv"
    assert detect_format(put(tmp_path, "a.ndjson", b'{"text": "x", "label": 1}\n')).kind == "jsonl"
    assert detect_format(put(tmp_path, "a.txt", b"x\n")).label_column is None
    with pytest.raises(TextFormatError, match=r"extension '\.parquet'"):
        detect_format(put(tmp_path, "a.parquet", b""))
    # Forcing the kind overrides the extension.
    assert detect_format(put(tmp_path, "data", b"1\tx\n"), kind="tsv").kind == "tsv"


def test_tsv_without_options_is_headerless(tmp_path: Path) -> None:
    fmt = detect_format(put(tmp_path, "a.tsv", b"\n\xef\xbb1\tx\n"))  # bad first row: no verdict on layout
    assert fmt.has_header is False and fmt.columns == ("label", "text") and fmt.quoting == "none"


@pytest.mark.parametrize(
    ("first_line", "message"),
    [
        (b"label\tsentence\n", r"first line \('label', 'sentence'\) looks like a header row"),
        (b"0\tText\n", r"first line \('Text'\) looks like a header row"),
        (b"id\ttext\tlabel\n", r"expected 2 fields, got 3.*--text-column"),
        (b"just one field\n", r"expected 2 fields, got 1 \(no tab in the line\)"),
    ],
)
def test_tsv_that_looks_like_it_has_a_header_asks_for_columns(
    tmp_path: Path, first_line: bytes, message: str
) -> None:
    with pytest.raises(TextFormatError, match=message):
        detect_format(put(tmp_path, "a.tsv", first_line + b"1\tsome text\n"))


def test_tsv_with_named_columns_has_a_header(tmp_path: Path) -> None:
    path = put(tmp_path, "a.tsv", b"sentence\tlabel\nhello\t1\n")
    fmt = detect_format(path, text_column="sentence")
    assert fmt.has_header and fmt.columns == ("sentence", "label") and fmt.label_column == "label"
    assert detect_format(path, text_column="sentence", unlabelled=True).label_column is None


def test_csv_defaults_and_errors(tmp_path: Path) -> None:
    path = put(tmp_path, "a.csv", b"id,text,label\n1,x,y\n")
    fmt = detect_format(path)
    assert (fmt.text_column, fmt.label_column, fmt.columns) == ("text", "label", ("id", "text", "label"))
    with pytest.raises(TextFormatError, match="label column 'lable' not found in header; columns are: id, text, label"):
        detect_format(path, label_column="lable")
    with pytest.raises(TextFormatError, match="text column 'body' not found"):
        detect_format(path, text_column="body")
    other = put(tmp_path, "b.csv", b"review,stars\nx,5\n")
    with pytest.raises(TextFormatError, match="text column 'text' not found in header; columns are: review, stars"):
        detect_format(other)
    fmt = detect_format(other, text_column="review", unlabelled=True)
    assert fmt.label_column is None and fmt.describe() == "csv (text='review', unlabelled)"
    semi = detect_format(put(tmp_path, "c.csv", b"text;label\n"), delimiter=";")
    assert semi.columns == ("text", "label")


def test_contradictory_options(tmp_path: Path) -> None:
    tsv = put(tmp_path, "a.tsv", b"1\tx\n")
    with pytest.raises(TextFormatError, match="contradict"):
        detect_format(tsv, label_column="label", unlabelled=True)
    with pytest.raises(TextFormatError, match="header-less tsv is always label<TAB>text"):
        detect_format(tsv, text_column="text", has_header=False)
    with pytest.raises(TextFormatError, match="no columns"):
        detect_format(put(tmp_path, "a.txt", b"x\n"), text_column="text")
    with pytest.raises(TextFormatError, match="no header"):
        detect_format(put(tmp_path, "a.jsonl", b"{}\n"), has_header=True)


def test_headerless_columns_can_be_reordered(tmp_path: Path) -> None:
    path = put(tmp_path, "a.tsv", b"a fine sentence\t1\n")
    fmt = detect_format(path, columns=("text", "label"))
    rows = list(text_formats.read_text_dataset(path, fmt))
    assert [(r.label, r.text) for r in rows] == [("1", "a fine sentence")]  # type: ignore[union-attr]


def test_textformat_validation() -> None:
    assert TextFormat(kind="csv").delimiter == "," and TextFormat(kind="csv").has_header is True
    assert TextFormat(kind="tsv").delimiter == "\t" and TextFormat(kind="tsv").has_header is False
    with pytest.raises(TextFormatError, match="unknown text format 'xml'"):
        TextFormat(kind="xml")  # type: ignore[arg-type]
    with pytest.raises(TextFormatError, match="delimiter"):
        TextFormat(kind="csv", delimiter="ab")
    with pytest.raises(TextFormatError, match="delimiter"):
        TextFormat(kind="csv", delimiter="é")  # the skip scanner works on bytes: ASCII only
    assert TextFormat(kind="txt").label_column is None
    with pytest.raises(TextFormatError, match="txt files are unlabelled"):
        TextFormat(kind="txt", label_column="y")
    with pytest.raises(TextFormatError, match="the same"):
        TextFormat(kind="csv", text_column="x", label_column="x")
    with pytest.raises(TextFormatError, match="columns="):
        TextFormat(kind="tsv", columns=("label", "body"))
    with pytest.raises(TextFormatError, match="no header"):
        TextFormat(kind="jsonl", has_header=True)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TextFormatError, match="is a directory"):
        detect_format(tmp_path, kind="tsv")
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "nope.tsv")
