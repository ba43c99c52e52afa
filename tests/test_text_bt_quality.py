"""Back-translation worth using (issue 12 item 4): several pivots drawn per copy, and a guard that keeps the
source (so the run redraws, then drops the copy) when a round trip is unchanged, drifted, broke a protected
token or changed a question word."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.compile.pipeline import Pipeline
from augment.spec import parse_spec
from augment.text.backtranslate import WH_WORDS, guard


@pytest.mark.parametrize("source, output, reason", [
    ("the film was good", "the film was good", "unchanged"),
    ("the film was good", "the", "length"),
    ("the film was good", "a completely different and much longer sentence about nothing", "length"),
    ("the film was good", "xq zv wk pj", "similarity"),
    ("i give it 3.5 out of 5 stars", "i give it 3 out of 5 stars", "protected"),
    ("mail me at ann@example.com now", "mail me to ann at example.com now", "protected"),
    ("what is the capital of france", "which is the capital of france", "wh-word"),
    ("the film was good", "the movie was good", None),
    ("what is the capital of france", "what is the main city of france", None),
])
def test_guard(source, output, reason):
    assert guard(source, output) == reason


@settings(max_examples=100, deadline=None)
@given(wh=st.sampled_from(sorted(WH_WORDS)), other=st.sampled_from(sorted(WH_WORDS)),
       rest=st.lists(st.sampled_from("is the capital of france big city old".split()), min_size=2, max_size=8))
def test_a_changed_question_word_is_rejected_unless_allowed(wh, other, rest):
    source, output = " ".join([wh, *rest]), " ".join([other, *rest[::-1]])
    verdict = guard(source, output, min_similarity=0)
    assert (verdict == "wh-word") == (wh != other) or verdict == "unchanged"
    assert guard(source, output, min_similarity=0, keep_wh=False) in (None, "unchanged")


def _modes() -> str:
    if shutil.which("apertium") is None:
        return ""
    return subprocess.run(["apertium", "-l"], capture_output=True, text=True).stdout


needs_two_pivots = pytest.mark.skipif(not all(m in _modes() for m in ("eng-spa", "spa-eng", "eng-cat", "cat-eng")),
                                      reason="apt-get install apertium apertium-eng-spa apertium-eng-cat")


@needs_two_pivots
def test_copies_go_through_several_pivots_and_the_guard_applies():
    pipe = Pipeline(parse_spec({"name": "b", "modality": "text", "seed": 1, "steps": [
        {"op": "back_translate", "params": {"pivots": ["spa", "cat"]}}]}))
    texts = ["the film was good and the actors were great fun to watch", "i give it 3.5 out of 5 stars",
             "what is the capital of france"] * 6
    results = pipe.run_batch(texts, list(range(len(texts))))
    pivots = {c["pivot"] for r in results for c in r.applied[0]["changes"]}
    assert pivots == {"spa", "cat"}
    for text, res in zip(texts, results):
        if "3.5" in text or "5" in text:
            assert "3.5" in res.output
        if text.startswith("what"):
            assert res.output.split()[0] == "what"
        for change in res.applied[0]["changes"]:
            if change["action"] == "rejected":
                assert res.output == text and change["reason"]
