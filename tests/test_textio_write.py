"""Writing text datasets: same layout as the input, and written rows read back unchanged (property tests)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augment.io.text_formats import (
    RowError,
    TextDatasetWriter,
    TextFormat,
    TextRow,
    UnrepresentableRowError,
    detect_format,
    format_row,
    read_text_dataset,
    write_header,
)


def read_all(path: Path, fmt: TextFormat | None = None) -> list[TextRow]:
    items = list(read_text_dataset(path, fmt))
    assert not [i for i in items if isinstance(i, RowError)], items
    return items  # type: ignore[return-value]


def copy_dataset(src: Path, dst: Path) -> TextFormat:
    fmt = detect_format(src)
    with TextDatasetWriter(dst, fmt) as w:
        w.write_rows(r for r in read_text_dataset(src, fmt) if isinstance(r, TextRow))
    return fmt


# ------------------------------------------------------------------------------------ same layout as the input


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.tsv", b"1\tone\n0\ttwo\n", b"1\tone\n0\ttwo\n"),
        ("crlf.tsv", b"1\tone\r\n\r\n0\ttwo", b"1\tone\n0\ttwo\n"),  # LF, no empty lines, final newline
        ("bom.tsv", b"\xef\xbb\xbf1\tone\n", b"\xef\xbb\xbf1\tone\n"),  # BOM kept because the input had one
        (
            "a.csv",
            b'id,text,label\r\n1,"a, b",x\r\n2,"multi\nline ""q""",y\r\n',
            b'id,text,label\n1,"a, b",x\n2,"multi\nline ""q""",y\n',
        ),
        ("quoted-all.csv", b'"text","label"\n"plain","1"\n', b"text,label\nplain,1\n"),  # minimal quoting
        (
            "a.jsonl",
            '{"id": 3, "label": 1, "text": "é \\u00e9"}\n{"text":"x","label":"01","extra":[1.5,null]}\n'.encode(),
            '{"id": 3, "label": 1, "text": "é é"}\n{"text": "x", "label": "01", "extra": [1.5, null]}\n'.encode(),
        ),
        ("a.txt", b"one\n\ntwo\r\n", b"one\ntwo\n"),
    ],
)
def test_copy_keeps_the_layout(tmp_path: Path, name: str, data: bytes, expected: bytes) -> None:
    src = tmp_path / name
    src.write_bytes(data)
    dst = tmp_path / f"out-{name}"
    copy_dataset(src, dst)
    assert dst.read_bytes() == expected


def test_sst2_copy_is_byte_identical(tmp_path: Path, shared_dir: Path) -> None:
    src = shared_dir / "datasets/text/sst2/train.tsv"  # read in place, never copied into the repo
    copy_dataset(src, tmp_path / "train.tsv")
    assert (tmp_path / "train.tsv").read_bytes() == src.read_bytes()


def test_augmented_row_keeps_label_and_extra_columns(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text,label,split\n7,old text,01,train\n")
    fmt = detect_format(src)
    (row,) = read_all(src, fmt)
    assert format_row(replace(row, text="new, text"), fmt) == '7,"new, text",01,train\n'
    assert write_header(fmt) == "id,text,label,split\n"


def test_headerless_tsv_replaces_tabs_and_newlines_by_spaces(tmp_path: Path) -> None:
    fmt = TextFormat(kind="tsv", has_header=False)
    row = TextRow(index=0, line=1, text="a\tb\nc\r\nd", label="1")
    assert format_row(row, fmt) == "1\ta b c  d\n"
    txt = TextFormat(kind="txt", label_column=None)
    assert format_row(TextRow(0, 1, "x\ty\nz"), txt) == "x\ty z\n"  # TAB is fine in txt


def test_unrepresentable_rows_raise() -> None:
    tsv = TextFormat(kind="tsv", has_header=False)
    csv_fmt = TextFormat(kind="csv", columns=("text", "label"))
    txt = TextFormat(kind="txt", label_column=None)
    with pytest.raises(UnrepresentableRowError, match="NUL"):
        format_row(TextRow(0, 1, "nul\x00", "1"), tsv)
    with pytest.raises(UnrepresentableRowError, match="NUL"):
        format_row(TextRow(0, 1, "nul\x00", "1"), csv_fmt)
    with pytest.raises(UnrepresentableRowError, match="not valid Unicode"):
        format_row(TextRow(0, 1, "lone \ud800", "1"), csv_fmt)
    with pytest.raises(UnrepresentableRowError, match="empty line"):
        format_row(TextRow(0, 1, ""), txt)
    with pytest.raises(UnrepresentableRowError, match="no label"):
        format_row(TextRow(0, 1, "x"), tsv)
    with pytest.raises(UnrepresentableRowError, match="columns not in the format: source"):
        format_row(TextRow(0, 1, "x", "1", extra={"source": "a"}), csv_fmt)
    with pytest.raises(UnrepresentableRowError, match="no value for column 'id'"):
        format_row(TextRow(0, 1, "x", "1"), replace(csv_fmt, columns=("id", "text", "label")))
    # JSON escapes NUL, so JSONL can hold it.
    jsonl = TextFormat(kind="jsonl")
    assert format_row(TextRow(0, 1, "nul\x00", "1"), jsonl) == '{"text": "nul\\u0000", "label": "1"}\n'


def test_first_row_starting_with_feff_survives(tmp_path: Path) -> None:
    fmt = TextFormat(kind="txt", label_column=None)
    with TextDatasetWriter(tmp_path / "a.txt", fmt) as w:
        w.write(TextRow(0, 1, "\ufeffstarts with a zero-width no-break space"))
    assert read_all(tmp_path / "a.txt", fmt)[0].text == "\ufeffstarts with a zero-width no-break space"


def test_header_and_format_row_compose_like_the_writer(tmp_path: Path) -> None:
    fmt = TextFormat(kind="tsv", has_header=True, columns=("text", "label"), bom=True)
    rows = [TextRow(i, i + 2, f"text {i}", str(i)) for i in range(3)]
    with TextDatasetWriter(tmp_path / "a.tsv", fmt) as w:
        assert w.write_rows(rows) == 3
    chunk = write_header(fmt) + "".join(format_row(r, fmt) for r in rows)
    assert (tmp_path / "a.tsv").read_bytes() == chunk.encode("utf-8")
    assert chunk.startswith("\ufefftext\tlabel\n")


# ------------------------------------------------------------------------------------------ property: round trip


NO_NUL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
TRICKY = st.sampled_from(["", " ", "\t", "\n", "\r", "\r\n", '"', '""', ",", ";", "\ufeff", "\u2028", "\x85", "é"])
VALUE = st.one_of(NO_NUL, TRICKY, st.lists(TRICKY, max_size=6).map("".join))

TABULAR = [
    TextFormat(kind="tsv", has_header=False),
    TextFormat(kind="tsv", has_header=True, columns=("id", "text", "label")),
    TextFormat(kind="tsv", has_header=True, quoting="csv", columns=("text", "label", "note")),
    TextFormat(kind="csv", columns=("text", "id", "label")),
    TextFormat(kind="csv", has_header=False, bom=True),
    TextFormat(kind="csv", delimiter=";", columns=("label", "a", "text", "b")),
    TextFormat(kind="csv", label_column=None, columns=("text",)),
]


def flattened(value: str, fmt: TextFormat) -> str:
    """What the documented lossy rule makes of a value in a format without quoting."""
    if fmt.quoting == "csv" and fmt.kind != "txt":
        return value
    for ch in ("\n", "\r", str(fmt.delimiter or "\n")):
        value = value.replace(ch, " ")
    return value


def roundtrip(fmt: TextFormat, rows: list[TextRow]) -> list[TextRow]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data.{fmt.kind}"
        with TextDatasetWriter(path, fmt) as w:
            w.write_rows(rows)
        return read_all(path, fmt)


@pytest.mark.parametrize("fmt", TABULAR, ids=lambda f: f"{f.kind}-{f.quoting}-{len(f.columns or ())}")
def test_tabular_roundtrip(fmt: TextFormat) -> None:
    assert fmt.columns is not None
    others = [c for c in fmt.columns if c not in (fmt.text_column, fmt.label_column)]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(VALUE, VALUE, st.lists(VALUE, min_size=len(others), max_size=len(others))),
                    min_size=1, max_size=4))
    def check(drawn: list[tuple[str, str, list[str]]]) -> None:
        rows = [
            TextRow(i, 0, text, label if fmt.label_column else None, dict(zip(others, extra)))
            for i, (text, label, extra) in enumerate(drawn)
        ]
        back = roundtrip(fmt, rows)
        assert [(r.text, r.label, dict(r.extra)) for r in back] == [
            (flattened(r.text, fmt), None if r.label is None else flattened(r.label, fmt),
             {k: flattened(v, fmt) for k, v in r.extra.items()})
            for r in rows
        ]
        assert [r.index for r in back] == list(range(len(rows)))

    check()


JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(),  # anything but lone surrogates: JSON escapes control characters, NUL included
    label=st.one_of(st.text(), JSON_SCALAR),
    extra=st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("text", "label")), JSON_VALUE, max_size=4),
    data=st.data(),
)
def test_jsonl_roundtrip(text: str, label: Any, extra: dict[str, Any], data: st.DataObject) -> None:
    order = data.draw(st.permutations(["text", "label", *extra]))
    label_json = not isinstance(label, str)
    row = TextRow(0, 1, text, json.dumps(label) if label_json else label, extra, tuple(order), label_json)
    (back,) = roundtrip(TextFormat(kind="jsonl"), [row])
    assert (back.text, back.label, back.label_json, back.extra, back.field_order) == (
        row.text, row.label, row.label_json, row.extra, row.field_order)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1),
                min_size=1, max_size=5), st.booleans())
def test_txt_roundtrip(texts: list[str], bom: bool) -> None:
    fmt = TextFormat(kind="txt", label_column=None, bom=bom)
    back = roundtrip(fmt, [TextRow(i, 0, t) for i, t in enumerate(texts)])
    assert [r.text for r in back] == [flattened(t, fmt) for t in texts]
