"""Annotated images through `/v1/augment` over real HTTP: an image of a VOC / YOLO / COCO / mask dataset gives the
image and annotation bytes a real `augment run` writes for it; uploaded images carry boxes, keypoints and masks
in the library's JSON shape and get them back moved by the same drawn values; bad annotations are one-line errors."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation_fixtures import MAKERS, RACCOON
from serve_support import REPO, Server

pytestmark = pytest.mark.skipif(not RACCOON.is_dir(), reason=f"raccoon dataset not present at {RACCOON}")

SPEC = {"name": "det", "modality": "image", "seed": 3,
        "steps": [{"op": "horizontal_flip", "p": 0.5},
                  {"op": "affine", "p": 0.8, "params": {"degrees": [-15, 15], "scale": [0.8, 1.1]}},
                  {"op": "brightness_contrast", "p": 0.5}]}
FLIP = {"name": "flip", "modality": "image", "seed": 0, "steps": [{"op": "horizontal_flip", "p": 1.0}]}
STEMS = ["raccoon-1", "raccoon-10", "raccoon-100"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serve-ann") / "data"
    for fmt, make in MAKERS.items():
        make(root / fmt, STEMS)
    outside = root.parent / "outside"
    outside.mkdir()
    # datasets whose annotation files are symlinks leaving the data root
    MAKERS["voc"](root / "leaky_voc", STEMS[:1])
    xml = root / "leaky_voc" / "annotations" / f"{STEMS[0]}.xml"
    xml.rename(outside / "secret.xml")
    xml.symlink_to(outside / "secret.xml")
    MAKERS["coco"](root / "leaky_coco", STEMS[:1])
    (root / "leaky_coco" / "annotations.json").rename(outside / "secret.json")
    (root / "leaky_coco" / "annotations.json").symlink_to(outside / "secret.json")
    return root


@pytest.fixture(scope="module")
def server(data, tmp_path_factory):
    srv = Server("--data-root", f"d={data}", "--jobs-root", str(tmp_path_factory.mktemp("jobs")))
    yield srv
    assert srv.stop() == 0


def _run(spec_path: Path, src: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec_path), str(src), str(out),
                           "--copies", "2", "--engine", "serial", "-q"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {json.loads(line)["output"]: json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()}


def _png(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode="L").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _unpng(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


@pytest.mark.parametrize("fmt", ["voc", "yolo", "coco", "masks"])
def test_a_dataset_image_gives_the_bytes_augment_run_writes(server, data, tmp_path, fmt):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(SPEC))
    written = _run(spec_path, data / fmt, tmp_path / "out")
    listing = server.get("/v1/datasets").json()["datasets"]
    assert {"dataset": f"d/{fmt}", "modality": "image", "annotations": fmt} in [
        {k: d[k] for k in ("dataset", "modality", "annotations") if k in d} for d in listing]  # and its "layout"
    samples = server.get(f"/v1/datasets/samples?dataset=d/{fmt}&n=8").json()
    assert samples["annotations"] == fmt and samples["total"] == len(STEMS)
    names = [s["name"] for s in samples["items"]]
    assert all("annotations" in s and s["width"] > 0 for s in samples["items"])
    body = {"spec": SPEC, "copies": 2, "items": [{"dataset": f"d/{fmt}", "name": n} for n in names]}
    reply = server.post("/v1/augment", body)
    assert reply.status == 200, reply.body
    doc = reply.json()
    assert server.post("/v1/augment", body).json() == doc  # deterministic for the seed
    checked = 0
    for item, sample in zip(doc["items"], samples["items"]):
        assert item["source"]["annotations"] == sample["annotations"]
        for out in item["outputs"]:
            stem, ext = item["name"].rsplit(".", 1)
            rec = written[f"{stem}__aug{out['copy']}.{ext}"]
            assert base64.b64decode(out["image"]) == (tmp_path / "out" / rec["output"]).read_bytes()
            assert (out["sha256"], out["seed"], out["ops"], out["objects"]) == \
                (rec["sha256"], rec["seed"], rec["ops"], rec["objects"])
            ann = out["annotation_file"]
            if fmt == "coco":
                assert ann["coco"] == rec["coco"]
            else:
                assert ann["path"] == rec["annotation"] and ann["sha256"] == rec["annotation_sha256"]
                assert base64.b64decode(ann["data"]) == (tmp_path / "out" / rec["annotation"]).read_bytes()
            if fmt == "voc":  # the returned boxes are the ones in the XML the run wrote (VOC: 1-based pixels)
                xml = ET.fromstring((tmp_path / "out" / rec["annotation"]).read_bytes())
                boxes = [[float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
                         for o in xml.findall("object")]
                assert np.allclose([[b[0] - 1, b[1] - 1, b[2], b[3]] for b in boxes],
                                   out["annotations"]["boxes"], atol=1.0)
            checked += 1
    assert checked == 2 * len(STEMS)


def test_uploaded_annotations_move_with_the_image(server, data):
    image = data / "voc" / "images" / "raccoon-1.jpg"
    w, h = Image.open(image).size
    xml = ET.parse(data / "voc" / "annotations" / "raccoon-1.xml").getroot()
    boxes = [[float(o.findtext(f"bndbox/{k}")) - (1 if k in ("xmin", "ymin") else 0)
              for k in ("xmin", "ymin", "xmax", "ymax")] for o in xml.findall("object")]
    labels = [o.findtext("name") for o in xml.findall("object")]
    keypoints = [[[b[0] + 2.5, b[1] + 2.5, 2], [b[2] - 2.5, b[3] - 2.5, 1]] for b in boxes]
    semantic = np.zeros((h, w), np.uint8)
    for b in boxes:
        semantic[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = 1
    upload = {"image": base64.b64encode(image.read_bytes()).decode(), "name": "images/raccoon-1.jpg",
              "annotations": {"boxes": boxes, "labels": labels, "keypoints": keypoints, "masks": _png(semantic)}}
    reply = server.post("/v1/augment", {"spec": FLIP, "copies": 1, "items": [upload]})
    assert reply.status == 200, reply.body
    out = reply.json()["items"][0]["outputs"][0]
    moved = out["annotations"]
    assert moved["labels"] == labels
    assert np.allclose(moved["boxes"], [[w - b[2], b[1], w - b[0], b[3]] for b in boxes])
    assert np.allclose(moved["keypoints"], [[[w - x, y, v] for x, y, v in obj] for obj in keypoints])
    assert np.array_equal(_unpng(moved["masks"]), semantic[:, ::-1])
    assert out["ops"][0]["op"] == "horizontal_flip" and out["objects"]["objects_in"] == len(boxes)
    # the curl form: -F image=@photo.jpg -F name=... -F annotations=@boxes.json
    boundary = "b0undary"
    parts = [("spec", None, json.dumps(FLIP).encode()), ("image", "raccoon-1.jpg", image.read_bytes()),
             ("name", None, b"images/raccoon-1.jpg"),
             ("annotations", "boxes.json", json.dumps({"boxes": boxes, "labels": labels}).encode())]
    form = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"".encode()
                    + (f'; filename="{f}"'.encode() if f else b"") + b"\r\n\r\n" + v + b"\r\n" for k, f, v in parts)
    multi = server.post("/v1/augment", form + f"--{boundary}--\r\n".encode(),
                        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert multi.status == 200, multi.body
    assert multi.json()["items"][0]["outputs"][0]["annotations"]["boxes"] == moved["boxes"]
    assert multi.json()["items"][0]["outputs"][0]["sha256"] == out["sha256"]
    # the same image from the VOC dataset, under the same name: the same bytes and the same boxes
    ref = server.post("/v1/augment", {"spec": FLIP, "copies": 1,
                                      "items": [{"dataset": "d/voc", "name": "images/raccoon-1.jpg"}]}).json()
    assert ref["items"][0]["outputs"][0]["sha256"] == out["sha256"]
    assert np.allclose(ref["items"][0]["outputs"][0]["annotations"]["boxes"], moved["boxes"])
    # instance masks: one PNG per object, boxes taken from them when none are given
    inst = [np.zeros((h, w), np.uint8) for _ in boxes]
    for m, b in zip(inst, boxes):
        m[int(b[1]):int(b[3]), int(b[0]):int(b[2])] = 255
    upload["annotations"] = {"labels": labels, "masks": [_png(m) for m in inst]}
    got = server.post("/v1/augment", {"spec": FLIP, "copies": 1, "items": [upload]}).json()["items"][0]
    flipped = got["outputs"][0]["annotations"]
    assert [(_unpng(m) > 0).tolist() == (i[:, ::-1] > 0).tolist() for m, i in zip(flipped["masks"], inst)] == \
        [True] * len(inst)
    assert np.allclose(flipped["boxes"], [[w - b[2], b[1], w - b[0], b[3]] for b in boxes])


@pytest.mark.parametrize("annotations, words", [
    ({"boxes": [[1, 2, 3]]}, "items[0].annotations.boxes[0]: expected [x_min, y_min, x_max, y_max]"),
    ({"boxes": [[5, 5, 2, 9]]}, "zero or negative area"),
    ({"boxes": [[1, 2, 3, 4]], "labels": ["a", "b"]}, "differ in length"),
    ({"boxes": "x"}, "items[0].annotations.boxes"),
    ({"box": []}, "unknown key 'box'"),
    ({"masks": "bm90IGEgcG5n"}, "items[0].annotations.masks: not a base64 PNG"),
    ({"masks": _png(np.zeros((4, 4)))}, "mask is 4x4"),
    ({"boxes": [[1, 2, 3, 4]], "keypoints": [[1, 2]]}, "items[0].annotations.keypoints"),
    ({"boxes": [[1, 2, 3, 4]], "labels": [True]}, "items[0].annotations.labels"),
    ({"boxes": [[1, 2, float("nan"), 4]]}, "finite"),
    ([1, 2], "items[0].annotations: an object"),
])
def test_bad_annotations_are_one_line_errors(server, data, annotations, words):
    image = base64.b64encode((data / "voc" / "images" / "raccoon-1.jpg").read_bytes()).decode()
    body = json.dumps({"spec": FLIP, "items": [{"image": image, "annotations": annotations}]}).replace("NaN", "1e999")
    reply = server.post("/v1/augment", body, headers={"Content-Type": "application/json"})
    assert reply.status == 422, reply.body
    assert reply.body.count(b"\n") <= 1 and words in reply.json()["error"], reply.json()["error"]


def test_parallel_annotated_requests_give_the_sequential_results(server):
    from concurrent.futures import ThreadPoolExecutor

    bodies = [{"spec": SPEC, "seed": i, "copies": 2, "items": [{"dataset": f"d/{fmt}", "name": f"images/{stem}.jpg"}]}
              for i, (fmt, stem) in enumerate([(f, s) for f in ("voc", "masks") for s in STEMS] * 2)]

    def result(body):
        reply = server.post("/v1/augment", body)
        assert reply.status == 200, reply.body
        return [(o["sha256"], o["annotations"], o["annotation_file"]["sha256"]) for o in reply.json()["items"][0]["outputs"]]

    sequential = [result(b) for b in bodies]
    with ThreadPoolExecutor(len(bodies)) as pool:
        assert list(pool.map(result, bodies)) == sequential


def test_presets_and_text_items_are_refused_with_annotations(server):
    preset = {"name": "p", "modality": "image", "steps": [{"op": "augmix"}]}  # blends warped copies
    reply = server.post("/v1/augment", {"spec": preset, "items": [{"dataset": "d/voc", "name": "images/raccoon-1.jpg"}]})
    assert reply.status == 422 and "cannot move annotations" in reply.json()["error"]
    text = {"name": "t", "modality": "text", "steps": [{"op": "random_swap"}]}
    reply = server.post("/v1/augment", {"spec": text, "items": [{"text": "a b c", "annotations": {}}]})
    assert reply.status == 422
    outside = server.post("/v1/augment", {"spec": FLIP, "items": [{"dataset": "d/voc", "name": "annotations/raccoon-1.xml"}]})
    assert outside.status in (400, 422)


def test_annotation_files_leaving_the_data_root_are_refused(server, data):
    name = f"images/{STEMS[0]}.jpg"
    for dataset in ("d/leaky_voc", "d/leaky_coco"):
        reply = server.post("/v1/augment", {"spec": FLIP, "items": [{"dataset": dataset, "name": name}]})
        assert reply.status == 403, reply.body
        assert "outside its dataset" in reply.json()["error"] and str(data) not in reply.json()["error"]
    assert server.get("/v1/datasets/samples?dataset=d/leaky_coco").status == 403
    sample = server.get("/v1/datasets/samples?dataset=d/leaky_voc").json()["items"][0]
    assert "outside its dataset" in sample["error"] and "annotations" not in sample
    listed = [d["dataset"] for d in server.get("/v1/datasets").json()["datasets"]]
    assert "d/leaky_coco" not in listed and "d/voc" in listed
