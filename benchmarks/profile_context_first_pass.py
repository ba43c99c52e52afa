"""Where the first pass of ``synonym_replace`` with ``context: true`` spends its time (not a test).

    PYTHONPATH=. python benchmarks/profile_context_first_pass.py [--limit 2000] [--top 25]

A started worker's first pass over new texts, as ``bench_text.py --context-only`` measures it: the index is
loaded and the tagger started (one warm-up text), the word tables and row cache are empty, then one
``batch_text`` call over the first N SST-2 texts runs under cProfile. Printed: wall seconds, this process's
CPU, the Apertium processes' CPU (``getrusage`` of the children, counted when the tagger is closed after the
pass), how many frequency lookups went to wordfreq, whether wordfreq was imported, and the top functions by
own time. Quote the load average with the numbers (profiling inflates our share ~1.5-2x).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT.parent / "shared" / "datasets" / "text" / "sst2" / "train.tsv"


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--rate", type=float, default=0.1)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--no-profile", action="store_true", help="time only (cProfile inflates Python's share)")
    args = ap.parse_args()
    from augment.ops.text_ops import TEXT_OPS
    from augment.text import context, eda, tagger as tagger_mod, wordnet

    lines = args.data.read_text(encoding="utf-8").splitlines()
    texts = [line.split("\t", 1)[1].strip() for line in lines if "\t" in line][:args.limit]
    op = next(o for o in TEXT_OPS if o.name == "synonym_replace")
    p = op.params(rate=args.rate, context=True)
    index = wordnet.load_index()
    print(f"{len(texts)} texts; index {index.meta['cache']} in {index.meta['seconds']:.2f} s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    op.apply_text("warm up the tagger", p, np.random.default_rng(0))
    eda._TABLES.clear()
    context._OPTIONS.cache.clear()
    context._ROWS.clear()
    index._zipf_cache.clear()
    rngs = [np.random.default_rng(i) for i in range(len(texts))]
    profiler = cProfile.Profile()
    own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    if args.no_profile:
        op.batch_text(texts, p, rngs)
    else:
        profiler.runcall(op.batch_text, texts, p, rngs)
    wall = time.perf_counter() - wall
    own = _cpu(resource.RUSAGE_SELF) - own
    for t in list(tagger_mod._TAGGERS.values()):
        t.close()
    children = _cpu(resource.RUSAGE_CHILDREN) - children
    print(f"wall {wall:.2f} s ({len(texts) / wall:,.0f} texts/s), our CPU {own:.2f} s, Apertium CPU "
          f"{children:.2f} s, wordfreq lookups {len(index._zipf_cache)} "
          f"({', '.join(sorted(index._zipf_cache)[:8])}), wordfreq imported: {'wordfreq' in sys.modules}")
    if not args.no_profile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
