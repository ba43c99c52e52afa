"""Word-level augmentation: the four EDA operations (Wei & Zou 2019) plus antonym replacement and word split.

Every function takes the text, a ``numpy.random.Generator`` (the only source of randomness) and plain
arguments, and returns a :class:`TextOpResult` with a change log. Positions in the log index the *input*
text's words (0 = first word; punctuation and whitespace are not words), so a log reads against the text
the op was given. Edits are planned on the input and applied together, which keeps positions stable and
keeps the cost linear in the text length (a 1 MB line is fine).

Departures from the reference EDA code, on purpose: the text is not lower-cased or stripped of punctuation
(edits touch word tokens only and a replacement takes the replaced word's case); words are replaced per
position, not every occurrence at once; stop words are left alone by every operation; and the number of
changed words is ``max(1, round(rate * n_words))`` when rate > 0 (rate 0 changes nothing).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Callable

import numpy as np

from augment.ops.registry import TextOpResult
from augment.text.tokens import Tokens, match_case
from augment.text.wordnet import WordNetIndex

__all__ = [
    "stop_words",
    "is_stop_word",
    "n_changes",
    "synonym_replace",
    "random_insert",
    "random_swap",
    "random_delete",
    "antonym_replace",
    "word_split",
]


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """The English stop-word list shipped in ``augment/data/stopwords_en.txt`` (lower case)."""
    text = resources.files("augment").joinpath("data/stopwords_en.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def is_stop_word(word: str, stops: frozenset[str]) -> bool:
    low = word.lower()
    return (low.replace("’", "'") if "’" in low else low) in stops


def n_changes(rate: float, n_words: int) -> int:
    """How many words a rate changes: ``max(1, round(rate * n_words))`` (half up) when rate > 0, else 0."""
    if rate <= 0 or n_words <= 0:
        return 0
    return max(1, int(np.floor(rate * n_words + 0.5)))


def _content_positions(tokens: Tokens) -> list[int]:
    """Word positions that are not stop words."""
    stops = stop_words()
    return [p for p, word in enumerate(tokens.word_list()) if not is_stop_word(word, stops)]


def _sample(m: int, uniforms: list[float]) -> list[int]:
    """``len(uniforms)`` distinct indices below ``m`` (at most m), drawn by a partial Fisher-Yates shuffle
    from uniforms in [0, 1).

    Taking uniforms the caller drew in one ``rng.random`` call (together with its other draws) instead of a
    ``permutation``/``choice`` call per decision matters on short sentences: each numpy call costs
    microseconds, as much as the rest of the op.
    """
    k = min(m, len(uniforms))
    order = list(range(m))
    for j in range(k):
        r = j + int(uniforms[j] * (m - j))
        order[j], order[r] = order[r], order[j]
    return order[:k]


def _pick(rng: np.random.Generator, candidates: list[int], k: int) -> list[int]:
    """``k`` distinct candidates in random order (all of them when fewer)."""
    return [candidates[i] for i in _sample(len(candidates), rng.random(min(k, len(candidates))).tolist())]


class _Alternatives(dict):
    """Surface word -> its replacements, () for stop words and unknown words, filled on first sight.

    One C-level dict lookup per word on the hot path instead of a stop-word test plus an index lookup: the
    difference between ~25k and ~60k sentences/s for synonym replacement.
    """

    def __init__(self, fetch: Callable[[str], tuple[str, ...]]):
        super().__init__()
        self.fetch = fetch

    def __missing__(self, word: str) -> tuple[str, ...]:
        value = () if is_stop_word(word, stop_words()) else self.fetch(word)
        if len(self) > 500_000:  # bounded memory on huge vocabularies
            self.clear()
        self[word] = value
        return value


_TABLES: dict[tuple[int, str, int], tuple[WordNetIndex, _Alternatives]] = {}


def _table(index: WordNetIndex, kind: str, max_rank: int = 0) -> _Alternatives:
    key = (id(index), kind, max_rank)
    hit = _TABLES.get(key)
    if hit is None or hit[0] is not index:
        if kind == "synonyms":
            table = _Alternatives(lambda w: index.synonyms(w, max_rank=max_rank))
        else:
            table = _Alternatives(index.antonyms)
        if len(_TABLES) > 64:
            _TABLES.clear()
        hit = _TABLES[key] = (index, table)
    return hit[1]


def _replace_with(text: str, rng: np.random.Generator, rate: float, table: _Alternatives) -> TextOpResult:
    """Replace ``n_changes(rate, n_words)`` content words that have alternatives by a random alternative."""
    tokens = Tokens.parse(text)
    n = n_changes(rate, len(tokens))
    if n == 0:
        return TextOpResult(text, [])
    candidates, options = [], []
    for p, word in enumerate(tokens.word_list()):
        found = table[word]
        if found:
            candidates.append(p)
            options.append(found)
    if not candidates:
        return TextOpResult(text, [])
    k = min(n, len(candidates))
    uniforms = rng.random(2 * k).tolist()  # k to choose the words, k to choose their replacements
    changes = []
    for c, u in zip(sorted(_sample(len(candidates), uniforms[:k])), uniforms[k:]):
        p, found = candidates[c], options[c]
        before = tokens.word(p)
        after = match_case(before, found[int(u * len(found))])
        tokens.set_word(p, after)
        changes.append({"action": "substitute", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)


def synonym_replace(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex,
                    max_rank: int = 0) -> TextOpResult:
    """EDA synonym replacement: content words with WordNet synonyms get a random synonym."""
    return _replace_with(text, rng, rate, _table(index, "synonyms", max_rank))


def antonym_replace(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex) -> TextOpResult:
    """Content words with a WordNet antonym get a random antonym ("good" -> "bad"): a label-flipping op,
    meant for contrast sets or negative examples rather than label-preserving expansion."""
    return _replace_with(text, rng, rate, _table(index, "antonyms"))


def random_insert(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex,
                  max_rank: int = 0) -> TextOpResult:
    """EDA random insertion: ``n`` times, a synonym of a random content word goes after a random word.

    ``position`` in the log is where the new word goes in the input's word list (inserted *before* that
    input word; ``n_words`` means at the end). Never before the first word, so a capitalised sentence start
    stays first. The new word is as WordNet spells it, upper-cased if its source word was all capitals.
    """
    tokens = Tokens.parse(text)
    n_words = len(tokens)
    n = n_changes(rate, n_words)
    if n == 0:
        return TextOpResult(text, [])
    table = _table(index, "synonyms", max_rank)
    sources = [p for p, word in enumerate(tokens.word_list()) if table[word]]
    if not sources:
        return TextOpResult(text, [])
    # one vectorised draw per kind of choice: source word, which of its synonyms, where the new word goes
    picks = rng.integers(len(sources), size=n).tolist()
    which = rng.random(n).tolist()
    slots = rng.integers(1, n_words + 1, size=n).tolist()
    planned = []
    for pick, u, slot in zip(picks, which, slots):
        source = tokens.word(sources[pick])
        options = table[source]
        new = options[int(u * len(options))]
        if len(source) > 1 and source.isupper():
            new = new.upper()
        planned.append((slot, new))
    changes = []
    for position, new in sorted(planned, key=lambda item: item[0]):  # stable: same-slot words keep draw order
        tokens.insert_after(position - 1, new)
        changes.append({"action": "insert", "position": position, "before": None, "after": new})
    return TextOpResult(str(tokens), changes)


def random_swap(text: str, rng: np.random.Generator, *, rate: float) -> TextOpResult:
    """EDA random swap: ``n`` times, two random content words trade places (each keeps its spelling).

    Swaps are sequential as in EDA (a word may move twice); ``position`` and ``other`` are the two input
    word positions, ``before``/``after`` the word at ``position`` before and after the swap.
    """
    tokens = Tokens.parse(text)
    n = n_changes(rate, len(tokens))
    candidates = _content_positions(tokens)
    if n == 0 or len(candidates) < 2:
        return TextOpResult(text, [])
    m = len(candidates)
    firsts = rng.integers(m, size=n)
    seconds = (firsts + rng.integers(1, m, size=n)) % m  # uniform over the other m - 1 candidates
    changes = []
    for i, j in zip(firsts.tolist(), seconds.tolist()):
        a, b = candidates[i], candidates[j]
        wa, wb = tokens.word(a), tokens.word(b)
        tokens.set_word(a, wb)
        tokens.set_word(b, wa)
        changes.append({"action": "swap", "position": a, "other": b, "before": wa, "after": wb})
    return TextOpResult(str(tokens), changes)


def random_delete(text: str, rng: np.random.Generator, *, rate: float, bernoulli: bool = False) -> TextOpResult:
    """EDA random deletion of content words; at least one word of the text always survives.

    By default ``n_changes(rate, n_words)`` words go. With ``bernoulli=True`` each content word goes with
    probability ``rate`` independently, as in the EDA paper's ``p_rd`` (possibly none).
    """
    tokens = Tokens.parse(text)
    n_words = len(tokens)
    candidates = _content_positions(tokens)
    if rate <= 0 or n_words <= 1 or not candidates:
        return TextOpResult(text, [])
    if bernoulli:
        doomed = [p for p, u in zip(candidates, rng.random(len(candidates))) if u < rate]
    else:
        doomed = _pick(rng, candidates, n_changes(rate, n_words))
    if len(doomed) >= n_words:  # all words drawn: keep one at random, as EDA does
        doomed = sorted(doomed)
        del doomed[int(rng.integers(len(doomed)))]
    changes = []
    for p in sorted(doomed, reverse=True):  # back to front: each deletion sees its neighbours' whitespace
        before = tokens.delete(p)
        changes.append({"action": "delete", "position": p, "before": before, "after": None})
    changes.reverse()
    return TextOpResult(str(tokens), changes)


def word_split(text: str, rng: np.random.Generator, *, rate: float, min_chars: int = 4) -> TextOpResult:
    """Split content words of at least ``min_chars`` characters in two at a random inner point
    ("remarkable" -> "remar kable"), the spacing error of OCR and hurried typing."""
    tokens = Tokens.parse(text)
    n = n_changes(rate, len(tokens))
    if n == 0:
        return TextOpResult(text, [])
    candidates = [p for p in _content_positions(tokens) if len(tokens.word(p)) >= max(2, min_chars)]
    changes = []
    chosen = sorted(_pick(rng, candidates, n))
    for p, u in zip(chosen, rng.random(len(chosen)).tolist()):
        before = tokens.word(p)
        cut = 1 + int(u * (len(before) - 1))
        after = before[:cut] + " " + before[cut:]
        tokens.set_word(p, after)
        changes.append({"action": "split", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)
