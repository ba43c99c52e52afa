"""Run every benchmark and write ``benchmarks/results.md`` (machine, versions, measurements, ratios).

    .venv/bin/python benchmarks/run_all.py [--skip-text] [--copies 5]

The image benchmark is ``bench_images.py``; the text benchmark (``bench_text.py``, owned with the text ops) is run
as its own process when present and its printed report is copied into the results verbatim.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_images  # noqa: E402

DISTS = ("augment", "numpy", "pillow", "opencv-python-headless", "albumentations", "albucore", "torch", "Augmentor",
         "dask", "distributed", "psutil")


def machine() -> dict:
    import psutil

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores usable": usable,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict:
    out = {}
    for dist in DISTS:
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def images_section(res: dict) -> list[str]:
    lines = [
        "## Images",
        "",
        f"sign_digits: {res['files']} JPEGs (100x100) x {res['copies']} copies; 512x512: generated JPEGs. "
        "Each contender is a fresh process timed from outside, start-up and imports included; wall time is the best "
        f"of {bench_images.TIMED_REPEATS} unobserved runs (all listed), CPU and memory come from one more, observed run.",
        "",
        "| run | outputs | wall s (runs) | images/s | CPU s (all processes) | images/CPU-s | peak RSS (all processes) "
        "| load avg before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in res["measurements"].items():
        runs = ", ".join(f"{t:.2f}" for t in m["all_seconds"])
        lines.append(f"| {name} | {m['outputs']} | {m['seconds']:.2f} ({runs}) | {bench_images.rate(m):.0f} "
                     f"| {m['cpu_seconds']:.2f} | {bench_images.cpu_rate(m):.0f} | {m['peak_rss_mb']:.0f} MB "
                     f"| {m['load_before']:.1f} |")
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    for name, value in res["ratios"].items():
        lines.append(f"| {name} | {value:.2f}x | {bench_images.verdict(name, value)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-text", action="store_true", help="only the image benchmark")
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args()

    lines = [f"# Benchmark results ({dt.date.today().isoformat()})", "", "Command: `.venv/bin/python benchmarks/run_all.py`", ""]
    lines += ["## Machine", ""] + [f"- {k}: {v}" for k, v in machine().items()]
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in versions().items()] + [""]

    images = bench_images.run(bench_images.DEFAULT_DATASET, args.copies, 200, 3)
    lines += images_section(images)

    annotations_script = HERE / "bench_annotations.py"  # annotated images: raccoon VOC, vs a plain loop
    if annotations_script.exists() and (bench_images.ROOT.parent / "shared" / "datasets" / "detection").is_dir():
        import bench_annotations

        lines += [""] + bench_annotations.section(bench_annotations.run())

    text_script = HERE / "bench_text.py"
    if not args.skip_text and text_script.exists():
        proc = subprocess.run([sys.executable, str(text_script)], capture_output=True, text=True, cwd=HERE.parent)
        lines += ["", "## Text", "", "```", (proc.stdout or proc.stderr).rstrip(), "```"]
    lines += [""] + shards_section(args.copies)
    import bench_serve  # the service: /v1/augment through HTTP against the library call

    lines += [""] + bench_serve.section(bench_serve.run())
    lines += text_quality_section(args.skip_text)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


def shards_section(copies: int) -> list[str]:
    """Sharded output (WebDataset, Parquet) against folder output and the plain loop: ``bench_shards.py``."""
    import bench_shards

    return bench_shards.section(bench_shards.run(bench_images.DEFAULT_DATASET, copies))


def text_quality_section(skip: bool) -> list[str]:
    """The copy-quality table of ``bench_text_quality.py`` (its own process), as printed."""
    script = HERE / "bench_text_quality.py"
    if skip or not script.exists():
        return []
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
    return ["", "## Text copy quality", "", (proc.stdout or proc.stderr).rstrip()]


if __name__ == "__main__":
    main()


# ---- calibration of `augment eval` (benchmarks/bench_calibration.py) -------------------------------------------
# Appended after the main benchmarks: it runs only when asked (AUGMENT_BENCH_CALIBRATION=1, about 20 minutes on two
# cores) and appends its table to the same results file, so the rest of run_all stays as fast as before.


def calibration_section(trials: int = 100, effect_trials: int = 20) -> str:
    import tempfile

    import bench_calibration

    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "calibration.md"
        bench_calibration.main(["--trials", str(trials), "--effect-trials", str(effect_trials),
                                "--markdown", str(table)])
        return table.read_text()


if __name__ == "__main__" and os.environ.get("AUGMENT_BENCH_CALIBRATION") == "1":
    _out = Path(next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--output=")),
                     sys.argv[sys.argv.index("--output") + 1] if "--output" in sys.argv else HERE / "results.md"))
    with open(_out, "a", encoding="utf-8") as _fh:
        _fh.write("\n" + calibration_section())
    print(f"appended the eval calibration table to {_out}")
