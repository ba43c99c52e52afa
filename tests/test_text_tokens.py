"""Tokenisation must be loss-free: every op relies on untouched pieces coming back byte for byte."""

from hypothesis import given, settings
from hypothesis import strategies as st

from augment.text.tokens import Tokens, detokenize, is_word, match_case, tokenize


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_detokenize_restores_any_text_exactly(text):
    assert detokenize(tokenize(text)) == text
    assert str(Tokens.parse(text)) == text


def test_words_keep_inner_apostrophes_and_hyphens():
    tokens = Tokens.parse("Don't over-think it, O’Brien:  fine.")
    assert tokens.word_list() == ["Don't", "over-think", "it", "O’Brien", "fine"]
    assert tokenize("a_b") == ["", "a", "_", "b", ""]  # underscore is punctuation, not part of a word
    assert not is_word(" ") and not is_word(",") and is_word("東京")


def test_delete_takes_one_adjoining_space_and_keeps_punctuation():
    tokens = Tokens.parse("a b c.")
    tokens.delete(2)  # "c" has no following space: the preceding one goes
    tokens.delete(1)
    assert str(tokens) == "a."
    tokens = Tokens.parse("one two\nthree")
    tokens.delete(1)  # a line break is never removed, so lines do not merge
    assert str(tokens) == "one\nthree"


def test_insert_after_and_set_word_keep_positions_stable():
    tokens = Tokens.parse("Big cats nap.")
    tokens.insert_after(0, "fat")
    tokens.set_word(2, "sleep")
    assert str(tokens) == "Big fat cats sleep."


def test_match_case():
    assert match_case("Good", "bad") == "Bad"
    assert match_case("GOOD", "not bad") == "NOT BAD"
    assert match_case("good", "Paris") == "Paris"  # WordNet's proper-noun capital survives
    assert match_case("I", "one") == "One"  # one capital letter is Title, not shouting
    assert match_case("x", "") == ""
