"""Generate a labelled sentiment corpus of short product and film reviews (no download, no copied text).

Sentences are drawn from templates and word lists written for this repository (licence: the repository's own;
see samples/README.md). The label follows the opinion words, flipped by negation ("not great" is negative),
and 8% of labels are flipped at random, so that no model reaches 100% and runs differ as on real data.
Run from the repo root:
    .venv/bin/python samples/scripts/make_reviews.py --n 3000 --out demo-out/reviews.tsv
Output: header-less ``label<TAB>text`` TSV, the format `augment run` and `augment eval` read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

THINGS = ["film", "movie", "story", "plot", "cast", "script", "soundtrack", "camera work", "ending", "pacing",
          "phone", "battery", "screen", "keyboard", "speaker", "charger", "blender", "kettle", "jacket", "backpack",
          "hotel", "room", "service", "meal", "coffee", "delivery", "app", "update", "manual", "game"]
POS = ["great", "excellent", "lovely", "wonderful", "solid", "reliable", "charming", "superb", "delightful",
       "impressive", "sturdy", "pleasant", "brilliant", "clever", "smooth", "fantastic", "enjoyable", "fine"]
NEG = ["awful", "terrible", "dull", "flimsy", "boring", "clumsy", "poor", "disappointing", "weak", "noisy",
       "broken", "bland", "tedious", "sloppy", "mediocre", "annoying", "useless", "bad"]
POS_V = ["loved", "enjoyed", "recommend", "adored", "appreciated", "liked"]
NEG_V = ["hated", "regret buying", "returned", "disliked", "gave up on", "could not stand"]
OPENERS = ["", "", "honestly, ", "to be fair, ", "after a week, ", "in short, ", "overall, ", "frankly, ",
           "as expected, ", "surprisingly, "]
FILLER = ["", "", "", " for the price", " given the hype", " on the whole", " in my experience",
          " compared with the last one", " by any standard", " most of the time"]
TEMPLATES = [
    "{o}the {t} was {neg}{adj}{f}.",
    "{o}i {verb} the {t}{f}.",
    "{o}the {t} is {neg}{adj} and the {t2} is {adj2}.",
    "{o}what a {adj} {t}{f}.",
    "{o}{neg_cap}a {adj} {t}, i would say.",
    "{o}the {t} felt {neg}{adj}, and i {verb} it.",
]


def sentence(rng: np.random.Generator) -> tuple[str, str]:
    positive = bool(rng.integers(2))
    negate = rng.random() < 0.2
    surface = positive != negate  # the words said; negation turns them around
    adj = rng.choice(POS if surface else NEG)
    adj2 = rng.choice(POS if positive else NEG)
    verb = rng.choice(POS_V if positive else NEG_V)
    template = rng.choice(TEMPLATES)
    if "{verb}" in template and "{adj}" not in template:
        negate, surface = False, positive
    text = template.format(o=rng.choice(OPENERS), t=rng.choice(THINGS), t2=rng.choice(THINGS), adj=adj, adj2=adj2,
                           verb=verb, f=rng.choice(FILLER), neg="not " if negate else "",
                           neg_cap="not " if negate else "")
    label = "pos" if positive else "neg"
    if rng.random() < 0.08:
        label = "neg" if positive else "pos"
    return label, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    seen, lines = set(), []
    while len(lines) < args.n:
        label, text = sentence(rng)
        if text in seen:  # duplicates would leak between the train and test splits
            continue
        seen.add(text)
        lines.append(f"{label}\t{text}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
