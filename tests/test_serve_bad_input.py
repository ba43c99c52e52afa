"""The service under bad input, over real HTTP on 127.0.0.1 (issue 20, items 5-11): decompression bombs, the
running-jobs limit under 50 concurrent requests, a corrupt or killed job database, deeply nested JSON and lone
surrogates, file names that are not UTF-8, booleans given as numbers, and VOC files with a DOCTYPE anywhere."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from serve_support import REPO, Server

FLIP = {"name": "flip", "modality": "image", "seed": 0, "steps": [{"op": "horizontal_flip", "p": 1.0}]}
SLOW = {"name": "slow", "modality": "image", "seed": 4, "copies": 200,
        "steps": [{"op": "elastic", "params": {"alpha": [20, 40], "sigma": [4, 6]}}, {"op": "gaussian_blur"}]}
TEXT = {"name": "t", "modality": "text", "seed": 0, "steps": [{"op": "random_swap"}]}


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header declaring width x height gray pixels, with a few bytes of data: what a bomb looks like
    to a decoder before it allocates."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bad-input")
    rng = np.random.default_rng(0)
    root = base / "root"
    for i in range(30):  # slow jobs: 30 images x 40 copies of an elastic warp
        (root / "slow" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)).save(root / "slow" / f"c{i % 2}" / f"{i:02d}.png")
    (root / "plain" / "a").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / "plain" / "a" / "ok.png")
    # names that are not UTF-8: a file in an image folder, a folder, a text file
    names = root / "names"
    (names / "a").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(names / "a" / "ok.png")
    shutil.copy(names / "a" / "ok.png", os.fsdecode(bytes(names / "a") + b"/x\xff.png"))
    os.mkdir(os.fsdecode(bytes(root) + b"/dir\xfe"))
    Path(os.fsdecode(bytes(root) + b"/text\xfd.tsv")).write_text("1\tsome text here\n")
    (root / "t").mkdir()
    (root / "t" / "rows.tsv").write_text("1\tthe quick brown fox jumps\n0\tover the lazy dog again\n")
    return base


@pytest.fixture(scope="module")
def server(data):
    srv = Server("--data-root", f"d={data / 'root'}", "--jobs-root", str(data / "jobs"), "--max-jobs", "2",
                 "--max-pixels", "1000000")
    yield srv
    assert srv.stop() == 0


def _one_line(reply, status):
    assert reply.status == status, reply.body
    assert reply.body.count(b"\n") == 1 and b"Traceback" not in reply.body
    return reply.json()["error"]


# -- 5: decompression bombs --------------------------------------------------------------------------------------

def test_a_decompression_bomb_is_a_422_with_its_reason_as_image_and_as_mask(server):
    bomb = base64.b64encode(bomb_png()).decode()
    error = _one_line(server.post("/v1/augment", {"spec": FLIP, "items": [{"image": bomb}]}), 422)
    assert "items[0]" in error and ("bomb" in error or "pixels" in error)
    small = base64.b64encode(_png(np.zeros((20, 30, 3), np.uint8))).decode()
    error = _one_line(server.post("/v1/augment", {"spec": FLIP, "items": [
        {"image": small, "annotations": {"masks": bomb}}]}), 422)
    assert "items[0].annotations.masks" in error and ("bomb" in error or "20000" in error)
    form = _multipart({"spec": json.dumps(FLIP)}, {"image": ("bomb.png", bomb_png())})
    assert _one_line(server.post("/v1/augment", form[1], headers=form[0]), 422)


def _multipart(fields: dict, files: dict) -> tuple[dict, bytes]:
    boundary = "augmenttestboundary"
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, (name, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, b"".join(parts) + f"--{boundary}--\r\n".encode()


def test_mask_bombs_in_a_dataset_are_an_error_of_their_item(tmp_path):
    root = tmp_path / "masks"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(root / "images" / "a.png")
    Image.fromarray(np.zeros((20, 30), np.uint8), "L").save(root / "images" / "b.png")
    (root / "masks" / "a.png").write_bytes(bomb_png())
    Image.fromarray(np.zeros((20, 30), np.uint8), "L").save(root / "masks" / "b.png")
    out = tmp_path / "out"
    spec = tmp_path / "flip.yaml"
    spec.write_text(json.dumps(FLIP))
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(root), str(out), "--copies",
                           "1", "--engine", "serial", "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    errors = (out / "errors.jsonl").read_text()
    assert "masks/a.png" in errors and "decompression bomb" in errors


# -- 6: --max-jobs under concurrency -----------------------------------------------------------------------------

def test_max_jobs_holds_under_fifty_concurrent_requests_and_counts_stay_right_after_cancel(server, data):
    body = {"kind": "run", "dataset": "d/slow", "spec": SLOW, "options": {"engine": "serial"}}
    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(lambda _: server.post("/v1/jobs", body), range(50)))
    created = [r.json() for r in replies if r.status == 201]
    assert len(created) == 2, [r.status for r in replies]
    assert all(r.status == 429 for r in replies if r.status != 201)
    assert sum(j["status"] == "running" for j in server.get("/v1/jobs").json()["jobs"]) <= 2
    # 7: counts right after a cancel: what the manifest holds, not the last poll
    for job in created:
        server.wait_job(job["id"], until=lambda j: j["counts"]["done"] >= 2)
        assert server.request("DELETE", f"/v1/jobs/{job['id']}").status == 202
    for job in created:
        stopped = server.wait_job(job["id"])
        assert stopped["status"] == "cancelled", stopped
        lines = (data / "jobs" / job["id"] / "output" / "manifest.jsonl").read_bytes().count(b"\n")
        assert stopped["counts"]["done"] == lines, (stopped, lines)
    assert server.post("/v1/jobs", body).status == 201  # the slots came back
    for job in server.get("/v1/jobs").json()["jobs"]:
        server.request("DELETE", f"/v1/jobs/{job['id']}")
    for job in server.get("/v1/jobs").json()["jobs"]:
        server.wait_job(job["id"])


# -- 7: the job database -----------------------------------------------------------------------------------------

def test_a_corrupt_job_database_is_one_line_naming_it(tmp_path):
    (tmp_path / "jobs.sqlite3").write_bytes(b"this is not a database at all" * 40)
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "serve", "--port", "0", "--jobs-root",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "jobs.sqlite3" in lines[0] and "move it aside" in lines[0], proc.stderr


def test_the_job_database_is_in_wal_mode_and_counts_are_recounted_after_the_server_is_killed(data, tmp_path):
    args = ("--data-root", f"d={data / 'root'}", "--jobs-root", str(tmp_path / "jobs"))
    first = Server(*args)
    with sqlite3.connect(tmp_path / "jobs" / "jobs.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    job = first.post("/v1/jobs", {"kind": "run", "dataset": "d/slow", "spec": SLOW,
                                  "options": {"engine": "serial"}}).json()
    first.wait_job(job["id"], until=lambda j: j["counts"]["done"] >= 3)
    first.stop(signal.SIGKILL)  # the job gets SIGINT from the kernel and flushes what it finished
    second = Server(*args)
    try:
        listed = second.get(f"/v1/jobs/{job['id']}").json()
        lines = (tmp_path / "jobs" / job["id"] / "output" / "manifest.jsonl").read_bytes().count(b"\n")
        assert listed["status"] == "interrupted" and listed["counts"]["done"] == lines, (listed, lines)
    finally:
        assert second.stop() == 0


# -- 8: nested JSON and lone surrogates --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/augment", "/v1/jobs", "/v1/validate"])
def test_deeply_nested_json_is_a_400(server, path):
    nested = '{"spec": %s, "items": [{"text": %s}]}' % (json.dumps(FLIP), "[" * 70 + "]" * 70)
    for body in ("[" * 200_000, nested):
        error = _one_line(server.post(path, body, headers={"Content-Type": "application/json"}), 400)
        assert "nested" in error


def test_lone_surrogates_are_a_422_naming_the_key(server):
    raw = '{"spec": %s, "items": [{"text": "a \\ud800 b"}]}' % json.dumps(TEXT)
    error = _one_line(server.post("/v1/augment", raw, headers={"Content-Type": "application/json"}), 422)
    assert error.startswith("items[0].text") and "surrogate" in error
    raw = '{"kind": "run", "dataset": "d/\\udc80", "spec": %s}' % json.dumps(FLIP)
    error = _one_line(server.post("/v1/jobs", raw, headers={"Content-Type": "application/json"}), 422)
    assert error.startswith("dataset") and "surrogate" in error


# -- 9: names that are not UTF-8 ---------------------------------------------------------------------------------

def test_names_that_are_not_utf8_are_skipped_and_counted_never_a_500(server):
    listing = server.get("/v1/datasets")
    assert listing.status == 200, listing.body
    listed = [d["dataset"] for d in listing.json()["datasets"]]
    assert "d/names" in listed and "d/t/rows.tsv" in listed
    assert listing.json()["skipped"]["count"] == 2  # dir\xfe and text\xfd.tsv
    studio = server.get("/")
    assert studio.status == 200 and b"d/names" in studio.body
    samples = server.get("/v1/datasets/samples?dataset=d/names")
    assert samples.status == 200, samples.body
    assert [i["name"] for i in samples.json()["items"]] == ["a/ok.png"] and samples.json()["skipped"]["count"] == 1


# -- 10: booleans are not numbers --------------------------------------------------------------------------------

@pytest.mark.parametrize("path, body, key", [
    ("/v1/augment", {"spec": FLIP, "seed": True, "items": [{"dataset": "d/plain", "name": "a/ok.png"}]}, "seed"),
    ("/v1/augment", {"spec": FLIP, "copies": True, "items": [{"dataset": "d/plain", "name": "a/ok.png"}]}, "copies"),
    ("/v1/augment", {"spec": FLIP, "quality": True, "items": [{"dataset": "d/plain", "name": "a/ok.png"}]}, "quality"),
    ("/v1/augment", {"spec": TEXT, "items": [{"dataset": "d/t/rows.tsv", "row": True}]}, "items[0].row"),
    ("/v1/augment", {"spec": {**FLIP, "seed": True}, "items": [{"dataset": "d/plain", "name": "a/ok.png"}]}, "seed"),
    ("/v1/jobs", {"kind": "run", "dataset": "d/plain", "spec": FLIP, "options": {"copies": True}}, "options.copies"),
    ("/v1/jobs", {"kind": "run", "dataset": "d/plain", "spec": FLIP, "options": {"workers": True}}, "options.workers"),
    ("/v1/jobs", {"kind": "eval", "dataset": "d/plain", "spec": FLIP, "options": {"repeats": True}}, "options.repeats"),
    ("/v1/jobs", {"kind": "search", "dataset": "d/plain", "space": {"name": "s", "modality": "image"},
                  "options": {"budget": True}}, "options.budget"),
    ("/v1/jobs", {"kind": "search", "dataset": "d/plain", "space": {"name": "s", "modality": "image"},
                  "options": {"test_fraction": True}}, "options.test_fraction"),
])
def test_booleans_are_not_numbers_anywhere(server, path, body, key):
    error = _one_line(server.post(path, body), 422)
    assert key in error, error


# -- 11: VOC DOCTYPE and entities, wherever and however encoded --------------------------------------------------

VOC = """<annotation><filename>{name}</filename><size><width>24</width><height>24</height><depth>3</depth></size>
<object><name>{label}</name><bndbox><xmin>2</xmin><ymin>2</ymin><xmax>20</xmax><ymax>20</ymax></bndbox></object>
</annotation>"""
DTD = '<!DOCTYPE annotation [<!ENTITY e "EXPANDED"><!ENTITY l2 "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>'
EVIL = {
    "comment_first": ("<!--" + "x" * 5000 + "-->" + DTD + VOC.format(name="{name}", label="&e;")).encode(),
    "padded": (" " * 8000 + DTD + VOC.format(name="{name}", label="&l2;")).encode(),
    "utf16": ('<?xml version="1.0" encoding="UTF-16"?>' + DTD + VOC.format(name="{name}", label="&l2;"))
    .encode("utf-16"),
}


def _voc_with_evil(root: Path) -> Path:
    rng = np.random.default_rng(2)
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for stem in ["good", *EVIL]:
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(root / "images" / f"{stem}.png")
        data = EVIL.get(stem)
        if data is None:
            data = VOC.format(name=f"{stem}.png", label="cat").encode()
        elif stem == "utf16":
            data = data.decode("utf-16").replace("{name}", f"{stem}.png").encode("utf-16")
        else:
            data = data.replace(b"{name}", f"{stem}.png".encode())
        (root / "annotations" / f"{stem}.xml").write_bytes(data)
    return root


def test_voc_doctype_and_entities_are_refused_wherever_they_sit(tmp_path):
    src = _voc_with_evil(tmp_path / "voc")
    spec = tmp_path / "flip.yaml"
    spec.write_text(json.dumps(FLIP))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(src), str(out), "--copies",
                           "1", "--engine", "serial", "-q"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    errors = {json.loads(line)["source"]: json.loads(line)["error"]
              for line in (out / "errors.jsonl").read_text().splitlines()}
    assert {f"images/{stem}.png" for stem in EVIL} <= set(errors), errors
    assert all("DOCTYPE" in errors[f"images/{stem}.png"] for stem in EVIL)
    written = b"".join(p.read_bytes() for p in out.rglob("*.xml"))
    assert b"EXPANDED" not in written and b"cat" in written


def test_voc_doctype_is_refused_by_the_service(server, data):
    _voc_with_evil(data / "root" / "evil")
    for stem in EVIL:
        error = _one_line(server.post("/v1/augment", {"spec": FLIP, "items": [
            {"dataset": "d/evil", "name": f"images/{stem}.png"}]}), 422)
        assert "DOCTYPE" in error and "EXPANDED" not in error
