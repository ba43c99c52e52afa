"""Word ops that read the sentence: synonym replacement, random insertion and antonym replacement with the
part of speech each word has in its sentence (:mod:`augment.text.tagger`).

A word is replaced only when the tagger gives it a reading (:func:`augment.text.tagger.readings`: no names,
fixed expressions, function words), the tagged part of speech is a plausible one for its lemma (at least
``MIN_POS_SHARE`` of the lemma's sense-tagged uses in SemCor, so a tagger slip such as "make" read as a noun
is left alone), and only by a synonym of a frequent sense **of that part of speech**, put into the word's
form by the Apertium generator (our morphology as the fallback: a form neither can make is not offered).

Texts are tagged in one batch and their replacements inflected in one generator batch; the draws are those of
the context-free ops (:mod:`augment.text.eda`), one generator per text, so text ``i`` of a batch gets what it
gets alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from augment.text.eda import _choose, is_stop_word, n_changes, stop_words
from augment.text.morphology import AUXILIARIES, PARTICLES as MORPH_PARTICLES, PAST, PLURAL, PRESENT_PARTICIPLE, THIRD_PERSON
from augment.text.protect import has_digit, protected_words
from augment.text.result import TextOpResult
from augment.text.tagger import Reading, Tagger, get_tagger, readings
from augment.text.tokens import WORD_RE, Tokens, match_case
from augment.text.wordnet import DEFAULT_RULES, POS_BITS, USUAL_POS_MIN_TAGS, SynonymRules, WordNetIndex

__all__ = ["synonym_replace_many", "random_insert_many", "antonym_replace_many", "word_options", "sentence_readings",
           "MIN_POS_SHARE"]

MIN_POS_SHARE = 0.1
_ARTICLES = frozenset({"a", "an", "the"})
_BASE_TAGS = ("<inf>", "<pres>", "<imp>", "<subs>")


def _form(reading: Reading) -> str | None:
    """The morphology module's form for a reading's tags (None: the lemma's own form)."""
    tags = reading.tags
    if reading.pos == "n":
        return PLURAL if "<pl>" in tags else None
    if reading.pos == "v":
        if "<ger>" in tags:
            return PRESENT_PARTICIPLE
        if "<past>" in tags or "<pp>" in tags:
            return PAST
        if "<p3><sg>" in tags:
            return THIRD_PERSON
        return None
    return None


def _needs_generation(reading: Reading) -> bool:
    if reading.pos == "n":
        return "<pl>" in reading.tags
    if reading.pos == "v":
        return not any(t in reading.tags for t in _BASE_TAGS) or "<p3><sg>" in reading.tags
    if reading.pos == "a":
        return "<comp>" in reading.tags or "<sup>" in reading.tags
    return False


def _head(words: list[str], pos: str) -> int:
    return len(words) - 1 if pos == "n" else 0


class _Options:
    """(reading, kind, rules) -> the inflected alternatives, filled in batches so the generator runs once."""

    def __init__(self) -> None:
        self.cache: dict[tuple, tuple[str, ...]] = {}

    def lemmas(self, index: WordNetIndex, reading: Reading, kind: str, rules: SynonymRules) -> tuple[str, ...]:
        # asked by prefetch() and again by _build(), and shared by the readings of a lemma that differ only in
        # tags ("<pri><p3><sg>", "<past>"): kept in the same bounded cache, under a key of its own shape
        key = ("lemmas", reading.lemma, reading.pos, _needs_generation(reading), kind, rules)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = self._lemmas(index, reading, kind, rules)
        return hit

    def _lemmas(self, index: WordNetIndex, reading: Reading, kind: str, rules: SynonymRules) -> tuple[str, ...]:
        share = index.pos_share(reading.lemma, reading.pos, USUAL_POS_MIN_TAGS)
        if share is not None and share < MIN_POS_SHARE:
            return ()  # the tagged part of speech is a rare one for this lemma: likely a tagger slip
        if kind == "antonyms":
            found = tuple(a for a in index.antonyms(reading.lemma)
                          if index._lemma_pos(a) & POS_BITS[reading.pos])
        else:
            found = index._synonyms(reading.lemma, reading.pos, rules, as_written=False)
        out = []
        for lemma in found:
            words = lemma.split(" ")
            if not lemma.replace(" ", "").replace("-", "").isalpha() or not lemma.islower():
                continue  # capitals (proper nouns, acronyms), digits, dots
            if reading.pos == "v" and words[0] in AUXILIARIES:
                continue  # "made" -> "did": an auxiliary changes the clause, not the word
            if len(words) > 1 and (_ARTICLES.intersection(words) or (reading.pos in ("a", "r") and _needs_generation(
                    reading)) or (reading.pos == "n" and MORPH_PARTICLES.intersection(words[1:]))):
                continue  # "a great deal"; "more happy"; "man of war" (the head is not the last word)
            out.append(lemma)
        return tuple(out)

    def prefetch(self, index: WordNetIndex, tagger: Tagger, wanted: list[tuple[Reading, str, SynonymRules]]) -> None:
        keys = []
        for reading, kind, rules in wanted:
            if (reading, kind, rules) in self.cache or not _needs_generation(reading):
                continue
            for lemma in self.lemmas(index, reading, kind, rules):
                words = lemma.split(" ")
                keys.append((words[_head(words, reading.pos)], reading.tags))
        tagger.generate(keys)

    def get(self, index: WordNetIndex, tagger: Tagger, reading: Reading, kind: str, rules: SynonymRules,
            word: str) -> tuple[str, ...]:
        key = (reading, kind, rules)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.cache[key] = self._build(index, tagger, reading, kind, rules)
            if len(self.cache) > 500_000:
                self.cache.clear()
        low = word.lower()
        return hit if low not in hit else tuple(h for h in hit if h != low)

    def _build(self, index: WordNetIndex, tagger: Tagger, reading: Reading, kind: str,
               rules: SynonymRules) -> tuple[str, ...]:
        out: dict[str, None] = {}
        generate = _needs_generation(reading)
        form = _form(reading)
        for lemma in self.lemmas(index, reading, kind, rules):
            if not generate:
                inflected = lemma
            else:
                words = lemma.split(" ")
                h = _head(words, reading.pos)
                head = tagger.form(words[h], reading.tags)
                if head is None and form is not None:  # the generator does not know it: our morphology
                    head = index.morphology.inflect(words[h], reading.pos, form)
                if head is None:
                    continue
                words[h] = head
                inflected = " ".join(words)
            if inflected == reading.lemma and not generate:
                continue
            if rules.min_zipf > 0 and " " not in inflected and index.zipf(inflected) < rules.min_zipf:
                continue
            out[inflected] = None
        return tuple(out)


_OPTIONS = _Options()


class _LemmasOf:
    """``word in lemmas``: the word is a WordNet lemma of part of speech ``pos`` as written."""

    def __init__(self, index: WordNetIndex, pos: str):
        self.index, self.bit = index, POS_BITS[pos]

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and bool(self.index._lemma_pos(word) & self.bit)


class _Known:
    """``word in known``: the word is a WordNet lemma, as written or through its inflections ("filmmakers")."""

    def __init__(self, index: WordNetIndex):
        self.index = index

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        index = self.index
        return bool(index._lemma_pos(word)) or any(index._lemma_pos(lemma) for lemma, _, _ in
                                                   index.morphology.analyses(word))


def _containers(index: WordNetIndex) -> tuple:
    return _LemmasOf(index, "a"), _LemmasOf(index, "v"), _Known(index)


def sentence_readings(texts: Sequence[str], *, index: WordNetIndex,
                      tagger: Tagger | None = None) -> list[list[Reading | None]]:
    """Per text, per word of ``WORD_RE.split(text)``: the tagger's :class:`Reading` where a word op may change
    the word, else None (as :func:`word_options` decides, before synonyms: also None where the tagged part of
    speech is a rare one for the lemma, a likely tagger slip). One tagger batch."""
    tagger = tagger or get_tagger()
    adjectives, verbs, known = _containers(index)
    out = []
    for text, units in zip(texts, tagger.tag(list(texts))):
        row = []
        for reading in readings(text, units, adjectives, verbs, known):
            if reading is not None:
                share = index.pos_share(reading.lemma, reading.pos, USUAL_POS_MIN_TAGS)
                if share is not None and share < MIN_POS_SHARE:
                    reading = None
            row.append(reading)
        out.append(row)
    return out


_ROWS: dict[tuple, list[tuple[str, ...]]] = {}
_ROWS_MAX = 100_000


def word_options(texts: Sequence[str], *, index: WordNetIndex, kind: str = "synonyms",
                 rules: SynonymRules = DEFAULT_RULES, protect: bool = True,
                 tagger: Tagger | None = None) -> list[list[tuple[str, ...]]]:
    """Per text, per word of ``WORD_RE.split(text)``: the alternatives a context op may put there (() for a
    word that must stay). One tagger batch and one generator batch for all texts.

    A text's row depends on nothing but the text and the settings, so rows are kept (bounded): the copies
    of one row, its redraws and a second pass over a dataset are tagged once.
    """
    settings = (kind, rules, protect, id(index))
    rows: dict[str, list[tuple[str, ...]]] = {}
    todo = []
    for text in texts:
        if text in rows:
            continue
        hit = _ROWS.get((text, *settings))
        if hit is None:
            todo.append(text)
            rows[text] = []  # placeholder: filled below
        else:
            rows[text] = hit
    if todo:
        tagger = tagger or get_tagger()
        adjectives, verbs, known = _containers(index)
        tagged = [readings(t, u, adjectives, verbs, known) for t, u in zip(todo, tagger.tag(todo))]
        _OPTIONS.prefetch(index, tagger, [(r, kind, rules) for rs in tagged for r in rs if r is not None])
        if len(_ROWS) > _ROWS_MAX:
            _ROWS.clear()
        for text, rs in zip(todo, tagged):
            rows[text] = _ROWS[(text, *settings)] = _row(text, rs, index, tagger, kind, rules, protect)
    return [rows[t] for t in texts]


def _row(text: str, rs: list[Reading | None], index: WordNetIndex, tagger: Tagger, kind: str,
         rules: SynonymRules, protect: bool) -> list[tuple[str, ...]]:
    stops = stop_words()
    pieces = WORD_RE.split(text)
    words = pieces[1::2]
    guarded = protected_words(pieces) if protect else ()
    row = []
    for k, (word, reading) in enumerate(zip(words, rs)):
        if reading is None or k in guarded or is_stop_word(word, stops) or (protect and has_digit(word)):
            row.append(())
            continue
        opts = _OPTIONS.get(index, tagger, reading, kind, rules, word)
        article = words[k - 1].lower() if k else ""
        if article in ("a", "an"):  # "a van" -> "a vehicle", never "a avant-garde"
            opts = tuple(o for o in opts if (o[:1] in "aeiou") == (article == "an"))
        row.append(opts)
    return row


def _replace(text: str, rng: np.random.Generator, rate: float, options: list[tuple[str, ...]]) -> TextOpResult:
    pieces = WORD_RE.split(text)
    words = pieces[1::2]
    n = n_changes(rate, len(words))
    candidates = [k for k, o in enumerate(options) if o]
    if n == 0 or not candidates:
        return TextOpResult(text, [])
    changes = []
    for c, u in _choose(rng, n, len(candidates)):
        k = candidates[c]
        before = words[k]
        after = match_case(before, options[k][int(u * len(options[k]))])
        pieces[2 * k + 1] = after
        changes.append({"action": "substitute", "position": k, "before": before, "after": after})
    return TextOpResult("".join(pieces), changes)


def synonym_replace_many(texts: list[str], rngs: list[np.random.Generator], *, rate: float, index: WordNetIndex,
                         rules: SynonymRules = DEFAULT_RULES, protect: bool = True) -> list[TextOpResult]:
    """Synonym replacement with the tagged part of speech: ``n_changes(rate, n_words)`` replaceable words
    get a random synonym of their lemma in that part of speech, in their form and case."""
    if rate <= 0:
        return [TextOpResult(t, []) for t in texts]
    table = word_options(texts, index=index, rules=rules, protect=protect)
    return [_replace(t, rng, rate, opts) for t, rng, opts in zip(texts, rngs, table)]


def antonym_replace_many(texts: list[str], rngs: list[np.random.Generator], *, rate: float, index: WordNetIndex,
                         protect: bool = True) -> list[TextOpResult]:
    """Antonym replacement with the tagged part of speech ("a close game" -> "a distant game" only where
    "close" is the adjective)."""
    if rate <= 0:
        return [TextOpResult(t, []) for t in texts]
    table = word_options(texts, index=index, kind="antonyms", protect=protect)
    return [_replace(t, rng, rate, opts) for t, rng, opts in zip(texts, rngs, table)]


def _insert(text: str, rng: np.random.Generator, rate: float, options: list[tuple[str, ...]]) -> TextOpResult:
    tokens = Tokens.parse(text)
    n_words = len(tokens)
    n = n_changes(rate, n_words)
    sources = [k for k, o in enumerate(options) if o]
    if n == 0 or not sources:
        return TextOpResult(text, [])
    # New words go right after a free content word (one with alternatives), never inside a name ("Jack
    # Black"), a fixed expression ("going to") or a protected token, which hold no free word.
    picks = rng.integers(len(sources), size=n).tolist()
    which = rng.random(n).tolist()
    slots = [sources[i] + 1 for i in rng.integers(len(sources), size=n).tolist()]
    planned = []
    for pick, u, slot in zip(picks, which, slots):
        if slot is None:
            continue
        source = tokens.word(sources[pick])
        opts = options[sources[pick]]
        new = opts[int(u * len(opts))]
        if len(source) > 1 and source.isupper():
            new = new.upper()
        planned.append((slot, new))
    changes = []
    for position, new in sorted(planned, key=lambda item: item[0]):
        tokens.insert_after(position - 1, new)
        changes.append({"action": "insert", "position": position, "before": None, "after": new})
    return TextOpResult(str(tokens), changes)


def random_insert_many(texts: list[str], rngs: list[np.random.Generator], *, rate: float, index: WordNetIndex,
                       rules: SynonymRules = DEFAULT_RULES, protect: bool = True) -> list[TextOpResult]:
    """EDA random insertion whose inserted words are synonyms of tagged content words in the part of speech
    (and form) they have in the sentence, each placed right after a random such word; names and fixed
    expressions are never sources and never split."""
    if rate <= 0:
        return [TextOpResult(t, []) for t in texts]
    table = word_options(texts, index=index, rules=rules, protect=protect)
    return [_insert(t, rng, rate, opts) for t, rng, opts in zip(texts, rngs, table)]
