"""Data integrity of OUTPUT (issue 10): one run owns an OUTPUT, output names never collide, a resume notices
changed sources and changed options, and the rough edges of planning and the summary.

Concurrency and resume-after-change go through the real CLI, in real processes, as a user would run them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from augment.io.atomic import TMP_MARK, remove_stale_temporaries, temporary_owner
from augment.io.lock import LOCK_NAME, FolderLock, OutputBusyError, StoreLease, pid_alive
from augment.io.manifest import read_jsonl
from augment.io.naming import find_collision
from augment.run.job import output_name
from conftest import PIPELINES, REPO, SAMPLES

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"  # 3 copies per image
EDA = PIPELINES / "eda.yaml"  # 4 copies per row
META = {"manifest.jsonl", "run.json", "errors.jsonl"}


def run_args(src, out, *extra, spec=FLIP_ZOOM):
    return [sys.executable, "-m", "augment.cli", "run", str(spec), str(src), str(out), "-q", *map(str, extra)]


def augment_run(src, out, *extra, spec=FLIP_ZOOM, timeout=300):
    return subprocess.run(run_args(src, out, *extra, spec=spec), capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def ok(proc) -> dict:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def one_line_error(proc, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def data_files(root: Path) -> dict[str, bytes]:
    """Every output file (not the run's own files), by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in META}


def assert_consistent(out: Path) -> list[dict]:
    """The manifest and the folder agree: one record per output file, each file's sha256 as recorded, nothing
    left over (no temporaries, parts, lock), and the run is complete."""
    records = list(read_jsonl(out / "manifest.jsonl"))
    files = data_files(out)
    outputs = [r["output"] for r in records if r.get("row") is None]
    assert len(outputs) == len(set(outputs)), "two records point at one file"
    assert sorted(outputs) == sorted(files), "manifest and folder disagree"
    bad = [r["output"] for r in records if r.get("row") is None and sha(files[r["output"]]) != r["sha256"]]
    assert bad == [], f"files that do not match their record: {bad[:5]}"
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    return records


def small_images(root: Path, n: int = 12, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return root


# ---------------------------------------------------------------------------------------------------- ownership


def test_a_second_run_into_a_busy_output_fails_at_once_naming_the_holder(digits_folder, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen(run_args(digits_folder, out, "--workers", "1", "--copies", "4"), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(out.rglob("*__aug*")):  # the first run owns OUTPUT and is writing
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        holder = json.loads((out / LOCK_NAME).read_text())
        assert holder["pid"] == first.pid
        # paused (with its worker), the first run keeps its lock for as long as the checks take: on a fast machine
        # it could otherwise finish while a second run is still starting, and the second would then own OUTPUT
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            for extra in ([], ["--seed", "7"], ["--overwrite"]):  # same spec, another seed, even --overwrite
                before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
                # the holder is stopped and never lets go: a second run that waited for the lock would not end
                # (the subprocess timeout guards against that hang); one that ends has refused at once
                second = augment_run(digits_folder, out, "--workers", "1", *extra, timeout=120)
                assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before, extra  # it touched nothing
                assert first.poll() is None, "the first run ended too soon to test anything"
                err = one_line_error(second, 5)
                assert f"pid {first.pid}" in err and holder["host"] in err and holder["started"] in err
        finally:
            os.killpg(first.pid, signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, stderr
    assert json.loads(stdout)["written"] == 200 * 4
    records = assert_consistent(out)
    assert not (out / LOCK_NAME).exists()
    from augment.replay import replay_output

    assert all(replay_output(out, r["output"]).identical for r in records[::97])


def test_the_lock_of_a_killed_run_is_taken_over_and_the_resume_is_consistent(digits_folder, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(run_args(digits_folder, out, "--workers", "2"), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        manifest = out / "manifest.jsonl"
        while not manifest.exists() or manifest.read_bytes().count(b"\n") < 100:  # some records are in
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.3)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == proc.pid  # left behind, but no longer held
    summary = ok(augment_run(digits_folder, out, "--workers", "2"))
    assert summary["resumed_skipped"] > 0 and summary["resumed_skipped"] + summary["written"] == 600
    records = assert_consistent(out)
    assert len(records) == 600 and not (out / LOCK_NAME).exists()


def test_folder_lock_semantics(tmp_path):
    a = FolderLock(tmp_path, "run-a").acquire()
    with pytest.raises(OutputBusyError, match=rf"pid {os.getpid()} on .*run run-a"):
        FolderLock(tmp_path, "run-b").acquire()
    a.release()
    assert not (tmp_path / LOCK_NAME).exists()
    # A lock file whose writer died without removing it (nothing holds its flock): taken over.
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 2**22 + 1, "host": "elsewhere", "run_id": "dead"}))
    b = FolderLock(tmp_path, "run-b").acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "run-b"
    b.release()


def test_a_lease_in_an_object_store_excludes_a_second_run_until_it_expires(image_folder, tmp_path, monkeypatch):
    import fsspec

    from augment.compile.pipeline import Pipeline
    from augment.io.store import FsspecStore
    from augment.run.expander import RunOptions, expand
    from augment.spec import load_spec

    fs = fsspec.filesystem("memory")
    url, root = "memory://augment-lease/out", "/augment-lease/out"
    fs.rm(root, recursive=True) if fs.exists(root) else None
    store = FsspecStore(url)
    other = {"run_id": "other", "pid": 4242, "host": "node-7", "started": "2026-01-01T00:00:00Z"}
    store.write_bytes(".augment-lock.json", json.dumps(dict(other, expires_epoch=time.time() + 600)).encode())
    pipe = Pipeline(load_spec(FLIP_ZOOM))
    opts = RunOptions(input=image_folder, output=url, engine="serial")
    with pytest.raises(OutputBusyError, match="pid 4242 on node-7"):
        expand(pipe, opts)
    assert fs.find(root) == [f"{root}/.augment-lock.json"]  # nothing else was touched
    store.write_bytes(".augment-lock.json", json.dumps(dict(other, expires_epoch=time.time() - 1)).encode())
    assert expand(pipe, opts).written == 24  # an expired lease is a dead run's: taken over
    assert not fs.exists(f"{root}/.augment-lock.json")

    # A run whose lease another run took (its renewals stopped arriving) finds out and stops.
    lease = StoreLease(store, "mine", seconds=0.3, settle=0.0).acquire()
    store.write_bytes(".augment-lock.json", json.dumps(dict(other, expires_epoch=time.time() + 600)).encode())
    time.sleep(0.5)
    with pytest.raises(OutputBusyError, match="taken over by"):
        lease.check()
    lease.release()
    assert json.loads(store.read_bytes(".augment-lock.json"))["run_id"] == "other"  # not ours to remove
    fs.rm(root, recursive=True)


def test_temporary_clean_up_touches_only_files_of_dead_writers(tmp_path, image_folder):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / "out" / "cat" / f".img0__aug0.jpg.{sleeper.pid}.abcd{TMP_MARK}"
        dead_pid = 2**22 + 7  # above any pid_max: never a live process
        dead = tmp_path / "out" / "cat" / f".img1__aug0.jpg.{dead_pid}.abcd{TMP_MARK}"
        out = tmp_path / "out"
        ok(augment_run(image_folder, out, "--engine", "serial"))
        for path in (live, dead):
            path.write_bytes(b"half")
        assert temporary_owner(live.name) == sleeper.pid and pid_alive(sleeper.pid) and not pid_alive(dead_pid)
        ok(augment_run(image_folder, out, "--engine", "serial"))  # a resume: its clean-up runs at start and end
        assert live.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temporaries(tmp_path / "out") == 1 and not live.exists()


def test_a_temporary_left_by_a_worker_killed_during_the_run_is_gone_when_the_run_completes(image_folder, tmp_path):
    from augment.compile.pipeline import Pipeline
    from augment.run.expander import RunOptions, expand
    from augment.spec import load_spec

    out = tmp_path / "out"
    stale = out / "dog" / f".img2__aug1.jpg.{2**22 + 9}.dead{TMP_MARK}"

    def worker_dies_mid_write(_n: int) -> None:  # what a killed worker leaves: its temporary, after start-up
        if not stale.exists():
            stale.write_bytes(b"half an image")

    expand(Pipeline(load_spec(FLIP_ZOOM)), RunOptions(input=image_folder, output=out, engine="serial", chunk_size=2),
           progress=worker_dies_mid_write)
    assert not stale.exists() and not list(out.rglob(f"*{TMP_MARK}"))


# ---------------------------------------------------------------------------------------------------- names


def test_originals_that_are_copy_names_of_other_sources_are_refused_before_anything_is_written(tmp_path):
    src = small_images(tmp_path / "in", 4)
    shutil.copy(src / "b" / "im0.png", src / "b" / "im0__aug0.png")  # an earlier OUTPUT's copy, back in INPUT
    out = tmp_path / "out"
    err = one_line_error(augment_run(src, out, "--include-originals", "--engine", "serial"), 1)
    assert "b/im0__aug0.png" in err and "copy 0 of b/im0.png" in err
    assert data_files(out) == {}
    summary = ok(augment_run(src, out, "--engine", "serial"))  # without originals, nothing collides
    assert summary["written"] == 5 * 3
    assert_consistent(out)


NAME_PARTS = st.sampled_from(["a", "b", "__aug", "0", "1", "2", "10", "01", ".", "png", "jpg", "_"])


@settings(max_examples=300, deadline=None)
@given(names=st.lists(st.tuples(st.sampled_from(["", "c/"]), st.lists(NAME_PARTS, min_size=1, max_size=6)),
                      max_size=12),
       copies=st.integers(1, 12), originals=st.booleans())
def test_planned_outputs_never_share_a_path(names, copies, originals):
    # Names as the scan hands them over: a file name that is not hidden (dot-files are skipped before planning).
    sources = sorted({folder + "".join(parts) for folder, parts in names if not parts[0].startswith(".")})
    planned = [(output_name(s, k), s) for s in sources for k in range(copies)]
    if originals:
        planned += [(s, s) for s in sources]
    paths = [p for p, _ in planned]
    clash = find_collision(sources, copies, originals, output_name)
    if clash is None:
        assert len(paths) == len(set(paths))  # accepted: every output has a path of its own
    else:
        assert paths.count(clash[0]) > 1  # refused: the clash named is real


def test_an_earlier_output_inside_input_is_skipped_with_a_note(tmp_path):
    src = small_images(tmp_path / "in", 4)
    ok(augment_run(src, src / "old_run", "--engine", "serial"))  # an OUTPUT inside INPUT (allowed, excluded)
    summary = ok(augment_run(src, tmp_path / "out", "--engine", "serial"))
    assert summary["skipped_earlier_outputs"] == ["old_run"] and summary["items"] == 4 and summary["errors"] == 0
    assert any(n.startswith("old_run holds an earlier augment OUTPUT") for n in summary["notes"])
    assert not (tmp_path / "out" / "old_run").exists()


def test_a_text_input_named_like_the_runs_own_files_is_refused(tmp_path):
    src = tmp_path / "manifest.jsonl"
    src.write_text('{"text": "a good film", "label": "pos"}\n')
    one_line_error(augment_run(src, tmp_path / "out", "--engine", "serial", spec=EDA), 1)


# ---------------------------------------------------------------------------------------------------- resume


def test_resume_redoes_changed_sources_and_removes_outputs_of_deleted_ones(tmp_path):
    src = small_images(tmp_path / "in", 10)
    out = tmp_path / "out"
    ok(augment_run(src, out, "--include-originals", "--engine", "serial"))
    before = data_files(out)
    Image.fromarray(np.full((40, 48, 3), 200, np.uint8)).save(src / "a" / "im1.png")  # replaced, same name
    (src / "b" / "im2.png").unlink()  # deleted
    os.utime(src / "a" / "im3.png", ns=(1, 1))  # touched only: same bytes, another mtime
    summary = ok(augment_run(src, out, "--include-originals", "--engine", "serial"))
    assert (summary["sources_changed"], summary["changed_examples"]) == (1, ["a/im1.png"])
    assert (summary["sources_removed"], summary["removed_examples"]) == (1, ["b/im2.png"])
    assert summary["written"] == 4  # the original and 3 copies of the replaced image, nothing else
    assert any("a/im1.png" in n and "changed" in n for n in summary["notes"])
    assert any("b/im2.png" in n and "no longer in INPUT" in n for n in summary["notes"])
    after = data_files(out)
    assert not [k for k in after if k.startswith("b/im2")]
    assert after["a/im1.png"] == (src / "a" / "im1.png").read_bytes()
    assert after["a/im1__aug0.png"] != before["a/im1__aug0.png"]
    assert all(after[k] == before[k] for k in after if not k.startswith("a/im1"))
    records = assert_consistent(out)
    from augment.replay import replay_output

    assert all(replay_output(out, r["output"]).identical for r in records if r["source"].startswith("a/im1"))
    fresh = tmp_path / "fresh"  # the resumed OUTPUT is what a fresh run of today's INPUT gives
    ok(augment_run(src, fresh, "--include-originals", "--engine", "serial"))
    assert data_files(fresh) == after
    assert (fresh / "manifest.jsonl").read_bytes() == (out / "manifest.jsonl").read_bytes()


def test_a_changed_text_file_is_planned_again_as_a_whole(tmp_path):
    src = tmp_path / "reviews.tsv"
    lines = (SAMPLES / "text" / "reviews.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:12]
    src.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    ok(augment_run(src, out, "--engine", "serial", spec=EDA))
    src.write_text("pos\ta brand new first row about a wonderful film\n" + "".join(lines), encoding="utf-8")
    summary = ok(augment_run(src, out, "--engine", "serial", spec=EDA))
    assert summary["sources_changed"] == 1 and summary["written"] == 13 * 4
    fresh = tmp_path / "fresh"
    ok(augment_run(src, fresh, "--engine", "serial", spec=EDA))
    assert (out / "reviews.tsv").read_bytes() == (fresh / "reviews.tsv").read_bytes()
    assert (out / "manifest.jsonl").read_bytes() == (fresh / "manifest.jsonl").read_bytes()
    assert not (out / ".augment-parts").exists()
    from augment.replay import replay_output

    records = list(read_jsonl(out / "manifest.jsonl"))
    assert len(records) == 13 * 4
    assert all(replay_output(out, "reviews.tsv", row=r["row"], copy=r["copy"]).identical for r in records[:16])


# ---------------------------------------------------------------------------------------------------- identity


def test_a_resume_with_other_byte_changing_options_is_refused(tmp_path):
    src = small_images(tmp_path / "in", 4)
    for name in ("x0.jpg", "x1.jpg"):
        Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(src / name)
    out = tmp_path / "out"
    ok(augment_run(src, out, "--quality", "95", "--engine", "serial"))
    run_before = (out / "run.json").read_bytes()
    for extra, what in ((["--quality", "20"], "quality"), (["--seed", "9"], "seed"),
                        (["--include-originals"], "include_originals")):
        err = one_line_error(augment_run(src, out, "--quality", "95", *extra, "--engine", "serial"), 1)
        assert what in err and "--overwrite" in err
        assert (out / "run.json").read_bytes() == run_before  # not rewritten: replays stay valid
    from augment.replay import replay_output

    assert replay_output(out, "x0__aug1.jpg").identical
    ok(augment_run(src, out, "--quality", "20", "--overwrite", "--engine", "serial"))  # a new run
    assert json.loads((out / "run.json").read_text())["quality"] == 20
    assert replay_output(out, "x0__aug1.jpg").identical


def test_more_copies_on_a_finished_run_writes_only_the_new_ones_and_fewer_are_refused(tmp_path):
    src = small_images(tmp_path / "in", 6)
    out = tmp_path / "out"
    ok(augment_run(src, out, "--copies", "3", "--engine", "serial"))
    first = {p: (out / p).stat().st_mtime_ns for p in data_files(out)}
    summary = ok(augment_run(src, out, "--copies", "5", "--engine", "serial"))
    assert summary["written"] == 6 * 2 and summary["resumed_skipped"] == 6 * 3
    assert all((out / p).stat().st_mtime_ns == t for p, t in first.items())  # copies 0-2 untouched
    fresh = tmp_path / "fresh"
    ok(augment_run(src, fresh, "--copies", "5", "--engine", "serial"))
    assert data_files(fresh) == data_files(out)
    assert_consistent(out)
    err = one_line_error(augment_run(src, out, "--copies", "2", "--engine", "serial"), 1)
    assert "5 copies" in err and "--overwrite" in err
    ok(augment_run(src, out, "--copies", "2", "--overwrite", "--engine", "serial"))
    assert not [p for p in data_files(out) if "__aug2" in p or "__aug4" in p]
    assert len(assert_consistent(out)) == 6 * 2


def test_more_copies_of_a_finished_text_run_equal_a_fresh_run(tmp_path):
    src = tmp_path / "reviews.tsv"
    src.write_text("".join((SAMPLES / "text" / "reviews.tsv").read_text().splitlines(keepends=True)[:8]))
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    ok(augment_run(src, out, "--copies", "2", "--engine", "serial", spec=EDA))
    ok(augment_run(src, out, "--copies", "3", "--engine", "serial", spec=EDA))
    ok(augment_run(src, fresh, "--copies", "3", "--engine", "serial", spec=EDA))
    assert (out / "reviews.tsv").read_bytes() == (fresh / "reviews.tsv").read_bytes()
    assert (out / "manifest.jsonl").read_bytes() == (fresh / "manifest.jsonl").read_bytes()


# ---------------------------------------------------------------------------------------------------- edges


def test_a_run_in_which_every_item_failed_exits_non_zero(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"broken{i}.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(64))
    proc = augment_run(src, tmp_path / "out", "--engine", "serial")
    one_line_error(proc, 3)
    summary = json.loads(proc.stdout)  # the summary is still printed
    assert summary["errors"] == 3 and summary["outputs_in_manifest"] == 0 and len(summary["error_examples"]) == 3


def test_hidden_and_system_files_are_counted_apart_and_overlong_names_get_one_line(tmp_path):
    src = small_images(tmp_path / "in", 2)
    for junk in (".DS_Store", "Thumbs.db", "desktop.ini", "..jpg", "._im0.png", "a/.hidden.png"):
        (src / junk).write_bytes(b"junk")
    (src / ".git").mkdir()
    (src / ".git" / "x.png").write_bytes(b"junk")
    long_name = "L" * 250 + ".png"  # fits INPUT (254 bytes); its copy name would not (260)
    shutil.copy(src / "a" / "im1.png", src / long_name)
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    summary = ok(augment_run(src, out, "--engine", "serial"))
    assert summary["skipped_hidden"] == 7
    assert summary["errors"] == 1 and len(summary["error_examples"]) == 1  # the long name
    assert summary["skipped_non_data"] == 1  # notes.txt: not data, counted apart
    errors = {e["source"]: e["error"] for e in read_jsonl(out / "errors.jsonl")}
    reason = errors[long_name]
    assert "255-byte" in reason and "rename" in reason and len(reason) < 200 and "\n" not in reason
    assert summary["written"] == 2 * 3
    assert_consistent(out)
