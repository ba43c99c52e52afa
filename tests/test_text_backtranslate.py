"""Back-translation: the real apertium binary, and a tiny MarianMT model built by the test."""

import os
import time

import numpy as np
import pytest
from text_fixtures import needs_apertium, tiny_marian  # noqa: F401

from augment.ops.text_ops import TEXT_OPS
from augment.text import backtranslate as bt

# MarianTokenizer suggests sacremoses for punctuation normalisation; irrelevant to the mechanics tested here
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")

OP = {op.name: op for op in TEXT_OPS}["back_translate"]
SENTENCES = [
    "The cat is on the table.",
    "",
    "I really enjoyed this film, it was wonderful!",
    "  Leading and trailing space  ",
    "Two\nlines in one text",
    "Symbols ^ $ [ ] @ * # \\ survive?",
    "   ",
    "Ünïcödé and 東京 pass through.",
]


def test_flatten_makes_one_line_and_keeps_outer_whitespace():
    assert bt.flatten("  a\nb\u2028c\r\n") == ("  ", "a b c", "\r\n")
    assert bt.flatten("   ") == ("   ", "", "")


def test_missing_apertium_says_what_to_install():
    with pytest.raises(bt.BackendUnavailableError, match="apt-get install apertium apertium-eng-spa"):
        bt.ApertiumTranslator(binary="apertium-binary-that-does-not-exist")


@needs_apertium
def test_missing_pair_says_what_to_install():
    translator = bt.ApertiumTranslator()
    with pytest.raises(bt.BackendUnavailableError, match="apt-get install apertium-eng-xyz"):
        translator.round_trip(["Hello"], "eng", "xyz")


@needs_apertium
def test_apertium_batch_keeps_alignment_and_count():
    params = OP.params(batch_size=3)
    rngs = [np.random.default_rng(i) for i in range(len(SENTENCES))]
    results = OP.batch_text(SENTENCES, params, rngs)
    assert len(results) == len(SENTENCES)
    out = [r.text for r in results]
    assert out[1] == "" and out[6] == "   " and not results[1].changes
    assert out[3].startswith("  ") and out[3].endswith("  ")
    assert "\n" not in out[4]
    assert "東京" in out[7]
    assert "table" in out[0] and "film" in out[2].lower()  # real translations, in the right slots
    for old, result in zip(SENTENCES, results):
        if result.text != old:
            assert result.changes == [{"action": "substitute", "position": 0, "scope": "text",
                                       "before": old, "after": result.text, "pivot": "spa"}]
    # batched and one-at-a-time give the same texts: line alignment never slips
    single = [OP.apply_text(s, params, np.random.default_rng(0)).text for s in SENTENCES]
    assert single == out


@needs_apertium
def test_apertium_is_fast_in_batches_and_handles_a_long_line():
    texts = [f"Sentence number {i} says the weather is nice today." for i in range(400)]
    start = time.perf_counter()
    out = bt.back_translate(texts, bt.get_translator("apertium"), source="eng", pivot="spa", batch_size=400)
    rate = len(texts) / (time.perf_counter() - start)
    assert len(out) == 400 and all(f"{i}" in o for i, o in enumerate(out))
    assert rate > 50, f"{rate:.0f} sentences/s"  # ~100x more in practice; a loose floor for slow CI
    long = "The house is big and the garden is green. " * 2500  # ~100 kB on one line
    (result,) = bt.back_translate([long], bt.get_translator("apertium"), source="eng", pivot="spa", batch_size=1)
    assert isinstance(result, str) and len(result) > 50_000


def test_marian_tiny_model_batches_and_aligns(tiny_marian, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    params = OP.params(backend="marian", source="eng", pivot="spa", model_dir=str(tiny_marian), batch_size=2,
                       max_length=8)
    texts = ["the good movie", "", "a bad long film plot", "  story  ", "fun", "dull actor"]
    results = OP.batch_text(texts, params, [np.random.default_rng(i) for i in range(len(texts))])
    assert len(results) == len(texts)
    assert results[1].text == "" and results[1].changes == []
    assert results[3].text.startswith("  ") and results[3].text.endswith("  ")
    assert all(isinstance(r.text, str) for r in results)
    # deterministic decoding, and batching does not change what a text becomes
    single = [OP.apply_text(t, params, np.random.default_rng(0)).text for t in texts]
    assert single == [r.text for r in results]
    translator = bt.get_translator("marian", model_dir=str(tiny_marian), max_length=8)
    assert translator.model_name("eng", "spa") == str(tiny_marian / "en-es")
    assert len(translator.translate(["the plot"] * 5, "eng", "spa")) == 5


def test_marian_explicit_model_paths(tiny_marian):  # noqa: F811
    params = OP.params(backend="marian", forward_model=str(tiny_marian / "en-es"),
                       backward_model=str(tiny_marian / "es-en"), max_length=4)
    assert isinstance(OP.apply_text("the movie", params, np.random.default_rng(0)).text, str)


def test_marian_missing_model_is_a_clear_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache: the model cannot be there
    translator = bt.MarianTranslator()
    with pytest.raises(bt.BackendUnavailableError, match="Helsinki-NLP/opus-mt-en-es.*HF_HUB_OFFLINE"):
        translator.translate(["hello"], "eng", "spa")
    with pytest.raises(bt.BackendUnavailableError, match="no MarianMT model"):
        bt.MarianTranslator(model_dir=str(tmp_path)).translate(["hello"], "eng", "spa")


def test_unknown_backend():
    with pytest.raises(ValueError, match="apertium, marian"):
        bt.get_translator("babelfish")


def test_param_object_loads_nothing():
    before = bt.get_translator.cache_info().currsize
    OP.params(backend="marian", model_dir="/does/not/exist")  # validation only; no model, no error
    assert bt.get_translator.cache_info().currsize == before
    assert os.environ.get("HF_HUB_OFFLINE") in (None, "", "0", "1")


def test_match_style_lowercases_lowercase_sources_and_collapses_spaces():
    assert bt.match_style("a plain lower case source", "If  you want   it ") == "if you want it"
    assert bt.match_style("A Title Case source", "If  you Want") == "If you Want"


@needs_apertium
def test_apertium_round_trip_keeps_a_lowercase_corpus_lowercase():
    params = OP.params(batch_size=10)
    texts = ["if you love reading and or poetry then by all means check it out",
             "the film is a comedy full of gentle humor"]
    out = [r.text for r in OP.batch_text(texts, params, [np.random.default_rng(0)] * 2)]
    assert out != texts
    assert all(t == t.lower() and "  " not in t for t in out)
