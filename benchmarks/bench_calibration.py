"""Calibration of ``augment eval``'s verdict rule, measured (a script, not a test).

Each *trial* is one complete default evaluation (``--repeats auto``: sequential looks from 3 to 10 runs, alpha
0.05, margin 2 points) with its own seed, so the held-out split, the subsets, the model initialisation and the
augmentation draws all change from trial to trial. Over many trials we count how often the rule says "helps",
"hurts", "equivalent" or "undecided":

==================  ===========================================================  ===========================
case                pipeline                                                     expected
==================  ===========================================================  ===========================
identity            copies equal to their source, kept (not dropped) and the     helps + hurts <= 5%
                    "steps" budget, so the null is exactly true: the same data
                    and the same number of optimiser steps, only the shuffling
                    differs (with the default settings an identity pipeline is
                    "equivalent" at once, which would test nothing)
imperceptible       +-1 grey level of noise per pixel (sign_digits)              helps + hurts <= 5%
text-noop           a word op that changes nothing (copies kept, "steps")        helps + hurts <= 5%
destroy-image       cut-out of 90% of the image, filled with noise               hurts >= 90%
destroy-text        80% of the words replaced by random vocabulary words         hurts >= 90%
flip-crop           horizontal flip + random 28 px crop padded back (cifar10)    helps in most trials
==================  ===========================================================  ===========================

The model is deliberately fast so that hundreds of evaluations fit on two shared cores: softmax regression
trained by minibatch SGD in numpy (random initialisation, seeded shuffling, a fixed number of epochs over the
baseline's size), on hashed word uni+bigrams for text and, for images, on fixed random convolution features
(``FastConvFeatures``; ``--image-model softmax`` gives the first calibration's 16x16 grey pixels). It is stochastic
like the real benchmark models, so the null cases test the whole protocol (pairing, looks, the t interval),
not only the arithmetic. Images are read once, shrunk to 32x32 and written to a temporary folder, so that each
trial's data loading stays cheap.

Usage::

    python benchmarks/bench_calibration.py                  # every case, 100 trials each
    python benchmarks/bench_calibration.py --trials 20 --only identity --only destroy-image
    python benchmarks/bench_calibration.py --markdown out.md  # also write the table as Markdown
    python benchmarks/bench_calibration.py --image-model fast-conv --only identity --only imperceptible \
        --only flip-crop --only destroy-image     # the new default image model, as `augment eval` builds it

Trials run ``--workers`` at a time (default: every core) in forked processes, each trial one whole
evaluation with its own seed and one worker, so the counts do not depend on ``--workers``.

``benchmarks/run_all.py --calibration`` runs it and copies the table into ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))

from augment.evaluate import EvalConfig, FunctionAugmenter, run_evaluation  # noqa: E402
from augment.evaluate.base import ModelOutput, TrainSet  # noqa: E402
from augment.evaluate.verdict import EQUIVALENT, HELPS, HURTS  # noqa: E402


# ------------------------------------------------------------------------------------------- the fast model


class FastSoftmax:
    """Softmax regression by minibatch SGD: ``epochs`` passes over ``epoch_size`` examples (the protocol's
    budget), batch 32, learning rate decayed linearly to zero, small random initialisation from the seed."""

    name = "fast-softmax"
    needs_validation = False

    def __init__(self, modality: str, epochs: int = 15, lr: float = 0.5, l2: float = 1e-4) -> None:
        self.modality, self.epochs, self.lr, self.l2 = modality, epochs, lr, l2
        self._cache: dict[str, np.ndarray] = {}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "softmax regression, minibatch SGD (numpy)", "epochs": self.epochs,
                "lr": self.lr, "l2": self.l2,
                "features": "16x16 grey pixels" if self.modality == "image" else "hashed word 1-2-grams (2^14)"}

    def _features(self, items: Sequence[Any]):
        if self.modality == "image":
            out = np.empty((len(items), 256), dtype=np.float32)
            for i, x in enumerate(items):
                a = np.asarray(x, dtype=np.float32)
                a = a.mean(axis=2) if a.ndim == 3 else a
                h, w = a.shape
                a = a[: h - h % 16, : w - w % 16].reshape(16, (h - h % 16) // 16, 16, (w - w % 16) // 16).mean((1, 3))
                out[i] = a.ravel() / 127.5 - 1.0
            return out
        # hashed word 1-2-grams, cached per distinct text: the same sentences recur in every run of a trial
        import zlib

        from scipy.sparse import csr_matrix

        rows = []
        for t in items:
            feats = self._cache.get(t)
            if feats is None:
                words = t.lower().split()
                grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
                feats = np.unique(np.array([zlib.crc32(g.encode()) % 2**14 for g in grams] or [0], dtype=np.int64))
                self._cache[t] = feats
            rows.append(feats)
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        data = np.concatenate([np.full(len(r), 1 / math.sqrt(len(r)), np.float32) for r in rows]) if rows else \
            np.zeros(0, np.float32)
        return csr_matrix((data, indices, indptr), shape=(len(items), 2**14))

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        rng = np.random.default_rng(seed)
        x = self._features(train.items)
        y = np.asarray(train.labels)
        k = len(train.classes)
        w = (0.01 * rng.standard_normal((x.shape[1], k))).astype(np.float32)
        b = np.zeros(k, dtype=np.float32)
        n = x.shape[0]
        per_epoch = math.ceil(int(train.epoch_size or n) / 32)
        steps = self.epochs * per_epoch
        order = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * 32 / n) + 1)])
        for step in range(steps):
            idx = order[step * 32:(step + 1) * 32]
            xb = x[idx]
            logits = np.asarray(xb @ w) + b
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0
            lr = self.lr * (1 - step / steps)
            w -= lr * (np.asarray(xb.T @ p) / len(idx) + self.l2 * w)
            b -= lr * p.mean(axis=0)
        preds = np.asarray(self._features(test_items) @ w + b).argmax(axis=1)
        return ModelOutput(predictions=preds.astype(np.int64), info={"steps": steps})


class FastConvFeatures:
    """The built-in ``fast-conv`` model (:mod:`augment.evaluate.fast_model`, calibrated here first): softmax
    regression by SGD over fixed random conv features. Kept under this name for the calibration tables."""

    needs_validation = False

    def __init__(self, modality: str, epochs: int = 60, lr: float = 0.05, l2: float = 1e-4, filters: int = 64,
                 filter_seed: int = 123) -> None:
        from augment.evaluate.fast_model import FastConvModel, FastConvOptions

        self.modality = modality
        self._model = FastConvModel(FastConvOptions(epochs=epochs, lr=lr, l2=l2, filters=filters,
                                                    filter_seed=filter_seed))
        self.name = "fast-conv-features"

    def describe(self) -> dict[str, Any]:
        return {**self._model.describe(), "name": self.name}

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        return self._model.fit_predict(train, test_items, seed=seed, test_labels=test_labels)


# ------------------------------------------------------------------------------------------- pipelines


def identity(x: Any, seed: int) -> Any:
    return x.copy() if hasattr(x, "copy") else x


def imperceptible(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(x.astype(np.int16) + rng.integers(-1, 2, x.shape), 0, 255).astype(np.uint8)


def destroy_image(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = x.shape[:2]
    ch, cw = int(round(h * math.sqrt(0.9))), int(round(w * math.sqrt(0.9)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = x.copy()
    out[top:top + ch, left:left + cw] = rng.integers(0, 256, (ch, cw) + x.shape[2:], dtype=np.uint8)
    return out


def flip_crop(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = x[:, ::-1] if rng.random() < 0.5 else x
    h, w = out.shape[:2]
    c = max(4, int(round(0.875 * min(h, w))))
    top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
    crop = out[top:top + c, left:left + c]
    pad = [((h - c) // 2, h - c - (h - c) // 2), ((w - c) // 2, w - c - (w - c) // 2)] + [(0, 0)] * (x.ndim - 2)
    return np.ascontiguousarray(np.pad(crop, pad, mode="reflect"))


class WordScrambler:
    """Replace 80% of the words with words drawn from the training vocabulary (label information destroyed)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.vocabulary = vocabulary

    def __call__(self, text: str, seed: int) -> str:
        rng = np.random.default_rng(seed)
        words = text.split()
        return " ".join(self.vocabulary[int(rng.integers(len(self.vocabulary)))] if rng.random() < 0.8 else w
                        for w in words)


# ------------------------------------------------------------------------------------------- data


def shrink_images(src: Path, dst: Path, per_class: int, size: int = 32, seed: int = 0) -> Path:
    """A stratified subset of an image folder, resized to ``size`` px, so that each trial loads it quickly."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        files = sorted(cls.iterdir())
        chosen = rng.choice(len(files), size=min(per_class, len(files)), replace=False)
        (dst / cls.name).mkdir(parents=True, exist_ok=True)
        for i in sorted(chosen):
            with Image.open(files[i]) as im:
                im.convert("RGB").resize((size, size), Image.BILINEAR).save(dst / cls.name / f"{files[i].stem}.png")
    return dst


def cases(tmp: Path) -> dict[str, dict]:
    digits = shrink_images(SHARED / "images" / "sign_digits", tmp / "sign_digits", per_class=80)
    cifar_train = shrink_images(SHARED / "images" / "cifar10_small" / "train", tmp / "cifar_train", per_class=100)
    cifar_test = shrink_images(SHARED / "images" / "cifar10_small" / "test", tmp / "cifar_test", per_class=50)
    sst_train, sst_test = SHARED / "text" / "sst2" / "train.tsv", SHARED / "text" / "sst2" / "test.tsv"
    vocab = sorted({w for line in sst_train.read_text(encoding="utf-8").splitlines() for w in line.split("\t", 1)[-1].split()})
    null = dict(drop_unchanged_copies=False)
    return {
        "identity": dict(train=digits, sizes=[300], aug=FunctionAugmenter(identity, "image", "identity"),
                         extra=null, expect="helps+hurts <= 5%"),
        "imperceptible": dict(train=digits, sizes=[300], aug=FunctionAugmenter(imperceptible, "image", "+-1 grey"),
                              extra={}, expect="helps+hurts <= 5%"),
        "text-noop": dict(train=sst_train, test=sst_test, sizes=[500],
                          aug=FunctionAugmenter(identity, "text", "no-op word op"), extra=null,
                          expect="helps+hurts <= 5%"),
        "destroy-image": dict(train=digits, sizes=[300], aug=FunctionAugmenter(destroy_image, "image", "cutout 90%"),
                              extra={}, expect="hurts >= 90%"),
        "destroy-text": dict(train=sst_train, test=sst_test, sizes=[500],
                             aug=FunctionAugmenter(WordScrambler(vocab), "text", "80% random words"), extra={},
                             expect="hurts >= 90%"),
        "flip-crop": dict(train=cifar_train, test=cifar_test, sizes=[500],
                          aug=FunctionAugmenter(flip_crop, "image", "flip + crop"), extra={},
                          expect="helps in most trials"),
    }


# ------------------------------------------------------------------------------------------- the loop


_CASE: dict = {}  # the case the trial processes run: inherited through fork (its augmenters hold local functions)


def _trial(trial: int) -> tuple[str, int, float, float | None]:
    """One trial of ``_CASE``: (verdict, runs, mean difference, MDE)."""
    case = _CASE
    cfg = EvalConfig(train=case["train"], test=case.get("test"), train_sizes=case["sizes"], copies=[case["copies"]],
                     max_repeats=case["max_repeats"], seed=1000 + trial, n_samples=0, n_bootstrap=100,
                     budget=case["budget"], jobs=1, **({"model": case["model_name"]} if case["model_name"] else {}),
                     **case["extra"])
    res = run_evaluation(cfg, progress=False, augmenter=case["aug"], model=case["model"])
    (s,) = res.summary
    acc = s["metrics"]["accuracy"]
    return s["verdict"], s["repeats"], acc["diff_mean"], acc["mde"]


def run_case(name: str, case: dict, trials: int, copies: int, max_repeats: int, budget: str,
             image_model: str = "conv", text_model: str = "softmax", workers: int = 1) -> dict:
    """``trials`` evaluations of one case, ``workers`` at a time in forked processes (each trial is one process's
    whole evaluation with its own seed, so the counts do not depend on ``workers``)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    counts = {HELPS: 0, HURTS: 0, EQUIVALENT: 0, "undecided": 0}
    runs_used, diffs, mdes, t0 = [], [], [], time.perf_counter()
    modality = case["aug"].modality
    builtin = (image_model == "fast-conv") if modality == "image" else (text_model in ("ngram", "tfidf-logreg"))
    if builtin:  # the built-in default model, built by the evaluation exactly as `augment eval` builds it
        model, model_name = None, ("fast-conv" if modality == "image" else text_model)
    elif modality == "image" and image_model == "conv":
        model, model_name = FastConvFeatures(modality), None
    else:
        model, model_name = FastSoftmax(modality), None
    label = model_name if model is None else model.name
    _CASE.clear()
    _CASE.update(case, copies=copies, max_repeats=max_repeats, budget=budget, model=model, model_name=model_name)
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_trial, range(trials)))
    else:
        results = [_trial(t) for t in range(trials)]
    for verdict_, runs, diff, mde in results:
        counts[verdict_ if verdict_ in counts else "undecided"] += 1
        runs_used.append(runs)
        diffs.append(diff)
        if mde is not None:
            mdes.append(mde)
    return {"case": name, "pipeline": case["aug"].name, "model": label, "trials": trials,
            "expect": case["expect"], "copies": copies,
            "budget": budget, "workers": workers,
            "counts": counts, "mean_runs": float(np.mean(runs_used)), "mean_diff": float(np.mean(diffs)),
            "median_mde": float(np.median(mdes)) if mdes else None, "seconds": round(time.perf_counter() - t0, 1)}


def markdown(rows: list[dict], command: str) -> str:
    out = ["## Calibration of the eval verdict rule", "",
           f"Command: `{command}`. Each trial is one default adaptive evaluation (alpha 0.05, looks at 3..10 runs, "
           f"margin 2 points) with its own seed, {rows[0]['copies'] if rows else '?'} copies per example, budget "
           f"'{rows[0]['budget'] if rows else '?'}'; fast models: softmax regression by SGD over hashed n-grams "
           "(text) and over fixed random conv features (images; see the script). "
           "Rates are over trials.", "",
           "| case | pipeline | model | trials | helps | hurts | equivalent | undecided | expected | met | mean runs "
           "| mean diff (points) | median MDE (points) | seconds |", "|---" * 14 + "|"]
    for r in rows:
        c, n = r["counts"], r["trials"]
        rate = {k: v / n for k, v in c.items()}
        if r["expect"].startswith("helps+hurts"):
            met = rate[HELPS] + rate[HURTS] <= 0.05
        elif r["expect"].startswith("hurts"):
            met = rate[HURTS] >= 0.9
        else:
            met = rate[HELPS] > 0.5
        mde = "–" if r["median_mde"] is None else f"{100 * r['median_mde']:.1f}"
        out.append(f"| {r['case']} | {r['pipeline']} | {r.get('model', 'fast-softmax')} | {n} | {rate[HELPS]:.0%} | {rate[HURTS]:.0%} | "
                   f"{rate[EQUIVALENT]:.0%} | {rate['undecided']:.0%} | {r['expect']} | {'yes' if met else 'NO'} | "
                   f"{r['mean_runs']:.1f} | {100 * r['mean_diff']:+.2f} | {mde} | {r['seconds']:.0f} |")
    return "\n".join(out) + "\n"


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100, help="trials of the null cases (the <= 5% bounds)")
    ap.add_argument("--effect-trials", type=int, default=20, help="trials of the destroy and flip-crop cases")
    ap.add_argument("--only", action="append")
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--budget", choices=["steps", "epochs"], default="steps",
                    help="steps (default here): both arms take the same optimiser steps, so a case measures the "
                         "data, not a longer training run")
    ap.add_argument("--max-repeats", type=int, default=10)
    ap.add_argument("--image-model", choices=["conv", "softmax", "fast-conv"], default="conv",
                    help="model of the image cases: random conv features + softmax (default), softmax over 16x16 "
                         "grey pixels (the first calibration's model), or fast-conv: the built-in default image "
                         "model of `augment eval` on a CPU, built by the evaluation itself")
    ap.add_argument("--text-model", choices=["softmax", "ngram", "tfidf-logreg"], default="softmax",
                    help="model of the text cases: the script's hashed n-gram softmax (default), or a built-in "
                         "text model of `augment eval`: ngram (its default without a time budget) or "
                         "tfidf-logreg (its default under one)")
    ap.add_argument("--workers", type=int, default=_cores(),
                    help="trials run at once in forked processes (default: every core); counts do not depend on it")
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    ap.add_argument("--jsonl", type=Path, default=ROOT / "benchmarks" / "out" / "calibration.jsonl")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="augment-calibration-") as tmp:
        all_cases = cases(Path(tmp))
        names = args.only or list(all_cases)
        for name in names:
            trials = args.trials if all_cases[name]["expect"].startswith("helps+hurts") else args.effect_trials
            row = run_case(name, all_cases[name], trials, args.copies, args.max_repeats, args.budget,
                           args.image_model, args.text_model, max(1, args.workers))
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.jsonl.parent.mkdir(parents=True, exist_ok=True)
            with open(args.jsonl, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
    command = "python benchmarks/bench_calibration.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(rows, command.strip())
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
