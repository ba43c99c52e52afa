"""Messy text datasets through the real CLI: bad rows reported by line, nothing else lost, labels never shifted."""

import json

import pytest

from augment.io.text_formats import RowError, detect_format, read_text_dataset
from conftest import PIPELINES
from test_expander import augment_cli

EDA = PIPELINES / "eda.yaml"


def data_rows(path, **kw):
    return [r for r in read_text_dataset(path, detect_format(path, **kw)) if not isinstance(r, RowError)]


def run_copies_one(src, out, *extra):
    proc = augment_cli("run", EDA, src, out, "--copies", "1", "--include-originals", "--engine", "serial", *extra)
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    return json.loads(proc.stdout), errors


def test_messy_tsv(tmp_path):
    long_text = "word " * 200_000  # a 1 MB line is data, not an error
    raw = (
        b"\xef\xbb\xbf"  # BOM
        + b"pos\tgood film\r\n"  # CRLF
        + b"neg\tbad \xff film\n"  # invalid UTF-8
        + b"\n\n"  # empty lines
        + b"pos\t" + long_text.encode() + b"\n"
        + b"neg\ttoo\tmany fields\n"
        + b"pos\tcommas, are fine; in tsv\n"  # mixed delimiters
        + b"\x00\x01\x02\x89PNG garbage\n"  # binary garbage
        + b"neg\tlast good row\n"
    )
    src = tmp_path / "messy.tsv"
    src.write_bytes(raw)
    out = tmp_path / "out"
    summary, errors = run_copies_one(src, out)
    assert sorted(e["line"] for e in errors) == [2, 6, 8]
    assert all(e["source"] == "messy.tsv" and "\n" not in e["error"] for e in errors)
    got = data_rows(out / "messy.tsv")
    originals = got[0::2]
    assert [(r.label, r.text[:12]) for r in originals] == [
        ("pos", "good film"), ("pos", long_text[:12]), ("pos", "commas, are "), ("neg", "last good ro")]
    assert [r.label for r in got[1::2]] == ["pos", "pos", "pos", "neg"]  # each copy follows its own original
    assert summary["items"] == 4 and summary["errors"] == 3
    assert (out / "messy.tsv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_csv_quoting_and_bad_rows(tmp_path):
    src = tmp_path / "d.csv"
    src.write_bytes(
        b'label,text\n'
        b'a,"a, quoted ""field"" with\nan embedded newline"\n'
        b'b,plain\n'
        b'c,one,two,three\n'
        b'd,"unterminated\n'
    )
    out = tmp_path / "out"
    summary, errors = run_copies_one(src, out)
    got = data_rows(out / "d.csv")
    assert [r.label for r in got[0::2]] == ["a", "b"]
    assert got[0].text == 'a, quoted "field" with\nan embedded newline'
    assert {e["line"] for e in errors} == {5, 6}  # the quoted record spans lines 2-3


def test_missing_label_column_is_one_line_error(tmp_path):
    src = tmp_path / "d.csv"
    src.write_text("id,sentence\n1,hello there\n", encoding="utf-8")
    proc = augment_cli("run", EDA, src, tmp_path / "o", "--label-column", "lable", "--text-column", "sentence",
                       check=False)
    assert proc.returncode == 1 and "lable" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize("label", ["../../escape", "/abs/path", "a\x00b", "..", "CON"])
def test_labels_never_become_paths(tmp_path, label):
    src = tmp_path / "d.tsv"
    src.write_bytes(f"{label}\tsome text to change here\n".encode("utf-8", "surrogatepass"))
    out = tmp_path / "out"
    augment_cli("run", EDA, src, out, "--copies", "2", "--engine", "serial", check=False)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and out not in p.parents and p != src]
    assert outside == []
