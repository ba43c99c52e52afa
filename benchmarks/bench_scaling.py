"""The expander's scaling curve, and an estimate of a 10-node Dask cluster from measured per-item costs (not a test).

    .venv/bin/python benchmarks/bench_scaling.py [--dataset ../shared/datasets/images/sign_digits] [--copies 3]

Work: the ``bench_images.py`` job (JPEG in -> horizontal flip p=0.5 + zoom -> JPEG out), through the CLI
(``augment run``), each run a fresh process timed from outside, start-up included, round-robin, best of
``--repeats``:

- the local engine at 1, 2 and ``os.cpu_count()`` workers;
- the Dask engine at the same counts (a ``LocalCluster`` of that many single-threaded worker processes that
  ``augment run --engine dask`` starts; cluster start-up included, as a user pays it).

Then two more 2-worker local runs under observation (the dataset, and 3x it) give the marginal CPU per output
of the workers and of the main process (start-up cancels out), and each run's own ``scheduling`` block (both
engines: chunks, busy fraction, idle worker time split into start-up / gaps / tail, CPU per output of the workers
and of the main process) gives the cluster's cost per task and where a run's worker time went. From those, an **estimate** (a model, not a measurement) of what a cluster of N
nodes x C cores would do on M images, and which part saturates first: the workers, the scheduler (tasks per
second), the client that writes the manifest, or the storage (bytes per second in and out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_images import DEFAULT_DATASET, observed_run, replicate, timed_run, write_spec  # noqa: E402

IMAGES = (".jpg", ".jpeg", ".png")

# Assumptions of the cluster estimate; each is printed beside the numbers it drives.
SCHEDULER_MS_PER_TASK = 1.0  # Dask's documented order of magnitude for the scheduler's cost of one task
STORAGE_MB_PER_S = 1000.0  # a shared file system or object store the nodes read from and write to


def last_json(log: Path) -> dict:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no summary line in {log}")


def tree_bytes(root: Path, suffixes: tuple[str, ...] = IMAGES) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per contender (best kept)")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--cores-per-node", type=int, default=16)
    parser.add_argument("--images", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if not args.dataset.is_dir():
        sys.exit(f"dataset {args.dataset} not found")

    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores})
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="augscale-"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {cores} CPUs", flush=True)
    try:
        spec = write_spec(tmp / "spec.yaml", args.copies)
        n_in, in_bytes = tree_bytes(args.dataset)
        jobs = {f"{engine} w{n}": (engine, n) for engine in ("local", "dask") for n in counts}
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for name, (engine, n) in jobs.items():
                out, log = tmp / f"out_{engine}{n}", tmp / f"{engine}{n}.log"
                res = timed_run([py, "-m", "augment.cli", "run", str(spec), str(args.dataset), str(out), "--workers",
                                 str(n), "--engine", engine], log)
                res["outputs"] = tree_bytes(out)[0]
                res["summary"] = last_json(log)
                shutil.rmtree(out)
                if name not in best or res["seconds"] < best[name]["seconds"]:
                    best[name] = res
        base = best["local w1"]["outputs"] / best["local w1"]["seconds"]
        print(f"\n{n_in} images x {args.copies} copies, best of {args.repeats}, start-up included")
        # the engines' own busy report (summary "scheduling"): idle worker time split into start-up (before a
        # worker's first chunk), gaps and tail; CPU per output of the workers and of the main process
        print("| engine | workers | outputs/s | speed-up vs local w1 | overhead ms/output | busy fraction | "
              "idle s: start-up / gaps / tail | worker CPU ms/output | main CPU ms/output |")
        print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
        for name, res in best.items():
            engine, n = jobs[name]
            r = res["outputs"] / res["seconds"]
            sched = res["summary"].get("scheduling") or {}
            idle = sched.get("idle_seconds") or {}
            print(f"| {engine} | {n} | {r:.0f} | {r / base:.2f}x | {sched.get('overhead_ms_per_output', '-')} | "
                  f"{sched.get('busy_fraction', '-')} | {idle.get('startup', '-')} / {idle.get('gaps', '-')} / "
                  f"{idle.get('tail', '-')} | {sched.get('worker_cpu_ms_per_output', '-')} | "
                  f"{sched.get('main_cpu_ms_per_output', '-')} |")

        # Marginal costs: the same job on the dataset and on 3 copies of it side by side (hard links), so that
        # start-up (imports, the pool) cancels out and each output carries its share of its source's decode.
        runs = []
        for k, src in ((1, args.dataset), (3, replicate(args.dataset, tmp / "x3", 3))):
            out = tmp / f"observed{k}"
            split = observed_run([py, "-m", "augment.cli", "run", str(spec), str(src), str(out), "--workers", "2"],
                                 tmp / f"observed{k}.log")
            split["outputs"], split["bytes"] = tree_bytes(out)
            shutil.rmtree(out)
            runs.append(split)
        n_out = runs[1]["outputs"] - runs[0]["outputs"]
        main_ms = 1000 * (runs[1]["cpu_main_seconds"] - runs[0]["cpu_main_seconds"]) / n_out
        worker_ms = 1000 * (runs[1]["cpu_seconds"] - runs[0]["cpu_seconds"]) / n_out - main_ms
        out_bytes = (runs[1]["bytes"] - runs[0]["bytes"]) / n_out
        split = {"runs": runs, "worker_ms": worker_ms, "main_ms": main_ms}
        if worker_ms <= 0 or main_ms < 0:  # start-up noise larger than the work: a small dataset or a loaded machine
            sys.exit(f"marginal costs not measurable (workers {worker_ms:.2f}, main {main_ms:.2f} ms per output): "
                     "use a larger --dataset or --copies on a quiet machine")
        print(f"\nmarginal cost per output (local engine, 2 workers, observed on the dataset and on 3x it):"
              f" workers {worker_ms:.2f} ms CPU, main process {main_ms:.2f} ms CPU; {in_bytes / n_in / 1024:.1f} kB"
              f" read per source, {out_bytes / 1024:.1f} kB written per output")
        dask = best[f"dask w{max(counts)}"]["summary"].get("scheduling") or {}
        per_task = dask.get("outputs", 0) / max(dask.get("chunks", 1), 1)
        print(f"Dask chunks of ~{per_task:.0f} outputs per task")

        # The estimate: each limit in outputs per second; the smallest one is where the cluster saturates.
        threads = args.nodes * args.cores_per_node
        efficiency = dask.get("busy_fraction") or 1.0
        limits = {
            "workers (CPU)": threads * efficiency * 1000 / worker_ms,
            "scheduler": per_task * 1000 / SCHEDULER_MS_PER_TASK,
            "client (manifest, results)": 1000 / main_ms if main_ms > 0 else float("inf"),
            "storage": STORAGE_MB_PER_S * 2**20 / (out_bytes + in_bytes / n_in / args.copies),
        }
        outputs = args.images * args.copies
        print(f"\nESTIMATE (a model from the numbers above, not a measurement): {args.nodes} nodes x "
              f"{args.cores_per_node} cores, {args.images:,} images x {args.copies} copies = {outputs:,} outputs;"
              f" assumed: {SCHEDULER_MS_PER_TASK} ms of scheduler per task, {STORAGE_MB_PER_S:.0f} MB/s of shared"
              f" storage, the measured busy fraction {efficiency}")
        for name, limit in sorted(limits.items(), key=lambda kv: kv[1]):
            print(f"  {name:<28} {limit:12,.0f} outputs/s")
        bound = min(limits, key=limits.get)
        print(f"  -> about {outputs / limits[bound] / 60:.0f} minutes, bound by the {bound}")
        return {"best": best, "split": split, "limits": limits}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
