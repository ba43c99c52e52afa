"""The one size x run loop of every ``augment eval`` (class folders, text, detection, segmentation).

An evaluation supplies an :class:`Experiment`: its arms (baseline first), its metric names (the primary one
decides) and ``fit(label, n, u, arm)``, which trains and scores ONE arm on run ``u`` of one training size and
returns a record. Everything else is here:

* **looks and decisions** -- runs are added look by look (``verdict.look_schedule``) until every arm's verdict
  on the primary metric is decided, the run limit is reached or the time budget runs out; the final decision of
  every metric uses every complete run;
* **parallel fits** -- fits do not depend on each other (every seed comes from the size, the run and the arm),
  so they run in ``jobs`` worker processes, each with the experiment's own thread count: the numbers are the
  same for any ``jobs`` (fits are collected by key, never by arrival order);
* **the time budget** -- the deadline is the caller's: the command's start plus ``--time-budget``, so the work
  before the first fit (imports, loading the data) is counted, and the plan reserves ``tail_seconds`` for what
  must still happen after the last fit (statistics, samples, the report). With a deadline, only the first run
  of the largest size is started before any fit has been timed (a probe); after that a look's runs are queued
  only if the queue of fits ends, at each fit's estimated time, ``tail_seconds`` before the deadline, and no
  fit starts that would end later than that. A fit's estimate scales the measured fits by the experiment's
  ``relative_cost`` (by the train size when it has none), so a larger size's first fit is not assumed to cost
  a smaller size's mean. Only the probe runs whatever the budget (the report then holds one run); a size whose
  first run does not fit ends "time budget reached" with no run, and the evaluation "stopped: time budget";
* **the largest size first** -- with a deadline, the largest size (the one the user's data is about) is planned
  first: the smaller sizes' runs are queued only if the budget still holds every run the largest may take up to
  its run limit, until it is decided, reaches that limit, is cut by the budget or can detect
  :data:`MDE_TARGET`; the smaller sizes (the learning curve) then share what is left, larger first and one run
  each before any gets a second. With several workers a look's longest fits are queued first, and a smaller
  size's run also goes to a worker that would idle until the largest size's running fits end, when it is
  estimated to end before them (it takes nothing from the largest size). Each size cut short says why (``stopping[label]["why"]``). Only which fits
  are queued changes: the looks, their levels and the decisions are the same rule, and without a deadline the
  sizes advance side by side as before;
* **partial results and resume** -- every finished fit is appended to a journal (``fits.jsonl``) as it arrives;
  Ctrl-C or SIGTERM end the loop with status "interrupted" and what finished, and a later run with the journal
  (``--resume``) reuses every finished fit instead of training it again.

* **epochs planned against the budget** -- an experiment whose model trains a number of epochs it can change
  (``configured_epochs`` and ``set_epochs``) first trains one pilot fit (the largest size's first baseline) at
  the floor, a quarter of the configured epochs; from its measured time, scaled to the epochs (and the
  experiment's ``relative_cost`` of every other fit), the loop plans the epochs so that the runs of the first
  two looks of the largest size fit the budget (never more than configured, never under the floor): epochs and
  the sizes' priority are planned together, so the smaller sizes, which get what the largest leaves, never cost
  its fits epochs (with one size, its looks are planned). When even the floor cannot give the largest size its
  first look, one line says so up front and the budget goes to it anyway. When the plan lands on the
  floor the pilot is kept as that fit; otherwise it is dropped and its run trained at the planned epochs (every
  fit of an evaluation trains the same epochs), so a tight budget no longer pays for a pilot at the configured
  epochs that is thrown away. The plan (configured, planned, the pilot's epochs and seconds) is in the result,
  and the planned epochs travel with each fit in the journal so that ``--resume`` keeps them.

A fit that would train on exactly the baseline's examples (an identity pipeline: every copy dropped) returns
``{"reuse": "<arm>"}`` and takes that arm's result, so the difference is exactly zero.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from augment import interrupts
from augment.run.worker import children_born_deaf_to_ctrl_c, ignore_ctrl_c

from . import verdict

__all__ = ["COMPLETE", "STOPPED_BUDGET", "INTERRUPTED", "Experiment", "LoopPlan", "LoopResult", "Journal",
           "run_loop", "fit_sizes", "default_jobs"]

COMPLETE, STOPPED_BUDGET, INTERRUPTED = "complete", "stopped: time budget", "interrupted"


class Experiment(Protocol):
    """What an evaluation supplies to the loop. Optional, for epochs planned against the budget:
    ``configured_epochs`` (int, or None when the model has no epochs to plan), ``set_epochs(e)`` and
    ``relative_cost(label, n, arm)`` (a fit's cost relative to the first size's baseline fit at the same epochs)."""

    arms: list[str]  # baseline first
    metrics: tuple[str, ...]  # primary first

    def fit(self, label: str, n: int, u: int, arm: str) -> dict: ...


MIN_EPOCH_FRACTION = 0.25  # planning never cuts a model's epochs below this share of its configured epochs
MDE_TARGET = 0.025  # with a deadline, the largest size gives up its first claim on the budget at this MDE
PLAN_SLACK = 0.85  # the planned fits may use this share of the budget left (fit times vary; the test set too)


def default_jobs() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def fit_sizes(sizes: Sequence[Any], pool: int, what: str = "training examples") -> tuple[list[tuple[str, int]],
                                                                                           list[str]]:
    """(label, n) per requested size that the pool can hold, and notes for those it cannot: a size larger than
    the data is dropped (``full`` is kept or added in its place), so the defaults fit small data."""
    out, notes, dropped = [], [], []
    for s in sizes:
        if s == "full":
            out.append(("full", pool))
        elif int(s) >= pool:
            dropped.append(int(s))
        else:
            out.append((str(s), int(s)))
    if dropped:
        if not any(lab == "full" for lab, _ in out):
            out.append(("full", pool))
        notes.append(f"train size{'s' if len(dropped) > 1 else ''} {', '.join(map(str, dropped))} "
                     f"{'exceed' if len(dropped) > 1 else 'exceeds'} or equal{'' if len(dropped) > 1 else 's'} the "
                     f"{pool} {what} available; 'full' ({pool}) is evaluated instead")
    return out, notes


@dataclass
class LoopPlan:
    sizes: list[tuple[str, int]]
    looks: tuple[int, ...]
    adaptive: bool
    margin: float | None
    levels: dict[str, float]  # per size label: the nominal level of every look
    corrections: dict[str, float] = field(default_factory=dict)  # per size label (Nadeau-Bengio c)
    jobs: int = 1
    deadline: float | None = None  # time.perf_counter() value by which the report must be written
    # reserved before the deadline for what follows the last fit (statistics, report): seconds, or a function of
    # the number of runs (over every size) that will have finished
    tail_seconds: float | Callable[[int], float] = 0.0
    started: float | None = None  # time.perf_counter() at the command's start (messages: what was spent before)

    def tail(self, runs: int) -> float:
        """Seconds kept before the deadline for what follows the last fit, once ``runs`` runs have finished."""
        t = self.tail_seconds(runs) if callable(self.tail_seconds) else self.tail_seconds
        return max(0.0, float(t))


@dataclass
class LoopResult:
    status: str
    records: list[dict]  # complete runs only, ordered by size, run, arm
    predictions: dict  # (label, u, arm) -> array
    decisions: dict  # (label, arm, metric) -> verdict.Decision
    stopping: dict  # label -> {"runs", "reason", "seconds"}
    fits_trained: int
    fits_reused_from_journal: int
    fit_seconds: list[float]
    interrupted_by: str | None = None  # "SIGINT" or "SIGTERM"
    epochs: dict | None = None  # the epoch plan (configured, planned, pilot seconds, why), when there was one
    heavy_start: str | None = None  # the warning when the work before the fits took much of the budget


class Journal:
    """``fits.jsonl``: a header naming the evaluation (``key``) and one line per finished fit."""

    def __init__(self, path: Path, key: dict, resume: bool) -> None:
        self.path, self.key = Path(path), key
        self.done: dict[tuple[str, int, str], dict] = {}
        if resume and self.path.exists():
            header, records = self.read(self.path)
            if header.get("key") != key:
                raise ValueError(f"{self.path} holds fits of another evaluation (different data, pipeline, model or "
                                 "options); drop --resume or use another --out")
            for rec in records:
                self.done[(rec["size"], int(rec["repeat"]), rec["arm"])] = rec
        elif resume:
            raise ValueError(f"--resume: no evaluation to resume in {self.path.parent} (no {self.path.name})")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as f:  # rewritten: header plus the fits kept
            f.write(json.dumps({"format": "augment-eval-fits", "key": key}) + "\n")
            for rec in self.done.values():
                f.write(json.dumps(rec) + "\n")

    @staticmethod
    def read(path: Path) -> tuple[dict, list[dict]]:
        """The header and the fits of a ``fits.jsonl``, without the lines a kill cut short (their fits are trained
        again)."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        records = []
        for line in lines[1:]:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return header, records

    @classmethod
    def count(cls, path: Path) -> int:
        """The fits ``--resume`` would find in ``path``; 0 when there is no journal there."""
        try:
            return len(cls.read(path)[1])
        except OSError:
            return 0

    def add(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")
            f.flush()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# --------------------------------------------------------------------------------------------- executors

_WORKER_EXPERIMENT: Experiment | None = None


def _worker_fit(label: str, n: int, u: int, arm: str, epochs: int | None = None) -> tuple[dict, float]:
    t = time.perf_counter()
    assert _WORKER_EXPERIMENT is not None
    if epochs is not None and epochs != _WORKER_EXPERIMENT.configured_epochs:  # planned after the fork
        _WORKER_EXPERIMENT.set_epochs(epochs)
    rec = _WORKER_EXPERIMENT.fit(label, n, u, arm)
    return rec, time.perf_counter() - t


def _ignore_sigint() -> None:
    ignore_ctrl_c()  # the parent handles Ctrl-C and stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Done:
    """A fit run in this process (jobs=1), shaped like a finished future."""

    def __init__(self, value: tuple[dict, float]) -> None:
        self.value = value

    def result(self) -> tuple[dict, float]:
        return self.value


class _Inline:
    """jobs=1: fits run in this process, one at a time (Ctrl-C lands between or inside fits, both fine)."""

    capacity = 1

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment

    def start(self, label, n, u, arm) -> _Done:
        t = time.perf_counter()
        rec = self.experiment.fit(label, n, u, arm)
        return _Done((rec, time.perf_counter() - t))

    def shutdown(self, kill: bool = False) -> None:
        pass


class _Pool:
    """jobs>1: forked worker processes that inherit the experiment (data, augmenter, model) from this one."""

    def __init__(self, experiment: Experiment, jobs: int) -> None:
        global _WORKER_EXPERIMENT
        _WORKER_EXPERIMENT = experiment
        self.capacity = jobs
        self.executor = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_ignore_sigint)

    def start(self, label, n, u, arm) -> Future:
        epochs = getattr(_WORKER_EXPERIMENT, "configured_epochs", None)  # the parent's plan, for forked workers
        with children_born_deaf_to_ctrl_c():  # the first submit forks the workers
            return self.executor.submit(_worker_fit, label, n, u, arm, epochs)

    def shutdown(self, kill: bool = False) -> None:
        global _WORKER_EXPERIMENT
        if kill:  # interrupted: running fits are abandoned, not waited for
            for p in list((getattr(self.executor, "_processes", None) or {}).values()):
                if p.is_alive():
                    p.kill()
        self.executor.shutdown(wait=True, cancel_futures=True)
        _WORKER_EXPERIMENT = None


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


# --------------------------------------------------------------------------------------------- fit times


class FitTimes:
    """Estimated seconds of a fit from the fits measured so far. A fit's cost is the experiment's
    ``relative_cost(label, n, arm)`` (its optimiser steps relative to the first size's baseline) or, without one,
    its train size relative to the first size's. With measured fits of one cost only, the estimate is
    proportional to the cost (a larger size costs more, never the mean of a smaller size's fits); once fits of
    clearly different costs are measured, it is a line ``a + b * cost`` (a fixed part -- scoring the test set,
    a worker's warm-up -- and a part that grows with the training set), fitted by least squares and never
    below the proportional estimate's smallest measured rate times the cost."""

    def __init__(self, experiment: Any, first_n: int) -> None:
        self._cost = getattr(experiment, "relative_cost", None)
        self.first_n = max(1, int(first_n))
        self.points: list[tuple[float, float]] = []  # (cost, seconds)

    def cost(self, label: str, n: int, arm: str) -> float:
        if self._cost is not None:
            with contextlib.suppress(Exception):  # an experiment's estimate must never stop the evaluation
                return max(1e-6, float(self._cost(label, n, arm)))
        return max(1e-6, n / self.first_n)

    def add(self, label: str, n: int, arm: str, seconds: float) -> None:
        self.points.append((self.cost(label, n, arm), float(seconds)))

    def __bool__(self) -> bool:
        return bool(self.points)

    def estimate(self, label: str, n: int, arm: str) -> float:
        if not self.points:
            return 0.0
        c = self.cost(label, n, arm)
        costs = np.array([p[0] for p in self.points])
        secs = np.array([p[1] for p in self.points])
        proportional = float(secs.sum() / costs.sum()) * c
        if costs.max() < 1.5 * costs.min():
            return proportional
        b, a = np.polyfit(costs, secs, 1)
        b = max(0.0, float(b))
        a = max(0.0, float(np.mean(secs) - b * np.mean(costs)))
        return max(a + b * c, float((secs / costs).min()) * c)


# --------------------------------------------------------------------------------------------- the loop


@dataclass
class _Size:
    label: str
    n: int
    target: int  # runs wanted by the current look
    submitted: int = 0
    finished: bool = False
    reason: str = ""
    started: float = 0.0
    ended: float = 0.0
    budget_cut: bool = False
    mde: float | None = None  # the largest minimum detectable effect of its arms at the last look
    why: str = ""  # why the budget cut it short (the report's line)


def run_loop(experiment: Experiment, plan: LoopPlan, *, journal: Journal | None = None,
             on_fit: Callable[[dict], None] | None = None, say: Callable[[str], None] | None = None) -> LoopResult:
    """Run ``experiment`` under ``plan`` (module docstring). Never raises KeyboardInterrupt: an interrupted loop
    returns status "interrupted" with the fits that finished (the caller re-raises after writing its report)."""
    arms, primary = list(experiment.arms), experiment.metrics[0]
    done: dict[tuple[str, int, str], dict] = {}
    from_journal = 0
    if journal is not None:
        for key, rec in journal.done.items():
            done[key] = rec
            from_journal += 1
    queue: list[tuple[str, int, int, str]] = []  # fits waiting for a worker: (label, n, u, arm)
    running: dict[Any, tuple[str, int, str]] = {}
    started_at: dict[Any, float] = {}
    sizes = [_Size(label, n, plan.looks[0] if plan.adaptive else plan.looks[-1]) for label, n in plan.sizes]
    by_label = {s.label: s for s in sizes}
    times = FitTimes(experiment, min((n for _, n in plan.sizes), default=1))
    fit_seconds: list[float] = []
    for (label, u, arm), r in done.items():
        secs = (r.get("timings") or {}).get("fit_seconds")
        if secs and label in by_label:
            fit_seconds.append(float(secs))
            times.add(label, by_label[label].n, arm, float(secs))
    jobs = max(1, int(plan.jobs))
    executor: Any = _Pool(experiment, jobs) if jobs > 1 and can_fork() else _Inline(experiment)
    status, trained = COMPLETE, 0
    # With a deadline the largest size (what the user's data is about) is planned first: its runs hold the budget
    # until it is decided, reaches its run limit or :data:`MDE_TARGET`; the smaller sizes (the learning curve)
    # get what is left, one run each before any gets more. Without one, sizes advance side by side as given.
    order = sorted(sizes, key=lambda s: -s.n) if plan.deadline is not None else list(sizes)
    lead = order[0] if plan.deadline is not None and len(order) > 1 else None
    probe = order[0].label if sizes else None  # with a deadline, the one run that runs before any fit is timed

    def holds() -> bool:
        """The largest size still has the first claim on the budget."""
        return lead is not None and not lead.finished and not (lead.mde is not None and lead.mde <= MDE_TARGET)

    def runs_cost(s: _Size, first: int, count: int) -> float:
        """Estimated seconds of runs ``first .. first + count - 1`` of ``s`` over the workers (fits found in the
        journal cost nothing)."""
        return sum(times.estimate(s.label, s.n, a) for u in range(first, first + count) for a in arms
                   if (s.label, u, a) not in done) / executor.capacity

    def lead_claim() -> tuple[float, int]:
        """(seconds, runs) the largest size may still take: up to its run limit."""
        if lead is None or not holds():
            return 0.0, 0
        limit = plan.looks[-1] if plan.adaptive else lead.target
        more = max(0, limit - lead.submitted)
        return runs_cost(lead, lead.submitted, more), more

    def complete_runs(s: _Size) -> list[int]:
        return [u for u in range(s.submitted) if all((s.label, u, a) in done for a in arms)]

    def diffs(s: _Size, metric: str, arm: str) -> list[float] | None:
        out = []
        for u in complete_runs(s):
            a, b = _resolved(done, s.label, u, arm, arms), _resolved(done, s.label, u, arms[0], arms)
            if metric not in a["metrics"] or metric not in b["metrics"]:
                return None
            out.append(a["metrics"][metric] - b["metrics"][metric])
        return out

    def identical(s: _Size, arm: str) -> bool:
        runs = complete_runs(s)
        return bool(runs) and all("reuse" in done[(s.label, u, arm)] for u in runs)

    def busy(s: _Size) -> bool:
        return any(k[0] == s.label for k in running.values()) or any(q[0] == s.label for q in queue)

    def work_ahead(now: float) -> float:
        """Seconds of fitting still ahead of a new fit: the queue's estimates and what the running fits have
        left, over the workers."""
        left = sum(times.estimate(lab, by_label[lab].n, a) for lab, _, _, a in queue)
        left += sum(max(0.0, times.estimate(lab, by_label[lab].n, a) - (now - started_at.get(tok, now)))
                    for tok, (lab, _, a) in running.items())
        return left / executor.capacity

    def backfill(s: _Size, fits: Callable[[int, float, int], bool]) -> bool:
        """Whether one run of the smaller size ``s`` may go to a worker that would otherwise idle while the
        largest size waits for its look's last fits: the run must end (on the free workers) before they do, so
        it takes nothing from the largest size's budget."""
        spare = executor.capacity - len(running) - len(queue)
        leads = [(tok, a) for tok, (lab, _, a) in running.items() if lead is not None and lab == lead.label]
        if spare <= 0 or queue or not leads:
            return False
        now = time.perf_counter()
        slack = max(times.estimate(lead.label, lead.n, a) - (now - started_at.get(tok, now)) for tok, a in leads)
        need = [times.estimate(s.label, s.n, a) for a in arms if (s.label, s.submitted, a) not in done]
        return bool(need) and max(max(need), sum(need) / spare) <= slack and fits(1, 0.0, 0)

    def advance(s: _Size, now: float) -> None:
        """At a look: decide or stop; then queue the runs of the next look that fit the budget."""
        if s.finished or busy(s):
            return
        n_complete = len(complete_runs(s))
        if s.submitted and n_complete < s.submitted:  # some fit of a queued run was dropped (budget)
            s.finished, s.reason = True, "time budget reached"
            return
        if n_complete >= s.target:
            if plan.adaptive and n_complete in plan.looks:
                now_d = [verdict.decide(diffs(s, primary, a) or [], level=plan.levels[s.label],
                                        correction=plan.corrections.get(s.label, 0.0), margin=plan.margin,
                                        final=False, identical=identical(s, a)) for a in arms[1:]]
                mdes = [d.mde for d in now_d]
                s.mde = max(mdes) if mdes and all(m is not None for m in mdes) else None
                if all(d.verdict in verdict.DECIDED for d in now_d):
                    s.finished, s.reason = True, "decided"
                    return
            later = [k for k in plan.looks if k > s.target]
            if not plan.adaptive or not later:
                s.finished, s.reason = True, "run limit reached" if plan.adaptive else "fixed number of runs"
                return
            s.target = later[0]
        want = s.target - s.submitted
        if plan.deadline is not None:
            probing = not all((probe, 0, a) in done for a in arms)
            if probing or not times:  # the probe run first (every arm timed), the rest is planned from it
                if s.label != probe or s.submitted:
                    if running or queue:
                        return
                    # nothing left to time (a journal's fits without timings): plan without estimates
                else:
                    want = 1
            else:  # the whole queue, what the larger sizes may still claim, and then the tail end in time
                ahead = work_ahead(now)
                least = 1 if (s.label == probe and s.submitted == 0) else 0
                queued = sum(x.submitted for x in sizes)

                def fits(w: int, reserve: float, reserved_runs: int) -> bool:
                    cost = runs_cost(s, s.submitted, w)
                    return cost == 0.0 or (now + ahead + cost + reserve  # runs found in the journal are free
                                           + plan.tail(queued + w + reserved_runs) <= plan.deadline)

                whole = want
                if s is lead or lead is None:
                    while want > least and not fits(want, 0.0, 0):
                        want -= 1
                else:
                    claim, claim_runs = lead_claim()
                    # one run of every smaller size that has none yet comes before a second run of any
                    others = [x for x in order[1:] if x is not s and x.submitted == 0 and not x.finished]
                    small = sum(runs_cost(x, 0, 1) for x in others)
                    while want > 0 and not fits(want, claim + small, claim_runs + len(others)):
                        want -= 1
                    if claim_runs and want < whole:  # the largest size has the budget first: wait for it,
                        if not backfill(s, fits):  # unless a worker would idle until its running fits end
                            return
                        want = 1
                    if want == 0 and s.submitted == 0 and fits(1, claim, claim_runs):
                        want = 1  # the larger of the sizes with no run yet gets its first
                if want <= 0:
                    s.why = (f"run {s.submitted + 1} (about {runs_cost(s, s.submitted, 1):.0f} s of fits) did not "
                             f"fit in the {max(0.0, plan.deadline - now - ahead - plan.tail(queued + 1)):.0f} s left "
                             "before the report")
        if want <= 0:
            s.finished, s.reason = True, "time budget reached"
            return
        if not s.started:
            s.started = now
        new = [(s.label, s.n, u, a) for u in range(s.submitted, s.submitted + want) for a in arms
               if (s.label, u, a) not in done]
        if plan.deadline is not None and times and executor.capacity > 1:
            # the longest fits first, so that a look's last fit does not run alone while the other workers idle
            new.sort(key=lambda q: -times.estimate(q[0], q[1], q[3]))
        if s is lead:  # ahead of the smaller sizes' queued fits: the largest size's next look never waits on them
            queue[:0] = new
        else:
            queue.extend(new)
        s.submitted += want

    def dispatch() -> None:
        """Start queued fits on free workers; none starts that would not end ``tail`` before the deadline,
        except the probe (with nothing finished there would be nothing to report)."""
        while queue and len(running) < executor.capacity:
            label, n, u, arm = queue[0]
            now = time.perf_counter()
            late = (plan.deadline is not None and bool(times) and now + times.estimate(label, n, arm)
                    + plan.tail(sum(x.submitted for x in sizes)) > plan.deadline)
            if late and not (label == probe and u == 0):  # this run and the size's later ones are dropped
                queue[:] = [q for q in queue if not (q[0] == label and q[2] >= u)]
                by_label[label].budget_cut = True
                left = max(0.0, plan.deadline - now - plan.tail(sum(x.submitted for x in sizes)))
                by_label[label].why = (f"run {u + 1} would have ended past the deadline (a fit of about "
                                       f"{times.estimate(label, n, arm):.0f} s, {left:.0f} s left before the report)")
                continue
            queue.pop(0)
            token = executor.start(label, n, u, arm)
            running[token] = (label, u, arm)
            started_at[token] = now

    clean, interrupted_by = False, None
    loop_start = time.perf_counter()
    budget = None if plan.deadline is None else plan.deadline - loop_start  # what is left of it
    tail = plan.tail(len(sizes))  # at one run of every size, for the messages
    total = None if plan.deadline is None or plan.started is None else plan.deadline - plan.started
    spent = 0.0 if plan.started is None else max(0.0, loop_start - plan.started)
    heavy_start: str | None = None
    if say is not None:
        most = len(sizes) * plan.looks[-1] * len(arms)
        say(f"plan: {len(sizes)} size{'s' if len(sizes) != 1 else ''} ({', '.join(s.label for s in sizes)}) x "
            f"{'up to ' if plan.adaptive else ''}{plan.looks[-1]} runs x {len(arms)} arms = at most {most} fits"
            + (f" (looks at {', '.join(map(str, plan.looks))} runs)" if plan.adaptive else "")
            + f", {executor.capacity} at a time"
            + ((f"; time budget {total:.0f} s from the command's start: {spent:.0f} s spent starting and loading, "
                f"at least {tail:.0f} s kept for the statistics and the report" if total is not None else
                f"; time budget {budget:.0f} s") if budget is not None else "")
            + (f"; {from_journal} fits from the journal" if from_journal else "")
            + (f"; size {lead.label}, the largest, has the budget first, the smaller sizes what is left"
               if lead is not None else ""))
    told = weighed = bool(fit_seconds)
    epoch_plan = None
    try:
        if getattr(experiment, "configured_epochs", None) and sizes:
            epoch_plan = _plan_epochs(experiment, plan, order[0], done, fit_seconds, executor, say, times)
            trained += epoch_plan.pop("trained")
            if journal is not None and epoch_plan.get("pilot_record") is not None:
                journal.add(epoch_plan["pilot_record"])
            epoch_plan.pop("pilot_record", None)
            told = told or "pilot_seconds" in epoch_plan  # the epochs' line re-planned from the pilot already
        while True:
            now = time.perf_counter()
            for s in order:
                if s.budget_cut and not s.finished and not busy(s):
                    s.finished, s.reason = True, "time budget reached"
                advance(s, now)
                if s.finished and not s.ended:
                    s.ended = time.perf_counter()
            interrupts.raise_if_pending()  # a Ctrl-C Python swallowed (augment.interrupts)
            dispatch()
            if not running:
                if all(s.finished for s in sizes):
                    break
                continue  # runs found in the journal, or a look passed: look again
            if isinstance(executor, _Inline):
                ready = list(running)
            else:
                ready, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for token in ready:
                rec, secs = token.result()
                key = running.pop(token)
                started_at.pop(token, None)
                rec = dict(rec)
                if epoch_plan is not None:
                    rec["epochs_planned"] = epoch_plan["planned"]
                if "reuse" not in rec:
                    rec["timings"] = {**(rec.get("timings") or {}), "fit_seconds": round(secs, 4)}
                    fit_seconds.append(secs)
                    times.add(key[0], by_label[key[0]].n, key[2], secs)
                # journalled before it counts: an interrupt landing between the two must never leave a report
                # claiming a fit that --resume does not find (it would train it again, the report said done)
                if journal is not None:
                    journal.add(rec)
                done[key] = rec
                trained += 1
                if on_fit is not None:
                    on_fit(rec)
                if not told and fit_seconds and say is not None:  # re-plan from the first measured fit
                    told = True
                    say(_first_fit_line(sizes, arms, times, executor.capacity, budget, tail, secs, lead))
                if not weighed and total is not None and all((probe, 0, a) in done for a in arms):
                    weighed = True  # the probe run is complete: what did one run's copies cost?
                    augment_s = sum(float((done[(probe, 0, a)].get("timings") or {}).get("augment_seconds") or 0.0)
                                    for a in arms)
                    heavy_start = heavy_start_note(spent, augment_s, total)
                    if heavy_start and say is not None:
                        say(f"warning: {heavy_start}")
        clean = True
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM raised as KeyboardInterrupt by the CLI
        status = INTERRUPTED
        interrupted_by = "SIGTERM" if type(exc).__name__ == "RunTerminated" else "SIGINT"
    finally:
        executor.shutdown(kill=not clean)  # interrupted or failed: running fits are not waited for

    for s in sizes:
        if not s.finished:
            s.finished, s.reason = True, status
            s.ended = time.perf_counter()
    if status == COMPLETE and any(s.reason == "time budget reached" for s in sizes):
        status = STOPPED_BUDGET

    records, predictions, decisions, stopping = [], {}, {}, {}
    for s in sizes:
        runs = complete_runs(s)
        for u in runs:
            for a in arms:
                rec = dict(_resolved(done, s.label, u, a, arms))
                rec["reused_baseline"] = "reuse" in done[(s.label, u, a)]
                rec.pop("reuse", None)
                pred = rec.pop("predictions", None)
                if pred is not None:
                    predictions[(s.label, u, a)] = np.asarray(pred)
                records.append(rec)
        stopping[s.label] = {"runs": len(runs), "reason": s.reason,
                             "seconds": round(max(0.0, s.ended - s.started), 3) if s.started else 0.0}
        if s.reason == "time budget reached":
            first = ""
            if lead is not None and s is not lead:
                said = [lead.reason] if lead.reason else []
                said += [f"MDE ±{100 * lead.mde:.1f}"] if lead.mde is not None else []
                first = (f"the budget went first to size {lead.label}, the largest"
                         + (f" ({', '.join(said)})" if said else "") + "; ")
            stopping[s.label]["why"] = first + (s.why or "the next run did not fit the time left")
        for a in arms[1:] if runs else []:
            for m in experiment.metrics:
                d = diffs(s, m, a)
                if d is None:
                    continue
                decisions[(s.label, a, m)] = verdict.decide(
                    d, level=plan.levels[s.label], correction=plan.corrections.get(s.label, 0.0),
                    margin=plan.margin, final=True, adaptive=plan.adaptive, identical=identical(s, a))
    return LoopResult(status, records, predictions, decisions, stopping, trained, from_journal, fit_seconds,
                      interrupted_by, epoch_plan, heavy_start)


PRE_FIT_SHARE = 0.25  # work before the fits (start-up, loading, one run's copies) above this share is said


def heavy_start_note(spent: float, augment_seconds: float, budget: float) -> str | None:
    """One line when starting, loading and augmenting one run's copies already take more than
    :data:`PRE_FIT_SHARE` of the budget (few runs will fit: say what to do), else None."""
    before = spent + augment_seconds
    if budget <= 0 or before <= PRE_FIT_SHARE * budget:
        return None
    return (f"starting and loading took {spent:.0f} s and one run's augmented copies {augment_seconds:.0f} s, "
            f"{100 * before / budget:.0f}% of the {budget:.0f} s budget before any model trained: few runs fit; "
            "raise --time-budget, give smaller --train-sizes or fewer --copies, or turn off context: in the "
            "pipeline's word ops")


def _first_fit_line(sizes: list, arms: list[str], times: FitTimes, capacity: int, budget: float | None,
                    tail: float, first: float, lead: Any = None) -> str:
    """The re-plan after the first measured fit: what the first looks take, and (with a budget) whether they
    fit. With a largest size that has the budget first (``lead``), its first look is what must fit."""
    per_run = {s.label: sum(times.estimate(s.label, s.n, a) for a in arms) / capacity for s in sizes}
    if lead is not None:
        first_looks = lead.target * per_run[lead.label]
        line = (f"first fit took {first:.1f} s: the first look of size {lead.label}, the largest ({lead.target} "
                f"runs), takes about {first_looks:.0f} s")
    else:
        first_looks = sum(s.target * per_run[s.label] for s in sizes)
        line = f"first fit took {first:.1f} s: the first look of every size takes about {first_looks:.0f} s"
    if budget is not None:
        left = max(0.0, budget - tail)
        fits = first_looks <= left
        line += (f"; the {budget:.0f} s left hold about {left:.0f} s of fits"
                 + ("" if fits else " -- fewer than the first look needs"
                    + (" (the budget goes to it anyway)" if lead is not None else "")
                    + ": verdicts may stay undecided; raise --time-budget or use a cheaper model"))
    return line


def _plan_epochs(experiment: Experiment, plan: LoopPlan, first: _Size, done: dict, fit_seconds: list[float],
                 executor: Any, say: Callable[[str], None] | None, times: FitTimes | None = None) -> dict:
    """The epochs every fit trains (module docstring): from the journal when resuming, else from a pilot fit
    when there is a budget. A kept pilot goes into ``done``; the plan says what was decided and why."""
    configured = int(experiment.configured_epochs)
    journalled = {int(r["epochs_planned"]) for r in done.values() if r.get("epochs_planned")}
    out: dict[str, Any] = {"configured": configured, "planned": configured, "trained": 0, "pilot_record": None}
    if journalled:  # resume: the fits already trained decide
        out["planned"] = max(journalled)
        out["why"] = "the epochs of the fits in the journal (resumed)"
    elif plan.deadline is None:
        out["why"] = "no time budget: the configured epochs"
    else:
        arms = list(experiment.arms)
        key = (first.label, 0, arms[0])
        floor = max(1, math.ceil(MIN_EPOCH_FRACTION * configured))
        # the pilot trains at the floor: kept when the plan lands there (tight budgets, where a thrown-away pilot
        # at the configured epochs cost most), else only its time is used, scaled to the epochs
        if floor != configured:
            experiment.set_epochs(floor)
        pilot, seconds = executor.start(first.label, first.n, 0, arms[0]).result()  # in a worker when jobs > 1
        per_epoch = seconds / floor
        out["pilot_seconds"] = round(seconds, 4)
        out["pilot_epochs"] = floor
        out["trained"] = 1
        cost = getattr(experiment, "relative_cost", None)
        unit = 1.0
        if cost is not None:
            with contextlib.suppress(Exception):
                unit = max(1e-9, float(cost(first.label, first.n, arms[0])))  # the pilot's own cost
        # epochs and the sizes' priority are planned together: the fits planned for are the largest size's (it
        # has the budget first, see run_loop), up to its second look; the smaller sizes share what is left
        lead_only = len(plan.sizes) > 1
        planned_sizes = [(first.label, first.n)] if lead_only else list(plan.sizes)
        first_look = plan.looks[0] if plan.adaptive else plan.looks[-1]
        target = plan.looks[min(1, len(plan.looks) - 1)] if plan.adaptive else plan.looks[-1]
        run_work = sum((cost(lab, n, a) / unit if cost else 1.0) for lab, n in planned_sizes for a in arms)
        per_run = per_epoch * run_work / max(1, executor.capacity)  # seconds of one run per epoch trained
        estimate = per_run * configured * target
        left = plan.deadline - time.perf_counter() - plan.tail(len(planned_sizes) * target)
        wanted = int(PLAN_SLACK * max(0.0, left) / (per_run * target)) if per_run > 0 else configured
        planned = max(floor, min(configured, wanted))
        # what the largest size's first look needs at the planned epochs (the pilot's run is kept at the floor)
        first_cost = per_run * planned * first_look - (seconds / max(1, executor.capacity) if planned == floor else 0)
        short = first_cost > max(0.0, left)
        out.update(planned=planned, estimate_seconds=round(estimate, 1), target_runs=target,
                   budget_left_seconds=round(left, 1), first_look_seconds=round(first_cost, 1),
                   first_look_fits=not short)
        pilot_said = (f"a pilot fit at {floor} epochs took {seconds:.1f} s" if floor != configured else
                      f"a pilot fit took {seconds:.1f} s")
        if planned == floor:  # the pilot trained what every fit will: keep it
            rec = {**pilot, "epochs_planned": planned}
            if "reuse" not in rec:
                rec["timings"] = {**(rec.get("timings") or {}), "fit_seconds": round(seconds, 4)}
                fit_seconds.append(seconds)
                if times is not None:
                    times.add(first.label, first.n, arms[0], seconds)
            done[key] = rec
            out["pilot_record"] = rec
        else:
            experiment.set_epochs(planned)
            if times is not None:  # the pilot's time at the planned epochs, until fits at them are timed
                times.add(first.label, first.n, arms[0], per_epoch * planned)
        whose = f"of size {first.label}, the largest," if lead_only else "of every size"
        if planned == configured:
            out["why"] = (f"{pilot_said}: {target} runs {whose} at the configured {configured} epochs take "
                          f"about {estimate:.0f} s, within the {left:.0f} s left")
        else:
            out["why"] = (f"{pilot_said}: {target} runs {whose} at {configured} epochs would take about "
                          f"{estimate:.0f} s of the {left:.0f} s left, so every fit trains {planned} epochs"
                          + (" (the least planning allows: verdicts may stay undecided)"
                             if planned == floor and wanted < floor else ""))
        if short:  # said up front, once: the budget still goes to the largest size, as many runs as fit
            out["short"] = (f"even at {planned} epochs the first look of size {first.label} ({first_look} runs, "
                            f"about {first_cost:.0f} s of fits) does not fit the {max(0.0, left):.0f} s left: the "
                            "budget goes to it anyway and it may stay undecided; raise --time-budget, give a "
                            "smaller --train-sizes or fewer --copies, or use a cheaper --model")
    if out["planned"] != configured and not out.get("pilot_seconds"):
        experiment.set_epochs(out["planned"])
    if say is not None and "pilot_seconds" in out:
        say(f"epochs: {out['why']}")
        if out.get("short"):
            say(f"warning: {out['short']}")
    return out


def _resolved(done: dict, label: str, u: int, arm: str, arms: Sequence[str]) -> dict:
    """A fit's record, or for a fit that reused another arm's training set, that arm's result under its own
    bookkeeping (arm name, copies counted)."""
    rec = done[(label, u, arm)]
    if "reuse" not in rec:
        return rec
    src = done[(label, u, rec["reuse"])]
    out = {**{k: v for k, v in src.items() if k != "copy_rule"},  # the run's counts travel with its baseline only
           **{k: v for k, v in rec.items() if k not in ("metrics", "model_info", "predictions")}}
    return out
