"""What the CLI tests share: start ``augment`` as a user does (a real process, this tree) and a one-step flip spec
whose output is easy to check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLIP = """version: 1
name: flip
modality: image
seed: 3
copies: 1
steps:
  - op: horizontal_flip
    p: 1.0
"""


def cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    """``augment ARGS...`` from the repository (paths may be ``Path``, ``str`` or non-UTF-8 ``bytes``)."""
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(os.fsdecode, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def flip_spec(tmp_path: Path) -> Path:
    """The flip spec written to ``tmp_path/flip.yaml``."""
    path = tmp_path / "flip.yaml"
    path.write_text(FLIP)
    return path


__all__ = ["REPO", "FLIP", "cli", "flip_spec"]
