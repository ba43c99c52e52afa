"""Materialise samples/digits/ from scikit-learn's bundled digits data (no download).

20 images per class, 8x8 gray upscaled to 32x32 PNG, chosen with a fixed seed. Run from the repo root:
    .venv/bin/python samples/scripts/make_digits.py
``--per-class N --out DIR`` writes a larger set elsewhere (`make demo` uses 100 per class; the data has about
180 per class).
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

PER_CLASS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "digits")
    args = parser.parse_args()
    digits = load_digits()
    rng = np.random.default_rng(2019)
    out = args.out
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        for n, i in enumerate(sorted(rng.choice(idx, min(args.per_class, len(idx)), replace=False))):
            arr = (digits.images[i] / 16.0 * 255).round().astype(np.uint8)
            img = Image.fromarray(arr, "L").resize((32, 32), Image.Resampling.BICUBIC)
            (out / str(label)).mkdir(parents=True, exist_ok=True)
            img.save(out / str(label) / f"digit_{i:04d}.png", compress_level=9)


if __name__ == "__main__":
    main()
