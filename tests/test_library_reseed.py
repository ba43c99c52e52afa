"""A library transform's Python generator is seeded again in place instead of rebuilt: the state must be exactly
``random.Random(seed)``'s whatever the generator did before (values drawn, a cached ``gauss`` value)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from augment.compile.library_adapter import reseeded


@settings(max_examples=200, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**32 - 1), st.integers(-(2**70), 2**70)), before=st.integers(0, 2**32),
       gauss=st.booleans())
def test_reseeded_is_a_fresh_random(seed, before, gauss):
    r = random.Random(before)
    r.random()
    if gauss:
        r.gauss(0.0, 1.0)  # leaves gauss_next set
    out = reseeded(r, seed)
    assert out is r
    assert out.getstate() == random.Random(seed).getstate()
    assert [out.random(), out.gauss(0, 1), out.randint(0, 10)] == [(f := random.Random(seed)).random(),
                                                                    f.gauss(0, 1), f.randint(0, 10)]


def test_a_subclass_or_odd_seed_gets_a_new_random():
    class Mine(random.Random):
        pass

    mine = Mine(1)
    assert type(reseeded(mine, 5)) is random.Random and reseeded(mine, 5).getstate() == random.Random(5).getstate()
    plain = random.Random(1)
    assert reseeded(plain, "text") is not plain and reseeded(plain, "text").getstate() == random.Random("text").getstate()
