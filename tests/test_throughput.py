"""Issue 25 (expander throughput): what the faster paths must keep.

- imports: a run's processes do not load what a run never uses (the generated typed ops);
- the write path: atomic (temporary + rename, no partial or leftover file), confined, unique temporaries even
  against leftovers of a dead process with the same pid, ``--durable`` fsyncs each file and its folder entry
  and changes no byte;
- the manifest: a chunk's records written at once, the same lines as one by one.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.io import atomic
from augment.io.atomic import TMP_MARK, atomic_write_bytes, temporary_owner
from augment.io.manifest import JsonlAppender, dumps, read_jsonl
from augment.io.store import LocalStore, OutputWriteError
from conftest import PIPELINES, REPO

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"


# ------------------------------------------------------------------------------------------------------ imports


@pytest.mark.parametrize("module", ["augment", "augment.cli", "augment.run.worker", "augment.run.engines"])
def test_a_runs_modules_do_not_build_the_typed_ops(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m in ('augment.ops.typed', " \
           f"'augment.ops._typed_base', 'augment.compose')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_lazy_package_still_offers_every_public_name():
    code = ("import augment\nfrom augment.ops import *\nfrom augment import ops\n"
            "assert all(getattr(augment, n) is not None for n in augment.__all__)\n"
            "assert Zoom is ops.Zoom and 'Zoom' in dir(ops) and 'Compose' in dir(augment)\n"
            "assert augment.Compose([ops.HorizontalFlip(p=1.0)], seed=0) is not None\n"
            "import augment.ops.plugins\n"
            "try:\n    augment.nope\nexcept AttributeError as e:\n    print(e)\n"
            "try:\n    ops.Nope\nexcept AttributeError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["module 'augment' has no attribute 'nope'",
                                        "module 'augment.ops' has no attribute 'Nope'"]


# --------------------------------------------------------------------------------------------------- write path


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(TMP_MARK))


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(str(target), b"new" * 100_000)
    assert target.read_bytes() == b"new" * 100_000 and leftovers(tmp_path) == []


def test_a_leftover_temporary_with_this_pid_and_token_is_not_reused(tmp_path, monkeypatch):
    """A dead process with the same pid left ``.a.bin.<pid>.<n>.augment-tmp``: O_EXCL refuses it, the next
    token is taken, and the leftover (another writer's, as far as we know) is not touched."""
    monkeypatch.setattr(atomic, "_TOKENS", iter(range(10)))
    stale = tmp_path / f".a.bin.{os.getpid()}.0{TMP_MARK}"
    stale.write_bytes(b"someone else's")
    atomic_write_bytes(tmp_path / "a.bin", b"mine")
    assert (tmp_path / "a.bin").read_bytes() == b"mine" and stale.read_bytes() == b"someone else's"
    assert temporary_owner(stale.name) == os.getpid()


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path, monkeypatch, fail_at):
    target = tmp_path / "a.bin"
    target.write_bytes(b"before")

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, fail_at, boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"after", fsync=True)
    monkeypatch.undo()
    assert target.read_bytes() == b"before" and leftovers(tmp_path) == []


def test_a_short_write_is_completed(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    atomic_write_bytes(tmp_path / "a.bin", bytes(range(256)) * 3)
    assert (tmp_path / "a.bin").read_bytes() == bytes(range(256)) * 3


def test_durable_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def spy(fd):
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert synced == []
    atomic_write_bytes(tmp_path / "b.bin", b"y", fsync=True)
    assert synced == ["file", "dir"]


NAMES = st.text(alphabet=st.sampled_from(list("ab./\\:\x00")), min_size=0, max_size=6)


@settings(max_examples=150, deadline=None)
@given(name=NAMES)
def test_the_fast_path_for_a_known_folder_refuses_what_the_checked_path_refuses(tmp_path_factory, name):
    """Once a folder was checked, later names in it skip the path objects: each must still be refused or
    written exactly as the full check (``confined``) would, never outside OUTPUT."""
    root = tmp_path_factory.mktemp("out")
    warm, cold = LocalStore(root / "warm"), LocalStore(root / "cold")
    for store in (warm, cold):
        store.write_bytes("cls/first.jpg", b"1")
        store.write_bytes("top.jpg", b"1")
    for rel in (f"cls/{name}", name):
        cold._ready.clear()
        outcomes = []
        for store in (warm, cold):
            try:
                store.write_bytes(rel, b"2")
                outcomes.append(("written", sorted(p.relative_to(store.root).as_posix()
                                                   for p in store.root.rglob("*") if p.is_file())))
            except (OutputWriteError, OSError) as exc:
                outcomes.append(("refused", type(exc).__name__ == "OutputWriteError"))
        assert outcomes[0] == outcomes[1], rel


def test_a_folder_swapped_for_a_symlink_before_it_is_known_is_refused(tmp_path):
    store = LocalStore(tmp_path / "out")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "cls").symlink_to(elsewhere)
    with pytest.raises(OutputWriteError, match="refusing to write 'cls/a.jpg'"):
        store.write_bytes("cls/a.jpg", b"x")
    assert list(elsewhere.iterdir()) == []


# ----------------------------------------------------------------------------------------------------- manifest


def test_a_chunks_records_are_written_at_once_as_the_same_lines(tmp_path):
    records = [{"output": f"a/{i}.jpg", "sha256": "0" * 64, "ops": [{"op": "zoom", "scale": 1.0 + i / 7}]}
               for i in range(5)]
    one = JsonlAppender(tmp_path / "one.jsonl", truncate=True)
    lines = [one.write(r) for r in records]
    one.close()
    batch = JsonlAppender(tmp_path / "batch.jsonl", truncate=True)
    assert batch.write_records(records) == lines == [dumps(r) for r in records]
    assert batch.write_records([]) == []
    batch.close()
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "batch.jsonl").read_bytes()
    assert list(read_jsonl(tmp_path / "batch.jsonl")) == records


# ------------------------------------------------------------------------------------------------- whole runs


def _run(src, out, *extra):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(FLIP_ZOOM), str(src), str(out), "-q",
                           "--engine", "serial", *extra], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("run.json",)}


def test_durable_changes_no_byte_of_outputs_or_manifest(image_folder, tmp_path):
    _run(image_folder, tmp_path / "plain")
    _run(image_folder, tmp_path / "durable", "--durable")
    plain, durable = _files(tmp_path / "plain"), _files(tmp_path / "durable")
    assert plain == durable and len(plain) > 10 and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------ warm workers, chunks


@pytest.mark.parametrize(("op", "albumentations"), [("clahe", True), ("horizontal_flip", False)])
def test_the_forkserver_preloads_the_backend_so_workers_start_with_it(op, albumentations):
    """Workers are forked from a forkserver that imported the spec's backend once, and albumentations (without
    torch) where an op of the spec calls its kernels; a worker's initializer imports neither, so finding them in
    a worker means they were inherited. A flip-only spec never imports albumentations (~0.8 s)."""
    code = (
        "import sys\n"
        "from augment.run.engines import LocalEngine\n"
        "from augment.run.job import JobConfig\n"
        f"config = JobConfig(spec={{'modality': 'image', 'backend': 'albumentations', 'steps': [{{'op': {op!r}}}]}},\n"
        "                   spec_hash='x', input_root='/', output_root='/')\n"
        "engine = LocalEngine(workers=1)\n"
        "with engine._pool(config) as pool:\n"
        "    print(pool.submit(eval, \"[m in __import__('sys').modules for m in ('albumentations', "
        "'augment.compile.backend_albumentations', 'torch')]\").result())\n"
        "print('albumentations' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == [f"[{albumentations}, True, False]", "False"]  # the run's process: untouched


def test_the_forkserver_preloads_albumentations_without_huggingface_hub_yet_workers_can_import_it():
    """albumentations' optional Hub mixin is skipped in the preload (huggingface_hub hidden while it runs), and
    the marker is gone afterwards: a worker that needs huggingface_hub (a Hugging Face dataset run) imports it."""
    pytest.importorskip("huggingface_hub")
    code = (
        "from augment.run.engines import LocalEngine\n"
        "from augment.run.job import JobConfig\n"
        "config = JobConfig(spec={'modality': 'image', 'backend': 'albumentations', 'steps': [{'op': 'clahe'}]},\n"
        "                   spec_hash='x', input_root='/', output_root='/')\n"
        "probe = (\"[__import__('sys').modules.get('huggingface_hub', 0) is not None and 'huggingface_hub' in \"\n"
        "         \"__import__('sys').modules, __import__('albumentations.core.hub_mixin', fromlist=['x'])\"\n"
        "         \".is_huggingface_hub_available, hasattr(__import__('huggingface_hub'), 'HfApi')]\")\n"
        "with LocalEngine(workers=1)._pool(config) as pool:\n"
        "    print(pool.submit(eval, probe).result())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[False, False, True]"


def test_the_forkserver_skips_the_cli_module_but_keeps_a_users_script(monkeypatch, tmp_path):
    """Workers never use the CLI's module, so `python -m augment.cli` and the `augment` console script do not
    make the forkserver import it; any other __main__ (a user's script defining ops) is still preloaded."""
    import importlib.machinery
    import types

    from augment.run.forkserver import _main_preload

    cli = types.ModuleType("__main__")
    cli.__spec__ = importlib.machinery.ModuleSpec("augment.cli", None)
    monkeypatch.setitem(sys.modules, "__main__", cli)
    assert _main_preload() == []
    script = types.ModuleType("__main__")
    script.__file__ = str(Path(sys.executable).parent / "augment")  # the console script beside the interpreter
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert _main_preload() == []
    user = types.ModuleType("__main__")
    user.__file__ = str(tmp_path / "train.py")
    monkeypatch.setitem(sys.modules, "__main__", user)
    assert _main_preload() == ["__main__"]
    elsewhere = types.ModuleType("__main__")
    elsewhere.__file__ = str(tmp_path / "augment")  # a user's script that happens to be called augment
    monkeypatch.setitem(sys.modules, "__main__", elsewhere)
    assert _main_preload() == ["__main__"]


def test_preload_follows_the_spec():
    from augment.run.engines import preload_for
    from augment.run.job import JobConfig

    def config(**spec):
        return JobConfig(spec=spec, spec_hash="x", input_root="/", output_root="/")

    assert "augment.compile.backend_torchvision" in preload_for(config(modality="image", backend="torchvision"))
    assert not any("backend" in m for m in preload_for(config(modality="text")))
    assert "augment.run.annotated_job" not in preload_for(config(modality="image"))
    annotated = JobConfig(spec={"modality": "image"}, spec_hash="x", input_root="/", output_root="/",
                          annotation_format={"kind": "yolo"})
    assert "augment.run.annotated_job" in preload_for(annotated)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 3_000_000), min_size=0, max_size=60), copies=st.integers(1, 4),
       workers=st.integers(1, 8), fixed=st.sampled_from([None, None, 1, 5]))
def test_chunks_by_cost_keep_every_task_once_in_order(tmp_path_factory, sizes, copies, workers, fixed):
    from augment.run.expander import MAX_CHUNK, chunk_budget, cost_chunks
    from augment.run.job import ImageTask

    root = tmp_path_factory.mktemp("in")
    tasks = []
    for i, size in enumerate(sizes):
        (root / f"{i}.jpg").write_bytes(b"\0" * size) if size else None  # size 0: a missing file
        tasks.append(ImageTask(f"{i}.jpg", tuple(range(copies))))
    chunks = list(cost_chunks(tasks, root, workers, fixed))
    assert [t for c in chunks for t in c] == tasks and all(chunks)
    if fixed:
        assert all(len(c) == fixed for c in chunks[:-1])
        return
    assert all(len(c) <= MAX_CHUNK for c in chunks)
    total = remaining = sum(max(s, 1) * copies for s in sizes)
    for chunk in chunks[:-1]:  # each closes once it reached its budget (or the item cap), not before
        budget = chunk_budget(total, remaining, workers)
        cost = [max(sizes[int(t.source[:-4])], 1) * copies for t in chunk]
        assert sum(cost) >= budget or len(chunk) == MAX_CHUNK
        assert sum(cost[:-1]) < budget
        remaining -= sum(cost)


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 10**12), workers=st.integers(1, 64), spent=st.floats(0, 1))
def test_chunk_budget_shrinks_towards_the_end_and_never_reaches_zero(total, workers, spent):
    from augment.run.expander import CHUNK_COST, chunk_budget

    remaining = int(total * (1 - spent))
    budget = chunk_budget(total, remaining, workers)
    assert 1 <= budget <= CHUNK_COST and budget <= max(1, total // (4 * workers))
    assert chunk_budget(total, remaining // 2, workers) <= budget  # less work left: never a bigger chunk
    if remaining >= 2 * workers:
        assert budget <= remaining // (2 * workers)  # the queued work is spread over every worker


def test_outputs_and_manifest_do_not_depend_on_chunking(image_folder, tmp_path):
    from augment.compile.pipeline import Pipeline
    from augment.run.expander import RunOptions, expand
    from augment.spec import load_spec

    pipe = Pipeline(load_spec(FLIP_ZOOM))
    for name, size in (("by_cost", None), ("one", 1), ("seven", 7)):
        expand(pipe, RunOptions(input=image_folder, output=tmp_path / name, engine="serial", chunk_size=size))
    by_cost = _files(tmp_path / "by_cost")
    assert by_cost == _files(tmp_path / "one") == _files(tmp_path / "seven") and len(by_cost) > 10


def test_run_json_names_the_encoder_and_its_codec_libraries(image_folder, tmp_path):
    from augment.io.images import codec_versions

    _run(image_folder, tmp_path / "out")
    codec = json.loads((tmp_path / "out" / "run.json").read_text())["codec"]
    assert codec == codec_versions() and codec["encoder"] == "pillow" and codec["libjpeg_turbo"]


def test_scheduling_stats_charge_idle_worker_time_to_the_outputs():
    from augment.run.dask_engine import scheduling_stats

    stats = scheduling_stats(chunks=4, outputs=200, work_seconds=3.0, wall_seconds=2.0, threads=2)
    assert stats["busy_fraction"] == 0.75 and stats["overhead_ms_per_output"] == 5.0
    assert scheduling_stats(0, 0, 0.0, 0.0, 1)["overhead_ms_per_output"] is None
    # workers busier than the wall clock (timer granularity) never make a negative overhead
    assert scheduling_stats(1, 10, 2.1, 1.0, 2)["overhead_ms_per_output"] == 0.0


def test_a_serial_run_reports_no_scheduling_block(image_folder, tmp_path):
    """In-process (serial) runs have no workers to report on; process-pool and Dask runs do (test_engine_busy)."""
    out = _run(image_folder, tmp_path / "out")
    assert "scheduling" not in out and out["written"] > 0
