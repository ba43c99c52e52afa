"""Shared fixtures: real files in tmp folders, paths to ../shared data (read in place, never copied)."""

from __future__ import annotations

import os
import shutil
import signal
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



def pytest_configure(config):
    # A suite started in the background by a non-interactive shell (`make test &`, nohup, some CI runners)
    # inherits SIGINT ignored, and so does every CLI a test starts: Python then installs no Ctrl-C handler and the
    # tests that press Ctrl-C on a run saw it run to the end. Those tests are about a user at a terminal: give the
    # children the terminal's default. A hook, not import-time code: helper modules import conftest in children
    # that must keep SIGINT ignored (test_ctrl_c_children).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
