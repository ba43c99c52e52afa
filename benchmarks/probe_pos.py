"""Before/after on the part-of-speech probe set (tests/data/pos_probe.txt): synonym_replace with
``context: false`` (the tagger-free lookup) and ``context: true`` (Apertium tagger), same seeds.

    PYTHONPATH=. python benchmarks/probe_pos.py [--copies 5] [--rate 0.5] [--show-misses]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pos_probe import judge, load  # noqa: E402

from augment.ops.catalog import registry  # noqa: E402
from augment.text.wordnet import load_index  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--sample", type=int, default=0, help="print N random (context) outputs for a blind read")
    args = ap.parse_args()
    index = load_index()
    probes = load()
    op = registry().get("synonym_replace")
    print(f"{len(probes)} probes x {args.copies} copies, rate {args.rate}")
    print("| context | replacements | POS kept | name touches | fixed-expr touches | function-word touches |")
    print("|---|---|---|---|---|---|")
    for context in (False, True):
        params = op.params(rate=args.rate, context=context)
        texts = [p.text for p in probes for _ in range(args.copies)]
        rngs = [np.random.default_rng([i, k]) for i in range(len(probes)) for k in range(args.copies)]
        results = op.batch_text(texts, params, rngs)
        expanded = [p for p in probes for _ in range(args.copies)]
        c = judge(index, expanded, results)
        share = c["pos_kept"] / max(1, c["judged"])
        print(f"| {str(context).lower()} | {c['replacements']} | {share:.1%} ({c['pos_kept']}/{c['judged']}) | "
              f"{c['name_touches']} | {c['fixed_touches']} | {c['function_touches']} |")
        if args.show_misses:
            for miss in c["misses"][:60]:
                print("   ", miss)
        if context and args.sample:
            rng = np.random.default_rng(12345)
            changed = [(t, r.text) for t, r in zip(texts, results) if r.changes]
            for i in rng.choice(len(changed), size=min(args.sample, len(changed)), replace=False):
                print("  ", changed[i][1])


if __name__ == "__main__":
    main()
