"""The verdict rule: one paired test with a stated error rate, sequential looks, power and equivalence.

Data: one paired difference ``d_j = metric(augmented) - metric(baseline)`` per run ``j`` (a repeat, or a fold of
a cross-validation repetition); both arms of a run share the training subset, the test set and the seeds.

Test: the paired t statistic ``mean(d) / sqrt(s^2 * (1/J + c))`` with ``J - 1`` degrees of freedom. ``c = 0``
for repeats on a fixed held-out set (the ordinary paired t-test); ``c = n_test / n_train`` for cross-validation,
the Nadeau-Bengio (2003) corrected resampled t-test, because the folds' training sets overlap and the plain
test's variance would be far too small.

Decisions come from one confidence interval for the mean difference at the nominal level ``a``:

* "helps" when the interval lies above 0, "hurts" when it lies below 0;
* "equivalent" when it lies inside ``(-margin, +margin)`` (two one-sided tests at ``a/2`` each);
* otherwise no decision: "no detectable effect" for a fixed number of runs (with the minimum detectable effect
  at 80% power, what this run could have seen), or "undecided" when adaptive repeats ran out.

Sequential looks (``--repeats auto``): the interval is recomputed after every run from the ``min_runs``-th on
(after every complete repetition for cross-validation), which would inflate the error rate if each look used
``a = alpha``. We use **repeated confidence intervals with a Pocock-type constant nominal level** (Jennison &
Turnbull, 1989): ``a`` is the level at which the probability that *any* look's interval excludes 0 under no
effect equals ``alpha``. For the t statistic that probability does not depend on the unknown variance (the
statistic is scale-free), so ``a`` is computed once per look schedule by a seeded Monte Carlo simulation of
normal differences (equicorrelated as in the Nadeau-Bengio model when ``c > 0``) and is exact for normal
differences up to simulation error. Simultaneous coverage means the same ``alpha`` bounds the chance of a
wrong "helps"/"hurts" under no effect and of a wrong "equivalent" when the true effect is at the margin,
whenever the run stops (early on a decision, or at the run or time limit, which only makes it conservative).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

HELPS, HURTS, EQUIVALENT = "helps", "hurts", "equivalent"
NO_EFFECT, UNDECIDED = "no detectable effect", "undecided"
DECIDED = (HELPS, HURTS, EQUIVALENT)
POWER = 0.8
METHOD = ("paired t-test over runs (Nadeau-Bengio corrected for cross-validation); sequential looks use "
          "repeated confidence intervals with a Pocock-type constant nominal level calibrated by Monte Carlo")


def _t_ppf(q: float, df: int) -> float:
    from scipy import stats as st

    return float(st.t.ppf(q, df))


@dataclass(frozen=True)
class Decision:
    verdict: str
    n: int  # runs (paired differences) used
    mean: float
    sd: float  # sample standard deviation of the differences (ddof=1)
    se: float  # standard error of the mean, with the correction
    nominal_level: float  # the two-sided level of this look's interval
    ci: tuple[float, float] | None
    mde: float | None  # minimum detectable effect at 80% power with this n, sd and level
    correction: float  # c of the variance factor (1/J + c)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci) if self.ci is not None else None
        return d


def paired_interval(diffs: Sequence[float], level: float, correction: float = 0.0
                    ) -> tuple[float, float, float, tuple[float, float] | None]:
    """(mean, sd, se, two-sided (1 - level) interval); the interval is None with fewer than two runs."""
    d = np.asarray(diffs, dtype=float)
    if not np.all(np.isfinite(d)):
        raise ValueError("paired differences must be finite numbers")
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return mean, 0.0, math.inf, None
    sd = float(d.std(ddof=1))
    se = sd * math.sqrt(1.0 / n + correction)
    half = _t_ppf(1 - level / 2, n - 1) * se
    return mean, sd, se, (mean - half, mean + half)


def minimum_detectable_effect(sd: float, n: int, level: float, correction: float = 0.0, power: float = POWER
                              ) -> float | None:
    """The true mean difference a two-sided test at ``level`` detects with probability ``power`` given the
    differences' standard deviation (the usual approximation ``(t_{1-a/2} + t_{power}) * se``)."""
    if n < 2:
        return None
    se = sd * math.sqrt(1.0 / n + correction)
    return (_t_ppf(1 - level / 2, n - 1) + _t_ppf(power, n - 1)) * se


def decide(diffs: Sequence[float], *, level: float, correction: float = 0.0, margin: float | None = None,
           final: bool = True, adaptive: bool = False, identical: bool = False) -> Decision:
    """Apply the rule of the module docstring at one look. ``final=False`` means more runs may follow: the
    verdict is then one of DECIDED or "" (keep going). ``identical``: the arms trained on the same examples in
    every run (an identity pipeline), so a zero difference is exact rather than observed."""
    n = len(diffs)
    mean, sd, se, ci = paired_interval(diffs, level, correction)
    mde = minimum_detectable_effect(sd, n, level, correction)
    verdict = ""
    # The same difference in every run leaves the t-test with no spread to judge by: its interval has zero width
    # whatever the training noise and the test set's own sampling error, so nothing is decided from it (no
    # "helps", no "equivalent", no MDE). Two runs whose arms happened to score the same are no evidence of
    # equivalence. Only arms that are identical by construction (an identity pipeline: the augmented arm
    # trained on exactly the baseline's examples) are equivalent with no variance.
    flat = ci is not None and sd < 1e-9  # equal differences, up to floating-point spread
    degenerate = flat and (abs(mean) >= 1e-9 or not identical)
    if degenerate:
        mde = None
    elif flat:
        ci = (0.0, 0.0)  # not a "helps" from a 1e-17 rounding error
    if ci is not None and not degenerate:
        lo, hi = ci
        if lo > 0:
            verdict = HELPS
        elif hi < 0:
            verdict = HURTS
        elif margin is not None and -margin < lo and hi < margin:
            verdict = EQUIVALENT
    if not verdict and final:
        verdict = UNDECIDED if adaptive else NO_EFFECT
    return Decision(verdict, n, mean, sd, se, level, ci, mde, correction)


def verdict_phrase(d: Decision, margin: float) -> str:
    """How a report sentence ends: the verdict, and for no decision what the run could have detected."""
    if d.verdict == HELPS or d.verdict == HURTS:
        return d.verdict
    if d.verdict == EQUIVALENT:
        return f"equivalent (no effect larger than ±{100 * margin:g} points)"
    if d.mde is not None:
        could = f"this run could detect a change of ±{100 * d.mde:.1f} points with 80% power"
    elif d.n >= 2 and d.sd < 1e-9:
        could = "every run gave the same difference: no variance to judge by; more runs or a larger test set needed"
    else:
        could = "too few runs to estimate what could be detected"
    return f"{d.verdict} ({could})"


def look_schedule(min_runs: int, max_runs: int, step: int = 1) -> tuple[int, ...]:
    """The run counts at which the interval is looked at: min_runs, min_runs + step, ..., max_runs."""
    if max_runs < min_runs:
        return (max_runs,)
    looks = list(range(min_runs, max_runs + 1, step))
    if looks[-1] != max_runs:
        looks.append(max_runs)
    return tuple(looks)


@lru_cache(maxsize=64)
def pocock_level(looks: tuple[int, ...], alpha: float, correction: float = 0.0, n_sim: int = 40_000,
                 seed: int = 20240601) -> float:
    """The constant nominal two-sided level ``a`` such that, with normal differences and no effect, the
    interval at level ``a`` excludes 0 at one look or more with probability ``alpha``. One look: ``alpha``."""
    from scipy import stats as st

    if len(looks) == 1:
        return alpha
    rng = np.random.default_rng(seed)
    n_max = looks[-1]
    z = rng.standard_normal((n_sim, n_max))
    if correction > 0:  # Nadeau-Bengio model: equicorrelated differences, rho / (1 - rho) = correction
        rho = correction / (1.0 + correction)
        z = math.sqrt(1 - rho) * z + math.sqrt(rho) * rng.standard_normal((n_sim, 1))
    csum, csq = np.cumsum(z, axis=1), np.cumsum(z * z, axis=1)
    min_p = np.ones(n_sim)
    for n in looks:
        if n < 2:
            continue
        mean = csum[:, n - 1] / n
        var = np.maximum(csq[:, n - 1] - n * mean * mean, 0.0) / (n - 1)
        t = np.abs(mean) / np.sqrt(var * (1.0 / n + correction))
        min_p = np.minimum(min_p, 2 * st.t.sf(t, n - 1))
    return float(np.quantile(min_p, alpha))


__all__ = [
    "DECIDED",
    "POWER",
    "METHOD",
    "Decision",
    "paired_interval",
    "minimum_detectable_effect",
    "decide",
    "verdict_phrase",
    "look_schedule",
    "pocock_level",
]
