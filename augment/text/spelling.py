"""Common human misspellings ("because" -> "becuase", "definitely" -> "definately") from nlpaug's list
``nlpaug/res/word/spelling/spelling_en.txt`` (MIT; one correct word then its misspellings per line), read
from the installed package without importing it, as :mod:`augment.text.chars` reads nlpaug's tables.

The list mixes real misspellings with other real words ("luck": "lock", "like", "look"), which would change
the meaning rather than the spelling, so a "misspelling" that is itself an ordinary English word (wordfreq
Zipf at least ``real_word_zipf``) is never used, nor are inflections of the word ("bests", "their's"), forms
that share little with it (difflib ratio under 0.6) or misspellings of one- and two-letter words. The drawing is ours: one generator per text, positions and
choices from it only.
"""

from __future__ import annotations

import importlib.util
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

import numpy as np

from augment.text.chars import CharResourceError
from augment.text.eda import _choose, n_changes
from augment.text.protect import has_digit, protected_words
from augment.text.result import TextOpResult
from augment.text.tokens import WORD_RE, match_case

__all__ = ["misspellings", "spelling_error"]

MIN_WORD_LEN = 3
MIN_SIMILARITY = 0.6
_ENDINGS = frozenset({"s", "es", "d", "ed", "ing", "er", "ers", "ly", "y"})


def _spelling_file() -> Path:
    spec = importlib.util.find_spec("nlpaug")
    if spec is None or not spec.submodule_search_locations:
        raise CharResourceError("the misspelling list comes from nlpaug: `pip install 'nlpaug>=1.1.11'`")
    return Path(list(spec.submodule_search_locations)[0]) / "res" / "word" / "spelling" / "spelling_en.txt"


@lru_cache(maxsize=8)
def misspellings(real_word_zipf: float = 3.0) -> dict[str, tuple[str, ...]]:
    """Lower-case word -> its misspellings, in the list's order, without real words and duplicates."""
    from wordfreq import zipf_frequency

    table: dict[str, dict[str, None]] = {}
    for line in _spelling_file().read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        word = fields[0].lower()
        if not word.isalpha() or len(word) < MIN_WORD_LEN:
            continue  # "I" -> "A'm", "a" -> "e": not how people misspell
        for wrong in fields[1:]:
            if wrong == word or not wrong.islower() or not wrong.replace("'", "").replace("-", "").isalpha():
                continue
            if ("'" in wrong) != ("'" in word) or (wrong.startswith(word) and wrong[len(word):] in _ENDINGS):
                continue  # "their's", "bests": grammar, not spelling
            if SequenceMatcher(None, word, wrong).ratio() < MIN_SIMILARITY:
                continue  # "tey" for "their": a different word more than a slip
            if real_word_zipf > 0 and zipf_frequency(wrong, "en") >= real_word_zipf:
                continue  # "lock" for "luck": another word, not a misspelling
            table.setdefault(word, {})[wrong] = None
    return {word: tuple(wrongs) for word, wrongs in table.items() if wrongs}


def spelling_error(text: str, rng: np.random.Generator, *, rate: float, real_word_zipf: float = 3.0,
                   protect: bool = True) -> TextOpResult:
    """``n_changes(rate, n_words)`` words that the list knows get one of their misspellings, in their case
    (Because -> Becuase, BECAUSE -> BECUASE); protected tokens are never touched."""
    pieces = WORD_RE.split(text)
    words = pieces[1::2]
    n = n_changes(rate, len(words))
    if n == 0:
        return TextOpResult(text, [])
    table = misspellings(real_word_zipf)
    guarded = protected_words(pieces) if protect else ()
    candidates = [k for k, w in enumerate(words)
                  if k not in guarded and not (protect and has_digit(w)) and w.lower() in table]
    if not candidates:
        return TextOpResult(text, [])
    changes = []
    for c, u in _choose(rng, n, len(candidates)):
        k = candidates[c]
        before = words[k]
        options = table[before.lower()]
        after = match_case(before, options[int(u * len(options))])
        pieces[2 * k + 1] = after
        changes.append({"action": "substitute", "position": k, "before": before, "after": after})
    return TextOpResult("".join(pieces), changes)
