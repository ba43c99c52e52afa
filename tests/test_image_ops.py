"""Every image op on both backends: same spec, same drawn values, the expected effect, inputs untouched."""

import numpy as np
import pytest

from augment.compile import Pipeline
from augment.ops.catalog import registry
from augment.ops.image_ops_native import NATIVE_IMAGE_OPS
from augment.spec import parse_spec

BACKENDS = ["albumentations", "torchvision"]
# The wider op set (resizes, normalize, ...) has its own file with its shapes and dtypes: test_image_ops_native.py
IMAGE_OPS = [name for name in registry().names("image") if name not in {op.name for op in NATIVE_IMAGE_OPS}]


def smooth_image(h=48, w=64, c=3):
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * 255 / (w - 1)), (y * 255 / (h - 1)), ((x + y) * 255 / (h + w - 2))]
    img = np.stack(planes[:c] if c <= 3 else planes + [np.full((h, w), 200.0)], axis=2)
    return np.ascontiguousarray(img.round().astype(np.uint8))


def pipe(op, backend, params=None, p=1.0):
    return Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend,
                                "steps": [{"op": op, "p": p, "params": params or {}}]}))


def default_params(op):
    return {"height": 20, "width": 30} if op == "crop" else {}


def test_there_are_at_least_the_ops_the_product_promises():
    promised = {"horizontal_flip", "vertical_flip", "rotate", "zoom", "random_resized_crop", "crop", "affine",
                "perspective", "gaussian_noise", "salt_pepper", "brightness_contrast", "hsv", "gamma",
                "gaussian_blur", "motion_blur", "sharpen", "jpeg", "cutout", "grayscale", "elastic"}
    assert promised <= set(IMAGE_OPS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", IMAGE_OPS)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_op_runs_keeps_dtype_and_never_mutates(op, backend, channels):
    img = smooth_image(c=channels)
    before = img.copy()
    result = pipe(op, backend, default_params(op)).run(img, seed=5)
    assert np.array_equal(img, before), "input was modified"
    out = result.output
    assert out.dtype == np.uint8 and out.ndim == 3
    expected_c = 3 if (op == "grayscale" and channels == 3) else channels
    if op == "grayscale" and channels == 4:
        expected_c = 4
    assert out.shape[2] == expected_c
    if op == "crop":
        assert out.shape[:2] == (20, 30)
    else:
        assert out.shape[:2] == img.shape[:2]
    if channels == 4 and op not in {"rotate", "zoom", "affine", "perspective", "elastic", "random_resized_crop",
                                    "crop", "horizontal_flip", "vertical_flip", "cutout",
                                    "trivial_augment", "rand_augment", "augmix"}:  # presets may move geometry
        assert np.array_equal(out[:, :, 3], img[:, :, 3]), "pixel ops must leave alpha alone"
    assert [a["op"] for a in result.applied] == [op]


@pytest.mark.parametrize("backend", BACKENDS)
def test_flips_and_crops_are_exact(backend):
    img = smooth_image()
    assert np.array_equal(pipe("horizontal_flip", backend)(img, seed=0), img[:, ::-1])
    assert np.array_equal(pipe("vertical_flip", backend)(img, seed=0), img[::-1])
    res = pipe("crop", backend, {"height": 10, "width": 12}).run(img, seed=3)
    d = res.applied[0]["params"]
    assert np.array_equal(res.output, img[d["top"]: d["top"] + 10, d["left"]: d["left"] + 12])
    centre = pipe("crop", backend, {"height": 10, "width": 12, "position": "center"})(img, seed=3)
    assert np.array_equal(centre, img[19:29, 26:38])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op, params", [
    ("rotate", {"degrees": 0}), ("zoom", {"scale": 1}), ("affine", {"translate": 0}),
    ("brightness_contrast", {"brightness": 1, "contrast": 1}), ("gamma", {"gamma": 1}),
    ("sharpen", {"factor": 1}), ("gaussian_noise", {"sigma": 0}), ("salt_pepper", {"amount": 0}),
    ("hsv", {"hue": 0, "saturation": 1, "value": 1}), ("perspective", {"distortion": 0}),
])
def test_neutral_parameters_leave_the_image_alone(backend, op, params):
    img = smooth_image()
    out = pipe(op, backend, params)(img, seed=1)
    assert np.abs(out.astype(int) - img).max() <= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotate_is_counter_clockwise(backend):
    img = np.zeros((41, 41, 1), np.uint8)
    img[5:10, 18:23] = 255  # a dot near the top centre
    out = pipe("rotate", backend, {"degrees": 90})(img, seed=0)
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    assert xs.mean() < 15 and 15 < ys.mean() < 25  # moved to the left side


@pytest.mark.parametrize("backend", BACKENDS)
def test_effects_have_the_drawn_strength(backend):
    img = np.full((64, 64, 3), 128, np.uint8)
    noisy = pipe("gaussian_noise", backend, {"sigma": 10})(img, seed=0).astype(float)
    assert 8.5 < noisy.std() < 11.5
    sp = pipe("salt_pepper", backend, {"amount": 0.2})(img, seed=0)
    assert 0.15 < np.mean(sp[:, :, 0] != 128) < 0.25
    cut = pipe("cutout", backend, {"holes": 2, "size": 0.25, "fill": 7})
    res = cut.run(img, seed=2)
    for top, left, h, w in res.applied[0]["params"]["boxes"]:
        assert (res.output[top: top + h, left: left + w] == 7).all()
    gray = pipe("grayscale", backend)(smooth_image(), seed=0)
    assert np.array_equal(gray[:, :, 0], gray[:, :, 1]) and np.array_equal(gray[:, :, 1], gray[:, :, 2])
    dark = pipe("gamma", backend, {"gamma": 2.0})(img, seed=0)
    assert dark.mean() < 70


@pytest.mark.parametrize("op", IMAGE_OPS)
def test_backends_agree_on_the_same_drawn_values(op):
    """The spec means one thing: both backends apply the same drawn values to nearly the same pixels."""
    img = smooth_image()
    a = pipe(op, "albumentations", default_params(op)).run(img, seed=11)
    b = pipe(op, "torchvision", default_params(op)).run(img, seed=11)
    assert a.applied == b.applied
    diff = np.abs(a.output.astype(int) - b.output.astype(int))
    # Interpolation and rounding differ slightly between OpenCV and torch kernels, most at borders.
    inner = diff[4:-4, 4:-4] if a.output.shape[0] > 8 else diff
    assert inner.mean() < 4.0, f"{op}: mean difference {inner.mean():.2f}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_images_do_not_break_any_op(backend):
    img = np.full((2, 3, 3), 100, np.uint8)
    for op in IMAGE_OPS:
        if op == "crop":
            continue
        out = pipe(op, backend)(img, seed=0)
        assert out.shape[:2] == (2, 3) and out.dtype == np.uint8
