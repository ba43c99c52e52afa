"""Background images (no objects) are kept the same way in the three box formats: a COCO image beside the listed
ones but not in the JSON, a YOLO image without a label file and a VOC image without an XML are each augmented,
written with an empty annotation (listed in the output COCO JSON with no annotations) and counted; never dropped."""

from __future__ import annotations

import json
import shutil

import pytest

from annotation_fixtures import RACCOON
from cli_helpers import cli, flip_spec
from layout_fixtures import LAYOUTS, STEMS

EXTRA = STEMS[5]  # an image no annotation names


def _with_background(tmp_path, layout: str, folder: str):
    build, fmt = LAYOUTS[layout]
    src = build(tmp_path / "in")
    shutil.copy(RACCOON / "train" / "images" / f"{EXTRA}.jpg", src / folder)
    return src, fmt


@pytest.mark.parametrize("layout, folder", [("roboflow_coco", "valid"), ("cvat_coco", "images"),
                                            ("label_studio_coco", "images"), ("darknet_flat", ""),
                                            ("ultralytics", "images/train"), ("labelimg", ""),
                                            ("voc_devkit", "JPEGImages")])
def test_background_image_is_an_item_with_an_empty_annotation_in_every_format(tmp_path, layout, folder):
    from augment.io.annotations import describe_layout

    src, fmt = _with_background(tmp_path, layout, folder)
    before = describe_layout(src)
    (src / folder / f"{EXTRA}.jpg").unlink()
    without = describe_layout(src)
    assert before.format == fmt and before.error is None and before.problems == [], before
    assert before.images == without.images + 1 and before.unannotated_images == without.unannotated_images + 1
    assert before.objects == without.objects and not [i for i in before.ignored if EXTRA in i["path"]]


@pytest.mark.parametrize("layout, folder", [("roboflow_coco", "valid"), ("labelimg", "")])
def test_background_image_reaches_the_output_listed_and_counted(tmp_path, layout, folder):
    src, fmt = _with_background(tmp_path, layout, folder)
    out = tmp_path / "out"
    r = cli("run", flip_spec(tmp_path), src, out, "--workers", "1", "-q", "--include-originals")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 0 and EXTRA in r.stderr, r.stderr
    name = f"{folder}/{EXTRA}" if folder else EXTRA
    assert (out / f"{name}.jpg").is_file() and (out / f"{name}__aug0.jpg").is_file()
    recs = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    repairs = [r["repairs"] for r in recs if r["source"] == f"{name}.jpg"]
    if fmt == "coco":
        assert repairs == [{"not_in_coco_json_background": 1}] * 2
        doc = json.loads((out / folder / "_annotations.coco.json").read_text())
        listed = {im["file_name"]: im["id"] for im in doc["images"]}
        assert {f"{EXTRA}.jpg", f"{EXTRA}__aug0.jpg"} <= set(listed)  # named as the file's other images are
        assert not [a for a in doc["annotations"] if a["image_id"] in (listed[f"{EXTRA}.jpg"],
                                                                           listed[f"{EXTRA}__aug0.jpg"])]
        train = json.loads((out / "train" / "_annotations.coco.json").read_text())
        assert EXTRA not in json.dumps(train["images"])  # in the split whose folder it is in, once
    else:
        assert repairs and all(r for r in repairs)
        assert (out / f"{name}.xml").is_file() and (out / f"{name}__aug0.xml").is_file()
