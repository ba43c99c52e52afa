"""Set-up of the processes the engines start for themselves (never applied to a user's own process)."""

from __future__ import annotations

import os
import sys


def init_worker() -> None:
    """Keep albumentations from importing torch in our own worker processes.

    albumentations imports its optional ``albumentations.pytorch`` helpers, and with them all of torch, whenever
    torch is installed: 2 s and ~470 MB per worker that the albumentations backend never uses. Marking that
    module as absent makes albumentations skip it (it guards the import). Only done in processes the engines
    own, so library users who want ``albumentations.pytorch`` are unaffected; the torchvision backend imports
    torch itself and is unaffected too.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" not in sys.modules:
        sys.modules.setdefault("albumentations.pytorch", None)
