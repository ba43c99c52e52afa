"""Pixel agreement of the albumentations and torchvision backends, per image op: the same spec and seed on both,
so the same drawn values, and the mean / max absolute difference of the outputs (0-255 units; normalize in its
float units), over the border-trimmed image. Not a test: the numbers are for README's agreement table.

    .venv/bin/python benchmarks/pixel_agreement.py [--images N] [--ops resize,clahe,...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from augment.compile import Pipeline
from augment.ops.catalog import registry
from augment.spec import parse_spec

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "images" / "cifar10_small"
REQUIRED = {"crop": {"height": 20, "width": 20}, "resize": {"height": 48, "width": 40},
            "longest_max_size": {"max_size": 48}, "smallest_max_size": {"max_size": 24},
            "pad_if_needed": {"min_height": 40, "min_width": 40}, "center_crop": {"height": 20, "width": 20},
            "random_crop": {"height": 20, "width": 20}, "pad": {"padding": [3, 5, 7, 2], "border": "reflect"}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--ops", default="")
    args = ap.parse_args()
    files = sorted(DATA.rglob("*.jpg"))[: args.images]
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    names = args.ops.split(",") if args.ops else registry().names("image")
    print(f"{len(images)} images of {images[0].shape[1]}x{images[0].shape[0]} from {DATA.name}")
    print("| op | mean abs diff | max abs diff | same drawn values |")
    print("|---|---|---|---|")
    for op in names:
        pipes = [Pipeline(parse_spec({"name": "a", "modality": "image", "backend": b,
                                      "steps": [{"op": op, "params": REQUIRED.get(op, {})}]}))
                 for b in ("albumentations", "torchvision")]
        diffs, same = [], True
        for i, img in enumerate(images):
            a, b = (p.run(img, seed=i) for p in pipes)
            same &= a.applied == b.applied
            d = np.abs(a.output.astype(np.float64) - b.output.astype(np.float64))
            diffs.append(d[2:-2, 2:-2] if min(d.shape[:2]) > 8 else d)
        print(f"| {op} | {np.mean([d.mean() for d in diffs]):.3f} | {max(d.max() for d in diffs):.3g} | "
              f"{'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
