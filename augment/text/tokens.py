"""Loss-free tokenisation: a text is split into alternating separator and word pieces whose concatenation is
the original text, byte for byte.

``pieces`` always has odd length: separator, word, separator, ..., word, separator (separators may be empty
strings and hold everything between two words: spaces, punctuation, symbols, line breaks). Word ops edit the
word pieces and leave the separators alone, which is how case, punctuation and whitespace survive
augmentation. ``"".join(pieces)`` is the detokeniser; there is no guessing about where spaces went, unlike
the Treebank-style detokeniser nlpaug relies on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["WORD_RE", "Tokens", "is_word", "tokenize", "detokenize", "match_case"]

# A word is a run of letters/digits (``\w`` minus underscore), optionally joined by inner apostrophes or
# hyphens ("don't", "well-known", "O’Brien"). The capturing group makes ``split`` return the separators too.
WORD_RE = re.compile(r"([^\W_]+(?:['’\-][^\W_]+)*)")
_LEADING_SPACE = re.compile(r"^[^\S\r\n]+")  # spaces and tabs, never a line break
_TRAILING_SPACE = re.compile(r"[^\S\r\n]+$")


@dataclass
class Tokens:
    """Alternating separator/word pieces; word ``k`` (0 = first word) is ``pieces[2 * k + 1]``.

    Edits never change the number of pieces, so word positions stay those of the input text and a planned
    list of edits can be applied in any order.
    """

    pieces: list[str]

    @classmethod
    def parse(cls, text: str) -> "Tokens":
        return cls(WORD_RE.split(text))

    @property
    def words(self) -> range:
        """Indices into ``pieces`` of the word pieces, in order."""
        return range(1, len(self.pieces), 2)

    def __len__(self) -> int:
        return len(self.pieces) // 2

    def __str__(self) -> str:
        return "".join(self.pieces)

    def word(self, position: int) -> str:
        return self.pieces[2 * position + 1]

    def set_word(self, position: int, value: str) -> None:
        self.pieces[2 * position + 1] = value

    def word_list(self) -> list[str]:
        return self.pieces[1::2]

    def insert_after(self, position: int, word: str) -> None:
        """Insert ``word`` right after the word at ``position``, separated by one space.

        Inserting after (never before) a word keeps a capitalised sentence start at the start and keeps the
        new word inside the sentence's punctuation. The new word joins the piece of the word it follows, so
        positions do not shift.
        """
        self.pieces[2 * position + 1] += " " + word

    def delete(self, position: int) -> str:
        """Remove the word at ``position`` and the spaces on one side of it, so no double space is left.

        The spaces after it go when there are some ("a b c" -> "a c"); otherwise those before it
        ("a b." -> "a."). Line breaks and punctuation are never removed. Apply several deletions from the
        last position to the first so that each sees the spaces its neighbours left.
        """
        at = 2 * position + 1
        removed = self.pieces[at]
        self.pieces[at] = ""
        after = self.pieces[at + 1]
        lead = _LEADING_SPACE.match(after)
        if lead:
            self.pieces[at + 1] = after[lead.end():]
        else:
            self.pieces[at - 1] = _TRAILING_SPACE.sub("", self.pieces[at - 1])
        return removed


def is_word(piece: str) -> bool:
    """True for a word piece (starts with a letter or digit)."""
    return piece[:1].isalnum()


def tokenize(text: str) -> list[str]:
    """The alternating separator/word pieces of ``text``; ``"".join`` restores it."""
    return WORD_RE.split(text)


def detokenize(pieces: list[str]) -> str:
    return "".join(pieces)


def match_case(template: str, word: str) -> str:
    """Give ``word`` the case pattern of ``template``: UPPER, Title or as-is.

    A lower-case template leaves ``word`` untouched, so a WordNet proper noun keeps its capital ("Paris").
    A one-letter upper-case template ("I", "A") counts as Title, not as shouting.
    """
    if not word:
        return word
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
