"""decode_image's shortcuts (EXIF transpose in place) give the pixels of the plain Pillow path, for every
orientation, mode and format a dataset may hold."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from augment.io.images import decode_image, pil_to_array, to_srgb


def _reference(data: bytes) -> np.ndarray:
    """The path decode_image took before the shortcuts: a transposed copy, then sRGB, then the array."""
    img = Image.open(io.BytesIO(data))
    img.seek(0)
    img.load()
    return pil_to_array(to_srgb(ImageOps.exif_transpose(img)))


def _encoded(mode: str, fmt: str, orientation: int, icc: bool, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    pixels = rng.integers(0, 256, size=(7, 12, bands), dtype=np.uint8)
    img = Image.fromarray(pixels[:, :, 0] if bands == 1 else pixels, {1: "L", 3: "RGB", 4: "RGBA"}[bands])
    if mode == "P":
        img = img.convert("RGB").quantize(16)
    elif mode == "CMYK":
        img = Image.fromarray(pixels, "CMYK")
    exif = Image.Exif()
    exif[0x0112] = orientation
    kwargs = {"exif": exif.tobytes()}
    if icc and mode in ("RGB", "RGBA", "CMYK"):
        # a non-sRGB profile (LAB-based built-in), so to_srgb really converts
        kwargs["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes() if mode == "CMYK" \
            else ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    if fmt == "GIF":
        img.save(buf, fmt, save_all=True, append_images=[img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
        return buf.getvalue()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


CASES = [("RGB", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("P", "PNG"),
         ("RGB", "WEBP"), ("RGBA", "TIFF"), ("P", "GIF")]


@pytest.mark.parametrize("mode,fmt", CASES)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_decode_gives_the_pixels_of_the_plain_pillow_path(mode, fmt, orientation):
    for icc in (False, True):
        data = _encoded(mode, fmt, orientation, icc, seed=orientation)
        arr, _info = decode_image(data)
        ref = _reference(data)
        assert arr.shape == ref.shape and np.array_equal(arr, ref), (mode, fmt, orientation, icc)


def test_decode_applies_the_orientation():
    data = _encoded("RGB", "PNG", 6, False, seed=0)  # 6: rotate 90 degrees clockwise to display
    arr, _ = decode_image(data)
    assert arr.shape[:2] == (12, 7)
