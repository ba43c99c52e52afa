"""CPU tensor batches (``kernels="auto"``/``"per_sample"``, issue 23): each sample runs its whole chain on one thread,
converted once in and once out. Generated chains, layouts, channel counts and dtypes: every sample is byte for byte
its single call, with the same records; errors are those of the single calls (the lowest sample's), or name the op
that made the samples' sizes or pixel types diverge; the result is contiguous, never aliases the input, and does not
depend on the number of threads."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import augment
from augment import ops
from augment.compile import batch as batch_mod
from augment.ops._typed_gen import _sample_params
from augment.ops.catalog import registry
from augment.ops.drawn import DrawnValueError
from augment.ops.image_ops_native import NATIVE_GEOMETRIC

SIZE_CHANGERS = {"crop", "random_resized_crop"} | set(NATIVE_GEOMETRIC)
FINISHING = ("normalize", "to_dtype")
CHAIN_OPS = sorted(o.name for o in registry().ops("image") if o.name not in FINISHING)


def _step(name: str, p: float) -> dict:
    params = _sample_params(registry().get(name)).model_dump(mode="json")
    return {"op": name, "p": 1.0 if name in SIZE_CHANGERS or name in FINISHING else p, "params": params}


def _pipeline(steps: list[dict], seed: int = 5) -> augment.Pipeline:
    return augment.Pipeline(augment.parse_spec({"name": "t", "modality": "image", "backend": "albumentations",
                                                "seed": seed, "steps": steps}))


def _images(n: int, c: int, side: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8, generator=g)
    x[:, :, 3:9, 4:12] = 200  # a flat patch: colour ops and dropouts have something to keep
    return x


def _layout(x: torch.Tensor, layout: str):
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if layout == "strided":  # every other column of a wider batch: neither NCHW- nor NHWC-contiguous
        wide = torch.zeros(x.shape[:3] + (2 * x.shape[3],), dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    if layout == "list":
        return list(x)
    return x


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.sampled_from(CHAIN_OPS), min_size=1, max_size=4),
       p=st.sampled_from([0.5, 1.0]), finish=st.sampled_from([None, *FINISHING]),
       n=st.integers(1, 5), c=st.sampled_from([1, 3, 4]), layout=st.sampled_from(["nchw", "channels_last",
                                                                                  "strided", "list"]),
       as_float=st.booleans(), seed=st.integers(0, 2**31))
def test_generated_chains_equal_their_single_calls(names, p, finish, n, c, layout, as_float, seed):
    steps = [_step(name, p) for name in names] + ([_step(finish, 1.0)] if finish else [])
    pipe = _pipeline(steps)
    x = _images(n, c, 20, seed % 1000)
    if as_float:
        x = x.float() / 255.0
    seeds = [seed + i for i in range(n)]
    singles = []
    for i in range(n):
        try:
            singles.append(pipe.run(x[i], seed=seeds[i]))
        except Exception as exc:  # noqa: BLE001 - the batch must give the same error
            singles.append(exc)
    arg = _layout(x, layout)
    errors = [s for s in singles if isinstance(s, Exception)]
    if errors:  # the lowest sample's error, whatever the threads' timing
        event("single calls fail")
        with pytest.raises(type(errors[0]), match=re.escape(str(errors[0]))):
            pipe.run_batch(arg, seeds)
        return
    outs = [s.output for s in singles]
    if len({(tuple(o.shape), o.dtype) for o in outs}) > 1:
        event("samples diverge")
        with pytest.raises(ValueError, match=r"at steps\[\d+\] .*p=1 for batches"):
            pipe.run_batch(arg, seeds)
        return
    event("samples equal their single calls")
    res = pipe.run_batch(arg, seeds)
    out = torch.stack(res.output) if layout == "list" else res.output
    assert out.is_contiguous() and out.dtype == outs[0].dtype
    for i in range(n):
        assert res.applied[i] == singles[i].applied
        assert torch.equal(out[i], outs[i]), (names, finish, i)
    again = pipe.replay_batch(arg, res)
    assert torch.equal(torch.stack(again) if layout == "list" else again, out)


def test_thread_count_changes_nothing(monkeypatch):
    pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.1, 0.1)),
                            ops.BrightnessContrast(), ops.HSV(value=(1.0, 1.0))], seed=1)
    x = _images(9, 3, 24, 0)
    results = {}
    for workers in (1, 2, 5):
        monkeypatch.setattr(batch_mod, "_workers", lambda n, w=workers: min(n, w))
        res = pipe.run_batch(x, list(range(9)))
        results[workers] = (res.output, res.applied)
    for workers in (2, 5):
        assert torch.equal(results[workers][0], results[1][0]) and results[workers][1] == results[1][1]


def test_input_untouched_and_output_never_aliases_it():
    pipe = augment.Compose([ops.HorizontalFlip(p=0.5)], seed=0)  # about half the samples come back unchanged
    for x in (_images(6, 3, 16, 1), _images(6, 3, 16, 1).contiguous(memory_format=torch.channels_last),
              _images(6, 1, 16, 1)):
        before = x.clone()
        out = pipe.batch(x, seeds=list(range(6)))
        out.fill_(7)
        assert torch.equal(x, before)


def test_normalize_with_p_below_one_is_one_clear_error_on_the_cpu_path():
    # before: the per-sample path stacked normalised floats with raw 0-255 pixels into one float batch, silently
    pipe = _pipeline([_step("horizontal_flip", 1.0), {"op": "normalize", "p": 0.5, "params": {}}])
    with pytest.raises(ValueError, match=r"normalize at steps\[1\] gives some samples of the batch float pixels"):
        pipe.batch(_images(8, 3, 12, 0), seeds=list(range(8)))


def test_size_error_names_the_op_that_changed_the_size():
    # before: the error named the last op of the spec (here the flip), not the one that ran for some samples only
    steps = [{"op": "crop", "p": 0.5, "params": {"height": 8, "width": 8}}, _step("horizontal_flip", 1.0)]
    pipe = _pipeline(steps)
    with pytest.raises(ValueError, match=r"^crop at steps\[0\] changes the size of some samples"):
        pipe.batch(_images(8, 3, 12, 0), seeds=list(range(8)))


@pytest.mark.parametrize("kernels", ["auto", "batched"])
def test_replay_errors_name_the_lowest_bad_record(kernels):
    pipe = augment.Compose([ops.Rotate(degrees=(-10, 10))], seed=0)
    x = _images(5, 3, 12, 0)
    res = pipe.run_batch(x, list(range(5)))
    records = [list(map(dict, a)) for a in res.applied]
    for i, angle in ((3, 500.0), (1, -400.0)):
        records[i] = [dict(records[i][0], params={**records[i][0]["params"], "angle": angle})]
    for _ in range(3):  # the same error every time, whichever thread met which sample first
        with pytest.raises(DrawnValueError, match=r"^records\[1\]: rotate at steps\[0\]"):
            pipe.replay_batch(x, records, kernels=kernels)


def test_one_sample_and_one_channel_batches():
    pipe = augment.Compose([ops.Affine(degrees=(-15, 15)), ops.BrightnessContrast()], seed=0)
    for x in (_images(1, 3, 16, 2), _images(4, 1, 16, 2)):
        res = pipe.run_batch(x, list(range(len(x))))
        assert res.output.shape == x.shape and res.output.is_contiguous()
        for i in range(len(x)):
            assert torch.equal(res.output[i], pipe(x[i], seed=i))
    assert np.array_equal(pipe.batch(_images(2, 1, 16, 3), seeds=[0, 1])[0].numpy(),
                          pipe(_images(2, 1, 16, 3)[0], seed=0).numpy())


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_raises_the_lowest_error_and_lets_an_interrupt_through(workers):
    ran = []

    def fn(i):
        ran.append(i)
        if i in (2, 5):
            raise ValueError(f"sample {i}")

    with pytest.raises(ValueError, match="^sample 2$"):
        batch_mod._each(fn, 8, workers)
    assert sorted(ran) == list(range(8))  # every sample ran: the error raised does not depend on timing

    def interrupted(i):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        batch_mod._each(interrupted, 50, workers)
