"""`augment run` starts its forkserver from the spec file's text, before it imports the op catalogue and plugins:
the two processes import on separate cores and the workers are ready when the run has planned."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from augment.cli import _split_run_args

REPO = Path(__file__).resolve().parents[1]

FLIP = "version: 1\nname: t\nmodality: image\nsteps:\n  - op: horizontal_flip\n"

# Calls what `augment run ARGS` calls first, in a fresh process, then reports whether a forkserver runs, what it
# preloads, and whether this process had imported the op catalogue by then.
PROBE = r"""
import json, sys
from multiprocessing import forkserver
import augment.cli as cli
before = {m for m in sys.modules if m.startswith("augment.")}
cli._start_workers_early(json.loads(sys.argv[1]))
fs = forkserver._forkserver
print(json.dumps({"running": fs._forkserver_pid is not None, "preload": list(fs._preload_modules),
                  "catalogue_before": "augment.ops.registry" in before,
                  "catalogue_after": "augment.ops.registry" in sys.modules}))
"""


def probe(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                         cwd=REPO, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_forkserver_starts_from_the_spec_text_before_the_catalogue_is_imported(tmp_path):
    spec = tmp_path / "flip.yaml"
    spec.write_text(FLIP)
    report = probe(["--workers", "2", str(spec), "in", "out", "-q"])
    assert report["running"] is True
    assert "augment.compile.backend_albumentations" in report["preload"]
    assert "albumentations" not in report["preload"]  # a flip needs none of its kernels
    assert report["catalogue_before"] is False and report["catalogue_after"] is False


def test_a_dask_run_without_a_scheduler_preloads_distributed_for_its_cluster(tmp_path):
    # the LocalCluster's worker processes are forked from it (dask_engine), with distributed already imported
    spec = tmp_path / "flip.yaml"
    spec.write_text(FLIP)
    report = probe(["--engine=dask", str(spec), "in", "out"])
    assert report["running"] is True
    assert "distributed" in report["preload"] and "augment.compile.backend_albumentations" in report["preload"]
    assert report["catalogue_after"] is False


@pytest.mark.parametrize("extra", [["--engine", "serial"], ["--scheduler", "tcp://127.0.0.1:1"],
                                   ["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"], ["--dry-run"], ["--help"]])
def test_no_early_forkserver_where_the_run_would_not_use_one(tmp_path, extra):
    spec = tmp_path / "flip.yaml"
    spec.write_text(FLIP)
    assert probe([str(spec), "in", "out", *extra])["running"] is False


@pytest.mark.parametrize("text", ["steps: [a: *x]\n", "- just\n- a list\n", "\xff\xfe not utf-8",
                                  "modality: image\nsteps: 5\n"])  # the last: the preload choice itself fails
def test_an_unreadable_spec_is_left_to_the_run_to_report(tmp_path, text):
    spec = tmp_path / "bad.yaml"
    spec.write_bytes(text.encode("latin-1"))
    assert probe([str(spec), "in", "out"])["running"] is False
    assert probe([str(tmp_path / "missing.yaml"), "in", "out"])["running"] is False


def test_the_run_with_an_early_forkserver_writes_its_outputs(tmp_path):
    import numpy as np
    from PIL import Image

    src = tmp_path / "in" / "a"
    src.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(src / f"{i}.png")
    spec = tmp_path / "flip.yaml"
    spec.write_text(FLIP)
    out = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(tmp_path / "in"),
                          str(tmp_path / "out"), "--workers", "2", "-q"], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["written"] == 3


@pytest.mark.parametrize("how", ["stdin", "fifo"])
def test_a_spec_that_can_be_read_once_reaches_the_run(tmp_path, how):
    # `augment run <(cat spec.yaml) ...` / `cat spec.yaml | augment run /dev/stdin ...`: the early start read the
    # pipe to choose its preload, and the run then found it empty ("a spec must be a mapping, got NoneType")
    import os
    import threading

    import numpy as np
    from PIL import Image

    src = tmp_path / "in" / "a"
    src.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(src / f"{i}.png")
    cmd = [sys.executable, "-m", "augment.cli", "run", "/dev/stdin", str(tmp_path / "in"), str(tmp_path / "out"),
           "--workers", "2", "-q"]
    if how == "stdin":
        out = subprocess.run(cmd, input=FLIP, capture_output=True, text=True, cwd=REPO, timeout=300)
    else:
        fifo = tmp_path / "spec.fifo"
        os.mkfifo(fifo)
        writer = threading.Thread(target=lambda: fifo.write_text(FLIP), daemon=True)
        writer.start()
        cmd[4] = str(fifo)
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
        writer.join(5)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["written"] == 2


@pytest.mark.parametrize(("args", "positional", "options"), [
    (["spec.yaml", "in", "out"], ["spec.yaml", "in", "out"], {}),
    (["--workers", "2", "spec.yaml", "in", "out", "-q"], ["spec.yaml", "in", "out"], {"--workers": "2", "-q": None}),
    (["--engine=serial", "--copies", "3", "s", "i", "o"], ["s", "i", "o"], {"--engine": "serial", "--copies": "3"}),
    (["--plugin", "mod", "--plugin", "other", "s", "i", "o", "--overwrite"], ["s", "i", "o"],
     {"--plugin": "other", "--overwrite": None}),
    (["--", "-odd-name.yaml", "i", "o"], ["-odd-name.yaml", "i", "o"], {}),
])
def test_run_arguments_are_split_as_click_reads_them(args, positional, options):
    assert _split_run_args(args) == (positional, options)
