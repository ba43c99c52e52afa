"""A core install works without any extra, and a feature whose extra is missing stops in one line naming it.

"Missing" is simulated in a subprocess by a meta-path finder that refuses the extra's modules, as an environment
without them would (ModuleNotFoundError on import, ``find_spec`` finding nothing).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from augment.extras import DISTRIBUTION, EXTRAS, MissingExtraError, extra_for_module, require

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"

# every module that only an extra installs
EXTRA_ONLY = sorted({m for modules in EXTRAS.values() for m in modules} | {"sentencepiece"})

BLOCKER = """
import sys
BLOCKED = set(sys.argv.pop(1).split(","))
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
for name in list(sys.modules):
    if name.split(".")[0] in BLOCKED:
        del sys.modules[name]
sys.meta_path.insert(0, _Blocker())
"""


def _run_blocked(blocked, code: str, *args, cwd=REPO, timeout=300):
    return subprocess.run([sys.executable, "-c", BLOCKER + code, ",".join(blocked), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


def _cli_blocked(blocked, *args, cwd=REPO):
    code = "import runpy; sys.argv = ['augment', *sys.argv[1:]]; runpy.run_module('augment.cli', run_name='__main__')"
    return _run_blocked(blocked, code, *args, cwd=cwd)


def test_the_library_path_and_the_expander_work_without_any_extra(tmp_path):
    code = f"""
import numpy as np
import augment
from augment import ops
import augment.cli, augment.run.expander, augment.evaluate, augment.search, augment.serve, augment.hf, augment.io.store
pipe = augment.Compose([ops.HorizontalFlip(p=1.0), ops.Zoom(scale=(0.9, 1.1))], seed=0)
image = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
out = pipe(image, seed=1)
assert out.shape == image.shape and out.dtype == np.uint8
text = augment.load_pipeline({str(REPO / 'pipelines' / 'eda.yaml')!r})("a small cat sat on the mat today", seed=3)
assert isinstance(text, str)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print("ok")
"""
    res = _run_blocked(EXTRA_ONLY, code)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_augment_run_on_class_folders_works_without_any_extra(tmp_path):
    res = _cli_blocked(EXTRA_ONLY, "run", REPO / "pipelines" / "flip_zoom_noise.yaml", SAMPLES / "digits",
                       tmp_path / "out", "--copies", "1", "--engine", "serial", "-q")
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "out" / "manifest.jsonl").exists()


def _assert_names_extra(res, extra: str):
    assert res.returncode == 7, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert f"pip install '{DISTRIBUTION}[{extra}]'" in lines[0]
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("blocked", [["torch"], ["matplotlib"]])
def test_eval_without_the_eval_extra_names_it(tmp_path, blocked):
    res = _cli_blocked(blocked, "eval", REPO / "pipelines" / "digits_safe.yaml", "--train", SAMPLES / "digits",
                       "--out", tmp_path / "rep")
    _assert_names_extra(res, "eval")
    assert not (tmp_path / "rep").exists()


def test_search_without_the_eval_extra_names_it(tmp_path):
    space = next((REPO / "pipelines" / "spaces").glob("*.yaml"))
    res = _cli_blocked(["torch"], "search", "--train", SAMPLES / "digits", "--space", space, "--out", tmp_path / "s")
    _assert_names_extra(res, "eval")


@pytest.mark.parametrize("blocked", [["fastapi"], ["uvicorn"], ["multipart"]])
def test_serve_without_the_serve_extra_names_it(tmp_path, blocked):
    res = _cli_blocked(blocked, "serve", "--port", "0", "--jobs-root", tmp_path / "jobs")
    _assert_names_extra(res, "serve")


def test_dask_engine_without_the_dask_extra_names_it(tmp_path):
    res = _cli_blocked(["distributed"], "run", REPO / "pipelines" / "flip_zoom_noise.yaml", SAMPLES / "digits",
                       tmp_path / "out", "--engine", "dask", "-q")
    _assert_names_extra(res, "dask")


def test_torchvision_backend_without_the_torch_extra_names_it(tmp_path):
    spec = REPO / "pipelines" / "flip_zoom_noise_torchvision.yaml"
    res = _cli_blocked(["torchvision"], "run", spec, SAMPLES / "digits", tmp_path / "out", "-q")
    _assert_names_extra(res, "torch")
    code = f"import augment\ntry:\n    augment.load_pipeline({str(spec)!r})\nexcept ImportError as e:\n    print(e)"
    res = _run_blocked(["torch"], code)
    assert f"pip install '{DISTRIBUTION}[torch]'" in res.stdout, res.stderr[-2000:]


def test_a_coco_dataset_without_the_coco_extra_names_it(tmp_path):
    import json

    from PIL import Image

    src = tmp_path / "coco"
    (src / "images").mkdir(parents=True)
    Image.new("RGB", (40, 30), (200, 10, 10)).save(src / "images" / "a.png")
    (src / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 10, 10], "area": 100,
                         "iscrowd": 0}],
        "categories": [{"id": 1, "name": "box"}]}))
    res = _cli_blocked(["pycocotools"], "run", REPO / "pipelines" / "detection.yaml", src, tmp_path / "out",
                       "--format", "coco", "-q")
    _assert_names_extra(res, "coco")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_a_module_missing_deep_inside_a_command_is_mapped_to_its_extra():
    assert extra_for_module("torchvision.transforms") == "torch"
    assert extra_for_module("pycocotools.mask") == "coco"
    assert extra_for_module("distributed") == "dask"
    assert extra_for_module("numpy") is None and extra_for_module(None) is None


def test_require_passes_when_installed_and_names_the_extra_when_not(monkeypatch):
    for module in EXTRAS["serve"]:
        pytest.importorskip(module)  # a core-only environment (nox) has no serve extra to find
    require("serve", "augment serve")
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'augment-pipelines\[serve\]'") as info:
        require("serve", "augment serve")
    assert info.value.extra == "serve" and "uvicorn" in str(info.value)
