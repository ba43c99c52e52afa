"""The heap settings of the processes the engines own (``run.worker.return_large_buffers``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

_FAULTS = """
import json, resource, sys
import numpy as np
from augment.run.worker import return_large_buffers, LARGE_BUFFER

applied = return_large_buffers()
size = int(sys.argv[1])
for _ in range(5):  # settle
    np.ones(size, dtype=np.uint8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # an image-sized buffer made, written and freed, as each output of a run does
    np.ones(size, dtype=np.uint8)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults, "large": LARGE_BUFFER}))
"""


def _faults(size: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", _FAULTS, str(size)], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("size", [256 * 1024, 512 * 512 * 3, 3 * 2**20])
def test_a_worker_reuses_freed_image_buffers_below_the_mmap_threshold(size):
    """A fixed mmap threshold also fixed glibc's trim threshold at 128 KiB: each freed image-sized buffer went back to
    the OS and the next one faulted in again, a page at a time (~250,000 faults in a 600-output run on 512x512)."""
    got = _faults(size)
    if not got["applied"]:
        pytest.skip("not glibc: mallopt is not there")
    pages = size // 4096
    # 50 buffers of `pages` pages each: re-faulting them would be 50 x pages faults; reuse costs next to none
    assert got["faults"] < 5 * pages, got


_RSS = """
import json, os
import numpy as np
from augment.run.worker import return_large_buffers

applied = return_large_buffers() if os.environ.get("APPLY") == "1" else None

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

base = rss()
for _ in range(3):  # a large photo's buffers, made, written and freed
    np.ones(24 * 2**20, dtype=np.uint8)
print(json.dumps({"applied": applied, "kept": rss() - base}))
"""


def test_buffers_from_the_mmap_threshold_up_still_go_back_to_the_os():
    """What return_large_buffers is for: after a large photo, its buffers do not stay in the worker's heap (without
    it glibc usually raises its thresholds after the first and keeps the memory; not always, as where the heap can
    grow depends on the address-space layout, so only the setting's side is asserted)."""
    proc = subprocess.run([sys.executable, "-c", _RSS], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO), APPLY="1"))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    if got["applied"] is False:
        pytest.skip("not glibc: mallopt is not there")
    assert got["kept"] < 4 * 2**20, got
