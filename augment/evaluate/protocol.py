"""The experiment loop behind ``augment eval``: does this pipeline help a model learn this data?

For each training size and repeat::

    subset      stratified draw from the training pool (own seed)
    validation  stratified slice of the subset (own seed), originals only, if the model early-stops
    fit part    subset minus the validation slice
    copies      max(copies) augmented copies of every fit example (seed of copy c of example `id`:
                derive_seed(augment_seed, id, c)); arm "copies=k" uses copies 0..k-1, so arms are nested
    baseline    train on the fit part                         } same model seed, same validation slice,
    augmented   train on the fit part + its copies, per k     } same budget rule, same held-out test set

Data hygiene: the held-out set is split off once (stratified, fixed seed) when no test set is given; training
examples whose content exactly equals a held-out example are dropped before anything else (and counted);
only training examples are ever augmented; an augmented copy whose content equals a held-out example is
dropped too, and a copy identical to its source (nothing changed) is dropped by default, because it is not a
new example but a duplicate that only adds optimiser steps. Consequently an empty/identity pipeline yields an
augmented arm identical to the baseline; its results are then taken from the baseline run (flagged
``reused_baseline``) and the difference is exactly zero.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence, Union, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import stats
from .data import LabelledData, align_classes, content_hash, load_dataset, overlap_indices, stratified_split, stratified_subset
from .models import BenchmarkModel, TrainSet, make_model

__all__ = [
    "SizeSpec",
    "EvalConfig",
    "Augmenter",
    "FunctionAugmenter",
    "PipelineAugmenter",
    "load_augmenter",
    "EvalResult",
    "versions",
    "run_evaluation",
    "summarise",
    "make_samples",
]

SizeSpec = Union[int, Literal["full"]]


# --------------------------------------------------------------------------------------------- config


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (int,)):
        return [value]
    return value


class EvalConfig(BaseModel):
    """Options of ``augment eval`` (one field per CLI option). Lists also accept "100,500,full" strings."""

    model_config = ConfigDict(extra="forbid")

    pipeline: Path | None = Field(None, description="pipeline spec file (YAML/JSON)")
    train: Path = Field(..., description="training data: image folder or label<TAB>text file")
    test: Path | None = Field(None, description="held-out data; if absent, TRAIN is split once")
    train_sizes: list[SizeSpec] = Field(default_factory=lambda: [100, 500, "full"])
    copies: list[int] = Field(default_factory=lambda: [1, 4])
    repeats: int = Field(5, ge=1, le=1000)
    model: str = Field("auto", description="auto | cnn | ngram | tfidf-logreg | module:function")
    model_options: dict[str, Any] = Field(default_factory=dict)
    out: Path | None = Field(None, description="report directory (write_report)")
    seed: int = Field(0, ge=0, lt=2**63)
    quiet: bool = False
    budget: Literal["epochs", "steps"] = Field(
        "epochs", description="epochs: same number of epochs over the larger augmented set (EDA paper); "
                              "steps: same number of optimiser steps as the baseline")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out fraction when no test set is given")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="validation slice of each subset (early stopping)")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_bootstrap: int = Field(2000, ge=100)
    threads: int = Field(1, ge=1, description="torch threads per training run: 1 is as fast for these small "
                                                "models and far more robust when the CPU is shared")
    drop_unchanged_copies: bool = True
    n_samples: int = Field(8, ge=0, le=64, description="examples shown in the report")

    @field_validator("train_sizes", mode="before")
    @classmethod
    def _sizes(cls, v: Any) -> Any:
        out = []
        for s in _split_csv(v):
            if isinstance(s, str):
                s = s.strip().lower()
                if s == "full":
                    out.append("full")
                    continue
                if not s.isdigit():
                    raise ValueError(f"train size {s!r} is neither a positive integer nor 'full'")
                s = int(s)
            if isinstance(s, bool) or not isinstance(s, int) or s < 1:
                raise ValueError(f"train size {s!r} must be a positive integer or 'full'")
            out.append(s)
        if not out:
            raise ValueError("at least one train size is needed")
        if len(set(out)) != len(out):
            raise ValueError(f"train sizes repeat: {out}")
        return sorted(out, key=lambda s: (s == "full", s if s != "full" else 0))

    @field_validator("copies", mode="before")
    @classmethod
    def _copies(cls, v: Any) -> Any:
        out = []
        for c in _split_csv(v):
            if isinstance(c, str):
                if not c.strip().isdigit():
                    raise ValueError(f"copies {c!r} must be a positive integer")
                c = int(c)
            if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                raise ValueError(f"copies {c!r} must be a positive integer")
            out.append(c)
        if not out:
            raise ValueError("at least one copies value is needed")
        if len(set(out)) != len(out):
            raise ValueError(f"copies values repeat: {out}")
        return sorted(out)


# --------------------------------------------------------------------------------------------- augmenters


@runtime_checkable
class Augmenter(Protocol):
    """What the protocol needs from a pipeline: ``augmenter(items, seeds) -> outputs``, one per item."""

    modality: str

    def __call__(self, items: Sequence[Any], seeds: Sequence[int]) -> list[Any]: ...


class FunctionAugmenter:
    """Wrap ``fn(item, seed) -> item`` (handy for tests and quick experiments)."""

    def __init__(self, fn: Callable[[Any, int], Any], modality: str, name: str = "function") -> None:
        self.fn, self.modality, self.name = fn, modality, name
        self.spec: dict | None = {"name": name, "modality": modality, "kind": "python function"}
        self.spec_hash: str | None = None

    def __call__(self, items: Sequence[Any], seeds: Sequence[int]) -> list[Any]:
        return [self.fn(x, int(s)) for x, s in zip(items, seeds)]


class PipelineAugmenter:
    """Adapter for a compiled :class:`augment.compile.pipeline.Pipeline`."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.modality = pipeline.spec.modality
        self.name = getattr(pipeline.spec, "name", "pipeline")
        self.spec = pipeline.spec.model_dump()
        self.spec_hash = pipeline.spec_hash

    def __call__(self, items: Sequence[Any], seeds: Sequence[int]) -> list[Any]:
        if self.modality == "text":
            return list(self.pipeline.batch(list(items), [int(s) for s in seeds]))
        return [self.pipeline(x, seed=int(s)) for x, s in zip(items, seeds)]

    def applied_ops(self, items: Sequence[Any], seeds: Sequence[int]) -> list[list[str]]:
        """Names of the ops applied to each output (for the report's sample list)."""
        if self.modality == "text":
            results = self.pipeline.run_batch(list(items), [int(s) for s in seeds])
        else:
            results = [self.pipeline.run(x, seed=int(s)) for x, s in zip(items, seeds)]
        return [[a.get("op", "?") for a in r.applied] for r in results]


def load_augmenter(path: str | Path) -> PipelineAugmenter:
    import augment

    loader = getattr(augment, "load_pipeline", None)
    if loader is None:  # before the package exports it
        from augment.compile.pipeline import Pipeline

        loader = Pipeline.from_file
    return PipelineAugmenter(loader(path))


# --------------------------------------------------------------------------------------------- seeds


def _derive(seed: int, key: str, index: int = 0) -> int:
    from augment.seeding import derive_seed

    return derive_seed(seed, key, index)


# --------------------------------------------------------------------------------------------- result


@dataclass
class EvalResult:
    """Everything an evaluation produced. ``to_dict()`` is what report.json holds; the arrays (test labels,
    predictions, sample images) stay in memory for the HTML report."""

    config: dict
    modality: str
    classes: list[str]
    pipeline: dict
    model: dict
    data: dict
    protocol: dict
    runs: list[dict]
    summary: list[dict]
    per_class: list[dict]
    samples: list[dict]
    timings: dict
    versions: dict
    y_test: np.ndarray | None = field(default=None, repr=False)
    predictions: dict = field(default_factory=dict, repr=False)  # (size_label, repeat, arm) -> array

    def to_dict(self) -> dict:
        return {
            "format": "augment-eval-report",
            "format_version": 1,
            "config": self.config,
            "modality": self.modality,
            "classes": self.classes,
            "pipeline": self.pipeline,
            "model": self.model,
            "data": self.data,
            "protocol": self.protocol,
            "summary": self.summary,
            "per_class": self.per_class,
            "runs": self.runs,
            "samples": [_sample_json(s) for s in self.samples],
            "timings": self.timings,
            "versions": self.versions,
        }

    def verdict_lines(self) -> list[str]:
        return [s["sentence"] for s in self.summary]


def _sample_json(sample: dict) -> dict:
    out = {k: v for k, v in sample.items() if k not in ("original", "copies")}
    if isinstance(sample.get("original"), str):
        out["original"] = sample["original"]
        out["copies"] = sample["copies"]
    return out


def versions() -> dict:
    import sklearn
    import torch

    from augment._version import __version__

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "augment": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
    }


# --------------------------------------------------------------------------------------------- the loop


def _resolve_sizes(sizes: Sequence[SizeSpec], pool: int) -> list[tuple[str, int]]:
    out = []
    for s in sizes:
        if s == "full":
            out.append(("full", pool))
        else:
            if s > pool:
                raise ValueError(f"train size {s} exceeds the {pool} training examples available "
                                 f"(after the held-out split and duplicate removal); use 'full' or a smaller size")
            out.append((str(s), int(s)))
    return out


def _arm_name(k: int) -> str:
    return "baseline" if k == 0 else f"copies={k}"


def _metrics_of(output, y_test: np.ndarray, classes: list[str]) -> dict:
    if output.predictions is not None:
        return stats.classification_metrics(y_test, output.predictions, classes)
    return dict(output.metrics)


def run_evaluation(config: EvalConfig, progress: bool = True, *, augmenter: Augmenter | None = None,
                   model: BenchmarkModel | None = None) -> EvalResult:
    """Run the protocol described in the module docstring and return its result (write it with
    :func:`augment.evaluate.write_report`). ``augmenter``/``model`` override ``config.pipeline``/``config.model``
    (for tests and library use)."""
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    if augmenter is None:
        if config.pipeline is None:
            raise ValueError("no pipeline given")
        augmenter = load_augmenter(config.pipeline)

    # ---- data ------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    full_train = load_dataset(config.train)
    if full_train.modality != augmenter.modality:
        raise ValueError(f"the pipeline is for {augmenter.modality} but {config.train} holds {full_train.modality} data")
    split_seed = _derive(config.seed, "eval/split")
    if config.test is not None:
        test = load_dataset(config.test)
        if test.modality != full_train.modality:
            raise ValueError(f"{config.test} holds {test.modality} data but {config.train} holds {full_train.modality}")
        full_train, test = align_classes(full_train, test)
        pool = full_train
        split = {"kind": "given", "train": str(config.train), "test": str(config.test)}
    else:
        rest, held = stratified_split(full_train.labels, config.test_fraction, split_seed)
        pool, test = full_train.subset(rest), full_train.subset(held)
        split = {"kind": "held-out split of TRAIN", "train": str(config.train), "fraction": config.test_fraction,
                 "seed": split_seed, "stratified": True, "test_ids": test.ids}
    n_pool_before = len(pool)
    dup_idx = overlap_indices(pool.hashes, test.hashes)
    if len(dup_idx):
        keep = np.setdiff1d(np.arange(len(pool)), dup_idx)
        dropped_ids = [pool.ids[i] for i in dup_idx]
        pool = pool.subset(keep)
    else:
        dropped_ids = []
    test_hash_set = set(test.hashes)
    within_train_dups = len(pool.hashes) - len(set(pool.hashes))
    classes = pool.classes
    y_test = test.labels
    load_seconds = time.perf_counter() - t0
    data_info = {
        "modality": pool.modality,
        "classes": classes,
        "split": split,
        "train_pool": {"n": len(pool), "class_counts": pool.class_counts()},
        "test": {"n": len(test), "class_counts": test.class_counts()},
        "overlap": {
            "method": "exact content hash (SHA-256 of decoded pixels, or of the stripped text)",
            "train_examples_equal_to_test": int(len(dup_idx)),
            "dropped_from_training": int(len(dup_idx)),
            "dropped_ids": dropped_ids[:200],
            "train_pool_before": n_pool_before,
            "duplicates_within_training_pool": int(within_train_dups),
        },
    }
    if not len(test):
        raise ValueError("the held-out set is empty")

    # ---- model, sizes ----------------------------------------------------------------------------------
    if model is None:
        model = make_model(config.model, pool.modality, config.model_options, threads=config.threads)
    sizes = _resolve_sizes(config.train_sizes, len(pool))
    copies = list(config.copies)
    k_max = max(copies)
    arms = [0] + copies
    protocol_info = {
        "budget": config.budget,
        "budget_rule": ("same number of epochs over each arm's own training set (the augmented arm takes more "
                        "optimiser steps), as in the EDA paper" if config.budget == "epochs" else
                        "same number of optimiser steps: one epoch of every arm counts as many examples as the "
                        "baseline's training set"),
        "validation": (f"stratified {config.val_fraction:.0%} slice of each training subset, originals only, "
                       "used for early stopping, same for both arms") if model.needs_validation else
                      "none (the model does not early-stop)",
        "drop_unchanged_copies": config.drop_unchanged_copies,
        "copies_matching_test_dropped": True,
        "sizes": [{"label": lab, "n": n} for lab, n in sizes],
        "copies": copies,
        "repeats": config.repeats,
        "seeding": "every seed is augment.seeding.derive_seed(config.seed, key, index) with keys "
                   "eval/split, eval/subset/<size>, eval/val/<size>, eval/model/<size>, eval/augment/<size> "
                   "(index = repeat); copy c of example <id>: derive_seed(augment seed, <id>, c)",
        "statistics": {
            "confidence": config.confidence,
            "n_bootstrap": config.n_bootstrap,
            "interval_methods": ["two-level paired bootstrap (repeats x test examples), percentile",
                                 "paired t over repeats"],
            "verdict_rule": "helps: both intervals of the accuracy difference above 0; hurts: both below 0; "
                            "otherwise no detectable effect",
        },
    }

    # ---- runs ------------------------------------------------------------------------------------------
    runs: list[dict] = []
    predictions: dict = {}
    per_cell_seconds: list[dict] = []
    total = len(sizes) * config.repeats * len(arms)
    bar = tqdm(total=total, desc="augment eval", unit="run", disable=(not progress) or config.quiet,
               dynamic_ncols=True, leave=False)
    try:
        for label, n in sizes:
            for rep in range(config.repeats):
                t_cell = time.perf_counter()
                s_subset = _derive(config.seed, f"eval/subset/{label}", rep)
                s_val = _derive(config.seed, f"eval/val/{label}", rep)
                s_model = _derive(config.seed, f"eval/model/{label}", rep)
                s_aug = _derive(config.seed, f"eval/augment/{label}", rep)
                idx = np.arange(len(pool)) if n == len(pool) else stratified_subset(pool.labels, n, s_subset)
                sub = pool.subset(idx)
                if model.needs_validation and len(sub) >= 4:
                    fit_idx, val_idx = stratified_split(sub.labels, config.val_fraction, s_val)
                else:
                    fit_idx, val_idx = np.arange(len(sub)), np.zeros(0, dtype=np.int64)
                fit, val = sub.subset(fit_idx), sub.subset(val_idx)

                # augmented copies of the fit part only, copy-major: outputs[c][i]
                t_aug = time.perf_counter()
                src_items = [x for _ in range(k_max) for x in fit.items]
                src_seeds = [augment_seed for c in range(k_max) for augment_seed in
                             (_derive(s_aug, fid, c) for fid in fit.ids)]
                flat = augmenter(src_items, src_seeds)
                if len(flat) != len(src_items):
                    raise ValueError(f"augmenter returned {len(flat)} outputs for {len(src_items)} inputs")
                outputs = [flat[c * len(fit):(c + 1) * len(fit)] for c in range(k_max)]
                out_hashes = [[content_hash(x) for x in outs] for outs in outputs]
                unchanged = [[h == fit.hashes[i] for i, h in enumerate(hs)] for hs in out_hashes]
                leaks = [[h in test_hash_set for h in hs] for hs in out_hashes]
                augment_seconds = time.perf_counter() - t_aug

                base_train = None
                for k in arms:
                    t_run = time.perf_counter()
                    items, labels, n_unchanged, n_leak = list(fit.items), [fit.labels], 0, 0
                    for c in range(k):
                        keep = []
                        for i in range(len(fit)):
                            if leaks[c][i]:
                                n_leak += 1
                            elif unchanged[c][i] and config.drop_unchanged_copies:
                                n_unchanged += 1
                            else:
                                keep.append(i)
                        items.extend(outputs[c][i] for i in keep)
                        labels.append(fit.labels[keep])
                    y_train = np.concatenate(labels).astype(np.int64)
                    n_added = len(items) - len(fit)
                    record = {
                        "size": label, "n_subset": len(sub), "repeat": rep, "arm": _arm_name(k), "copies": k,
                        "seeds": {"subset": s_subset, "validation": s_val, "model": s_model, "augment": s_aug},
                        "n_train": len(items), "n_val": len(val), "n_copies_added": n_added,
                        "n_copies_unchanged_dropped": n_unchanged, "n_copies_matching_test_dropped": n_leak,
                        "epoch_size": len(fit) if config.budget == "steps" else len(items),
                    }
                    if k > 0 and n_added == 0 and base_train is not None:
                        output = base_train
                        record["reused_baseline"] = True
                    else:
                        ts = TrainSet(items, y_train, list(val.items), val.labels, classes,
                                      is_copy=np.arange(len(items)) >= len(fit),
                                      epoch_size=len(fit) if config.budget == "steps" else None,
                                      base_size=len(fit))
                        output = model.fit_predict(ts, test.items, seed=s_model, test_labels=y_test)
                        record["reused_baseline"] = False
                    if k == 0:
                        base_train = output
                    metrics = _metrics_of(output, y_test, classes)
                    record["metrics"] = metrics
                    record["model_info"] = output.info
                    record["timings"] = {"augment_seconds": round(augment_seconds, 4) if k else 0.0,
                                         "train_predict_seconds": round(time.perf_counter() - t_run, 4)}
                    runs.append(record)
                    if output.predictions is not None:
                        predictions[(label, rep, _arm_name(k))] = np.asarray(output.predictions)
                    bar.update(1)
                    bar.set_postfix_str(f"size={label} rep={rep} {_arm_name(k)} "
                                        f"acc={metrics.get('accuracy', float('nan')):.3f}")
                per_cell_seconds.append({"size": label, "repeat": rep,
                                         "seconds": round(time.perf_counter() - t_cell, 3),
                                         "augment_seconds": round(augment_seconds, 3)})
    finally:
        bar.close()

    # ---- statistics --------------------------------------------------------------------------------------
    summary, per_class = summarise(runs, predictions, y_test, classes, sizes, copies, config)

    # ---- samples for the report ---------------------------------------------------------------------------
    samples = make_samples(augmenter, pool, config)

    wall = time.perf_counter() - t_start
    return EvalResult(
        config=config.model_dump(mode="json"),
        modality=pool.modality,
        classes=classes,
        pipeline={"name": getattr(augmenter, "name", "pipeline"), "spec": getattr(augmenter, "spec", None),
                  "spec_hash": getattr(augmenter, "spec_hash", None),
                  "path": str(config.pipeline) if config.pipeline else None},
        model=model.describe(),
        data=data_info,
        protocol=protocol_info,
        runs=runs,
        summary=summary,
        per_class=per_class,
        samples=samples,
        timings={"wall_seconds": round(wall, 3), "load_seconds": round(load_seconds, 3),
                 "per_size_repeat": per_cell_seconds},
        versions=versions(),
        y_test=y_test,
        predictions=predictions,
    )


def _pct(x: float) -> str:
    return f"{100 * x:+.1f}"


def summarise(runs: list[dict], predictions: dict, y_test: np.ndarray, classes: list[str],
              sizes: list[tuple[str, int]], copies: list[int], config: EvalConfig) -> tuple[list[dict], list[dict]]:
    """Per (size, copies): mean ± std per arm, paired differences with intervals, verdict; per-class changes."""
    by_key = {(r["size"], r["repeat"], r["arm"]): r for r in runs}
    summary, per_class = [], []
    for label, n in sizes:
        reps = sorted({r["repeat"] for r in runs if r["size"] == label})
        base_runs = [by_key[(label, i, "baseline")] for i in reps]
        for k in copies:
            arm = _arm_name(k)
            aug_runs = [by_key[(label, i, arm)] for i in reps]
            have_preds = all((label, i, a) in predictions for i in reps for a in ("baseline", arm))
            boot_seed = _derive(config.seed, f"eval/bootstrap/{label}/{arm}")
            if have_preds:
                ci = stats.paired_bootstrap(
                    y_test, np.stack([predictions[(label, i, "baseline")] for i in reps]),
                    np.stack([predictions[(label, i, arm)] for i in reps]), len(classes),
                    n_boot=config.n_bootstrap, seed=boot_seed, confidence=config.confidence)
            else:
                ci = {}
            comps = {}
            for metric in ("accuracy", "macro_f1"):
                b = [r["metrics"].get(metric) for r in base_runs]
                a = [r["metrics"].get(metric) for r in aug_runs]
                if any(v is None for v in b + a):
                    continue
                boot = ci.get(metric)
                if boot is None:
                    boot = stats.repeat_bootstrap(np.subtract(a, b), n_boot=config.n_bootstrap, seed=boot_seed,
                                                  confidence=config.confidence)
                comps[metric] = stats.compare(metric, b, a, boot, config.confidence)
            acc = comps["accuracy"]
            lo, hi = acc.bootstrap_ci
            sentence = (f"With {'all ' if label == 'full' else ''}{n} training examples, adding {k} augmented "
                        f"cop{'y' if k == 1 else 'ies'} per example changed accuracy by {_pct(acc.diff_mean)} points "
                        f"({100 * acc.baseline['mean']:.1f}% -> {100 * acc.augmented['mean']:.1f}%; "
                        f"{config.confidence:.0%} CI {_pct(lo)} to {_pct(hi)}"
                        + (f", t interval {_pct(acc.t_ci[0])} to {_pct(acc.t_ci[1])}" if acc.t_ci else "")
                        + f"): {acc.verdict}.")
            summary.append({
                "size": label, "n": n, "copies": k, "arm": arm, "repeats": len(reps),
                "verdict": acc.verdict, "sentence": sentence,
                "metrics": {m: c.to_dict() for m, c in comps.items()},
                "reused_baseline_runs": sum(bool(r.get("reused_baseline")) for r in aug_runs),
            })
            # per-class recall / F1 change, averaged over repeats
            if all("per_class" in r["metrics"] for r in base_runs + aug_runs):
                rows = []
                for cname in classes:
                    row = {"class": cname, "support": base_runs[0]["metrics"]["per_class"][cname]["support"]}
                    for m in ("recall", "f1"):
                        bv = np.mean([r["metrics"]["per_class"][cname][m] for r in base_runs])
                        av = np.mean([r["metrics"]["per_class"][cname][m] for r in aug_runs])
                        row[f"baseline_{m}"] = float(bv)
                        row[f"augmented_{m}"] = float(av)
                        row[f"diff_{m}"] = float(av - bv)
                    rows.append(row)
                per_class.append({"size": label, "n": n, "copies": k, "arm": arm, "classes": rows})
    return summary, per_class


def make_samples(augmenter: Augmenter, pool: LabelledData, config: EvalConfig) -> list[dict]:
    """A few training examples (spread over the classes) beside augmented copies, for the report."""
    if config.n_samples == 0 or not len(pool):
        return []
    rng = np.random.default_rng(_derive(config.seed, "eval/samples"))
    by_class = [list(rng.permutation(np.flatnonzero(pool.labels == c))) for c in range(len(pool.classes))]
    chosen: list[int] = []
    while len(chosen) < min(config.n_samples, len(pool)):
        progressed = False
        for members in by_class:
            if members and len(chosen) < config.n_samples:
                chosen.append(int(members.pop(0)))
                progressed = True
        if not progressed:
            break
    n_copies = min(max(config.copies), 4)
    s_aug = _derive(config.seed, "eval/samples/augment")
    items = [pool.items[i] for _ in range(n_copies) for i in chosen]
    seeds = [_derive(s_aug, pool.ids[i], c) for c in range(n_copies) for i in chosen]
    outs = augmenter(items, seeds)
    ops = None
    if hasattr(augmenter, "applied_ops"):
        try:
            ops = augmenter.applied_ops(items, seeds)
        except Exception:  # the op list is a nicety for the report; never fail the evaluation over it
            ops = None
    samples = []
    for j, i in enumerate(chosen):
        copies_j = [outs[c * len(chosen) + j] for c in range(n_copies)]
        sample = {"id": pool.ids[i], "label": pool.classes[int(pool.labels[i])], "original": pool.items[i],
                  "copies": copies_j,
                  "seeds": [seeds[c * len(chosen) + j] for c in range(n_copies)]}
        if ops is not None:
            sample["ops"] = [ops[c * len(chosen) + j] for c in range(n_copies)]
        samples.append(sample)
    return samples
