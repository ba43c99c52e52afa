"""Reads outside the data root, through the real CLI and real HTTP on 127.0.0.1 (issue 20, items 1-4 and replay's
on-disk check): files reached through symlinks made here, a COCO image in a sibling folder whose name extends
INPUT's, Parquet images stored only as paths. Each test plants a label or bytes found only outside the root and
checks they come back nowhere."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from annotation_fixtures import MAKERS, RACCOON
from serve_support import REPO, Server

pytestmark = pytest.mark.skipif(not RACCOON.is_dir(), reason=f"raccoon dataset not present at {RACCOON}")

STEMS = ["raccoon-1", "raccoon-10", "raccoon-100", "raccoon-101"]
SECRET = "outsidelabel"  # a class name that exists only in the file outside the data root
MOSAIC = {"name": "mosaic", "modality": "image", "seed": 1, "steps": [{"op": "mosaic"}]}
FLIP = {"name": "flip", "modality": "image", "seed": 0, "steps": [{"op": "horizontal_flip", "p": 1.0}]}


def _cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _leaky_voc(root: Path, outside: Path) -> Path:
    """A VOC dataset whose last image's annotation is a symlink to an XML outside the root naming SECRET."""
    MAKERS["voc"](root, STEMS)
    xml = root / "annotations" / f"{STEMS[-1]}.xml"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.xml").write_text(xml.read_text().replace("<name>raccoon</name>", f"<name>{SECRET}</name>"))
    xml.unlink()
    xml.symlink_to(outside / "secret.xml")
    return root


def _leaky_yolo(root: Path, outside: Path) -> Path:
    """A YOLO dataset whose data.yaml is a symlink to a file outside the root."""
    MAKERS["yolo"](root, STEMS)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "data.yaml").write_text(f"names: [{SECRET}]\n")
    (root / "data.yaml").unlink(missing_ok=True)
    (root / "data.yaml").symlink_to(outside / "data.yaml")
    return root


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("sec")
    root = base / "data"
    _leaky_voc(root / "voc", base / "outside")
    _leaky_yolo(root / "yolo", base / "outside-yolo")
    _coco_with_sibling_link(root)
    return root


def _coco_with_sibling_link(parent: Path) -> Path:
    """parent/cc, a COCO dataset whose second image is a symlink into parent/cc2/ (a sibling whose name extends
    'cc': inside the data root, outside the dataset)."""
    cc = MAKERS["coco"](parent / "cc", STEMS[:3])
    sibling = parent / "cc2"
    sibling.mkdir()
    shutil.move(cc / "images" / f"{STEMS[1]}.jpg", sibling / "secret.jpg")
    (cc / "images" / f"{STEMS[1]}.jpg").symlink_to(sibling / "secret.jpg")
    return cc


@pytest.fixture(scope="module")
def server(data, tmp_path_factory):
    jobs = tmp_path_factory.mktemp("jobs")
    srv = Server("--data-root", f"d={data}", "--jobs-root", str(jobs))
    srv.jobs = jobs
    yield srv
    assert srv.stop() == 0


def _decoded(reply_json) -> str:
    """The reply with every annotation file it carries decoded (VOC XML travels base64)."""
    text = json.dumps(reply_json)
    for item in reply_json.get("items", []):
        for out in item.get("outputs", []):
            data = (out.get("annotation_file") or {}).get("data")
            if data:
                text += base64.b64decode(data).decode("utf-8", "replace")
    return text


def test_mosaic_partners_never_read_an_annotation_file_outside_the_root(server):
    """Item 1: asked for directly the leaky item is refused; as a mosaic partner its labels never appear."""
    direct = server.post("/v1/augment", {"spec": FLIP, "items": [{"dataset": "d/voc",
                                                                  "name": f"images/{STEMS[-1]}.jpg"}]})
    assert direct.status in (403, 422) and SECRET not in direct.body.decode()
    for stem in STEMS[:-1]:
        reply = server.post("/v1/augment", {"spec": MOSAIC, "copies": 4,
                                            "items": [{"dataset": "d/voc", "name": f"images/{stem}.jpg"}]})
        assert reply.status in (200, 422), reply.body
        assert SECRET not in _decoded(reply.json())


def test_a_run_job_copies_nothing_from_outside_the_root_into_its_outputs(server):
    """Item 2: the leaky annotation is an error of its item, never an output; a data.yaml leaving the root
    refuses the dataset (before: copied byte for byte to output/data.yaml)."""
    job = server.post("/v1/jobs", {"kind": "run", "dataset": "d/voc", "spec": FLIP, "options": {"copies": 2}})
    assert job.status == 201, job.body
    done = server.wait_job(job.json()["id"])
    assert done["status"] == "complete", done
    folder = server.jobs / job.json()["id"]
    assert SECRET not in _all_text(folder / "output")
    errors = [json.loads(line) for line in (folder / "output" / "errors.jsonl").read_text().splitlines()]
    assert any(e.get("source") == f"images/{STEMS[-1]}.jpg" and "outside" in e["error"] for e in errors), errors
    copy = server.get(f"/v1/jobs/{job.json()['id']}/files/output/annotations/{STEMS[-1]}_aug0.xml")
    assert copy.status == 404 and SECRET not in copy.body.decode()

    refused = server.post("/v1/jobs", {"kind": "run", "dataset": "d/yolo", "spec": FLIP, "options": {"copies": 1}})
    assert refused.status == 403, refused.body
    assert "data.yaml" in refused.json()["error"] and "outside" in refused.json()["error"]
    assert not list(server.jobs.rglob("data.yaml"))


def test_the_cli_refuses_a_data_yaml_and_annotations_leaving_input(tmp_path):
    src = _leaky_yolo(tmp_path / "yolo", tmp_path / "outside")
    out = tmp_path / "out"
    proc = _cli("run", REPO / "pipelines" / "detection.yaml", src, out, "--copies", "1", check=False)
    assert proc.returncode != 0 and "data.yaml" in proc.stderr and "outside INPUT" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (out / "data.yaml").exists()

    voc = _leaky_voc(tmp_path / "voc", tmp_path / "outside-voc")
    out = tmp_path / "out-voc"
    _cli("run", REPO / "pipelines" / "detection.yaml", voc, out, "--copies", "1", "--engine", "serial", "-q")
    assert SECRET not in _all_text(out)
    errors = (out / "errors.jsonl").read_text()
    assert f"{STEMS[-1]}.xml" in errors and "outside INPUT" in errors


def test_coco_confinement_compares_path_components_not_string_prefixes(tmp_path, server):
    """Item 3: INPUT /x/cc; a COCO image symlinked into /x/cc2/ (a sibling whose name starts with 'cc') is
    outside INPUT (before: realpath.startswith(root) accepted it; the run wrote it, the service offered it as an
    item and a mosaic partner)."""
    cc = _coco_with_sibling_link(tmp_path)
    out = tmp_path / "out"
    _cli("run", REPO / "pipelines" / "detection.yaml", cc, out, "--copies", "1", "--engine", "serial", "-q")
    written = {json.loads(line)["source"] for line in (out / "manifest.jsonl").read_text().splitlines()}
    assert written == {f"images/{STEMS[0]}.jpg", f"images/{STEMS[2]}.jpg"}
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert any(e["source"] == f"images/{STEMS[1]}.jpg" and "outside INPUT" in e["error"] for e in errors), errors

    samples = server.get("/v1/datasets/samples?dataset=d/cc").json()
    assert [i["name"] for i in samples["items"]] == [f"images/{STEMS[0]}.jpg", f"images/{STEMS[2]}.jpg"]
    direct = server.post("/v1/augment", {"spec": FLIP, "items": [{"dataset": "d/cc", "name": f"images/{STEMS[1]}.jpg"}]})
    assert direct.status == 403, direct.body


def _parquet(folder: Path, paths: list[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"image": [{"bytes": None, "path": p} for p in paths], "label": list(range(len(paths)))})
    pq.write_table(table, folder / "train.parquet")
    return folder / "train.parquet"


def test_parquet_images_stored_as_paths_are_read_inside_input_only(tmp_path):
    """Item 4: a path-only image is resolved against the Parquet file's folder (not the current directory) and
    read only inside INPUT: an absolute path or a '..' out of it is a per-row error, never read."""
    pytest.importorskip("datasets")
    image = RACCOON / "train" / "images" / f"{STEMS[0]}.jpg"
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(image, src / "inside.jpg")
    outside = tmp_path / "outside.jpg"
    shutil.copy(image, outside)
    (src / "link.jpg").symlink_to(outside)
    parquet = _parquet(src, ["inside.jpg", str(outside), "../outside.jpg", "link.jpg"])
    out = tmp_path / "out"
    summary = json.loads(_cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", parquet, out, "--copies", "1").stdout)
    assert summary["written"] == 1 and summary["errors"] == 3, summary
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert sorted(e["row"] for e in errors) == [1, 2, 3]
    assert all("outside" in e["error"] or "leaves its folder" in e["error"] for e in errors), errors


def test_parquet_path_images_in_a_service_run_job_stay_inside_the_root(tmp_path):
    pytest.importorskip("datasets")
    root = tmp_path / "root"
    outside = tmp_path / "secret.jpg"
    shutil.copy(RACCOON / "train" / "images" / f"{STEMS[0]}.jpg", outside)
    _parquet(root / "pq", [str(outside)])
    jobs = tmp_path / "jobs"
    srv = Server("--data-root", f"d={root}", "--jobs-root", str(jobs))
    try:
        job = srv.post("/v1/jobs", {"kind": "run", "dataset": "d/pq", "spec": FLIP,
                                    "options": {"copies": 1}})
        assert job.status == 201, job.body
        done = srv.wait_job(job.json()["id"])
        assert done["counts"]["done"] == 0, done
        errors = (jobs / done["id"] / "output" / "errors.jsonl").read_text()
        assert "outside" in errors
        import pyarrow.parquet as pq

        assert all(pq.read_table(p).num_rows == 0 for p in (jobs / done["id"] / "output").rglob("*.parquet"))
    finally:
        srv.stop()


def test_replay_on_disk_check_never_opens_a_file_outside_output(tmp_path):
    """Item 14: an output replaced by a symlink to a file outside OUTPUT (same bytes) is not opened: on_disk is
    'outside OUTPUT' and the replay exits 4 (before: the outside file was read and reported 'identical')."""
    src = tmp_path / "in" / "cls"
    src.mkdir(parents=True)
    shutil.copy(RACCOON / "train" / "images" / f"{STEMS[0]}.jpg", src / "a.jpg")
    out = tmp_path / "out"
    _cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", tmp_path / "in", out, "--copies", "1", "-q")
    rec = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    target = out / rec["output"]
    copy = tmp_path / "elsewhere.jpg"
    shutil.copy(target, copy)
    target.unlink()
    target.symlink_to(copy)
    proc = _cli("replay", out, rec["output"], check=False)
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stdout)["on_disk"] == "outside OUTPUT"
    assert "outside OUTPUT" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
