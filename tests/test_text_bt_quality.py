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


# ------------------------------------------------------------------------------ more pivots (Debian pairs)

from augment.text.backtranslate import PIVOT_PACKAGES, ApertiumTranslator  # noqa: E402

SST_LIKE = ["the film is a charming and funny story about growing up",
            "a dull movie with a weak script and flat acting",
            "one of the most genuinely sweet films to come along in quite some time"]


@pytest.mark.parametrize("pivot", sorted(PIVOT_PACKAGES))
def test_every_listed_pivot_round_trips_through_a_real_apertium(pivot):
    translator = ApertiumTranslator() if shutil.which("apertium") else None
    if translator is None:
        pytest.skip("apertium absent: apt-get install apertium")
    try:
        modes = (translator.mode("eng", pivot), translator.mode(pivot, "eng"))
    except Exception as exc:
        pytest.skip(f"{PIVOT_PACKAGES[pivot]} absent ({exc})")
    assert all(m in translator.modes for m in modes)  # both directions: "en-gl"/"gl-en", "eng-spa"/"spa-eng"
    pipe = Pipeline(parse_spec({"name": "b", "modality": "text", "seed": 1, "steps": [
        {"op": "back_translate", "params": {"pivot": pivot}}]}))
    results = pipe.run_batch(SST_LIKE, [0, 1, 2])
    changes = [c for r in results for c in r.applied[0]["changes"]]
    assert changes and {c["pivot"] for c in changes} == {pivot}
    for text, res in zip(SST_LIKE, results):
        assert res.output == res.output.lower()  # a lower-case corpus stays lower case
        for change in res.applied[0]["changes"]:
            if change["action"] == "substitute":  # what is kept passed the guard
                assert res.output != text and guard(text, res.output, min_zipf=1.0) is None
            else:
                assert res.output == text and change["reason"]


def test_a_missing_pivot_names_its_debian_package():
    if shutil.which("apertium") is None:
        pytest.skip("apertium absent")
    translator = ApertiumTranslator()
    translator.modes = {"eng-spa", "spa-eng"}  # as on a machine with only the Spanish pair
    with pytest.raises(Exception, match="apt-get install apertium-en-gl"):
        translator.round_trip(["hello"], "eng", "glg")
    with pytest.raises(Exception, match="apt-get install apertium-eo-en"):
        translator.round_trip(["hello"], "eng", "epo")
    assert translator.mode("eng", "spa") == "eng-spa"


@pytest.mark.parametrize("source, output, reason", [
    ("you can sip your vintage wines", "you can sip your vinjarajn wines", "untranslated"),  # Esperanto left over
    ("when the fire burns out", "when the fire elbrulas out", "untranslated"),
    ("i trust a lot of people", "i darse a lot of people", "untranslated"),  # Spanish left over
    ("wendigo is a spooky film", "wendigo is an eerie film", None),  # a rare word the source had is fine
    ("the film was good", "the movie was good", None),
])
def test_the_guard_rejects_words_the_way_back_left_untranslated(source, output, reason):
    assert guard(source, output, min_zipf=1.0) == reason
    assert guard(source, output) in (None, "unchanged")  # off by default in the function (the op sets 1.0)


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.sampled_from("the film was a good and funny story about people who love music".split()),
                      min_size=3, max_size=12), junk=st.text(alphabet="qxzjkvw", min_size=6, max_size=10),
       at=st.integers(0, 11))
def test_any_invented_non_english_word_is_rejected(words, junk, at):
    source = " ".join(words)
    out = words[:]
    out.insert(min(at, len(out)), junk)
    assert guard(source, " ".join(out), min_zipf=1.0, min_similarity=0, length_ratio=(0, 10)) == "untranslated"
    # the same word already in the source is not the translation's doing
    assert guard(source + " " + junk, " ".join(out), min_zipf=1.0, min_similarity=0, length_ratio=(0, 10)) != \
        "untranslated"
