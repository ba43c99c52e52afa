"""Fuzzing every image op on both backends: any uint8 image in -> a valid uint8 image out; anything that is not
an image -> ``ImageInputError``, never another exception."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from augment.compile import ImageInputError, Pipeline
from augment.ops.catalog import registry
from augment.ops.image_ops_native import NATIVE_GEOMETRIC
from augment.spec import parse_spec
from op_requirements import required

BACKENDS = ["albumentations", "torchvision"]
IMAGE_OPS = registry().names("image")
FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_PIPES: dict = {}
# Ops whose output size differs from the input's (crops, resizes, pads, quarter turns), and the float output
RESIZING = {"crop"} | (NATIVE_GEOMETRIC - {"grid_distortion", "optical_distortion"})


def fuzz_params(op: str) -> dict:
    # required params that fit the smallest image; normalize with one mean/std for any channel count
    return {"mean": [0.5], "std": [0.25]} if op == "normalize" else required(op)


def out_dtype(op: str):
    return np.float32 if op in ("normalize", "to_dtype") else np.uint8


def pipe(op: str, backend: str) -> Pipeline:
    key = (op, backend)
    if key not in _PIPES:
        params = fuzz_params(op)
        _PIPES[key] = Pipeline(parse_spec({"name": "fuzz", "modality": "image", "backend": backend,
                                           "steps": [{"op": op, "params": params}]}))
    return _PIPES[key]


@st.composite
def uint8_images(draw):
    h = draw(st.integers(2, 40))  # 1-pixel sides: see test_one_pixel_sides (deterministic, with known failures)
    w = draw(st.integers(2, 40))
    c = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if c is None else (h, w, c)
    fill = draw(st.sampled_from(["random", "const", "extremes"]))
    if fill == "const":
        return np.full(shape, draw(st.integers(0, 255)), dtype=np.uint8)
    if fill == "extremes":
        return draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from([0, 255])))
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", IMAGE_OPS)
@FUZZ
@given(img=uint8_images(), seed=st.integers(0, 2**63 - 1))
def test_any_uint8_image_gives_a_valid_image(op, backend, img, seed):
    before = img.copy()
    out = pipe(op, backend)(img, seed=seed)
    assert np.array_equal(img, before), "the op modified its input"
    assert isinstance(out, np.ndarray) and out.dtype == out_dtype(op)
    assert out.ndim == img.ndim
    assert out.shape[0] >= 1 and out.shape[1] >= 1
    if img.ndim == 3:
        assert out.shape[2] in (1, 3, 4)
    if op not in RESIZING:
        assert out.shape[:2] == img.shape[:2]


def not_images():
    bad_dtype = st.sampled_from([np.float32, np.float64, np.int16, np.int32, np.uint16, np.bool_, np.int8,
                                 np.complex64])
    shapes_ok = st.tuples(st.integers(1, 8), st.integers(1, 8), st.sampled_from([1, 3, 4]))
    wrong_dtype = st.builds(lambda d, s: np.zeros(s, dtype=d), bad_dtype, shapes_ok)
    bad_shape = st.one_of(
        st.tuples(st.integers(0, 0), st.integers(0, 8), st.sampled_from([1, 3])),  # 0-size
        st.tuples(st.integers(1, 4), st.integers(1, 4), st.sampled_from([0, 2, 5, 7])),  # bad channel counts
        st.tuples(st.integers(1, 4)),  # 1-D
        st.tuples(*[st.integers(1, 3)] * 4),  # 4-D
        st.tuples(*[st.integers(1, 3)] * 5),  # 5-D
        st.just(()),  # 0-D
    )
    wrong_shape = st.builds(lambda s: np.zeros(s, dtype=np.uint8), bad_shape)
    other = st.sampled_from([None, 3, "image.png", b"\x89PNG", [[1, 2], [3, 4]], {"a": 1}])
    return st.one_of(wrong_dtype, wrong_shape, other)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", IMAGE_OPS)
@settings(max_examples=10, deadline=None)
@given(x=not_images())
def test_anything_else_is_a_clean_image_input_error(op, backend, x):
    with pytest.raises(ImageInputError):
        pipe(op, backend)(x, seed=1)


def test_a_crop_larger_than_the_image_is_a_clean_error_not_a_crash():
    big = Pipeline(parse_spec({"name": "t", "modality": "image",
                               "steps": [{"op": "crop", "params": {"height": 50, "width": 50}}]}))
    try:
        out = big(np.zeros((10, 10, 3), np.uint8), seed=0)
    except (ValueError, ImageInputError) as exc:  # a clear, catchable error
        assert str(exc)
    else:
        assert out.dtype == np.uint8 and out.ndim == 3


BORDER_OPS = [op for op in IMAGE_OPS if "border" in registry().get(op).params.model_fields]
ONE_PIXEL_XFAIL: dict = {}  # every op handles 1-pixel sides on both backends


def _one_pixel_cases():
    for backend in BACKENDS:
        for op in IMAGE_OPS:
            for border in [None] + (["reflect"] if op in BORDER_OPS else []):
                reason = ONE_PIXEL_XFAIL.get((op, backend, border))
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(op, backend, border, marks=marks, id=f"{op}-{backend}-{border or 'default'}")


@pytest.mark.parametrize("op, backend, border", list(_one_pixel_cases()))
def test_one_pixel_sides(op, backend, border):
    params = fuzz_params(op)
    if border:
        params["border"] = border
    p = Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend,
                             "steps": [{"op": op, "params": params}]}))
    for shape in [(1, 1), (1, 7), (7, 1), (1, 1, 3), (1, 7, 4), (7, 1, 1)]:
        out = p(np.full(shape, 100, np.uint8), seed=3)
        assert out.dtype == out_dtype(op) and out.ndim == len(shape), (shape, out.shape)
        if op not in RESIZING:
            assert out.shape[:2] == shape[:2], (shape, out.shape)
        elif op == "crop":
            assert out.shape[:2] == (1, 1), (shape, out.shape)


@pytest.mark.parametrize("shape", [(1, 0), (0, 1), (0, 0)])
def test_empty_2d_array_is_an_image_input_error(shape):
    with pytest.raises(ImageInputError):
        pipe("horizontal_flip", "albumentations")(np.zeros(shape, np.uint8), seed=0)
