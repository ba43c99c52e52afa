"""Per-image cost of a library transform run by name through augment against calling the library directly (not a
test).

    .venv/bin/python benchmarks/bench_library_ops.py [--size 256] [--images 64] [--rounds 7] [--clock cpu]

For each transform, in one process and interleaved round by round (so load on the machine hits both alike):

- ``direct``: the library's own call on each image, ``A.CLAHE(p=1.0)(image=img)["image"]`` or, for torchvision,
  ``T.ColorJitter(...)(tv_tensors.Image(tensor))`` on a CHW tensor made from the array.
- ``augment``: ``pipeline.run(img, seed=i)`` of a one-step spec naming the transform (``op: albumentations.CLAHE``):
  the step's seed stream, the library's draw captured and encoded as the JSON the manifest records, decoded and
  applied, plus the result record.
- ``call``: ``pipeline(img, seed=i)``, the image alone as the direct call gives it (the same seed stream, draw and
  pixels; the values are not encoded as JSON, since nobody reads the record).
- ``seeded``: the direct call made reproducible per image the library's own way first (``set_random_seed(i)``,
  ``torch.default_generator.manual_seed(i)``): what a user who needs an image's augmentation again pays without
  augment.

Reported: the median over rounds of the per-image time of each, augment / direct and call / direct (target:
<= 1.1x), and call / seeded (what augment adds over the library's own reproducible call).
``--clock cpu`` times by the process's CPU time instead of the wall clock (on a machine shared with other jobs it
counts the work done rather than the wait for a core). ``--torch-threads N`` sets torch's intra-op threads for both
sides (on a loaded machine torch's default thread pool thrashes, and its rows then measure the scheduler).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import augment  # noqa: E402

CASES = [
    ("albumentations.CLAHE", {"clip_limit": [1, 4]}),
    ("albumentations.ColorJitter", {}),
    ("albumentations.RandomBrightnessContrast", {}),
    ("albumentations.Affine", {"rotate": [-15, 15], "scale": [0.9, 1.1]}),
    ("albumentations.MotionBlur", {}),
    ("torchvision.ColorJitter", {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}),
    ("torchvision.RandomRotation", {"degrees": 20}),
]


def _direct(name: str, params: dict, seeded: bool = False):
    """The library's own call; ``seeded``: made reproducible per image the library's own way first (what a user
    who needs an image's augmentation again must do without augment): ``set_random_seed(i)`` for albumentations
    2 (a ``random.Random`` and a numpy generator), the CPU generator's ``manual_seed(i)`` for torchvision."""
    library, _, attr = name.partition(".")
    if library == "albumentations":
        import albumentations as A

        t = getattr(A, attr)(**params, p=1.0)
        if seeded:
            def call(img, i):
                t.set_random_seed(i)
                return t(image=img)["image"]

            return call
        return lambda img, i: t(image=img)["image"]
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    t = getattr(v2, attr)(**params)

    def call(img, i):
        if seeded:  # the CPU generator alone: torch.manual_seed would also queue a seed for CUDA (slower)
            torch.default_generator.manual_seed(i)
        return t(tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1))).permute(1, 2, 0).numpy()

    return call


CLOCK = time.perf_counter


def _time(fn, images) -> float:
    start = CLOCK()
    for i, img in enumerate(images):
        fn(img, i)
    return (CLOCK() - start) / len(images)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    ap.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads for both sides (0: torch's)")
    args = ap.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8) for _ in range(args.images)]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{args.images} images of {args.size}x{args.size}x3, {args.rounds} interleaved rounds, median per image, "
          f"{args.clock} clock, torch threads {args.torch_threads or 'default'}")
    print(f"{'transform':42s} {'direct ms':>10s} {'augment ms':>11s} {'ratio':>6s} {'call ms':>8s} {'ratio':>6s} "
          f"{'seeded ms':>10s} {'call/seeded':>11s}")
    for name, params in CASES:
        plain = _direct(name, params)
        seeded = _direct(name, params, seeded=True)
        pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": name, "params": params}]}))
        ours = lambda img, i: pipe.run(img, seed=i).output  # noqa: E731
        call = lambda img, i: pipe(img, seed=i)  # noqa: E731
        sides = {"ours": ours, "call": call, "direct": plain, "seeded": seeded}
        for fn in sides.values():  # warm-up: imports, instances
            _time(fn, images[:4])
        times: dict[str, list[float]] = {key: [] for key in sides}
        for r in range(args.rounds):
            order = list(sides) if r % 2 else list(sides)[::-1]  # alternate which goes first
            for key in order:
                times[key].append(_time(sides[key], images))
        d, o, c, s_ = (statistics.median(times[key]) for key in ("direct", "ours", "call", "seeded"))
        print(f"{name:42s} {d * 1e3:10.3f} {o * 1e3:11.3f} {o / d:6.2f} {c * 1e3:8.3f} {c / d:6.2f} "
              f"{s_ * 1e3:10.3f} {c / s_:11.2f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
