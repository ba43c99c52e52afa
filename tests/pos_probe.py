"""The part-of-speech probe set (tests/data/pos_probe.txt) and its judge, shared by the property test and
benchmarks/probe_pos.py.

The judge does not use the tagger: a replacement at a word marked ``n``/``v``/``a``/``r`` keeps its part of
speech when the replacement (or a lemma of it) is a WordNet synonym, in any sense, of the word (or a lemma of
it) in that part of speech.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from augment.text.tokens import WORD_RE
from augment.text.wordnet import SynonymRules, WordNetIndex

PROBE = Path(__file__).parent / "data" / "pos_probe.txt"
_MARKED = re.compile(WORD_RE.pattern[1:-1] + r"(?:\|([nvarK*]))?")
_MARK = re.compile(r"\|[nvarK*]")
ANY_SENSE = SynonymRules(max_senses=0, min_zipf=0.0, max_words=0)


@dataclass(frozen=True)
class Probe:
    text: str
    marks: tuple[str, ...]  # per word of WORD_RE.split(text): "n", "v", "a", "r", "*", "K" or "" (function)


def load() -> list[Probe]:
    out = []
    for line in PROBE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text = _MARK.sub("", line)
        marks = tuple(m.group(1) or "" for m in _MARKED.finditer(line))
        assert len(marks) == len(WORD_RE.split(text)) // 2, line
        out.append(Probe(text, marks))
    return out


def _lemmas(index: WordNetIndex, word: str) -> set[str]:
    low = word.lower()
    return {low} | {lemma for lemma, _, _ in index.morphology.analyses(low)}


def keeps_pos(index: WordNetIndex, before: str, after: str, pos: str) -> bool:
    for lemma in _lemmas(index, before):
        synonyms = set(index._synonyms(lemma, pos, ANY_SENSE, as_written=False))
        if synonyms & _lemmas(index, after) or after.lower() in synonyms:
            return True
    return False


def judge(index: WordNetIndex, probes: list[Probe], results) -> dict:
    """Counts over the substitutions in ``results`` (one TextOpResult per probe, in order)."""
    counts = {"replacements": 0, "judged": 0, "pos_kept": 0, "name_touches": 0, "fixed_touches": 0,
              "function_touches": 0, "changed_copies": 0, "misses": []}
    for probe, res in zip(probes, results):
        subs = [c for c in res.changes if c["action"] == "substitute"]
        counts["changed_copies"] += bool(subs)
        for c in subs:
            counts["replacements"] += 1
            mark = probe.marks[c["position"]]
            if mark == "K":
                key = "name_touches" if c["before"][:1].isupper() and c["before"] != "According" else "fixed_touches"
                counts[key] += 1
                counts["misses"].append((probe.text, c["before"], c["after"], key))
            elif mark == "":
                counts["function_touches"] += 1
                counts["misses"].append((probe.text, c["before"], c["after"], "function word"))
            elif mark in "nvar":
                counts["judged"] += 1
                if keeps_pos(index, c["before"], c["after"], mark):
                    counts["pos_kept"] += 1
                else:
                    counts["misses"].append((probe.text, c["before"], c["after"], "pos " + mark))
    return counts
