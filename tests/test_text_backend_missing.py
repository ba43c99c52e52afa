"""A backend a text pipeline needs (Apertium for back-translation and for `context: true`, the marian extra) is
checked when the pipeline is compiled: one line per run with exit 7, before any output, never an error per row."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from text_fixtures import needs_apertium  # noqa: F401

from augment import Pipeline
from augment.extras import MissingExtraError
from augment.spec import parse_spec
from augment.text.backtranslate import BackendUnavailableError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = "pos\tthe film was really good\nneg\ta dull and slow story\npos\ta funny and clever script\n"


def _spec(tmp_path, name: str, step: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nmodality: text\ncopies: 2\nsteps:\n  - {step}\n")
    return path


def _run(tmp_path, spec, out, path_dir=None):
    data = tmp_path / "data.tsv"
    data.write_text(ROWS)
    env = dict(os.environ, PYTHONPATH=REPO)
    if path_dir is not None:
        env["PATH"] = str(path_dir)  # no apertium, no lt-proc: sys.executable is an absolute path
    return subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(data), str(out), "-q"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


@pytest.mark.parametrize("step, says", [
    ("op: back_translate", "back_translate.*needs the 'apertium' command: apt-get install apertium"),
    ("op: back_translate\n    params: {pivots: [spa, cat]}", "needs the 'apertium' command"),
    ("op: eda", r"op 'eda' \(steps\[0\]\).*Apertium English tagger.*or set context: false"),
    ("op: synonym_replace\n    params: {context: true}", "Apertium English tagger"),
    ("op: random_insert", "Apertium English tagger"),
    ("op: antonym_replace", "Apertium English tagger"),
])
def test_a_missing_apertium_stops_the_run_in_one_line_with_exit_7(tmp_path, step, says):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "out"
    proc = _run(tmp_path, _spec(tmp_path, "p", step), out, empty)
    assert proc.returncode == 7, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert __import__("re").search(says, lines[0]), lines[0]
    assert not out.exists()  # nothing started: no rows failed one by one


def test_context_false_needs_no_apertium(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = _run(tmp_path, _spec(tmp_path, "p", "op: synonym_replace\n    params: {context: false, rate: 0.5}"),
                tmp_path / "out", empty)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "out" / "errors.jsonl").exists() or not (tmp_path / "out" / "errors.jsonl").read_text()


@needs_apertium
def test_a_missing_pivot_pair_stops_the_run_naming_the_package(tmp_path):
    out = tmp_path / "out"
    proc = _run(tmp_path, _spec(tmp_path, "p", "op: back_translate\n    params: {pivots: [spa, xyz]}"), out)
    assert proc.returncode == 7, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "op 'back_translate' (steps[0])" in proc.stderr and "apt-get install apertium-eng-xyz" in proc.stderr
    assert not out.exists()


@needs_apertium
def test_the_library_says_it_when_the_pipeline_is_made(monkeypatch, tmp_path):
    def spec(params):
        return parse_spec({"name": "bt", "modality": "text", "steps": [{"op": "back_translate", "params": params}]})

    Pipeline(spec({"pivot": "spa"}))  # installed: fine
    with pytest.raises(BackendUnavailableError, match="apertium-eng-xyz") as info:
        Pipeline(spec({"pivot": "xyz"}))
    assert "\n" not in str(info.value)
    # the marian backend needs the marian extra, whatever the model: checked at once too
    import augment.extras as extras

    monkeypatch.setattr(extras, "missing", lambda extra: ["transformers"] if extra == "marian" else [])
    with pytest.raises(MissingExtraError, match="back_translate backend 'marian' needs the 'marian' extra"):
        Pipeline(spec({"backend": "marian"}))
    Pipeline(spec({"backend": "apertium"}))
    monkeypatch.setenv("AUGMENT_APERTIUM_ENG", str(tmp_path))  # a folder without the tagger's files
    with pytest.raises(BackendUnavailableError, match="context: false"):
        Pipeline(parse_spec({"name": "e", "modality": "text", "steps": [{"op": "eda"}]}))
    Pipeline(parse_spec({"name": "e", "modality": "text", "steps": [{"op": "eda", "params": {"context": False}}]}))


def test_the_service_answers_503_naming_the_missing_backend(tmp_path):
    from serve_support import Server

    empty = tmp_path / "bin"
    empty.mkdir()
    server = Server(env={"PATH": str(empty)})
    try:
        for spec, says in (("name: e\nmodality: text\nsteps:\n  - op: eda\n", "Apertium English tagger"),
                           ("name: b\nmodality: text\nsteps:\n  - op: back_translate\n", "'apertium' command")):
            reply = server.post("/v1/augment", {"spec": spec, "seed": 1, "items": [{"text": "a good film"}]})
            assert reply.status == 503 and says in reply.json()["error"], reply.body
        ok = server.post("/v1/augment", {"spec": "name: e\nmodality: text\nsteps:\n  - op: eda\n    params: "
                                         "{context: false}\n", "seed": 1, "items": [{"text": "a good film"}]})
        assert ok.status == 200, ok.body
    finally:
        server.stop()
