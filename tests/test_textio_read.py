"""Reading text datasets: every messy-input case of issues 3 and 6, on real files in tmp_path."""

from __future__ import annotations

import json
import random
import re
import tracemalloc
from pathlib import Path

import pytest

from augment.io.text_formats import (
    RowError,
    TextFormat,
    TextFormatError,
    TextRow,
    read_text_dataset,
)

TSV = TextFormat(kind="tsv", has_header=False)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path, fmt: TextFormat | None = None, **kw: int) -> tuple[list[TextRow], list[RowError]]:
    rows: list[TextRow] = []
    errors: list[RowError] = []
    for item in read_text_dataset(path, fmt, **kw):
        (errors if isinstance(item, RowError) else rows).append(item)  # type: ignore[arg-type]
    return rows, errors


def pairs(rows: list[TextRow]) -> list[tuple[str | None, str]]:
    return [(r.label, r.text) for r in rows]


# ------------------------------------------------------------------------------------------ header-less TSV


def test_headerless_tsv_keeps_labels_verbatim_and_numbers_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "a.tsv", b"01\tfirst text\n1\tsecond, with commas; and \"quotes\"\n 0 \tthird\n")
    rows, errors = read(path, TSV)
    assert errors == []
    assert pairs(rows) == [("01", "first text"), ("1", 'second, with commas; and "quotes"'), (" 0 ", "third")]
    assert [(r.index, r.line) for r in rows] == [(0, 1), (1, 2), (2, 3)]
    assert all(r.extra == {} for r in rows)


def test_bom_crlf_and_empty_lines(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf1\tfirst\r\n\r\n\n0\tsecond \r\n1\tno final newline"
    rows, errors = read(write(tmp_path, "a.tsv", data), TSV)
    assert errors == []
    assert pairs(rows) == [("1", "first"), ("0", "second "), ("1", "no final newline")]
    # Empty lines take no index but still count as physical lines.
    assert [(r.index, r.line) for r in rows] == [(0, 1), (1, 4), (2, 5)]


def test_lone_cr_inside_a_line_is_text(tmp_path: Path) -> None:
    rows, _ = read(write(tmp_path, "a.tsv", b"1\ta\rb\n"), TSV)
    assert rows[0].text == "a\rb"


def test_invalid_utf8_costs_one_row_only(tmp_path: Path) -> None:
    data = b"1\tgood one\n0\tbad \xff byte\n1\tcaf\xc3\xa9 good\n0\ttruncated \xe2\x82\n"
    rows, errors = read(write(tmp_path, "a.tsv", data), TSV)
    assert pairs(rows) == [("1", "good one"), ("1", "café good")]
    assert [(e.index, e.line) for e in errors] == [(1, 2), (3, 4)]
    assert errors[0].reason == "invalid UTF-8 at byte 6 of the line (0xff)"
    assert "invalid UTF-8" in errors[1].reason
    assert [r.index for r in rows] == [0, 2]  # errors take indices: valid rows keep theirs


def test_field_count_errors_never_shift_labels(tmp_path: Path) -> None:
    data = b"1\tok\nno tab at all\n0\ttoo\tmany\n1\tstill ok\n\t\n"
    rows, errors = read(write(tmp_path, "a.tsv", data), TSV)
    assert pairs(rows) == [("1", "ok"), ("1", "still ok"), ("", "")]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "expected 2 fields, got 1 (no tab in the line); rows are label<TAB>text"),
        (3, "expected 2 fields, got 3; rows are label<TAB>text"),
    ]


def test_nul_bytes_and_binary_garbage(tmp_path: Path) -> None:
    rng = random.Random(7)
    good = [(str(i % 3), f"sentence number {i}") for i in range(50)]
    lines: list[bytes] = []
    for label, text in good:
        lines.append(f"{label}\t{text}".encode())
        lines.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b""))
    lines.insert(0, b"1\tnul\x00inside")
    rows, errors = read(write(tmp_path, "g.tsv", b"\n".join(lines) + b"\n"), TSV)
    assert pairs(rows)[: len(good)] == good or set(good) <= set(pairs(rows))
    # Every good row is there, in order, with its own label (garbage lines may rarely decode as rows).
    got = [p for p in pairs(rows) if p in set(good)]
    assert got == good
    assert errors[0] == RowError(0, 1, "NUL byte at byte 5 of the line (binary data?)")
    assert len(rows) + len(errors) == len([ln for ln in lines if ln.strip(b"\r")])


def test_one_megabyte_line_is_fine(tmp_path: Path) -> None:
    text = "word " * 200_000 + "end"
    rows, errors = read(write(tmp_path, "a.tsv", f"1\t{text}\n0\tnext\n".encode()), TSV)
    assert errors == [] and pairs(rows) == [("1", text), ("0", "next")]


def test_row_over_the_cap_is_an_error_and_memory_stays_bounded(tmp_path: Path) -> None:
    cap = 1 << 20
    path = tmp_path / "big.tsv"
    with open(path, "wb") as f:
        f.write(b"1\tbefore\n0\t")
        for _ in range(20):
            f.write(b"x" * cap)  # a 20 MiB line
        f.write(b"\n1\tafter\n")
    tracemalloc.start()
    try:
        rows, errors = read(path, TSV, max_row_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pairs(rows) == [("1", "before"), ("1", "after")]
    assert [(e.index, e.line) for e in errors] == [(1, 2)]
    assert errors[0].reason.startswith(f"row longer than {cap} bytes")
    assert peak < 3 * cap  # readline briefly holds about two copies of a capped line


def test_default_cap_is_ten_mebibytes(tmp_path: Path) -> None:
    big = b"y" * (10 * 1024 * 1024)
    rows, errors = read(write(tmp_path, "a.tsv", b"1\t" + big + b"\n0\tok\n"), TSV)
    assert pairs(rows) == [("0", "ok")] and len(errors) == 1


def test_utf16_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.tsv", "1\thello\n".encode("utf-16"))
    with pytest.raises(TextFormatError, match="UTF-16"):
        read(path, TSV)


def test_first_50_rows_of_sst2(shared_dir: Path) -> None:
    rows = read_text_dataset(shared_dir / "datasets/text/sst2/train.tsv")  # detected: header-less label<TAB>text
    first = [next(rows) for _ in range(50)]
    rows.close()
    assert all(isinstance(r, TextRow) for r in first)
    assert {r.label for r in first} <= {"0", "1"}  # type: ignore[union-attr]
    assert [r.index for r in first] == list(range(50))  # type: ignore[union-attr]
    assert first[0].text.startswith("the rock is destined")  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------- CSV with header


CSV = TextFormat(kind="csv")


def test_csv_quoted_delimiters_and_newlines_and_extra_columns(tmp_path: Path) -> None:
    data = (
        b'id,text,label,source\r\n'
        b'7,"hello, world",pos,a\r\n'
        b'8,"spans\r\ntwo lines, ""quoted""",neg,b\r\n'
        b'9,plain,01,\r\n'
    )
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert errors == []
    assert pairs(rows) == [("pos", "hello, world"), ("neg", 'spans\r\ntwo lines, "quoted"'), ("01", "plain")]
    assert [r.line for r in rows] == [2, 3, 5]
    assert rows[0].extra == {"id": "7", "source": "a"} and list(rows[0].extra) == ["id", "source"]
    assert rows[2].extra == {"id": "9", "source": ""}


def test_csv_wrong_field_counts(tmp_path: Path) -> None:
    data = b"text,label\nok,1\ntoo,many,fields\nfew\n,\nlast,0\n"
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert pairs(rows) == [("1", "ok"), ("", ""), ("0", "last")]
    assert [(e.index, e.line, e.reason) for e in errors] == [
        (1, 3, "expected 2 fields, got 3"),
        (2, 4, "expected 2 fields, got 1"),
    ]


def test_csv_missing_label_column_names_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"id,text,label\n1,a,b\n")
    with pytest.raises(TextFormatError, match="label column 'lable' not found in header; columns are: id, text, label"):
        read_text_dataset(path, TextFormat(kind="csv", label_column="lable"))  # raises at call, not at next()


def test_csv_malformed_quoting_is_one_error_row(tmp_path: Path) -> None:
    data = b'text,label\n"closed"then text,1\ngood,0\n"never closed,1\nlost,0\n'
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert pairs(rows) == [("0", "good")]
    assert errors[0].line == 2 and errors[0].reason.startswith("malformed CSV")
    assert errors[1].line == 4 and errors[1].reason == "unclosed quoted field at end of file (record spans lines 4-5)"


def test_csv_invalid_utf8_inside_a_multiline_record(tmp_path: Path) -> None:
    data = b'text,label\n"one\nbad \xfe here",1\n"next, fine",0\n'
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert pairs(rows) == [("0", "next, fine")] and rows[0].line == 4
    assert errors == [RowError(0, 2, "invalid UTF-8 at byte 4 of line 3 (0xfe) (record spans lines 2-3)")]


def test_csv_nul_and_lone_cr(tmp_path: Path) -> None:
    data = b"text,label\nnul\x00,1\nbare\rcr,0\n\"quoted\rcr\",1\n"
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert pairs(rows) == [("1", "quoted\rcr")]
    assert [e.reason for e in errors] == [
        "NUL byte at byte 3 of the line (binary data?)",
        "carriage return inside an unquoted field",
    ]


def test_csv_one_megabyte_field_and_cap(tmp_path: Path) -> None:
    text = "a, b\n" * 200_000
    data = b"text,label\n" + json.dumps(text).encode().replace(b"\\n", b"\n") + b",1\nok,0\n"
    rows, errors = read(write(tmp_path, "a.csv", data), CSV)
    assert errors == [] and pairs(rows) == [("1", text), ("0", "ok")]
    rows, errors = read(write(tmp_path, "b.csv", data), CSV, max_row_bytes=100_000)
    assert errors[0].reason.startswith("row longer than 100000 bytes")
    assert pairs(rows) == [("0", "ok")]  # the rest of the quoted field is skipped, not read as rows


def test_csv_header_only_bom_and_empty_file(tmp_path: Path) -> None:
    fmt = TextFormat(kind="csv")
    rows, errors = read(write(tmp_path, "a.csv", b"\xef\xbb\xbftext,label\n\n"), fmt)
    assert rows == [] and errors == []
    with pytest.raises(TextFormatError, match="empty"):
        read(write(tmp_path, "b.csv", b""), fmt)
    with pytest.raises(TextFormatError, match="duplicate column name 'text'"):
        read(write(tmp_path, "c.csv", b"text,label,text\n"), fmt)


def test_headerless_csv_is_label_comma_text(tmp_path: Path) -> None:
    rows, errors = read(write(tmp_path, "a.csv", b'1,"a, b"\n0,c\n'), TextFormat(kind="csv", has_header=False))
    assert errors == [] and pairs(rows) == [("1", "a, b"), ("0", "c")]


# ------------------------------------------------------------------------------------------- TSV with header


def test_tsv_with_header_quotes_are_literal(tmp_path: Path) -> None:
    data = b'sentence\tid\tlabel\n"quoted" start, comma\t3\tpos\nbad row\n'
    fmt = TextFormat(kind="tsv", has_header=True, text_column="sentence")
    rows, errors = read(write(tmp_path, "a.tsv", data), fmt)
    assert pairs(rows) == [("pos", '"quoted" start, comma')] and rows[0].extra == {"id": "3"}
    assert errors == [RowError(1, 3, "expected 3 fields, got 1 (no tab in the line)")]


def test_tsv_with_header_and_csv_quoting(tmp_path: Path) -> None:
    data = b'text\tlabel\n"a\ttab\nand newline"\t1\n'
    fmt = TextFormat(kind="tsv", has_header=True, quoting="csv")
    rows, errors = read(write(tmp_path, "a.tsv", data), fmt)
    assert errors == [] and pairs(rows) == [("1", "a\ttab\nand newline")]


def test_mismatched_preset_columns_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"text,label\nx,1\n")
    with pytest.raises(TextFormatError, match="header is"):
        read_text_dataset(path, TextFormat(kind="csv", columns=("label", "text")))


# ------------------------------------------------------------------------------------------------------ JSONL


JSONL = TextFormat(kind="jsonl")


def test_jsonl_fields_order_and_label_types(tmp_path: Path) -> None:
    data = (
        '{"id": 1, "text": "héllo\\tworld", "label": "01", "meta": {"a": [1, 2]}}\n'
        '\n'
        '{"label": 1, "text": "number label"}\r\n'
        '{"text": "float", "label": 1.50, "x": null}\n'
    ).encode()
    rows, errors = read(write(tmp_path, "a.jsonl", data), JSONL)
    assert errors == []
    assert pairs(rows) == [("01", "héllo\tworld"), ("1", "number label"), ("1.5", "float")]
    assert [r.label_json for r in rows] == [False, True, True]
    assert rows[0].extra == {"id": 1, "meta": {"a": [1, 2]}}
    assert rows[0].field_order == ("id", "text", "label", "meta")
    assert rows[2].extra == {"x": None} and [r.line for r in rows] == [1, 3, 4]


def test_jsonl_bad_rows(tmp_path: Path) -> None:
    lines = [
        '{"text": "ok", "label": "a"}',
        '{"text": "unterminated',
        '[1, 2]',
        '{"label": "a"}',
        '{"text": 5, "label": "a"}',
        '{"text": "no label"}',
        '{"text": "dup", "text": "dup2", "label": "a"}',
        "[" * 100_000 + "]" * 100_000,
        '{"text": "lone \\ud800 surrogate", "label": "a"}',
        '{"text": "pair \\ud83d\\ude00 fine", "label": "a"}',
    ]
    rows, errors = read(write(tmp_path, "a.jsonl", "\n".join(lines).encode()), JSONL)
    assert pairs(rows) == [("a", "ok"), ("a", "pair 😀 fine")]
    assert [e.reason for e in errors] == [
        "invalid JSON at column 10: Unterminated string starting at",
        "expected a JSON object, got array",
        "missing text field 'text'",
        "text field 'text' is a JSON number, not a string",
        "missing label field 'label'",
        "duplicate key 'text' in JSON object",
        "invalid JSON: nested too deeply",
        "invalid JSON string: a \\u escape of a lone surrogate (not valid Unicode)",
    ]
    assert [e.line for e in errors] == list(range(2, 10))


def test_jsonl_field_missing_from_first_object_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", b'not json\n{"body": "x", "label": 1}\n')
    with pytest.raises(TextFormatError, match=r"text field 'text' not found in the first JSON object \(line 2\); "
                                              r"fields are: body, label"):
        read_text_dataset(path, JSONL)
    rows, _ = read(path, TextFormat(kind="jsonl", text_column="body"))
    assert pairs(rows) == [("1", "x")]


def test_jsonl_first_object_without_the_fields_is_a_bad_row_not_a_bad_file(tmp_path: Path) -> None:
    """Found by the fuzz test: one bad first row ({}) failed the whole file. Only when none of the first
    objects has the fields is the configuration wrong."""
    path = write(tmp_path, "a.jsonl", b'{}\n{"text": "kept", "label": 1}\n{"other": 2}\n')
    rows, errors = read(path, JSONL)
    assert pairs(rows) == [("1", "kept")]
    assert [(e.line, e.reason) for e in errors] == [(1, "missing text field 'text'"), (3, "missing text field 'text'")]
    only_bad = write(tmp_path, "b.jsonl", b'{}\n{"other": 2}\n')
    with pytest.raises(TextFormatError, match=r"text field 'text' not found in the first JSON object \(line 1\)"):
        read_text_dataset(only_bad, JSONL)


def test_jsonl_one_megabyte_line(tmp_path: Path) -> None:
    text = "ünïcode " * 150_000
    rows, errors = read(write(tmp_path, "a.jsonl", json.dumps({"text": text, "label": 0}).encode()), JSONL)
    assert errors == [] and rows[0].text == text


# -------------------------------------------------------------------------------------------------------- TXT


def test_txt_lines_unlabelled(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbffirst\tline\r\n\n  spaced  \nbad\xc0\nlast"
    rows, errors = read(write(tmp_path, "a.txt", data), TextFormat(kind="txt", label_column=None))
    assert pairs(rows) == [(None, "first\tline"), (None, "  spaced  "), (None, "last")]
    assert [(e.index, e.line) for e in errors] == [(2, 4)]


def test_reader_is_lazy_and_closes(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", b"".join(b"line %d\n" % i for i in range(1000)))
    it = read_text_dataset(path, TextFormat(kind="txt", label_column=None))
    assert next(it).text == "line 0"  # type: ignore[union-attr]
    it.close()


def test_csv_over_cap_record_is_skipped_to_its_real_end(tmp_path: Path) -> None:
    # One physical line over the cap inside a quoted field that goes on with delimiters, doubled quotes and CRs.
    long_line = b'x, ""y"", \r' * 20_000  # 220 kB on one line
    data = (
        b"text,label\nfirst,1\n"
        b'"starts here\n' + long_line + b"\nmore, \"\"quoted\"\" text\n1,2,3\",0\n"
        b'after,1\n"also, too long\n' + b"z,\n" * 30_000 + b'",0\nlast,0\n'
    )
    rows, errors = read(write(tmp_path, "a.csv", data), CSV, max_row_bytes=50_000)
    assert pairs(rows) == [("1", "first"), ("1", "after"), ("0", "last")]
    assert [(e.index, e.line) for e in errors] == [(1, 3), (3, 8)]
    assert errors[0].reason.endswith("(record spans lines 3-6)")
    assert [r.index for r in rows] == [0, 2, 4] and rows[2].line == 30_010


def test_csv_unclosed_quote_with_cap_reports_the_rest_as_one_row(tmp_path: Path) -> None:
    data = b'text,label\nok,1\n"never closed,0\n' + b"swallowed,1\n" * 10_000
    rows, errors = read(write(tmp_path, "a.csv", data), CSV, max_row_bytes=10_000)
    assert pairs(rows) == [("1", "ok")]
    assert len(errors) == 1 and "its quoted field is never closed" in errors[0].reason


def test_quote_scanner_agrees_with_the_csv_module() -> None:
    """The skipping scanner must end records exactly where the csv module does, or rows would shift."""
    import csv

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from augment.io.text_reader import _QuoteScanner

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet='ab,"\r\n', max_size=60))
    def check(doc: str) -> None:
        lines = [ln for ln in re.split(r"(?<=\n)", doc) if ln]  # LF-terminated pieces, as our reader splits
        reader = csv.reader(iter(lines), strict=True)
        ends_csv: list[int] = []
        while True:
            try:
                next(reader)
            except StopIteration:
                break
            except csv.Error:
                pass
            if not ends_csv or reader.line_num != ends_csv[-1]:
                ends_csv.append(reader.line_num)
        scanner = _QuoteScanner(",")
        ends_scan = [i + 1 for i, ln in enumerate(lines) if (scanner.feed(ln.encode()), not scanner.in_quotes)[1]]
        if lines and scanner.in_quotes:
            ends_scan.append(len(lines))  # end of file closes the last record
        assert ends_scan == ends_csv

    check()



def _has_fields(line: bytes) -> bool:
    from augment.io.text_reader import _parse_json

    try:
        text = line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return False
    obj, _ = _parse_json(text) if text and "\x00" not in text else (None, None)
    return obj is not None and "text" in obj and "label" in obj


FUZZ_FORMATS = [
    ("a.tsv", b"", TSV),
    ("b.tsv", b"text\tlabel\n", TextFormat(kind="tsv", has_header=True)),
    ("c.csv", b"text,label\n", CSV),
    ("d.tsv", b"text\tlabel\n", TextFormat(kind="tsv", has_header=True, quoting="csv")),
    ("e.jsonl", b"", JSONL),
    ("f.txt", b"", TextFormat(kind="txt")),
]


@pytest.mark.parametrize(("name", "header", "fmt"), FUZZ_FORMATS, ids=[f[0] for f in FUZZ_FORMATS])
def test_fuzz_arbitrary_bytes_give_rows_or_row_errors(name: str, header: bytes, fmt: TextFormat) -> None:
    """Whatever follows a valid header: no exception, indices dense, and in line formats one item per
    non-empty line (nothing silently dropped)."""
    import tempfile

    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from([b"a", b"b c", b"\t", b",", b'"', b"\n", b"\r\n", b"\r", b"\x00", b"\xff", b"\xc3\xa9",
                              b"\xef\xbb\xbf", b'{"text": "x", "label": 1}', b"{", b"}", b"1"])

    @settings(max_examples=150, deadline=None)
    @given(st.one_of(st.binary(max_size=200), st.lists(pieces, max_size=40).map(b"".join)))
    def check(body: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(header + body)
            if not header and (body[:2] in (b"\xff\xfe", b"\xfe\xff") or body.startswith(b"\0\0\xfe\xff")):
                with pytest.raises(TextFormatError, match="UTF-16"):  # a file-level verdict, by design
                    read_text_dataset(path, fmt)
                return
            try:
                items = list(read_text_dataset(path, fmt, max_row_bytes=64))
            except TextFormatError as exc:  # allowed only for a JSONL file no object of which has the fields
                assert fmt.kind == "jsonl" and "not found in the first JSON object" in str(exc)
                assert not any(_has_fields(line) for line in body.split(b"\n"))
                return
        assert [i.index for i in items] == list(range(len(items)))
        assert all("\n" not in i.reason for i in items if isinstance(i, RowError))
        if fmt.quoting == "none" or fmt.kind in ("jsonl", "txt"):
            lines = [ln for ln in (header + body).split(b"\n") if ln not in (b"", b"\r")]
            if body.startswith(b"\xef\xbb\xbf") and not header:
                lines = [ln for ln in (body[3:]).split(b"\n") if ln not in (b"", b"\r")]
            assert len(items) == len(lines) - (1 if header else 0)

    check()
