"""The types every benchmark model shares (the protocol, the built-in models and custom models import these;
nothing here imports a model, so the package has no import cycles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence

import numpy as np

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


__all__ = ["TrainSet", "ModelOutput", "BenchmarkModel"]
