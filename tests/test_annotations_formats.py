"""All four annotation formats through the real ``augment run`` CLI: layouts kept, annotations moved and valid,
byte-identical with 1 and 2 workers, resumable, replayable; malformed annotations are per-item errors."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation_fixtures import MAKERS, RACCOON, make_voc, make_yolo

REPO = Path(__file__).resolve().parents[1]

SPEC = """version: 1
name: det
modality: image
backend: {backend}
seed: 11
copies: 2
steps:
  - op: horizontal_flip
    p: 0.5
  - op: affine
    params: {{degrees: [-15, 15], translate: [-0.1, 0.1], scale: [0.8, 1.1]}}
  - op: random_resized_crop
    params: {{scale: [0.5, 1.0], min_visibility: 0.2}}
  - op: hsv
    p: 0.5
"""

pytestmark = pytest.mark.skipif(not RACCOON.is_dir(), reason="../shared raccoon dataset not present")


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def spec(tmp_path: Path, backend: str = "albumentations", text: str | None = None) -> Path:
    path = tmp_path / f"spec-{backend}.yaml"
    path.write_text(text or SPEC.format(backend=backend))
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "run.json"}


def boxes_of(fmt: str, out: Path, rec: dict) -> tuple[list, tuple[int, int]]:
    """The boxes (continuous pixels) written for one output, and the output image's size."""
    w, h = Image.open(out / rec["output"]).size
    if fmt == "voc":
        root = ET.fromstring((out / rec["annotation"]).read_bytes())
        assert root.findtext("filename") == Path(rec["output"]).name
        assert (root.findtext("size/width"), root.findtext("size/height")) == (str(w), str(h))
        return [[int(o.findtext(f"bndbox/{k}")) - (1 if k in ("xmin", "ymin") else 0)
                 for k in ("xmin", "ymin", "xmax", "ymax")] for o in root.findall("object")], (w, h)
    if fmt == "yolo":
        boxes = []
        for row in (out / rec["annotation"]).read_text().split("\n"):
            if not row:
                continue
            v = [float(x) for x in row.split()[1:]]
            if len(v) == 4:
                boxes.append([(v[0] - v[2] / 2) * w, (v[1] - v[3] / 2) * h, (v[0] + v[2] / 2) * w, (v[1] + v[3] / 2) * h])
            else:
                pts = np.array(v).reshape(-1, 2) * [w, h]
                boxes.append([*pts.min(0), *pts.max(0)])
        return boxes, (w, h)
    if fmt == "coco":
        return [[b[0], b[1], b[0] + b[2], b[1] + b[3]] for b in (a["bbox"] for a in rec["coco"]["annotations"])], (w, h)
    return [], (w, h)


@pytest.mark.parametrize("fmt", ["voc", "yolo", "coco", "masks"])
def test_round_trip_through_the_cli(fmt, tmp_path):
    src = MAKERS[fmt](tmp_path / "in")
    sp = spec(tmp_path)
    r1 = cli("run", sp, src, tmp_path / "out1", "--workers", "1", "--include-originals")
    assert r1.returncode == 0, r1.stderr
    summary = json.loads(r1.stdout)
    assert summary["errors"] == 0 and summary["written"] == 4 * 3
    r2 = cli("run", sp, src, tmp_path / "out2", "--workers", "2", "--include-originals", "--format", fmt)
    assert r2.returncode == 0, r2.stderr
    out = tmp_path / "out1"
    assert tree(out) == tree(tmp_path / "out2")
    run = json.loads((out / "run.json").read_text())
    assert run["annotations"]["format"] == fmt
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    for rec in records:
        if rec["copy"] is None:
            continue
        boxes, (w, h) = boxes_of(fmt, out, rec)
        objects = rec["objects"]
        assert objects["objects_in"] == sum(objects["kept"].values()) + sum(objects["dropped"].values())
        assert len(boxes) == sum(objects["kept"].values())
        for b in boxes:
            tol = 0.01  # YOLO writes 6 decimals of the normalised centre and size
            assert -tol <= b[0] < b[2] <= w + tol and -tol <= b[1] < b[3] <= h + tol, (rec["output"], b, w, h)
    # the layout and the format are kept
    if fmt == "voc":
        assert (out / "annotations" / "raccoon-1__aug0.xml").is_file() and (out / "annotations" / "raccoon-1.xml").is_file()
    if fmt == "yolo":
        assert (out / "data.yaml").read_bytes() == (src / "data.yaml").read_bytes()
        assert (out / "labels" / "val" / "raccoon-101__aug1.txt").is_file()
        polygon_rows = (out / "labels" / "train" / "raccoon-10__aug0.txt").read_text().split()
        assert len(polygon_rows) > 5  # a polygon row stays a polygon row
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        assert [im["id"] for im in doc["images"]] == list(range(1, 13))
        assert {im["source_id"] for im in doc["images"]} == {100, 101, 102, 103}
        assert doc["categories"][0]["keypoints"] == ["top_left", "bottom_right"]
        kinds = {type(a.get("segmentation")).__name__ for a in doc["annotations"]}
        assert kinds == {"dict", "list", "NoneType"}
        assert all(len(a["keypoints"]) == 6 for a in doc["annotations"])
        for im in doc["images"]:
            assert (out / "images" / im["file_name"]).is_file()
    if fmt == "masks":
        for rec in records:
            mask = Image.open(out / "masks" / (Path(rec["output"]).stem + ".png"))
            assert mask.mode == "P" and mask.size == Image.open(out / rec["output"]).size
            assert set(np.unique(np.asarray(mask))) <= {0, 1, 255}
    # replay reproduces image and annotations
    rec = next(r for r in records if r["copy"] == 1)
    rp = cli("replay", out, rec["output"], "--to", tmp_path / "copy.jpg")
    assert rp.returncode == 0 and json.loads(rp.stdout)["identical"], rp.stdout + rp.stderr
    if fmt == "masks":  # the mask has the target's own suffix: it goes beside the image (it was written over it)
        again, mask = tmp_path / "again.png", out / "masks" / (Path(rec["output"]).stem + ".png")
        assert cli("replay", out, rec["output"], "--to", again).returncode == 0
        assert again.read_bytes() == (out / rec["output"]).read_bytes()
        assert (tmp_path / "again.mask.png").read_bytes() == mask.read_bytes()
    # resume: delete two outputs, run again, the same files come back
    before = tree(out)
    (out / records[1]["output"]).unlink()
    (out / records[4]["output"]).unlink()
    r3 = cli("run", sp, src, out, "--workers", "2", "--include-originals")
    assert r3.returncode == 0, r3.stderr
    assert json.loads(r3.stdout)["written"] == 2
    assert tree(out) == before


def test_pixel_only_pipeline_keeps_annotations_exactly(tmp_path):
    src = make_voc(tmp_path / "in")
    sp = spec(tmp_path, text="version: 1\nname: g\nmodality: image\nseed: 1\nsteps:\n  - op: gamma\n")
    assert cli("run", sp, src, tmp_path / "out", "--workers", "1").returncode == 0
    for xml in (src / "annotations").glob("*.xml"):
        a = ET.fromstring(xml.read_bytes())
        b = ET.fromstring((tmp_path / "out" / "annotations" / f"{xml.stem}__aug0.xml").read_bytes())
        boxes = lambda r: [[o.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] for o in r.findall("object")]
        assert boxes(a) == boxes(b)
        assert [o.findtext("difficult") for o in a.findall("object")] == [o.findtext("difficult") for o in b.findall("object")]


def test_torchvision_backend_gives_the_same_annotations(tmp_path):
    src = make_yolo(tmp_path / "in")
    outs = []
    for backend in ("albumentations", "torchvision"):
        out = tmp_path / backend
        assert cli("run", spec(tmp_path, backend), src, out, "--workers", "1").returncode == 0
        outs.append({k: v for k, v in tree(out).items() if k.startswith("labels/")})
    assert outs[0] == outs[1] and len(outs[0]) == 8


def test_malformed_annotations_are_per_item_errors(tmp_path):
    src = make_voc(tmp_path / "in")
    ann = src / "annotations"
    x = (ann / "raccoon-1.xml").read_text()
    (ann / "raccoon-1.xml").write_text(x.replace("<xmax>522</xmax>", "<xmax>70</xmax>"))  # negative width
    x = (ann / "raccoon-10.xml").read_text()
    (ann / "raccoon-10.xml").write_text(x.replace("<annotation", "<annotation><broken>", 1))  # not XML
    (ann / "raccoon-100.xml").unlink()  # image without annotation
    (ann / "orphan.xml").write_text((ann / "raccoon-101.xml").read_text())  # annotation without image
    r = cli("run", spec(tmp_path), src, tmp_path / "out", "--workers", "1")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 3 and summary["written"] == 4  # raccoon-100 (empty annotation) and raccoon-101
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    reasons = {e["source"]: e["error"] for e in errors}
    assert "zero or negative area" in reasons["images/raccoon-1.jpg"]
    assert "not well-formed XML" in reasons["images/raccoon-10.jpg"]
    assert "already has annotations/raccoon-101.xml" in reasons["annotations/orphan.xml"]  # it names raccoon-101.jpg
    # an image without its XML is no error: written with an empty annotation, counted in its record
    recs = {r["source"]: r for r in map(json.loads, (tmp_path / "out" / "manifest.jsonl").read_text().splitlines())}
    assert recs["images/raccoon-100.jpg"]["repairs"] == {"no_annotation_file_written_empty": 1}
    assert (tmp_path / "out" / recs["images/raccoon-100.jpg"]["annotation"]).read_text().count("<object>") == 0
    strict = cli("run", spec(tmp_path), src, tmp_path / "out", "--workers", "1", "--strict")
    assert strict.returncode == 3 and strict.stderr.splitlines()[-1].startswith("error:")  # after the run's notes


def test_yolo_and_coco_malformed_rows(tmp_path):
    src = make_yolo(tmp_path / "y")
    labels = sorted((src / "labels").rglob("*.txt"))
    labels[0].write_text("3 0.5 0.5 0.2 0.2\n")  # class 3 of 1
    labels[1].write_text("0 0.1 0.1 0.2 0.2 0.3\n")  # a polygon row of 2.5 points
    labels[2].write_text("0 0.9 0.9 0.4 0.4\n")  # partly outside: clipped, counted
    r = cli("run", spec(tmp_path), src, tmp_path / "yo", "--workers", "1")
    assert r.returncode == 0, r.stderr
    errors = (tmp_path / "yo" / "errors.jsonl").read_text()
    assert "unknown class 3" in errors and "at least 3 points" in errors
    recs = [json.loads(line) for line in (tmp_path / "yo" / "manifest.jsonl").read_text().splitlines()]
    assert any(r.get("repairs") == {"boxes_clipped_to_image": 1} for r in recs)

    from annotation_fixtures import make_coco

    src = make_coco(tmp_path / "c")
    doc = json.loads((src / "annotations.json").read_text())
    doc["annotations"][0]["category_id"] = 99
    doc["annotations"][1]["image_id"] = 555
    doc["annotations"][2]["segmentation"] = [[1, 2, 3, 4]]
    (src / "annotations.json").write_text(json.dumps(doc))
    r = cli("run", spec(tmp_path), src, tmp_path / "co", "--workers", "1")
    assert r.returncode == 0, r.stderr
    errors = (tmp_path / "co" / "errors.jsonl").read_text()
    assert "unknown category_id 99" in errors and "not in images" in errors and "fewer than 3 points" in errors


def test_forced_format_that_does_not_match_is_a_one_line_error(tmp_path):
    src = make_voc(tmp_path / "in")
    r = cli("run", spec(tmp_path), src, tmp_path / "out", "--format", "coco")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not a coco dataset" in r.stderr


def test_every_engine_writes_the_same_annotated_outputs(tmp_path):
    src = make_voc(tmp_path / "in", stems=["raccoon-1", "raccoon-10"])
    trees = []
    for engine in ("serial", "dask"):
        r = cli("run", spec(tmp_path), src, tmp_path / engine, "--engine", engine, "--workers", "2")
        assert r.returncode == 0, r.stderr
        trees.append(tree(tmp_path / engine))
    assert trees[0] == trees[1] and len(trees[0]) == 10  # 4 images, 4 XML, manifest, error log


def test_overwrite_removes_the_replaced_runs_annotation_files(tmp_path):
    src = make_voc(tmp_path / "in", stems=["raccoon-1"])
    out = tmp_path / "out"
    assert cli("run", spec(tmp_path), src, out, "--workers", "1", "--copies", "3").returncode == 0
    assert (out / "annotations" / "raccoon-1__aug2.xml").is_file()
    r = cli("run", spec(tmp_path), src, out, "--workers", "1", "--copies", "1", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "annotations").iterdir()) == ["raccoon-1__aug0.xml"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["raccoon-1__aug0.jpg"]


def test_coco_file_names_that_include_the_images_folder(tmp_path):
    from annotation_fixtures import make_coco

    src = make_coco(tmp_path / "in", stems=["raccoon-1", "raccoon-10"])
    doc = json.loads((src / "annotations.json").read_text())
    for im in doc["images"]:
        im["file_name"] = "images/" + im["file_name"]
    (src / "annotations.json").write_text(json.dumps(doc))
    r = cli("run", spec(tmp_path), src, tmp_path / "out", "--workers", "1")
    assert r.returncode == 0 and json.loads(r.stdout)["errors"] == 0, r.stdout + r.stderr
    out_doc = json.loads((tmp_path / "out" / "annotations.json").read_text())
    for im in out_doc["images"]:
        assert im["file_name"].startswith("images/") and (tmp_path / "out" / im["file_name"]).is_file()
