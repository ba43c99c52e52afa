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


def test_generator_seeded_on_use_is_default_rng():
    import copy
    import pickle

    import numpy as np

    from augment.compile.library_adapter import SeededOnUse

    lazy, eager = SeededOnUse(12345), np.random.default_rng(12345)
    assert lazy.random() == eager.random()
    assert lazy.integers(0, 100, 7).tolist() == eager.integers(0, 100, 7).tolist()
    assert lazy.normal(size=3).tolist() == eager.normal(size=3).tolist()
    assert lazy.bit_generator.state == eager.bit_generator.state
    fresh = copy.deepcopy(SeededOnUse(3))
    assert fresh.random() == np.random.default_rng(3).random()
    assert pickle.loads(pickle.dumps(SeededOnUse(4))).random() == np.random.default_rng(4).random()


def test_every_qualifying_transform_draws_what_an_eager_generator_draws(monkeypatch):
    """The records of every qualifying albumentations transform are those drawn with set_random_seed's generators
    built up front (the transforms that use the numpy generator and those that never touch it)."""
    import json

    import numpy as np

    from augment.compile import library_adapter
    from augment.ops.library_ops import definition, qualification_table
    from augment.compile.library_qualify import SAMPLE_KEYWORDS

    image = np.random.default_rng(7).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    names = [n for n, row in qualification_table()["transforms"].items() if row["qualifies"]]
    assert len(names) > 40

    def records(name):
        op = definition(f"albumentations.{name}")
        params = op.params.model_validate(SAMPLE_KEYWORDS.get(name, {}))
        library_adapter._LOCAL.cache = {}
        return [json.dumps(library_adapter.draw(op, params, np.random.default_rng(seed), image), sort_keys=True)
                for seed in (0, 1)]

    lazy = {name: records(name) for name in names}
    monkeypatch.setattr(library_adapter, "SeededOnUse", np.random.default_rng)
    for name in names:
        assert records(name) == lazy[name], name
