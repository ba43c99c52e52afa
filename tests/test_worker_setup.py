"""Engine worker processes stay lean and offline."""

import subprocess
import sys


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout


def test_worker_init_keeps_torch_out_of_albumentations_workers():
    out = run_python(
        "import sys, os\n"
        "from augment.run.worker import init_worker\n"
        "init_worker()\n"
        "import numpy as np\n"
        "from augment.compile.pipeline import Pipeline\n"
        "from augment.spec import parse_spec\n"
        "p = Pipeline(parse_spec({'name': 't', 'modality': 'image', 'steps': [{'op': 'zoom'}]}))\n"
        "p(np.zeros((8, 8, 3), np.uint8), seed=0)\n"
        "print('torch' in sys.modules, os.environ.get('NO_ALBUMENTATIONS_UPDATE'))\n"
    )
    assert out.split() == ["False", "1"]


def test_library_import_never_phones_home_but_leaves_albumentations_whole():
    out = run_python(
        "import os, sys\n"
        "import augment.compile.backend_albumentations\n"
        "import albumentations.pytorch\n"
        "print(os.environ.get('NO_ALBUMENTATIONS_UPDATE'), 'albumentations.pytorch' in sys.modules)\n"
    )
    assert out.split() == ["1", "True"]


def _worker_threads(_):
    import os

    import cv2

    return cv2.getNumThreads(), os.environ.get("OMP_NUM_THREADS")


def test_pool_workers_get_their_share_of_the_cores_for_native_thread_pools():
    """One worker per core, each with OpenCV's default thread per core, oversubscribed the machine; the
    local engine's workers now size OpenCV/OpenMP pools to cores // workers (the user's process is untouched)."""
    import cv2

    from augment.run.engines import LocalEngine, available_cores

    before = cv2.getNumThreads()
    engine = LocalEngine(workers=2)
    with engine._pool() as pool:
        seen = set(pool.map(_worker_threads, range(8)))
    share = max(1, available_cores() // 2)
    assert seen == {(share, str(share))}
    assert cv2.getNumThreads() == before  # only workers are configured
