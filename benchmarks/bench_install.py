"""Install size and import time of the core install against the extras, each in a fresh virtual environment.

    python benchmarks/bench_install.py [--work /tmp/augment-install-bench] [--sets core,before,all]

Builds the wheel from the tracked files, then for each set creates ``WORK/<set>`` with ``python -m venv`` and
installs the wheel with pip (dependencies from the configured indexes; torch from the local wheel cache when a
set needs it). Reports the size of site-packages (pip, setuptools and their caches excluded), the number of
distributions, and the median of five cold-process timings of ``import augment`` and of ``augment --version``.
``before`` is the old single install (everything that was in install_requires: today's core plus
``[eval,serve,dask,coco]``). Timings depend on the machine's load: state ``uptime`` with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = {"core": "", "before": "[eval,serve,dask,coco]", "all": "[all]"}
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]


def _wheel(work: Path) -> Path:
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, files.split("\0")):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    dist = work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(src)],
                   check=True, capture_output=True)
    return next(dist.glob("*.whl"))


def _size(path: Path) -> int:
    skip = ("pip", "setuptools", "_distutils_hack", "pkg_resources")
    total = 0
    for child in path.iterdir():
        if child.name.split("-")[0] in skip or child.name == "__pycache__":
            continue
        for f in ([child] if child.is_file() else child.rglob("*")):
            if f.is_file() and not f.is_symlink() and "__pycache__" not in f.parts:
                total += f.stat().st_size
    return total


def _median_seconds(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd="/")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(work: Path, name: str, wheel: Path) -> dict:
    venv = work / name
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if SETS[name]:  # every set with extras here needs torch: the pinned release
        subprocess.run(pip + TORCH, check=True)
    subprocess.run(pip + [f"{wheel}{SETS[name]}"], check=True)
    python = str(venv / "bin" / "python")
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    dists = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                           check=True).stdout.split()
    # compile once so the timings are of imports, not of writing .pyc files
    subprocess.run([python, "-c", "import augment, augment.cli"], check=True, capture_output=True, cwd="/")
    return {
        "set": name, "extras": SETS[name] or "(none)", "mb": _size(site) / 1e6,
        "dists": len([d for d in dists if not d.lower().startswith(("pip==", "setuptools=="))]),
        "import_s": _median_seconds([python, "-c", "import augment"]),
        "version_s": _median_seconds([str(venv / "bin" / "augment"), "--version"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/augment-install-bench"))
    ap.add_argument("--sets", default="core,before,all")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    wheel = _wheel(args.work)
    print("| install | extras | site-packages MB | distributions | `import augment` s | `augment --version` s |")
    print("|---|---|---:|---:|---:|---:|", flush=True)
    for name in args.sets.split(","):  # a row as soon as it is measured: installing [all] takes long
        r = measure(args.work, name, wheel)
        print(f"| {r['set']} | `{r['extras']}` | {r['mb']:.0f} | {r['dists']} | {r['import_s']:.2f} | "
              f"{r['version_s']:.2f} |", flush=True)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
