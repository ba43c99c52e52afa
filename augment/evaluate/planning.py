"""What an evaluation will run before it runs: worker processes, the key that names it for ``--resume``, the
time kept for what follows the last fit, and where the time of a budgeted evaluation went."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import numpy as np

from .loop import can_fork, default_jobs

__all__ = ["plan_jobs", "evaluation_key", "tail_estimate", "measure_tail", "budget_timings", "time_line"]

# options that change neither what a fit trains nor what it scores: a journal stays valid across them
_NOT_IN_KEY = ("out", "quiet", "resume", "jobs", "time_budget", "max_repeats", "min_repeats", "alpha", "margin",
               "n_bootstrap", "n_samples", "cv_repeats")


def plan_jobs(config: Any, custom: bool = False, device: str = "cpu") -> tuple[int, str | None]:
    """(worker processes, a note when fewer than asked) for ``config.jobs`` (None: every core)."""
    wanted = config.jobs if config.jobs is not None else default_jobs()
    if wanted <= 1:
        return 1, None
    if custom:
        return 1, "a custom model runs its fits one at a time (it has its own child process)"
    if not can_fork():
        return 1, "parallel fits need the 'fork' start method, which this platform lacks: fits run one at a time"
    if device.startswith(("cuda", "mps")):
        return 1, "fits on a GPU run one at a time (one device)"
    return wanted, None


def evaluation_key(config: Any, augmenter: Any) -> dict:
    """What identifies an evaluation's fits: every option that changes a fit, and the pipeline's hash."""
    options = {k: v for k, v in config.model_dump(mode="json").items() if k not in _NOT_IN_KEY}
    spec = getattr(augmenter, "spec", None)
    spec_digest = getattr(augmenter, "spec_hash", None) or hashlib.sha256(
        json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    return {"options": options, "pipeline": spec_digest}


# What follows the last fit, measured on the shared 2-core machine at load 7 (issue 21): the two-level bootstrap
# of every size and arm (n_bootstrap resamples of runs x test examples) took 1.8e-7 s per resample x run x test
# example; the report's figures and files 7-10 s (matplotlib's import included); idle, 2-4x less. Both move
# with the machine's load, so :func:`measure_tail` times them on this machine, now, before the fits start.
TAIL_FIXED_SECONDS = 3.0
TAIL_SECONDS_PER_BOOTSTRAP_CELL = 1.2e-7  # per resample x run x test example, per augmented arm
REPORT_FIGURES = 6  # the report's figures, and as much again for its files
TAIL_SAFETY = 1.5  # measured costs vary from one call to the next on a loaded machine


def tail_estimate(n_test: int, n_arms: int, n_bootstrap: int, runs: int, *, fixed: float = TAIL_FIXED_SECONDS,
                  per_cell: float = TAIL_SECONDS_PER_BOOTSTRAP_CELL) -> float:
    """Seconds to keep before the deadline for the statistics and the report when ``runs`` runs (over every
    size) have finished: the bootstrap grows with them, the figures and files do not."""
    cells = float(n_bootstrap) * max(1, runs) * max(1, n_test) * max(1, n_arms - 1)
    return fixed + per_cell * cells


TAIL_SAMPLES = 3  # each cost is the fastest of this many measurements: one load spike must not reserve minutes


def _fastest(action: Any, samples: int) -> float:
    best = float("inf")
    for _ in range(max(1, samples)):
        t = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - t)
    return best


def measure_tail(n_test: int, n_classes: int, seed: int = 0) -> dict:
    """The tail's costs on this machine now: one report figure rendered (matplotlib imported first: the report
    needs it anyway) and a small two-level bootstrap; ``{"fixed", "per_cell"}`` for :func:`tail_estimate`,
    with :data:`TAIL_SAFETY` applied. Each is the fastest of :data:`TAIL_SAMPLES` measurements: the figure's
    cost is multiplied by the report's figures, so one render slowed by a load spike (or the first render's
    font loading, paid once) reserved minutes that the report never used (116 s for 23 s at load 11). Takes
    about a second on a loaded 2-core machine."""
    import io

    from matplotlib.figure import Figure

    from .stats import paired_bootstrap

    def render() -> None:
        fig = Figure(figsize=(9.5, 3.4))
        ax = fig.add_subplot()
        ax.plot(np.arange(10), np.arange(10) ** 0.5, marker="o")
        ax.set_title("tail")
        fig.tight_layout()
        fig.savefig(io.BytesIO(), format="png", dpi=110, bbox_inches="tight")

    figure = _fastest(render, TAIL_SAMPLES)
    rng = np.random.default_rng(seed)
    n, c = max(1, int(n_test)), max(2, int(n_classes))
    y = rng.integers(0, c, n)
    base, aug = rng.integers(0, c, (2, n)), rng.integers(0, c, (2, n))
    per_cell = _fastest(lambda: paired_bootstrap(y, base, aug, c, n_boot=100, seed=seed), 2) / (100 * 2 * n)
    return {"fixed": round(TAIL_SAFETY * (1.0 + 2 * REPORT_FIGURES * figure), 3),
            "per_cell": TAIL_SAFETY * per_cell}


def budget_timings(budget: float | None, reserved: float, *, start: float, fits: float, statistics: float,
                   runs: list[dict]) -> dict:
    """Where the wall time went, for ``report.json``'s ``timings``: ``start`` (from the command's start to the
    first fit: imports, loading the data, the model), ``fits`` (the fits' wall time, augmenting the copies
    included; ``augment_seconds`` is the augmenting summed over the processes that did it, from the run
    records' own timings) and ``statistics`` (intervals, bootstrap, samples). Writing the report adds
    ``report_seconds`` (:func:`time_line`)."""
    augment = sum(float((r.get("timings") or {}).get("augment_seconds") or 0.0) for r in runs)
    return {"budget_seconds": budget, "tail_reserved_seconds": round(reserved, 3),
            "phases": {"start_and_load_seconds": round(start, 3), "fits_seconds": round(fits, 3),
                       "augment_seconds": round(augment, 3), "statistics_seconds": round(statistics, 3)}}


def time_line(timings: dict) -> str | None:
    """One line: the budget, the wall time used and where it went (None for a result without phases)."""
    phases = timings.get("phases")
    if not phases:
        return None
    wall = float(timings.get("wall_seconds", 0.0)) + float(timings.get("report_seconds") or 0.0)
    budget = timings.get("budget_seconds")
    head = (f"{wall:.0f} s of the {budget:.0f} s time budget" if budget else f"{wall:.0f} s (no time budget)")
    report = (f", writing the report {timings['report_seconds']:.1f} s" if timings.get("report_seconds") is not None
              else "")
    return (f"{head}: start-up and loading {phases['start_and_load_seconds']:.0f} s, fits "
            f"{phases['fits_seconds']:.0f} s (augmenting copies {phases['augment_seconds']:.0f} s of work in them), "
            f"statistics {phases['statistics_seconds']:.0f} s{report}")
