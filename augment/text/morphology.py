"""English inflection for WordNet synonyms: "dogs" gets "hounds", "jumped" gets "leapt", "making" gets
"creating".

WordNet lists lemmas only ("dog", "bark"), so an inflected word finds no synonyms by itself, and a synonym of its
lemma is the wrong form ("the dogs" -> "the hound"). This module does WordNet's own morphology (morphy(7WN):
the exception lists ``noun.exc``/``verb.exc`` and its suffix rules) to get from a word to (lemma, part of
speech, form), and the reverse, to put a synonym of that lemma into the same form. It only inflects what it
can inflect with confidence and drops the rest:

- nouns: plurals ("mice" <- "mouse" from the exception list, "boxes", "stories", "hounds" by rule);
- verbs: third person singular (-s), past or participle (-ed: the exception list, whose entries also cover
  doubled consonants such as "stopped"), and -ing;
- a synonym whose form is ambiguous (a past of "take" is "took" or "taken", and "ran" could need either),
  that has a capital letter (a proper noun does not pluralise), or that is an auxiliary (be, have, do) is
  dropped; adjective and adverb degrees ("bigger") are not handled.

No part-of-speech tagger is used (none installable here has its data offline), so a word that is both a
plural noun and a verb ("dogs", "tails") gets the synonyms of both readings, as WordNet lemma lookups do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Morphology", "parse_exceptions", "AUXILIARIES", "PARTICLES", "PLURAL", "THIRD_PERSON", "PAST",
           "PRESENT_PARTICIPLE"]

# morphy(7WN) detachment rules: (suffix, ending) per part of speech, tried in this order
_NOUN_RULES = (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
               ("ies", "y"), ("s", ""))
_VERB_RULES = (("ies", "y", "s"), ("es", "e", "s"), ("es", "", "s"), ("s", "", "s"), ("ed", "e", "ed"),
               ("ed", "", "ed"), ("ing", "e", "ing"), ("ing", "", "ing"))
_INFLECTED_ENDINGS = tuple({rule[0] for rule in _NOUN_RULES + _VERB_RULES})
AUXILIARIES = frozenset({"be", "have", "do"})
# Verbs whose past is the lemma itself: verb.exc leaves them out (morphy needs no entry for them), so the
# regular rule would say "readed" or "putted".
_UNCHANGED_PAST = frozenset(
    "bet bid broadcast burst cast cost cut fit forecast hit hurt let put quit read rid set shed shut slit split "
    "spread thrust upset wet beat bust knit sweat offset outbid overcast preset recast reset typecast".split()
)
# Verbs whose participle is the lemma itself ("has come", "had run"): verb.exc lists their pasts only.
_SAME_PARTICIPLE = frozenset({"come", "become", "overcome", "run", "outrun", "overrun"})
# A multi-word noun whose head is not its last word ("carrying out", "man of war", "write up") cannot be
# pluralised by its last word; these words mark them.
PARTICLES = frozenset("of in out up into on off over to by at down for with about after away back".split())
_VOWELS = frozenset("aeiou")
_SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh")

# Forms this module knows: the noun plural and the three verb forms it can rebuild.
PLURAL, THIRD_PERSON, PAST, PRESENT_PARTICIPLE = "plural", "s", "ed", "ing"


def parse_exceptions(text: str) -> dict[str, list[str]]:
    """An exception file (``inflected lemma [lemma ...]`` per line, underscores for spaces) as a mapping."""
    table: dict[str, list[str]] = {}
    for line in text.split("\n"):
        fields = line.split()
        if len(fields) >= 2:
            table.setdefault(fields[0].replace("_", " "), []).extend(f.replace("_", " ") for f in fields[1:])
    return table


@dataclass
class Morphology:
    """Noun and verb exception lists (inflected form -> lemmas) with their reverse, for both directions."""

    noun_exceptions: dict[str, list[str]] = field(default_factory=dict)
    verb_exceptions: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._noun_forms = _reverse(self.noun_exceptions)
        self._verb_forms = _reverse(self.verb_exceptions)
        # (lemma, pos, form) -> inflected: the synonyms of common lemmas come back for every form of every
        # word that has them, so a word's first sight costs a lookup per synonym rather than the rules
        self._inflected: dict[tuple[str, str, str], str | None] = {}

    # -- word -> (lemma, pos, form) ------------------------------------------------------------------------
    def analyses(self, word: str) -> list[tuple[str, str, str]]:
        """(lemma, pos, form) readings of a lower-case inflected ``word``, lemma != word, in a stable order.

        Candidates only: the caller keeps those whose lemma WordNet has in that part of speech. Rules are
        applied once, as morphy does, and only when the exception list has no entry for the word.
        """
        if not word.endswith(_INFLECTED_ENDINGS) and word not in self.noun_exceptions \
                and word not in self.verb_exceptions:
            return []  # most words: no rule applies, no exception listed
        out: list[tuple[str, str, str]] = []
        lemmas = self.noun_exceptions.get(word)
        if lemmas is not None:
            out += [(lemma, "n", PLURAL) for lemma in lemmas if lemma != word]
        else:
            out += [(word[: -len(suffix)] + ending, "n", PLURAL)
                    for suffix, ending in _NOUN_RULES if word.endswith(suffix) and len(word) > len(suffix)]
        lemmas = self.verb_exceptions.get(word)
        if lemmas is not None:
            form = PRESENT_PARTICIPLE if word.endswith("ing") else PAST
            out += [(lemma, "v", form) for lemma in lemmas if lemma != word and lemma not in AUXILIARIES]
        else:
            out += [(word[: -len(suffix)] + ending, "v", form)
                    for suffix, ending, form in _VERB_RULES if word.endswith(suffix) and len(word) > len(suffix)]
        seen: set[tuple[str, str, str]] = set()
        return [a for a in out if len(a[0]) >= 2 and not (a in seen or seen.add(a))]

    def may_be_past(self, word: str) -> bool:
        """``word`` is (also) a past or participle of a verb: listed in verb.exc ("found", "saw", "left"), or
        a verb whose past or participle is the lemma itself ("read", "put", "come", "run")."""
        return word in self.verb_exceptions or word in _UNCHANGED_PAST or word in _SAME_PARTICIPLE

    # -- lemma -> form --------------------------------------------------------------------------------------
    def inflect(self, lemma: str, pos: str, form: str) -> str | None:
        """``lemma`` (a WordNet synonym, maybe several words) in ``form``, or None when that is not certain.

        Nouns inflect their last word ("hot dog" -> "hot dogs"), verbs their first ("give up" -> "gives up").
        """
        key = (lemma, pos, form)
        try:
            return self._inflected[key]
        except KeyError:
            pass
        if len(self._inflected) > 200_000:  # bounded like the other lookup tables
            self._inflected.clear()
        out = self._inflected[key] = self._inflect(lemma, pos, form)
        return out

    def _inflect(self, lemma: str, pos: str, form: str) -> str | None:
        if not lemma.islower() or not lemma.replace("-", "").replace(" ", "").isalpha():
            return None  # capitals (proper nouns, "Canis familiaris"), digits, dots, apostrophes
        words = lemma.split(" ")
        if pos == "n" and form == PLURAL:
            if any(w in PARTICLES for w in words[1:]):
                return None
            head = self._plural(words[-1])
            return None if head is None else " ".join(words[:-1] + [head])
        if pos == "v" and words[0] not in AUXILIARIES and "-" not in words[0]:  # not "give-uping the ghost"
            head = self._verb_form(words[0], form)
            return None if head is None else " ".join([head] + words[1:])
        return None

    def _plural(self, noun: str) -> str | None:
        irregular = self._noun_forms.get(noun)
        if irregular:
            return irregular[0]
        return _regular_plural(noun)

    def _verb_form(self, verb: str, form: str) -> str | None:
        listed = self._verb_forms.get(verb, [])
        if form == THIRD_PERSON:
            return _regular_plural(verb, verb=True)
        if form == PRESENT_PARTICIPLE:
            listed = [f for f in listed if f.endswith("ing")]
            if len(listed) > 1:
                return None
            return listed[0] if listed else _regular_ing(verb)
        if form == PAST:
            listed = [f for f in listed if not f.endswith("ing")]
            if len(listed) > 1:  # "took" or "taken": the word's own form does not say which
                return None
            if listed:
                return listed[0]
            return verb if verb in _UNCHANGED_PAST else _regular_ed(verb)
        return None


def _reverse(table: dict[str, list[str]]) -> dict[str, list[str]]:
    reverse: dict[str, list[str]] = {}
    for inflected, lemmas in table.items():
        for lemma in lemmas:
            forms = reverse.setdefault(lemma, [])
            if inflected not in forms and inflected != lemma:
                forms.append(inflected)
    return reverse


def _consonant_y(word: str) -> bool:
    return len(word) > 1 and word.endswith("y") and word[-2] not in _VOWELS


def _regular_plural(word: str, verb: bool = False) -> str | None:
    """Plural noun or third-person verb by the spelling rules ("box" -> "boxes", "story" -> "stories")."""
    if len(word) < 2:
        return None
    if word.endswith(_SIBILANT_ENDINGS) or (verb and word.endswith("o") and word[-2] not in _VOWELS):
        return word + "es"  # "goes", "does"; nouns in -o vary ("heroes", "photos") and take -s here
    if _consonant_y(word):
        return word[:-1] + "ies"
    return word + "s"


def _regular_ed(verb: str) -> str | None:
    if verb.endswith("e"):
        return verb + "d"
    if _consonant_y(verb):
        return verb[:-1] + "ied"
    return verb + "ed"  # doubled consonants ("stop" -> "stopped") are in verb.exc, which is read first


def _regular_ing(verb: str) -> str | None:
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "oe", "ye")) and len(verb) > 2:
        return verb[:-1] + "ing"
    return verb + "ing"
