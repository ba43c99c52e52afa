"""spelling_error: common human misspellings from nlpaug's list, case and protected tokens kept."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from text_fixtures import texts

from augment.ops.text_ops import TEXT_OPS
from augment.text import spelling
from augment.text.tokens import WORD_RE

OP = {op.name: op for op in TEXT_OPS}["spelling_error"]


def test_the_list_is_misspellings_not_other_words():
    table = spelling.misspellings()
    assert "becuase" in table["because"] and "definately" in table["definitely"]
    assert "lock" not in table.get("luck", ()) and "like" not in table.get("luck", ())  # real words
    assert "i" not in table and all(len(w) >= 3 for w in table)
    assert all("'" not in m for w, ms in table.items() if "'" not in w for m in ms)
    assert "bests" not in table.get("best", ())


def test_case_protected_tokens_and_replay():
    text = "Because I DEFINITELY believe their restaurant is the best: 3.5 stars, @ann_lee"
    p = OP.params(rate=1.0)
    for seed in range(20):
        res = OP.apply_text(text, p, np.random.default_rng(seed))
        assert res.changes and all(t in res.text for t in ("3.5", "@ann_lee"))
        for c in res.changes:
            assert c["after"].lower() in spelling.misspellings()[c["before"].lower()]
            if c["before"].isupper():
                assert c["after"].isupper()
            elif c["before"][0].isupper():
                assert c["after"][0].isupper()
        assert OP.apply_text(text, p, np.random.default_rng(seed)) == res  # same seed, same draw
    assert OP.apply_text(text, OP.params(rate=0.0), np.random.default_rng(0)).text == text


@settings(max_examples=80, deadline=None)
@given(text=texts)
def test_any_text_only_its_words_change(text):
    res = OP.apply_text(text, OP.params(rate=0.5), np.random.default_rng(1))
    assert WORD_RE.split(res.text)[0::2] == WORD_RE.split(text)[0::2] or res.changes
    if not res.changes:
        assert res.text == text
