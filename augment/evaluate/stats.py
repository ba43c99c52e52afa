"""Statistics for a paired comparison of two training arms evaluated on the same held-out set.

* Point metrics: accuracy and macro-F1 (F1 averaged over the classes present in the true or predicted labels,
  as scikit-learn does; a class with no true and no predicted examples is left out), per-class
  precision/recall/F1.
* Spread over repeats: mean and sample standard deviation (ddof=1; 0 for a single repeat).
* Paired difference (augmented - baseline), two 95% intervals:

  - a two-level paired bootstrap (seeded): each replicate resamples the repeats (training subsets) with
    replacement *and* the held-out examples with replacement, applying the same resampled test set to both
    arms of every repeat, and averages the per-repeat differences. It covers both sources of noise: which
    training subset was drawn, and which test examples happen to be in the held-out set. Percentile
    interval.
  - a paired t interval over the per-repeat differences (n >= 2), the textbook choice for few repeats.

* Verdict per training size and number of copies: "helps" when both intervals lie above zero, "hurts" when
  both lie below zero, otherwise "no detectable effect". Requiring both is deliberately conservative: with 3-5
  repeats the bootstrap over repeats alone is too narrow, and the t interval alone ignores test-set noise.
  An arm identical to its baseline has every difference exactly zero, so both intervals are [0, 0] and the
  verdict is "no detectable effect".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

__all__ = [
    "confusion",
    "classification_metrics",
    "mean_std",
    "paired_t_interval",
    "paired_bootstrap",
    "repeat_bootstrap",
    "verdict",
    "Comparison",
    "compare",
]

HELPS, HURTS, NO_EFFECT = "helps", "hurts", "no detectable effect"


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


def verdict(*intervals: tuple[float, float] | None) -> str:
    """"helps" if every available interval lies above 0, "hurts" if every one lies below, else no effect."""
    ivs = [iv for iv in intervals if iv is not None]
    if not ivs:
        return NO_EFFECT
    if all(lo > 0 for lo, _ in ivs):
        return HELPS
    if all(hi < 0 for _, hi in ivs):
        return HURTS
    return NO_EFFECT


@dataclass
class Comparison:
    metric: str
    baseline: dict
    augmented: dict
    diff_mean: float
    diff_std: float
    diffs: list[float]
    bootstrap_ci: tuple[float, float] | None
    t_ci: tuple[float, float] | None
    verdict: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bootstrap_ci"] = list(self.bootstrap_ci) if self.bootstrap_ci else None
        d["t_ci"] = list(self.t_ci) if self.t_ci else None
        return d


def compare(metric: str, base_values: Sequence[float], aug_values: Sequence[float],
            bootstrap_ci: tuple[float, float] | None, confidence: float = 0.95) -> Comparison:
    base = np.asarray(base_values, dtype=float)
    aug = np.asarray(aug_values, dtype=float)
    diffs = aug - base
    t_ci = paired_t_interval(diffs, confidence)
    return Comparison(
        metric=metric,
        baseline=mean_std(base),
        augmented=mean_std(aug),
        diff_mean=float(diffs.mean()),
        diff_std=mean_std(diffs)["std"],
        diffs=[float(x) for x in diffs],
        bootstrap_ci=bootstrap_ci,
        t_ci=t_ci,
        verdict=verdict(bootstrap_ci, t_ci),
    )
