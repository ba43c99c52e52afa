"""The experiment loop behind ``augment eval``: does this pipeline help a model learn this data?

A *run* trains every arm once on one training subset and scores it on one test set::

    test set    hold-out (default): TRAIN split once (stratified, fixed seed) unless --test is given; every run
                uses it. Cross-validation (--cv K): run j uses fold j % K of a stratified K-fold partition
                (one partition per repetition), the other folds form its training pool.
    subset      stratified draw of the training size from the pool (own seed per run)
    copies      max(copies) augmented copies of every subset example (seed of copy c of example `id`:
                derive_seed(augment seed, id, c)); arm "copies=k" uses copies 0..k-1, so arms are nested
    arms        baseline, copies=k, and with --compare the regularised baseline(s) and their combination
                with augmentation; every arm of a run shares the subset, the model seed (hence the initial
                weights and shuffling stream) and the fixed training budget: common random numbers, so the
                paired difference carries far less noise than either arm

Runs are added until every arm's verdict is decided (``--repeats auto``: helps, hurts or equivalent within
``--margin``) or ``--max-repeats`` / ``--time-budget`` runs out ("undecided"); ``--repeats N`` runs exactly N.
The verdict rule is in :mod:`augment.evaluate.verdict`.

Data hygiene: training examples whose content exactly equals a held-out example are dropped (and counted); only
training examples are ever augmented; an augmented copy equal to a held-out example is dropped too, and a copy
identical to its source is dropped by default (a duplicate only adds optimiser steps). An identity pipeline
therefore yields an augmented arm identical to the baseline; its results are taken from the baseline run
(flagged ``reused_baseline``) and the difference is exactly zero.
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, Sequence, Union, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from augment.seeding import derive_seed

from . import stats, verdict
from .base import BenchmarkModel, TrainSet
from .data import (LabelledData, align_classes, class_mismatch, content_hash, load_dataset, overlap_indices,
                   stratified_folds, stratified_split, stratified_subset)
from .device import resolve_device
from .custom import CustomModel
from .loop import Journal, LoopPlan, fit_sizes, run_loop
from .models import make_model
from .planning import budget_timings, evaluation_key, measure_tail, plan_jobs, tail_estimate
from .report_parts import fmt_points
from .training import TrainOptions

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
MIN_CLASS_SUPPORT_FOR_INTERVAL = 20  # per-class rows with fewer test items show counts, not intervals
REGULARISERS = ("dropout", "weight_decay", "early_stopping")


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
    train: Path = Field(..., description="training data: image folder or text dataset (any format run reads)")
    test: Path | None = Field(None, description="held-out data; if absent, TRAIN is split once (or --cv)")
    text_column: str | None = None
    label_column: str | None = None
    strict: bool = Field(False, description="classes present in only one of train/test are an error")
    train_sizes: list[SizeSpec] = Field(default_factory=lambda: [100, 500, "full"])
    copies: list[int] = Field(default_factory=lambda: [1, 4])
    repeats: Union[int, Literal["auto"]] = Field("auto", description="runs per size, or auto (sequential)")
    min_repeats: int = Field(3, ge=2, le=1000, description="auto: first look after this many runs")
    max_repeats: int = Field(10, ge=2, le=1000, description="auto: most runs per size")
    time_budget: float | None = Field(None, gt=0, description="auto: seconds for the whole evaluation; no new run "
                                                              "starts that would not fit")
    cv: int | None = Field(None, ge=2, le=100, description="K-fold cross-validation when no test set is given")
    cv_repeats: int | None = Field(None, ge=1, le=100, description="CV repetitions (auto: at most this many)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="error rate of the verdict rule")
    margin: float = Field(0.02, gt=0, lt=1, description="equivalence margin (accuracy, fraction)")
    compare: list[Literal["dropout", "weight_decay", "early_stopping"]] = Field(default_factory=list)
    model: str = Field("auto", description="auto | cnn | ngram | textcnn | tfidf-logreg | module:function")
    model_options: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = Field(None, gt=0, description="seconds per custom-model call (child process)")
    out: Path | None = Field(None, description="report directory (write_report)")
    seed: int = Field(0, ge=0, lt=2**63)
    quiet: bool = False
    budget: Literal["epochs", "steps"] = Field(
        "epochs", description="epochs: same number of epochs over the larger augmented set (EDA paper); "
                              "steps: same number of optimiser steps as the baseline")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out fraction when no test set is given")
    val_fraction: float = Field(0.15, gt=0, lt=1, description="validation slice of each subset (early stopping)")
    n_bootstrap: int = Field(2000, ge=100)
    threads: int = Field(1, ge=1, description="torch threads per training run: 1 is as fast for these small "
                                                "models and far more robust when the CPU is shared")
    jobs: int | None = Field(None, ge=1, le=1024, description="fits run at once in worker processes (None: every "
                                                              "core); the numbers do not depend on it")
    resume: bool = Field(False, description="reuse the finished fits of OUT/fits.jsonl instead of training them")
    device: str = Field("auto", description="auto | cpu | cuda[:N] | mps: where torch models train")
    drop_unchanged_copies: bool = True
    n_samples: int = Field(8, ge=0, le=64, description="examples shown in the report")

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    @field_validator("repeats", mode="before")
    @classmethod
    def _repeats(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v.strip().lower() == "auto":
                return "auto"
            if not v.strip().isdigit():
                raise ValueError(f"repeats {v!r} must be a positive integer or 'auto'")
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000:
            raise ValueError(f"repeats {v!r} must be an integer from 1 to 1000 or 'auto'")
        return v

    @field_validator("compare", mode="before")
    @classmethod
    def _compare(cls, v: Any) -> Any:
        out = _split_csv(v) if v is not None else []
        if len(set(out)) != len(out):
            raise ValueError(f"--compare values repeat: {out}")
        return out

    @model_validator(mode="after")
    def _consistent(self) -> "EvalConfig":
        if self.cv is not None and self.test is not None:
            raise ValueError("cv: cross-validation replaces the held-out set; drop --test or --cv")
        if self.cv is None and self.cv_repeats is not None:
            raise ValueError("cv_repeats: needs --cv K")
        if self.cv is not None and self.repeats != "auto":
            raise ValueError("repeats: with --cv the number of runs is K x --cv-repeats; use --cv-repeats")
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"max_repeats: {self.max_repeats} is below min_repeats {self.min_repeats}")
        return self

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
        if self.modality == "image" and hasattr(pipeline, "check_writes_images"):
            pipeline.check_writes_images()  # the models train on augmented images, not float32 tensors
        self.name = getattr(pipeline.spec, "name", "pipeline")
        self.spec = pipeline.spec.model_dump()
        self.spec_hash = pipeline.spec_hash
        self.stats: Counter = Counter()  # text: redraws, drops and filter rejections (augment run's rule)

    def __call__(self, items: Sequence[Any], seeds: Sequence[int]) -> list[Any]:
        if self.modality == "text":
            return list(self.pipeline.batch(list(items), [int(s) for s in seeds]))
        return [self.pipeline(x, seed=int(s)) for x, s in zip(items, seeds)]

    def augment_labelled(self, items: Sequence[Any], seeds: Sequence[int], labels: Sequence[str]) -> list[Any]:
        """Text: the copies ``augment run`` would write (redraws of unchanged or repeated copies, the spec's
        ``filter:``), so the evaluation measures them; images: as ``__call__``."""
        if self.modality != "text":
            return self(items, seeds)
        from .text_rule import augment_with_run_rule

        return augment_with_run_rule(self.pipeline, list(items), seeds, labels, (self.spec or {}).get("filter"),
                                     self.stats)

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


def _say(line: str) -> None:
    print(f"augment eval: {line}", file=sys.stderr, flush=True)


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
    """The versions of what computed the report. A library this process has not imported is read from its
    installed metadata: importing torch and scikit-learn only for their version strings cost 5-8 s at the end
    of an evaluation whose fits ran in worker processes (or with a model that needs neither)."""
    from augment._version import __version__

    def version(module: str, dist: str) -> str | None:
        loaded = sys.modules.get(module)
        if loaded is not None and getattr(loaded, "__version__", None):
            return str(loaded.__version__)
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "augment": __version__,
        "numpy": np.__version__,
        "torch": version("torch", "torch"),
        "sklearn": version("sklearn", "scikit-learn"),
    }


# --------------------------------------------------------------------------------------------- the loop


@dataclass
class Arm:
    name: str
    copies: int
    model: BenchmarkModel
    regulariser: str | None = None


def _regularised(config: EvalConfig, modality: str, reg: str) -> BenchmarkModel:
    """The benchmark model with one regulariser switched on or strengthened (for --compare)."""
    name = _model_name(config, modality)
    device = _device(config, modality)
    base = make_model(name, modality, config.model_options, threads=config.threads, device=device)
    opts = getattr(base, "options", None)
    if opts is None or not hasattr(opts, "dropout") or not hasattr(opts, "early_stopping"):
        raise ValueError(f"--compare needs a torch model (cnn, ngram, textcnn); {config.model!r} has no "
                         f"{reg} setting")
    change = {"dropout": {"dropout": round(min(0.7, max(0.5, opts.dropout + 0.2)), 3)},
              "weight_decay": {"weight_decay": max(5e-4, 10 * opts.weight_decay)},
              "early_stopping": {"early_stopping": True}}[reg]
    return make_model(name, modality, {**config.model_options, **change}, threads=config.threads, device=device)


def _device(config: EvalConfig, modality: str) -> str:
    """The torch device of the image models; the text models train on the CPU (small bag-of-words and
    embedding models: a GPU would not pay for its transfers), so text never looks for a GPU."""
    return resolve_device(config.device) if modality == "image" else "cpu"


def _model_name(config: EvalConfig, modality: str) -> str:
    """--model, except that auto with --compare is the CNN on images, ngram on text (the regularised arms need
    a torch model)."""
    if config.model == "auto" and config.compare:
        return "cnn" if modality == "image" else "ngram"
    return config.model


class _Design:
    """Where run ``u`` gets its training pool and test set: one held-out set, or K-fold cross-validation."""

    def __init__(self, config: EvalConfig, full: LabelledData, test: LabelledData | None) -> None:
        self.config, self.full = config, full
        self.cv = config.cv
        self._cache: dict[int, tuple] = {}
        self.overlap_dropped: list[str] = []
        if self.cv is None:
            split_seed = derive_seed(config.seed, "eval/split", 0)
            if test is None:
                rest, held = stratified_split(full.labels, config.test_fraction, split_seed)
                pool, test = full.subset(rest), full.subset(held)
                self.split = {"kind": "held-out split of TRAIN", "train": str(config.train),
                              "fraction": config.test_fraction, "seed": split_seed, "stratified": True,
                              "test_ids": test.ids}
            else:
                pool = full
                self.split = {"kind": "given", "train": str(config.train), "test": str(config.test)}
            self.fixed = self._clean(pool, test)
        else:
            if self.cv > min(np.bincount(full.labels)[np.bincount(full.labels) > 0].min(), len(full)):
                smallest = int(np.bincount(full.labels)[np.bincount(full.labels) > 0].min())
                raise ValueError(f"--cv {self.cv}: the smallest class has {smallest} examples; use at most "
                                 f"{max(2, smallest)} folds so that every fold can hold each class")
            self.split = {"kind": f"stratified {self.cv}-fold cross-validation of TRAIN", "train": str(config.train),
                          "folds": self.cv, "seeding": "partition r: derive_seed(seed, 'eval/cv', r)"}
            self.fixed = None

    def _clean(self, pool: LabelledData, test: LabelledData) -> tuple:
        dup = overlap_indices(pool.hashes, test.hashes)
        if len(dup) == len(pool):
            raise ValueError(f"every one of the {len(pool)} training examples also occurs in the test set; "
                             "give a test set that is disjoint from TRAIN")
        if not len(test):
            raise ValueError("the held-out set is empty")
        if len(dup):
            self.overlap_dropped += [pool.ids[i] for i in dup]
            pool = pool.subset(np.setdiff1d(np.arange(len(pool)), dup))
        return pool, test, set(test.hashes), len(dup)

    def unit(self, u: int) -> tuple[LabelledData, LabelledData, set, int, dict]:
        if self.fixed is not None:
            pool, test, hashes, n_dup = self.fixed
            return pool, test, hashes, n_dup, {}
        r, f = divmod(u, self.cv)
        if r not in self._cache:
            self._cache = {r: tuple(stratified_folds(self.full.labels, self.cv, derive_seed(self.config.seed, "eval/cv", r)))}
        folds = self._cache[r]
        rest = np.setdiff1d(np.arange(len(self.full)), folds[f])
        pool, test, hashes, n_dup = self._clean(self.full.subset(rest), self.full.subset(folds[f]))
        return pool, test, hashes, n_dup, {"cv_repeat": r, "fold": f}

    def pool_sizes(self) -> tuple[int, int]:
        """(smallest training pool, largest test set) over runs, for size checks and the CV correction."""
        if self.fixed is not None:
            return len(self.fixed[0]), len(self.fixed[1])
        n = len(self.full)
        largest_fold = math.ceil(n / self.cv)
        return n - largest_fold, largest_fold


def _arm_name(k: int) -> str:
    return "baseline" if k == 0 else f"copies={k}"


def _metrics_of(output, y_test: np.ndarray, classes: list[str]) -> dict:
    if output.predictions is not None:
        return stats.classification_metrics(y_test, output.predictions, classes)
    return dict(output.metrics)


def _load(config: EvalConfig, path: Path) -> LabelledData:
    return load_dataset(path, config.text_column, config.label_column)


def run_evaluation(config: EvalConfig, progress: bool = True, *, augmenter: Augmenter | None = None,
                   model: BenchmarkModel | None = None, started: float | None = None) -> EvalResult:
    """Run the protocol described in the module docstring and return its result (write it with
    :func:`augment.evaluate.write_report`). ``augmenter``/``model`` override ``config.pipeline``/``config.model``
    (for tests and library use). ``started``: the ``time.perf_counter()`` at which the user's command started
    (default: now); ``config.time_budget`` counts from it, so what ran before this call is inside the budget."""
    t_start = time.perf_counter() if started is None else float(started)
    if augmenter is None:
        if config.pipeline is None:
            raise ValueError("no pipeline given")
        augmenter = load_augmenter(config.pipeline)
    if model is None:
        model = make_model(_model_name(config, augmenter.modality), augmenter.modality, config.model_options,
                           threads=config.threads, device=_device(config, augmenter.modality),
                           timeout=config.timeout, time_budget=config.time_budget)
    try:
        return _run(config, progress, augmenter, model, t_start)
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()


def _run(config: EvalConfig, progress: bool, augmenter: Augmenter, model: BenchmarkModel,
         t_start: float) -> EvalResult:
    from tqdm.auto import tqdm

    # ---- data ------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    full_train = _load(config, config.train)
    if full_train.modality != augmenter.modality:
        raise ValueError(f"the pipeline is for {augmenter.modality} but {config.train} holds {full_train.modality} data")
    test_data = None
    mismatch = {"only_in_train": {}, "only_in_test": {}}
    skipped = {"train": full_train.skipped[:200], "train_count": len(full_train.skipped)}
    if config.test is not None:
        test_data = _load(config, config.test)
        if test_data.modality != full_train.modality:
            raise ValueError(f"{config.test} holds {test_data.modality} data but {config.train} holds "
                             f"{full_train.modality}")
        mismatch = class_mismatch(full_train, test_data)
        skipped.update({"test": test_data.skipped[:200], "test_count": len(test_data.skipped)})
        if (mismatch["only_in_train"] or mismatch["only_in_test"]) and config.strict:
            parts = [f"only in {where}: " + ", ".join(f"{c} ({n})" for c, n in list(d.items())[:10])
                     for where, d in (("train", mismatch["only_in_train"]), ("test", mismatch["only_in_test"])) if d]
            raise ValueError(f"classes differ between train and test ({'; '.join(parts)}); drop --strict to go on")
        full_train, test_data = align_classes(full_train, test_data)
    design = _Design(config, full_train, test_data)
    classes = full_train.classes
    min_pool, n_test_nominal = design.pool_sizes()
    load_seconds = time.perf_counter() - t0
    if hasattr(model, "adapt"):
        model.adapt(full_train.items)

    # ---- arms, sizes --------------------------------------------------------------------------------------
    copies = list(config.copies)
    k_max = max(copies)
    arms = [Arm("baseline", 0, model)] + [Arm(_arm_name(k), k, model) for k in copies]
    for reg in config.compare:
        reg_model = _regularised(config, full_train.modality, reg)
        if hasattr(reg_model, "adapt"):
            reg_model.adapt(full_train.items)
        arms += [Arm(reg, 0, reg_model, reg), Arm(f"{reg}+copies={k_max}", k_max, reg_model, reg)]
    sizes, size_notes = fit_sizes(config.train_sizes, min_pool)
    adaptive = config.repeats == "auto"
    if config.cv is not None:
        max_reps = config.cv_repeats or 3
        looks = tuple(config.cv * r for r in range(1, max_reps + 1))
    elif adaptive:
        looks = verdict.look_schedule(config.min_repeats, config.max_repeats)
    else:
        looks = (int(config.repeats),)

    def correction(n: int) -> float:
        return n_test_nominal / n if config.cv is not None else 0.0

    levels = {label: verdict.pocock_level(looks, config.alpha, round(correction(n), 4)) for label, n in sizes}
    protocol_info = {
        "design": design.split["kind"],
        "budget": config.budget,
        "budget_rule": ("same number of epochs over each arm's own training set (the augmented arm takes more "
                        "optimiser steps), as in the EDA paper" if config.budget == "epochs" else
                        "same number of optimiser steps: one epoch of every arm counts as many examples as the "
                        "baseline's training set"),
        "training": model.describe().get("regularisation", {}).get("budget") if isinstance(
            model.describe().get("regularisation"), dict) else None,
        "validation": (f"stratified {config.val_fraction:.0%} slice of each training subset, originals only, "
                       "for arms that early-stop") if any(a.model.needs_validation for a in arms) else
                      "none (fixed training budget, no early stopping: every arm trains on the whole subset)",
        "common_random_numbers": "every arm of a run shares the training subset, the test set, the model seed "
                                 "(initial weights, shuffling stream) and the budget",
        "drop_unchanged_copies": config.drop_unchanged_copies,
        "copies_matching_test_dropped": True,
        "sizes": [{"label": lab, "n": n} for lab, n in sizes],
        "copies": copies,
        "arms": [{"name": a.name, "copies": a.copies, "regulariser": a.regulariser} for a in arms],
        "repeats": config.repeats,
        "looks": list(looks),
        "seeding": "every seed is augment.seeding.derive_seed(config.seed, key, index) with keys "
                   "eval/split, eval/cv (index = repetition), eval/subset/<size>, eval/val/<size>, "
                   "eval/model/<size>, eval/augment/<size> (index = run); copy c of example <id>: "
                   "derive_seed(augment seed, <id>, c)",
        "statistics": {
            "alpha": config.alpha,
            "confidence": config.confidence,
            "method": verdict.METHOD,
            "test": ("Nadeau-Bengio corrected resampled t-test (variance factor 1/J + n_test/n_train)"
                     if config.cv is not None else "paired t-test over runs"),
            "sequential": ("repeated confidence intervals, Pocock-type constant nominal level, calibrated by Monte "
                           f"Carlo for looks at {list(looks)} runs" if len(looks) > 1 else "single look"),
            "nominal_levels": levels,
            "margin": config.margin,
            "power_for_mde": verdict.POWER,
            "verdict_rule": "helps / hurts: the accuracy difference's interval lies above / below 0; equivalent: it "
                            f"lies within ±{100 * config.margin:g} points; otherwise no detectable effect (fixed "
                            "repeats) or undecided (adaptive repeats ran out), with the minimum detectable effect",
            "bootstrap": "two-level paired bootstrap (runs x test examples), descriptive only (hold-out design)",
        },
    }

    # ---- runs: the shared loop -------------------------------------------------------------------------
    experiment = _Experiment(config, design, arms, k_max, augmenter, classes)
    experiment.sizes = sizes
    jobs, jobs_note = plan_jobs(config, custom=isinstance(model, CustomModel),
                                device=str(getattr(model, "device", "cpu")))
    notes = size_notes + ([jobs_note] if jobs_note else [])
    # the statistics and the report after the last fit, timed on this machine now (with a budget only)
    tail_costs = measure_tail(n_test_nominal, len(classes), config.seed) if config.time_budget else {}
    plan = LoopPlan(sizes=sizes, looks=looks, adaptive=adaptive, margin=config.margin, levels=levels,
                    corrections={label: correction(n) for label, n in sizes}, jobs=jobs,
                    deadline=(t_start + config.time_budget) if config.time_budget else None,
                    tail_seconds=lambda runs: tail_estimate(n_test_nominal, len(arms),
                                                            0 if config.cv is not None else config.n_bootstrap, runs,
                                                            **tail_costs),
                    started=t_start)
    # the model that trains, not only --model: auto picks by the time budget, which the key leaves out
    key = {**evaluation_key(config, augmenter), "model": getattr(model, "name", None)}
    journal = Journal(Path(config.out) / "fits.jsonl", key, config.resume) if config.out is not None else None
    bar = tqdm(total=len(sizes) * looks[-1] * len(arms), desc="augment eval", unit="fit",
               disable=(not progress) or config.quiet, dynamic_ncols=True, leave=False)

    def on_fit(rec: dict) -> None:
        bar.update(1)
        acc = (rec.get("metrics") or {}).get("accuracy", float("nan"))
        bar.set_postfix_str(f"size={rec['size']} run={rec['repeat']} {rec['arm']} acc={acc:.3f}")

    if progress and not config.quiet:
        described = model.describe()
        _say(f"model: {described.get('name')}" + (f" ({model.chosen_because})" if getattr(model, "chosen_because",
                                                                                          None) else "")
             + (f"; cost: {described['cost']}" if described.get("cost") else ""))
        for note in notes:
            _say(f"note: {note}")
    # the report's samples now, before the workers fork: they inherit an augmenter that has loaded its tables
    # (WordNet, the tagger) once, instead of each loading them in its first fit
    samples = make_samples(augmenter, design.unit(0)[0], config)
    t_loop = time.perf_counter()
    try:
        outcome = run_loop(experiment, plan, journal=journal, on_fit=on_fit,
                           say=None if (not progress or config.quiet) else _say)
    finally:
        bar.close()
    t_fits = time.perf_counter()
    if outcome.heavy_start:
        notes.append(outcome.heavy_start)
    runs, predictions = outcome.records, outcome.predictions
    copy_rule: Counter = Counter()
    for r in runs:
        copy_rule.update(r.pop("copy_rule", None) or {})
    decisions = outcome.decisions
    stop_reason = outcome.stopping
    cells: dict[tuple[str, int], float] = {}
    for r in runs:  # seconds of fitting per (size, run), summed over its arms whichever process ran them
        seconds = float((r.get("timings") or {}).get("fit_seconds", 0.0))
        cells[(r["size"], r["repeat"])] = cells.get((r["size"], r["repeat"]), 0.0) + seconds
    per_cell_seconds = [{"size": k[0], "run": k[1], "seconds": round(v, 3)} for k, v in cells.items()]
    protocol_info["status"] = outcome.status
    protocol_info["jobs"] = jobs
    protocol_info["fits"] = {"trained": outcome.fits_trained, "from_journal": outcome.fits_reused_from_journal}
    protocol_info["notes"] = notes
    protocol_info["interrupted_by"] = outcome.interrupted_by
    if outcome.epochs is not None:
        protocol_info["epochs"] = outcome.epochs

    # ---- statistics --------------------------------------------------------------------------------------
    summary, per_class = summarise(runs, predictions, classes, sizes, arms, decisions, config, design, levels,
                                   correction)
    protocol_info["stopping"] = stop_reason

    # ---- samples for the report ---------------------------------------------------------------------------
    pool0, test0 = design.unit(0)[:2]
    data_info = {
        "modality": full_train.modality,
        "classes": classes,
        "split": design.split,
        "text_format": full_train.text_format,
        "train_pool": {"n": len(pool0), "class_counts": pool0.class_counts()},
        "test": {"n": len(test0), "class_counts": test0.class_counts()},
        "class_mismatch": mismatch,
        "skipped": skipped,
        "overlap": {
            "method": "exact content hash (SHA-256 of decoded pixels, or of the stripped text)",
            "train_examples_equal_to_test": len(design.overlap_dropped),
            "dropped_from_training": len(design.overlap_dropped),
            "dropped_ids": design.overlap_dropped[:200],
            "duplicates_within_training_pool": len(pool0.hashes) - len(set(pool0.hashes)),
        },
    }
    wall = time.perf_counter() - t_start
    return EvalResult(
        config=config.model_dump(mode="json"),
        modality=full_train.modality,
        classes=classes,
        pipeline={"name": getattr(augmenter, "name", "pipeline"), "spec": getattr(augmenter, "spec", None),
                  "copy_rule": dict(sorted(copy_rule.items())),
                  "spec_hash": getattr(augmenter, "spec_hash", None),
                  "path": str(config.pipeline) if config.pipeline else None},
        model={**model.describe(), **({"chosen_because": model.chosen_because}
                                      if getattr(model, "chosen_because", None) else {})},
        data=data_info,
        protocol=protocol_info,
        runs=runs,
        summary=summary,
        per_class=per_class,
        samples=samples,
        timings={"wall_seconds": round(wall, 3), "load_seconds": round(load_seconds, 3),
                 "per_size_run": per_cell_seconds,
                 **budget_timings(config.time_budget, plan.tail(sum(s["runs"] for s in stop_reason.values())),
                                  start=t_loop - t_start,
                                  fits=t_fits - t_loop, statistics=time.perf_counter() - t_fits, runs=runs)},
        versions=versions(),
        y_test=test0.labels if config.cv is None else None,
        predictions=predictions,
    )


class _Experiment:
    """The classification eval as the loop (:mod:`.loop`) sees it: arms, metrics and one fit. A run's subset and
    augmented copies are made once per process (the last two runs are kept) and shared by its arms."""

    metrics = ("accuracy", "macro_f1")

    def __init__(self, config: EvalConfig, design: "_Design", arms: list[Arm], k_max: int, augmenter: Augmenter,
                 classes: list[str]) -> None:
        self.config, self.design, self.arm_list, self.k_max = config, design, arms, k_max
        self.augmenter, self.classes = augmenter, classes
        self.arms = [a.name for a in arms]
        self._by_name = {a.name: a for a in arms}
        self._prepared: dict[tuple[str, int], dict] = {}
        self._configured_options: dict[int, TrainOptions] = {}

    # ---- epochs planned against the time budget (loop module docstring): torch models with a fixed budget

    def _trained(self) -> list:
        models = list({id(a.model): a.model for a in self.arm_list}.values())
        if all(isinstance(getattr(m, "options", None), TrainOptions) for m in models):
            return models
        return []

    @property
    def configured_epochs(self) -> int | None:
        models = self._trained()
        return int(models[0].options.max_epochs) if models else None

    def set_epochs(self, epochs: int) -> None:
        """Every model trains ``epochs`` epochs; its minimum number of steps shrinks in proportion, so a small
        set (whose epochs are scaled up to that minimum) gets cheaper too."""
        for m in self._trained():
            # from the configured options every time: the pilot trains at the floor first, and rounding
            # min_steps twice (configured -> floor -> planned) would train other steps than a resumed run does
            o = self._configured_options.setdefault(id(m), m.options)
            m.options = o.model_copy(update={"max_epochs": int(epochs),
                                             "min_steps": int(round(o.min_steps * epochs / o.max_epochs))})

    def relative_cost(self, label: str, n: int, arm_name: str) -> float:
        """A fit's optimiser steps relative to the first size's baseline (training.train_classifier's rule)."""
        def steps(size: int, copies: int) -> float:
            o = self._trained()[0].options if self._trained() else None
            if o is None:
                return float(size * (1 + copies))
            base = max(1, math.ceil(size / o.batch_size))
            scale = max(1, math.ceil(o.min_steps / (o.max_epochs * base)))
            seen = size if self.config.budget == "steps" else size * (1 + copies)
            return float(o.max_epochs * scale * max(1, math.ceil(seen / o.batch_size)))

        first = min(n for _, n in self.sizes) if getattr(self, "sizes", None) else n
        return steps(n, self._by_name[arm_name].copies) / steps(first, 0)

    def _prepare(self, label: str, n_nominal: int, u: int) -> dict:
        key = (label, u)
        if key in self._prepared:
            return self._prepared[key]
        config = self.config
        pool, test, test_hashes, _, where = self.design.unit(u)
        n = len(pool) if label == "full" else n_nominal
        seeds = {"subset": derive_seed(config.seed, f"eval/subset/{label}", u),
                 "validation": derive_seed(config.seed, f"eval/val/{label}", u),
                 "model": derive_seed(config.seed, f"eval/model/{label}", u),
                 "augment": derive_seed(config.seed, f"eval/augment/{label}", u)}
        idx = np.arange(len(pool)) if n == len(pool) else stratified_subset(pool.labels, n, seeds["subset"])
        sub = pool.subset(idx)
        if any(a.model.needs_validation for a in self.arm_list) and len(sub) >= 4:
            fit_v, val_v = stratified_split(sub.labels, config.val_fraction, seeds["validation"])
        else:
            fit_v, val_v = np.arange(len(sub)), np.zeros(0, dtype=np.int64)
        prepared = {"sub": sub, "test": test, "test_hashes": test_hashes, "where": where, "seeds": seeds,
                    "fit_v": fit_v, "val_v": val_v, "outputs": None}
        self._prepared = {k: v for k, v in self._prepared.items() if k[0] == label and k[1] == u - 1}
        self._prepared[key] = prepared
        return prepared

    def _copies(self, p: dict) -> float:
        """Make the run's augmented copies (every arm with copies shares them) unless this process already has;
        the seconds it took here (0.0 when they were made before). Only arms with copies ask: a baseline fit in
        another worker process does not augment the run's examples for nothing."""
        if p["outputs"] is not None:
            return 0.0
        augmenter, classes, k_max = self.augmenter, self.classes, self.k_max
        sub, test_hashes, seeds = p["sub"], p["test_hashes"], p["seeds"]
        # augmented copies of every subset example, copy-major: outputs[c][i]
        t_aug = time.perf_counter()
        src_items = [x for _ in range(k_max) for x in sub.items]
        src_seeds = [derive_seed(seeds["augment"], sid, c) for c in range(k_max) for sid in sub.ids]
        stats_before = Counter(getattr(augmenter, "stats", None) or {})
        if hasattr(augmenter, "augment_labelled"):
            src_labels = [classes[y] for _ in range(k_max) for y in sub.labels]
            flat = augmenter.augment_labelled(src_items, src_seeds, src_labels)
        else:
            flat = augmenter(src_items, src_seeds)
        # the copy rule's counts of this run (redraws, drops), whichever process made it: the first arm with
        # copies carries them to the parent in its record, which sums them over the runs
        copy_rule = dict(Counter(getattr(augmenter, "stats", None) or {}) - stats_before)
        if len(flat) != len(src_items):
            raise ValueError(f"augmenter returned {len(flat)} outputs for {len(src_items)} inputs")
        outputs = [flat[c * len(sub):(c + 1) * len(sub)] for c in range(k_max)]
        out_hashes = [[content_hash(x) for x in outs] for outs in outputs]
        p.update(outputs=outputs, copy_rule=copy_rule,
                 unchanged=[[h == sub.hashes[i] for i, h in enumerate(hs)] for hs in out_hashes],
                 leaks=[[h in test_hashes for h in hs] for hs in out_hashes])
        return time.perf_counter() - t_aug

    def fit(self, label: str, n_nominal: int, u: int, arm_name: str) -> dict:
        """Train and score one arm on run ``u``'s subset; one record."""
        config, classes = self.config, self.classes
        arm = self._by_name[arm_name]
        p = self._prepare(label, n_nominal, u)
        sub, test, fit_v, val_v = p["sub"], p["test"], p["fit_v"], p["val_v"]
        augment_seconds = round(self._copies(p), 4) if arm.copies else 0.0
        t_run = time.perf_counter()
        with_val = arm.model.needs_validation and len(val_v) > 0
        fit_idx = fit_v if with_val else np.arange(len(sub))
        val_idx = val_v if with_val else np.zeros(0, dtype=np.int64)
        items, labels, n_unchanged, n_leak = [sub.items[i] for i in fit_idx], [sub.labels[fit_idx]], 0, 0
        for c in range(arm.copies):
            keep = []
            for i in fit_idx:
                if p["leaks"][c][i]:
                    n_leak += 1
                elif p["unchanged"][c][i] and config.drop_unchanged_copies:
                    n_unchanged += 1
                else:
                    keep.append(int(i))
            items.extend(p["outputs"][c][i] for i in keep)
            labels.append(sub.labels[np.array(keep, dtype=np.int64)])
        y_train = np.concatenate(labels).astype(np.int64)
        n_added = len(items) - len(fit_idx)
        record = {
            "size": label, "n_subset": len(sub), "repeat": u, **p["where"], "arm": arm.name, "copies": arm.copies,
            "regulariser": arm.regulariser, "seeds": dict(p["seeds"]),
            "n_train": len(items), "n_val": len(val_idx), "n_test": len(test), "n_copies_added": n_added,
            "n_copies_unchanged_dropped": n_unchanged, "n_copies_matching_test_dropped": n_leak,
            "epoch_size": len(fit_idx) if config.budget == "steps" else len(items),
        }
        first_with_copies = next((a.name for a in self.arm_list if a.copies), None)
        if arm.name == first_with_copies and p.get("copy_rule"):
            record["copy_rule"] = dict(p["copy_rule"])
        if arm.copies > 0 and n_added == 0:  # the same training set as its plain arm: that arm's result, exactly
            plain = next(a.name for a in self.arm_list if a.copies == 0 and a.model is arm.model)
            record["reuse"] = plain
            record["timings"] = {"augment_seconds": augment_seconds, "train_predict_seconds": 0.0}
            return record
        val = sub.subset(val_idx)
        ts = TrainSet(items, y_train, list(val.items), val.labels, classes,
                      is_copy=np.arange(len(items)) >= len(fit_idx),
                      epoch_size=len(fit_idx) if config.budget == "steps" else None, base_size=len(fit_idx))
        output = arm.model.fit_predict(ts, test.items, seed=p["seeds"]["model"], test_labels=test.labels)
        record["metrics"] = _metrics_of(output, test.labels, classes)
        record["model_info"] = output.info
        record["timings"] = {"augment_seconds": augment_seconds,
                             "train_predict_seconds": round(time.perf_counter() - t_run, 4)}
        if output.predictions is not None and self.design.fixed is not None:
            record["predictions"] = np.asarray(output.predictions)
        return record


def _sentence(label: str, n: int, arm: Arm, d: "verdict.Decision", base_mean: float, aug_mean: float,
              config: EvalConfig) -> str:
    what = (f"adding {arm.copies} augmented cop{'y' if arm.copies == 1 else 'ies'} per example"
            if arm.regulariser is None else
            f"{arm.regulariser.replace('_', ' ')}" + (f" with {arm.copies} augmented copies" if arm.copies else
                                                      " instead of augmentation"))
    head = (f"With {'all ' if label == 'full' else ''}{n} training examples, {what} changed accuracy by "
            f"{fmt_points(d.mean)} points ({100 * base_mean:.1f}% -> {100 * aug_mean:.1f}%; ")
    if d.ci is not None:
        head += f"{100 * (1 - d.nominal_level):.3g}% CI {fmt_points(d.ci[0])} to {fmt_points(d.ci[1])}, {d.n} runs)"
    else:
        head += f"{d.n} run{'s' if d.n != 1 else ''}, no interval)"
    return head + ": " + verdict.verdict_phrase(d, config.margin) + "."


def _test_set_caveat(decision: str, bootstrap_ci: tuple[float, float] | None) -> str:
    """The verdict's interval measures how much the difference moves between training runs on *this* test set;
    the two-level bootstrap (runs x test examples) adds the test set's own sampling error. When the verdict is
    "helps" or "hurts" but that wider interval still holds 0, a user must know the claim rests on this particular
    test set (typically a small one, or an effect carried by a handful of examples)."""
    if decision not in (verdict.HELPS, verdict.HURTS) or bootstrap_ci is None:
        return ""
    lo, hi = bootstrap_ci
    if lo > 0 or hi < 0:
        return ""
    return (f" Caution: this holds for this test set; with its own sampling error (bootstrap over runs and test "
            f"examples: {fmt_points(lo)} to {fmt_points(hi)} points) a new test set of the same size may not show it.")


def summarise(runs: list[dict], predictions: dict, classes: list[str], sizes: list[tuple[str, int]],
              arms: list[Arm], decisions: dict, config: EvalConfig, design: _Design, levels: dict,
              correction: Callable[[int], float]) -> tuple[list[dict], list[dict]]:
    """Per (size, arm): mean ± std per arm, paired differences with the verdict's interval, the variance split,
    the generalization gap; per-class changes with intervals."""
    by_key = {(r["size"], r["repeat"], r["arm"]): r for r in runs}
    summary, per_class = [], []
    for label, n in sizes:
        reps = sorted({r["repeat"] for r in runs if r["size"] == label})
        if not reps:  # stopped before a run of this size finished: nothing to summarise
            continue
        base_runs = [by_key[(label, i, "baseline")] for i in reps]
        for arm in arms[1:]:
            aug_runs = [by_key[(label, i, arm.name)] for i in reps]
            d = decisions[(label, arm.name, "accuracy")]
            have_preds = design.fixed is not None and all(
                (label, i, a) in predictions for i in reps for a in ("baseline", arm.name))
            boot_seed = derive_seed(config.seed, f"eval/bootstrap/{label}/{arm.name}", 0)
            boot = {}
            if have_preds and reps:
                boot = stats.paired_bootstrap(
                    design.fixed[1].labels, np.stack([predictions[(label, i, "baseline")] for i in reps]),
                    np.stack([predictions[(label, i, arm.name)] for i in reps]), len(classes),
                    n_boot=config.n_bootstrap, seed=boot_seed, confidence=config.confidence)
            comps = {}
            for metric in ("accuracy", "macro_f1"):
                b = [r["metrics"].get(metric) for r in base_runs]
                a = [r["metrics"].get(metric) for r in aug_runs]
                if any(v is None for v in b + a):
                    continue
                md = decisions.get((label, arm.name, metric))
                if md is None:
                    continue
                comps[metric] = stats.compare(metric, b, a, boot.get(metric), md)
            acc = comps["accuracy"]
            caveat = _test_set_caveat(d.verdict, acc.bootstrap_ci)
            summary.append({
                "size": label, "n": n, "copies": arm.copies, "arm": arm.name, "regulariser": arm.regulariser,
                "repeats": len(reps), "verdict": d.verdict,
                "sentence": _sentence(label, n, arm, d, acc.baseline["mean"], acc.augmented["mean"], config)
                + caveat,
                "test_set_caveat": bool(caveat),
                "decision": d.to_dict(),
                "metrics": {m: c.to_dict() for m, c in comps.items()},
                "variance": stats.variance_split([r["metrics"]["accuracy"] for r in base_runs],
                                                 [r["metrics"]["accuracy"] for r in aug_runs]),
                "generalization": {"baseline": _generalization(base_runs), "augmented": _generalization(aug_runs)},
                "reused_baseline_runs": sum(bool(r.get("reused_baseline")) for r in aug_runs),
            })
            if all("per_class" in r["metrics"] for r in base_runs + aug_runs) and len(reps) >= 1:
                rows = []
                for cname in classes:
                    row = {"class": cname,
                           "support": int(np.mean([r["metrics"]["per_class"][cname]["support"] for r in base_runs]))}
                    # a class with a handful of test items gives intervals like [+50, +50] from 4 images: it
                    # shows counts (correct items, baseline -> arm) instead
                    few = row["support"] < MIN_CLASS_SUPPORT_FOR_INTERVAL
                    row["interval_withheld"] = few
                    for m in ("recall", "f1"):
                        bv = np.array([r["metrics"]["per_class"][cname][m] for r in base_runs])
                        av = np.array([r["metrics"]["per_class"][cname][m] for r in aug_runs])
                        row[f"baseline_{m}"] = float(bv.mean())
                        row[f"augmented_{m}"] = float(av.mean())
                        row[f"diff_{m}"] = float((av - bv).mean())
                        ci = None if few else verdict.paired_interval(av - bv, config.alpha, correction(n))[3]
                        row[f"diff_{m}_ci"] = list(ci) if ci is not None else None
                    row["baseline_correct"] = round(row["baseline_recall"] * row["support"], 2)
                    row["augmented_correct"] = round(row["augmented_recall"] * row["support"], 2)
                    rows.append(row)
                per_class.append({"size": label, "n": n, "copies": arm.copies, "arm": arm.name, "classes": rows,
                                  "interval": f"{config.confidence:.0%} paired t per class, not adjusted for the "
                                              f"number of classes; classes with fewer than "
                                              f"{MIN_CLASS_SUPPORT_FOR_INTERVAL} test items show counts only"})
    return summary, per_class


def _generalization(runs: list[dict]) -> dict:
    """Mean training accuracy (on the original examples) vs held-out accuracy, and the mean learning curve."""
    train = [r["model_info"].get("train_accuracy") for r in runs]
    train = [t for t in train if t is not None and not (isinstance(t, float) and math.isnan(t))]
    held = [r["metrics"]["accuracy"] for r in runs]
    curves = [r["model_info"].get("learning_curve") or [] for r in runs]
    length = max((len(c) for c in curves), default=0)
    curve = []
    for i in range(length):
        pts = [c[i] for c in curves if len(c) > i]
        point = {"epoch": pts[0]["epoch"], "train_loss": float(np.mean([p["train_loss"] for p in pts]))}
        acc = [p["held_out_accuracy"] for p in pts if "held_out_accuracy" in p]
        if acc:
            point["held_out_accuracy"] = float(np.mean(acc))
        curve.append(point)
    out = {"held_out_accuracy": float(np.mean(held)) if held else None,
           "train_accuracy": float(np.mean(train)) if train else None, "learning_curve": curve}
    out["gap"] = (out["train_accuracy"] - out["held_out_accuracy"]) if train and held else None
    return out


def make_samples(augmenter: Augmenter, pool: LabelledData, config: EvalConfig) -> list[dict]:
    """A few training examples (spread over the classes) beside augmented copies, for the report."""
    if config.n_samples == 0 or not len(pool):
        return []
    rng = np.random.default_rng(derive_seed(config.seed, "eval/samples", 0))
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
    s_aug = derive_seed(config.seed, "eval/samples/augment", 0)
    items = [pool.items[i] for _ in range(n_copies) for i in chosen]
    seeds = [derive_seed(s_aug, pool.ids[i], c) for c in range(n_copies) for i in chosen]
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
