"""``augment eval`` on annotated images: does this pipeline help a small detector or segmenter learn this data?

The data is read through ``augment.io.annotations`` exactly as ``augment run`` reads it (the same layout
detection, the same per-item errors, which are skipped and listed): Pascal VOC, YOLO and COCO datasets are a
detection task (the small CenterNet-style detector of :mod:`.detection_model`, mAP@0.5 and mAP@[.5:.95]), mask
folders a semantic segmentation task (the encoder-decoder of :mod:`.segmentation_model`, mIoU and pixel accuracy).
``--model module:function`` brings your own detector or segmenter instead: it gets each arm's training items and
the test items and returns detections, masks or its own scores, in the child process and under the contract of
:mod:`.custom` (module docstring); detections and masks are scored with the built-in models' metric code.

A run trains every arm once on one training subset and scores it on one test set (``--test``, or TRAIN split
once at random, seeded). Arm ``copies=k`` adds copies 0..k-1 of every subset image, each made with
``Pipeline.run_targets`` so the boxes, polygons and masks move with the pixels; every arm of a run shares the
subset, the test set, the model seed (initial weights, shuffling) and the number of epochs: common random
numbers, as in the classification protocol (:mod:`.protocol`). Copies on which no op fired are dropped (they
would only repeat their source), so an identity pipeline gives an augmented arm identical to the baseline and a
difference of exactly 0. Multi-image ops (mosaic, copy-paste) take their partners from the run's training subset.

Verdicts use the rule of :mod:`.verdict` on the primary metric (COCO's mAP@[.5:.95] for detection, mIoU for
segmentation)
with adaptive repeats (``repeats="auto"``: looks after ``min_repeats``.. ``max_repeats`` runs at a Pocock-type
constant level, stopping once every arm is decided, or when the next run would not fit the time budget);
the secondary metric gets the rule's interval at the same level.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from augment.io.annotations import FormatError, Layout, detect, read_item, scan
from augment.io.annotations.base import AnnotationError
from augment.io.images import ImageReadError, read_image
from augment.seeding import derive_seed
from augment.spec.errors import did_you_mean

from . import stats, verdict
from .data import content_hash
from .detection_model import DetectionOptions
from .loop import Journal, LoopPlan, fit_sizes, run_loop
from .models import _options
from .planning import budget_timings, evaluation_key, measure_tail, plan_jobs, tail_estimate
from .report_parts import fmt_points
from .segmentation_model import IGNORE, SegmentationOptions

__all__ = [
    "TASKS",
    "ANNOTATED_MODELS",
    "AnnotatedData",
    "AnnotatedEvalResult",
    "annotated_layout",
    "describe_annotated_models",
    "load_annotated",
    "make_annotated_model",
    "run_annotated_evaluation",
    "unsupported_options",
]

TASKS = {"voc": "detection", "yolo": "detection", "coco": "detection", "masks": "segmentation"}
# task -> (primary metric, secondary metric, their display names)
# Detection is judged on COCO's primary AP (mAP@[.5:.95]): it is the standard headline, and averaging ten IoU
# thresholds makes it far less noisy between runs than mAP@0.5 (on raccoon, a third of the paired spread).
METRICS = {"detection": ("map", "map50"), "segmentation": ("miou", "pixel_accuracy")}
METRIC_NAMES = {"map50": "mAP@0.5", "map": "mAP@[.5:.95]", "miou": "mIoU", "pixel_accuracy": "pixel accuracy"}

# name -> (task, options schema, what it is; ``augment models`` lists these after the classification models)
ANNOTATED_MODELS: dict[str, tuple[str, type, str]] = {
    "detector": ("detection", DetectionOptions,
                 "small CenterNet-style detector trained from scratch (centre heatmap, size and offset heads on a "
                 "stride-4 grid); COCO mAP@0.5 and mAP@[.5:.95] through pycocotools. The default for VOC, YOLO and "
                 "COCO datasets."),
    "segmenter": ("segmentation", SegmentationOptions,
                  "small encoder-decoder with skip connections trained from scratch; mIoU (ignore index 255 left "
                  "out). The default for mask folders."),
}


# --------------------------------------------------------------------------------------------- layout, models


def annotated_layout(path: Path, forced: str | None = None) -> Layout | None:
    """The annotation layout of a dataset folder (``augment run``'s detection), None for anything else (a class
    folder, a text file). Raises ``FormatError`` (one line) for a folder that matches several formats or not
    the forced one."""
    path = Path(path)
    if not path.is_dir():
        if forced:
            raise FormatError(f"{path} is not a folder; a {forced} dataset is a folder")
        return None
    return detect(path, forced)


def unsupported_options(given: dict[str, Any]) -> str | None:
    """The first option ``augment eval`` cannot honour on annotated data, as a one-line message (None if all can)."""
    reasons = {
        "cv": "--cv (cross-validation) is for class folders and text; annotated data takes --test, or TRAIN is "
              "split once",
        "cv_repeats": "--cv-repeats needs --cv, which annotated data does not take",
        "compare": "--compare (regularised arms) is for the classification models; drop it for annotated data",
        "text_column": "--text-column is for text datasets",
        "label_column": "--label-column is for text datasets",
    }
    if ":" not in str(given.get("model") or ""):
        reasons["timeout"] = "--timeout is for a custom model (module:function); the built-in detector and " \
                             "segmenter take none"
    for key, message in reasons.items():
        if given.get(key) not in (None, [], (), False):
            return message
    if given.get("budget") == "steps":
        return "--budget steps is for the classification models; annotated data trains every arm the same epochs"
    return None


def make_annotated_model(name: str, task: str, options: dict[str, Any] | None = None, threads: int = 1,
                         timeout: float | None = None):
    """(model name, validated options) for ``task``; one-line ``ValueError`` for a wrong model or option. For a
    custom ``module:function`` the second item is a :class:`~.custom.CustomFunction` (its child process starts
    at the first call; close it)."""
    options = dict(options or {})
    if name == "auto":
        name = next(n for n, (t, _, _) in ANNOTATED_MODELS.items() if t == task)
    if ":" in name:
        from .custom import CustomFunction

        if options:
            raise ValueError(f"model options {sorted(options)} do not apply to a custom model ({name})")
        return name, CustomFunction(name, timeout)
    if name not in ANNOTATED_MODELS:
        hint = did_you_mean(name, ANNOTATED_MODELS)
        raise ValueError(f"model {name!r} is not a {task} model{hint}; {task} data takes "
                         f"{next(n for n, (t, _, _) in ANNOTATED_MODELS.items() if t == task)} "
                         "(see `augment models`)")
    model_task, schema, _ = ANNOTATED_MODELS[name]
    if model_task != task:
        raise ValueError(f"model {name!r} is for {model_task} data, but the data is a {task} dataset")
    options.setdefault("threads", threads)
    return name, _options(schema, name, options)


def describe_annotated_models() -> list[dict]:
    """The detection and segmentation models in the listing format of ``augment.evaluate.models``."""
    out = []
    for name, (task, schema, use) in ANNOTATED_MODELS.items():
        opts = []
        for key, f in schema.model_fields.items():
            bounds = []
            for m in f.metadata:
                kind = type(m).__name__
                if kind in ("Ge", "Gt", "Le", "Lt"):
                    sign = {"Ge": ">=", "Gt": ">", "Le": "<=", "Lt": "<"}[kind]
                    bounds.append(f"{sign} {getattr(m, kind.lower())}")
            opts.append({"name": key, "type": getattr(f.annotation, "__name__", str(f.annotation)),
                         "default": f.default, "bounds": ", ".join(bounds)})
        out.append({"name": name, "modality": task, "use": use, "options": opts, "default_for": task})
    return out


# --------------------------------------------------------------------------------------------- data


@dataclass
class AnnotatedData:
    """The readable items of one annotated dataset: ``images[i]`` with ``targets[i]`` (moved annotations come
    back as the same ``Targets``), ids (the image's path under the root) and pixel hashes."""

    root: Path
    layout: Layout
    task: str
    ids: list[str]
    images: list[np.ndarray]
    targets: list[Any]
    hashes: list[str]
    skipped: list[dict]
    problems: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Sequence[int]) -> "AnnotatedData":
        idx = [int(i) for i in idx]
        return AnnotatedData(self.root, self.layout, self.task, [self.ids[i] for i in idx],
                             [self.images[i] for i in idx], [self.targets[i] for i in idx],
                             [self.hashes[i] for i in idx], self.skipped, self.problems)

    def labels(self) -> list[str]:
        return sorted({str(lab) for t in self.targets for lab in t.labels})

    def objects(self) -> int:
        return sum(len(t) for t in self.targets)

    def max_class(self) -> int:
        return max((int(t.semantic[t.semantic != IGNORE].max(initial=0)) for t in self.targets), default=0)


def load_annotated(root: Path, layout: Layout) -> AnnotatedData:
    """Every readable image of ``root`` with its annotations; unreadable images and bad annotations are skipped
    and listed (``skipped``), as ``augment run`` lists them in errors.jsonl."""
    root = Path(root)
    items, problems, _ = scan(root, layout)
    skipped = [{"item": rel, "error": reason} for rel, reason in problems]
    ids, images, targets, hashes = [], [], [], []
    for item in items:
        try:
            image, _ = read_image(root / item.image, root=root)
            t, _, _ = read_item(root, layout, item, image.shape[:2])
        except (ImageReadError, AnnotationError) as exc:
            skipped.append({"item": item.image, "error": str(exc)})
            continue
        ids.append(item.image)
        images.append(image)
        targets.append(t)
        hashes.append(content_hash(image))
    task = TASKS[layout.format]
    if not ids:
        raise ValueError(f"no readable annotated images in {root} ({layout.format} layout"
                         + (f"; first problem: {skipped[0]['item']}: {skipped[0]['error']}" if skipped else "") + ")")
    return AnnotatedData(root, layout, task, ids, images, targets, hashes, skipped, len(problems))


class _Partners:
    """Partners of multi-image ops (mosaic, copy-paste) from the run's training subset, chosen as
    ``augment.run.partners.DatasetPartners`` chooses them over INPUT: by the drawn fractions over the sorted ids."""

    def __init__(self, data: AnnotatedData, own: str) -> None:
        self.data, self.own = data, own
        self.order = sorted(range(len(data)), key=lambda i: data.ids[i])
        self.by_id = {data.ids[i]: i for i in self.order}

    def pick(self, draws: list[float]) -> list[str]:
        n = len(self.order)
        names = []
        for u in draws:
            j = min(n - 1, int(u * n))
            if self.data.ids[self.order[j]] == self.own and n > 1:
                j = (j + 1) % n
            names.append(self.data.ids[self.order[j]])
        return names

    def load(self, name: str):
        from augment.compile.multi_image import Partner

        i = self.by_id[name]
        return Partner(name, self.data.images[i], self.data.targets[i])


# --------------------------------------------------------------------------------------------- result


@dataclass
class AnnotatedEvalResult:
    """What report.json holds (``to_dict``), and the sample images for report.html."""

    config: dict
    task: str
    classes: list[str]
    pipeline: dict
    model: dict
    data: dict
    protocol: dict
    runs: list[dict]
    summary: list[dict]
    timings: dict
    versions: dict
    samples: list[dict] = field(default_factory=list, repr=False)

    @property
    def modality(self) -> str:
        return self.task

    def to_dict(self) -> dict:
        return {
            "format": "augment-eval-report",
            "format_version": 1,
            "task": self.task,
            "config": self.config,
            "modality": "image",
            "classes": self.classes,
            "pipeline": self.pipeline,
            "model": self.model,
            "data": self.data,
            "protocol": self.protocol,
            "summary": self.summary,
            "runs": self.runs,
            "samples": [{k: v for k, v in s.items() if k not in ("original", "copies")} for s in self.samples],
            "timings": self.timings,
            "versions": self.versions,
        }

    def verdict_lines(self) -> list[str]:
        return [s["sentence"] for s in self.summary]


# --------------------------------------------------------------------------------------------- the loop


def _say(line: str) -> None:
    print(f"augment eval: {line}", file=sys.stderr, flush=True)


def _copies_of(pipe, sub: AnnotatedData, k_max: int, s_aug: int, test_hashes: set) -> list[list[tuple | None]]:
    """``out[c][i]``: copy c of subset image i as (image, targets, ops), or None when it was dropped (no op
    fired: it would repeat its source; or its pixels equal a test image)."""
    out = []
    for c in range(k_max):
        row = []
        for i, sid in enumerate(sub.ids):
            image, moved, applied, _ = pipe.run_targets(sub.images[i], sub.targets[i], seed=derive_seed(s_aug, sid, c),
                                                        partners=_Partners(sub, sid))
            if not applied:
                row.append(("unchanged", None))
            elif content_hash(image) in test_hashes:
                row.append(("leak", None))
            else:
                row.append(("ok", (image, moved, [a["op"] for a in applied])))
        out.append(row)
    return out


def _train_and_score(task: str, options, train: list[tuple], test: AnnotatedData, seed: int, classes: list[str],
                     n_classes: int) -> dict:
    from .custom import CustomFunction

    if isinstance(options, CustomFunction):
        return _custom_train_and_score(task, options, train, test, seed, classes, n_classes)
    if task == "detection":
        from .detection_model import train_and_score

        return train_and_score([(im, t.boxes, list(t.labels)) for im, t in train],
                               [(im, t.boxes, list(t.labels)) for im, t in zip(test.images, test.targets)],
                               seed=seed, classes=classes, options=options)
    from .segmentation_model import train_and_score

    return train_and_score([(im, t.semantic) for im, t in train],
                           [(im, t.semantic) for im, t in zip(test.images, test.targets)],
                           seed=seed, n_classes=n_classes, options=options)


def _custom_train_and_score(task: str, fn, train: list[tuple], test: AnnotatedData, seed: int, classes: list[str],
                            n_classes: int) -> dict:
    """One call of a custom detector or segmenter (the contract in :mod:`.custom`), scored like the built-ins."""
    from .custom import check_detections, check_masks

    if task == "detection":
        def item(im, t):
            return im, {"boxes": np.asarray(t.boxes, np.float64).reshape(-1, 4), "labels": [str(x) for x in t.labels]}

        test_items = [item(im, t) for im, t in zip(test.images, test.targets)]
        result = fn.call([item(im, t) for im, t in train], test_items, seed)
        return check_detections(fn.name, result, [(im, d["boxes"], d["labels"]) for im, d in test_items], classes)
    result = fn.call([(im, t.semantic) for im, t in train], [(im, t.semantic) for im, t in zip(test.images,
                                                                                                 test.targets)], seed)
    return check_masks(fn.name, result, [t.semantic for t in test.targets], n_classes)


def _sentence(task: str, label: str, n: int, copies: int, d: verdict.Decision, base: float, aug: float,
              margin: float) -> str:
    metric = METRIC_NAMES[METRICS[task][0]]
    head = (f"With {'all ' if label == 'full' else ''}{n} training images, adding {copies} augmented "
            f"cop{'y' if copies == 1 else 'ies'} per image changed {metric} by {fmt_points(d.mean)} points "
            f"({100 * base:.1f} -> {100 * aug:.1f}; ")
    if d.ci is not None:
        head += f"{100 * (1 - d.nominal_level):.3g}% CI {fmt_points(d.ci[0])} to {fmt_points(d.ci[1])}, {d.n} runs)"
    else:
        head += f"{d.n} run{'s' if d.n != 1 else ''}, no interval)"
    return head + ": " + verdict.verdict_phrase(d, margin) + "."


def run_annotated_evaluation(config, train_layout: Layout, test_layout: Layout | None, progress: bool = True,
                             pipe=None, started: float | None = None) -> AnnotatedEvalResult:
    """Run the protocol of the module docstring. ``config`` is an :class:`augment.evaluate.EvalConfig` (its
    classification-only options must be unset: see :func:`unsupported_options`). ``started``: the
    ``time.perf_counter()`` at which the user's command started (default: now); the time budget counts from it."""
    from .protocol import load_augmenter

    t_start = time.perf_counter() if started is None else float(started)
    task = TASKS[train_layout.format]
    if test_layout is not None and TASKS[test_layout.format] != task:
        raise ValueError(f"{config.test} is a {TASKS[test_layout.format]} dataset ({test_layout.format}) but "
                         f"{config.train} is a {task} dataset ({train_layout.format})")
    augmenter = load_augmenter(config.pipeline) if pipe is None else None
    pipe = pipe if pipe is not None else augmenter.pipeline
    if pipe.modality != "image":
        raise ValueError(f"the pipeline is for {pipe.modality} but {config.train} holds annotated images")
    pipe.check_moves_annotations()
    model_name, options = make_annotated_model(config.model, task, config.model_options, config.threads,
                                               config.timeout)
    try:
        return _evaluate(config, train_layout, test_layout, progress, pipe, task, model_name, options, t_start)
    finally:
        close = getattr(options, "close", None)
        if close is not None:
            close()


def _evaluate(config, train_layout: Layout, test_layout: Layout | None, progress: bool, pipe, task: str,
              model_name: str, options, t_start: float) -> AnnotatedEvalResult:
    from tqdm.auto import tqdm

    from .protocol import versions

    # ---- data ------------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    full = load_annotated(config.train, train_layout)
    split_seed = derive_seed(config.seed, "eval/split", 0)
    if test_layout is None:
        if len(full) < 2:
            raise ValueError(f"{config.train} has {len(full)} readable image; give --test or more images")
        order = np.random.default_rng(split_seed).permutation(len(full))
        n_test = max(1, int(round(config.test_fraction * len(full))))
        test, pool = full.subset(sorted(order[:n_test])), full.subset(sorted(order[n_test:]))
        split = {"kind": "held-out split of TRAIN", "train": str(config.train), "fraction": config.test_fraction,
                 "seed": split_seed, "test_ids": test.ids}
    else:
        test, pool = load_annotated(config.test, test_layout), full
        split = {"kind": "given", "train": str(config.train), "test": str(config.test)}
    test_hashes = set(test.hashes)
    dup = [i for i, h in enumerate(pool.hashes) if h in test_hashes]
    if len(dup) == len(pool):
        raise ValueError(f"every one of the {len(pool)} training images also occurs in the test set; give a test "
                         "set that is disjoint from TRAIN")
    overlap_ids = [pool.ids[i] for i in dup]
    pool = pool.subset([i for i in range(len(pool)) if i not in set(dup)])
    if task == "detection":
        if test.objects() == 0:
            raise ValueError("the test images hold no objects: mAP is undefined")
        only_train = sorted(set(pool.labels()) - set(test.labels()))
        only_test = sorted(set(test.labels()) - set(pool.labels()))
        classes = sorted(set(pool.labels()) | set(test.labels()))
        n_classes = len(classes)
    else:
        n_classes = max(pool.max_class(), test.max_class()) + 1
        classes = [str(c) for c in range(n_classes)]
        only_train = only_test = []
    if (only_train or only_test) and config.strict:
        raise ValueError("classes differ between train and test ("
                         + "; ".join(f"only in {w}: {', '.join(c[:10])}" for w, c in
                                     (("train", only_train), ("test", only_test)) if c) + "); drop --strict to go on")
    load_seconds = time.perf_counter() - t0

    # ---- arms, sizes, looks -------------------------------------------------------------------------------
    copies = list(config.copies)
    k_max = max(copies)
    arms = [("baseline", 0)] + [(f"copies={k}", k) for k in copies]
    sizes, size_notes = fit_sizes(config.train_sizes, len(pool), "training images")
    adaptive = config.repeats == "auto"
    looks = (verdict.look_schedule(config.min_repeats, config.max_repeats) if adaptive else (int(config.repeats),))
    level = verdict.pocock_level(looks, config.alpha)
    primary, secondary = METRICS[task]

    # ---- runs: the shared loop -------------------------------------------------------------------------
    from .custom import CustomFunction

    experiment = _Experiment(config, task, pipe, pool, test, test_hashes, arms, k_max, options, classes, n_classes)
    experiment.sizes = sizes
    jobs, jobs_note = plan_jobs(config, custom=isinstance(options, CustomFunction))
    notes = size_notes + ([jobs_note] if jobs_note else [])
    # the summary, samples and report after the last fit, timed on this machine now (no bootstrap here)
    budgeted = adaptive and bool(config.time_budget)
    tail = tail_estimate(len(test), len(arms), 0, 1, **measure_tail(len(test), 2)) if budgeted else 0.0
    plan = LoopPlan(sizes=sizes, looks=looks, adaptive=adaptive, margin=config.margin,
                    levels={label: level for label, _ in sizes}, jobs=jobs,
                    deadline=(t_start + config.time_budget) if (adaptive and config.time_budget) else None,
                    tail_seconds=tail, started=t_start)
    journal = Journal(Path(config.out) / "fits.jsonl", evaluation_key(config, pipe), config.resume) \
        if config.out is not None else None
    bar = tqdm(total=len(sizes) * looks[-1] * len(arms), desc="augment eval", unit="fit",
               disable=(not progress) or config.quiet, dynamic_ncols=True, leave=False)

    def on_fit(rec: dict) -> None:
        bar.update(1)
        value = (rec.get("metrics") or {}).get(primary, float("nan"))
        bar.set_postfix_str(f"size={rec['size']} run={rec['repeat']} {rec['arm']} {METRIC_NAMES[primary]}={value:.3f}")

    if progress and not config.quiet:
        for note in notes:
            _say(f"note: {note}")
    t_loop = time.perf_counter()
    try:
        outcome = run_loop(experiment, plan, journal=journal, on_fit=on_fit,
                           say=None if (not progress or config.quiet) else _say)
    finally:
        bar.close()
    t_fits = time.perf_counter()
    runs, decisions, stopping = outcome.records, outcome.decisions, outcome.stopping
    if outcome.heavy_start:
        notes.append(outcome.heavy_start)

    summary = []
    for label, n in sizes:
        base_runs = [r for r in runs if r["size"] == label and r["arm"] == "baseline"]
        if not base_runs:  # stopped before a run of this size finished
            continue
        for a, k in arms[1:]:
            arm_runs = [r for r in runs if r["size"] == label and r["arm"] == a]
            comps = {}
            for m in (primary, secondary):
                if (label, a, m) not in decisions:
                    continue
                b = [r["metrics"][m] for r in base_runs]
                v = [r["metrics"][m] for r in arm_runs]
                comps[m] = stats.compare(m, b, v, None, decisions[(label, a, m)]).to_dict()
            d = decisions[(label, a, primary)]
            summary.append({
                "size": label, "n": n, "copies": k, "arm": a, "repeats": len(arm_runs), "metric": primary,
                "verdict": d.verdict, "decision": d.to_dict(), "metrics": comps,
                "sentence": _sentence(task, label, n, k, d, comps[primary]["baseline"]["mean"],
                                      comps[primary]["augmented"]["mean"], config.margin),
                "variance": stats.variance_split([r["metrics"][primary] for r in base_runs],
                                                 [r["metrics"][primary] for r in arm_runs]),
                "reused_baseline_runs": sum(bool(r.get("reused_baseline")) for r in arm_runs),
            })

    samples = _samples(pipe, pool, config, k_max)
    protocol = {
        "task": task,
        "design": split["kind"],
        "budget": "epochs",
        "budget_rule": "same number of epochs over each arm's own training set (the augmented arm takes more "
                       "optimiser steps), as in the classification protocol's default",
        "common_random_numbers": "every arm of a run shares the training subset, the test set, the model seed "
                                 "(initial weights, shuffling stream) and the epochs",
        "drop_unchanged_copies": True,
        "copies_matching_test_dropped": True,
        "partners": "multi-image ops take partners from the run's training subset, by their drawn fractions over "
                    "the sorted image ids",
        "sizes": [{"label": lab, "n": n} for lab, n in sizes],
        "copies": copies,
        "arms": [{"name": a, "copies": k} for a, k in arms],
        "repeats": config.repeats,
        "looks": list(looks),
        "stopping": stopping,
        "status": outcome.status,
        "jobs": jobs,
        "fits": {"trained": outcome.fits_trained, "from_journal": outcome.fits_reused_from_journal},
        "interrupted_by": outcome.interrupted_by,
        **({"epochs": outcome.epochs} if outcome.epochs is not None else {}),
        "notes": notes,
        "seeding": "every seed is augment.seeding.derive_seed(config.seed, key, index) with keys eval/split, "
                   "eval/subset/<size>, eval/model/<size>, eval/augment/<size> (index = run); copy c of image "
                   "<id>: derive_seed(augment seed, <id>, c)",
        "statistics": {
            "alpha": config.alpha,
            "method": verdict.METHOD,
            "test": "paired t-test over runs",
            "metric": primary,
            "sequential": ("repeated confidence intervals, Pocock-type constant nominal level, calibrated by Monte "
                           f"Carlo for looks at {list(looks)} runs" if len(looks) > 1 else "single look"),
            "nominal_level": level,
            "margin": config.margin,
            "power_for_mde": verdict.POWER,
            "verdict_rule": f"helps / hurts: the {METRIC_NAMES[primary]} difference's interval lies above / below "
                            f"0; equivalent: it lies within ±{100 * config.margin:g} points; otherwise no "
                            "detectable effect (fixed repeats) or undecided (adaptive repeats ran out), with the "
                            "minimum detectable effect",
        },
    }
    data_info = {
        "task": task,
        "format": train_layout.format,
        "test_format": (test_layout or train_layout).format,
        "classes": classes,
        "split": split,
        "train_pool": {"n": len(pool), "objects": pool.objects() if task == "detection" else None},
        "test": {"n": len(test), "objects": test.objects() if task == "detection" else None},
        "class_mismatch": {"only_in_train": only_train, "only_in_test": only_test},
        "skipped": {"train": full.skipped[:200], "train_count": len(full.skipped),
                    **({"test": test.skipped[:200], "test_count": len(test.skipped)} if test_layout else {})},
        "overlap": {"method": "exact content hash (SHA-256 of decoded pixels)",
                    "train_images_equal_to_test": len(overlap_ids), "dropped_ids": overlap_ids[:200]},
    }
    if model_name in ANNOTATED_MODELS:
        options = experiment.options  # the epochs planned against the budget
        model_info = {"name": model_name, "task": task, "options": options.model_dump(),
                      "kind": ANNOTATED_MODELS[model_name][2], "image_size": options.image_size}
    else:
        model_info = {**options.describe(), "task": task, "options": {}}
    return AnnotatedEvalResult(
        config=config.model_dump(mode="json"), task=task, classes=classes,
        pipeline={"name": pipe.spec.name, "spec": pipe.spec.model_dump(mode="json"), "spec_hash": pipe.spec_hash,
                  "path": str(config.pipeline) if config.pipeline else None},
        model=model_info, data=data_info, protocol=protocol, runs=runs, summary=summary,
        timings={"wall_seconds": round(time.perf_counter() - t_start, 3), "load_seconds": round(load_seconds, 3),
                 **budget_timings(config.time_budget if plan.deadline is not None else None, plan.tail(1),
                                  start=t_loop - t_start, fits=t_fits - t_loop,
                                  statistics=time.perf_counter() - t_fits, runs=runs)},
        versions=versions(), samples=samples)


class _Experiment:
    """The annotated eval as the loop (:mod:`.loop`) sees it: arms, metrics and one fit. A run's subset and
    augmented copies are made once per process and shared by its arms."""

    def __init__(self, config, task, pipe, pool: AnnotatedData, test: AnnotatedData, test_hashes: set, arms,
                 k_max: int, options, classes, n_classes) -> None:
        self.config, self.task, self.pipe, self.pool, self.test = config, task, pipe, pool, test
        self.test_hashes, self.arm_list, self.k_max, self.options = test_hashes, arms, k_max, options
        self.classes, self.n_classes = classes, n_classes
        self.arms = [a for a, _ in arms]
        self.copies = dict(arms)
        self.metrics = METRICS[task]
        self._prepared: dict[tuple[str, int], dict] = {}

    # ---- epochs planned against the time budget (loop module docstring): the built-in detector and segmenter

    @property
    def configured_epochs(self) -> int | None:
        return int(self.options.epochs) if isinstance(self.options, (DetectionOptions, SegmentationOptions)) else None

    def set_epochs(self, epochs: int) -> None:
        self.options = self.options.model_copy(update={"epochs": int(epochs)})

    def relative_cost(self, label: str, n: int, arm: str) -> float:
        """Images trained on (every epoch passes over the arm's set) relative to the first size's baseline."""
        first = min(m for _, m in self.sizes) if getattr(self, "sizes", None) else n
        return n * (1 + self.copies[arm]) / max(1, first)

    def _prepare(self, label: str, n_nominal: int, u: int) -> dict:
        if (label, u) in self._prepared:
            return self._prepared[(label, u)]
        seeds = {"subset": derive_seed(self.config.seed, f"eval/subset/{label}", u),
                 "model": derive_seed(self.config.seed, f"eval/model/{label}", u),
                 "augment": derive_seed(self.config.seed, f"eval/augment/{label}", u)}
        pool = self.pool
        n = len(pool) if label == "full" else n_nominal
        idx = (np.arange(len(pool)) if n == len(pool)
               else np.sort(np.random.default_rng(seeds["subset"]).choice(len(pool), n, replace=False)))
        sub = pool.subset(idx)
        t_aug = time.perf_counter()
        made = _copies_of(self.pipe, sub, self.k_max, seeds["augment"], self.test_hashes)
        self._prepared = {(label, u): {"sub": sub, "made": made, "seeds": seeds,
                                       "augment_seconds": time.perf_counter() - t_aug}}
        return self._prepared[(label, u)]

    def fit(self, label: str, n_nominal: int, u: int, name: str) -> dict:
        p = self._prepare(label, n_nominal, u)
        sub, made, k, test = p["sub"], p["made"], self.copies[name], self.test
        t_fit = time.perf_counter()
        extra = [made[c][i][1][:2] for c in range(k) for i in range(len(sub)) if made[c][i][0] == "ok"]
        record = {"size": label, "n_subset": len(sub), "repeat": u, "arm": name, "copies": k,
                  "seeds": dict(p["seeds"]),
                  "n_train": len(sub) + len(extra), "n_test": len(test), "n_copies_added": len(extra),
                  "n_copies_unchanged_dropped": sum(made[c][i][0] == "unchanged" for c in range(k)
                                                    for i in range(len(sub))),
                  "n_copies_matching_test_dropped": sum(made[c][i][0] == "leak" for c in range(k)
                                                        for i in range(len(sub)))}
        augment_seconds = round(p["augment_seconds"], 4) if k else 0.0
        if k and not extra:  # identical training set: the baseline's result, exactly
            record["reuse"] = "baseline"
            record["timings"] = {"augment_seconds": augment_seconds, "train_predict_seconds": 0.0}
            return record
        record["metrics"] = _train_and_score(self.task, self.options, list(zip(sub.images, sub.targets)) + extra,
                                             test, p["seeds"]["model"], self.classes, self.n_classes)
        record["timings"] = {"augment_seconds": augment_seconds,
                             "train_predict_seconds": round(time.perf_counter() - t_fit, 4)}
        return record


def _samples(pipe, pool: AnnotatedData, config, k_max: int) -> list[dict]:
    """A few training images with their annotations beside augmented copies (for report.html)."""
    if config.n_samples == 0:
        return []
    rng = np.random.default_rng(derive_seed(config.seed, "eval/samples", 0))
    chosen = sorted(rng.choice(len(pool), min(len(pool), config.n_samples, 6), replace=False).tolist())
    s_aug = derive_seed(config.seed, "eval/samples/augment", 0)
    out = []
    for i in chosen:
        copies, ops = [], []
        for c in range(min(k_max, 3)):
            image, moved, applied, _ = pipe.run_targets(pool.images[i], pool.targets[i],
                                                        seed=derive_seed(s_aug, pool.ids[i], c),
                                                        partners=_Partners(pool, pool.ids[i]))
            copies.append((image, moved))
            ops.append([a["op"] for a in applied])
        out.append({"id": pool.ids[i], "original": (pool.images[i], pool.targets[i]), "copies": copies, "ops": ops})
    return out
