"""A contact sheet of augmented versions of one image, so a person can see what a pipeline does."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from augment.compile.pipeline import Pipeline
from augment.io.images import ImageReadError, array_to_pil, read_image
from augment.run.job_base import augmentation_failure
from augment.seeding import derive_seed

__all__ = ["PreviewError", "preview_file", "preview_grid"]


class PreviewError(ValueError):
    """An image the run would skip (unreadable, or one the pipeline fails on); the message is one line."""


def preview_file(pipe: Pipeline, path, count: int = 11, columns: int = 4, annotations=None) -> Image.Image:
    """The grid for an image file, read and augmented as ``augment run`` does: what the run would skip (with
    the reason it would give in errors.jsonl) raises ``PreviewError`` instead of a library traceback. With
    ``annotations`` (the image's VOC/YOLO/mask/COCO file) each tile shows them moved with it."""
    try:
        image, _ = read_image(path)
    except ImageReadError as exc:
        raise PreviewError(f"{path}: {exc}") from None
    targets = None
    if annotations is not None:
        from augment.io.annotations import AnnotationError
        from augment.preview_annotations import read_preview_targets

        try:
            targets = read_preview_targets(path, annotations, image.shape[:2])
        except (AnnotationError, ValueError, OSError) as exc:
            raise PreviewError(f"{annotations}: {str(exc).splitlines()[0]}") from None
    try:
        return preview_grid(pipe, image, count, columns, targets=targets)
    except Exception as exc:  # the run's rule: a pipeline failing on one image skips that image
        raise PreviewError(f"{path}: {augmentation_failure(exc)} (a run skips this image)") from None


def preview_grid(pipe: Pipeline, image: np.ndarray, count: int = 11, columns: int = 4, cell: int = 160,
                 targets=None) -> Image.Image:
    """Original first, then ``count`` versions seeded as copies 0..count-1 of a file named "preview".

    With ``targets`` (``augment.compile.targets.Targets``) each tile shows its annotations moved with it."""
    if targets is not None:
        from augment.preview_annotations import annotated_tiles

        tiles = annotated_tiles(pipe, image, targets, count)
    else:
        tiles = [("original", image)]
    for k in range(count if targets is None else 0):
        tiles.append((f"copy {k}", pipe(image, seed=derive_seed(pipe.spec.seed, "preview", k))))
    rows = -(-len(tiles) // columns)
    label_h = 14
    sheet = Image.new("RGB", (columns * cell, rows * (cell + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, arr) in enumerate(tiles):
        tile = array_to_pil(arr).convert("RGB")
        tile.thumbnail((cell - 4, cell - 4))
        x, y = (i % columns) * cell, (i // columns) * (cell + label_h)
        sheet.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
        draw.text((x + 4, y + cell), label, fill="black")
    return sheet
