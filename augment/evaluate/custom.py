"""Bring your own model: ``augment eval ... --model mypackage.mymodule:train_and_predict``.

The function is imported from the named module (which must be importable: installed, or on ``PYTHONPATH``)
and called once per arm of every run::

    def train_and_predict(train, test, *, seed):
        '''train: list of (example, label) pairs to learn from -- the training subset, plus its augmented
                  copies in the augmented arm. An example is an HxWxC uint8 numpy array (images) or a str
                  (text); a label is the class name (str).
           test:  list of (example, label) pairs of the held-out set (the same in every run and arm).
                  Use the labels only to score; never train on them.
           seed:  int; use it for every random choice so the run can be repeated exactly. Both arms of a
                  run get the same seed.
           Return a mapping with either
             "predictions": one predicted class name per test example, in order -- preferred: accuracy,
                            macro-F1, per-class scores and the paired bootstrap are then computed for you; or
             "accuracy" (and optionally "macro_f1"): your own scores in [0, 1].
           Any other numeric entries are recorded in report.json under "extra".'''

Example (a nearest-centroid classifier on bag-of-words, for text)::

    # my_models.py
    from collections import Counter

    def centroid(train, test, *, seed):
        sums = {}
        for text, label in train:
            sums.setdefault(label, Counter()).update(text.split())
        def score(text, label):
            c = sums[label]
            return sum(c[w] for w in text.split()) / (sum(c.values()) or 1)
        return {"predictions": [max(sums, key=lambda lab: score(text, lab)) for text, _ in test]}

    # augment eval pipelines/eda.yaml --train data/train.tsv --model my_models:centroid

The protocol does not carve a validation slice out of the training subset for a custom model: the function
gets the whole subset and may hold out what it needs itself.
"""

from __future__ import annotations

import importlib
import inspect
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .models import ModelOutput, TrainSet

__all__ = ["resolve", "CustomModel"]


def resolve(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (dotted attribute paths after the colon are allowed)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"custom model must be written module:function, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} for model {spec!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (model {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"model {spec!r} is not callable")
    return obj


class CustomModel:
    needs_validation = False

    def __init__(self, spec: str) -> None:
        self.name = spec
        self.fn = resolve(spec)

    def describe(self) -> dict[str, Any]:
        doc = inspect.getdoc(self.fn) or ""
        return {"name": self.name, "kind": "custom (module:function)", "doc": doc.splitlines()[0] if doc else "",
                "regularisation": "defined by the custom model"}

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        classes = train.classes
        pairs = [(x, classes[int(y)]) for x, y in zip(list(train.items) + list(train.val_items),
                                                       np.concatenate([train.labels, train.val_labels]))]
        if test_labels is None:
            raise ValueError("custom models need the test labels to be passed for scoring")
        test_pairs = [(x, classes[int(y)]) for x, y in zip(test_items, test_labels)]
        t0 = time.perf_counter()
        result = self.fn(pairs, test_pairs, seed=seed)
        elapsed = round(time.perf_counter() - t0, 4)
        if not isinstance(result, Mapping):
            raise TypeError(f"custom model {self.name} must return a mapping, got {type(result).__name__}")
        info: dict[str, Any] = {"train_seconds": elapsed}
        extra = {k: float(v) for k, v in result.items()
                 if k not in ("predictions", "accuracy", "macro_f1") and isinstance(v, (int, float))}
        if extra:
            info["extra"] = extra
        if "predictions" in result:
            preds = list(result["predictions"])
            if len(preds) != len(test_items):
                raise ValueError(f"custom model {self.name} returned {len(preds)} predictions "
                                 f"for {len(test_items)} test examples")
            pos = {c: i for i, c in enumerate(classes)}
            idx = []
            for p in preds:
                key = p if isinstance(p, str) else (classes[int(p)] if isinstance(p, (int, np.integer)) else str(p))
                if key not in pos:
                    raise ValueError(f"custom model {self.name} predicted unknown class {p!r}")
                idx.append(pos[key])
            return ModelOutput(predictions=np.array(idx, dtype=np.int64), info=info)
        if "accuracy" not in result:
            raise ValueError(f"custom model {self.name} must return 'predictions' or 'accuracy'")
        metrics = {"accuracy": float(result["accuracy"])}
        if "macro_f1" in result:
            metrics["macro_f1"] = float(result["macro_f1"])
        return ModelOutput(metrics=metrics, info=info)
