"""Before/after throughput of ``augment run`` against another tree of the code (not a test).

    .venv/bin/python benchmarks/bench_throughput.py --base /tmp/base_tree [--copies 1] [--workers 1 2]

``--base``: a checkout of the code to compare with (``git archive REV | tar -x -C DIR``). Each contender runs
as a fresh process (start-up included) with ``PYTHONPATH`` set to its tree; the contenders are interleaved,
best wall time of ``--repeats`` and one more observed run for CPU seconds of the whole process tree (see
``bench_images.observed_run``). Also: the import time of ``augment.cli`` and of a worker's first module in
each tree. State the load average with the numbers: on a loaded machine only CPU seconds and ratios mean much.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_images as bi  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree)}


def import_cpu(tree: Path, module: str, repeats: int = 3) -> float:
    """Best CPU seconds of ``import module`` in a fresh interpreter (process CPU, so load matters less)."""
    code = f"import time; t = time.process_time(); import {module}; print(time.process_time() - t)"
    best = min(float(subprocess.run([sys.executable, "-c", code], env=_env(tree), capture_output=True,
                                    text=True, check=True).stdout) for _ in range(repeats))
    return best


def run_once(cmd: list[str], tree: Path, out: Path, observe: bool) -> dict:
    env_before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree)
    try:
        log = out.with_suffix(".log")
        res = bi.observed_run(cmd, log) if observe else bi.timed_run(cmd, log)
    finally:
        if env_before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_before
    res["outputs"] = bi.count_outputs(out)
    shutil.rmtree(out, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=bi.DEFAULT_DATASET)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--engine", default="local")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--extra", nargs="*", default=[], help="extra arguments of augment run (new tree only)")
    args = parser.parse_args(argv)
    trees = {"base": args.base.resolve(), "new": ROOT}
    print(f"load before: {os.getloadavg()}")
    for name, tree in trees.items():
        print(f"{name}: import augment.cli {import_cpu(tree, 'augment.cli'):.3f} CPU s, "
              f"import augment.run.worker {import_cpu(tree, 'augment.run.worker'):.3f} CPU s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec = bi.write_spec(work / "spec.yaml", args.copies)
        jobs = {}
        for workers in args.workers:
            for name, tree in trees.items():
                out = work / f"{name}_w{workers}"
                cmd = [sys.executable, "-m", "augment.cli", "run", str(spec), str(args.dataset), str(out),
                       "--workers", str(workers), "--engine", args.engine, "-q"]
                if name == "new":
                    cmd += args.extra
                jobs[f"{name} w{workers}"] = (cmd, tree, out)
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for label, (cmd, tree, out) in jobs.items():
                res = run_once(cmd, tree, out, observe=False)
                if label not in best or res["seconds"] < best[label]["seconds"]:
                    best[label] = res
        for label, (cmd, tree, out) in jobs.items():
            obs = run_once(cmd, tree, out, observe=True)
            res = best[label]
            print(f"{label}: {res['outputs']} outputs, best wall {res['seconds']:.2f} s "
                  f"({res['outputs'] / res['seconds']:.0f}/s, load {res['load_before']:.1f}), "
                  f"CPU {obs['cpu_seconds']:.2f} s = {1000 * obs['cpu_seconds'] / obs['outputs']:.2f} s/1k")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
