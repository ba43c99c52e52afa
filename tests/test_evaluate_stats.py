"""augment.evaluate.stats: metrics, intervals and verdicts -- in particular, that they do not cry wolf."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from augment.evaluate import stats, verdict


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    p[p == 3] = 2  # class 3 never predicted
    m = stats.classification_metrics(y, p, ["a", "b", "c", "d"])
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    rec = recall_score(y, p, average=None, labels=[0, 1, 2, 3], zero_division=0)
    assert [m["per_class"][c]["recall"] for c in "abcd"] == pytest.approx(rec.tolist())
    assert np.array(m["confusion"]).sum() == 300


def test_identical_arms_give_exact_zero_and_a_zero_interval():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    preds = np.where(rng.random((5, 200)) < 0.7, y, rng.integers(0, 3, (5, 200)))
    ci = stats.paired_bootstrap(y, preds, preds.copy(), 3, n_boot=500, seed=0)
    assert ci == {"accuracy": (0.0, 0.0), "macro_f1": (0.0, 0.0)}
    acc = [float((p == y).mean()) for p in preds]
    decision = verdict.decide(np.subtract(acc, acc), level=0.05, margin=0.02, identical=True)  # same arms by construction
    comp = stats.compare("accuracy", acc, acc, ci["accuracy"], decision)
    assert comp.diff_mean == 0.0 and comp.ci == (0.0, 0.0) and comp.mde == 0.0
    assert comp.verdict == verdict.EQUIVALENT


def test_bootstrap_rarely_excludes_zero_when_both_arms_come_from_the_same_model():
    rng = np.random.default_rng(2)
    n_test, reps, trials, alarms = 300, 5, 40, 0
    for t in range(trials):
        y = rng.integers(0, 2, n_test)
        draw = lambda: np.where(rng.random((reps, n_test)) < 0.7, y, 1 - y)  # noqa: E731
        lo, hi = stats.paired_bootstrap(y, draw(), draw(), 2, n_boot=400, seed=t)["accuracy"]
        alarms += lo > 0 or hi < 0
    assert alarms <= 6, f"{alarms} of {trials} null bootstrap intervals exclude zero"


def test_clear_effects_are_detected_both_ways():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    good = np.where(rng.random((5, 400)) < 0.9, y, 1 - y)
    bad = np.where(rng.random((5, 400)) < 0.6, y, 1 - y)
    acc = lambda p: (p == y).mean(axis=1)  # noqa: E731
    up = stats.paired_bootstrap(y, bad, good, 2, n_boot=500, seed=0)
    d_up = verdict.decide(acc(good) - acc(bad), level=0.05)
    assert stats.compare("accuracy", acc(bad), acc(good), up["accuracy"], d_up).verdict == verdict.HELPS
    down = stats.paired_bootstrap(y, good, bad, 2, n_boot=500, seed=0)
    comp = stats.compare("accuracy", acc(good), acc(bad), down["accuracy"],
                         verdict.decide(acc(bad) - acc(good), level=0.05))
    assert comp.verdict == verdict.HURTS
    lo, hi = comp.bootstrap_ci
    assert lo < comp.diff_mean < hi < 0 and comp.ci[1] < 0
    assert up["macro_f1"][0] > 0 and down["macro_f1"][1] < 0


def test_variance_split():
    base = [0.60, 0.70, 0.65, 0.75]
    aug = [0.62, 0.71, 0.68, 0.76]  # moves with the baseline: pairing removes most of the noise
    v = stats.variance_split(base, aug)
    assert v["difference_sd"] == pytest.approx(np.std(np.subtract(aug, base), ddof=1))
    assert v["correlation"] > 0.95 and v["variance_removed_by_pairing"] > 0.9
    assert stats.variance_split([0.5], [0.6])["difference_sd"] is None


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 100)
    a = np.where(rng.random((3, 100)) < 0.7, y, 1 - y)
    b = np.where(rng.random((3, 100)) < 0.8, y, 1 - y)
    assert stats.paired_bootstrap(y, a, b, 2, n_boot=300, seed=9) == stats.paired_bootstrap(y, a, b, 2, n_boot=300, seed=9)


def test_t_interval_and_summaries():
    assert stats.paired_t_interval([0.1]) is None
    lo, hi = stats.paired_t_interval([0.01, 0.03, 0.02, 0.04, 0.0])
    assert lo < 0.02 < hi
    assert stats.mean_std([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert stats.repeat_bootstrap([0.0, 0.0]) == (0.0, 0.0)
