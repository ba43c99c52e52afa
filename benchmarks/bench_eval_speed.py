"""How long `augment eval` takes: one fit of each image model, and an evaluation with 1 vs 2 worker processes.

    python benchmarks/bench_eval_speed.py [--per-class 100] [--n 500] [--repeats 3]

Data: digits from scikit-learn's bundled set (samples/scripts/make_digits.py), written to a temporary folder.
Prints a markdown table and the load average; wall times on a shared machine move with its load, so compare
rows of one run only (ratios), never against another run's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from augment.evaluate.base import TrainSet  # noqa: E402
from augment.evaluate.data import load_dataset  # noqa: E402
from augment.evaluate.models import make_model  # noqa: E402


def one_fit(name: str, data, n: int, copies: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(data), n, replace=False)
    items = [data.items[i] for i in idx] * (1 + copies)
    labels = np.concatenate([data.labels[idx]] * (1 + copies))
    test = [data.items[i] for i in np.setdiff1d(np.arange(len(data)), idx)]
    model = make_model(name, "image", {})
    if hasattr(model, "adapt"):
        model.adapt(data.items)
    ts = TrainSet(items, labels, [], np.zeros(0, np.int64), data.classes, base_size=n)
    t = time.perf_counter()
    model.fit_predict(ts, test, seed=seed)
    return time.perf_counter() - t


def run_eval(train: Path, out: Path, jobs: int, repeats: int, n: int) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "augment.cli", "eval", str(REPO / "pipelines" / "digits_safe.yaml"), "--train",
           str(train), "--train-sizes", str(n), "--copies", "4", "--repeats", str(repeats), "--jobs", str(jobs),
           "--out", str(out), "-q"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True)
    return time.perf_counter() - t, json.loads((out / "report.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-cnn", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    subprocess.run([sys.executable, str(REPO / "samples/scripts/make_digits.py"), "--per-class", str(args.per_class),
                    "--out", str(tmp / "digits")], check=True)
    data = load_dataset(tmp / "digits", None, None)
    rows = [f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", "",
            "| what | seconds |", "|---|---|"]
    print("\n".join(rows), flush=True)
    fast = one_fit("fast-conv", data, args.n, 4)
    rows.append(f"| one fit, fast-conv, {args.n} images + 4 copies each | {fast:.1f} |")
    if not args.skip_cnn:
        cnn = one_fit("cnn", data, args.n, 4)
        rows.append(f"| one fit, cnn (default: width 32, 32 px, 30 epochs), same data | {cnn:.1f} |")
        print(rows[-1], flush=True)
        rows.append(f"| ratio cnn / fast-conv | {cnn / fast:.1f}x |")
    w1, r1 = run_eval(tmp / "digits", tmp / "r1", 1, args.repeats, args.n)
    w2, r2 = run_eval(tmp / "digits", tmp / "r2", 2, args.repeats, args.n)
    same = [r["metrics"]["accuracy"] for r in r1["runs"]] == [r["metrics"]["accuracy"] for r in r2["runs"]]
    rows.append(f"| eval, {args.repeats} runs x 2 arms, fast-conv, --jobs 1 | {w1:.1f} |")
    rows.append(f"| eval, same, --jobs 2 | {w2:.1f} (numbers identical: {same}) |")
    rows += ["", f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    print("\n".join(rows))


if __name__ == "__main__":
    main()
