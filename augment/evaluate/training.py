"""One deterministic training loop for the torch benchmark models: a fixed budget with a learning-rate schedule.

Determinism: inside :func:`deterministic` torch uses deterministic algorithms, a fixed number of threads and a
forked global RNG seeded from the model seed (weight init, dropout); batches are shuffled by a numpy
generator from the same seed. The previous global torch settings are restored on exit.

Budget: training runs in "periods". A period is one pass over ``epoch_size`` examples (the arm's own size by
default: same number of epochs over the larger set, as in the EDA paper; or the baseline's size: the same
number of optimiser steps for both arms). By default the model trains for exactly ``max_epochs`` periods (scaled
up so the baseline takes at least ``min_steps`` steps) with a cosine learning-rate decay to zero: a fixed,
documented budget adds no noise, whereas early stopping on a small validation slice adds a lot (a slice of 75
images decides when a run stops). ``early_stopping=True`` brings it back: a validation slice is carved out of
each training subset, training never stops before ``min_steps`` steps, then stops after ``patience`` periods
without improvement and restores the best weights.

Both arms of a run share the seed, hence the initial weights (same architecture) and the shuffling stream.
The loop records a learning curve: mean training loss per period and, when the caller gives a held-out scorer,
held-out accuracy at up to ``CURVE_POINTS`` periods (for the report only; no decision uses it).
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrainOptions", "deterministic", "train_classifier", "predict", "regularisation_summary"]

CURVE_POINTS = 10  # held-out evaluations per training run (each costs a pass over the test set)


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_epochs: int = Field(30, ge=1)  # the budget: epochs trained (an upper bound with early stopping)
    schedule: Literal["cosine", "constant"] = "cosine"
    early_stopping: bool = False
    patience: int = Field(5, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    dropout: float = Field(0.3, ge=0, lt=1)
    min_delta: float = Field(1e-4, ge=0)
    # Small training sets: an epoch of 50 examples is 2 steps, too few to learn anything in max_epochs. The
    # epoch cap and the patience are both multiplied by the smallest integer that gives the baseline at least
    # min_steps optimiser steps; the factor comes from the baseline's size, so both arms share it. Early
    # stopping never stops a run before min_steps steps.
    min_steps: int = Field(300, ge=0)
    # what early stopping watches on the validation slice: "loss", or "accuracy" (ties broken by lower loss),
    # which is steadier on small slices where an over-confident model's loss rises while its accuracy improves
    monitor: Literal["loss", "accuracy"] = "loss"


@contextmanager
def deterministic(seed: int, threads: int) -> Iterator[None]:
    import torch

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(max(1, int(threads)))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def train_classifier(
    net,
    n_train: int,
    train_batch: Callable[[np.ndarray], tuple],
    y_train: np.ndarray,
    val_inputs: tuple | None,
    y_val: np.ndarray | None,
    opts: TrainOptions,
    seed: int,
    epoch_size: int | None = None,
    base_size: int | None = None,
    held_out_accuracy: Callable[[], float] | None = None,
) -> dict:
    """Train ``net`` in place (call inside :func:`deterministic`). ``train_batch(indices)`` returns the
    positional inputs of ``net`` for those training examples; ``val_inputs`` those of the whole validation
    slice. Returns what happened, for the report."""
    import torch
    import torch.nn.functional as F

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    device = next(net.parameters()).device  # the inputs are already there: moved once per fit by the model
    y_train_t = torch.as_tensor(y_train, dtype=torch.long).to(device)
    has_val = val_inputs is not None and y_val is not None and len(y_val) > 0
    y_val_t = torch.as_tensor(y_val, dtype=torch.long).to(device) if has_val else None
    period_examples = int(epoch_size or n_train)
    steps_per_period = max(1, math.ceil(period_examples / opts.batch_size))
    base_steps = max(1, math.ceil(int(base_size or period_examples) / opts.batch_size))
    scale = max(1, math.ceil(opts.min_steps / (opts.max_epochs * base_steps)))
    max_epochs, patience = opts.max_epochs * scale, opts.patience * scale
    max_steps = max_epochs * steps_per_period
    optim = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    early = opts.early_stopping and has_val
    curve_every = max(1, math.ceil(max_epochs / CURVE_POINTS))

    def set_lr(step_no: int) -> None:
        if opts.schedule == "cosine":
            for group in optim.param_groups:
                group["lr"] = opts.lr * 0.5 * (1 + math.cos(math.pi * step_no / max_steps))

    def batches() -> Iterator[np.ndarray]:
        while True:
            perm = rng.permutation(n_train)
            for i in range(0, n_train, opts.batch_size):
                yield perm[i:i + opts.batch_size]

    best_loss, best_acc, best_state, best_period, bad = math.inf, -1.0, None, 0, 0
    history: list[float] = []
    curve: list[dict] = []
    stream = batches()
    step = 0
    period = 0
    stopped_early = False
    while step < max_steps:
        net.train()
        losses = []
        for _ in range(steps_per_period):
            idx = next(stream)
            set_lr(step)
            logits = net(*train_batch(idx))
            loss = F.cross_entropy(logits, y_train_t[idx])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            losses.append(float(loss.detach()))
            step += 1
            if step >= max_steps:
                break
        period += 1
        point = {"epoch": period, "train_loss": round(float(np.mean(losses)), 5)}
        if held_out_accuracy is not None and (period % curve_every == 0 or step >= max_steps):
            point["held_out_accuracy"] = round(float(held_out_accuracy()), 5)
            net.train()
        curve.append(point)
        if early:
            net.eval()
            with torch.no_grad():
                vlogits = net(*val_inputs)
                vloss = float(F.cross_entropy(vlogits, y_val_t))
                vacc = float((vlogits.argmax(dim=1) == y_val_t).float().mean())
            history.append(round(vloss, 6))
            if opts.monitor == "loss":
                better = vloss < best_loss - opts.min_delta
            else:
                better = vacc > best_acc or (vacc == best_acc and vloss < best_loss - opts.min_delta)
            if better:
                best_loss, best_acc, best_period, bad = vloss, vacc, period, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                bad += 1
                if bad >= patience and step >= opts.min_steps:
                    stopped_early = True
                    break
    if early and best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {
        "budget": "early stopping" if early else f"fixed: {max_steps} steps, {opts.schedule} learning rate",
        "epochs_run": period,
        "best_epoch": best_period if early else period,
        "steps": step,
        "steps_per_epoch": steps_per_period,
        "max_epochs": max_epochs,
        "patience_epochs": patience,
        "stopped_early": stopped_early,
        "best_val_loss": None if not early else round(best_loss, 6),
        "best_val_accuracy": None if not early else round(best_acc, 6),
        "val_loss_history": history,
        "learning_curve": curve,
        "train_seconds": round(time.perf_counter() - t0, 4),
    }


def predict(net, n: int, batch_inputs: Callable[[np.ndarray], tuple], batch_size: int = 512) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            idx = np.arange(i, min(n, i + batch_size))
            out.append(net(*batch_inputs(idx)).argmax(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def accuracy_of(net, n: int, batch_inputs: Callable[[np.ndarray], tuple], labels: np.ndarray) -> float:
    return float((predict(net, n, batch_inputs) == np.asarray(labels)).mean()) if n else float("nan")


def regularisation_summary(opts: TrainOptions, has_val: bool | None = None) -> dict:
    has_val = opts.early_stopping if has_val is None else has_val
    return {
        "budget": (f"{opts.max_epochs} epochs (at least {opts.min_steps} steps), {opts.schedule} learning rate"
                   + (", early stopping" if has_val else ", no early stopping")),
        "dropout": opts.dropout,
        "weight_decay": opts.weight_decay,
        "weight_decay_kind": "decoupled (AdamW)",
        "early_stopping": {
            "monitor": f"validation {opts.monitor}" + (" (ties: lower loss)" if opts.monitor == "accuracy" else ""),
            "patience_epochs": opts.patience,
            "small_set_rule": f"epoch cap and patience scaled up so the baseline can take >= {opts.min_steps} steps; "
                              f"never stops before {opts.min_steps} steps",
            "min_delta": opts.min_delta,
            "restore_best_weights": True,
            "validation": "a stratified slice of each training subset (originals only, never augmented)",
        } if has_val else None,
    }
