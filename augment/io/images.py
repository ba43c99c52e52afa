"""Decoding and encoding image files, defensively.

Colour modes (documented in the README):
- RGB, RGBA and L (gray) are kept as they are.
- Palette (P) images become RGBA when they carry transparency, else RGB; LA becomes RGBA; CMYK and YCbCr become
  RGB; 1-bit becomes L; 16- and 32-bit gray (I;16, I, F) are scaled to 8-bit L (the ops work on 8-bit images).
- The EXIF orientation is applied (as viewers do) and not written back, so outputs look like their sources.
- Animated images (GIF, APNG, WebP): the first frame is used.
- Colour profiles: an RGB, RGBA or CMYK image with an embedded ICC profile other than sRGB (Adobe RGB, Display
  P3, ProPhoto, a printer's CMYK) has its pixels converted to sRGB with LittleCMS (``PIL.ImageCms``, perceptual
  intent), so it keeps its colours; outputs carry no profile and are sRGB. Dropping the profile without
  converting shifted every colour of such an image. Gray images and unreadable profiles are kept as they are.
Outputs are written in the format of their source; a format that cannot hold the mode (JPEG with alpha) gets the
alpha dropped. Image size is checked from the header before any pixel is decoded (decompression bombs).
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from augment.compile.pixels import array_to_pil, pil_to_array  # noqa: F401 (re-exported)
from augment.io.paths import OutsideRootError, open_within

__all__ = [
    "codec_versions",
    "MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "ImageInfo",
    "pil_to_array",
    "array_to_pil",
    "read_image",
    "decode_image",
    "output_format",
    "encode_image",
]

MAX_PIXELS = 100_000_000  # about 10000 x 10000; larger images are refused before decoding
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_FORMAT_BY_EXT = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
}


class ImageReadError(ValueError):
    """A file that is not a usable image; the message is one line, fit for errors.jsonl."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # the format the file really holds (not what its name says)
    source_mode: str  # the mode as stored, before conversion
    frames: int


def read_image(path: str | Path, root: str | Path | None = None) -> tuple[np.ndarray, ImageInfo]:
    """Decode a file to HxWxC uint8; raises ``ImageReadError`` with a one-line reason for anything unusable.
    With ``root`` (the dataset), a file whose real path leaves it is refused, never read; without, the file is one
    the local user named (``augment preview IMAGE``)."""
    try:
        # ``path`` names the file from the current folder (root/rel, as callers join it), not from ``root``
        where = os.path.abspath(path)
        with open_within(root if root is not None else os.path.dirname(os.path.realpath(path)), where) as fh:
            data = fh.read()
    except OutsideRootError as exc:
        raise ImageReadError(f"{exc}; not read") from None
    except PermissionError:
        raise ImageReadError("permission denied") from None
    except IsADirectoryError:
        raise ImageReadError("is a directory") from None
    except OSError as exc:
        raise ImageReadError(f"cannot read file: {exc.strerror or exc}") from None
    return decode_image(data)


def decode_image(data: bytes) -> tuple[np.ndarray, ImageInfo]:
    if not data:
        raise ImageReadError("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width < 1 or height < 1:
                raise ImageReadError(f"image declares no pixels ({width}x{height})")
            if width * height > MAX_PIXELS:
                raise ImageReadError(
                    f"image declares {width}x{height} pixels, over the limit of {MAX_PIXELS} "
                    "(possible decompression bomb); not decoded"
                )
            fmt = img.format or "unknown"
            source_mode = img.mode
            frames = getattr(img, "n_frames", 1)
            img.seek(0)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # in place: otherwise a copy of every unrotated image
            img = to_srgb(img)
            arr = pil_to_array(img)
        except ImageReadError:
            raise
        except UnidentifiedImageError:
            raise ImageReadError("not a recognised image format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageReadError(f"decompression bomb refused: {exc}".splitlines()[0]) from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ImageReadError(f"corrupt or truncated image: {reason}") from None
    return arr, ImageInfo(fmt, source_mode, frames)


_SRGB = None


def _srgb_profile():
    global _SRGB
    if _SRGB is None:
        _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB


# Building a colour transform (parsing the profile, preparing LittleCMS's tables) costs about 3 ms; applying it to
# a 100x100 image about 0.2 ms. Datasets repeat one profile (a phone's Display P3) across thousands of files, so
# the transforms are kept per profile and mode. Per thread, because an LCMS transform must not be shared between
# threads, and bounded, because profiles come from the data.
_TRANSFORMS = threading.local()
_TRANSFORM_CACHE_SIZE = 16
_NO_TRANSFORM = object()  # cached "leave these pixels alone" (already sRGB, damaged or mismatched profile)


def _transform_for(icc: bytes, mode: str):
    cache = getattr(_TRANSFORMS, "cache", None)
    if cache is None:
        cache = _TRANSFORMS.cache = OrderedDict()
    key = (icc, mode)
    found = cache.get(key)
    if found is not None:
        cache.move_to_end(key)
        return found
    found = _build_transform(icc, mode)
    cache[key] = found
    if len(cache) > _TRANSFORM_CACHE_SIZE:
        cache.popitem(last=False)
    return found


def _build_transform(icc: bytes, mode: str):
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = source.profile.xcolor_space.strip()
        description = (source.profile.profile_description or "").lower()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return _NO_TRANSFORM  # a damaged profile: the pixels are all we can trust
    if space != ("CMYK" if mode == "CMYK" else "RGB") or (space == "RGB" and "srgb" in description):
        return _NO_TRANSFORM  # already sRGB (most cameras and phones), or a profile that does not describe these pixels
    try:
        return ImageCms.ImageCmsTransform(source, _srgb_profile(), mode, "RGBA" if mode == "RGBA" else "RGB",
                                          ImageCms.Intent.PERCEPTUAL)
    except (OSError, ValueError, ImageCms.PyCMSError):
        return _NO_TRANSFORM


def to_srgb(img: Image.Image) -> Image.Image:
    """``img`` with its pixels converted from its embedded ICC profile to sRGB (see the module notes)."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    transform = _transform_for(bytes(icc), img.mode)
    if transform is _NO_TRANSFORM:
        return img
    try:
        out = transform.apply(img)
    except (OSError, ValueError, ImageCms.PyCMSError):
        return img
    return out if out is not None else img


def output_format(path: str | Path, info: ImageInfo | None = None) -> str:
    """The Pillow format to write: the one the file's extension names, else the one it really holds."""
    fmt = _FORMAT_BY_EXT.get(Path(path).suffix.lower())
    if fmt is None and info is not None:
        fmt = info.format
    return fmt or "PNG"


def codec_versions() -> dict:
    """The encoder of a run's image outputs and the codec libraries it bundles, for run.json.

    Outputs are encoded by Pillow (JPEG: quality as given, 4:2:0, baseline, not optimised, no ICC: the pixels
    are sRGB). OpenCV's ``imencode`` gave the same bytes on every sign_digits image tried and is ~1.5x faster,
    but it bundles another libjpeg-turbo release (3.1.2 against Pillow's 3.2.0 here) and the two wheels update
    independently: equal bytes are a fact of this install, not a guarantee. Recording Pillow's codecs says
    which library made the bytes, so a difference between two runs' outputs can be traced to an upgrade.
    """
    from PIL import features

    versions = {"encoder": "pillow", "pillow": Image.__version__}
    for lib in ("libjpeg_turbo", "zlib", "webp"):
        try:
            found = features.version(lib)
        except ValueError:  # a feature this Pillow does not know
            found = None
        if found:
            versions[lib] = found
    return versions


def encode_image(arr: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """Encode deterministically (no timestamps, fixed settings): same array, same bytes."""
    img = array_to_pil(arr)
    if fmt == "JPEG" and img.mode in ("RGBA", "LA"):
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if fmt == "BMP" and img.mode == "LA":
        img = img.convert("L")
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=quality, method=4)
    elif fmt == "PNG":
        img.save(buf, "PNG", compress_level=6)
    else:
        img.save(buf, fmt)
    return buf.getvalue()
