"""Ctrl-C at any moment of a command's life is one line and exit code 130 (never a traceback, click's "Aborted!"
or processes left running). Found by pressing Ctrl-C on `augment run` at a range of delays: a traceback from
inside an import (the first second), "Aborted!" with exit code 1 (between the imports and a command's own
handling), distributed's tracebacks and worker processes outliving the CLI (a Dask cluster interrupted while it
started), and a local-engine worker's FileNotFoundError (a worker the pool did not know yet when the run stopped)."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PIPELINES, REPO


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))


def _entry_point() -> str:
    """The console script's target, as setup.cfg declares it (what `augment` runs)."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options.entry_points"]["console_scripts"].strip().splitlines()
    return {name.strip(): target.strip() for name, target in (line.split("=", 1) for line in lines)}["augment"]


_CTRL_C_AT_IMPORT = """
import os, signal, sys
class CtrlCAt:  # Ctrl-C while the CLI imports {module!r}
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlCAt())
{launch}
"""


def _launch_console_script(argv: list[str]) -> str:
    module, _, attr = _entry_point().partition(":")
    # what pip's console script does: import the entry point's module, then call it
    return f"sys.argv = {['augment', *argv]!r}\nfrom {module} import {attr} as entry\nsys.exit(entry())"


def _launch_python_m(argv: list[str]) -> str:
    return f"import runpy\nsys.argv = {['augment', *argv]!r}\nrunpy.run_module('augment.cli', run_name='__main__')"


@pytest.mark.parametrize("launch", [_launch_console_script, _launch_python_m], ids=["augment", "python -m"])
def test_ctrl_c_while_the_cli_imports_is_one_line(launch):
    script = _CTRL_C_AT_IMPORT.format(module="click", launch=launch(["validate",
                                                                            str(PIPELINES / "digits_safe.yaml")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env())
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: interrupted (Ctrl-C) while starting; nothing was done"], \
        proc.stderr


_SIGTERM_AT_IMPORT = _CTRL_C_AT_IMPORT.replace("signal.SIGINT", "signal.SIGTERM").replace("Ctrl-C", "SIGTERM")


@pytest.mark.parametrize("launch", [_launch_console_script, _launch_python_m], ids=["augment", "python -m"])
@pytest.mark.parametrize("module", ["click", "augment.ops.catalog"])
def test_sigterm_before_a_command_handles_it_is_one_line(launch, module):
    # SIGTERM's default action killed the CLI without a word during its first second (imports, plugin loading)
    script = _SIGTERM_AT_IMPORT.format(module=module, launch=launch(["validate",
                                                                       str(PIPELINES / "digits_safe.yaml")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env())
    assert proc.returncode == 143, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: terminated (SIGTERM); run the same command again"], \
        proc.stderr


_INTERRUPT_IN_COMMAND = """
import sys
import augment.cli
import augment.spec

def interrupted(*args, **kwargs):  # Ctrl-C inside a command, where it has no handling of its own
    raise KeyboardInterrupt
augment.spec.load_spec = interrupted  # what the command imports when it reads the spec
{launch}
"""


def test_ctrl_c_that_a_command_does_not_handle_is_one_line_and_130_not_aborted():
    script = _INTERRUPT_IN_COMMAND.format(launch=_launch_console_script(["validate",
                                                                        str(PIPELINES / "digits_safe.yaml")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env())
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: interrupted (Ctrl-C); run the same command again"], proc.stderr


def _images(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        (root / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / f"c{i % 2}" / f"{i}.jpg")
    return root


def _alive(session: int) -> list[str]:
    """Processes of the session (the CLI's whole tree) that are still running (zombies are dead)."""
    out = subprocess.run(["ps", "-o", "stat=,cmd=", "-s", str(session)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip() and not line.strip().startswith("Z")]


def _gone(session: int, within: float = 20.0) -> list[str]:
    deadline = time.monotonic() + within
    while (left := _alive(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


_CTRL_C_AS_DASK_STARTS = """
import os, signal, sys
import distributed

real_init = distributed.Client.__init__

def init_then_ctrl_c(self, *args, **kwargs):  # the terminal's Ctrl-C, while the cluster starts
    os.killpg(0, signal.SIGINT)
    real_init(self, *args, **kwargs)
distributed.Client.__init__ = init_then_ctrl_c
{launch}
"""


def test_ctrl_c_while_a_dask_cluster_starts_closes_it_whole_with_one_line(tmp_path):
    pytest.importorskip("distributed")
    src = _images(tmp_path / "in", 4, 32)
    script = _CTRL_C_AS_DASK_STARTS.format(launch=_launch_console_script(
        ["run", str(PIPELINES / "flip_zoom_noise.yaml"), str(src), str(tmp_path / "out"), "--engine", "dask",
         "--workers", "2", "-q"]))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=_env(), start_new_session=True)
    try:
        _, err = proc.communicate(timeout=180)
        left = _gone(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive(proc.pid) else None
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted; run the same command again to resume"], err
    assert not left, f"still running after the CLI exited: {left}"


@pytest.mark.parametrize("delay", [0.15, 0.5, 0.9, 1.3, 1.7, 2.2])
def test_ctrl_c_at_any_moment_of_a_local_run_is_one_line(tmp_path, delay):
    """A sweep over the run's life (imports, forkserver and worker start, work): a moment not covered shows up as
    a traceback, another exit code or a process left behind."""
    src = _images(tmp_path / "in", 24, 192)
    spec = tmp_path / "spec.yaml"
    # enough work that the last moment of the sweep still falls inside the run (a run of 720 outputs had ended
    # before 2.2 s once the package's bytecode was written ahead)
    spec.write_text("version: 1\nname: t\nmodality: image\nseed: 0\ncopies: 100\nsteps:\n  - op: rotate\n"
                    "    params: {degrees: [-20, 20]}\n")
    proc = subprocess.Popen([sys.executable, "-m", "augment.cli", "run", str(spec), str(src), str(tmp_path / "out"),
                             "--workers", "2", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=_env(), start_new_session=True)
    time.sleep(delay)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole process group
        _, err = proc.communicate(timeout=120)
        left = _gone(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive(proc.pid) else None
    if proc.returncode == 0:
        pytest.skip(f"the run had ended before {delay} s")
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: interrupted"), err
    assert not left, f"still running after the CLI exited: {left}"


_CTRL_C_SWALLOWED = """
import os, signal, sys, weakref
from augment.run import engine_base, engines

fired = []

def ctrl_c_swallowed():  # a Ctrl-C whose KeyboardInterrupt Python drops
    if fired:
        return
    fired.append(1)

    class Thing:
        pass

    def callback(ref):  # Python ignores what a weakref callback raises ("Exception ignored in ...")
        print("swallowing a Ctrl-C", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**6):  # the handler runs here
            pass

    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing

real_add, real_chunk = engine_base.BusyMeter.add, engines.process_chunk

def add(self, result):  # the local engine: in this process, after the first chunk
    real_add(self, result)
    ctrl_c_swallowed()

def chunk(*args, **kwargs):  # the serial engine: after the first chunk
    result = real_chunk(*args, **kwargs)
    ctrl_c_swallowed()
    return result

engine_base.BusyMeter.add, engines.process_chunk = add, chunk
{launch}
"""


@pytest.mark.parametrize("engine", ["local", "serial"])
def test_a_ctrl_c_python_swallowed_still_stops_the_run(tmp_path, engine):
    """Seen on a Ctrl-C 1.1 s into a run: KeyboardInterrupt raised inside importlib's module-lock callback was
    printed as "Exception ignored" and dropped, and the run wrote every output and exited 0. It stops the run,
    and Python's "Exception ignored" traceback is not printed above the run's one line."""
    src = _images(tmp_path / "in", 12, 32)
    out = tmp_path / "out"
    script = _CTRL_C_SWALLOWED.format(launch=_launch_console_script(
        ["run", str(PIPELINES / "flip_zoom_noise.yaml"), str(src), str(out), "--engine", engine, "--workers", "1",
         "--copies", "40", "-q"]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=REPO,
                          env=_env())
    assert "swallowing a Ctrl-C" in proc.stdout, proc.stdout  # the test did make Python drop one
    assert proc.returncode == 130, proc.stderr
    assert "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: interrupted; run the same command again to resume"
    written = sum(1 for p in out.rglob("*.jpg"))
    assert written < 12 * 40, "the run went on to the end"


_INTERRUPT_TURNED_INTO = """
import os, signal, sys
import augment.cli
import augment.spec
from augment import interrupts

def load_spec(*args, **kwargs):  # Ctrl-C while a C extension initialises: pybind11 raises ImportError instead
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**6):
            pass
    except KeyboardInterrupt:
        raise {raised} from None
augment.spec.load_spec = load_spec  # what the command imports when it reads the spec
{launch}
"""


@pytest.mark.parametrize("raised", ['ImportError("initialization failed")', 'ValueError("a value")'])
def test_an_interrupt_that_came_back_as_another_error_is_one_line_and_130(raised):
    """Seen on an eval interrupted while scipy's HiGHS extension initialised: its traceback, `ImportError:
    initialization failed`. An error after a noted Ctrl-C is the Ctrl-C's, whether or not the command handles it
    (ValueError becomes a one-line error of exit code 1 there)."""
    script = _INTERRUPT_TURNED_INTO.format(raised=raised, launch=_launch_console_script(
        ["validate", str(PIPELINES / "digits_safe.yaml")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env())
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: interrupted (Ctrl-C); run the same command again"], proc.stderr
