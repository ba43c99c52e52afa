"""OUTPUT as an fsspec URL: a real S3-compatible server (moto) on 127.0.0.1, and fsspec's memory filesystem.

The S3 runs go through the real CLI in a subprocess (``--engine local --workers 2``: the workers open the store
themselves), with the endpoint given only through the environment (``AWS_ENDPOINT_URL``), and are compared with a
run of the same spec and seed into a local folder: the same object names, the same bytes, the same manifest.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PIPELINES, REPO, SAMPLES

boto3 = pytest.importorskip("boto3")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"  # 3 copies per image
EDA = PIPELINES / "eda.yaml"  # 4 copies per row
REVIEWS = SAMPLES / "text" / "reviews.tsv"
META = ("manifest.jsonl", "run.json", "errors.jsonl")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on loopback only, stopped when the module's tests are done."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:  # ready once it accepts connections
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, tmp_path, request):
    """A fresh bucket, a boto3 client on it, and the environment the CLI needs (credentials are moto's dummies)."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith(("AWS_", "FSSPEC_")) or key == "AUGMENT_STORAGE_OPTIONS":
            del env[key]
    env.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=s3_endpoint, AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = "augment-" + request.node.name.replace("_", "-")[:40].lower()
    client.create_bucket(Bucket=bucket)
    return client, bucket, env


def augment_cli(env, *args, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", *map(str, args), "-q"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            found[obj["Key"][len(prefix) + 1:]] = body
    return found


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def comparable_run_record(data: bytes) -> dict:
    record = json.loads(data)
    record.pop("versions", None)
    record.pop("run_id", None)  # each run's own
    return record


def test_image_run_to_s3_equals_a_local_run_and_resumes(image_folder, tmp_path, s3):
    client, bucket, env = s3
    local = tmp_path / "local"
    url = f"s3://{bucket}/out"
    ref = augment_cli(env, FLIP_ZOOM, image_folder, local, "--engine", "local", "--workers", "2")
    got = augment_cli(env, FLIP_ZOOM, image_folder, url, "--engine", "local", "--workers", "2")
    assert got["output"] == url and got["written"] == ref["written"] == 24 and got["errors"] == 0

    remote, here = objects(client, bucket, "out"), files(local)
    assert set(remote) == set(here)  # outputs, manifest, run record, error log: nothing staged is left behind
    for name in here:
        if name != "run.json":
            assert remote[name] == here[name], name  # byte-identical outputs and manifest
    assert comparable_run_record(remote["run.json"]) == comparable_run_record(here["run.json"])
    assert json.loads(remote["run.json"])["status"] == "complete"
    from augment.run.expander import staging_dir

    assert not staging_dir(url).exists()

    # Resume: delete one object; the re-run rewrites it alone, with the same bytes.
    victim = "cat/img1__aug2.jpg"
    client.delete_object(Bucket=bucket, Key=f"out/{victim}")
    again = augment_cli(env, FLIP_ZOOM, image_folder, url, "--engine", "local", "--workers", "2")
    assert (again["written"], again["resumed_skipped"]) == (1, 23)
    after = objects(client, bucket, "out")
    assert after[victim] == here[victim]
    assert after["manifest.jsonl"] == here["manifest.jsonl"]
    assert json.loads(after["run.json"])["counts"]["written_this_run"] == 1

    # Another seed into the same URL is refused, as for a folder.
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(FLIP_ZOOM), str(image_folder), url,
                           "--seed", "7", "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "another spec" in proc.stderr and proc.stderr.count("\n") == 1

    # A bucket that does not exist: one line, no traceback.
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(FLIP_ZOOM), str(image_folder),
                           "s3://augment-no-such-bucket/out", "--engine", "serial", "-q"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "bucket does not exist" in proc.stderr


def test_text_run_to_s3_equals_a_local_run(tmp_path, s3):
    client, bucket, env = s3
    local = tmp_path / "local"
    url = f"s3://{bucket}/text"
    ref = augment_cli(env, EDA, REVIEWS, local, "--engine", "local", "--workers", "2", "--include-originals")
    got = augment_cli(env, EDA, REVIEWS, url, "--engine", "local", "--workers", "2", "--include-originals")
    # EDA reads the sentence now (context: true): a few copies that cannot change are dropped and counted, alike
    assert got["written"] == ref["written"] and 50 * 4 < ref["written"] <= 50 * 5
    remote, here = objects(client, bucket, "text"), files(local)
    assert set(remote) == set(here)
    assert remote["reviews.tsv"] == here["reviews.tsv"]
    assert remote["manifest.jsonl"] == here["manifest.jsonl"]
    assert not any(name.startswith(".augment-parts/") for name in remote)  # joined, then removed


def test_memory_url_in_process(image_folder, tmp_path):
    """``expand`` into memory://: identical to a folder; records are uploaded while the run goes, so an
    interrupted run resumes from them."""
    import fsspec

    from augment.compile.pipeline import Pipeline
    from augment.run.expander import SEGMENTS_DIR, RunOptions, expand
    from augment.spec import load_spec

    pipe = Pipeline(load_spec(FLIP_ZOOM))
    expand(pipe, RunOptions(input=image_folder, output=tmp_path / "local", engine="serial", chunk_size=2))
    here = files(tmp_path / "local")
    fs = fsspec.filesystem("memory")
    url, root = "memory://augment-test/out", "/augment-test/out"
    fs.rm(root, recursive=True) if fs.exists(root) else None

    def opts(**kw):
        return RunOptions(input=image_folder, output=url, engine="serial", chunk_size=2, remote_flush_records=4, **kw)

    seen_segments, finished = [], [0]

    def interrupt_after_half(n: int) -> None:
        finished[0] += n
        seen_segments.append(len(fs.find(f"{root}/{SEGMENTS_DIR}")))
        if finished[0] >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        expand(pipe, opts(), progress=interrupt_after_half)
    assert seen_segments[-1] >= 1  # uploaded during the run, before the interruption
    assert json.loads(fs.cat_file(f"{root}/run.json"))["status"] == "running"
    assert not fs.exists(f"{root}/manifest.jsonl")

    summary = expand(pipe, opts())
    assert summary.resumed_skipped == 4 * 3 and summary.written == 24 - 12
    remote = {p[len(root) + 1:]: fs.cat_file(p) for p in fs.find(root)}
    assert set(remote) == set(here)
    assert all(remote[n] == here[n] for n in here if n != "run.json")
    from augment.replay import replay_output

    assert replay_output(url, "cat/img0__aug1.jpg").identical

    # --overwrite with another seed replaces the run; a process pool cannot share a memory filesystem.
    from augment.run.expander import RunError

    with pytest.raises(RunError, match="another spec"):
        expand(Pipeline(load_spec(FLIP_ZOOM).with_overrides(seed=5)), opts())
    with pytest.raises(RunError, match="--engine serial"):
        expand(pipe, RunOptions(input=image_folder, output=url, engine="local"))
    fs.rm(root, recursive=True)


def test_store_confinement_locations_and_pickling(monkeypatch):
    from augment.io.store import (
        FsspecStore,
        LocalStore,
        OutputWriteError,
        open_store,
        output_location,
        storage_options_for,
    )
    from augment.run.job import JobConfig, OutputWriteError as JobOutputWriteError, store_for

    assert JobOutputWriteError is OutputWriteError
    assert output_location("out/dir") == Path("out/dir")
    assert output_location("file:///tmp/x") == Path("/tmp/x")
    assert output_location("s3://b/p/") == "s3://b/p"
    assert isinstance(open_store("C:\\data"), LocalStore)

    store = FsspecStore("memory://augment-confine/x")
    for bad in ("../escape", "/abs", "", "a/../../b", "a\x00b"):
        with pytest.raises(OutputWriteError, match="refusing"):
            store.write_bytes(bad, b"x")
    store.write_bytes("a/b.bin", b"data")
    clone = pickle.loads(pickle.dumps(store))
    assert clone._fs is None and clone.read_bytes("a/b.bin") == b"data" and clone.list() == ["a/b.bin"]
    clone.remove_tree("a")
    assert store.list() == [] and not store.exists("a/b.bin")

    monkeypatch.setenv("AUGMENT_STORAGE_OPTIONS", '{"anon": false, "endpoint_url": "http://from-json"}')
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-aws-env")
    assert storage_options_for("s3://b/p") == {"anon": False, "endpoint_url": "http://from-json"}
    monkeypatch.setenv("AUGMENT_STORAGE_OPTIONS", "{}")
    assert storage_options_for("s3://b/p") == {"endpoint_url": "http://from-aws-env"}
    assert storage_options_for("gs://b/p") == {}
    config = JobConfig(spec={}, spec_hash="h", input_root="/in", output_root="memory://augment-confine/y",
                       storage_options={"skip_instance_cache": False})
    assert isinstance(store_for(pickle.loads(pickle.dumps(config))), FsspecStore)


@pytest.mark.parametrize("where", ["folder", "memory"])
def test_overwrite_of_a_text_run_drops_the_old_parts(tmp_path, monkeypatch, where):
    """--overwrite with a shorter input: part files of the replaced run must not be joined into the new output."""
    import fsspec

    from augment.compile.pipeline import Pipeline
    from augment.run import text_expand
    from augment.run.expander import RunOptions, expand
    from augment.spec import load_spec

    monkeypatch.setattr(text_expand, "CHUNK_ROWS", 4)  # several part files from a few rows
    rows = REVIEWS.read_text(encoding="utf-8").splitlines(keepends=True)
    long, short = tmp_path / "long" / "data.tsv", tmp_path / "short" / "data.tsv"
    for path, n in ((long, 20), (short, 5)):
        path.parent.mkdir()
        path.write_text("".join(rows[:n]), encoding="utf-8")
    pipe = Pipeline(load_spec(PIPELINES / "char_noise.yaml"))  # 2 copies
    out = tmp_path / "out" if where == "folder" else "memory://augment-overwrite/out"
    expand(pipe, RunOptions(input=long, output=out, engine="serial"))
    summary = expand(pipe, RunOptions(input=short, output=out, engine="serial", overwrite=True))
    assert summary.written == 5 * 2
    if where == "folder":
        data = (out / "data.tsv").read_bytes()
    else:
        fs = fsspec.filesystem("memory")
        data = fs.cat_file("/augment-overwrite/out/data.tsv")
        fs.rm("/augment-overwrite/out", recursive=True)
    assert data.count(b"\n") == 5 * 2


def test_a_live_lease_in_s3_refuses_a_second_run_and_an_expired_one_is_taken_over(image_folder, s3):
    """Two CLI processes: one holds a lease object (its renewals keep it alive), the other is refused at once
    with one line naming the holder; once the lease has expired (the holder died), a run takes it over."""
    client, bucket, env = s3
    url = f"s3://{bucket}/out"
    env = dict(env, AUGMENT_LEASE_SECONDS="3")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from augment.io.lock import StoreLease\n"
        "from augment.io.store import open_store, storage_options_for\n"
        f"lease = StoreLease(open_store({url!r}, storage_options_for({url!r})), 'holder-run').acquire()\n"
        "print('held', flush=True)\n"
        "sys.stdin.readline()\n"  # renewals go on until the test closes stdin
        "lease.release()\n")], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(4)  # past the first term: only the renewals keep the lease alive
        proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(FLIP_ZOOM), str(image_folder), url,
                               "--engine", "serial", "-q"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 5 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"pid {holder.pid}" in proc.stderr and "holder-run" in proc.stderr
        assert set(objects(client, bucket, "out")) == {".augment-lock.json"}
    finally:
        holder.kill()  # dies without releasing: its lease stays until it expires
        holder.wait()
    time.sleep(3.5)
    summary = augment_cli(env, FLIP_ZOOM, image_folder, url, "--engine", "serial")
    assert summary["written"] == 24
    assert ".augment-lock.json" not in objects(client, bucket, "out")
