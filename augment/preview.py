"""A contact sheet of augmented versions of one image, so a person can see what a pipeline does."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from augment.compile.pipeline import Pipeline
from augment.io.images import array_to_pil
from augment.seeding import derive_seed


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
