"""`augment run` under bad input (issue 20, items 12-14): a non-UTF-8 file name, a --text-column that is no text,
keypoint_names of the wrong length, a None image in a Hugging Face dataset."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from annotation_fixtures import RACCOON
from cli_helpers import REPO, cli, flip_spec


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses file names that are not UTF-8")
def test_a_non_utf8_file_name_is_recorded_losslessly_resumed_and_replayed(tmp_path):
    src = tmp_path / "in" / "cat"
    src.mkdir(parents=True)
    odd = os.fsdecode(b"b\xff.jpg")  # the name as Python reads it from disk (surrogateescape)
    for name, stem in (("a.jpg", "raccoon-1"), (odd, "raccoon-10"), ("c.jpg", "raccoon-100")):
        shutil.copy(RACCOON / "train" / "images" / f"{stem}.jpg", src / name)
    out = tmp_path / "out"
    r = cli("run", flip_spec(tmp_path), src.parent, out, "--workers", "1", "-q", "--include-originals")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 6
    recs = _manifest(out)
    assert len(recs) == 6  # every output recorded (before: the run crashed writing the manifest, 1 of 7 recorded)
    odd_recs = [rec for rec in recs if rec["source"] == f"cat/{odd}"]
    assert len(odd_recs) == 2
    for rec in odd_recs:  # the name's bytes, for readers that refuse lone surrogates
        assert base64.b64decode(rec["source_bytes_b64"]) == b"cat/b\xff.jpg"
        assert (out / os.fsdecode(base64.b64decode(rec["output_bytes_b64"]))).is_file()
    again = cli("run", flip_spec(tmp_path), src.parent, out, "--workers", "1", "-q", "--include-originals")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["written"] == 0 and summary["resumed_skipped"] == 6 and summary["outputs_in_manifest"] == 6
    copy = os.fsdecode(b"cat/b\xff__aug0.jpg")
    replayed = cli("replay", out, copy)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["identical"] is True


def test_text_column_that_is_not_text_is_one_line_before_anything_runs(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["a b c", "d e f"], "label": [0, 1]}).save_to_disk(str(src))
    r = cli("run", REPO / "pipelines" / "char_noise.yaml", src, tmp_path / "out", "--text-column", "label")
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "'label'" in r.stderr and "int64" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    run_json = tmp_path / "out" / "run.json"
    assert not run_json.exists() or json.loads(run_json.read_text())["status"] != "failed"


def test_none_image_in_a_hugging_face_dataset_is_a_per_row_error(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    files = [str(RACCOON / "train" / "images" / f"{s}.jpg") for s in ("raccoon-1", "raccoon-10")]
    ds = datasets.Dataset.from_dict({"image": [files[0], None, files[1]], "label": [0, 1, 2]}).cast_column(
        "image", datasets.Image())
    src = tmp_path / "ds"
    ds.save_to_disk(str(src))
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--engine", "serial", "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 1 and summary["written"] == 2, summary
    back = datasets.load_from_disk(str(tmp_path / "out"))
    assert len(back) == 2 and all(isinstance(row["image"], Image.Image) for row in back)
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 1 and "None" in json.dumps(errors[0])


def test_keypoint_names_of_the_wrong_length_are_refused(tmp_path):
    import augment

    pipe = augment.load_pipeline(flip_spec(tmp_path))
    image = np.zeros((20, 30, 3), np.uint8)
    kps = np.array([[[2.0, 3.0, 2], [5.0, 6.0, 2]]])
    with pytest.raises(ValueError, match="keypoint_names: 3 names for 2 keypoints"):
        pipe(image, seed=0, boxes=np.array([[1.0, 1.0, 10.0, 10.0]]), labels=["a"], keypoints=kps,
             keypoint_names=["l", "r", "extra"])
    out = pipe(image, seed=0, boxes=np.array([[1.0, 1.0, 10.0, 10.0]]), labels=["a"], keypoints=kps,
               keypoint_names=["l", "r"])
    assert len(out["keypoints"]) == 1


def test_coco_category_naming_too_many_keypoints_is_a_per_item_error(tmp_path):
    from layout_fixtures import cvat_coco

    src = cvat_coco(tmp_path / "in")
    path = src / "annotations" / "instances_default.json"
    doc = json.loads(path.read_text())
    doc["categories"][0]["keypoints"] = ["top_left", "bottom_right", "tail"]  # annotations carry 2
    path.write_text(json.dumps(doc))
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 3, r.stderr  # every item failed: nothing usable came out
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert len(errors) == 3 and all("keypoint_names: 3 names for 2 keypoints" in e["error"] for e in errors)
