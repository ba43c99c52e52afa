"""Engine conformance: serial, local (2 processes) and Dask (a real 2-worker LocalCluster) give the same results.

Same inputs, spec and seed -> byte-identical output files and the same manifest and error records (compared as
sets: engines finish chunks in different orders). A worker process that dies on one item loses nothing else.

The crash is injected without a production hook: ``PoisonedTask`` is an ``ImageTask`` whose ``source`` kills the
process that reads it, unless that process is the test process itself. Workers read it in the middle of a chunk,
after the items before it were processed, exactly where a segfaulting kernel would die.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from conftest import PIPELINES
from augment.compile.pipeline import Pipeline
from augment.run.engines import LocalEngine, SerialEngine
from augment.run.expander import RunOptions, expand
from augment.run.job import ImageTask, JobConfig, output_name
from augment.spec import load_spec

pytestmark = pytest.mark.slow

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"
# Set once, in the test process, before any worker starts; workers inherit it and so know they are workers.
PARENT_PID_ENV = "AUGMENT_TEST_ENGINES_PARENT_PID"
os.environ.setdefault(PARENT_PID_ENV, str(os.getpid()))


class PoisonedTask(ImageTask):
    """Kills any process but the test process that reads its ``source`` (as a crashing C kernel would)."""

    @property
    def source(self) -> str:
        if str(os.getpid()) != os.environ.get(PARENT_PID_ENV):
            os._exit(1)
        return self.__dict__["_source"]

    @source.setter
    def source(self, value: str) -> None:
        self.__dict__["_source"] = value


@pytest.fixture(scope="module")
def dask_cluster():
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster
    finally:
        cluster.close()


def engine_options(name: str, cluster) -> dict:
    if name == "serial":
        return {"engine": "serial"}
    if name == "local":
        return {"engine": "local", "workers": 2}
    return {"engine": "dask", "workers": 2, "scheduler": cluster.scheduler_address}


def make_engine_under_test(name: str, cluster):
    from augment.run.dask_engine import DaskEngine

    return {"local": lambda: LocalEngine(2), "dask": lambda: DaskEngine(workers=2, scheduler=cluster.scheduler_address)}[name]()


def run_expand(src: Path, out: Path, **engine):
    pipe = Pipeline(load_spec(FLIP_ZOOM).with_overrides(copies=1))
    return expand(pipe, RunOptions(input=src, output=out, chunk_size=8, **engine))


def files(root: Path) -> dict[str, bytes]:
    skip = {"run.json", "manifest.jsonl", "errors.jsonl"}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip}


def jsonl_set(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines() if line.strip()}


@pytest.fixture
def inputs(digits_folder: Path) -> Path:
    """The 200 sample digits plus a corrupt PNG and a truncated copy of a real one."""
    (digits_folder / "3" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    real = next((digits_folder / "5").glob("*.png")).read_bytes()
    (digits_folder / "5" / "truncated.png").write_bytes(real[: len(real) // 2])
    return digits_folder


def test_all_engines_write_identical_files_manifests_and_errors(inputs, tmp_path, dask_cluster):
    results = {}
    for name in ("serial", "local", "dask"):
        out = tmp_path / f"out_{name}"
        run_expand(inputs, out, **engine_options(name, dask_cluster))
        results[name] = (files(out), jsonl_set(out / "manifest.jsonl"), jsonl_set(out / "errors.jsonl"))
    ref_files, ref_manifest, ref_errors = results["serial"]
    assert len([k for k in ref_files if "__aug0" in k]) == 200 and len(ref_manifest) == 200
    assert {json.loads(e)["source"] for e in ref_errors} == {"3/garbage.png", "5/truncated.png"}
    assert all("corrupt" in json.loads(e)["error"] or "recognised" in json.loads(e)["error"] for e in ref_errors)
    for name in ("local", "dask"):
        got_files, got_manifest, got_errors = results[name]
        assert got_files.keys() == ref_files.keys(), name
        assert [k for k in ref_files if got_files[k] != ref_files[k]] == [], name
        assert got_manifest == ref_manifest, name
        assert got_errors == ref_errors, name


def test_relative_input_and_output_reach_a_cluster_whose_workers_run_in_another_folder(image_folder, tmp_path,
                                                                                      monkeypatch):
    # a cluster's workers run in folders of their own: with the roots as typed, every item failed to read (a
    # relative INPUT), or the files went under the worker's folder while the run reported them written
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    elsewhere, user = tmp_path / "worker_home", tmp_path / "user"
    elsewhere.mkdir()
    user.mkdir()
    shutil.copytree(image_folder, user / "in")
    monkeypatch.chdir(elsewhere)  # the worker processes start (and stay) here
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        monkeypatch.chdir(user)
        summary = run_expand(Path("in"), Path("out"), engine="dask", workers=1, scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    assert summary.errors == 0 and summary.written == 8
    assert len([k for k in files(user / "out") if "__aug0" in k]) == 8
    assert list(elsewhere.iterdir()) == []


def test_a_job_config_refuses_relative_roots():
    from augment.run.job import JobConfig

    for roots in ({"input_root": "in", "output_root": "/out"}, {"input_root": "/in", "output_root": "./out"}):
        with pytest.raises(ValueError, match="absolute"):
            JobConfig(spec={}, spec_hash="x", **roots)
    JobConfig(spec={}, spec_hash="x", input_root="/in", output_root="s3://bucket/out")


@pytest.mark.parametrize("engine_name", ["local", "dask"])
def test_a_worker_dying_on_one_item_loses_only_that_item(engine_name, digits_folder, tmp_path, dask_cluster):
    sources = sorted(str(p.relative_to(digits_folder)) for p in digits_folder.rglob("*.png"))[:24]
    poisoned = sources[10]  # in the middle of the second chunk of 8
    tasks = [PoisonedTask(s, (0,)) if s == poisoned else ImageTask(s, (0,)) for s in sources]
    chunks = [tasks[i : i + 8] for i in range(0, len(tasks), 8)]
    spec = load_spec(FLIP_ZOOM).with_overrides(copies=1)
    pipe = Pipeline(spec)

    def config(out: Path) -> JobConfig:
        return JobConfig(spec=spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(digits_folder), output_root=str(out))

    ref_out, out = tmp_path / "serial", tmp_path / engine_name
    clean = [[ImageTask(t.source, t.copies) for t in chunk] for chunk in chunks]
    list(SerialEngine().run(config(ref_out), clean))

    results = list(make_engine_under_test(engine_name, dask_cluster).run(config(out), chunks))
    errors = [e for r in results for e in r.errors]
    records = [rec for r in results for rec in r.records]
    assert errors == [{"source": poisoned, "error": "worker process died on this item (the process exited abnormally)"}]
    assert sum(r.items for r in results) == len(sources)
    assert sorted(rec["source"] for rec in records) == [s for s in sources if s != poisoned]
    for s in sources:
        name = output_name(s, 0)
        if s == poisoned:
            assert not (out / name).exists()
        else:
            assert (out / name).read_bytes() == (ref_out / name).read_bytes(), name
    assert not [p for p in out.rglob("*") if p.is_file() and "__aug" not in p.name]  # no temporaries left behind


def cluster_processes() -> set[int]:
    """Our descendant processes, leaving out multiprocessing's long-lived helpers (the forkserver itself, the
    resource tracker). Processes forked from the forkserver (the cluster's workers) share its command line, so
    the forkserver is known by its pid."""
    psutil = pytest.importorskip("psutil")
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    found = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid != server and "resource_tracker" not in " ".join(proc.cmdline()):
                found.add(proc.pid)
        except psutil.Error:
            pass
    return found


# a fresh process: the forkserver is one per process, and one started earlier by another test keeps its preload
FORKED_WORKERS_PROBE = r"""
import json, os, sys
from multiprocessing import forkserver
from augment.compile.pipeline import Pipeline
from augment.run.dask_engine import DaskEngine
from augment.run.job import ImageTask, JobConfig
from augment.spec import parse_spec

def probe():
    import cv2, dask
    from augment.run import dask_engine
    return (os.getppid(), "distributed" in sys.modules and "augment.compile.backend_albumentations" in sys.modules,
            dask.config.get("distributed.worker.profile.enabled"), dask_engine._SET_UP, cv2.getNumThreads())

rebuilt = []  # items unpickled in this process (by the in-process scheduler)
real_setstate = ImageTask.__setstate__
def counting_setstate(self, state):
    rebuilt.append(1)
    real_setstate(self, state)

if __name__ == "__main__":
    pipe = Pipeline(parse_spec({"modality": "image", "steps": [{"op": "horizontal_flip"}]}))
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=sys.argv[1],
                       output_root=sys.argv[2])
    engine = DaskEngine(workers=2)
    client, cluster = engine._connect(config)
    try:
        ImageTask.__setstate__ = counting_setstate
        tasks = [ImageTask(f"{c}/img{i}.jpg", (0,)) for c in ("cat", "dog") for i in range(3)]
        results = list(engine._run(client, config, [tasks[:3], tasks[3:]]))
        print(json.dumps({"server": forkserver._forkserver._forkserver_pid,
                          "workers": list(client.run(probe).values()), "rebuilt": len(rebuilt),
                          "written": sum(len(r.records) for r in results)}))
    finally:
        client.close()
        cluster.close()
"""


def test_the_dask_engines_own_cluster_forks_its_workers_from_the_preloaded_forkserver_and_runs_quietly(image_folder,
                                                                                                       tmp_path):
    # spawned, each worker process imported distributed and the pipeline itself before its first task (~1.5 s of
    # a 2-worker run on 2 cores); forked from the run's forkserver it starts with them
    pytest.importorskip("distributed")
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(FORKED_WORKERS_PROBE)
    out = subprocess.run([sys.executable, str(script), str(image_folder), str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(report["workers"]) == 2
    assert all(parent == report["server"] for parent, _, *_ in report["workers"]), report
    assert all(preloaded for _, preloaded, *_ in report["workers"]), report
    # no dashboard, so no statistical profiler sampling every worker's stacks every 10 ms
    assert not any(profiling for _, _, profiling, *_ in report["workers"]), report
    # a worker sets itself up on its first task: its share of the cores (OpenCV's pool), not all of them
    share = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) // 2)
    set_up = [threads for *_, done, threads in report["workers"] if done]
    assert set_up and all(threads == share for threads in set_up), report
    # tasks reach the scheduler (in this process) as bytes: it never rebuilt the items only to pickle them again
    assert report["written"] == 6 and report["rebuilt"] == 0, report


def test_dask_engine_starts_and_closes_its_own_local_cluster(image_folder, tmp_path):
    pytest.importorskip("distributed")
    before = cluster_processes()
    out_dask, out_serial = tmp_path / "dask", tmp_path / "serial"
    summary = run_expand(image_folder, out_dask, engine="dask", workers=1)
    # the scheduler's overhead is reported: every output came back in a chunk the worker timed
    sched = summary.as_dict()["scheduling"]
    assert sched["outputs"] == summary.written > 0 and sched["chunks"] == -(-summary.items // 8)
    assert 0 < sched["worker_seconds"] <= sched["wall_seconds"] * sched["threads"] + 0.01
    assert sched["overhead_ms_per_output"] >= 0
    deadline = time.monotonic() + 20
    while cluster_processes() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster_processes() - before == set(), "the engine's LocalCluster left processes behind"
    run_expand(image_folder, out_serial, engine="serial")
    assert files(out_dask) == files(out_serial)
    assert jsonl_set(out_dask / "manifest.jsonl") == jsonl_set(out_serial / "manifest.jsonl")


def test_stopping_the_workers_leaves_no_pool_thread_for_the_exit_hook_to_race():
    """Python 3.11's exit hook writes to a pool's wake-up pipe while the pool's manager thread may be closing it
    ("Exception ignored ... OSError: [Errno 9] Bad file descriptor" under a SIGTERM'd run's one line, CI):
    ``stop_workers`` returns once that thread has ended."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    from augment.run.engines import stop_workers

    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    futures = [pool.submit(time.sleep, 60) for _ in range(4)]
    while not any(f.running() for f in futures):
        time.sleep(0.01)
    manager, wakeup = pool._executor_manager_thread, pool._executor_manager_thread_wakeup
    stop_workers(pool)
    assert not manager.is_alive() and wakeup._closed
