"""Context word ops are worker-invariant: the word options of the first N SST-2 texts (what synonym_replace
with ``context: true`` may put at each word) tagged in one batch, in reversed chunks of 7, one by one and in
shuffled chunks of 100, each batching with its own tagger processes and an empty row cache.

    PYTHONPATH=. python benchmarks/probe_context_batching.py [--n 2000] [--data ../shared/datasets/text/sst2/train.tsv]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from augment.text import context
from augment.text.tagger import Tagger
from augment.text.wordnet import load_index


def options(texts: list[str], order: list[int], size: int, index) -> tuple[list, int]:
    context._ROWS.clear()  # each batching tags every text itself
    tagger = Tagger()
    out: list = [None] * len(texts)
    for at in range(0, len(order), size):
        chunk = order[at:at + size]
        for i, row in zip(chunk, context.word_options([texts[i] for i in chunk], index=index, tagger=tagger)):
            out[i] = row
    renewals = tagger.renewals
    tagger.close()
    return out, renewals


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "text"
                                          / "sst2" / "train.tsv"))
    args = ap.parse_args()
    lines = Path(args.data).read_text(encoding="utf-8").splitlines()[:args.n]
    texts = [line.split("\t", 1)[1] for line in lines]
    index = load_index()
    n = len(texts)
    ahead = list(range(n))
    reversed7 = [i for chunk in [ahead[at:at + 7] for at in range(0, n, 7)][::-1] for i in chunk]
    shuffled = np.random.default_rng(0).permutation(n).tolist()
    print(f"{n} texts of {args.data}")
    print("| batching | texts whose options differ from one batch | tagger renewals | seconds |")
    print("|---|---|---|---|")
    reference = None
    for name, order, size in (("one batch", ahead, n), ("reversed chunks of 7", reversed7, 7),
                              ("one by one", ahead, 1), ("shuffled chunks of 100", shuffled, 100)):
        start = time.perf_counter()
        got, renewals = options(texts, order, size, index)
        seconds = time.perf_counter() - start
        if reference is None:
            reference = got
        differ = sum(a != b for a, b in zip(got, reference))
        print(f"| {name} | {differ} | {renewals} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
