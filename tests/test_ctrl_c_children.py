"""Ctrl-C reaches the terminal's whole process group, children included. The processes our commands start for
themselves (a custom model's spawned child, the local engine's forkserver and its workers) must never be
interruptible: the parent stops them. A child hit while its interpreter started printed ``Fatal Python error:
init_sys_streams ... KeyboardInterrupt`` under the search's one-line error (CI), and one hit before its handler
was set a traceback. The property checked: at every moment we can observe, from the child's birth on, SIGINT is
blocked or ignored in it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import REPO

SIGINT_BIT = 1 << (signal.SIGINT - 1)


def deaf(pid: int) -> bool | None:
    """SIGINT blocked or ignored in every thread of ``pid``; None once the process is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        masks = []
        for tid in tasks:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            masks.append(int(fields["SigBlk"], 16) | int(fields["SigIgn"], 16))
    except (FileNotFoundError, ProcessLookupError):
        return None
    return all(m & SIGINT_BIT for m in masks)


def test_a_custom_models_child_cannot_be_interrupted_from_birth_to_its_first_answer():
    from multiprocessing import active_children

    from augment.evaluate.custom import _Child

    before = {p.pid for p in active_children()}
    samples: list[bool] = []
    stop = threading.Event()

    def watch():  # samples the child's signal state while it starts (the parent waits for its "ready")
        while not stop.is_set():
            for p in active_children():
                if p.pid not in before:
                    state = deaf(p.pid)
                    if state is not None:
                        samples.append(state)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    child = _Child("search_models:centroid", timeout=60)
    try:
        assert deaf(child.proc.pid)  # and ready: still deaf once it serves calls
    finally:
        stop.set()
        watcher.join()
        child.close()
    assert samples and all(samples), f"{samples.count(False)} of {len(samples)} samples could be interrupted"
    # this process hears Ctrl-C again after the start
    assert not signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT}


def worker_state(_) -> tuple:
    return deaf(os.getpid()), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


_FORKSERVER = """
import json, os, signal, sys
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from multiprocessing import forkserver
from test_ctrl_c_children import deaf, worker_state as state
from augment.run.engines import start_forkserver

start_forkserver()
server = forkserver._forkserver._forkserver_pid
# a pool without our initializer: what every worker is born with
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver")) as pool:
    workers = list(pool.map(state, range(4)))
print(json.dumps([deaf(server), workers, bool(signal.pthread_sigmask(signal.SIG_BLOCK, []) & {signal.SIGINT})]))
"""


def test_the_forkserver_and_every_worker_it_forks_are_born_deaf_to_ctrl_c():
    proc = subprocess.run([sys.executable, "-c", _FORKSERVER], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")])))
    assert proc.returncode == 0, proc.stderr
    server, workers, parent_blocked = json.loads(proc.stdout)
    assert server is True and workers == [[True, True]] * 4 and parent_blocked is False, proc.stdout


_INTERRUPTED_START = """
import gc, json, os, signal, threading, time
from multiprocessing import util
from augment.evaluate.custom import _Child

threading.Thread(target=time.sleep, args=(30,), daemon=True).start()  # a thread that hears SIGINT (BLAS, torch)
spawned = []
real_spawn = util.spawnv_passfds

def spawn_then_ctrl_c(path, args, fds):  # Ctrl-C lands after the child exists, before it has its start-up data
    pid = real_spawn(path, args, fds)
    if not any("spawn_main" in os.fsdecode(a) for a in args):  # the resource tracker, started first
        return pid
    spawned.append(pid)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.2)
    return pid

util.spawnv_passfds = spawn_then_ctrl_c
try:
    _Child("search_models:centroid", timeout=60)
    interrupted = False
except KeyboardInterrupt:
    interrupted = True
gc.collect()
deadline, code = time.monotonic() + 5, None
while time.monotonic() < deadline and code is None:  # a child left without its data ends at once, with a traceback
    try:
        pid, status = os.waitpid(spawned[0], os.WNOHANG)
    except ChildProcessError:  # already reaped: the parent closed it
        code = "closed"
        break
    code = os.waitstatus_to_exitcode(status) if pid else None
    time.sleep(0.05)
print(json.dumps({"interrupted": interrupted, "child_exit": code}))
"""


def test_ctrl_c_while_a_child_starts_is_acted_on_once_the_child_has_what_it_needs():
    """CI: a search's Ctrl-C landed between spawning the custom model's child and writing its start-up data. The
    child read an empty pipe and printed ``EOFError: Ran out of input`` under the one-line error. Blocking SIGINT
    in the starting thread did not stop it: the kernel hands the signal to another thread and Python raises it
    in the main thread at once."""
    proc = subprocess.run([sys.executable, "-c", _INTERRUPTED_START], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")])))
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the interrupt is not lost, and the half-started child does not outlive it
    assert result == {"interrupted": True, "child_exit": "closed"}, proc.stdout


_PARENT_GONE_MID_CALL = """
import json
from augment.evaluate.custom import _Child

child = _Child("search_models:slow_centroid", timeout=60)
child.conn.send(([("a b", "x"), ("c d", "y")], [("a", "x")], 0))
child.conn.close()  # the parent stops listening (interrupted) while the child trains
child.proc.join(30)
print(json.dumps(child.proc.exitcode))
"""


def test_a_custom_models_child_whose_parent_stopped_listening_ends_quietly():
    """The parent's error is the one line a user sees: a child whose answer has nowhere to go must not add a
    ``BrokenPipeError`` traceback under it."""
    proc = subprocess.run([sys.executable, "-c", _PARENT_GONE_MID_CALL], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")])))
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == 0, proc.stdout
