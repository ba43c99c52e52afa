"""With and without augmentation on in-memory annotated items: ``compare_detection`` / ``compare_segmentation``.

The library form of the annotated eval for items a caller already holds (``(image, boxes, labels)`` or
``(image, mask)``): every run trains a baseline on the items and an augmented arm on the items plus ``copies``
augmented copies of each, with the same model seed, and scores both on the test items. The runs go through the
one loop of every evaluation (:mod:`.loop`), so they get what ``augment eval`` gets: fits in ``jobs`` worker
processes with the same numbers whatever ``jobs``, a ``time_budget`` no new run overruns, a journal of finished
fits (``journal``) that ``resume=True`` continues, and on Ctrl-C or SIGTERM a result with what finished
(``status`` "interrupted") instead of nothing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable, Sequence

from .loop import COMPLETE, Journal, LoopPlan, default_jobs, run_loop

__all__ = ["compare_items"]

_LABEL = "full"  # one training size: the items given


class _ItemsExperiment:
    """The two arms as the loop sees them. Run ``u``'s seed is ``seed * 1000 + u`` (the model's initial weights
    and shuffling, and the copies' draws), shared by both arms."""

    arms = ["baseline", "augmented"]

    def __init__(self, pipe, train: Sequence, test: Sequence, copies: int, seed: int, metrics: tuple[str, ...],
                 train_and_score: Callable[..., dict], augment_items: Callable[..., list]) -> None:
        self.pipe, self.train, self.test, self.copies, self.seed = pipe, list(train), list(test), copies, seed
        self.metrics = metrics
        self.train_and_score, self.augment_items = train_and_score, augment_items

    def fit(self, label: str, n: int, u: int, arm: str) -> dict:
        run_seed = self.seed * 1000 + u
        items = self.train
        if arm == "augmented":
            items = items + self.augment_items(self.pipe, self.train, self.copies, run_seed)
        return {"size": label, "repeat": u, "arm": arm, "seed": run_seed, "n_train": len(items),
                "metrics": self.train_and_score(items, self.test, seed=run_seed)}


def compare_items(task: str, pipe, train: Sequence, test: Sequence, *, copies: int, repeats: int, seed: int,
                  metrics: tuple[str, ...], train_and_score: Callable[..., dict],
                  augment_items: Callable[..., list], jobs: int | None = None, time_budget: float | None = None,
                  journal: str | Path | None = None, resume: bool = False, started: float | None = None) -> dict:
    """Run ``repeats`` paired runs (module docstring) and compare the arms on ``metrics`` (the first decides).
    ``train_and_score(items, test, seed=...)`` -> metrics; ``augment_items(pipe, items, copies, seed)`` -> copies.
    ``jobs``: fits at once (None: every core); ``time_budget``: seconds from ``started`` (a ``time.perf_counter()``
    value, default now); ``journal``: a fits.jsonl path."""
    from .stats import compare_paired_runs

    t_start = time.perf_counter() if started is None else float(started)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, not {repeats}")
    experiment = _ItemsExperiment(pipe, train, test, copies, seed, metrics, train_and_score, augment_items)
    jobs = max(1, int(jobs if jobs is not None else default_jobs()))
    plan = LoopPlan(sizes=[(_LABEL, len(experiment.train))], looks=(int(repeats),), adaptive=False, margin=None,
                    levels={_LABEL: 0.05}, jobs=jobs,
                    deadline=None if time_budget is None else t_start + float(time_budget), started=t_start)
    log = None
    if journal is not None:
        spec_hash = getattr(pipe, "spec_hash", None) or hashlib.sha256(
            repr(getattr(pipe, "spec", pipe)).encode()).hexdigest()
        key = {"task": task, "copies": copies, "seed": seed, "metrics": list(metrics), "pipeline": spec_hash,
               "train": len(experiment.train), "test": len(experiment.test)}
        log = Journal(Path(journal), key, resume)
    outcome = run_loop(experiment, plan, journal=log)
    arms: dict[str, list[dict]] = {"baseline": [], "augmented": []}
    for rec in outcome.records:  # complete runs only, ordered by run then arm
        arms[rec["arm"]].append(dict(rec["metrics"]))
    done = len(arms["baseline"])
    return {"task": task, "train": len(experiment.train), "test": len(experiment.test), "copies": copies,
            "repeats": done, "repeats_planned": int(repeats), "runs": arms,
            "metrics": compare_paired_runs(arms, metrics, seed) if done else {},
            "status": outcome.status, "interrupted_by": outcome.interrupted_by, "jobs": jobs,
            "stopping": outcome.stopping[_LABEL],
            "fits": {"trained": outcome.fits_trained, "from_journal": outcome.fits_reused_from_journal},
            "complete": outcome.status == COMPLETE}
