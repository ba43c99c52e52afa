"""Synonym quality: frequent senses, no vulgar/sexual/slang senses, no capitalised lemmas, no rare words, and
protected tokens (numbers, URLs, e-mail addresses, @mentions, #hashtags, code) that no word op breaks.

The probes are the outputs a careful user reported (issue 12 and issue 10 item 9); the property tests draw
from the real WordNet so they cover the class, not only the examples."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from text_fixtures import text_cache, wn_index  # noqa: F401

from augment.text import chars, eda, wordnet
from augment.text.protect import PROTECTED_RE, protected_words
from augment.text.tokens import tokenize
from augment.text.wordnet import SynonymRules

ANY = SynonymRules(max_senses=0, min_zipf=0, max_words=0)  # runtime limits off: only the build rules remain

# (text, outputs that must never appear) from the report
PROBES = [
    ("best known", ["screwed", "bonked", "jazzed", "bedded"]),
    ("last name", ["finish", "close"]),
    ("children", ["small fries", "fries", "tikes", "nippers"]),
    ("the u s", ["uranium", "atomic number 92", "U"]),
    ("madilyn kahn", ["Louis Isadore Kahn"]),
    ("how far is it", ["ALIR", "FAR"]),
    ("ok", ["Sooner State", "Oklahoma", "OK"]),
    ("battery", ["bombardment", "barrage"]),
    ("bread", ["wampum", "moolah", "dough", "lolly"]),
    ("I loved it!", ["rolled in the hay", "slept together", "bedded", "screwed", "made love"]),
]

# common words with a sexual or vulgar secondary sense
OFFENSIVE_PROBES = ["know", "come", "love", "screw", "bang", "lay", "ball", "blow", "do", "make", "have",
                    "sleep", "get", "hump", "jazz", "bed", "knock", "score", "head", "cock", "pussy", "tail",
                    "ass", "dick", "piece", "job", "nut", "balls", "suck", "lick", "pull", "ride", "mount"]


def _all_outputs(text: str, index, seeds: int = 60) -> set[str]:
    outs = set()
    for seed in range(seeds):
        for op in (lambda r: eda.synonym_replace(text, r, rate=1.0, index=index),
                   lambda r: eda.random_insert(text, r, rate=1.0, index=index)):
            outs.add(op(np.random.default_rng(seed)).text)
    return outs


@pytest.mark.parametrize("text, banned", PROBES)
def test_reported_probes_no_longer_give_their_bad_outputs(wn_index, text, banned):  # noqa: F811
    for out in _all_outputs(text, wn_index):
        for bad in banned:
            assert not re.search(rf"\b{re.escape(bad)}\b", out), (text, out)


@lru_cache(maxsize=1)
def _marked_senses() -> dict[str, set[str]]:
    """lemma -> words of its senses that WordNet or the shipped list marks as offensive (vulgar, sexual,
    slang, slur), straight from the database files, independent of the index build."""
    source = wordnet.locate_wordnet()
    synsets = wordnet._parse_synsets(source)
    marked, listed = wordnet._offensive_senses(synsets), wordnet.offensive_words()
    out: dict[str, set[str]] = {}
    for (pos, offset), (words, _, _, _) in synsets.items():
        for k, word in enumerate(words, start=1):
            if not wordnet._is_offensive(word, k, pos, offset, marked, listed):
                continue
            for other in words:
                if other.lower() != word.lower() and " " not in other:
                    out.setdefault(other.lower(), set()).add(word.lower())
    return out


def test_the_offensive_probe_set_gets_no_offensive_sense(wn_index):  # noqa: F811
    marked = _marked_senses()
    assert {"bonk", "screw", "bed"} <= marked["know"] | marked["love"]  # the filter sees the sexual sense
    hits = {w: set(wn_index.inflected_synonyms(w, rules=ANY)) & marked.get(w, set()) for w in OFFENSIVE_PROBES}
    assert not any(hits.values()), hits
    for word in ("loved", "knew", "known", "screwed", "banged", "laid"):
        offered = {s.lower() for s in wn_index.inflected_synonyms(word, rules=ANY)}
        assert not offered & {"bonked", "screwed", "bedded", "fucked", "humped", "rolled in the hay",
                              "slept together", "had sex", "made love", "got laid"} - {word}, (word, offered)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_no_word_with_a_marked_sense_ever_gets_it(wn_index, data):  # noqa: F811
    marked = _marked_senses()
    lemma = data.draw(st.sampled_from(sorted(w for w in marked if w in wn_index)))
    assert not set(wn_index.synonyms(lemma, rules=ANY)) & marked[lemma]
    assert not set(wn_index.synonyms(lemma)) & marked[lemma]


@lru_cache(maxsize=1)
def _lower_words() -> list[str]:
    index = wordnet.load_index()
    return [w for w in sorted(index._key_id) if w.isalpha() and w.islower() and index.inflected_synonyms(w)]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_lower_case_sentences_never_gain_a_capital_or_a_rare_word(wn_index, data, seed):  # noqa: F811
    words = data.draw(st.lists(st.sampled_from(_lower_words()), min_size=1, max_size=12))
    text = " ".join(words)
    rng = np.random.default_rng(seed)
    for res in (eda.synonym_replace(text, rng, rate=0.5, index=wn_index),
                eda.random_insert(text, rng, rate=0.5, index=wn_index)):
        assert res.text == res.text.lower(), (text, res.text)
        for change in res.changes:
            new = change["after"]
            assert " " not in new  # one word: no multi-word replacement by default
            assert wn_index.zipf(new) >= wordnet.DEFAULT_MIN_ZIPF, (change, wn_index.zipf(new))


def test_replacements_take_the_source_casing(wn_index):  # noqa: F811
    outs = {eda.synonym_replace("MOVIE Movie movie", np.random.default_rng(s), rate=1.0, index=wn_index).text
            for s in range(30)}
    for out in outs:
        a, b, c = out.split()
        assert a.isupper() and b[0].isupper() and b[1:].islower() and c.islower(), out


def test_runtime_rules_loosen_and_tighten(wn_index):  # noqa: F811
    default = set(wn_index.synonyms("film"))
    assert default <= set(wn_index.synonyms("film", rules=ANY))
    assert any(" " in s for s in wn_index.synonyms("film", rules=ANY))  # multi-word when allowed
    assert not any(" " in s for s in default)
    strict = wn_index.synonyms("film", rules=SynonymRules(min_zipf=5.0))
    assert all(wn_index.zipf(s) >= 5.0 for s in strict) and set(strict) < default | {"movie"}


# ------------------------------------------------------------------------------------------ protected tokens

_protected = st.one_of(
    st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,3})?%?\Z"),
    st.from_regex(r"\A[0-9]{1,2}:[0-9]{2}\Z"),
    st.sampled_from(["https://example.org/a_b?x=1", "www.test.com/page", "ann.lee@mail.example.com",
                     "@john_doe", "@ann", "#tbt", "#BlackLivesMatter", "snake_case_name", "camelCase",
                     "f(x)", "os.path.join", "a/b", "v2.0.1", "3.14", "100%", "1,000", "2nd", "$5"]),
)
_plain = st.sampled_from("the movie was good great happy quickly run dog children known loved bread stars "
                         "give it out of".split())


def _protected_chunks(text: str) -> Counter:
    return Counter(chunk for chunk in text.split() if PROTECTED_RE.search(chunk) and protected_words(tokenize(chunk)))


_WORD_OPS = {
    "synonym_replace": lambda t, r, ix: eda.synonym_replace(t, r, rate=1.0, index=ix),
    "random_insert": lambda t, r, ix: eda.random_insert(t, r, rate=1.0, index=ix),
    "random_swap": lambda t, r, ix: eda.random_swap(t, r, rate=1.0),
    "random_delete": lambda t, r, ix: eda.random_delete(t, r, rate=0.9),
    "word_split": lambda t, r, ix: eda.word_split(t, r, rate=1.0, min_chars=2),
    "antonym_replace": lambda t, r, ix: eda.antonym_replace(t, r, rate=1.0, index=ix),
    "keyboard_typo": lambda t, r, ix: chars.keyboard_typo(t, r, word_rate=1.0, char_rate=1.0, min_word_len=1),
    "char_delete": lambda t, r, ix: chars.char_delete(t, r, word_rate=1.0, char_rate=1.0, min_word_len=1),
}


@settings(max_examples=120, deadline=None)
@given(tokens=st.lists(st.one_of(_protected, _plain), min_size=1, max_size=12),
       op=st.sampled_from(sorted(_WORD_OPS)), seed=st.integers(0, 2**32 - 1))
def test_word_ops_never_touch_protected_tokens(wn_index, tokens, op, seed):  # noqa: F811
    text = " ".join(tokens)
    before = _protected_chunks(text)
    res = _WORD_OPS[op](text, np.random.default_rng(seed), wn_index)
    after = Counter(chunk for chunk in res.text.split())
    for chunk, n in before.items():
        assert after[chunk] >= n, (op, text, res.text, chunk)
    for change in res.changes:  # and no change names a piece of one
        assert not any(ch.isdigit() for ch in str(change.get("before") or "")), change


@pytest.mark.parametrize("text, kept", [
    ("i give it 3.5 out of 5 stars", ["3.5", "5"]), ("pi is 3.14", ["3.14"]), ("100% great", ["100%"]),
    ("mail ann.lee@mail.example.com today", ["ann.lee@mail.example.com"]), ("hi @john_doe #tbt", ["@john_doe", "#tbt"]),
])
def test_reported_number_probes(wn_index, text, kept):  # noqa: F811
    for seed in range(40):
        for op in _WORD_OPS.values():
            out = op(text, np.random.default_rng(seed), wn_index).text
            for token in kept:
                assert token in out.split(), (text, out)
            assert "III" not in out and "triad" not in out and "C%" not in out


def test_protection_is_a_parameter_of_every_word_and_char_op(wn_index):  # noqa: F811
    from augment.ops.text_ops import TEXT_OPS

    ops = {op.name: op for op in TEXT_OPS}
    text = "i give it 3.5 out of 5 stars and 100% of @ann_lee"
    for name in ("synonym_replace", "random_insert", "random_swap", "random_delete", "eda", "antonym_replace",
                 "word_split", "keyboard_typo", "ocr_noise", "char_insert", "char_swap", "char_delete"):
        op = ops[name]
        assert op.params().protect is True
        rate = {"word_rate": 1.0} if "word_rate" in op.params.model_fields else \
            {"rate": 1.0} if "rate" in op.params.model_fields else {}
        for seed in range(10):
            out = op.apply_text(text, op.params(**rate), np.random.default_rng(seed)).text
            assert all(t in out.split() for t in ("3.5", "5", "100%", "@ann_lee")), (name, out)
    # off: the pieces of a number are words like any other ("3" -> "three")
    op = ops["synonym_replace"]
    outs = {op.apply_text("3 dogs", op.params(rate=1.0, protect=False, context=False),
                                 np.random.default_rng(s)).text
            for s in range(20)}
    assert any(o.split()[0] != "3" for o in outs)
