"""`augment eval` of a text pipeline with and without its label-preservation filter (issue 12).

`augment eval` makes text copies by `augment run`'s per-row rule (redraws of unchanged or repeated copies, the
spec's ``filter:`` block; ``augment/evaluate/text_rule.py``). This script runs the default evaluation twice,
once with the spec as given and once (``--no-filter``) with its ``filter:`` block removed, and writes the
rule's counts next to the report.

    python benchmarks/eval_text_filter.py SPEC --train TRAIN --test TEST --train-sizes 500,2000 \
        [--no-filter] [--model tfidf-logreg] --out DIR

writes DIR/report.json, DIR/report.html and DIR/filter.json (rejection counts per op:reason, drops, redraws).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from augment.evaluate import EvalConfig, format_summary, run_evaluation, write_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", type=Path)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--test", type=Path, required=True)
    ap.add_argument("--train-sizes", default="500,2000")
    ap.add_argument("--model", default="auto")
    ap.add_argument("--time-budget", type=float, default=540.0)
    ap.add_argument("--no-filter", action="store_true")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    spec = yaml.safe_load(a.spec.read_text(encoding="utf-8"))
    if not spec.get("filter"):
        raise SystemExit(f"{a.spec} has no filter: block")
    with tempfile.TemporaryDirectory() as tmp:
        path = a.spec
        if a.no_filter:
            path = Path(tmp) / a.spec.name
            path.write_text(yaml.safe_dump({k: v for k, v in spec.items() if k != "filter"}), encoding="utf-8")
        config = EvalConfig(pipeline=path, train=a.train, test=a.test, train_sizes=a.train_sizes, model=a.model,
                            time_budget=a.time_budget, out=a.out, quiet=True)
        t0 = time.perf_counter()
        result = run_evaluation(config, progress=False)
        wall = time.perf_counter() - t0
    write_report(result, a.out)
    counts = result.pipeline.get("copy_rule", {})
    (a.out / "filter.json").write_text(json.dumps({"filter": None if a.no_filter else spec["filter"],
                                                   "wall_s": round(wall, 1), "counts": counts}, indent=2))
    print(format_summary(result))
    print(f"wall {wall:.0f} s; {json.dumps(counts)}")


if __name__ == "__main__":
    main()
