"""augment.compile.colour_kernels gives albumentations' own bytes: every kernel against albumentations' function on
generated images (gray and RGB, odd sizes, 1-pixel sides, flat and extreme images) and factors (0, 1, the edges of
their ranges and drawn values), and the backend steps that use them against the albumentations calls they replaced."""

import numpy as np
import pytest
from albumentations.augmentations.pixel import functional as fpixel

from augment.compile import backend_albumentations as backend
from augment.compile import colour_kernels as ck


def _images(rng, count=60):
    for i in range(count):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        channels = (1, 3)[i % 2]
        kind = i % 5
        if kind == 0:
            img = np.full((h, w, channels), int(rng.integers(0, 256)), dtype=np.uint8)
        elif kind == 1:
            img = rng.choice(np.array([0, 255], dtype=np.uint8), size=(h, w, channels))
        else:
            img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        yield img


def _factors(rng, lo, hi, fixed):
    return [*fixed, *(float(v) for v in rng.uniform(lo, hi, 6))]


def _same(ours: np.ndarray, theirs: np.ndarray, img: np.ndarray) -> None:
    theirs = theirs.reshape(img.shape) if theirs.ndim == 2 else theirs
    assert ours.shape == theirs.shape == img.shape
    assert ours.dtype == theirs.dtype == np.uint8
    assert np.array_equal(ours, theirs)


@pytest.mark.parametrize(("name", "lo", "hi", "fixed"), [
    ("brightness", 0.0, 3.0, [0.0, 1.0, 0.5, 2.0, 1e-7, 255.0]),
    ("contrast", 0.0, 3.0, [0.0, 1.0, 0.5, 2.0, 1e-7]),
    ("saturation", 0.0, 3.0, [0.0, 1.0, 0.5, 2.0]),
    ("hue", -0.5, 0.5, [0.0, -0.5, 0.5, 1e-9, -0.25]),
])
def test_kernel_is_albumentations(name, lo, hi, fixed):
    rng = np.random.default_rng(len(name))
    theirs = {
        "brightness": lambda img, f: fpixel.adjust_brightness_torchvision(img, np.array([f])),
        "contrast": fpixel.adjust_contrast_torchvision,
        "saturation": fpixel.adjust_saturation_torchvision,
        "hue": fpixel.adjust_hue_torchvision,
    }[name]
    for img in _images(rng):
        for factor in _factors(rng, lo, hi, fixed):
            before = img.copy()
            _same(getattr(ck, name)(img, factor), theirs(img.copy(), factor), img)
            assert np.array_equal(img, before)  # never modified in place


def test_integer_factors_from_a_record_match():
    # a replayed record may carry 2 instead of 2.0: albumentations converts to float, so must we
    img = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    _same(ck.brightness(img, 2), fpixel.adjust_brightness_torchvision(img, np.array([2])), img)
    _same(ck.contrast(img, 2), fpixel.adjust_contrast_torchvision(img, 2), img)
    _same(ck.saturation(img, 2), fpixel.adjust_saturation_torchvision(img, 2), img)


def test_covers_only_uint8_gray_and_rgb():
    assert ck.covers(np.zeros((2, 2, 3), np.uint8)) and ck.covers(np.zeros((2, 2, 1), np.uint8))
    assert not ck.covers(np.zeros((2, 2, 4), np.uint8))
    assert not ck.covers(np.zeros((2, 2, 3), np.float32))
    assert not ck.covers(np.zeros((2, 2), np.uint8))
    assert not ck.covers(np.zeros((0, 2, 3), np.uint8))


def test_large_images():
    # large images take the other lookup (stringzilla) and the contrast mean is OpenCV's exact integer sum over the
    # count, as numpy's float64 sum of integers is: check both where numpy sums pairwise over many blocks
    rng = np.random.default_rng(11)
    for shape in [(300, 401, 3), (513, 257, 1), (700, 400, 1), (1024, 768, 3)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        for factor in (0.0, 0.37, 1.0, 1.9):
            _same(ck.contrast(img, factor), fpixel.adjust_contrast_torchvision(img, factor), img)
            _same(ck.brightness(img, factor), fpixel.adjust_brightness_torchvision(img, np.array([factor])), img)
        _same(ck.hue(img, 0.2), fpixel.adjust_hue_torchvision(img, 0.2), img)
        _same(ck.saturation(img, 0.6), fpixel.adjust_saturation_torchvision(img, 0.6), img)


def test_backend_steps_match_the_albumentations_calls_they_replaced():
    rng = np.random.default_rng(7)
    for img in _images(rng, 30):
        for _ in range(4):
            bc = {"brightness": float(rng.choice([0.0, 1.0, rng.uniform(0, 2)])),
                  "contrast": float(rng.choice([0.0, 1.0, rng.uniform(0, 2)]))}
            hsv = {"hue": float(rng.choice([0.0, rng.uniform(-0.5, 0.5)])),
                   "saturation": float(rng.choice([0.0, 1.0, rng.uniform(0, 2)])),
                   "value": float(rng.choice([0.0, 1.0, rng.uniform(0, 2)]))}
            old_bc = fpixel.adjust_contrast_torchvision(
                fpixel.adjust_brightness_torchvision(img, np.array([bc["brightness"]])), bc["contrast"])
            _same(backend.apply("brightness_contrast", img, bc, None), old_bc, img)
            old_hsv = fpixel.adjust_saturation_torchvision(fpixel.adjust_hue_torchvision(img, hsv["hue"]),
                                                           hsv["saturation"])
            old_hsv = fpixel.adjust_brightness_torchvision(old_hsv, np.array([hsv["value"]]))
            _same(backend.apply("hsv", img, hsv, None), old_hsv, img)


@pytest.mark.parametrize("path", ["stringzilla out=", "copy then in place", "cv2.LUT"])
def test_every_lookup_path_is_the_table_lookup(path, monkeypatch):
    """``_lut`` is ``table[img]`` byte for byte on each of its paths (stringzilla writing into the output, the copy
    and in-place pass of a stringzilla without ``out=``, OpenCV), for gray and RGB, contiguous and strided inputs,
    with and without an output buffer, small and above the in-place path's size threshold."""
    monkeypatch.setattr(ck, "_SZ_OUT", path == "stringzilla out=" and ck._SZ_OUT)
    if path == "cv2.LUT":
        monkeypatch.setattr(ck, "_LARGE", 1 << 62)
    elif path == "copy then in place":
        monkeypatch.setattr(ck, "_LARGE", 0)
    rng = np.random.default_rng(7)
    for i in range(40):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        img = rng.integers(0, 256, (h, w, (1, 3)[i % 2]), dtype=np.uint8)
        if i % 4 == 3:
            img = img[::-1, ::2]  # strided: the lookup must not read it as contiguous bytes
        table = rng.integers(0, 256, 256, dtype=np.uint8)
        out = np.empty(img.shape, np.uint8) if i % 3 == 0 else None
        got = ck._lut(img, table, out)
        assert got.shape == img.shape and got.dtype == np.uint8
        assert np.array_equal(got, table[img])
        if out is not None:
            assert np.shares_memory(got, out) or not img.flags.c_contiguous  # written where the caller asked
    big = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    table = rng.integers(0, 256, 256, dtype=np.uint8)
    assert np.array_equal(ck._lut(big, table), table[big])
