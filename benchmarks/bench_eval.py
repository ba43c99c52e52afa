"""Evidence and timing for ``augment eval`` (a script, not a test).

Runs the experiments named in issue 4 and records, for each, the verdict table and the evaluation wall time
per (training size x repeat), so that the cost of an evaluation can be tracked over time:

* ``sst2-eda``          EDA pipeline (pipelines/eda.yaml) on shared/datasets/text/sst2, train/test given,
                        sizes 500 and 2000, 4 and 16 copies (the EDA paper used 16 at 500), 5 repeats,
                        the neural text model (fastText-style n-grams);
* ``sst2-eda-steps``    the same under the "steps" budget rule (no extra optimiser steps for the augmented arm);
* ``sign-digits-fzn``   flip/zoom/noise (pipelines/flip_zoom_noise.yaml) on shared/datasets/images/sign_digits,
                        held-out split, sizes 300 and 1000, 3 repeats, the small CNN;
* ``cifar10-fzn``       the same pipeline on cifar10_small (train/test given), sizes 500 and 1500, 3 repeats;
* ``digits-vflip``      a vertical flip on samples/digits (digit images): an op that should hurt.

Usage::

    python benchmarks/bench_eval.py                      # everything (tens of minutes on 2 cores)
    python benchmarks/bench_eval.py --only sst2-eda --only digits-vflip
    python benchmarks/bench_eval.py --quick              # tiny sizes, 2 repeats: checks the script runs

Outputs go to ``benchmarks/out/eval/<experiment>/`` (report.json, report.html) and a line per experiment is
appended to ``benchmarks/out/eval/bench_eval.jsonl`` (gitignored).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))

from augment.evaluate import EvalConfig, format_summary, run_evaluation, write_report  # noqa: E402
from augment.evaluate.protocol import versions  # noqa: E402

VFLIP_SPEC = """\
version: 1
name: vertical-flip
description: flips digits upside down -- expected to hurt
modality: image
steps:
  - op: vertical_flip
"""


def experiments(quick: bool, out: Path) -> dict[str, dict]:
    vflip = out / "vertical_flip.yaml"
    vflip.parent.mkdir(parents=True, exist_ok=True)
    vflip.write_text(VFLIP_SPEC)
    exps = {
        "sst2-eda": dict(pipeline=ROOT / "pipelines" / "eda.yaml", train=SHARED / "text" / "sst2" / "train.tsv",
                         test=SHARED / "text" / "sst2" / "test.tsv", train_sizes=[500, 2000], copies=[4, 16],
                         repeats=5, model="ngram"),
        # the same with the other budget rule: the augmented arm gets no more optimiser steps than the baseline
        "sst2-eda-steps": dict(pipeline=ROOT / "pipelines" / "eda.yaml", train=SHARED / "text" / "sst2" / "train.tsv",
                               test=SHARED / "text" / "sst2" / "test.tsv", train_sizes=[500, 2000], copies=[16],
                               repeats=5, model="ngram", budget="steps"),
        "sign-digits-fzn": dict(pipeline=ROOT / "pipelines" / "flip_zoom_noise.yaml",
                                train=SHARED / "images" / "sign_digits", train_sizes=[300, 1000], copies=[2],
                                repeats=3, model="cnn"),
        "cifar10-fzn": dict(pipeline=ROOT / "pipelines" / "flip_zoom_noise.yaml",
                            train=SHARED / "images" / "cifar10_small" / "train",
                            test=SHARED / "images" / "cifar10_small" / "test", train_sizes=[500, 1500],
                            copies=[2], repeats=3, model="cnn"),
        "digits-vflip": dict(pipeline=vflip, train=ROOT / "samples" / "digits", train_sizes=["full"], copies=[1],
                             repeats=5, model="cnn"),
    }
    if quick:
        for e in exps.values():
            e["train_sizes"] = [s for s in e["train_sizes"] if s != "full"][:1] or ["full"]
            e["train_sizes"] = [min(s, 200) if isinstance(s, int) else s for s in e["train_sizes"]]
            e["repeats"] = 2
    return exps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only this experiment (repeatable)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "eval")
    ap.add_argument("--repeats", type=int, help="override the number of repeats")
    ap.add_argument("--copies", help="override copies, e.g. 4,16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    exps = experiments(args.quick, args.out)
    names = args.only or list(exps)
    unknown = sorted(set(names) - set(exps))
    if unknown:
        ap.error(f"unknown experiment(s) {unknown}; choose from {sorted(exps)}")
    log = args.out / "bench_eval.jsonl"
    for name in names:
        opts = dict(exps[name])
        if args.repeats:
            opts["repeats"] = args.repeats
        if args.copies:
            opts["copies"] = args.copies
        cfg = EvalConfig(**opts, seed=args.seed, threads=args.threads, out=args.out / name)
        print(f"== {name}: sizes {cfg.train_sizes}, copies {cfg.copies}, {cfg.repeats} repeats, model {cfg.model}",
              flush=True)
        t0 = time.perf_counter()
        result = run_evaluation(cfg, progress=True)
        wall = time.perf_counter() - t0
        paths = write_report(result, cfg.out)
        print(format_summary(result))
        for line in result.verdict_lines():
            print("  " + line)
        per = result.timings["per_size_repeat"]
        print(f"  wall {wall:.1f} s; per (size x repeat): "
              + ", ".join(f"{p['size']}#{p['repeat']}={p['seconds']:.1f}s" for p in per))
        print(f"  report: {paths['html']}", flush=True)
        record = {
            "experiment": name,
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "quick": args.quick,
            "config": cfg.model_dump(mode="json"),
            "wall_seconds": round(wall, 2),
            "per_size_repeat_seconds": per,
            "summary": [{k: s[k] for k in ("size", "n", "copies", "verdict")}
                        | {"baseline_acc": s["metrics"]["accuracy"]["baseline"],
                           "augmented_acc": s["metrics"]["accuracy"]["augmented"],
                           "diff": s["metrics"]["accuracy"]["diff_mean"],
                           "bootstrap_ci": s["metrics"]["accuracy"]["bootstrap_ci"],
                           "t_ci": s["metrics"]["accuracy"]["t_ci"]} for s in result.summary],
            "versions": versions(),
        }
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
