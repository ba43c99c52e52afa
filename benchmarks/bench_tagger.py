"""CPU and round trips of the Apertium tagger for `context: true` (not a test).

    PYTHONPATH=. python benchmarks/bench_tagger.py [--n 2000] [--repeats 3]

Tags the first N SST-2 texts from a fresh ``Tagger`` (analyser, tagger and generator started, one warm-up text),
and prints wall seconds, our process's CPU, the Apertium processes' CPU (``getrusage`` of the children, counted
when they are closed) and the tagger renewals, per repeat. Quote the load average with the numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from augment.text.tagger import Tagger

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "text" / "sst2" / "train.tsv"


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    args = ap.parse_args()
    texts = [line.split("\t", 1)[1] for line in args.data.read_text(encoding="utf-8").splitlines()[:args.n]]
    print(f"{len(texts)} texts; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for _ in range(args.repeats):
        tagger = Tagger()
        tagger.tag(["warm up ."])
        own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        tagger.tag(texts)
        wall = time.perf_counter() - wall
        own = _cpu(resource.RUSAGE_SELF) - own
        renewals = tagger.renewals
        tagger.close()
        children = _cpu(resource.RUSAGE_CHILDREN) - children
        print(f"wall {wall:.3f} s, our CPU {own:.3f} s, Apertium CPU {children:.3f} s, renewals {renewals}")


if __name__ == "__main__":
    main()
