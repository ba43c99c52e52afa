"""The shared size x run loop (augment.evaluate.loop): parallel fits give the serial numbers, the time budget
is planned before fits start, an interrupted evaluation leaves a report, and --resume reuses finished fits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PIPELINES
from test_evaluate_protocol import drop_word, make_tsv

from augment.evaluate import EvalConfig, FunctionAugmenter, run_evaluation
from augment.evaluate import loop as L
from augment.evaluate.loop import Journal, LoopPlan, fit_sizes, run_loop

REPO = Path(__file__).resolve().parents[1]


def _numbers(result) -> tuple:
    runs = [{k: v for k, v in r.items() if k != "timings" and k != "model_info"} for r in result.runs]
    summary = [{k: v for k, v in s.items()} for s in result.summary]
    return json.dumps(runs, sort_keys=True, default=str), json.dumps(summary, sort_keys=True, default=str)


@pytest.mark.skipif(not L.can_fork(), reason="parallel fits need fork")
def test_parallel_fits_give_the_serial_numbers(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=1)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    base = dict(train=train, train_sizes="10,full", copies="1,2", repeats="auto", min_repeats=3, max_repeats=4,
                model="tfidf-logreg", n_bootstrap=200, n_samples=0, seed=3, margin=1e-6)
    serial = run_evaluation(EvalConfig(**base, jobs=1), progress=False, augmenter=aug)
    parallel = run_evaluation(EvalConfig(**base, jobs=2), progress=False, augmenter=aug)
    assert serial.protocol["jobs"] == 1 and parallel.protocol["jobs"] == 2
    assert _numbers(serial) == _numbers(parallel)
    assert serial.protocol["stopping"] == {k: {**v, "seconds": serial.protocol["stopping"][k]["seconds"]}
                                           for k, v in parallel.protocol["stopping"].items()}


def test_sizes_never_exceed_the_data():
    assert fit_sizes([100, 500, "full"], 160) == ([("100", 100), ("full", 160)],
                                                   ["train size 500 exceeds or equals the 160 training examples "
                                                    "available; 'full' (160) is evaluated instead"])
    sizes, notes = fit_sizes([200, 500], 160)
    assert sizes == [("full", 160)] and "200, 500" in notes[0]
    assert fit_sizes([10, "full"], 160) == ([("10", 10), ("full", 160)], [])


class _Clock:
    """A fake clock: every fit takes ``cost`` virtual seconds (no timed asserts, no sleeping)."""

    def __init__(self, cost: float) -> None:
        self.now, self.cost, self.fits = 0.0, cost, []

    def perf_counter(self) -> float:
        return self.now


class _Exp:
    arms = ["baseline", "copies=1"]
    metrics = ("accuracy",)

    def __init__(self, clock: _Clock, effect: float = 0.0) -> None:
        self.clock, self.effect = clock, effect

    def fit(self, label, n, u, arm):
        start = self.clock.now
        self.clock.now += self.clock.cost
        self.clock.fits.append((label, u, arm, start, self.clock.now))
        noise = ((u * 7919) % 13) / 1000 + (0.004 * (u % 3) if arm != "baseline" else 0.0)
        return {"size": label, "repeat": u, "arm": arm, "metrics": {
            "accuracy": 0.5 + noise + (self.effect if arm != "baseline" else 0.0)}}


def _plan(deadline, looks=(3, 4, 5, 6, 7, 8, 9, 10)):
    return LoopPlan(sizes=[("full", 100)], looks=looks, adaptive=True, margin=0.02,
                    levels={"full": 0.02}, jobs=1, deadline=deadline)


def test_the_budget_is_planned_before_fits_start(monkeypatch):
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_Exp(clock), _plan(deadline=55.0))
    # the first run always runs; a look's runs are queued only if they end before the deadline
    assert all(end <= 55.0 for (_, u, _, _, end) in clock.fits if u > 0)
    assert out.stopping["full"]["reason"] == "time budget reached" and out.status == L.STOPPED_BUDGET
    assert out.stopping["full"]["runs"] == 2  # 2 runs x 2 arms x 10 s = 40 s; a third would end at 60 s
    d = out.decisions[("full", "copies=1", "accuracy")]
    assert d.n == 2 and d.verdict == "undecided"


def test_without_a_budget_the_looks_run_to_a_decision(monkeypatch):
    clock = _Clock(cost=1.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_Exp(clock, effect=0.2), _plan(deadline=None))
    assert (out.stopping["full"]["runs"], out.stopping["full"]["reason"]) == (3, "decided")
    assert out.decisions[("full", "copies=1", "accuracy")].verdict == "helps" and out.status == L.COMPLETE


def test_resume_reuses_the_journal_and_refuses_another_evaluation(tmp_path, monkeypatch):
    clock = _Clock(cost=1.0)
    monkeypatch.setattr(L, "time", clock)
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    journal = Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=False)
    first = run_loop(_Exp(clock), _plan(deadline=None, looks=(3, 4)), journal=journal)
    assert first.fits_trained == 8
    clock.fits.clear()
    again = run_loop(_Exp(clock), _plan(deadline=None, looks=(3, 4)),
                     journal=Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=True))
    assert clock.fits == [] and again.fits_reused_from_journal == 8 and again.fits_trained == 0
    assert [r["metrics"] for r in again.records] == [r["metrics"] for r in first.records]
    with pytest.raises(ValueError, match="another evaluation"):
        Journal(tmp_path / "fits.jsonl", {"k": 2}, resume=True)
    with pytest.raises(ValueError, match="no evaluation to resume"):
        Journal(tmp_path / "none" / "fits.jsonl", {"k": 1}, resume=True)


def test_an_interrupt_ends_the_loop_with_what_finished(monkeypatch):
    clock = _Clock(cost=1.0)
    monkeypatch.setattr(L, "time", clock)

    class Interrupted(_Exp):
        def fit(self, label, n, u, arm):
            if u == 2:
                raise KeyboardInterrupt
            return super().fit(label, n, u, arm)

    out = run_loop(Interrupted(clock), _plan(deadline=None))
    assert out.status == L.INTERRUPTED and out.interrupted_by == "SIGINT"
    assert out.stopping["full"]["runs"] == 2 and len(out.records) == 4


class _JournalHit(Journal):
    """A journal whose ``hit``-th write is interrupted (SIGTERM raised as KeyboardInterrupt), before or after
    its line reaches the file."""

    def __init__(self, path, hit: int, after: bool) -> None:
        super().__init__(path, {"k": 1}, resume=False)
        self.calls, self.hit, self.after = 0, hit, after

    def add(self, record: dict) -> None:
        self.calls += 1
        if self.calls == self.hit and not self.after:
            raise KeyboardInterrupt
        super().add(record)
        if self.calls == self.hit:
            raise KeyboardInterrupt


@pytest.mark.parametrize("after", [False, True])
@pytest.mark.parametrize("hit", range(1, 9))
def test_an_interrupt_while_journalling_never_reports_a_fit_the_journal_lacks(tmp_path, monkeypatch, hit, after):
    """The report of an interrupted evaluation counted a fit whose journal line was never written, so --resume
    trained it again (CI: 3 runs reported, 5 fits found by --resume). Wherever the interrupt lands, every fit
    the report counts is in the journal."""
    clock = _Clock(cost=1.0)
    monkeypatch.setattr(L, "time", clock)
    journal = _JournalHit(tmp_path / "fits.jsonl", hit, after)
    out = run_loop(_Exp(clock), _plan(deadline=None, looks=(4,)), journal=journal)
    assert out.status == L.INTERRUPTED
    kept = Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=True).done
    reported = {(r["size"], r["repeat"], r["arm"]) for r in out.records}
    assert reported <= set(kept) and len(reported) == 2 * out.stopping["full"]["runs"]


_SIGNAL_IN_FORK = """
import os, signal, sys
from augment.evaluate.loop import LoopPlan, run_loop

class Exp:
    arms, metrics = ["baseline", "copies=1"], ("accuracy",)
    def fit(self, label, n, u, arm):
        return {"size": label, "repeat": u, "arm": arm, "metrics": {"accuracy": 0.5 + u / 100}}

sig = getattr(signal, sys.argv[1])
if sig == signal.SIGTERM:  # the CLI's handler: SIGTERM raised as KeyboardInterrupt
    def term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, term)
sent = []
def hit():  # the signal lands while the pool forks its workers
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), sig)
os.register_at_fork(before=hit)
plan = LoopPlan(sizes=[("full", 100)], looks=(6,), adaptive=False, margin=None, levels={"full": 0.05}, jobs=2)
out = run_loop(Exp(), plan)
print(out.status, out.fits_trained)
"""


@pytest.mark.skipif(not L.can_fork(), reason="parallel fits need fork")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_during_a_workers_fork_still_stops_the_loop(sig):
    """Python runs a signal's handler inside an at-fork callback when the signal lands during os.fork(), and
    drops the KeyboardInterrupt there: the loop once ran on to the end (a cancelled search finished)."""
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_IN_FORK, sig], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    status, trained = proc.stdout.split()
    assert status == L.INTERRUPTED and int(trained) < 12, proc.stdout + proc.stderr
    assert "Exception ignored" not in proc.stderr


def _eval_cmd(train: Path, out: Path, *extra: str) -> list[str]:
    # half a second a fit: the signal, sent once two fits are journalled, lands inside the loop. With a model
    # taking 10-40 ms a fit the loop could end first, on a loaded machine, and the signal hit the report's writing
    return [sys.executable, "-m", "augment.cli", "eval", str(PIPELINES / "eda.yaml"), "--train", str(train),
            "--train-sizes", "full", "--copies", "1", "--repeats", "6", "--model", "search_models:slow_centroid",
            "--jobs", "1", "--seed", "5", "--out", str(out), "-q", *extra]


def test_sigterm_leaves_a_partial_report_and_resume_finishes_it(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 40, seed=2)
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    proc = subprocess.Popen(_eval_cmd(train, out), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    journal = out / "fits.jsonl"
    waited = 0.0
    while proc.poll() is None and waited < 600:  # until two fits (one run) are in the journal
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
        waited += 0.2
    assert proc.poll() is None, "the evaluation ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 143, stderr
    assert "--resume" in stderr.strip().splitlines()[-1] and "Traceback" not in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"]["status"] == "interrupted" and report["protocol"]["interrupted_by"] == "SIGTERM"
    finished = report["protocol"]["stopping"]["full"]["runs"]
    assert 1 <= finished < 6 and report["summary"][0]["repeats"] == finished
    assert (out / "report.html").exists() and "interrupted" in (out / "report.html").read_text()

    done = subprocess.run(_eval_cmd(train, out, "--resume"), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    resumed = json.loads((out / "report.json").read_text())
    assert resumed["protocol"]["status"] == "complete"
    assert resumed["protocol"]["fits"]["from_journal"] >= 2 * finished
    assert resumed["protocol"]["fits"]["trained"] == 12 - resumed["protocol"]["fits"]["from_journal"]
    fresh = subprocess.run(_eval_cmd(train, tmp_path / "fresh"), cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    fresh_report = json.loads((tmp_path / "fresh" / "report.json").read_text())
    strip = lambda runs: [r["metrics"]["accuracy"] for r in runs]  # noqa: E731
    assert strip(resumed["runs"]) == strip(fresh_report["runs"])
    assert resumed["summary"][0]["decision"] == fresh_report["summary"][0]["decision"]


_SIGNAL_AT = """
import os, signal, sys
import augment.evaluate as E
import augment.evaluate.protocol as P
where, sig = sys.argv[1], getattr(signal, sys.argv[2])
module, name = (E, "write_report") if where == "report" else (P, "make_samples")
real = getattr(module, name)
def hit(*args, **kwargs):
    os.kill(os.getpid(), sig)
    return real(*args, **kwargs)
setattr(module, name, hit)
from augment.cli import main
sys.argv = ["augment", *sys.argv[3:]]
main()
"""


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
@pytest.mark.parametrize("where", ["before-fits", "report"])
def test_a_signal_outside_the_fit_loop_is_one_line_that_names_the_kept_fits(tmp_path, where, sig, code):
    """A SIGTERM after the last fit (statistics, report) ended in a bare "terminated (SIGTERM)", silent about the
    fits kept for --resume (CI); one while the report was written killed the process without a word."""
    train = make_tsv(tmp_path / "train.tsv", 30, seed=2)
    out = tmp_path / "r"
    args = ["eval", str(PIPELINES / "eda.yaml"), "--train", str(train), "--train-sizes", "full", "--copies", "1",
            "--repeats", "3", "--model", "tfidf-logreg", "--jobs", "1", "--seed", "5", "--out", str(out), "-q"]
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_AT, where, sig, *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    if where == "report":
        assert lines[0].endswith(f"6 finished fits are kept in {out / 'fits.jsonl'}; add --resume to the same "
                                 "command to continue"), lines[0]
        again = subprocess.run([sys.executable, "-m", "augment.cli", *args, "--resume"], capture_output=True,
                               text=True, timeout=300, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
        assert again.returncode == 0, again.stderr
        assert json.loads((out / "report.json").read_text())["protocol"]["fits"] == {"trained": 0,
                                                                                       "from_journal": 6}
    else:
        assert lines[0] == ("error: terminated (SIGTERM)" if sig == "SIGTERM" else "error: interrupted")


def test_a_report_renders_when_a_size_has_no_finished_run(tmp_path):
    # a SIGTERM during the first run of the last size left it without a summary row: the HTML plots raised
    from augment.evaluate import write_report

    train = make_tsv(tmp_path / "train.tsv", 12, seed=4)
    cfg = EvalConfig(train=train, train_sizes="8,full", copies="1", repeats=2, model="tfidf-logreg",
                     n_bootstrap=200, n_samples=0, jobs=1)
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(drop_word, "text", "drop"))
    res.summary = [s for s in res.summary if s["size"] != "full"]
    res.per_class = [p for p in res.per_class if p["size"] != "full"]
    res.protocol["status"] = L.INTERRUPTED
    paths = write_report(res, tmp_path / "out")
    assert "interrupted" in paths["html"].read_text()


class _EpochExp(_Exp):
    """A model whose fit costs in proportion to its epochs (20 configured: ``clock.cost`` seconds)."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__(clock)
        self.configured_epochs = 20

    def set_epochs(self, epochs: int) -> None:
        self.configured_epochs = epochs

    def fit(self, label, n, u, arm):
        cost = self.clock.cost
        self.clock.cost = cost * self.configured_epochs / 20
        try:
            rec = super().fit(label, n, u, arm)
        finally:
            self.clock.cost = cost
        return {**rec, "epochs": self.configured_epochs}


def test_epochs_are_planned_from_a_pilot_fit_so_two_looks_fit_the_budget(monkeypatch):
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_EpochExp(clock), _plan(deadline=60.0))
    # pilot at the floor (5 of 20 epochs): 2.5 s, so 10 s at 20; two looks (4 runs x 2 arms) at 20 epochs would
    # take 80 s of the 57.5 s left, so every fit trains int(20 * 0.85 * 57.5 / 80) = 12 epochs; the pilot's run
    # is trained again at them (the pilot, at 5 epochs, cost a quarter of one at the configured 20)
    assert out.epochs["configured"] == 20 and out.epochs["planned"] == 12
    assert out.epochs["pilot_seconds"] == 2.5 and out.epochs["pilot_epochs"] == 5
    assert "12 epochs" in out.epochs["why"] and "pilot fit at 5 epochs took 2.5 s" in out.epochs["why"]
    assert clock.fits[0][:3] == ("full", 0, "baseline") and clock.fits[1][:3] == ("full", 0, "baseline")
    assert clock.fits[0][4] - clock.fits[0][3] == 2.5 and clock.fits[1][4] - clock.fits[1][3] == 6.0
    assert {r["epochs"] for r in out.records} == {12} and {r["epochs_planned"] for r in out.records} == {12}
    assert out.fits_trained == len(clock.fits) == len(out.records) + 1


def test_the_pilot_trains_at_the_floor_and_is_kept_when_the_plan_lands_there(monkeypatch):
    # issue 21: the pilot used to train the configured epochs and be thrown away whenever the plan cut them
    # (~20 s of a 60 s budget); it now trains at the floor (a quarter), which a tight budget plans anyway
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_EpochExp(clock), _plan(deadline=11.0))
    assert out.epochs["planned"] == 5 and "least planning allows" in out.epochs["why"]
    assert clock.fits[0][:3] == ("full", 0, "baseline") and clock.fits[0][4] - clock.fits[0][3] == 2.5
    assert out.fits_trained == len(clock.fits) == len(out.records)  # the pilot is run 0's baseline: kept
    assert out.records and {r["epochs"] for r in out.records} == {5}
    assert [(r["size"], r["repeat"], r["arm"]) for r in out.records].count(("full", 0, "baseline")) == 1
    # a budget that holds the configured epochs: the pilot (at 5 epochs) is dropped and its run trained at 20
    clock = _Clock(cost=1.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_EpochExp(clock), _plan(deadline=1000.0))
    assert out.epochs["planned"] == 20 and out.fits_trained == len(clock.fits) == len(out.records) + 1
    assert clock.fits[0][4] - clock.fits[0][3] == 0.25 and {r["epochs"] for r in out.records} == {20}


def test_without_a_budget_no_pilot_and_resume_keeps_the_planned_epochs(tmp_path, monkeypatch):
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    out = run_loop(_EpochExp(clock), _plan(deadline=None, looks=(3,)))
    assert out.epochs["planned"] == 20 and len(clock.fits) == len(out.records)  # no pilot without a budget
    clock = _Clock(cost=10.0)
    monkeypatch.setattr(L, "time", clock)
    journal = Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=False)
    first = run_loop(_EpochExp(clock), _plan(deadline=60.0, looks=(3, 4)), journal=journal)
    assert first.epochs["planned"] == 12  # the pilot at 5 epochs: 2.5 s (see the test above)
    exp = _EpochExp(clock)
    again = run_loop(exp, _plan(deadline=None, looks=(3, 4, 5)),
                     journal=Journal(tmp_path / "fits.jsonl", {"k": 1}, resume=True))
    assert exp.configured_epochs == 12 and again.epochs["planned"] == 12 and "resumed" in again.epochs["why"]
    assert {r["epochs"] for r in again.records} == {12}


def test_the_cnn_trains_the_epochs_planned_against_the_budget_and_the_report_says_so(tmp_path):
    import numpy as np
    from PIL import Image

    from augment.evaluate.report_parts import what_ran

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "train" / c).mkdir(parents=True)
        for i in range(10):
            img = rng.integers(0, 90 if c == "a" else 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "train" / c / f"{i}.png")
    aug = FunctionAugmenter(lambda x, s: np.ascontiguousarray(np.asarray(x)[:, ::-1]), "image", "flip")
    config = EvalConfig(train=tmp_path / "train", train_sizes="full", copies="1", repeats="auto", min_repeats=2,
                        max_repeats=2, time_budget=1e-6, model="cnn", n_samples=0, n_bootstrap=200, jobs=1,
                        model_options={"max_epochs": 8, "width": 4, "image_size": 8})
    result = run_evaluation(config, progress=False, augmenter=aug)
    plan = result.protocol["epochs"]
    # no time left after the pilot: the fewest epochs planning allows, a quarter of the configured 8
    assert plan["configured"] == 8 and plan["planned"] == 2 and plan["pilot_seconds"] > 0
    assert result.runs and {r["epochs_planned"] for r in result.runs} == {2}
    assert result.model["options"]["max_epochs"] == 2 and result.model["options"]["min_steps"] == 75
    assert any(line.startswith("Planned: 2 of 8 epochs against the time budget") for line in what_ran(result))


def test_a_kept_pilot_over_the_budget_leaves_one_run_and_no_fit_past_the_deadline(monkeypatch):
    clock = _Clock(cost=200.0)  # 10 s per fit at 1 epoch
    monkeypatch.setattr(L, "time", clock)
    exp = _EpochExp(clock)
    exp.configured_epochs = 1  # nothing to cut: the pilot is kept
    plan = LoopPlan(sizes=[("10", 10), ("full", 100)], looks=(3, 4), adaptive=True, margin=0.02,
                    levels={"10": 0.02, "full": 0.02}, jobs=1, deadline=5.0)
    out = run_loop(exp, plan)
    assert out.epochs["planned"] == 1 and out.status == L.STOPPED_BUDGET
    # the probe (the largest size's first run) always runs, so the report has a run; size 10's first run would
    # end past the deadline, so it is not started
    assert {lab: s["runs"] for lab, s in out.stopping.items()} == {"10": 0, "full": 1}
    assert len(clock.fits) == len(out.records) == 2  # the pilot is run 0's baseline of size full


def test_resume_refuses_the_fits_of_another_model_that_auto_picked(tmp_path):
    # auto is tfidf-logreg for text under a time budget and ngram without one; the time budget is not part of
    # the journal's key (a resumed evaluation may get more time), so the model that trained must be
    train = make_tsv(tmp_path / "train.tsv", 10, seed=5)
    aug = FunctionAugmenter(drop_word, "text", "drop")
    cfg = dict(train=train, train_sizes="full", copies="1", repeats=2, n_bootstrap=100, n_samples=0, jobs=1,
               out=tmp_path / "out")
    first = run_evaluation(EvalConfig(**cfg, time_budget=1000.0), progress=False, augmenter=aug)
    assert first.model["name"] == "tfidf-logreg"
    with pytest.raises(ValueError, match="holds fits of another evaluation"):
        run_evaluation(EvalConfig(**cfg, resume=True), progress=False, augmenter=aug)
    again = run_evaluation(EvalConfig(**cfg, time_budget=500.0, resume=True), progress=False, augmenter=aug)
    assert again.protocol["fits"]["from_journal"] == 4
