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
from augment.evaluate.report import format_summary
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
        assert all(end + tail * done_runs / 4 <= deadline for lab, u, _, _, end in exp2.fits
                   if (lab, u) != ("full", 0))
        assert tails
    probe = [f for f in exp.fits if f[0] == "full" and f[1] == 0]
    assert len(probe) == 2  # the probe (the largest size's first run) runs to have something to report
    for label, u, arm, start, end in exp.fits:
        if (label, u) != ("full", 0):
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
    # the command started 999 s ago (a stand-in for its imports and loading): only the probe runs, the largest
    # size's first run (the size the data is about); size 12 gets none and the report says why
    late = run_evaluation(cfg, progress=False, augmenter=aug, started=time.perf_counter() - 999.0)
    assert late.protocol["status"] == "stopped: time budget"
    assert {k: v["runs"] for k, v in late.protocol["stopping"].items()} == {"12": 0, "full": 1}
    why = late.protocol["stopping"]["12"]["why"]
    assert why.startswith("the budget went first to size full, the largest (time budget reached")
    assert late.protocol["stopping"]["full"]["why"].startswith("run 2 (about ")  # its own next run did not fit
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
    cut = [line for line in format_summary(late).splitlines() if line.startswith("cut short for time")]
    assert cut == [f"cut short for time: size 12 after 0 runs: {why}",
                   f"cut short for time: size full after 1 run: {late.protocol['stopping']['full']['why']}"]


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


class _CurveExp:
    """Three sizes whose fits cost 0.01 virtual s per example (size full: 20 s a fit, 40 s a run); the arms'
    difference swings by ``swing`` from run to run, so no verdict is reached (with ``swing`` small, the MDE is)."""

    arms = ["baseline", "copies=1"]
    metrics = ("accuracy",)

    def __init__(self, clock: _Clock, swing: float = 0.05) -> None:
        self.clock, self.swing, self.fits = clock, swing, []

    def fit(self, label, n, u, arm):
        start = self.clock.now
        self.clock.now += 0.01 * n
        self.fits.append((label, u, arm, start, self.clock.now))
        diff = (self.swing if u % 2 else -self.swing) + 0.001 * (u % 3)
        return {"size": label, "repeat": u, "arm": arm,
                "metrics": {"accuracy": 0.6 + (diff if arm != "baseline" else 0.0)}}


_CURVE = (("100", 100), ("500", 500), ("full", 2000))


def _curve_plan(deadline, looks=(3, 4, 5, 6)):
    return LoopPlan(sizes=list(_CURVE), looks=looks, adaptive=True, margin=1e-6,
                    levels={lab: 0.02 for lab, _ in _CURVE}, jobs=1, deadline=deadline)


def _runs(out) -> dict:
    return {lab: s["runs"] for lab, s in out.stopping.items()}


def test_under_a_tight_budget_the_largest_size_takes_its_runs_first(monkeypatch):
    # 200 s hold 5 runs of size full (40 s each). Spread over the sizes as before, full had 2 runs and no answer;
    # now it has the budget first, and the learning curve is what is cut, each size saying why
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveExp(clock)
    out = run_loop(exp, _curve_plan(200.0))
    assert _runs(out) == {"100": 0, "500": 0, "full": 5} and out.status == L.STOPPED_BUDGET
    assert {f[0] for f in exp.fits} == {"full"} and max(f[4] for f in exp.fits) <= 200.0
    assert out.stopping["full"]["why"].startswith("run 6 (about 40 s of fits) did not fit in the 0 s left")
    for lab in ("100", "500"):
        why = out.stopping[lab]["why"]
        assert why.startswith("the budget went first to size full, the largest (time budget reached, MDE ±"), why
        assert "run 1 (about " in why and "\n" not in why
    assert list(out.stopping) == ["100", "500", "full"]  # the report keeps the sizes' order
    assert [r["size"] for r in out.records] == ["full"] * 10


def test_what_the_largest_size_leaves_goes_to_the_smaller_ones_one_run_each_first(monkeypatch):
    # full reaches its run limit (4 runs, 160 s); 21 s are left: 500 could take two runs (20 s) and leave 100
    # none, but one run of every size with none yet comes first
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveExp(clock)
    out = run_loop(exp, _curve_plan(181.0, looks=(3, 4)))
    runs = _runs(out)
    assert runs["full"] == 4 and out.stopping["full"]["reason"] == "run limit reached"
    assert runs["500"] == 1 and runs["100"] >= 1
    last_full = max(f[4] for f in exp.fits if f[0] == "full")
    assert all(f[3] >= last_full for f in exp.fits if f[0] != "full")  # the learning curve after full
    assert max(f[4] for f in exp.fits) <= 181.0
    assert out.stopping["500"]["why"].startswith("the budget went first to size full, the largest (run limit")


def test_the_largest_size_gives_up_its_claim_once_it_can_detect_the_target_effect(monkeypatch):
    # the same budget, a difference that hardly varies: at its first look full can detect 2.5 points (MDE below
    # the target) though it is not decided; the smaller sizes then run beside it instead of after it
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveExp(clock, swing=0.002)
    out = run_loop(exp, _curve_plan(200.0))
    runs = _runs(out)  # holding its claim, full took 5 runs and left the others none (the test above)
    assert runs["full"] == 4 and runs["100"] >= 3 and runs["500"] >= 3
    assert max(f[4] for f in exp.fits) <= 200.0
    assert out.decisions[("full", "copies=1", "accuracy")].mde <= L.MDE_TARGET


def test_without_a_budget_the_sizes_advance_side_by_side_as_given(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveExp(clock)
    out = run_loop(exp, _curve_plan(None, looks=(3,)))
    assert _runs(out) == {"100": 3, "500": 3, "full": 3}
    assert [f[0] for f in exp.fits[:6]] == ["100"] * 6 and not any("why" in s for s in out.stopping.values())


def test_resumed_fits_cost_nothing_and_the_budget_left_goes_to_the_smaller_sizes(tmp_path, monkeypatch):
    from augment.evaluate.loop import Journal

    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    first = run_loop(_CurveExp(clock), _curve_plan(200.0),
                     journal=Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=False))
    assert _runs(first) == {"100": 0, "500": 0, "full": 5}
    clock = _Clock()  # the resumed command's own 200 s
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveExp(clock)
    again = run_loop(exp, _curve_plan(200.0), journal=Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=True))
    assert again.fits_reused_from_journal == 10
    assert [f[:3] for f in exp.fits if f[0] == "full"] == [("full", 5, "baseline"), ("full", 5, "copies=1")]
    assert _runs(again)["full"] == 6 and again.stopping["full"]["reason"] == "run limit reached"
    assert _runs(again)["500"] >= 3 and _runs(again)["100"] >= 3  # the 160 s left went to the learning curve
    assert max(f[4] for f in exp.fits) <= 200.0


class _SimPool:
    """``jobs`` workers on the fake clock (no processes): a fit runs from when a free worker takes it until its
    start plus its cost; the loop waits (``_sim_wait``) for the fits that end first."""

    def __init__(self, experiment, jobs):
        self.exp, self.capacity = experiment, jobs

    def start(self, label, n, u, arm):
        clock = self.exp.clock
        began = clock.now
        rec = self.exp.fit(label, n, u, arm)  # advances the clock by the fit's cost: put it back
        token = _SimFit(rec, clock.now - began, clock.now)
        clock.now = began
        return token

    def shutdown(self, kill=False):
        pass


class _SimFit:
    def __init__(self, rec, seconds, end):
        self.rec, self.seconds, self.end = rec, seconds, end

    def result(self):
        return self.rec, self.seconds


def _sim_wait(clock):
    def wait(tokens, return_when=None):
        first = min(t.end for t in tokens)
        clock.now = max(clock.now, first)
        return [t for t in tokens if t.end == first], [t for t in tokens if t.end != first]
    return wait


class _ArmsExp(_CurveExp):
    """Three arms whose fits cost 0.01 s per training example, copies included (full: 20, 40 and 140 s), with
    the loop told their costs: on two workers a look's last fit runs alone unless the idle worker is filled."""

    arms = ["baseline", "copies=1", "copies=6"]

    def __init__(self, clock):
        super().__init__(clock)
        self.copies = {"baseline": 0, "copies=1": 1, "copies=6": 6}

    def relative_cost(self, label, n, arm):
        return n * (1 + self.copies[arm]) / 100

    def fit(self, label, n, u, arm):
        start = self.clock.now
        rec = super().fit(label, n, u, arm)
        self.clock.now = start + 0.01 * n * (1 + self.copies[arm])
        self.fits[-1] = (label, u, arm, start, self.clock.now)
        return rec


@pytest.mark.parametrize("deadline", [650.0, 900.0])
def test_on_two_workers_the_smaller_sizes_fill_the_idle_worker_without_taking_from_the_largest(monkeypatch,
                                                                                               deadline):
    def run(sizes):
        clock = _Clock()
        monkeypatch.setattr(L, "time", clock)
        monkeypatch.setattr(L, "wait", _sim_wait(clock))
        monkeypatch.setattr(L, "_Pool", _SimPool)
        exp = _ArmsExp(clock)
        plan = LoopPlan(sizes=list(sizes), looks=(3, 4, 5, 6, 7, 8), adaptive=True, margin=1e-6,
                        levels={lab: 0.02 for lab, _ in sizes}, jobs=2, deadline=deadline)
        return exp, run_loop(exp, plan)

    alone, alone_out = run([("full", 2000)])
    exp, out = run(_CURVE)
    lead = [f for f in exp.fits if f[0] == "full"]
    assert lead == alone.fits and _runs(out)["full"] == _runs(alone_out)["full"] >= 4
    assert _runs(out)["500"] >= 1 and _runs(out)["100"] >= 1  # fitted into the gaps of the largest's looks
    assert all(end <= deadline for lab, u, _, _, end in exp.fits if (lab, u) != ("full", 0))


class _CurveEpochExp(_CurveExp):
    """:class:`_CurveExp` with epochs to plan: a fit costs 0.01 virtual s per example at the configured 20 epochs,
    in proportion at fewer (size full: 20 s a fit at 20 epochs, 5 s at the floor of 5)."""

    def __init__(self, clock, swing=0.05):
        super().__init__(clock, swing)
        self.configured_epochs = 20

    def set_epochs(self, epochs):
        self.configured_epochs = epochs

    def relative_cost(self, label, n, arm):
        return n / 100

    def fit(self, label, n, u, arm):
        start = self.clock.now
        rec = super().fit(label, n, u, arm)
        self.clock.now = start + 0.01 * n * self.configured_epochs / 20
        self.fits[-1] = (label, u, arm, start, self.clock.now)
        return {**rec, "epochs": self.configured_epochs}


def _run_curve(monkeypatch, budget: float):
    """The loop on ``_CurveEpochExp`` under a fake clock and a ``budget``: its result, the experiment, what it said."""
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    said: list[str] = []
    exp = _CurveEpochExp(clock)
    return run_loop(exp, _curve_plan(budget), say=said.append), exp, said


def test_epochs_are_planned_for_the_largest_sizes_looks_and_it_takes_them_first(monkeypatch):
    # pilot: size full's baseline at 5 epochs, 5 s (1 s an epoch). Planned for every size's two looks (4 runs of
    # 100, 500 and full: 2.6 s an epoch a run), 195 s would hold int(0.85 * 195 / 10.4) = 15 epochs; planned for
    # the largest size's two looks alone (2 s an epoch a run) they hold the configured 20: the learning curve
    # gets what is left instead of costing every fit a quarter of its epochs
    out, exp, said = _run_curve(monkeypatch, 200.0)
    assert out.epochs["planned"] == 20 and out.epochs["target_runs"] == 4 and out.epochs["first_look_fits"]
    assert "4 runs of size full, the largest, at the configured 20 epochs" in out.epochs["why"]
    assert exp.fits[0][:3] == ("full", 0, "baseline") and exp.fits[0][4] - exp.fits[0][3] == 5.0  # the pilot
    full = [f for f in exp.fits[1:] if f[0] == "full"]
    assert len(full) >= 8 and all(f[4] - f[3] == 20.0 for f in full)
    first_small = min(f[3] for f in exp.fits if f[0] != "full") if len(exp.fits) > len(full) + 1 else None
    assert first_small is None or first_small >= max(f[4] for f in full[:8])  # its first two looks came first
    assert out.stopping["full"]["runs"] >= 4 and max(f[4] for f in exp.fits) <= 200.0
    assert not any(line.startswith("warning: even at") for line in said)


def test_when_even_the_floor_cannot_give_the_largest_size_its_first_look_it_is_said_once_and_it_runs(monkeypatch):
    # 22 s: the pilot (5 s at the floor) leaves 17; the first look of size full (3 runs x 2 fits of 5 s, the pilot
    # kept) needs 25 s. Said up front, in one line; the budget still goes to size full, none to the smaller sizes
    out, exp, said = _run_curve(monkeypatch, 22.0)
    assert out.epochs["planned"] == 5 and not out.epochs["first_look_fits"]
    warnings = [line for line in said if line.startswith("warning: even at 5 epochs the first look of size full")]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "(3 runs, about 25 s of fits)" in warnings[0]
    assert said.index(warnings[0]) == 2 and len([line for line in said if line.startswith("warning")]) == 1
    assert [f[:3] for f in exp.fits[:4]] == [("full", 0, "baseline"), ("full", 0, "copies=1"),
                                             ("full", 1, "baseline"), ("full", 1, "copies=1")]
    assert _runs(out)["full"] == 2 and _runs(out)["500"] == 0 and out.status == L.STOPPED_BUDGET
    assert all(f[3] >= 20.0 for f in exp.fits[4:])  # the smaller sizes only had what size full could not use
    assert max(f[4] for f in exp.fits) <= 22.0
    assert out.stopping["100"]["why"].startswith("the budget went first to size full, the largest")


def test_without_a_budget_the_epochs_and_the_sizes_order_are_unchanged(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    exp = _CurveEpochExp(clock)
    out = run_loop(exp, _curve_plan(None, looks=(3,)))
    assert out.epochs["planned"] == 20 and "pilot_seconds" not in out.epochs
    assert [f[0] for f in exp.fits[:6]] == ["100"] * 6 and _runs(out) == {"100": 3, "500": 3, "full": 3}


def test_a_model_without_epochs_is_told_after_its_first_fit_when_the_largest_sizes_first_look_cannot_fit(
        monkeypatch):
    # no epochs to plan: the first fit (size full's baseline, 20 s) is the re-plan. The first look of size full
    # (3 runs of 40 s) needs 120 s of the 100 s: one line says so; full still takes the runs that fit (2, 80 s)
    clock = _Clock()
    monkeypatch.setattr(L, "time", clock)
    said = []
    exp = _CurveExp(clock)
    out = run_loop(exp, _curve_plan(100.0), say=said.append)
    (line,) = [s for s in said if s.startswith("first fit took")]
    assert line.startswith("first fit took 20.0 s: the first look of size full, the largest (3 runs), takes about "
                           "120 s; the 100 s left hold about 100 s of fits -- fewer than the first look needs (the "
                           "budget goes to it anyway)"), line
    assert [f[:2] for f in exp.fits[:4]] == [("full", 0), ("full", 0), ("full", 1), ("full", 1)]
    assert _runs(out)["full"] == 2 and max(f[4] for f in exp.fits) <= 100.0
    assert all(f[3] >= 80.0 for f in exp.fits if f[0] != "full")  # the learning curve: what full left


class _SpikyClock:
    """``perf_counter`` for timed sections: the n-th section (start, end) lasts ``durations[n]`` seconds."""

    def __init__(self, durations):
        self.durations, self.calls, self.now = list(durations), 0, 0.0

    def perf_counter(self):
        if self.calls % 2:
            self.now += self.durations[min(self.calls // 2, len(self.durations) - 1)]
        self.calls += 1
        return self.now


def test_one_slow_render_does_not_reserve_minutes_for_the_report(monkeypatch):
    # issue 21 images target at load 11: one figure render caught in a load spike (about 6 s) was multiplied by
    # the report's figures and files: 116 s kept for a tail of 23 s, and size full cut short with 99 s unused.
    # The fastest of a few renders is the figure's cost
    from augment.evaluate import planning

    monkeypatch.setattr(planning, "time", _SpikyClock([6.0, 0.2, 0.25, 1e-3, 1e-3]))
    costs = planning.measure_tail(200, 3)
    assert costs["fixed"] == round(planning.TAIL_SAFETY * (1 + 2 * planning.REPORT_FIGURES * 0.2), 3)
    assert costs["per_cell"] == pytest.approx(planning.TAIL_SAFETY * 1e-3 / (100 * 2 * 200))
