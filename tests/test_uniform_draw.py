"""``augment.ops.params.uniform`` draws exactly what ``Generator.uniform`` draws (value and stream position), with its
Python arithmetic where that rounds as numpy's C does and numpy's own call where it does not."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.ops import params

finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(a=finite, b=finite, seed=st.integers(0, 2**64 - 1))
def test_uniform_is_generators_uniform(a, b, seed):
    lo, hi = min(a, b), max(a, b)
    ours, ref = np.random.default_rng(seed), np.random.default_rng(seed)
    try:
        expected = float(ref.uniform(lo, hi)) if lo != hi else float(lo)
    except OverflowError:  # hi - lo beyond a double: numpy's error, unchanged
        with pytest.raises(OverflowError):
            params.uniform(ours, (lo, hi))
        return
    assert params.uniform(ours, (lo, hi)) == expected
    assert ours.bit_generator.state == ref.bit_generator.state  # the same number of values consumed
    assert ours.random() == ref.random()


def test_many_draws_in_a_row_follow_the_stream():
    ours, ref = np.random.default_rng(5), np.random.default_rng(5)
    bounds = [(-15.0, 15.0), (0.9, 1.1), (-0.1, 0.1), (0, 3), (1.0, 1.0), (-1e300, 1e300), (2**60, 2**62)]
    for _ in range(200):
        for lo, hi in bounds:
            expected = float(lo) if lo == hi else float(ref.uniform(lo, hi))
            assert params.uniform(ours, (lo, hi)) == expected


def test_the_probe_agrees_here_and_its_answer_is_used(monkeypatch):
    assert params._python_uniform_matches_numpy() is True  # numpy's C rounds twice on this build

    calls = []

    class Counting(np.random.Generator):
        def uniform(self, *args, **kwargs):
            calls.append(args)
            return super().uniform(*args, **kwargs)

    monkeypatch.setattr(params, "_SAME_ARITHMETIC", False)  # a build whose numpy fuses the multiply-add
    rng = np.random.default_rng(3)
    value = params.uniform(rng, (0.5, 2.0))
    assert value == float(np.random.default_rng(3).uniform(0.5, 2.0))
    other = Counting(np.random.PCG64(3))  # not exactly a Generator: always numpy's own call
    monkeypatch.setattr(params, "_SAME_ARITHMETIC", True)
    assert params.uniform(other, (0.5, 2.0)) == value and calls == [(0.5, 2.0)]


def test_probe_detects_fused_multiply_add(monkeypatch):
    """Were numpy's uniform one rounding of lo + span * u (a fused multiply-add), the probe would say no."""
    from fractions import Fraction

    class Fused(np.random.Generator):
        def uniform(self, low, high):
            return float(Fraction(low) + Fraction(float(high) - float(low)) * Fraction(self.random()))

    monkeypatch.setattr(params, "_SAME_ARITHMETIC", None)
    assert params._python_uniform_matches_numpy(generator=Fused) is False
    assert params._SAME_ARITHMETIC is False
