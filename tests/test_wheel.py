"""The distribution as users get it: an sdist and a wheel built from the tracked files, checked by twine, the
wheel installed (not editable) into a fresh virtual environment outside the repository, then used from there.

The fresh environment is made from the base interpreter; the test environment's site-packages is appended to its
path by a ``.pth`` file, so the dependencies (torch among them) need no download. Nothing of the checkout is on
that path: ``augment`` must come from the installed wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    """What a clean clone holds: the files git tracks plus new ones not ignored (so the test sees work in progress)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout.decode()
    return [p for p in out.split("\0") if p and (REPO / p).is_file()]


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("build")
    clone = tmp_path_factory.mktemp("clone")
    for rel in _tracked_files():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, clone / rel)
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel built from the sdist: a file missing from the sdist fails here too
    res = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(clone)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheel = next(out.glob("*.whl"))
    sdist = next(out.glob("*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist, "clone": clone}


def test_the_dists_carry_the_name_and_pass_twine_check(dists):
    from augment._version import __version__

    assert dists["wheel"].name == f"augment_pipelines-{__version__}-py3-none-any.whl"
    assert dists["sdist"].name == f"augment_pipelines-{__version__}.tar.gz"
    pytest.importorskip("twine")
    res = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(dists["wheel"]),
                          str(dists["sdist"])], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_wheel_holds_every_package_file_and_the_typed_marker(dists):
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    package_files = {p for p in _tracked_files() if p.startswith("augment/") and "__pycache__" not in p}
    assert package_files - names == set(), "package files missing from the wheel"
    assert "augment/py.typed" in names
    assert {n for n in names if n.startswith("augment/data/")}, "word lists"
    assert {"augment/serve/static/studio.js", "augment/serve/templates/studio.html",
            "augment/evaluate/templates/report.html"} <= names
    assert not {n for n in names if n.startswith(("tests/", "benchmarks/"))}
    # the core needs no extra; the extras are declared
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert not [r for r in core if r.split()[1].split("[")[0].split(">")[0].split("<")[0].split("=")[0].lower()
                in {"torch", "torchvision", "fastapi", "uvicorn", "dask", "datasets", "pycocotools", "matplotlib"}]
    for extra in ("torch", "eval", "serve", "dask", "hf", "coco", "marian", "all"):
        assert f"Provides-Extra: {extra}" in metadata


def _fresh_venv(root: Path) -> Path:
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(root / "bin" / "python"), "-c",
                                   "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    # the test environment's packages, after the fresh environment's own (so the wheel's augment wins); added as
    # site dirs so their own .pth files count too: an editable plugin there (examples/plugin) is importable, as its
    # entry point is visible
    lines = [f"import site; site.addsitedir({p!r})" for p in site.getsitepackages()]
    (purelib / "zz_test_env_packages.pth").write_text("\n".join(lines) + "\n")
    return purelib


def test_the_installed_wheel_works_outside_the_repo(dists, tmp_path):
    venv = tmp_path / "venv"
    purelib = _fresh_venv(venv)
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                          "--no-deps", "--no-index", str(dists["wheel"])], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    exe = str(venv / "bin" / "augment")

    def run(*args, timeout=600):
        res = subprocess.run([exe, *map(str, args)], cwd=work, env=env, capture_output=True, text=True,
                             timeout=timeout)
        assert res.returncode == 0, (args, res.stdout[-2000:], res.stderr[-2000:])
        return res

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import augment, sys; print(augment.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(purelib), where  # the wheel's copy, not the checkout

    from augment._version import __version__

    assert __version__ in run("--version").stdout
    listing = json.loads(run("ops", "--json").stdout)
    assert any(op.get("op") == "horizontal_flip" for op in listing)
    # a small run from specs and data outside the repo
    spec = work / "flip.yaml"
    spec.write_text("version: 1\nname: flip\nmodality: image\nbackend: albumentations\nseed: 1\ncopies: 1\n"
                    "steps:\n  - op: horizontal_flip\n    p: 1.0\n")
    data = work / "digits"
    for cls in ("3", "7"):
        shutil.copytree(REPO / "samples" / "digits" / cls, data / cls)
    summary = json.loads(run("run", spec, data, work / "out", "--workers", "1", "-q").stdout)
    assert summary["status"] == "complete" and summary["errors"] == 0 and summary["written"] > 0
    run_json = json.loads((work / "out" / "run.json").read_text())
    assert __version__ in json.dumps(run_json)
    # a small eval: text, the default model, two repeats
    text = work / "reviews.tsv"
    shutil.copy2(REPO / "samples" / "text" / "reviews.tsv", text)
    shutil.copy2(REPO / "pipelines" / "eda.yaml", work / "eda.yaml")
    run("eval", work / "eda.yaml", "--train", text, "--train-sizes", "full", "--copies", "1", "--repeats", "2",
        "--out", work / "rep", "-q")
    assert (work / "rep" / "report.html").exists()
