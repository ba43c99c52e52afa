"""Tensors and batches: per-call cost against albumentations, batch against the per-image loop, and the device batch
against kornia and torchvision v2 (not a test; ratios come from one run, contenders interleaved round by round).

    .venv/bin/python benchmarks/bench_tensors.py                      # all sections, full sizes
    .venv/bin/python benchmarks/bench_tensors.py --quick              # small sizes, for a loaded machine / CI
    .venv/bin/python benchmarks/bench_tensors.py --section device     # on CUDA when present, else CPU
    .venv/bin/python benchmarks/bench_tensors.py --section single --clock cpu   # process CPU time (loaded machine)
    .venv/bin/python benchmarks/bench_tensors.py --section single --sizes 32 1024 --calls 300 --rounds 7

Sections:
- ``single``: one HxWx3 uint8 image per call, 32², 256², 1024²; flip + affine and flip + colour jitter, augment
  (``pipe(img, seed=s)``: a fresh seed per call, values recorded) against ``A.Compose`` of the same ops.
- ``batch``: 64x3x224x224 uint8 on the CPU, ``pipe.batch(x)`` against the loop ``[pipe(x[i]) for i]`` (the same
  bytes, checked), then both again on one thread each: the ratio of the work they do, apart from the cores.
- ``device``: 256x3x224x224 uint8 on the device (CUDA if available), flip + affine + colour jitter + normalise with
  per-sample parameters: ``GPUAugment`` against kornia's ``AugmentationSequential`` (if kornia is installed) and
  torchvision v2 applied per sample on the device. Normalising is the same tensor expression for all three.
The load average is printed: on a shared machine ratios are what to read, not absolute times. ``--clock cpu`` times
the CPU sections by the process's CPU time instead of the wall clock: on a machine shared with other jobs it counts
the work done rather than the time spent waiting for a core (OpenCV's own threads are counted too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import numpy as np


CLOCK = time.perf_counter


def _rounds(contenders: dict[str, Callable[[], None]], rounds: int, sync: Callable[[], None] = lambda: None,
            clock: Callable[[], float] | None = None) -> dict:
    """Run every contender once per round, in turn (interleaved), and keep each one's median."""
    clock = clock or CLOCK
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for fn in contenders.values():  # warm-up: imports, caches, kernels
        fn()
    sync()
    for _ in range(rounds):
        for name, fn in contenders.items():
            t = clock()
            fn()
            sync()
            times[name].append(clock() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def single(sizes: list[int], calls: int, rounds: int) -> None:
    import albumentations as A

    import augment
    from augment import ops

    specs = {
        "flip+affine": (
            [ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.1, 0.1), scale=(0.9, 1.1))],
            [A.HorizontalFlip(p=0.5), A.Affine(rotate=(-15, 15), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), p=1)],
        ),
        "flip+colour": (
            [ops.HorizontalFlip(p=0.5), ops.BrightnessContrast(brightness=(0.8, 1.2), contrast=(0.8, 1.2)),
             ops.HSV(hue=(-0.05, 0.05), saturation=(0.8, 1.2), value=(1.0, 1.0))],
            [A.HorizontalFlip(p=0.5), A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=1)],
        ),
    }
    print("single image per call (median per call, us)        augment     albumentations   ratio")
    for name, (ours, theirs) in specs.items():
        pipe = augment.Compose(ours, seed=0)
        alb = A.Compose(theirs, seed=0)
        for size in sizes:
            img = np.random.default_rng(size).integers(0, 256, (size, size, 3), dtype=np.uint8)
            n = max(3, calls // max(1, (size // 256) ** 2))
            counter = iter(range(10**9))

            def run_ours():
                for _ in range(n):
                    pipe(img, seed=next(counter))

            def run_alb():
                for _ in range(n):
                    alb(image=img)

            med = _rounds({"augment": run_ours, "albumentations": run_alb}, rounds)
            a, b = med["augment"] / n * 1e6, med["albumentations"] / n * 1e6
            print(f"  {name:12s} {size:5d}^2                          {a:10.1f}  {b:14.1f}   {a / b:5.2f}x")


def batch_cpu(n: int, size: int, rounds: int) -> None:
    import torch

    import augment
    from augment import ops

    pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.1, 0.1)),
                            ops.BrightnessContrast(), ops.HSV(value=(1.0, 1.0))], seed=0)
    from augment.compile.batch import _workers

    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    seeds = list(range(n))
    contenders = {
        "batch": lambda: pipe.batch(x, seeds=seeds),
        "loop": lambda: torch.stack([pipe(x[i], seed=s) for i, s in enumerate(seeds)]),
    }
    # the two must compute the same thing: the CPU batch promises each single call's bytes
    assert torch.equal(contenders["batch"](), contenders["loop"]()), "batch and loop differ"
    med = _rounds(contenders, rounds, clock=time.perf_counter)
    cpu = _rounds(contenders, rounds, clock=time.process_time)  # all of the process's threads
    print(f"CPU batch {n}x3x{size}x{size} (flip+affine+colour, {_workers(n)} threads): batch "
          f"{med['batch'] * 1e3:.0f} ms, per-image loop {med['loop'] * 1e3:.0f} ms: batch is "
          f"{med['loop'] / med['batch']:.2f}x faster")
    # The loop is not one core's work: OpenCV's warpAffine and torch's ops run on their own thread pools. Cores
    # busy = CPU / wall; the batch's wall is at least its CPU over the machine's cores, which bounds the ratio.
    cores = len(os.sched_getaffinity(0))
    print(f"  cores busy (process CPU / wall, separate rounds): batch {cpu['batch'] / med['batch']:.2f}, loop "
          f"{cpu['loop'] / med['loop']:.2f}; CPU per batch: batch {cpu['batch'] * 1e3:.0f} ms, loop "
          f"{cpu['loop'] * 1e3:.0f} ms; bound on {cores} cores with this CPU: batch <= "
          f"{med['loop'] * cores / cpu['batch']:.2f}x the loop")
    # The same on one thread each (the batch's pool, torch's and OpenCV's): the work each does, apart from how
    # many cores it gets, which on a shared machine is what varies most
    import cv2

    saved = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        one = _rounds(contenders, rounds)
    finally:
        cv2.setNumThreads(saved[0])
        torch.set_num_threads(saved[1])
    print(f"  one thread each (work per sample): batch {one['batch'] / n * 1e3:.2f} ms, loop "
          f"{one['loop'] / n * 1e3:.2f} ms: the batch does {one['loop'] / one['batch']:.2f}x less work")


def device_batch(n: int, size: int, rounds: int) -> None:
    import torch
    import torchvision.transforms.v2 as T

    import augment
    import augment.torch as at
    from augment import ops

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, device=dev)
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)

    def normalise(t):
        return (t.float() / 255.0 - mean) / std if t.dtype == torch.uint8 else (t - mean) / std

    pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.1, 0.1),
                                                                  scale=(0.9, 1.1)),
                            ops.BrightnessContrast(brightness=(0.8, 1.2), contrast=(0.8, 1.2)),
                            ops.HSV(hue=(-0.05, 0.05), saturation=(0.8, 1.2), value=(1.0, 1.0))], seed=0)
    aug = at.GPUAugment(pipe)
    tv = T.Compose([T.RandomHorizontalFlip(), T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                    T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)])
    contenders = {
        "augment": lambda: normalise(aug(x)),
        **({"augment kernels=batched": lambda: normalise(at.GPUAugment(pipe, kernels="batched")(x))}
           if dev.type == "cpu" else {}),  # on a CPU the default runs OpenCV per sample: show the device kernels too
        "torchvision-v2-per-sample": lambda: normalise(torch.stack([tv(x[i]) for i in range(n)])),
    }
    try:
        import kornia.augmentation as K

        korn = K.AugmentationSequential(
            K.RandomHorizontalFlip(), K.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), p=1.0),
            K.ColorJitter(0.2, 0.2, 0.2, 0.05, p=1.0)).to(dev)
        contenders["kornia"] = lambda: normalise(korn(x.float() / 255.0))
    except ImportError:
        print("  (kornia not installed: `pip install kornia` to add it)")
    med = _rounds(contenders, rounds, sync, clock=time.perf_counter)  # device work is not process CPU time
    card = torch.cuda.get_device_name() if dev.type == "cuda" else "CPU"
    print(f"device batch {n}x3x{size}x{size} uint8 on {dev} ({card}),"
          " flip+affine+colour jitter+normalise, per-sample parameters:")
    for name, t in med.items():
        print(f"  {name:28s} {t * 1e3:9.1f} ms   ({t / med['augment']:.2f}x augment's time)")


def main() -> None:
    ap = argparse.ArgumentParser(description="tensor and batch benchmarks")
    ap.add_argument("--section", choices=["single", "batch", "device", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="small sizes and few rounds (loaded machines, CI)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="time the CPU sections by wall clock or by the process's CPU time (loaded machines)")
    ap.add_argument("--sizes", type=int, nargs="+", help="image sides for the single section (default 32 256 1024)")
    ap.add_argument("--calls", type=int, help="calls per round at 256x256 in the single section (fewer above)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds (every section)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"clock: {args.clock}; load average: {load}  (cpus: {os.cpu_count()})")
    if args.section in ("single", "all"):
        single(args.sizes or ([32, 256] if args.quick else [32, 256, 1024]),
               calls=args.calls or (200 if args.quick else 1000), rounds=args.rounds or (5 if args.quick else 15))
    if args.section in ("batch", "all"):
        batch_cpu(16 if args.quick else 64, 224, rounds=args.rounds or (3 if args.quick else 7))
    if args.section in ("device", "all"):
        device_batch(16 if args.quick else 256, 224 if not args.quick else 112,
                     rounds=args.rounds or (3 if args.quick else 10))
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
