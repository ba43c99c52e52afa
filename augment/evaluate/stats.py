"""Statistics for a paired comparison of two training arms evaluated on the same held-out set.

* Point metrics: accuracy and macro-F1 (F1 averaged over the classes present in the true or predicted labels,
  as scikit-learn does; a class with no true and no predicted examples is left out), per-class
  precision/recall/F1.
* Spread over repeats: mean and sample standard deviation (ddof=1; 0 for a single repeat).
* Paired difference (augmented - baseline): the verdict and its interval come from
  :mod:`augment.evaluate.verdict`; this module adds a descriptive interval:

  - a two-level paired bootstrap (seeded): each replicate resamples the repeats (training subsets) with
    replacement *and* the held-out examples with replacement, applying the same resampled test set to both
    arms of every repeat, and averages the per-repeat differences. It covers both sources of noise: which
    training subset was drawn, and which test examples happen to be in the held-out set. Percentile
    interval.
* How the variance splits between the arms and their difference (:func:`variance_split`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .verdict import HELPS, HURTS, NO_EFFECT  # noqa: F401  (re-exported for callers of the old API)

__all__ = [
    "confusion",
    "classification_metrics",
    "mean_std",
    "paired_t_interval",
    "paired_bootstrap",
    "repeat_bootstrap",
    "Comparison",
    "compare",
    "compare_paired_runs",
]


# ------------------------------------------------------------------------------------------ point metrics


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(y_true) * n_classes + np.asarray(y_pred),
                       minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 and macro-F1 from (..., C) counts; classes with tp+fp+fn == 0 are excluded from the mean."""
    denom = 2 * tp + fp + fn
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
    macro = f1.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
    return f1, macro


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    c = len(classes)
    cm = confusion(y_true, y_pred, c)
    tp = np.diag(cm).astype(float)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    f1, macro = _f1_from_counts(tp, fp, fn)
    per_class = {}
    for i, name in enumerate(classes):
        per_class[name] = {
            "precision": float(tp[i] / (tp[i] + fp[i])) if tp[i] + fp[i] else 0.0,
            "recall": float(tp[i] / (tp[i] + fn[i])) if tp[i] + fn[i] else 0.0,
            "f1": float(f1[i]),
            "support": int(tp[i] + fn[i]),
        }
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "macro_f1": float(macro),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


# ------------------------------------------------------------------------------------------ summaries


def mean_std(values: Sequence[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {
        "mean": float(v.mean()) if len(v) else math.nan,
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "n": int(len(v)),
    }


def paired_t_interval(diffs: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """t interval for the mean of paired differences; None with fewer than two pairs."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2:
        return None
    from scipy import stats as st

    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return (mean, mean)
    half = float(st.t.ppf(0.5 + confidence / 2, len(d) - 1)) * sd / math.sqrt(len(d))
    return (mean - half, mean + half)


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def paired_bootstrap(
    y_true: np.ndarray,
    base_preds: np.ndarray,
    aug_preds: np.ndarray,
    n_classes: int,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 250,
) -> dict[str, tuple[float, float]]:
    """Two-level paired bootstrap interval of mean(aug - base) for accuracy and macro-F1.

    ``base_preds`` and ``aug_preds`` are (repeats, n_test) predicted class indices on the same test set.
    """
    y = np.asarray(y_true, dtype=np.int64)
    base = np.atleast_2d(np.asarray(base_preds, dtype=np.int64))
    aug = np.atleast_2d(np.asarray(aug_preds, dtype=np.int64))
    r, n = base.shape
    if aug.shape != base.shape or len(y) != n:
        raise ValueError("base_preds, aug_preds and y_true disagree in shape")
    if np.array_equal(base, aug):
        return {"accuracy": (0.0, 0.0), "macro_f1": (0.0, 0.0)}
    rng = np.random.default_rng(seed)
    onehot_true = np.eye(n_classes, dtype=np.float32)[y]  # (n, C)

    def counts(preds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        onehot_pred = np.eye(n_classes, dtype=np.float32)[preds]
        tp = onehot_true * onehot_pred
        return tp, onehot_pred - tp, onehot_true - tp  # per-example tp, fp, fn indicators (n, C)

    per_rep = [(counts(base[i]), counts(aug[i])) for i in range(r)]
    acc_d = np.empty(n_boot)
    f1_d = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        items = rng.integers(0, n, size=(b, n))
        w = np.zeros((b, n), dtype=np.float32)
        np.add.at(w, (np.repeat(np.arange(b), n), items.ravel()), 1.0)
        reps = rng.integers(0, r, size=(b, r))
        d_acc = np.empty((r, b))
        d_f1 = np.empty((r, b))
        for i, (cb, ca) in enumerate(per_rep):
            m = []
            for tp, fp, fn in (cb, ca):
                wtp, wfp, wfn = w @ tp, w @ fp, w @ fn  # (b, C)
                m.append((wtp.sum(axis=1) / n, _f1_from_counts(wtp, wfp, wfn)[1]))
            d_acc[i] = m[1][0] - m[0][0]
            d_f1[i] = m[1][1] - m[0][1]
        cols = np.arange(b)
        acc_d[start:start + b] = d_acc[reps, cols[:, None]].mean(axis=1)
        f1_d[start:start + b] = d_f1[reps, cols[:, None]].mean(axis=1)
    return {"accuracy": _percentile_interval(acc_d, confidence), "macro_f1": _percentile_interval(f1_d, confidence)}


def repeat_bootstrap(diffs: Sequence[float], *, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95
                     ) -> tuple[float, float]:
    """Bootstrap over repeats only (when no per-example predictions exist, e.g. a custom model's own scores)."""
    d = np.asarray(diffs, dtype=float)
    if np.all(d == 0):
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    return _percentile_interval(means, confidence)


def variance_split(base_values: Sequence[float], aug_values: Sequence[float]) -> dict:
    """How the noise splits: spread of the baseline between runs, of the augmented arm, of the paired
    difference, and how much pairing removed (1 - var(diff) / (var(base) + var(aug)); 0 means the arms' noise
    is independent, close to 1 means common random numbers cancelled most of it)."""
    b, a = np.asarray(base_values, dtype=float), np.asarray(aug_values, dtype=float)
    if len(b) < 2:
        return {"baseline_sd": None, "augmented_sd": None, "difference_sd": None, "correlation": None,
                "variance_removed_by_pairing": None}
    vb, va, vd = float(b.var(ddof=1)), float(a.var(ddof=1)), float((a - b).var(ddof=1))
    corr = float(np.corrcoef(b, a)[0, 1]) if vb > 0 and va > 0 else None
    return {"baseline_sd": math.sqrt(vb), "augmented_sd": math.sqrt(va), "difference_sd": math.sqrt(vd),
            "correlation": corr, "variance_removed_by_pairing": (1 - vd / (vb + va)) if vb + va > 0 else None}


@dataclass
class Comparison:
    metric: str
    baseline: dict
    augmented: dict
    diff_mean: float
    diff_std: float
    diffs: list[float]
    ci: tuple[float, float] | None  # the verdict rule's interval (see augment.evaluate.verdict)
    bootstrap_ci: tuple[float, float] | None  # descriptive: two-level paired bootstrap (hold-out design only)
    mde: float | None
    verdict: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ci"] = list(self.ci) if self.ci else None
        d["bootstrap_ci"] = list(self.bootstrap_ci) if self.bootstrap_ci else None
        return d


def compare(metric: str, base_values: Sequence[float], aug_values: Sequence[float],
            bootstrap_ci: tuple[float, float] | None, decision) -> Comparison:
    """Summaries of both arms and their paired difference; ``decision`` is the verdict rule's
    :class:`augment.evaluate.verdict.Decision` for these differences."""
    base = np.asarray(base_values, dtype=float)
    aug = np.asarray(aug_values, dtype=float)
    diffs = aug - base
    return Comparison(
        metric=metric,
        baseline=mean_std(base),
        augmented=mean_std(aug),
        diff_mean=float(diffs.mean()) if len(diffs) else math.nan,
        diff_std=mean_std(diffs)["std"],
        diffs=[float(x) for x in diffs],
        ci=decision.ci,
        bootstrap_ci=bootstrap_ci,
        mde=decision.mde,
        verdict=decision.verdict,
    )


def compare_paired_runs(arms: dict[str, list[dict]], metrics: Sequence[str], seed: int) -> dict[str, dict]:
    """Per metric, the baseline arm against the augmented arm of runs paired by seed (``arms["baseline"][r]``
    with ``arms["augmented"][r]``), with the verdict rule of `augment eval` for fixed repeats (paired t at 0.05)
    and the descriptive two-level bootstrap interval."""
    from .verdict import decide

    out = {}
    for metric in metrics:
        base = [a[metric] for a in arms["baseline"]]
        aug = [a[metric] for a in arms["augmented"]]
        diffs = [b - a for a, b in zip(base, aug)]
        ci = repeat_bootstrap(diffs, seed=seed) if len(diffs) > 1 else None
        out[metric] = compare(metric, base, aug, ci, decide(diffs, level=0.05)).to_dict()
    return out
