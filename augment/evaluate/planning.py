"""What an evaluation will run before it runs: worker processes, the key that names it for ``--resume``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .loop import can_fork, default_jobs

__all__ = ["plan_jobs", "evaluation_key"]

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
