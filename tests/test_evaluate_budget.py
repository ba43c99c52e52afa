"""--time-budget is the user's wall clock (issue 21): the deadline counts from the command's start, so the work
before the first fit is inside it; no fit is queued whose end plus the reserved tail (statistics, report) passes
the deadline, whatever the sizes' costs; the report says where the time went. Fake clocks, no timed asserts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from test_evaluate_protocol import drop_word, make_tsv

from augment.evaluate import EvalConfig, FunctionAugmenter, run_evaluation, write_report
from augment.evaluate import loop as L
from augment.evaluate.loop import FitTimes, LoopPlan, heavy_start_note, run_loop
from augment.evaluate.planning import measure_tail, tail_estimate, time_line

REPO = Path(__file__).resolve().parents[1]


class _Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def perf_counter(self) -> float:
        return self.now


class _SizedExp:
    """A fit costs ``per_example`` virtual seconds per training example (its arm's copies included)."""

    arms = ["baseline", "copies=2"]
    metrics = ("accuracy",)

    def __init__(self, clock: _Clock, per_example: float, with_cost: bool) -> None:
        self.clock, self.per_example, self.fits = clock, per_example, []
        if with_cost:  # the loop's estimate then knows the copies too, not only the train size
            self.relative_cost = lambda label, n, arm: n * (3 if arm != "baseline" else 1) / 10

    def fit(self, label, n, u, arm):
        start = self.clock.now
        self.clock.now += self.per_example * n * (3 if arm != "baseline" else 1)
        self.fits.append((label, u, arm, start, self.clock.now))
        noise = ((u * 7919) % 13) / 1000 + 0.004 * (u % 3) * (arm != "baseline")
        return {"size": label, "repeat": u, "arm": arm, "metrics": {"accuracy": 0.5 + noise}}


def _plan(deadline, tail=0.0, started=0.0, sizes=(("10", 10), ("full", 100))):
    return LoopPlan(sizes=list(sizes), looks=(3, 4, 5, 6), adaptive=True, margin=0.001,
                    levels={lab: 0.02 for lab, _ in sizes}, jobs=1, deadline=deadline, tail_seconds=tail,
                    started=started)


@pytest.mark.parametrize("with_cost", [True, False])
@pytest.mark.parametrize("deadline,tail", [(40.0, 0.0), (60.0, 5.0), (90.0, 12.5), (150.0, 30.0), (400.0, 7.0)])
def test_no_fit_ends_past_the_deadline_minus_the_tail_whatever_the_sizes_cost(monkeypatch, deadline, tail,
                                                                              with_cost):
    tails = []
    # size full's fits cost 10x size 10's: estimated at size 10's mean (the old rule), its first run overran
    clock = _Clock(now=3.0)  # 3 s of start-up and loading before the loop, inside the budget
    monkeypatch.setattr(L, "time", clock)
    exp = _SizedExp(clock, per_example=0.1, with_cost=with_cost)
    out = run_loop(exp, _plan(deadline, tail))
    if tail and deadline > 100:  # a tail that grows with the runs (the bootstrap) holds too
        clock.now = 3.0
        exp2 = _SizedExp(clock, per_example=0.1, with_cost=with_cost)
        plan = _plan(deadline, lambda runs: tails.append(runs) or tail * runs / 4)
        run_loop(exp2, plan)
        done_runs = len({(f[0], f[1]) for f in exp2.fits})
        assert all(end + tail * done_runs / 4 <= deadline for lab, u, _, _, end in exp2.fits if (lab, u) != ("10", 0))
        assert tails
    probe = [f for f in exp.fits if f[0] == "10" and f[1] == 0]
    assert len(probe) == 2  # the probe (the first size's first run) runs to have something to report
    for label, u, arm, start, end in exp.fits:
        if (label, u) != ("10", 0):
            assert end + tail <= deadline, (label, u, arm, end)
    if out.status == L.STOPPED_BUDGET:
        assert any(s["reason"] == "time budget reached" for s in out.stopping.values())


def test_work_before_the_first_fit_counts_against_the_budget(monkeypatch):
    # the command started at 0 and spent 40 s loading; 60 s budget: 20 s are left, not 60
    clock = _Clock(now=40.0)
    monkeypatch.setattr(L, "time", clock)
    exp = _SizedExp(clock, per_example=0.25, with_cost=False)  # 2.5 s + 7.5 s = 10 s per run of size 10
    out = run_loop(exp, _plan(60.0, sizes=(("10", 10),)))
    assert out.stopping["10"]["runs"] == 2 and out.status == L.STOPPED_BUDGET
    assert max(f[4] for f in exp.fits) <= 60.0
    assert out.heavy_start is not None and "40 s" in out.heavy_start  # 40 s of 60 s before any model trained
    clock = _Clock(now=0.0)  # the same work started at the command's start: the looks run on
    monkeypatch.setattr(L, "time", clock)
    exp = _SizedExp(clock, per_example=0.25, with_cost=False)
    out = run_loop(exp, _plan(60.0, sizes=(("10", 10),)))
    assert out.stopping["10"]["runs"] >= 5 and out.heavy_start is None


def test_fit_times_scale_a_larger_size_instead_of_taking_the_mean():
    class Exp:
        pass

    times = FitTimes(Exp(), first_n=100)
    assert times.estimate("full", 1000, "baseline") == 0.0  # nothing measured yet
    times.add("100", 100, "baseline", 2.0)
    assert times.estimate("full", 1000, "baseline") == pytest.approx(20.0)
    times.add("full", 1000, "baseline", 11.0)  # a fixed part shows: 1 s + 0.01 s per example
    assert times.estimate("500", 500, "baseline") == pytest.approx(6.0)
    assert times.estimate("full", 1000, "baseline") >= 10.0


def test_the_heavy_start_note_says_what_to_do():
    assert heavy_start_note(10.0, 10.0, 180.0) is None
    line = heavy_start_note(30.0, 40.0, 180.0)
    assert "39% of the 180 s budget" in line and "--time-budget" in line and "context" in line
    assert "\n" not in line


def test_the_tail_kept_for_the_report_grows_with_the_bootstrap():
    small = tail_estimate(100, 2, 200, 3)
    assert 0 < small < tail_estimate(100, 2, 200, 6) < tail_estimate(1800, 3, 2000, 6)
    assert tail_estimate(100, 2, 0, 30) == tail_estimate(100, 2, 0, 1)  # no bootstrap (--cv): the report only
    measured = measure_tail(200, 3)  # this machine's figure and bootstrap costs, whatever its load
    assert measured["fixed"] > 0 and measured["per_cell"] > 0
    assert tail_estimate(200, 2, 2000, 4, **measured) > tail_estimate(200, 2, 2000, 2, **measured)


def test_an_evaluation_counts_from_the_commands_start_and_reports_where_the_time_went(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 24, seed=2)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, train_sizes="12,full", copies="1", repeats="auto", min_repeats=3, max_repeats=4,
                     model="tfidf-logreg", n_bootstrap=200, n_samples=0, jobs=1, time_budget=1000.0)
    # the command started 999 s ago (a stand-in for its imports and loading): only the probe runs
    late = run_evaluation(cfg, progress=False, augmenter=aug, started=time.perf_counter() - 999.0)
    assert late.protocol["status"] == "stopped: time budget"
    assert {k: v["runs"] for k, v in late.protocol["stopping"].items()} == {"12": 1, "full": 0}
    assert late.timings["phases"]["start_and_load_seconds"] >= 999.0 and late.timings["budget_seconds"] == 1000.0
    assert any("before any model trained" in n for n in late.protocol["notes"])
    paths = write_report(late, tmp_path / "out")
    saved = json.loads(paths["json"].read_text())
    assert saved["timings"]["report_seconds"] >= 0.0
    line = time_line(saved["timings"])
    assert line.startswith(f"{saved['timings']['wall_seconds'] + saved['timings']['report_seconds']:.0f} s of the "
                           "1000 s time budget: start-up and loading")
    for part in ("fits", "augmenting copies", "statistics", "writing the report"):
        assert part in line
    assert "Time: " in paths["html"].read_text()


def test_a_baseline_fit_does_not_augment_the_runs_copies(tmp_path):
    """With two worker processes the baseline and the augmented arm of a run land in different processes: only
    the arm with copies makes them, once per run."""
    if not L.can_fork():
        pytest.skip("parallel fits need fork")
    calls = tmp_path / "calls"
    calls.mkdir()

    def counting(text, seed):
        (calls / f"{os.getpid()}-{seed}").touch()
        return drop_word(text, seed)

    train = make_tsv(tmp_path / "train.tsv", 16, seed=5)
    cfg = EvalConfig(train=train, train_sizes="full", copies="1", repeats=3, model="tfidf-logreg",
                     n_bootstrap=200, n_samples=0, jobs=2)
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(counting, "text", "drop one word"))
    assert res.protocol["stopping"]["full"]["runs"] == 3
    # one copy per example per run, each made in exactly one process (files are named by process and seed)
    assert len(list(calls.iterdir())) == 3 * res.runs[0]["n_subset"]


def test_start_up_does_not_import_torch_for_a_version_string_or_to_find_no_gpu(tmp_path):
    """Seconds before the first fit (and after the last) went to importing torch for nothing: for versions()
    in the report, and for --device auto on a machine with no GPU device node."""
    import subprocess
    import sys

    from augment.evaluate.device import _no_gpu_device_files

    code = ("import sys\nfrom augment.evaluate.protocol import versions\nfrom augment.evaluate.device import "
            "resolve_device\nv = versions()\nd = resolve_device('auto')\n"
            "print(v['torch'] is not None, d, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO).stdout.split()
    assert out[0] == "True"  # the version is still reported, read from the installed metadata
    if _no_gpu_device_files():
        assert out[1:] == ["cpu", "False"]
