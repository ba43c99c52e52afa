"""Word-level ops: counts, stop words, case, punctuation, change logs, determinism."""

import numpy as np
import pytest
from text_fixtures import text_cache, wn_index  # noqa: F401

from augment.text import eda
from augment.text.tokens import Tokens

SENTENCE = "The movie was surprisingly GOOD, and the actors didn't disappoint at all!"
WORDS = Tokens.parse(SENTENCE).word_list()


def rng(seed=0):
    return np.random.default_rng(seed)


def test_n_changes_rule():
    assert eda.n_changes(0.0, 10) == 0  # rate 0 means no change (nlpaug reads aug_p=0 as 30%)
    assert eda.n_changes(0.01, 10) == 1  # at least one change when the rate allows
    assert eda.n_changes(0.25, 10) == 3  # half rounds up
    assert eda.n_changes(1.0, 7) == 7
    assert eda.n_changes(0.5, 0) == 0


def test_stop_word_list_is_shipped():
    stops = eda.stop_words()
    assert {"the", "and", "didn't", "at", "all"} <= stops and "movie" not in stops
    assert eda.is_stop_word("Didn’t", stops)  # typographic apostrophe and case normalised


@pytest.mark.parametrize("seed", range(20))
def test_synonym_replace_keeps_case_punctuation_and_stop_words(seed, wn_index):  # noqa: F811
    out = eda.synonym_replace(SENTENCE, rng(seed), rate=0.2, index=wn_index)
    assert len(out.changes) == eda.n_changes(0.2, len(WORDS)) == 2
    for change in out.changes:
        assert change["action"] == "substitute"
        before = change["before"]
        assert WORDS[change["position"]] == before
        assert not eda.is_stop_word(before, eda.stop_words())
        assert change["after"].lower() in {s.lower() for s in wn_index.inflected_synonyms(before)}
        if before.isupper():
            assert change["after"] == change["after"].upper()
    assert out.text.startswith("The ") and out.text.endswith("!") and ", and the " in out.text


def test_synonym_replace_capitalised_word_stays_capitalised(wn_index):  # noqa: F811
    out = eda.synonym_replace("Happy people smile.", rng(1), rate=1.0, index=wn_index)
    assert out.text[0].isupper() and out.text.endswith(".")
    assert all(c["after"] != c["before"] for c in out.changes)


def test_rate_zero_and_nothing_eligible_change_nothing(wn_index):  # noqa: F811
    for fn in (lambda t, r: eda.synonym_replace(t, r, rate=0, index=wn_index),
               lambda t, r: eda.random_insert(t, r, rate=0, index=wn_index),
               lambda t, r: eda.random_swap(t, r, rate=0),
               lambda t, r: eda.random_delete(t, r, rate=0),
               lambda t, r: eda.word_split(t, r, rate=0)):
        assert fn(SENTENCE, rng()).text == SENTENCE
    only_stops = "and the of it"
    assert eda.synonym_replace(only_stops, rng(), rate=1, index=wn_index).text == only_stops
    assert eda.random_delete(only_stops, rng(), rate=1).text == only_stops


def test_random_insert_adds_synonyms_after_the_first_word(wn_index):  # noqa: F811
    out = eda.random_insert(SENTENCE, rng(3), rate=0.2, index=wn_index)
    assert len(out.changes) == 2
    assert out.text.startswith("The")
    for change in out.changes:
        assert change["action"] == "insert" and 1 <= change["position"] <= len(WORDS)
    assert len(Tokens.parse(out.text).words) >= len(WORDS) + 2


def test_random_swap_permutes_content_words_only():
    out = eda.random_swap(SENTENCE, rng(5), rate=0.3)
    after = Tokens.parse(out.text).word_list()
    assert sorted(after) == sorted(WORDS)
    for before_word, after_word in zip(WORDS, after):
        if eda.is_stop_word(before_word, eda.stop_words()):
            assert before_word == after_word
    assert out.changes and all(c["action"] == "swap" for c in out.changes)
    assert eda.random_swap("Only", rng(), rate=1).text == "Only"


def test_random_delete_keeps_one_word_and_punctuation():
    out = eda.random_delete("Amazing wonderful spectacular!", rng(0), rate=1.0)
    assert len(Tokens.parse(out.text).words) == 1 and out.text.endswith("!")
    out = eda.random_delete(SENTENCE, rng(2), rate=0.2)
    assert [c["position"] for c in out.changes] == sorted(c["position"] for c in out.changes)
    assert "  " not in out.text and out.text.endswith("!")
    kept = Tokens.parse(out.text).word_list()
    assert len(kept) == len(WORDS) - len(out.changes)


def test_random_delete_bernoulli_as_in_eda_paper():
    long = " ".join(["word"] * 2000)
    out = eda.random_delete(long, rng(0), rate=0.1, bernoulli=True)
    assert 130 < len(out.changes) < 270  # ~200 expected


def test_antonym_replace(wn_index):  # noqa: F811
    out = eda.antonym_replace("The food was GOOD and cheap.", rng(0), rate=0.1, index=wn_index)
    assert len(out.changes) == 1
    change = out.changes[0]
    assert change["after"].lower() in wn_index.antonyms(change["before"])


def test_word_split():
    out = eda.word_split("Remarkable keyboard", rng(0), rate=1.0)
    assert len(out.changes) == 2
    for change in out.changes:
        assert change["after"].replace(" ", "") == change["before"] and " " in change["after"]
    assert eda.word_split("tiny cat", rng(0), rate=1.0, min_chars=5).changes == []


def test_same_seed_same_output_different_seed_differs(wn_index):  # noqa: F811
    a = eda.synonym_replace(SENTENCE, rng(7), rate=0.3, index=wn_index)
    b = eda.synonym_replace(SENTENCE, rng(7), rate=0.3, index=wn_index)
    assert a == b
    outs = {eda.synonym_replace(SENTENCE, rng(s), rate=0.3, index=wn_index).text for s in range(10)}
    assert len(outs) > 2


# Texts for the two replacement paths: prose (one word per space-delimited chunk, the fast path) and texts
# with several words in a chunk ("and/or", tabs, line breaks), which take the general path.
PATH_TEXTS = [
    SENTENCE, "", " ", "good", "Good.", "GOOD FILM", "  double  spaced  good film  ", "good\tfilm and\nbad movie",
    "an and/or film", "end.Start of a good film", "naïve café film, très bon",
    ("it 's a charming and often affecting journey . "), "O’Brien's well-known film -- a good one!", "(good) [film] {movie} \"great\"",
]


@pytest.mark.parametrize("text", PATH_TEXTS)
def test_fast_and_general_replacement_paths_agree_draw_for_draw(text, wn_index):  # noqa: F811
    tables = eda._tables(wn_index, "synonyms")
    for seed in range(10):
        for rate in (0.1, 0.5, 1.0):
            fast = eda._replace_with(text, rng(seed), rate, tables)
            general = eda._replace_words(text, rng(seed), rate, tables[0])
            assert fast == general
            tokens = Tokens.parse(text)
            for change in fast.changes:  # positions index the input's words, whichever path ran
                assert tokens.word(change["position"]) == change["before"]


def test_batch_form_equals_one_call_per_text(wn_index):  # noqa: F811
    seeds = range(len(PATH_TEXTS))
    many = eda.synonym_replace_many(PATH_TEXTS, [rng(s) for s in seeds], rate=0.3, index=wn_index)
    assert many == [eda.synonym_replace(t, rng(s), rate=0.3, index=wn_index) for t, s in zip(PATH_TEXTS, seeds)]


@pytest.mark.parametrize("n, m", [(1, 4), (2, 5), (3, 6), (20, 40)])
def test_choose_draws_uniform_subsets_and_independent_uniforms(n, m):
    """Every k-subset equally likely (k = 3 and 20: the general walk and the long-text shuffle), and the
    replacement uniform independent of the chosen index."""
    from itertools import combinations
    from math import comb

    trials = 20_000
    counts: dict[tuple, int] = {}
    fractions = {i: [] for i in range(m)}
    for seed in range(trials):
        picks = eda._choose(rng(seed), n, m)
        indices = tuple(i for i, _ in picks)
        assert list(indices) == sorted(set(indices)) and len(indices) == min(n, m)
        assert all(0 <= i < m and 0.0 <= u < 1.0 for i, u in picks)
        counts[indices] = counts.get(indices, 0) + 1
        for i, u in picks:
            fractions[i].append(u)
    for i in range(m):  # each index chosen n/m of the time, its uniform spread over [0, 1)
        share = len(fractions[i]) / trials
        assert abs(share - n / m) < 0.02
        assert abs(np.mean(fractions[i]) - 0.5) < 0.03 and abs(np.mean(np.asarray(fractions[i]) < 0.25) - 0.25) < 0.03
    if comb(m, n) <= 20:  # chi-square over all subsets, 0.1% level
        from scipy.stats import chisquare

        observed = [counts.get(c, 0) for c in combinations(range(m), n)]
        assert chisquare(observed).pvalue > 0.001
