"""A run stopped mid-chunk leaves files no manifest lists: ``--overwrite`` and a completed resume remove them
(``augment.io.journal``), and a stopped run's tasks on a cluster it does not own write nothing more.

Compared with a fresh run of the same command into an empty folder: OUTPUT then holds exactly that run's files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation_fixtures import make_voc, make_yolo
from cli_helpers import REPO
from conftest import PIPELINES
from augment.compile.pipeline import Pipeline
from augment.io import journal
from augment.io.journal import JOURNAL_DIR, JournalledStore
from augment.run import expander
from augment.run.expander import RunOptions, expand
from augment.spec import load_spec

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"
META = {"run.json", "manifest.jsonl", "errors.jsonl", ".augment-lock"}


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in META and JOURNAL_DIR not in p.parts}


def listed(root: Path) -> set[str]:
    names = set()
    for line in (root / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        names.update(rec[k] for k in ("output", "annotation") if rec.get(k))
    return names


def stop_after_first_chunk(monkeypatch, pipe: Pipeline, src: Path, out: Path) -> None:
    """A run whose first chunk's files are written but whose result never reaches the manifest (as when Ctrl-C,
    SIGTERM or SIGKILL lands while the chunk's result is on its way)."""
    def lost(*_args, **_kw):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(expander, "_collect", lost)
        with pytest.raises(KeyboardInterrupt):
            expand(pipe, RunOptions(input=src, output=out, engine="serial", chunk_size=2))
    assert set(files(out)) - listed(out), "the stopped run left no unlisted file: nothing tested"


def dataset(kind: str, tmp_path: Path, digits_folder: Path) -> Path:
    if kind == "classes":
        return digits_folder
    return (make_voc if kind == "voc" else make_yolo)(tmp_path / kind)


@pytest.mark.parametrize("kind", ["classes", "voc", "yolo"])
def test_overwrite_after_a_stopped_run_leaves_exactly_the_new_runs_files(kind, tmp_path, digits_folder, monkeypatch):
    src = dataset(kind, tmp_path, digits_folder)
    spec = load_spec(FLIP_ZOOM)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    stop_after_first_chunk(monkeypatch, Pipeline(spec.with_overrides(copies=3)), src, out)
    new = Pipeline(spec.with_overrides(copies=1, seed=7))
    summary = expand(new, RunOptions(input=src, output=out, engine="serial", overwrite=True))
    expand(new, RunOptions(input=src, output=fresh, engine="serial"))
    assert files(out) == files(fresh)
    assert not (out / JOURNAL_DIR).exists()
    assert any("never recorded" in note for note in summary.notes), summary.notes


def test_a_completed_resume_removes_what_a_stopped_chunk_wrote_for_a_source_gone_since(tmp_path, digits_folder,
                                                                                        monkeypatch):
    pipe = Pipeline(load_spec(FLIP_ZOOM).with_overrides(copies=2))
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    stop_after_first_chunk(monkeypatch, pipe, digits_folder, out)
    for rel in {r.split("/")[0] for r in set(files(out)) - listed(out)}:  # the classes the stopped chunk wrote into
        for path in (digits_folder / rel).iterdir():
            path.unlink()
    expand(pipe, RunOptions(input=digits_folder, output=out, engine="serial"))
    expand(pipe, RunOptions(input=digits_folder, output=fresh, engine="serial"))
    assert files(out) == files(fresh)


def test_a_users_own_file_in_output_survives_overwrite(tmp_path, digits_folder, monkeypatch):
    spec = load_spec(FLIP_ZOOM)
    out = tmp_path / "out"
    stop_after_first_chunk(monkeypatch, Pipeline(spec.with_overrides(copies=2)), digits_folder, out)
    (out / "notes.txt").write_text("mine")
    expand(Pipeline(spec.with_overrides(copies=1, seed=7)),
           RunOptions(input=digits_folder, output=out, engine="serial", overwrite=True))
    assert (out / "notes.txt").read_text() == "mine"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(alphabet="ab \n\r\u00e9\u2028\\\"", min_size=1, max_size=8), min_size=1, max_size=4,
                      unique=True))
def test_the_journal_reads_back_exactly_the_names_written(tmp_path, names):
    # a name holding a newline was read back as two names, the second one a file of OUTPUT's root that a
    # completed run then deleted (a user's own file)
    root = tmp_path / f"j{abs(hash(tuple(names)))}"
    root.mkdir()
    journal.begin(root, "run1")
    store = JournalledStore(root, "run1")
    written = {f"d/{name}.png" for name in names}
    for rel in written:
        store.write_bytes(rel, b"x")
    assert journal.journalled(root) == written


def test_a_source_name_with_a_newline_costs_no_users_file(tmp_path, digits_folder):
    src = tmp_path / "src"
    (src / "cat").mkdir(parents=True)
    image = next(digits_folder.rglob("*.png")).read_bytes()
    (src / "cat" / "a.png").write_bytes(image)
    (src / "cat" / "x\nkeep.png").write_bytes(image)
    spec, out = load_spec(FLIP_ZOOM), tmp_path / "out"
    expand(Pipeline(spec.with_overrides(copies=1)), RunOptions(input=src, output=out, engine="local", workers=1))
    (out / "keep__aug1.png").write_bytes(b"mine")
    summary = expand(Pipeline(spec.with_overrides(copies=2)), RunOptions(input=src, output=out, engine="local",
                                                                         workers=1))
    assert (out / "keep__aug1.png").read_bytes() == b"mine"
    assert not any("never recorded" in note for note in summary.notes)


def test_an_overwrite_that_cannot_journal_removes_nothing(tmp_path, digits_folder):
    # the earlier run's outputs went first, then the journal could not be written: an empty OUTPUT and an error
    spec, out = load_spec(FLIP_ZOOM), tmp_path / "out"
    expand(Pipeline(spec.with_overrides(copies=1)), RunOptions(input=digits_folder, output=out, engine="serial"))
    before = files(out)
    (out / JOURNAL_DIR).write_text("in the way")  # a file where the journal's folder goes
    with pytest.raises(Exception):
        expand(Pipeline(spec.with_overrides(copies=1, seed=9)),
               RunOptions(input=digits_folder, output=out, engine="serial", overwrite=True))
    assert {k: v for k, v in files(out).items() if k != JOURNAL_DIR} == before
    assert (out / "manifest.jsonl").is_file() and (out / "run.json").is_file()


def _augment(*args: str, **kw) -> subprocess.Popen:
    def pre():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()

    return subprocess.Popen([sys.executable, "-m", "augment.cli", "run", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=pre, **kw)


def _pngs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.png")]


def _wait_for_outputs(root: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while len(_pngs(root)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the run wrote no outputs"
        time.sleep(0.05)


@pytest.mark.slow
def test_overwrite_after_a_run_killed_mid_chunk_leaves_exactly_the_new_runs_files(tmp_path, digits_folder):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    proc = _augment(str(FLIP_ZOOM), str(digits_folder), str(out), "--engine", "local", "--workers", "2",
                    "--copies", "400", "-q")
    _wait_for_outputs(out, 50, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, mid-chunk: nothing reaches the manifest
    proc.communicate()
    assert set(files(out)) - (listed(out) if (out / "manifest.jsonl").exists() else set())
    for folder in (out, fresh):
        done = _augment(str(FLIP_ZOOM), str(digits_folder), str(folder), "--engine", "local", "--workers", "2",
                        "--copies", "1", "--seed", "7", "--overwrite", "-q")
        _, err = done.communicate(timeout=120)
        assert done.returncode == 0, err
    assert files(out) == files(fresh)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def external_cluster(tmp_path):
    """A ``dask scheduler`` and a 2-process ``dask worker`` the run does not own, on 127.0.0.1."""
    pytest.importorskip("distributed")
    bin_dir = Path(sys.executable).parent
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--dashboard-address", ":0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    try:
        procs.append(subprocess.Popen([bin_dir / "dask", "worker", address, "--nworkers", "2", "--nthreads", "1",
                                       "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True, cwd=tmp_path))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_runs_tasks_on_an_external_cluster_write_nothing_once_it_has_exited(sig, external_cluster, tmp_path,
                                                                                      digits_folder):
    out = tmp_path / "out"
    # one source per task and thousands of copies each: a task is still writing when the run stops
    proc = _augment(str(FLIP_ZOOM), str(digits_folder), str(out), "--engine", "dask", "--scheduler",
                    external_cluster, "--copies", "3000", "-q")
    _wait_for_outputs(out, 30, proc, timeout=90)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    exited = time.time()
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig], err
    assert len(err.strip().splitlines()) == 1, err  # one line: no distributed log lines on the client side
    time.sleep(2.5)
    late = [p for p in _pngs(out) if p.stat().st_mtime > exited]
    assert not late, f"{len(late)} outputs written after the run exited, e.g. {late[:3]}"


KILLER_PLUGIN = '''
import os
import augment


class KillParams(augment.OpParams):
    pass


class Killer(augment.ImageOp):
    """Kills its process on an image 33 px wide (as a crashing C kernel would)."""
    name = "killer"
    Params = KillParams
    pixel_only = True

    def sample(self, params, rng, ctx):
        return {}

    def apply(self, image, drawn):
        if image.shape[1] == 33:
            os._exit(3)
        return 255 - image


'''


@pytest.mark.slow
def test_a_worker_killed_by_an_item_on_the_dask_engines_own_cluster_prints_no_distributed_lines(tmp_path,
                                                                                                 digits_folder):
    pytest.importorskip("distributed")
    import numpy as np
    from PIL import Image

    plugin = tmp_path / "plugin_src"
    plugin.mkdir()
    (plugin / "killplug.py").write_text(KILLER_PLUGIN)
    src = tmp_path / "kd"
    for cls in ("0", "1"):
        (src / cls).mkdir(parents=True)
        for path in sorted((digits_folder / cls).glob("*.png"))[:4]:
            (src / cls / path.name).write_bytes(path.read_bytes())
    Image.fromarray(np.zeros((20, 33), np.uint8)).save(src / "1" / "poison.png")
    spec = tmp_path / "kill.yaml"
    spec.write_text("version: 1\nname: kill\nmodality: image\nseed: 1\ncopies: 2\nsteps:\n  - op: killplug.killer\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]))
    proc = _augment(str(spec), str(src), str(tmp_path / "out"), "--plugin", "killplug", "--engine", "dask",
                    "--workers", "2", "-q", env=env)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert err.strip() == "", err
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert [e["source"] for e in errors] == ["1/poison.png"]


@pytest.mark.slow
def test_ctrl_c_on_the_dask_engines_own_cluster_prints_one_line(tmp_path, digits_folder):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    proc = _augment(str(FLIP_ZOOM), str(digits_folder), str(out), "--engine", "dask", "--workers", "2",
                    "--copies", "1000", "-q")
    _wait_for_outputs(out, 30, proc, timeout=90)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted; run the same command again to resume"], err
