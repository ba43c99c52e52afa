"""Multi-word synonyms (``max_words`` other than 1) only where they keep the sentence's grammar as well as a
one-word synonym would (issue 12): the phrase's inflected word carries the replaced word's form.

The property tests draw their cases from WordNet itself: lemmas that have multi-word synonyms, put into every
form the morphology can build, replaced with multi-word synonyms allowed; every multi-word replacement chosen
must have its head in the source token's form, judged by spelling (an oracle independent of the index)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from text_fixtures import text_cache, wn_index  # noqa: F401

from augment.text import eda
from augment.text.morphology import PAST, PLURAL, PRESENT_PARTICIPLE, THIRD_PERSON
from augment.text.wordnet import POS_BITS, SynonymRules

MULTI = SynonymRules(max_senses=0, min_zipf=0, max_words=0)  # every multi-word synonym the build rules keep
N, V, A, R = (POS_BITS[p] for p in "nvar")


def test_nouns_take_the_number_of_the_word_they_replace(wn_index):  # noqa: F811
    assert "domestic dogs" in wn_index.inflected_synonyms("dogs", rules=MULTI)
    assert "domestic dog" in wn_index.inflected_synonyms("dog", rules=MULTI)
    assert not {"domestic dog", "hot dog"} & set(wn_index.inflected_synonyms("dogs", rules=MULTI))
    assert "motion pictures" in wn_index.inflected_synonyms("films", rules=MULTI)
    assert "motion picture" not in wn_index.inflected_synonyms("films", rules=MULTI)
    # a lemma that is also a plural ("arms" = weapons, and more than one arm) has no known number
    assert not [s for s in wn_index.inflected_synonyms("arms", rules=MULTI) if " " in s]
    assert "weaponry" in wn_index.inflected_synonyms("arms", rules=MULTI)  # one-word synonyms stay


def test_verbs_inflect_their_first_word(wn_index):  # noqa: F811
    ran = wn_index.inflected_synonyms("ran", rules=MULTI)
    assert "ran away" in ran and "run away" not in ran and "runs away" not in ran
    # "stopped" is also an adjective lemma (a stopped drain): read as a past, its form is a guess
    assert not [s for s in wn_index.inflected_synonyms("stopped", rules=MULTI) if " " in s]
    assert "halted" in wn_index.inflected_synonyms("stopped", rules=MULTI)
    # "found" is a lemma (to found a company) and the past of "find": a base-form phrase could stand where a
    # past belongs, so none is offered; "come" and "read" are their own participle or past
    for word in ("found", "come", "read"):
        assert not [s for s in wn_index.synonyms(word, rules=MULTI) if " " in s], word


@pytest.mark.parametrize("phrase, bits, source, form, fits", [
    ("hot dog", N, "dogs", PLURAL, True),
    ("hot dog", N, "dog", None, True),
    ("hot dogs", N, "dogs", PLURAL, False),         # head already plural: "hot dogses"
    ("final stages", N, "end", None, False),        # a plural phrase for a singular word
    ("man of war", N, "warships", PLURAL, False),   # head not last
    ("xyzzy plugh", N, "dog", None, False),         # unknown head: its number is unknown
    ("run away", V, "ran", PAST, True),
    ("run away", V, "flee", None, True),
    ("run away", V, "found", None, False),          # "found" may be a past
    ("be active", V, "acted", PAST, False),         # auxiliary first word
    ("xyzzy away", V, "ran", PAST, False),          # unknown verb
    ("early on", A, "early", None, True),           # "early" is an adjective in 119 of 145 tagged uses
    ("early on", R, "early", None, False),          # ... so not the adverb phrase
    ("early on", A | R, "early", None, False),      # a phrase must fit every part of speech it came from
    ("early on", A, "earlier", PAST, False),        # adjectives and adverbs are not inflected
    ("color in", V, "color", None, False),          # "color" is a noun in 58 of 72 tagged uses
    ("wear upon", V, "tiring", PRESENT_PARTICIPLE, False),   # "tiring" is an adjective lemma too
    ("tell apart", V, "distinguished", PAST, False),
    ("incompetent person", N, "incompetent", None, False),   # two tagged uses: no usual part of speech
    ("a great deal", R, "much", None, False),       # needs an article around it
    ("in a flash", R, "instantly", None, False),
    ("hot dog", N | V, "dog", None, False),         # fits as a noun, not as a verb (first word not a verb)
])
def test_phrase_fits(wn_index, phrase, bits, source, form, fits):  # noqa: F811
    assert wn_index._phrase_fits(phrase, bits, source, form) is fits


def test_the_default_rules_offer_one_word_only(wn_index):  # noqa: F811
    for word in ("dog", "dogs", "ran", "film", "films", "stopped", "left"):
        assert not [s for s in wn_index.inflected_synonyms(word) if " " in s]


# ----------------------------------------------------------------------------------------- generated cases


def _readings(word: str, index) -> set[tuple[str, str]]:
    """(part of speech, form) readings of ``word`` from WordNet's data alone: "base" where it is a lemma of
    that part of speech, and each inflection of a lemma the morphology finds (the oracle's view of a word)."""
    bits = index._lemma_pos(word)
    out = {(pos, "base") for pos in "nvar" if bits & POS_BITS[pos]}
    out |= {(pos, form) for lemma, pos, form in index.morphology.analyses(word)
            if index._lemma_pos(lemma) & POS_BITS[pos]}
    if bits & V and index.morphology.may_be_past(word):  # "put", "set": their own past
        out.add(("v", PAST))
    return out


def _agrees(token: str, phrase: str, index) -> bool:
    """Some reading of ``token`` has ``phrase``'s inflected word in the token's form: the last word's number
    for a noun (a base-form token's head has no plural reading), the first word's form for a verb, and no
    inflection and no article for an adjective or adverb."""
    words = phrase.split()
    head_n, head_v = _readings(words[-1], index), _readings(words[0], index)
    for pos, form in _readings(token, index):
        if pos == "n" and form == PLURAL and ("n", PLURAL) in head_n:
            return True
        if pos == "n" and form == "base" and ("n", "base") in head_n and ("n", PLURAL) not in head_n:
            return True
        if pos == "v" and ("v", form) in head_v:
            return True
        if pos in "ar" and form == "base" and not {"a", "an", "the"} & set(words):
            return True
    return False


@pytest.fixture(scope="module")
def generated_tokens(wn_index):  # noqa: F811
    """Surface forms of 400 random WordNet lemmas that have multi-word synonyms before the grammar check:
    the lemma itself, its plural when it is a noun, its -s, -ed and -ing forms when it is a verb."""
    keys = [wn_index._strings[i] for i in range(len(wn_index))]
    with_phrases = [k for k in keys if k.isalpha() and any(" " in s for s in wn_index._synonyms(
        k, None, MULTI, as_written=False))]
    lemmas = random.Random(12).sample(with_phrases, 400)
    morph = wn_index.morphology
    tokens = set(lemmas)
    for lemma in lemmas:
        bits = wn_index._lemma_pos(lemma)
        forms = ([("n", PLURAL)] if bits & N else []) + \
                ([("v", f) for f in (THIRD_PERSON, PAST, PRESENT_PARTICIPLE)] if bits & V else [])
        tokens.update(t for t in (morph.inflect(lemma, pos, form) for pos, form in forms) if t)
    return sorted(tokens)


def test_every_multi_word_replacement_has_its_head_in_the_source_form(wn_index, generated_tokens):  # noqa: F811
    chosen, bad = 0, []
    for k, token in enumerate(generated_tokens):
        for seed in range(3):
            result = eda.synonym_replace(token, np.random.default_rng([k, seed]), rate=1.0, index=wn_index,
                                         rules=MULTI)
            for change in result.changes:
                after = change["after"]
                if " " in after:
                    chosen += 1
                    if not _agrees(token, after.lower(), wn_index):
                        bad.append((token, after))
    assert not bad, bad[:20]
    assert chosen >= 100  # the property is not vacuous: multi-word replacements do happen


def test_without_the_check_the_property_fails(wn_index, generated_tokens):  # noqa: F811
    """The oracle can fail: the unchecked multi-word synonyms of the same tokens break it."""
    broken = [(t, s) for t in generated_tokens for s in wn_index._synonyms(t, None, MULTI, as_written=False)
              if " " in s and not _agrees(t, s, wn_index)]
    assert len(broken) >= 20


def test_max_words_caps_the_phrase_length(wn_index, generated_tokens):  # noqa: F811
    two = SynonymRules(max_senses=0, min_zipf=0, max_words=2)
    for token in generated_tokens[:200]:
        assert all(len(s.split()) <= 2 for s in wn_index.inflected_synonyms(token, rules=two))
