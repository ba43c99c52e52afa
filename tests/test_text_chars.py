"""Character noise: tables from nlpaug, our own sampling."""

import numpy as np
import pytest

from augment.text import chars
from augment.text.tokens import Tokens

TEXT = "The KEYBOARD was remarkably responsive, honestly great."


def rng(seed=0):
    return np.random.default_rng(seed)


def test_tables_come_from_nlpaug_and_keep_case():
    table = chars.keyboard_map("en")
    assert "s" in table["a"] and "S" in table["A"] and all(not c.isupper() for c in table["a"])
    assert "o" in chars.ocr_map()["0"] and "0" in chars.ocr_map()["o"]  # made symmetric
    assert {"en", "de", "fr"} <= set(chars.keyboard_layouts())
    with pytest.raises(chars.CharResourceError, match="available"):
        chars.keyboard_map("xx")


@pytest.mark.parametrize("op", [chars.keyboard_typo, chars.ocr_noise, chars.char_insert, chars.char_swap,
                                chars.char_delete])
def test_char_ops_touch_only_chosen_words(op):
    words = Tokens.parse(TEXT).word_list()
    out = op(TEXT, rng(1), word_rate=0.4, char_rate=0.3)
    assert 1 <= len(out.changes) <= chars.n_changes(0.4, len(words))
    for change in out.changes:
        assert words[change["position"]] == change["before"] != change["after"]
        assert len(change["before"]) >= 4 and change["before"].lower() not in {"the", "was"}
    assert out.text.endswith(".") and ", " in out.text
    assert op(TEXT, rng(), word_rate=0.0, char_rate=0.5).text == TEXT


def test_keyboard_typo_uses_neighbours():
    out = chars.keyboard_typo("aaaa", rng(0), word_rate=1.0, char_rate=1.0)
    assert len(out.text) == 4 and all(c in chars.keyboard_map("en")["a"] for c in out.text)


def test_char_delete_keeps_a_character_and_insert_keeps_first():
    assert len(chars.char_delete("abcd", rng(0), word_rate=1, char_rate=1).text) == 1
    out = chars.char_insert("WORD word", rng(0), word_rate=1, char_rate=0.5)
    first, second = out.text.split(" ")
    assert first.startswith("W") and first.isupper() and len(first) == 6 and second.startswith("w")


def test_char_swap_is_adjacent_transposition():
    out = chars.char_swap("abcdefgh", rng(4), word_rate=1, char_rate=0.1)
    assert sorted(out.text) == sorted("abcdefgh") and out.text != "abcdefgh"
    diff = [i for i, (a, b) in enumerate(zip(out.text, "abcdefgh")) if a != b]
    assert len(diff) == 2 and diff[1] == diff[0] + 1


def test_stop_words_optional():
    assert chars.char_delete("with", rng(), word_rate=1, char_rate=0.5).changes == []
    assert chars.char_delete("with", rng(), word_rate=1, char_rate=0.5, include_stop_words=True).changes
