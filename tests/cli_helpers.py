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


def run_with_one_and_two_workers(spec: Path, src: Path, tmp_path: Path) -> Path:
    """``augment run SPEC SRC`` with ``--workers 1`` into ``tmp_path/o1`` and ``--workers 2`` into ``tmp_path/o2``;
    asserts both wrote the same bytes for SRC's output and returns ``o1``."""
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"o{workers}"
        proc = cli("run", spec, src, out, "--workers", workers, timeout=600)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        outs.append((out / src.name).read_bytes())
    assert outs[0] == outs[1], "one and two workers wrote different bytes"
    return tmp_path / "o1"


def assert_replays(out: Path, output: str, record: dict) -> None:
    """``augment replay OUT OUTPUT --row --copy`` of a manifest record reports an identical output."""
    import json

    proc = cli("replay", out, output, "--row", str(record["row"]), "--copy", str(record["copy"]), timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert json.loads(proc.stdout)["identical"] is True


def flip_spec(tmp_path: Path) -> Path:
    """The flip spec written to ``tmp_path/flip.yaml``."""
    path = tmp_path / "flip.yaml"
    path.write_text(FLIP)
    return path


__all__ = ["REPO", "FLIP", "assert_replays", "cli", "flip_spec", "run_with_one_and_two_workers"]
