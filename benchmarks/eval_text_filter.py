"""`augment eval` of a text pipeline with and without its label-preservation filter (issue 12).

`augment eval` augments through ``Pipeline.batch``, which never sees labels, so a spec's ``filter:`` block is
not applied there. This script runs the same evaluation (``run_evaluation`` with the CLI's defaults) with an
augmenter that applies the rule `augment run` applies to every row: a copy identical to its source or to
another copy of it, or rejected by the filter, is redrawn up to 4 times from derived seeds, then dropped
(returned as the source, which the protocol drops as an unchanged copy). The filter is fit, cross-fitted, on
the originals of each run's training subset (labels looked up in --train), so it never sees the test set.

    python benchmarks/eval_text_filter.py SPEC --train TRAIN --test TEST --train-sizes 500,2000 \
        [--no-filter] [--model tfidf-logreg] --out DIR

writes DIR/report.json, DIR/report.html and DIR/filter.json (rejection counts per op:reason, drops, redraws).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from augment.evaluate import EvalConfig, format_summary, run_evaluation, write_report  # noqa: E402
from augment.evaluate.protocol import load_augmenter  # noqa: E402
from augment.run.text_job import MAX_REDRAWS  # noqa: E402
from augment.seeding import derive_seed  # noqa: E402
from augment.text.filter import FilterRules, LabelFilter  # noqa: E402


class RunRuleAugmenter:
    """The protocol's augmenter with `augment run`'s per-row rule (redraws, drops, optional filter)."""

    def __init__(self, spec: Path, train: Path, use_filter: bool) -> None:
        self.inner = load_augmenter(spec)
        self.modality, self.name = self.inner.modality, self.inner.name
        self.spec, self.spec_hash = self.inner.spec, self.inner.spec_hash
        rules = (self.spec or {}).get("filter") if use_filter else None
        if use_filter and not rules:
            raise SystemExit(f"{spec} has no filter: block")
        self.rules = rules
        # header-less label<TAB>text (the shared SST-2 layout)
        pairs = [line.split("\t", 1) for line in train.read_text(encoding="utf-8").splitlines() if "\t" in line]
        self.label_of = {text: label for label, text in pairs}
        self.stats: Counter = Counter()

    def _filter(self, texts: list[str]) -> LabelFilter | None:
        if not self.rules:
            return None
        r, ratio = self.rules, self.rules.get("length_ratio")
        return LabelFilter(list(range(len(texts))), texts, [self.label_of.get(t) for t in texts], FilterRules(
            label_confidence=r.get("label_confidence"), folds=r.get("folds", 5),
            min_similarity=r.get("min_similarity"), length_ratio=tuple(ratio) if ratio else None))

    def __call__(self, items, seeds) -> list[str]:
        sources = list(dict.fromkeys(items))
        index = {t: i for i, t in enumerate(sources)}
        flt = self._filter(sources)
        out: list[str | None] = [None] * len(items)
        seen = {t: {t} for t in sources}
        pending = list(range(len(items)))
        for attempt in range(MAX_REDRAWS + 1):
            draw_seeds = [int(seeds[j]) if attempt == 0 else derive_seed(int(seeds[j]), "redraw", attempt)
                          for j in pending]
            results = self.inner.pipeline.run_batch([items[j] for j in pending], draw_seeds)
            verdicts = (flt.judge_many([(index[items[j]], items[j], res.output) for j, res in zip(pending, results)])
                        if flt else [None] * len(pending))
            again = []
            for j, res, verdict in zip(pending, results, verdicts):
                if verdict is not None:
                    ops = "+".join(s["op"] for s in res.applied) or "none"
                    self.stats[f"rejected {ops}:{verdict}"] += 1
                    again.append(j)
                elif res.output in seen[items[j]]:
                    again.append(j)
                else:
                    out[j] = res.output
                    seen[items[j]].add(res.output)
                    self.stats["redrawn"] += bool(attempt)
            pending = again
            if not pending:
                break
        self.stats["copies"] += len(items)
        for j in pending:
            self.stats["dropped (filter or unchanged/duplicate after redraws)"] += 1
            out[j] = items[j]  # the protocol drops a copy equal to its source
        return out  # type: ignore[return-value]


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
    aug = RunRuleAugmenter(a.spec, a.train, use_filter=not a.no_filter)
    config = EvalConfig(pipeline=a.spec, train=a.train, test=a.test, train_sizes=a.train_sizes, model=a.model,
                        time_budget=a.time_budget, out=a.out, quiet=True)
    t0 = time.perf_counter()
    result = run_evaluation(config, progress=False, augmenter=aug)
    wall = time.perf_counter() - t0
    write_report(result, a.out)
    (a.out / "filter.json").write_text(json.dumps({"filter": aug.rules, "wall_s": round(wall, 1),
                                                   "counts": dict(sorted(aug.stats.items()))}, indent=2))
    print(format_summary(result))
    print(f"wall {wall:.0f} s; {json.dumps(dict(sorted(aug.stats.items())))}")


if __name__ == "__main__":
    main()
