"""The three speed targets of issue 21, measured as a user meets them: a default `augment eval` from the CLI.

    python benchmarks/bench_eval_targets.py                 # the targets as stated (about 25 minutes)
    python benchmarks/bench_eval_targets.py --quick         # every path at a small size (a few minutes)

1. images: a default eval on 500 images of 32 px in 10 classes (a stratified draw from
   ../shared/datasets/images/cifar10_small/train, tested on its test split) must reach a verdict, or a minimum
   detectable effect of at most 2.5 points, within 5 minutes (--time-budget 300). Two pipelines: one that hurts
   (upside-down flips and quarter turns) and one that is meant to help (flips, zoom, noise).
2. text: the same for 2000 SST-2 sentences (stratified draw from sst2/train.tsv, tested on sst2/test.tsv) within
   3 minutes (--time-budget 180), with the EDA pipeline.
3. raccoon: flip + zoom on ../shared/datasets/detection/raccoon decides or says "undecided" within 10 minutes
   (--time-budget 600).

Every eval runs in its own process with the CLI's defaults apart from the data, the pipeline and the budget;
the table gives its wall time, its status, each size's verdict and minimum detectable effect, the sizes the
budget cut short, and whether the target holds (judged on the largest size, the one the data is about: under a
budget it is planned first and the smaller sizes get what is left). Wall times move with the machine's load:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def image_subset(dest: Path, n: int, seed: int = 0) -> Path:
    """A stratified draw of ``n`` images from cifar10_small/train (class folders), copied to ``dest``."""
    src = DATA / "images" / "cifar10_small" / "train"
    classes = sorted(p.name for p in src.iterdir() if p.is_dir())
    rng = np.random.default_rng(seed)
    per = [n // len(classes) + (1 if i < n % len(classes) else 0) for i in range(len(classes))]
    for c, k in zip(classes, per):
        files = sorted((src / c).iterdir())
        (dest / c).mkdir(parents=True)
        for i in sorted(rng.choice(len(files), k, replace=False)):
            shutil.copy(files[i], dest / c / files[i].name)
    return dest


def text_subset(dest: Path, n: int, seed: int = 0) -> Path:
    """A stratified draw of ``n`` lines of sst2/train.tsv (not its first lines: the file is sorted by label)."""
    lines = (DATA / "text" / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    by_label: dict[str, list[str]] = {}
    for line in lines:
        by_label.setdefault(line.split("\t", 1)[0], []).append(line)
    rng = np.random.default_rng(seed)
    chosen = []
    for label, rows in sorted(by_label.items()):
        k = round(n * len(rows) / len(lines))
        chosen += [rows[i] for i in sorted(rng.choice(len(rows), k, replace=False))]
    dest.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    return dest


def raccoon_subset(dest: Path, n: int | None, split: str) -> Path:
    src = DATA / "detection" / "raccoon" / split
    if n is None:
        return src
    (dest / "images").mkdir(parents=True)
    (dest / "annotations").mkdir()
    for img in sorted((src / "images").iterdir())[:n]:
        shutil.copy(img, dest / "images")
        shutil.copy(src / "annotations" / f"{img.stem}.xml", dest / "annotations")
    return dest


def run_eval(name: str, pipeline: str, train: Path, test: Path | None, budget: float, out: Path,
             extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "augment.cli", "eval", str(REPO / "pipelines" / pipeline), "--train", str(train),
           *(["--test", str(test)] if test else []), "--time-budget", f"{budget:g}", "--out", str(out), "-q", *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    row = {"name": name, "pipeline": pipeline, "wall": wall, "budget": budget, "rc": proc.returncode}
    if not (out / "report.json").exists():
        row["error"] = (proc.stderr.strip().splitlines() or ["no report"])[-1]
        return row
    rep = json.loads((out / "report.json").read_text())
    row["status"] = rep["protocol"].get("status")
    row["model"] = rep["model"].get("name")
    row["epochs"] = (rep["protocol"].get("epochs") or {}).get("planned")
    t = rep.get("timings") or {}
    phases = t.get("phases") or {}
    if phases:  # where the wall time went, as the report says it (the rest: Python's exit, this process)
        row["where"] = (f"start+load {phases['start_and_load_seconds']:.0f}, fits {phases['fits_seconds']:.0f} "
                        f"(augment {phases['augment_seconds']:.0f}), stats {phases['statistics_seconds']:.0f}, "
                        f"report {t.get('report_seconds') or 0:.0f}")
    row["sizes"] = [{"size": s["size"], "arm": s["arm"], "verdict": s["verdict"], "runs": s["repeats"],
                     "mde": s["decision"].get("mde"), "diff": s["decision"].get("mean")} for s in rep["summary"]]
    # the sizes the budget cut short (the largest has it first: the learning curve is what is cut)
    row["cut"] = {lab: st["runs"] for lab, st in (rep["protocol"].get("stopping") or {}).items() if st.get("why")}
    row["largest"] = max(rep["protocol"]["sizes"], key=lambda s: s["n"])["label"]
    return row


def verdict_or_mde(row: dict, mde_target: float | None) -> bool:
    """The target: the largest size (the one the data is about) decided in every arm, or (images, text) its MDE
    at most ``mde_target``; the smaller sizes are the learning curve, planned with what is left."""
    rows = [s for s in row.get("sizes") or [] if s["size"] == row.get("largest")]
    if not rows:
        return False
    for s in rows:
        decided = s["verdict"] in ("helps", "hurts", "equivalent")
        small = mde_target is not None and s["mde"] is not None and s["mde"] <= mde_target
        if not (decided or small or mde_target is None):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes and budgets: checks every path works")
    ap.add_argument("--only", choices=("images", "text", "raccoon"), action="append")
    ap.add_argument("--text-sentences", type=int, default=None,
                    help="SST-2 sentences (default 2000, 300 with --quick): a smaller draw on a loaded machine")
    args = ap.parse_args()
    quick = args.quick
    n_images, n_text, n_raccoon = (100, 300, 12) if quick else (500, 2000, None)
    n_text = args.text_sentences or n_text
    scale = 0.1 if quick else 1.0
    only = set(args.only or ("images", "text", "raccoon"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-targets-"))
    print(f"load before: {_load()}", flush=True)
    rows = []
    try:
        if "images" in only:
            train = image_subset(tmp / "images", n_images)
            test = DATA / "images" / "cifar10_small" / "test"
            for pipe in ("digits_upside_down.yaml", "flip_zoom_noise.yaml"):
                rows.append((run_eval(f"{n_images} images, 32 px, 10 classes", pipe, train, test, 300 * scale,
                                      tmp / f"r-{pipe}", []), 300 * scale, 0.025))
                print(json.dumps(rows[-1][0]), flush=True)
        if "text" in only:
            train = text_subset(tmp / "sst2.tsv", n_text)
            rows.append((run_eval(f"{n_text} SST-2 sentences", "eda.yaml", train, DATA / "text" / "sst2" / "test.tsv",
                                  180 * scale, tmp / "r-text", []), 180 * scale, 0.025))
            print(json.dumps(rows[-1][0]), flush=True)
        if "raccoon" in only:
            train = raccoon_subset(tmp / "rtrain", n_raccoon, "train")
            test = raccoon_subset(tmp / "rtest", None if n_raccoon is None else max(4, n_raccoon // 3), "test")
            extra = ["--model-option", "image_size=64", "--model-option", "epochs=5"] if quick else []
            rows.append((run_eval("raccoon detection", "detection_flip_zoom.yaml", train, test, 600 * scale,
                                  tmp / "r-raccoon", extra), 600 * scale, None))
            print(json.dumps(rows[-1][0]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("| target | pipeline | model | wall s (limit) | where the seconds went | status "
          "| size: verdict, runs, diff, MDE | holds |")
    print("|---|---|---|---|---|---|---|---|")
    for row, limit, mde in rows:
        if "error" in row:
            print(f"| {row['name']} | {row['pipeline']} | - | {row['wall']:.0f} ({limit:.0f}) | error: {row['error']} "
                  "| - | no |")
            continue
        cells = "; ".join(f"{s['size']} {s['arm']}: {s['verdict']}, {s['runs']} runs, "
                          f"{100 * (s['diff'] or 0):+.1f}, ±{100 * s['mde']:.1f}" if s["mde"] is not None else
                          f"{s['size']} {s['arm']}: {s['verdict']}, {s['runs']} runs" for s in row["sizes"])
        if row.get("cut"):
            cells += "; cut short for time: " + ", ".join(f"{lab} ({n} runs)" for lab, n in row["cut"].items())
        holds = row["wall"] <= limit and verdict_or_mde(row, mde)
        model = row["model"] + (f" ({row['epochs']} epochs)" if row.get("epochs") else "")
        print(f"| {row['name']} | {row['pipeline']} | {model} | {row['wall']:.0f} ({limit:.0f}) "
              f"| {row.get('where', '-')} | {row['status']} "
              f"| {cells} | {'yes' if holds else 'no'} |")
    print(f"\nload after: {_load()}")


if __name__ == "__main__":
    main()
