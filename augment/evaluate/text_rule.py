"""Text copies for ``augment eval`` made by ``augment run``'s per-row rule, so that eval measures what run writes.

A copy identical to its source or to another copy of the same source is drawn again (up to
``augment.run.text_job.MAX_REDRAWS`` times, from derived seeds); so is a copy the spec's ``filter:`` block rejects
(label-preservation classifier, similarity and length bounds). A copy still unchanged, repeated or rejected after
the last redraw is dropped: it is returned equal to its source, which the protocol drops as an unchanged copy.
The filter is cross-fitted on the sources of each call -- the run's training subset, with its labels -- so it
never sees the test set. Counts (redrawn, dropped, rejections per op and reason) accumulate in ``stats`` for the
report.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from augment.run.text_job import MAX_REDRAWS
from augment.seeding import derive_seed
from augment.text.filter import FilterRules, LabelFilter

__all__ = ["augment_with_run_rule"]


def augment_with_run_rule(pipeline: Any, items: Sequence[str], seeds: Sequence[int], labels: Sequence[str],
                          filter_rules: dict | None, stats: Counter) -> list[str]:
    sources = list(dict.fromkeys(items))
    index = {t: i for i, t in enumerate(sources)}
    label_of = dict(zip(items, labels))
    flt = (LabelFilter(list(range(len(sources))), sources, [label_of[t] for t in sources],
                       FilterRules.from_spec(filter_rules)) if filter_rules else None)
    out: list[str | None] = [None] * len(items)
    seen = {t: {t} for t in sources}
    pending = list(range(len(items)))
    for attempt in range(MAX_REDRAWS + 1):
        draw = [int(seeds[j]) if attempt == 0 else derive_seed(int(seeds[j]), "redraw", attempt) for j in pending]
        results = pipeline.run_batch([items[j] for j in pending], draw, labels=[labels[j] for j in pending])
        verdicts = (flt.judge_many([(index[items[j]], items[j], r.output) for j, r in zip(pending, results)])
                    if flt is not None else [None] * len(pending))
        again = []
        for j, res, verdict in zip(pending, results, verdicts):
            if verdict is not None:
                stats[f"rejected {'+'.join(s['op'] for s in res.applied) or 'none'}:{verdict}"] += 1
                again.append(j)
            elif res.output in seen[items[j]]:
                again.append(j)
            else:
                out[j] = res.output
                seen[items[j]].add(res.output)
                stats["redrawn"] += bool(attempt)
        pending = again
        if not pending:
            break
    stats["copies asked"] += len(items)
    stats["dropped after redraws"] += len(pending)
    for j in pending:
        out[j] = items[j]
    return out  # type: ignore[return-value]
