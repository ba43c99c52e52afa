"""The benchmark-model interface and the closed list of built-in models.

A benchmark model is trained from scratch on one arm's training examples and predicts the held-out set. The
protocol gives every arm of a run the same model seed, the same validation slice (when the model asks for
one) and the same budget rule; the model reports what it did (epochs run, regularisation used) so that
report.json can record it.

Built-in names (``--model``):

* ``cnn`` — small CNN for images (:mod:`augment.evaluate.image_model`);
* ``ngram`` — fastText-style bag of word uni+bigrams trained from scratch in torch
  (:mod:`augment.evaluate.text_models`);
* ``tfidf-logreg`` — TF-IDF + L2 logistic regression (scikit-learn);
* ``auto`` — ``cnn`` for images, ``ngram`` for text;
* ``module:function`` — bring your own (:mod:`augment.evaluate.custom`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Protocol, Sequence

import numpy as np

__all__ = ["Budget", "TrainSet", "ModelOutput", "BenchmarkModel", "BUILTIN_MODELS", "make_model"]

Budget = Literal["epochs", "steps"]


@dataclass
class TrainSet:
    """What a model trains on. ``val_*`` is the validation slice (original examples, never augmented)."""

    items: list[Any]
    labels: np.ndarray
    val_items: list[Any]
    val_labels: np.ndarray
    classes: list[str]
    is_copy: np.ndarray | None = None  # True where an example is an augmented copy
    # budget: the number of examples one "epoch" means. None: the arm's own size (same epochs over the
    # larger set, the EDA rule); the baseline's size: the same number of optimiser steps for both arms.
    epoch_size: int | None = None
    base_size: int | None = None  # the baseline arm's training-set size (for rules both arms must share)


@dataclass
class ModelOutput:
    """Either test predictions (class indices; the protocol computes every metric from them), or metrics
    computed by the model itself (custom models only)."""

    predictions: np.ndarray | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class BenchmarkModel(Protocol):
    name: str
    needs_validation: bool  # True: the protocol carves a validation slice out of each training subset

    def describe(self) -> dict[str, Any]:
        """Architecture, regularisation, early stopping and training settings, JSON-serialisable."""

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        """Train from scratch with ``seed`` and predict ``test_items``. Must be deterministic."""


BUILTIN_MODELS = ("auto", "cnn", "ngram", "tfidf-logreg")
_MODALITY = {"cnn": "image", "ngram": "text", "tfidf-logreg": "text"}


def make_model(name: str, modality: str, options: Mapping[str, Any] | None = None, threads: int = 1
               ) -> BenchmarkModel:
    """Build a benchmark model by name (see module docstring). Unknown names and options are errors."""
    options = dict(options or {})
    if ":" in name:
        from .custom import CustomModel

        if options:
            raise ValueError(f"model options {sorted(options)} do not apply to a custom model ({name})")
        return CustomModel(name)
    if name == "auto":
        name = "cnn" if modality == "image" else "ngram"
    if name not in _MODALITY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BUILTIN_MODELS)} or module:function")
    if _MODALITY[name] != modality:
        raise ValueError(f"model {name!r} is for {_MODALITY[name]} data, but the data is {modality}")
    if name == "cnn":
        from .image_model import CNNOptions, SmallCNNModel

        return SmallCNNModel(_options(CNNOptions, name, options), threads=threads)
    if name == "ngram":
        from .text_models import NgramModel, NgramOptions

        return NgramModel(_options(NgramOptions, name, options), threads=threads)
    from .text_models import TfidfLogRegModel, TfidfOptions

    return TfidfLogRegModel(_options(TfidfOptions, name, options))


def _options(schema: type, model: str, options: Mapping[str, Any]):
    """``schema(**options)`` with one-line errors that name the option and what the model accepts."""
    from pydantic import ValidationError

    from augment.spec.errors import did_you_mean, show

    try:
        return schema(**options)
    except ValidationError as exc:
        allowed = ", ".join(sorted(schema.model_fields))
        problems = []
        for error in exc.errors():
            key = ".".join(map(str, error["loc"]))
            if error["type"] == "extra_forbidden":
                hint = did_you_mean(key, schema.model_fields)
                problems.append(f"model option {key!r} is not an option of {model}{hint}; allowed: {allowed}")
            else:
                problems.append(f"model option {key}={show(error.get('input'))}: {error['msg']}")
        raise ValueError("; ".join(problems)) from None
