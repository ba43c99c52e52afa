"""The run's own error, below every module of ``augment.run`` so each can raise it without importing the expander."""

from __future__ import annotations


class RunError(RuntimeError):
    """The run cannot start or cannot go on; the message is one line for the user."""


class AnnotationsFound(RunError):
    """INPUT would be read as class folders but holds annotation files a run would lose (exit 6)."""


class RunTerminated(KeyboardInterrupt):
    """SIGTERM (what SLURM, Kubernetes and ``docker stop`` send) reached the run's process. A KeyboardInterrupt,
    so every clean-up path treats it like Ctrl-C: workers stopped, records kept, the run resumable."""


__all__ = ["AnnotationsFound", "RunError", "RunTerminated"]
