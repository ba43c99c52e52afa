"""Character-level noise: keyboard typos, OCR confusions, random character insert/swap/delete.

The keyboard-neighbour and OCR-confusion tables are nlpaug's (``nlpaug/res/char/...``, MIT), read from the
installed package without importing it (``import nlpaug`` pulls in torch and takes ~1.5 s). The sampling is
our own: nlpaug's augmenters draw from the global ``random`` module, which makes output depend on whatever
else ran in the process, and they re-join tokens with single spaces (whitespace is lost). See
``benchmarks/bench_text.py`` for the speed comparison.

Each op picks ``max(1, round(word_rate * n_words))`` words among the content words of at least
``min_word_len`` characters (stop words left alone unless asked), then changes ``max(1, round(char_rate *
len(word)))`` characters in each. The log has one record per changed word: the character action, the word
position, the word before and after.
"""

from __future__ import annotations

import importlib.util
import json
import string
from functools import lru_cache
from pathlib import Path

import numpy as np

from augment.text.result import TextOpResult
from augment.text.eda import _pick, _sample, is_stop_word, n_changes, stop_words
from augment.text.protect import protected_words
from augment.text.tokens import Tokens

__all__ = [
    "keyboard_layouts",
    "keyboard_map",
    "ocr_map",
    "keyboard_typo",
    "ocr_noise",
    "char_insert",
    "char_swap",
    "char_delete",
    "INSERT_ALPHABET",
]

INSERT_ALPHABET = string.ascii_lowercase  # inserted characters; upper-cased inside an all-caps word


class CharResourceError(RuntimeError):
    pass


def _nlpaug_res() -> Path:
    spec = importlib.util.find_spec("nlpaug")
    if spec is None or not spec.submodule_search_locations:
        raise CharResourceError("keyboard/OCR tables come from nlpaug: `pip install 'nlpaug>=1.1.11'`")
    return Path(list(spec.submodule_search_locations)[0]) / "res" / "char"


def keyboard_layouts() -> list[str]:
    """Languages nlpaug ships a keyboard-neighbour table for (``en``, ``de``, ``fr``, ...)."""
    return sorted(p.stem for p in (_nlpaug_res() / "keyboard").glob("*.json"))


@lru_cache(maxsize=None)
def keyboard_map(lang: str = "en") -> dict[str, tuple[str, ...]]:
    """Character -> keys next to it. Upper-case letters map to upper-cased neighbours: a slip of the finger
    keeps the shift state (nlpaug's own table mixes cases, which turns "a" into "Q" half the time)."""
    path = _nlpaug_res() / "keyboard" / f"{lang}.json"
    if not path.is_file():
        raise CharResourceError(f"no keyboard table for {lang!r}; available: {', '.join(keyboard_layouts())}")
    raw: dict[str, list[str]] = json.loads(path.read_text(encoding="utf-8"))
    table: dict[str, tuple[str, ...]] = {}
    for key, values in raw.items():
        table[key] = tuple(dict.fromkeys(values))
        upper = key.upper()
        if upper != key and upper not in raw:
            table[upper] = tuple(dict.fromkeys(v.upper() for v in values))
    return table


@lru_cache(maxsize=None)
def ocr_map() -> dict[str, tuple[str, ...]]:
    """Character -> characters OCR confuses it with, made symmetric as nlpaug does ("0"<->"o")."""
    raw: dict[str, list[str]] = json.loads((_nlpaug_res() / "ocr" / "en.json").read_text(encoding="utf-8"))
    table: dict[str, list[str]] = {k: list(v) for k, v in raw.items()}
    for key, values in raw.items():
        for value in values:
            if key not in table.setdefault(value, []):
                table[value].append(key)
    return {k: tuple(v) for k, v in table.items()}


def _words_to_change(tokens: Tokens, rng: np.random.Generator, word_rate: float, min_word_len: int,
                     include_stop_words: bool, usable=None, protect: bool = True) -> list[int]:
    n = n_changes(word_rate, len(tokens))
    if n == 0:
        return []
    stops = stop_words()
    guarded = protected_words(tokens.pieces) if protect else ()
    candidates = [
        p for p, word in enumerate(tokens.word_list())
        if len(word) >= min_word_len and p not in guarded
        and (include_stop_words or not is_stop_word(word, stops))
        and (usable is None or any(c in usable for c in word))
    ]
    return sorted(_pick(rng, candidates, n))


def _char_positions(rng: np.random.Generator, eligible: list[int], char_rate: float) -> tuple[list[int], list[float]]:
    """Which of the ``eligible`` character positions to change, sorted, plus one spare uniform per position
    (for choosing what it becomes): one numpy call per word."""
    if not eligible:
        return [], []
    k = min(len(eligible), n_changes(char_rate, len(eligible)) or 1)
    uniforms = rng.random(2 * k).tolist()
    return sorted(eligible[i] for i in _sample(len(eligible), uniforms[:k])), uniforms[k:]


def _substitute(text: str, rng: np.random.Generator, table: dict[str, tuple[str, ...]], word_rate: float,
                char_rate: float, min_word_len: int, include_stop_words: bool, protect: bool = True) -> TextOpResult:
    tokens = Tokens.parse(text)
    changes = []
    for p in _words_to_change(tokens, rng, word_rate, min_word_len, include_stop_words, usable=table,
                              protect=protect):
        before = tokens.word(p)
        chars = list(before)
        eligible = [i for i, c in enumerate(chars) if c in table]
        positions, uniforms = _char_positions(rng, eligible, char_rate)
        for i, u in zip(positions, uniforms):
            options = table[chars[i]]
            chars[i] = options[int(u * len(options))]
        after = "".join(chars)
        tokens.set_word(p, after)
        changes.append({"action": "substitute", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)


def keyboard_typo(text: str, rng: np.random.Generator, *, word_rate: float, char_rate: float,
                  min_word_len: int = 4, include_stop_words: bool = False, lang: str = "en",
                  protect: bool = True) -> TextOpResult:
    """Replace characters with a neighbouring key ("keyboard" -> "keyboatd")."""
    return _substitute(text, rng, keyboard_map(lang), word_rate, char_rate, min_word_len, include_stop_words, protect)


def ocr_noise(text: str, rng: np.random.Generator, *, word_rate: float, char_rate: float,
              min_word_len: int = 4, include_stop_words: bool = False, protect: bool = True) -> TextOpResult:
    """Replace characters with ones OCR confuses them with ("hello" -> "hell0")."""
    return _substitute(text, rng, ocr_map(), word_rate, char_rate, min_word_len, include_stop_words, protect)


def char_insert(text: str, rng: np.random.Generator, *, word_rate: float, char_rate: float,
                min_word_len: int = 4, include_stop_words: bool = False, protect: bool = True) -> TextOpResult:
    """Insert random letters inside words (never before the first character, so case cues stay put)."""
    tokens = Tokens.parse(text)
    changes = []
    for p in _words_to_change(tokens, rng, word_rate, min_word_len, include_stop_words, protect=protect):
        before = tokens.word(p)
        k = n_changes(char_rate, len(before)) or 1
        uniforms = rng.random(2 * k).tolist()
        # slots 1..len(before) (after the first character), filled back to front so each stays valid
        slots = sorted((1 + int(u * len(before)) for u in uniforms[:k]), reverse=True)
        shout = len(before) > 1 and before.isupper()
        chars = list(before)
        for slot, u in zip(slots, uniforms[k:]):
            c = INSERT_ALPHABET[int(u * len(INSERT_ALPHABET))]
            chars.insert(slot, c.upper() if shout else c)
        after = "".join(chars)
        tokens.set_word(p, after)
        changes.append({"action": "insert", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)


def char_swap(text: str, rng: np.random.Generator, *, word_rate: float, char_rate: float,
              min_word_len: int = 4, include_stop_words: bool = False, protect: bool = True) -> TextOpResult:
    """Swap characters with their right-hand neighbour ("form" -> "from"), the commonest transposition typo.
    A swap that would change nothing (a doubled letter) still counts as chosen; a word is only logged when it
    actually changed."""
    tokens = Tokens.parse(text)
    changes = []
    for p in _words_to_change(tokens, rng, word_rate, max(2, min_word_len), include_stop_words,
                              protect=protect):
        before = tokens.word(p)
        chars = list(before)
        for i in _char_positions(rng, list(range(len(chars) - 1)), char_rate)[0]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        after = "".join(chars)
        if after != before:
            tokens.set_word(p, after)
            changes.append({"action": "swap", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)


def char_delete(text: str, rng: np.random.Generator, *, word_rate: float, char_rate: float,
                min_word_len: int = 4, include_stop_words: bool = False, protect: bool = True) -> TextOpResult:
    """Delete characters from words; a word always keeps at least one character."""
    tokens = Tokens.parse(text)
    changes = []
    for p in _words_to_change(tokens, rng, word_rate, max(2, min_word_len), include_stop_words,
                              protect=protect):
        before = tokens.word(p)
        doomed = set(_char_positions(rng, list(range(len(before))), char_rate)[0][: len(before) - 1])
        after = "".join(c for i, c in enumerate(before) if i not in doomed)
        tokens.set_word(p, after)
        changes.append({"action": "delete", "position": p, "before": before, "after": after})
    return TextOpResult(str(tokens), changes)
