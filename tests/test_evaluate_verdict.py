"""The verdict rule on synthetic paired differences with a known mean and variance: its false-positive rate,
its power, the sequential looks, the Nadeau-Bengio correction and the equivalence verdict all hold their
stated error rates (checked by simulation, with bounds a few Monte-Carlo standard errors wide)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from augment.evaluate import verdict as v

ALPHA = 0.05


def _mc_bounds(p: float, n: int, k: float = 4.0) -> tuple[float, float]:
    se = math.sqrt(p * (1 - p) / n)
    return p - k * se, p + k * se


def _fixed_rejections(diffs: np.ndarray, level: float, correction: float = 0.0) -> np.ndarray:
    return np.array([v.decide(d, level=level, correction=correction).verdict in (v.HELPS, v.HURTS) for d in diffs])


@pytest.mark.parametrize("n_runs,sigma", [(3, 0.01), (5, 0.04), (10, 0.002)])
def test_false_positive_rate_is_alpha_under_no_effect(n_runs, sigma):
    rng = np.random.default_rng(n_runs)
    trials = 4000
    rate = _fixed_rejections(rng.normal(0.0, sigma, (trials, n_runs)), ALPHA).mean()
    lo, hi = _mc_bounds(ALPHA, trials)
    assert lo <= rate <= hi, rate


@pytest.mark.parametrize("n_runs,sigma", [(4, 0.02), (8, 0.05)])
def test_power_at_the_minimum_detectable_effect_matches_theory(n_runs, sigma):
    mde = v.minimum_detectable_effect(sigma, n_runs, ALPHA)
    nc = mde / (sigma / math.sqrt(n_runs))
    crit = st.t.ppf(1 - ALPHA / 2, n_runs - 1)
    theory = st.nct.sf(crit, n_runs - 1, nc) + st.nct.cdf(-crit, n_runs - 1, nc)
    assert 0.74 <= theory <= 0.86  # the MDE formula is the usual approximation of 80% power
    rng = np.random.default_rng(7)
    trials = 3000
    diffs = rng.normal(mde, sigma, (trials, n_runs))
    verdicts = [v.decide(d, level=ALPHA).verdict for d in diffs]
    power = np.mean([x == v.HELPS for x in verdicts])
    lo, hi = _mc_bounds(theory, trials)
    assert lo <= power <= hi, (power, theory)
    assert all(x in (v.HELPS, v.NO_EFFECT, v.HURTS) for x in verdicts)


def test_no_detectable_effect_reports_what_could_have_been_detected():
    d = v.decide([0.01, -0.02, 0.015, -0.005, 0.0], level=ALPHA)
    assert d.verdict == v.NO_EFFECT and d.ci[0] < 0 < d.ci[1]
    assert d.mde == pytest.approx((st.t.ppf(0.975, 4) + st.t.ppf(0.8, 4)) * d.sd / math.sqrt(5))
    assert v.decide([0.01], level=ALPHA).ci is None  # one run: no interval, never a verdict
    assert v.decide([0.01], level=ALPHA).verdict == v.NO_EFFECT
    with pytest.raises(ValueError):
        v.decide([0.01, float("nan")], level=ALPHA)


def test_identical_arms_are_equivalent_and_constant_shifts_are_decided():
    assert v.decide([0.0] * 3, level=ALPHA, margin=0.02, identical=True).verdict == v.EQUIVALENT
    assert v.decide([0.0] * 3, level=ALPHA, identical=True).verdict == v.NO_EFFECT  # no margin: nothing to match
    assert v.decide([0.0] * 3, level=ALPHA, final=False).verdict == ""


@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("value", [0.0, 1e-17])
def test_equal_scores_without_variance_are_not_equivalent(n, value):
    # two runs whose arms happened to score the same on 40 test images said "equivalent, [+0.0, +0.0], MDE 0.0"
    # in the old demo: a zero spread is no variance estimate, so equivalence is not claimed from it
    for final, adaptive in ((True, False), (True, True), (False, True)):
        d = v.decide([value] * n, level=ALPHA, margin=0.02, final=final, adaptive=adaptive)
        assert d.verdict not in v.DECIDED and d.mde is None
    d = v.decide([0.0] * n, level=ALPHA, margin=0.02)
    assert "no variance" in v.verdict_phrase(d, 0.02)
    # with spread, small differences still decide "equivalent"
    assert v.decide([0.001, -0.001, 0.0, 0.0005, -0.0005] * 2, level=ALPHA, margin=0.02).verdict == v.EQUIVALENT


def test_identical_nonzero_differences_decide_nothing():
    # +2 of 60 test images in each of three runs: zero spread, so a zero-width "interval"; before the fix this
    # said "helps" (seen in a search on sign_digits and in the text demo)
    d = v.decide([2 / 60] * 3, level=ALPHA)
    assert d.verdict == v.NO_EFFECT and d.mde is None
    assert v.decide([-0.1] * 4, level=ALPHA, final=False).verdict == ""
    assert v.decide([2 / 60] * 5, level=ALPHA, adaptive=True).verdict == v.UNDECIDED
    assert v.decide([0.1, 0.1, 0.1 + 1e-17], level=ALPHA).verdict == v.NO_EFFECT  # rounding is no spread
    assert v.decide([1e-17, 0.0, 1e-17], level=ALPHA).verdict == v.NO_EFFECT  # nor is it an effect
    assert v.decide([1e-17, 0.0, 1e-17], level=ALPHA, margin=0.02, identical=True).verdict == v.EQUIVALENT


def _sequential(diffs: np.ndarray, looks: tuple[int, ...], level: float, margin: float | None = None,
                correction: float = 0.0) -> list[str]:
    """What --repeats auto does: look at each scheduled run count, stop at the first decision."""
    out = []
    for d in diffs:
        final = ""
        for n in looks:
            final = v.decide(d[:n], level=level, correction=correction, margin=margin, final=False).verdict
            if final:
                break
        out.append(final)
    return out


def test_sequential_stopping_keeps_the_error_rate_and_naive_looks_do_not():
    looks = v.look_schedule(3, 10)
    level = v.pocock_level(looks, ALPHA)
    assert level < ALPHA
    rng = np.random.default_rng(11)
    trials = 3000
    diffs = rng.normal(0.0, 0.03, (trials, looks[-1]))
    rate = np.mean([x in (v.HELPS, v.HURTS) for x in _sequential(diffs, looks, level)])
    lo, hi = _mc_bounds(ALPHA, trials)
    assert lo <= rate <= hi, rate
    naive = np.mean([x in (v.HELPS, v.HURTS) for x in _sequential(diffs, looks, ALPHA)])
    assert naive > hi  # looking 8 times at alpha each inflates the error rate: why the nominal level is lower


def test_sequential_stopping_decides_real_effects_early():
    looks = v.look_schedule(3, 10)
    level = v.pocock_level(looks, ALPHA)
    rng = np.random.default_rng(12)
    diffs = rng.normal(0.05, 0.02, (500, looks[-1]))  # a clear effect
    used = []
    for d in diffs:
        for n in looks:
            if v.decide(d[:n], level=level, final=False).verdict:
                used.append(n)
                break
    assert len(used) == 500 and np.mean(used) < 5  # decided, on average in under half the run limit


def test_equivalence_error_rate_at_the_margin_is_at_most_alpha():
    looks = v.look_schedule(3, 10)
    level = v.pocock_level(looks, ALPHA)
    rng = np.random.default_rng(13)
    trials = 3000
    margin = 0.02
    diffs = rng.normal(margin, 0.01, (trials, looks[-1]))  # true effect exactly at the margin
    wrong = np.mean([x == v.EQUIVALENT for x in _sequential(diffs, looks, level, margin)])
    assert wrong <= _mc_bounds(ALPHA, trials)[1], wrong
    small = rng.normal(0.0, 0.004, (300, looks[-1]))  # no effect, little noise: equivalence is found
    assert np.mean([x == v.EQUIVALENT for x in _sequential(small, looks, level, margin)]) > 0.9


def _cv_like(trials: int, n_runs: int, rho: float, rng) -> np.ndarray:
    """Differences from overlapping training sets: equicorrelated with correlation rho (Nadeau & Bengio)."""
    return math.sqrt(1 - rho) * rng.normal(size=(trials, n_runs)) + math.sqrt(rho) * rng.normal(size=(trials, 1))


def test_nadeau_bengio_correction_restores_alpha_for_overlapping_training_sets():
    k = 5
    n_test_over_train = 1 / (k - 1)  # 5-fold CV: each test fold is a quarter of its training folds
    rho = n_test_over_train / (1 + n_test_over_train)
    rng = np.random.default_rng(14)
    trials = 3000
    diffs = 0.01 * _cv_like(trials, 2 * k, rho, rng)  # two repetitions of 5-fold CV
    naive = _fixed_rejections(diffs, ALPHA).mean()
    corrected = _fixed_rejections(diffs, ALPHA, n_test_over_train).mean()
    assert naive > 0.2  # the plain paired t-test cries wolf on overlapping folds
    lo, hi = _mc_bounds(ALPHA, trials)
    assert lo <= corrected <= hi, corrected
    looks = (k, 2 * k, 3 * k)
    level = v.pocock_level(looks, ALPHA, n_test_over_train)
    seq = _sequential(0.01 * _cv_like(trials, 3 * k, rho, rng), looks, level, correction=n_test_over_train)
    rate = np.mean([x in (v.HELPS, v.HURTS) for x in seq])
    assert lo <= rate <= hi, rate


def test_look_schedule_and_level_are_deterministic():
    assert v.look_schedule(3, 6) == (3, 4, 5, 6)
    assert v.look_schedule(5, 12, 5) == (5, 10, 12)
    assert v.pocock_level((5,), ALPHA) == ALPHA
    v.pocock_level.cache_clear()
    a = v.pocock_level((3, 4, 5), ALPHA)
    v.pocock_level.cache_clear()
    assert v.pocock_level((3, 4, 5), ALPHA) == a
