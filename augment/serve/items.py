"""Augmenting single items exactly as ``augment run`` does, so the service and the CLI give the same bytes.

The seed of an output comes from the item's identity, as in the expander: an image's key is its path relative to
the dataset folder (``derive_seed(spec seed, "3/digit_0013.png", copy)``) and a text row's key is the dataset
file's name and the row's 0-based index (``row_seed``). Images are then encoded with the expander's encoder in the
format its name gives. Nothing here re-implements a draw: it calls the functions the workers call.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import io
import re
from dataclasses import dataclass

from augment.compile.pipeline import Pipeline
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.run.text_job import row_seed
from augment.seeding import derive_seed

MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "GIF": "image/gif",
               "TIFF": "image/tiff", "WEBP": "image/webp"}


class ItemError(ValueError):
    """An item the service cannot augment (not an image, too many pixels); one line for the client."""


@dataclass(frozen=True)
class ImageItem:
    name: str  # the seed key: the path relative to the dataset folder, as the CLI names the source
    data: bytes


@dataclass(frozen=True)
class TextItem:
    text: str
    source: str  # the dataset file's name (the CLI's key for its rows)
    row: int  # the 0-based data row


def check_pixels(data: bytes, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return  # decode_image gives the precise reason
    if width * height > max_pixels:
        raise ItemError(f"image is {width}x{height} = {width * height} pixels; this service takes at most "
                        f"{max_pixels}")


def augment_image(pipe: Pipeline, item: ImageItem, copies: list[int], quality: int, max_pixels: int) -> list[dict]:
    """The outputs of ``item`` for each copy index: the bytes ``augment run`` writes for that source and copy."""
    check_pixels(item.data, max_pixels)
    try:
        image, info = decode_image(item.data)
    except ImageReadError as exc:
        raise ItemError(str(exc)) from None
    fmt = output_format(item.name, info)
    outputs = []
    for copy in copies:
        seed = derive_seed(pipe.spec.seed, item.name, copy)
        try:
            res = pipe.run(image, seed=seed)
        except Exception as exc:  # an op failing on this image, as errors.jsonl would record it
            outputs.append({"copy": copy, "seed": seed, "error": f"augmentation failed: {type(exc).__name__}: {exc}"})
            continue
        encoded = encode_image(res.output, fmt, quality)
        outputs.append({
            "copy": copy, "seed": seed, "ops": res.applied, "media_type": MEDIA_TYPES.get(fmt, "application/octet-stream"),
            "sha256": hashlib.sha256(encoded).hexdigest(), "image": base64.b64encode(encoded).decode("ascii"),
        })
    return outputs


def augment_texts(pipe: Pipeline, items: list[TextItem], copies: list[int]) -> list[list[dict]]:
    """Outputs per item and copy, batched as the CLI batches a chunk (back-translation sees them together)."""
    jobs = [(item, k, row_seed(pipe.spec.seed, item.source, item.row, k)) for item in items for k in copies]
    try:
        results = pipe.run_batch([item.text for item, _, _ in jobs], [seed for _, _, seed in jobs])
    except Exception:  # as the CLI does: one bad text must not sink the batch, so redo them one by one
        results = None
    out: list[list[dict]] = [[] for _ in items]
    index = {id(item): i for i, item in enumerate(items)}
    for j, (item, k, seed) in enumerate(jobs):
        try:
            res = results[j] if results is not None else pipe.run(item.text, seed=seed)
        except Exception as exc:
            out[index[id(item)]].append({"copy": k, "seed": seed,
                                         "error": f"augmentation failed: {type(exc).__name__}: {exc}"})
            continue
        out[index[id(item)]].append({"copy": k, "seed": seed, "ops": res.applied, "text": res.output,
                                     "diff": word_diff(item.text, res.output)})
    return out


_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(before: str, after: str) -> list[list[str]]:
    """``after`` as segments ``[text, kind]`` with kind "same", "inserted" or "deleted" (words of ``before`` that
    are gone, placed where they were): what a reader should see highlighted."""
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    segments: list[list[str]] = []

    def add(text: str, kind: str) -> None:
        if not text:
            return
        if segments and segments[-1][1] == kind:
            segments[-1][0] += text
        else:
            segments.append([text, kind])

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            add("".join(b[j1:j2]), "same")
            continue
        if tag in ("delete", "replace"):
            add("".join(a[i1:i2]).strip(), "deleted")
            if tag == "delete" and "".join(a[i1:i2]).endswith(" "):
                add(" ", "same")
        if tag in ("insert", "replace"):
            add("".join(b[j1:j2]), "inserted")
    return segments


__all__ = [
    "MEDIA_TYPES",
    "ItemError",
    "ImageItem",
    "TextItem",
    "check_pixels",
    "augment_image",
    "augment_texts",
    "word_diff",
]
