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
    assert out.split() == ["False", "None"]  # no torch, and no variable left in the environment


def test_library_import_never_phones_home_but_leaves_albumentations_whole():
    out = run_python(
        "import os, sys\n"
        "import albumentations.check_version as cv\n"
        "cv.check_for_updates = lambda *a, **k: print('PHONED')\n"  # albumentations calls it at import
        "import augment.compile.backend_albumentations\n"
        "import albumentations.pytorch\n"
        "print(os.environ.get('NO_ALBUMENTATIONS_UPDATE'), 'albumentations.pytorch' in sys.modules)\n"
    )
    assert out.split() == ["None", "True"]


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


def _rss_after_a_large_image(args):
    """In a pool worker: RSS (MB) before and after augmenting one 3000x3000 JPEG, then a small one."""
    import os

    import psutil

    from augment.run.job import ImageTask, process_chunk

    config, large, small = args
    me = psutil.Process()
    process_chunk(config, [ImageTask(small, (0,))])  # imports and first-use allocations out of the way
    before = me.memory_info().rss
    for k in range(1, 4):  # as in a run: large images now and then, small ones between
        process_chunk(config, [ImageTask(large, (k,)), ImageTask(small, (k,))])
    return os.getpid(), before / 2**20, me.memory_info().rss / 2**20


def test_a_large_image_does_not_leave_its_memory_with_the_worker(tmp_path):
    """Found measuring memory at 1x vs 10x the files: after one 3024x3024 photo a worker kept ~100 MB of freed
    heap for the rest of the run (glibc's dynamic mmap threshold)."""
    import numpy as np
    from PIL import Image

    from augment.compile.pipeline import Pipeline
    from augment.run.engines import LocalEngine
    from augment.run.job import JobConfig
    from augment.spec import parse_spec

    src = tmp_path / "in"
    src.mkdir()
    ramp = np.linspace(0, 255, 3000, dtype=np.float32)
    big = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, -ramp) / 2 + 128, np.tile(ramp, (3000, 1))], -1)
    Image.fromarray(big.clip(0, 255).astype(np.uint8)).save(src / "large.jpg", quality=90)
    Image.fromarray(big[:64, :64].clip(0, 255).astype(np.uint8)).save(src / "small.jpg")
    pipe = Pipeline(parse_spec({"name": "t", "modality": "image", "steps": [{"op": "zoom"}, {"op": "rotate"}]}))
    config = JobConfig(spec=pipe.spec.model_dump(mode="json"), spec_hash=pipe.spec_hash, input_root=str(src),
                       output_root=str(tmp_path / "out"))
    with LocalEngine(workers=1)._pool() as pool:
        _, before, after = pool.submit(_rss_after_a_large_image, (config, "large.jpg", "small.jpg")).result()
    assert after - before < 40, f"worker kept {after - before:.0f} MB after 3000x3000 images"
