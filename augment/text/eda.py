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
from itertools import compress
from math import floor
from typing import Callable

import numpy as np

from augment.text.result import TextOpResult
from augment.text.tokens import WORD_RE, Tokens, match_case
from augment.text.protect import has_digit, is_protected_chunk, protected_words
from augment.text.wordnet import DEFAULT_RULES, SynonymRules, WordNetIndex

__all__ = [
    "stop_words",
    "is_stop_word",
    "n_changes",
    "synonym_replace",
    "synonym_replace_many",
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
    return max(1, floor(rate * n_words + 0.5))  # math, not numpy: a numpy scalar op costs ~1 us


def _content_positions(tokens: Tokens, protect: bool = True) -> list[int]:
    """Word positions that are not stop words nor (with ``protect``) part of a protected token (numbers,
    URLs, e-mail addresses, @mentions, #hashtags, code: see :mod:`augment.text.protect`)."""
    stops = stop_words()
    guarded = protected_words(tokens.pieces) if protect else ()
    return [p for p, word in enumerate(tokens.word_list()) if not is_stop_word(word, stops) and p not in guarded]


def _slot_outside(tokens: Tokens, guarded: set[int], slot: int) -> int | None:
    """An insertion slot (insert before word ``slot``, i.e. right after word ``slot - 1``) that does not land
    inside a protected token: after a protected word, only where whitespace follows it ("3.5 out", not the
    "3" of "3.5" nor "100" of "100%"). The nearest valid slot after, else before; None when there is none."""
    def ok(s: int) -> bool:
        return s - 1 not in guarded or tokens.pieces[2 * s][:1].isspace()

    if not guarded or ok(slot):
        return slot
    for s in range(slot + 1, len(tokens) + 1):
        if ok(s):
            return s
    for s in range(slot - 1, 0, -1):
        if ok(s):
            return s
    return None


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

    def __init__(self, fetch: Callable[[str], tuple[str, ...]], protect: bool = True):
        super().__init__()
        self.fetch = fetch
        self.protect = protect

    def __missing__(self, word: str) -> tuple[str, ...]:
        # a word with a digit is part of a number, a date, a version or a code: never a synonym's place
        value = () if is_stop_word(word, stop_words()) or (self.protect and has_digit(word)) else self.fetch(word)
        if len(self) > 500_000:  # bounded memory on huge vocabularies
            self.clear()
        self[word] = value
        return value


class _ChunkAlternatives(dict):
    """Space-delimited chunk ("journey", "good,", "it's") -> the alternatives of its one word, filled on first
    sight from a word table: ``0`` for a chunk without a word ("," "--"), ``None`` for one with several
    ("and/or", "a\tb"), which send the text down the general path.

    Splitting on single spaces is lossless (``" ".join`` undoes it) and, unlike the word regex, runs in C at
    a few hundred ns a sentence; the regex then runs once per distinct chunk, not once per text. Together
    with C-level ``map``/``count``/``compress`` over the lookups this halves synonym replacement's cost.
    """

    def __init__(self, words: _Alternatives):
        super().__init__()
        self.words = words

    def __missing__(self, chunk: str) -> tuple[str, ...] | int | None:
        pieces = WORD_RE.split(chunk)
        if len(pieces) == 1:
            value = 0
        elif len(pieces) == 3:  # one word: "@name", "#tag" and code-like chunks keep it as it is
            value = () if self.words.protect and is_protected_chunk(chunk) else self.words[pieces[1]]
        else:
            value = None
        if len(self) > 500_000:
            self.clear()
        self[chunk] = value
        return value


_TABLES: dict[tuple[int, str, SynonymRules, bool], tuple[WordNetIndex, _Alternatives, _ChunkAlternatives]] = {}


def _tables(index: WordNetIndex, kind: str, rules: SynonymRules = DEFAULT_RULES, protect: bool = True
            ) -> tuple[_Alternatives, _ChunkAlternatives]:
    """The word and chunk tables of one index, kind ("synonyms", "inflected" synonyms or "antonyms"),
    synonym rules and protected-token setting."""
    key = (id(index), kind, rules, protect)
    hit = _TABLES.get(key)
    if hit is None or hit[0] is not index:
        if kind == "synonyms":
            table = _Alternatives(lambda w: index.synonyms(w, rules=rules), protect)
        elif kind == "inflected":
            table = _Alternatives(lambda w: index.inflected_synonyms(w, rules=rules), protect)
        else:
            table = _Alternatives(index.antonyms, protect)
        if len(_TABLES) > 64:
            _TABLES.clear()
        hit = _TABLES[key] = (index, table, _ChunkAlternatives(table))
    return hit[1], hit[2]


def _table(index: WordNetIndex, kind: str, rules: SynonymRules = DEFAULT_RULES, protect: bool = True
           ) -> _Alternatives:
    return _tables(index, kind, rules, protect)[0]


def _choose(rng: np.random.Generator, n: int, m: int) -> list[tuple[int, float]]:
    """``min(n, m)`` distinct indices below ``m`` in increasing order, each with a uniform in [0, 1) to pick
    its replacement, from one generator call (a numpy call costs as much as the rest of a sentence's work).

    Draw ``j`` takes the ``floor(u * (m - j))``-th index not taken yet (a uniform random subset, as a partial
    Fisher-Yates shuffle gives), and the fractional part of ``u * (m - j)``, uniform and independent of that
    index, picks the replacement.
    """
    if n == 1 or m == 1:  # the common case on sentences: one word changes
        x = rng.random() * m
        i = int(x)
        return [(i, x - i)]
    if n == 2:  # the next most common: two scalar draws beat an array draw and the general walk
        x, y = rng.random() * m, rng.random() * (m - 1)
        i, j = int(x), int(y)
        if j >= i:
            return [(i, x - i), (j + 1, y - j)]
        return [(j, y - j), (i, x - i)]
    k = min(n, m)
    uniforms = rng.random(k).tolist()
    if k > 16:  # long texts: O(k) swaps instead of the O(k^2) walk below
        order = list(range(m))
        picks = []
        for j, u in enumerate(uniforms):
            x = u * (m - j)
            r = j + int(x)
            order[j], order[r] = order[r], order[j]
            picks.append((order[j], x - int(x)))
        picks.sort()
        return picks
    picks = []  # kept sorted by index
    for j, u in enumerate(uniforms):
        x = u * (m - j)
        i = int(x)
        at = 0
        for taken, _ in picks:  # step over the indices taken already, in increasing order
            if taken > i:
                break
            i += 1
            at += 1
        picks.insert(at, (i, x - int(x)))
    return picks


def _replace_with(text: str, rng: np.random.Generator, rate: float,
                  tables: tuple[_Alternatives, _ChunkAlternatives]) -> TextOpResult:
    """Replace ``n_changes(rate, n_words)`` content words that have alternatives by a random alternative.

    The hot path of synonym replacement. Texts whose space-delimited chunks hold at most one word each (nearly
    all prose) never meet the word regex here: per-chunk work is C-level lookups in the chunk table, and
    Python-level work is per *change*, of which a sentence has one or two. Other texts take the general path
    over the word pieces; both give the same result, draw for draw.
    """
    words_table, chunk_table = tables
    parts = text.split(" ")
    found = list(map(chunk_table.__getitem__, parts))
    if None in found:
        return _replace_words(text, rng, rate, words_table)
    candidates = list(compress(range(len(parts)), found))
    if not candidates or rate <= 0:
        return TextOpResult(text, [])
    n = max(1, floor(rate * (len(found) - found.count(0)) + 0.5))  # n_changes, inlined: this is the hot path
    if n == 1:  # one change, as in most sentences: _choose's first case, inlined
        x = rng.random() * len(candidates)
        c = int(x)
        picks = ((c, x - c),)
    else:
        picks = _choose(rng, n, len(candidates))
    changes = []
    done = n_empty = 0  # chunks before ``done`` without a word: they hold no word position
    for c, u in picks:
        at = candidates[c]
        options = found[at]
        chunk = parts[at]
        after = options[int(u * len(options))]
        if chunk.isalpha() and chunk.islower():  # most chunks: a bare lower-case word
            before = chunk
            parts[at] = after
        else:
            lead, before, trail = WORD_RE.split(chunk)
            after = match_case(before, after)
            parts[at] = lead + after + trail
        n_empty += found[done:at].count(0)
        done = at
        changes.append({"action": "substitute", "position": at - n_empty, "before": before, "after": after})
    return TextOpResult(" ".join(parts), changes)


def _replace_words(text: str, rng: np.random.Generator, rate: float, table: _Alternatives) -> TextOpResult:
    """:func:`_replace_with` over the word pieces: for texts with several words in one space-delimited chunk."""
    pieces = WORD_RE.split(text)
    words = pieces[1::2]
    n = n_changes(rate, len(words))
    found = list(map(table.__getitem__, words))
    for p in protected_words(pieces) if table.protect else ():
        found[p] = ()
    candidates = list(compress(range(len(words)), found))
    if n == 0 or not candidates:
        return TextOpResult(text, [])
    changes = []
    for c, u in _choose(rng, n, len(candidates)):
        p = candidates[c]
        options = found[p]
        before = words[p]
        after = match_case(before, options[int(u * len(options))])
        pieces[2 * p + 1] = after
        changes.append({"action": "substitute", "position": p, "before": before, "after": after})
    return TextOpResult("".join(pieces), changes)


def synonym_replace(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex,
                    rules: SynonymRules = DEFAULT_RULES, inflect: bool = True, protect: bool = True) -> TextOpResult:
    """EDA synonym replacement: content words with WordNet synonyms get a random synonym.

    With ``inflect`` (the default) an inflected word also gets its lemma's synonyms in its own form ("dogs"
    -> "hounds", "jumped" -> "leapt"; :mod:`augment.text.morphology`); without it, only words that are
    WordNet lemmas themselves are replaced, as in the EDA reference code.
    """
    return _replace_with(text, rng, rate, _tables(index, "inflected" if inflect else "synonyms", rules, protect))


def synonym_replace_many(texts: list[str], rngs: list[np.random.Generator], *, rate: float, index: WordNetIndex,
                         rules: SynonymRules = DEFAULT_RULES, inflect: bool = True,
                         protect: bool = True) -> list[TextOpResult]:
    """:func:`synonym_replace` over many texts, one generator each, with the lookup table resolved once;
    text ``i`` gets exactly what ``synonym_replace(texts[i], rngs[i], ...)`` gives."""
    tables = _tables(index, "inflected" if inflect else "synonyms", rules, protect)
    return [_replace_with(text, rng, rate, tables) for text, rng in zip(texts, rngs)]


def antonym_replace(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex,
                    protect: bool = True) -> TextOpResult:
    """Content words with a WordNet antonym get a random antonym ("good" -> "bad"): a label-flipping op,
    meant for contrast sets or negative examples rather than label-preserving expansion."""
    return _replace_with(text, rng, rate, _tables(index, "antonyms", DEFAULT_RULES, protect))


def random_insert(text: str, rng: np.random.Generator, *, rate: float, index: WordNetIndex,
                  rules: SynonymRules = DEFAULT_RULES, inflect: bool = True, protect: bool = True) -> TextOpResult:
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
    table = _table(index, "inflected" if inflect else "synonyms", rules, protect)
    guarded = protected_words(tokens.pieces) if protect else set()
    sources = [p for p, word in enumerate(tokens.word_list()) if table[word] and p not in guarded]
    if not sources:
        return TextOpResult(text, [])
    # one vectorised draw per kind of choice: source word, which of its synonyms, where the new word goes
    picks = rng.integers(len(sources), size=n).tolist()
    which = rng.random(n).tolist()
    slots = rng.integers(1, n_words + 1, size=n).tolist()
    # a slot right after a word glued to a protected token ("3" of "3.5") would split it: move to its end
    slots = [_slot_outside(tokens, guarded, slot) for slot in slots]
    planned = []
    for pick, u, slot in zip(picks, which, slots):
        if slot is None:  # every gap is inside a protected token
            continue
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


def random_swap(text: str, rng: np.random.Generator, *, rate: float, protect: bool = True) -> TextOpResult:
    """EDA random swap: ``n`` times, two random content words trade places (each keeps its spelling).

    Swaps are sequential as in EDA (a word may move twice); ``position`` and ``other`` are the two input
    word positions, ``before``/``after`` the word at ``position`` before and after the swap.
    """
    tokens = Tokens.parse(text)
    n = n_changes(rate, len(tokens))
    candidates = _content_positions(tokens, protect)
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


def random_delete(text: str, rng: np.random.Generator, *, rate: float, bernoulli: bool = False,
                  protect: bool = True) -> TextOpResult:
    """EDA random deletion of content words; at least one word of the text always survives.

    By default ``n_changes(rate, n_words)`` words go. With ``bernoulli=True`` each content word goes with
    probability ``rate`` independently, as in the EDA paper's ``p_rd`` (possibly none).
    """
    tokens = Tokens.parse(text)
    n_words = len(tokens)
    candidates = _content_positions(tokens, protect)
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


def word_split(text: str, rng: np.random.Generator, *, rate: float, min_chars: int = 4,
               protect: bool = True) -> TextOpResult:
    """Split content words of at least ``min_chars`` characters in two at a random inner point
    ("remarkable" -> "remar kable"), the spacing error of OCR and hurried typing."""
    tokens = Tokens.parse(text)
    n = n_changes(rate, len(tokens))
    if n == 0:
        return TextOpResult(text, [])
    candidates = [p for p in _content_positions(tokens, protect) if len(tokens.word(p)) >= max(2, min_chars)]
    changes = []
    chosen = sorted(_pick(rng, candidates, n))
    for p, u in zip(chosen, rng.random(len(chosen)).tolist()):
        before = tokens.word(p)
        cut = 1 + int(u * (len(before) - 1))
        after = before[:cut] + " " + before[cut:]
        tokens.set_word(p, after)
        changes.append({"action": "split", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)
