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
from types import SimpleNamespace

from augment.compile.pipeline import Pipeline
from augment.io.images import ImageReadError, decode_image, encode_image, output_format
from augment.io.text_model import TextRow
from augment.run.job import image_copy
from augment.run.job_base import ChunkResult
from augment.run.text_job import TextTask, distinct_copies, row_seed
from augment.seeding import derive_seed

# What a run's per-item rules read from its job config: no label filter (it is fit on a whole input file), and
# unchanged copies redrawn then dropped, as `augment run` does by default.
_RUN_RULES = SimpleNamespace(spec={}, keep_unchanged=False)

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
    except Image.DecompressionBombError as exc:  # PIL refuses the header itself (over 2x its own pixel limit)
        raise ItemError(f"image declares too many pixels (possible decompression bomb; this service takes at most "
                        f"{max_pixels}): {exc}") from None
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
        try:  # the run's rule: a copy on which no op fired is drawn again from derived seeds, then dropped
            seed, res = image_copy(pipe, _RUN_RULES, item.name, copy, image, ChunkResult())
        except Exception as exc:  # an op failing on this image, as errors.jsonl would record it
            outputs.append({"copy": copy, "seed": derive_seed(pipe.spec.seed, item.name, copy),
                            "error": f"augmentation failed: {type(exc).__name__}: {exc}"})
            continue
        if res is None:
            outputs.append({"copy": copy, "seed": seed, "dropped": "unchanged: no op fired in any draw"})
            continue
        encoded = encode_image(res.output, fmt, quality)
        outputs.append({
            "copy": copy, "seed": seed, "ops": res.applied, "media_type": MEDIA_TYPES.get(fmt, "application/octet-stream"),
            "sha256": hashlib.sha256(encoded).hexdigest(), "image": base64.b64encode(encoded).decode("ascii"),
        })
    return outputs


def augment_texts(pipe: Pipeline, items: list[TextItem], copies: list[int]) -> list[list[dict]]:
    """Outputs per item and copy, computed as the CLI computes a chunk: one batch per round (back-translation sees
    the texts together), copies equal to their source or to an earlier copy of the row drawn again, then dropped.
    Whether copy k is kept depends on copies 0..k-1, so those are computed too and only the asked ones returned."""
    wanted = sorted(set(copies))
    n = (wanted[-1] + 1) if wanted else 0
    out: list[list[dict]] = [[] for _ in items]
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(item.source, []).append(i)
    for source, members in groups.items():
        rows = tuple(TextRow(index=items[i].row, line=items[i].row + 1, text=items[i].text) for i in members)
        by_row = distinct_copies(pipe, _RUN_RULES, TextTask(source, 0, rows, n, False), ChunkResult())
        for i in members:
            item = items[i]
            got = {k: (attempt, res, err) for k, attempt, res, err in by_row.get(item.row, [])}
            for k in wanted:
                if k not in got:
                    out[i].append({"copy": k, "seed": row_seed(pipe.spec.seed, source, item.row, k),
                                   "dropped": "unchanged or a duplicate of another copy in every draw"})
                    continue
                attempt, res, err = got[k]
                seed = row_seed(pipe.spec.seed, source, item.row, k, attempt)
                if err is not None:
                    out[i].append({"copy": k, "seed": seed, "error": err})
                    continue
                out[i].append({"copy": k, "seed": seed, "ops": res.applied, "text": res.output,
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
            # a deleted word keeps the space after it inside its segment: the other segments alone must rebuild
            # ``after`` exactly (a separate "same" space doubled the gap the deletion left)
            add("".join(a[i1:i2]) if tag == "delete" else "".join(a[i1:i2]).strip(), "deleted")
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
