"""Protected tokens: pieces of text that word ops never replace, split, swap into pieces or break apart.

Numbers with their punctuation ("3.5", "100%", "1,000", "12:30", "2nd", "-4.2e3"), URLs, e-mail addresses,
@mentions, #hashtags and code-like tokens (identifiers with underscores or inner capitals, dotted or
parenthesised calls, paths) carry meaning that a synonym or a typo destroys: "3.5 out of 5 stars" must not
become "III.Little Phoebe". The word regex of :mod:`augment.text.tokens` splits such tokens into several word
pieces; :func:`protected_words` says which word positions fall inside one, and every word op leaves those
positions alone (the word ops in :mod:`augment.text.eda` and :mod:`augment.text.chars` share this rule).
"""

from __future__ import annotations

import re

__all__ = ["PROTECTED_RE", "has_digit", "is_protected_chunk", "protected_words"]

PROTECTED_RE = re.compile(
    r"""
      (?:[a-z][a-z0-9+.\-]*://|www\.)\S+                        # URLs
    | [^\s@]+@[^\s@]+\.[^\s@]+                                  # e-mail addresses
    | (?<![\w@])[@#][^\W_][\w\-]*                               # @mentions, #hashtags
    | [^\s]*\d[^\s]*                                            # anything with a digit: 3.5, 100%, 2nd, v1.2
    | [^\s]*(?:_|[a-z][A-Z]|[()\[\]{}<>=\\/|`$])[^\s]*          # code: snake_case, camelCase, f(x), a/b, <tag>
    | \b[^\W\d_]+(?:\.[^\W\d_]+){2,}\b                          # dotted names: os.path.join
    """,
    re.VERBOSE,
)
_DIGIT = re.compile(r"\d")


def has_digit(word: str) -> bool:
    return _DIGIT.search(word) is not None


def is_protected_chunk(chunk: str) -> bool:
    """True when a space-free chunk holding one word is (or holds) a protected token ("@ann", "#tbt",
    "f(x)"); plain punctuation around a word ("good," "(yes)") is not."""
    if chunk.isalpha() and (chunk.islower() or chunk.isupper() or chunk.istitle()):
        return False  # a plain word, as nearly every chunk of prose is: no regex needed
    match = PROTECTED_RE.search(chunk)
    if match is None:
        return False
    inner = match.group(0)
    # "(yes)" and "word." are ordinary words in brackets or before punctuation, not code
    return not _plain(inner)


def _plain(token: str) -> bool:
    return _PUNCTUATED_WORD.fullmatch(token) is not None and _CAMEL.search(token) is None


_CAMEL = re.compile(r"[a-z][A-Z]")
_PUNCTUATED_WORD = re.compile(r"[\"'(\[{]*[^\W\d_]+(?:['’\-][^\W\d_]+)*[\"')\]}.,;:!?]*")


# A character or pair that every protected token has (a digit, one of @ # _ / : ( ) [ ] { } < > = \ | ` $, an
# inner capital, a dot between letters): prose without one, nearly all of it, skips the full pattern.
_MAYBE = re.compile(r"[\d@#_/:()\[\]{}<>=\\|`$]|[a-z][A-Z]|[^\W\d_]\.[^\W\d_]")


def protected_words(pieces: list[str]) -> set[int]:
    """Word positions (0 = first word) of ``pieces`` (separator/word alternation, see
    :class:`augment.text.tokens.Tokens`) that lie inside a protected token."""
    text = "".join(pieces)
    if _MAYBE.search(text) is None:
        return set()
    spans = [m.span() for m in PROTECTED_RE.finditer(text) if not _plain(m.group(0))]
    if not spans:
        return set()
    out: set[int] = set()
    at, k, s = 0, 0, 0
    for i, piece in enumerate(pieces):
        if i % 2:
            start, end = at, at + len(piece)
            while s < len(spans) and spans[s][1] <= start:
                s += 1
            if s < len(spans) and spans[s][0] < end:
                out.add(k)
            k += 1
        at += len(piece)
    return out
