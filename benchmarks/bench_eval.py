"""Evidence and timing for ``augment eval`` (a script, not a test).

The evidence table of issue 11, with the default protocol (adaptive repeats, the sequential paired t rule,
alpha 0.05, margin 2 points, fixed training budget with a cosine learning rate, the default model):

* ``sign-digits-hflip``  horizontal flips on shared/datasets/images/sign_digits, held-out split, 300 images;
* ``cifar10-flipcrop``   horizontal flip + a random 4-px shift (the standard CIFAR "flip and crop": pad by 4,
                         crop back) on cifar10_small (train/test given), 500 images; ``cifar10-flipcrop-1500``
                         the same at 1500;
* ``sst2-eda``           pipelines/eda.yaml on SST-2 (train/test given), 500 sentences (EDA paper: about +3 points
                         averaged over five datasets at 500 sentences); ``sst2-eda-2000`` the same at 2000;
* ``digits-vflip``       a vertical flip on samples/digits: should hurt.

The text ops of issue 24 on SST-2 at 500 sentences, 4 copies (``--model`` picks the model, ``--jobs`` the fits
at once; give each a ``--time-budget``):

* ``sst2-eda-context``   EDA with the tagger (``context: true``, the default); ``sst2-eda-nocontext`` without it;
* ``sst2-spelling``      ``spelling_error`` at rate 0.1.

Usage::

    python benchmarks/bench_eval.py                                   # everything, full sizes
    python benchmarks/bench_eval.py --short                           # no second sizes (1500, 2000)
    python benchmarks/bench_eval.py --only sst2-eda --time-budget 300 --markdown table.md
    python benchmarks/bench_eval.py --text-ops --model tfidf-logreg --jobs 1 --time-budget 200

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

HFLIP_SPEC = """\
version: 1
name: horizontal-flip
modality: image
steps:
  - op: horizontal_flip
    p: 0.5
"""

FLIPCROP_SPEC = """\
version: 1
name: flip-crop
description: the standard CIFAR recipe -- mirror, then a random crop of the image padded by 4 px (a shift)
modality: image
steps:
  - op: horizontal_flip
    p: 0.5
  - op: affine
    params: {translate: [-0.125, 0.125], border: reflect, interpolation: nearest}
"""


def _text_spec(name: str, op: str, params: dict) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in params.items())
    return f"version: 1\nname: {name}\nmodality: text\nseed: 13\ncopies: 4\nsteps:\n  - op: {op}\n    params: {{{body}}}\n"


EDA_PARAMS = {"alpha_sr": 0.1, "alpha_ri": 0.1, "alpha_rs": 0.1, "p_rd": 0.1}  # as pipelines/eda.yaml
TEXT_OPS = ("sst2-eda-context", "sst2-eda-nocontext", "sst2-spelling")


def experiments(short: bool, out: Path) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    specs = {}
    for name, text in (("vertical_flip", VFLIP_SPEC), ("horizontal_flip", HFLIP_SPEC), ("flip_crop", FLIPCROP_SPEC),
                       ("eda_context", _text_spec("eda-context", "eda", {**EDA_PARAMS, "context": "true"})),
                       ("eda_nocontext", _text_spec("eda-nocontext", "eda", {**EDA_PARAMS, "context": "false"})),
                       ("spelling", _text_spec("spelling", "spelling_error", {"rate": 0.1}))):
        specs[name] = out / f"{name}.yaml"
        specs[name].write_text(text)
    exps = {
        "sign-digits-hflip": dict(pipeline=specs["horizontal_flip"], train=SHARED / "images" / "sign_digits",
                                  train_sizes=[300], copies=[1]),
        "cifar10-flipcrop": dict(pipeline=specs["flip_crop"], train=SHARED / "images" / "cifar10_small" / "train",
                                 test=SHARED / "images" / "cifar10_small" / "test", train_sizes=[500],
                                 copies=[1]),
        "cifar10-flipcrop-1500": dict(pipeline=specs["flip_crop"],
                                      train=SHARED / "images" / "cifar10_small" / "train",
                                      test=SHARED / "images" / "cifar10_small" / "test", train_sizes=[1500],
                                      copies=[1]),
        "sst2-eda": dict(pipeline=ROOT / "pipelines" / "eda.yaml", train=SHARED / "text" / "sst2" / "train.tsv",
                         test=SHARED / "text" / "sst2" / "test.tsv", train_sizes=[500], copies=[4]),
        "sst2-eda-2000": dict(pipeline=ROOT / "pipelines" / "eda.yaml", train=SHARED / "text" / "sst2" / "train.tsv",
                              test=SHARED / "text" / "sst2" / "test.tsv", train_sizes=[2000], copies=[4]),
        **{name: dict(pipeline=specs[spec], train=SHARED / "text" / "sst2" / "train.tsv",
                      test=SHARED / "text" / "sst2" / "test.tsv", train_sizes=[500], copies=[4])
           for name, spec in zip(TEXT_OPS, ("eda_context", "eda_nocontext", "spelling"))},
        "digits-vflip": dict(pipeline=specs["vertical_flip"], train=ROOT / "samples" / "digits",
                             train_sizes=["full"], copies=[1]),
    }
    if short:
        exps = {k: v for k, v in exps.items() if k not in ("cifar10-flipcrop-1500", "sst2-eda-2000")}
    return exps


def _mde(value: float | None) -> str:
    return "–" if value is None else f"±{100 * value:.1f}"


def markdown(rows: list[dict]) -> str:
    out = ["| experiment | size | arm | verdict | diff (points) | interval | MDE (80%) | runs | stop | wall s |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = r["ci"]
        out.append(f"| {r['experiment']} | {r['n']} | {r['arm']} | {r['verdict']} | {100 * r['diff']:+.1f} | "
                   + (f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "–")
                   + f" | {_mde(r['mde'])} | "
                   f"{r['runs']} | {r['stop']} | {r['wall']:.0f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only this experiment (repeatable)")
    ap.add_argument("--short", action="store_true", help="leave out the larger sizes (cifar10 at 1500, SST-2 at 2000)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "eval")
    ap.add_argument("--time-budget", type=float, default=540, help="seconds per experiment (as augment eval)")
    ap.add_argument("--max-repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", type=Path, help="append the evidence table here")
    ap.add_argument("--text-ops", action="store_true", help=f"run the text-op experiments ({', '.join(TEXT_OPS)})")
    ap.add_argument("--model", default="auto", help="benchmark model (as augment eval --model)")
    ap.add_argument("--jobs", type=int, help="fits at once (as augment eval --jobs; default every core)")
    args = ap.parse_args(argv)

    exps = experiments(args.short, args.out)
    names = args.only or (list(TEXT_OPS) if args.text_ops else [n for n in exps if n not in TEXT_OPS])
    unknown = sorted(set(names) - set(exps))
    if unknown:
        ap.error(f"unknown experiment(s) {unknown}; choose from {sorted(exps)}")
    log = args.out / "bench_eval.jsonl"
    table = []
    for name in names:
        label = name if args.model == "auto" else f"{name}-{args.model}"
        cfg = EvalConfig(**exps[name], seed=args.seed, threads=args.threads, out=args.out / label,
                         time_budget=args.time_budget, max_repeats=args.max_repeats, n_samples=4,
                         model=args.model, jobs=args.jobs)
        print(f"== {name}: sizes {cfg.train_sizes}, copies {cfg.copies}, repeats {cfg.repeats}, model {cfg.model}",
              flush=True)
        t0 = time.perf_counter()
        result = run_evaluation(cfg, progress=False)
        wall = time.perf_counter() - t0
        paths = write_report(result, cfg.out)
        print(format_summary(result))
        for line in result.verdict_lines():
            print("  " + line)
        print(f"  wall {wall:.1f} s; report: {paths['html']}", flush=True)
        stopping = result.protocol["stopping"]
        for s in result.summary:
            acc = s["metrics"]["accuracy"]
            table.append({"experiment": label, "n": s["n"], "arm": s["arm"], "verdict": s["verdict"],
                          "diff": acc["diff_mean"], "ci": acc["ci"], "mde": acc["mde"], "runs": s["repeats"],
                          "stop": stopping[s["size"]]["reason"], "wall": stopping[s["size"]]["seconds"]})
        record = {
            "experiment": label,
            "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": cfg.model_dump(mode="json"),
            "wall_seconds": round(wall, 2),
            "model": result.model,
            "stopping": stopping,
            "summary": [{k: s[k] for k in ("size", "n", "arm", "verdict", "repeats", "decision")}
                        | {"baseline_acc": s["metrics"]["accuracy"]["baseline"],
                           "augmented_acc": s["metrics"]["accuracy"]["augmented"],
                           "diff": s["metrics"]["accuracy"]["diff_mean"], "variance": s["variance"]}
                        for s in result.summary],
            "versions": versions(),
        }
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
    text = markdown(table)
    print(text)
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
