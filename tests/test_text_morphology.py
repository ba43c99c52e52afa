"""Inflecting WordNet synonyms into the form of the word they replace (augment.text.morphology)."""

import pytest
from text_fixtures import text_cache, wn_index  # noqa: F401

from augment.text import eda
from augment.text.morphology import Morphology, parse_exceptions
from augment.text.wordnet import SynonymRules

import numpy as np

LISTS = Morphology(
    parse_exceptions("mice mouse\nchildren child\ngeese goose\nmen man\n"),
    parse_exceptions("ran run\nrunning run\nstopped stop\nstopping stop\ntook take\ntaken take\nwent go\n"
                     "gone go\nwas be\nis be\nbought buy\nlaid_off lay_off\n"),
)


@pytest.mark.parametrize("lemma, pos, form, expected", [
    ("dog", "n", "plural", "dogs"), ("box", "n", "plural", "boxes"), ("church", "n", "plural", "churches"),
    ("story", "n", "plural", "stories"), ("day", "n", "plural", "days"), ("mouse", "n", "plural", "mice"),
    ("hot dog", "n", "plural", "hot dogs"), ("field mouse", "n", "plural", "field mice"),
    ("write-up", "n", "plural", "write-ups"),
    ("walk", "v", "s", "walks"), ("go", "v", "s", "goes"), ("try", "v", "s", "tries"),
    ("push", "v", "s", "pushes"), ("give up", "v", "s", "gives up"),
    ("walk", "v", "ed", "walked"), ("love", "v", "ed", "loved"), ("try", "v", "ed", "tried"),
    ("play", "v", "ed", "played"), ("stop", "v", "ed", "stopped"), ("buy", "v", "ed", "bought"),
    ("read", "v", "ed", "read"), ("put", "v", "ed", "put"), ("run away", "v", "ed", "ran away"),
    ("walk", "v", "ing", "walking"), ("make", "v", "ing", "making"), ("see", "v", "ing", "seeing"),
    ("die", "v", "ing", "dying"), ("stop", "v", "ing", "stopping"), ("run", "v", "ing", "running"),
])
def test_inflect(lemma, pos, form, expected):
    assert LISTS.inflect(lemma, pos, form) == expected


@pytest.mark.parametrize("lemma, pos, form", [
    ("take", "v", "ed"),  # took or taken: ambiguous, dropped
    ("go", "v", "ed"),
    ("be", "v", "s"), ("have", "v", "ing"),  # auxiliaries
    ("Paris", "n", "plural"), ("Canis familiaris", "n", "plural"),  # proper nouns do not pluralise
    ("carrying out", "n", "plural"), ("man of war", "n", "plural"),  # head is not the last word
    ("give-up the ghost", "v", "ing"),
    ("good", "a", "plural"), ("", "n", "plural"), ("3d", "n", "plural"),
])
def test_uncertain_forms_are_dropped(lemma, pos, form):
    assert LISTS.inflect(lemma, pos, form) is None


ANY = SynonymRules(max_senses=0, min_zipf=0, max_words=0)


def test_analyses_use_the_exception_list_before_the_rules():
    assert ("mouse", "n", "plural") in LISTS.analyses("mice")
    assert LISTS.analyses("mice") == [("mouse", "n", "plural")] + [a for a in LISTS.analyses("mice") if a[1] == "v"]
    assert ("run", "v", "ed") in LISTS.analyses("ran") and ("run", "v", "ing") in LISTS.analyses("running")
    assert ("walk", "v", "ing") in LISTS.analyses("walking") and ("dog", "n", "plural") in LISTS.analyses("dogs")
    assert all(a[0] != "be" for a in LISTS.analyses("was"))  # auxiliaries never get synonyms
    assert LISTS.analyses("s") == []


def test_index_gives_inflected_words_synonyms_in_their_form(wn_index):  # noqa: F811
    assert wn_index.synonyms("dogs") == ()  # a lemma lookup finds nothing for a plural
    dogs = wn_index.inflected_synonyms("dogs", rules=ANY)
    assert "domestic dogs" in dogs and "domestic dog" not in dogs and "dogs" not in dogs
    assert "moseyed" in wn_index.inflected_synonyms("ambled", rules=ANY)
    assert "moseyed" not in wn_index.inflected_synonyms("ambled")  # Zipf 1.5: under the default floor
    assert {"films", "pictures"} <= set(wn_index.inflected_synonyms("movies"))
    assert {"kids", "youngsters"} <= set(wn_index.inflected_synonyms("children"))  # irregular plural
    assert {"halted", "ceased"} <= set(wn_index.inflected_synonyms("stopped"))
    assert "creating" in wn_index.inflected_synonyms("making")
    assert "Georgias" not in wn_index.inflected_synonyms("gas")  # "gas" is a noun: not the plural of "ga"
    assert wn_index.inflected_synonyms("is") == ()
    # lemmas keep their own synonyms first
    assert wn_index.inflected_synonyms("movie")[: len(wn_index.synonyms("movie"))] == wn_index.synonyms("movie")


def test_synonym_replace_keeps_the_form_of_plurals_and_pasts(wn_index):  # noqa: F811
    text = "The dogs jumped while the actors stopped."
    changed = set()
    for seed in range(40):
        out = eda.synonym_replace(text, np.random.default_rng(seed), rate=1.0, index=wn_index, rules=ANY)
        for c in out.changes:
            changed.add(c["before"])
            words = c["after"].split()
            if c["before"] in ("dogs", "actors"):  # plural nouns, or the verb "dogs" (tails, chases after)
                assert words[-1].endswith("s") or words[0].endswith("s")
            if c["before"] in ("jumped", "stopped"):
                past = words[0].endswith("ed") or words[0] in wn_index.morphology.verb_exceptions  # "held on"
                assert past or c["after"] in wn_index.synonyms(c["before"])
    assert {"dogs", "actors", "jumped", "stopped"} <= changed
    plain = eda.synonym_replace(text, np.random.default_rng(0), rate=1.0, index=wn_index, inflect=False)
    assert {c["before"] for c in plain.changes} == {"stopped"}  # the EDA behaviour: lemmas only ("stopped", adj.)


def test_precomputed_inflections_equal_the_computed_ones(wn_index):  # noqa: F811
    """The table filled at build time is a cache of ``_inflected_slow``: same answers, word for word."""
    rows = sorted(wn_index._inf_rows)
    assert len(rows) > 10_000 and "children" in wn_index._inf_rows
    sample = rows[::97] + ["dogs", "children", "mice", "stopped", "gas", "is", "movie", "xyzzies", "runnings"]
    lemmas = sorted(wn_index._key_id)[::211]  # lemmas outside the table take a shortcut: same answers
    for word in sample + lemmas:
        assert wn_index.inflected_synonyms(word) == wn_index._inflected_slow(word), word
        assert wn_index.inflected_synonyms(word.upper()) == wn_index.inflected_synonyms(word)
    one = SynonymRules(max_senses=1)
    assert wn_index.inflected_synonyms("dogs", rules=one) == wn_index._inflected_slow("dogs", one)
