"""Shared fixtures: real files in tmp folders, paths to ../shared data (read in place, never copied)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLES = REPO / "samples"
PIPELINES = REPO / "pipelines"

# The WordNet index cache of the tests (and of the CLI processes they start) stays inside the checkout.
os.environ.setdefault("AUGMENT_CACHE_DIR", str(REPO / ".cache" / "augment"))


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.skip(f"../shared datasets not present at {SHARED}")
    return SHARED


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A small ImageFolder: two classes, RGB JPEG and gray PNG, one nested sub-folder."""
    root = tmp_path / "in"
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 256, size=(24 + i, 32, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"img{i}.jpg", quality=90)
        Image.fromarray(rng.integers(0, 256, size=(20, 20), dtype=np.uint8)).save(root / cls / "gray.png")
    return root


@pytest.fixture
def digits_folder(tmp_path: Path) -> Path:
    dst = tmp_path / "digits"
    shutil.copytree(SAMPLES / "digits", dst)
    return dst


def _sigint_state() -> tuple[bool, bool]:
    """(ignored, blocked) for SIGINT in this process's main thread, as the kernel has it: a child started by a
    later test inherits both (an ignored SIGINT survives exec), and Python does not see a C library's change."""
    ignored = blocked = False
    try:
        with open(f"/proc/{os.getpid()}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("SigIgn:"):
                    ignored = bool(int(line.split(":")[1], 16) & 0x2)
                elif line.startswith("SigBlk:"):
                    blocked = bool(int(line.split(":")[1], 16) & 0x2)
    except OSError:  # no /proc (macOS): nothing to compare
        pass
    return ignored, blocked


@pytest.fixture(autouse=True)
def _sigint_left_as_found(request):
    """A test that leaves SIGINT ignored or blocked in the xdist worker made every later Ctrl-C test of that worker
    fail (the CLI it starts inherits the ignored signal and runs to the end). Restore it and name the test."""
    import signal
    import warnings

    before = _sigint_state()
    yield
    after = _sigint_state()
    if after != before and before == (False, False):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        warnings.warn(f"{request.node.nodeid} left SIGINT (ignored, blocked) = {after}; restored", stacklevel=1)
