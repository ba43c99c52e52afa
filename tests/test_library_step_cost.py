"""A torchvision transform run by name draws exactly what the library draws under ``torch.manual_seed(seed)`` for
the step's seed, and touches no generator but the CPU one it puts back (the cheaper seeding path of
``augment.compile.library_adapter`` must not change a drawn value or an output byte)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

import augment
from augment.ops.library_ops import decode
from augment.seeding import step_rng

# transforms whose forward is make_params then transform (no probability of their own drawn before make_params)
CASES = {
    "RandomRotation": {"degrees": 20},
    "ColorJitter": {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    "RandomResizedCrop": {"size": [24, 20]},
    "RandomAffine": {"degrees": 10, "translate": [0.1, 0.1], "scale": [0.9, 1.1]},
}


def _pipe(name: str, params: dict) -> augment.Pipeline:
    return augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": name, "params": params}]}))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", [(40, 56, 3), (33, 47, 1)])
def test_values_and_pixels_are_the_librarys_own_call_under_manual_seed(name, shape):
    image = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    pipe = _pipe(f"torchvision.{name}", CASES[name])
    direct = getattr(v2, name)(**CASES[name])
    for seed in (0, 7, 2**40 + 3):
        res = pipe.run(image, seed=seed)
        library_seed = int(step_rng(seed, (0,)).integers(0, 2**32))  # what the step hands the library
        torch.manual_seed(library_seed)
        want = direct(tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))).permute(1, 2, 0).numpy()
        assert res.output.flags["C_CONTIGUOUS"] and res.output.dtype == np.uint8
        assert np.array_equal(res.output, want)
        torch.manual_seed(library_seed)
        values = direct.make_params([tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))])
        recorded = decode(res.applied[0]["params"])
        assert recorded.keys() == values.keys()
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(recorded[key], value), key
            else:
                assert recorded[key] == value, key


def test_a_torchvision_step_seeds_no_accelerator_generator():
    """torch.manual_seed seeds every device: with CUDA up it reset the user's GPU generators (never restored), and
    before CUDA starts it queued a seed CUDA would take at its start. A step touches the CPU generator alone."""
    pipe = _pipe("torchvision.RandomRotation", {"degrees": 20})
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    torch.manual_seed(11)
    cpu_before = torch.get_rng_state()
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(123)
        before = [s.clone() for s in torch.cuda.get_rng_state_all()]
        pipe.run(image, seed=3)
        assert all(torch.equal(a, b) for a, b in zip(before, torch.cuda.get_rng_state_all()))
    else:
        tracker = torch.cuda._lazy_seed_tracker  # the seed CUDA would be given when it initialises
        before = list(tracker.get_calls())
        pipe.run(image, seed=3)
        assert list(tracker.get_calls()) == before
    assert torch.equal(cpu_before, torch.get_rng_state())



def test_a_call_for_the_image_alone_skips_the_record_and_its_stand_in_is_never_applied_again(monkeypatch):
    """``pipe(image)`` does not encode a library step's values (nobody reads them): the same pixels as ``run``, no
    call to ``encode``, and the stand-in it leaves in place of the record is refused if applied again."""
    from augment.compile import library_adapter

    image = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    pipe = _pipe("albumentations.Affine", {"rotate": [-15, 15], "scale": [0.9, 1.1]})
    expected = [pipe.run(image, seed=s).output for s in range(4)]
    encoded = []
    real_encode = library_adapter.encode
    monkeypatch.setattr(library_adapter, "encode", lambda v: encoded.append(v) or real_encode(v))
    assert all(np.array_equal(pipe(image, seed=s), expected[s]) for s in range(4))
    assert encoded == []
    op, params = pipe.leaves()[0].op, pipe.leaves()[0].params
    stand_in = library_adapter.draw(op, params, step_rng(1, (0,)), image, record=False)
    library_adapter.apply(op, params, image, stand_in)  # the call that drew it applies it
    with pytest.raises(ValueError, match="without a record"):
        library_adapter.apply(op, params, image, stand_in)
    assert pipe.run(image, seed=1).applied[0]["params"] != stand_in  # run still records the values
