"""What a run pays before its first output, local engine against Dask (not a test).

    .venv/bin/python benchmarks/bench_dask_startup.py [--dataset ../shared/datasets/images/sign_digits] [--rounds 3]

The ``bench_images.py`` job (flip + zoom, JPEG in and out) on a one-image input (the first file of the dataset's
first class, copies 1), so nearly all of a run is start-up: ``augment run ... --workers 2 --engine local|dask``,
interleaved round by round. Reported per run: wall clock and the CPU of the whole process tree (``RUSAGE_CHILDREN``
of this process, made a subreaper so that the forkserver and its workers, which the CLI never waits for, are
counted: ``tree_cpu.py``). The difference is Dask's fixed cost (a
``LocalCluster`` made for the run); with the local engine's time on a full benchmark it bounds the ratio a Dask
run with no per-output overhead could reach: local / (local + extra wall).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_images import compile_package  # noqa: E402
from tree_cpu import run_measured  # noqa: E402

SPEC = """\
version: 1
name: bench-flip-zoom
modality: image
seed: 7
copies: 1
steps:
  - op: horizontal_flip
    p: 0.5
  - op: zoom
    params:
      scale: [0.8, 1.2]
"""


def run(spec: Path, src: Path, out: Path, engine: str) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    proc, wall, cpu = run_measured([sys.executable, "-m", "augment.cli", "run", str(spec), str(src), str(out),
                                    "--workers", "2", "--engine", engine, "-q"], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"augment run --engine {engine} failed: {proc.stderr.strip().splitlines()[-1]}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "images" / "sign_digits")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    first_class = sorted(p for p in args.dataset.iterdir() if p.is_dir())[0]
    image = sorted(p for p in first_class.iterdir() if p.is_file())[0]
    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in" / first_class.name).mkdir(parents=True)
        shutil.copy(image, tmp / "in" / first_class.name / image.name)
        (tmp / "spec.yaml").write_text(SPEC)
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; one image ({image.name}), "
              f"{args.rounds} interleaved rounds")
        got: dict[str, list[tuple[float, float]]] = {"local": [], "dask": []}
        for r in range(args.rounds):
            for engine in (("local", "dask") if r % 2 == 0 else ("dask", "local")):
                got[engine].append(run(tmp / "spec.yaml", tmp / "in", tmp / f"out_{engine}", engine))
        for engine, runs in got.items():
            print(f"{engine:6s} wall s {' / '.join(f'{w:.2f}' for w, _ in runs)}   "
                  f"CPU s {' / '.join(f'{c:.2f}' for _, c in runs)}")
        extra_wall = statistics.median(w for w, _ in got["dask"]) - statistics.median(w for w, _ in got["local"])
        extra_cpu = statistics.median(c for _, c in got["dask"]) - statistics.median(c for _, c in got["local"])
        print(f"Dask's fixed extra: {extra_wall:.2f} s wall, {extra_cpu:.2f} CPU-s (medians)")
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
