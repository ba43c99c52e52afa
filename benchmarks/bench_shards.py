"""Sharded output against folder output and the plain loop, side by side in one run (not a test).

    .venv/bin/python benchmarks/bench_shards.py [--dataset ../shared/datasets/images/sign_digits] [--copies 3]

The work of ``bench_images.py`` (JPEG in -> horizontal flip + zoom -> JPEG out, quality 95) on sign_digits,
written four ways: ``augment run`` into a folder (one file per output), into WebDataset tar shards and into
Parquet shards (``--shard-size 1000``), all with the local engine at the usable cores, and the plain
albumentations loop of ``bench_images.py`` (one process, one file per output). Each is a fresh process timed
from outside, start-up included, round-robin, best of ``--repeats``. Outputs are counted from the manifest
(ours) or the files (plain loop). The ratio to watch is shards / folder (target >= 1.3x): on 100x100 images
creating a file is a large part of the per-output cost.

On a shared machine wall times swing by 2x with the load of other jobs; ``--cpu-repeats N`` also runs each
output format N times with ``--engine serial`` (one process, no pool) and reports its CPU seconds (user + sys of
the child, from ``getrusage``), which the load of other jobs changes far less: the work each format costs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_images  # noqa: E402

TARGET = 1.3


def _outputs(out: Path) -> int:
    manifest = out / "manifest.jsonl"
    if manifest.is_file():
        return sum(1 for line in manifest.read_text().splitlines() if line.strip())
    return bench_images.count_outputs(out)


def _cpu_seconds(base: list[str], work: Path, repeats: int, shard_size: int) -> dict[str, list[float]]:
    """CPU seconds (user + sys) of serial runs of each output format, round-robin."""
    out: dict[str, list[float]] = {"folder": [], "webdataset": [], "parquet": []}
    for _ in range(repeats):
        for fmt in out:
            target = work / f"cpu-{fmt}"
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([*base, str(target), "--engine", "serial", "-q", "--output-format", fmt, "--shard-size",
                            str(shard_size)], check=True, capture_output=True, cwd=bench_images.ROOT)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out[fmt].append(round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2))
            shutil.rmtree(target)
    return out


def run(dataset: Path, copies: int, repeats: int = 3, workers: int | None = None, shard_size: int = 1000,
        cpu_repeats: int = 0) -> dict:
    workers = workers or len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="augment-bench-shards-"))
    try:
        spec = bench_images.write_spec(work / "spec.yaml", copies)
        py = sys.executable
        base = [py, "-m", "augment.cli", "run", str(spec), str(dataset)]
        jobs = {
            f"ours: folder ({workers} workers)": [*base, str(work / "folder"), "--workers", str(workers), "-q"],
            f"ours: webdataset ({workers} workers)": [*base, str(work / "wds"), "--workers", str(workers), "-q",
                                                      "--output-format", "webdataset", "--shard-size", str(shard_size)],
            f"ours: parquet ({workers} workers)": [*base, str(work / "parquet"), "--workers", str(workers), "-q",
                                                   "--output-format", "parquet", "--shard-size", str(shard_size)],
            "plain loop (1 process)": [py, str(HERE / "bench_images.py"), "_plain", str(dataset), str(work / "plain"),
                                       str(copies)],
        }
        outs = {name: Path(cmd[6]) if cmd[2] == "augment.cli" else Path(cmd[4]) for name, cmd in jobs.items()}
        times: dict[str, list[float]] = {name: [] for name in jobs}
        loads: dict[str, list[float]] = {name: [] for name in jobs}
        outputs: dict[str, int] = {}
        for _ in range(repeats):
            for name, cmd in jobs.items():
                res = bench_images.timed_run(cmd, work / f"{len(times[name])}.log")
                times[name].append(res["seconds"])
                loads[name].append(res["load_before"])
                outputs[name] = _outputs(outs[name])
                shutil.rmtree(outs[name])
        m = {name: {"seconds": min(t), "all_seconds": [round(x, 2) for x in t], "outputs": outputs[name],
                    "load_before": loads[name][t.index(min(t))]} for name, t in times.items()}
        cpu = _cpu_seconds(base, work, cpu_repeats, shard_size) if cpu_repeats else {}
        rates = {name: v["outputs"] / v["seconds"] for name, v in m.items()}
        folder, wds, pq, plain = (rates[n] for n in jobs)
        ratios = {"webdataset / folder": wds / folder, "parquet / folder": pq / folder,
                  "webdataset / plain loop": wds / plain, "folder / plain loop": folder / plain}
        if cpu:
            ratios["cpu: webdataset / folder"] = min(cpu["folder"]) / min(cpu["webdataset"])
            ratios["cpu: parquet / folder"] = min(cpu["folder"]) / min(cpu["parquet"])
        return {"dataset": str(dataset), "copies": copies, "workers": workers, "shard_size": shard_size,
                "repeats": repeats, "measurements": m, "rates": rates, "ratios": ratios, "cpu_seconds": cpu}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def section(res: dict) -> list[str]:
    lines = [
        "## Shards vs folder output",
        "",
        f"`benchmarks/bench_shards.py`: {Path(res['dataset']).name} x {res['copies']} copies, flip + zoom, JPEG q95; "
        f"`augment run` with {res['workers']} workers into a folder, WebDataset and Parquet shards (shard size "
        f"{res['shard_size']}), and the plain loop; fresh processes, start-up included, round-robin, best of "
        f"{res['repeats']}.",
        "",
        "| run | outputs | wall s (runs) | outputs/s | load avg before |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, v in res["measurements"].items():
        lines.append(f"| {name} | {v['outputs']} | {v['seconds']:.2f} ({', '.join(map(str, v['all_seconds']))}) "
                     f"| {res['rates'][name]:.0f} | {v['load_before']:.1f} |")
    lines += ["", "| ratio | value | target |", "|---|---:|---|"]
    for name, value in res["ratios"].items():
        target = f">= {TARGET}x: {'met' if value >= TARGET else 'NOT met'}" if name.endswith("/ folder") else ""
        lines.append(f"| {name} | {value:.2f}x | {target} |")
    if res.get("cpu_seconds"):
        lines += ["", "CPU seconds of `--engine serial` runs (user + sys; best of "
                  f"{len(next(iter(res['cpu_seconds'].values())))}): "
                  + ", ".join(f"{fmt} {min(v):.2f} ({', '.join(map(str, v))})" for fmt, v in res["cpu_seconds"].items())]
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=bench_images.DEFAULT_DATASET)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--shard-size", type=int, default=1000)
    parser.add_argument("--cpu-repeats", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    res = run(args.dataset, args.copies, args.repeats, args.workers, args.shard_size, args.cpu_repeats)
    print(json.dumps(res, indent=2) if args.json else "\n".join(section(res)))
    return res


if __name__ == "__main__":
    main()
