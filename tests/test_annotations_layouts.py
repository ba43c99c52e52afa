"""Annotated datasets as labelling tools lay them out (LabelImg, the VOC devkit, CVAT, Label Studio, Roboflow's VOC,
YOLO and COCO exports with splits, Ultralytics, Darknet) are found by what their files hold, and every box,
polygon and keypoint reaches the output in the same layout; class folders holding annotation files are refused
instead of silently losing them; ``--dry-run`` reports the layout and writes nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from layout_fixtures import LAYOUTS, STEMS, count_objects
from annotation_fixtures import RACCOON
from cli_helpers import cli, flip_spec


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_is_detected_with_every_object(tmp_path, name):
    from augment.io.annotations import describe_layout

    build, fmt = LAYOUTS[name]
    src = build(tmp_path / "in")
    before = count_objects(src, fmt)
    assert before and sum(v["boxes"] for v in before.values()) > 0
    report = describe_layout(src)
    assert report.format == fmt and report.error is None, report
    assert report.images == report.annotated_images and report.unannotated_images == 0
    assert report.objects == sum(v["boxes"] for v in before.values())
    assert report.problems == []


# One run per group of layouts laid side by side in INPUT (pairing is by content and nearness, so they do not mix;
# a run costs a process start, and one per layout made this the slowest file of the suite). CVAT's COCO resolves
# its images against INPUT's images/, so it runs alone.
RUN_GROUPS = [[n for n in sorted(LAYOUTS) if LAYOUTS[n][1] == "voc"],
              [n for n in sorted(LAYOUTS) if LAYOUTS[n][1] == "yolo"],
              ["label_studio_coco", "roboflow_coco"], ["cvat_coco"]]


def test_run_groups_cover_every_layout():
    assert sorted(n for group in RUN_GROUPS for n in group) == sorted(LAYOUTS)


@pytest.mark.parametrize("group", RUN_GROUPS, ids=lambda g: "+".join(g))
def test_layout_expands_with_every_object_in_the_same_layout(tmp_path, group):
    fmt = LAYOUTS[group[0]][1]
    src = tmp_path / "in"
    if len(group) == 1:
        LAYOUTS[group[0]][0](src)
        subs = {group[0]: src}
    else:
        subs = {name: LAYOUTS[name][0](src / name) for name in group}
    before = {name: count_objects(path, fmt) for name, path in subs.items()}
    assert all(before.values())
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    n_images = sum(1 for _ in src.rglob("*.jpg"))
    assert summary["errors"] == 0 and summary["items"] == n_images, summary
    for name, path in subs.items():
        out = tmp_path / "out" / path.relative_to(src)
        assert count_objects(out, fmt) == before[name], name  # same files, same places, every object carried
        inputs = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.jpg"))
        outputs = sorted(p.relative_to(out).as_posix().replace("__aug0", "") for p in out.rglob("*.jpg"))
        assert outputs == inputs, name


def test_image_without_annotation_is_written_with_an_empty_one(tmp_path):
    build, _ = LAYOUTS["darknet_flat"]
    src = build(tmp_path / "in")
    shutil.copy(RACCOON / "train" / "images" / f"{STEMS[4]}.jpg", src)  # no label file
    (src / "LICENSE").write_text("MIT\n")
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q", "--include-originals")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 0 and summary["items"] == 4 and summary["skipped_non_data"] == 1
    assert "written with an empty one" in r.stderr
    for name in (f"{STEMS[4]}.txt", f"{STEMS[4]}__aug0.txt"):
        assert (tmp_path / "out" / name).read_text() == ""
    recs = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert all(r["repairs"] == {"no_label_file_background": 1} for r in recs if r["source"] == f"{STEMS[4]}.jpg")


def test_class_folders_with_annotation_files_are_refused(tmp_path):
    src = tmp_path / "in"
    (src / "raccoon").mkdir(parents=True)
    for stem in STEMS[:2]:
        shutil.copy(RACCOON / "train" / "images" / f"{stem}.jpg", src / "raccoon")
    tasks = [{"id": 1, "data": {"image": "/data/upload/1/raccoon-1.jpg"},
              "annotations": [{"result": [{"type": "rectanglelabels", "value": {"x": 1, "y": 2, "width": 3,
                                                                                  "height": 4}}]}]}]
    (src / "raccoon" / "project-1.json").write_text(json.dumps(tasks))  # a Label Studio JSON export
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 6, r.stderr
    assert r.stderr.count("\n") == 1 and "raccoon/project-1.json" in r.stderr
    assert "--format classification" in r.stderr
    assert not (tmp_path / "out").exists()
    dry = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--dry-run")
    assert dry.returncode == 6 and json.loads(dry.stdout)["annotations_found"] is True
    forced = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q", "--format", "classification")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["written"] == 2


def test_format_classification_reads_sidecar_voc_as_class_folders(tmp_path):
    build, _ = LAYOUTS["labelimg"]
    src = build(tmp_path / "in" / "raccoon")
    r = cli("run", flip_spec(tmp_path), src.parent, tmp_path / "out", "--workers", "1", "-q", "--format", "classification")
    assert r.returncode == 0, r.stderr
    assert not list((tmp_path / "out").rglob("*.xml")) and len(list((tmp_path / "out").rglob("*.jpg"))) == 3


def test_dry_run_prints_the_layout_and_writes_nothing(tmp_path):
    build, _ = LAYOUTS["roboflow_voc"]
    src = build(tmp_path / "in")
    (src / "train" / f"{STEMS[0]}.xml").unlink()  # one image without its XML
    (src / "notes.csv").write_text("a,b\n")
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--dry-run")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["format"] == "voc" and report["images"] == 4 and report["annotated_images"] == 3
    assert report["unannotated_images"] == 1 and report["objects_per_class"] == {"raccoon": report["objects"]}
    ignored = {i["path"]: i["why"] for i in report["ignored"]}
    assert set(ignored) == {"README.dataset.txt", "README.roboflow.txt"}
    assert [p["path"] for p in report["problems"]] == ["notes.csv"]
    assert not (tmp_path / "out").exists()


def test_license_in_class_folders_is_skipped_not_an_error(tmp_path):
    src = tmp_path / "in" / "raccoon"
    src.mkdir(parents=True)
    for stem in STEMS[:2]:
        shutil.copy(RACCOON / "train" / "images" / f"{stem}.jpg", src)
    for name in ("LICENSE", "README.md", "COPYING", "notes.txt"):
        (src.parent / name).write_text("text\n")
    (src / "data.bin").write_bytes(b"\0")
    r = cli("run", flip_spec(tmp_path), src.parent, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 1 and summary["skipped_non_data"] == 4  # data.bin is still an error
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["counts"]["skipped_non_data"] == 4


def test_service_dataset_view_carries_the_layout(tmp_path):
    from serve_support import Server

    data = tmp_path / "data"
    LAYOUTS["labelimg"][0](data / "flat_voc")
    LAYOUTS["roboflow_coco"][0](data / "rf_coco")
    srv = Server("--data-root", f"d={data}", "--jobs-root", str(tmp_path / "jobs"))
    try:
        listing = {d["dataset"]: d for d in srv.get("/v1/datasets").json()["datasets"]}
    finally:
        assert srv.stop() == 0
    flat, coco = listing["d/flat_voc"], listing["d/rf_coco"]
    assert flat["annotations"] == "voc" and flat["layout"]["annotated_images"] == 3
    assert flat["layout"]["objects_per_class"] == {"raccoon": 3}
    assert coco["annotations"] == "coco" and coco["layout"]["images"] == 4
    assert coco["layout"]["ignored"] == [{"path": "README.roboflow.txt", "why": "documentation or licence file, not data"}]


def test_sidecar_labels_with_a_bad_row_are_an_item_error_not_lost(tmp_path):
    from augment.io.annotations import describe_layout

    build, _ = LAYOUTS["darknet_flat"]
    src = build(tmp_path / "in")
    label = src / f"{STEMS[0]}.txt"
    label.write_text(label.read_text() + "raccoon here\n")  # one row that is not YOLO
    (src / f"{STEMS[1]}.txt").write_text("")  # an empty label file: a background image
    report = describe_layout(src)
    assert report.format == "yolo" and report.images == 3 and report.annotated_images == 3
    captions = tmp_path / "captions" / "cat"  # text beside images with no YOLO row: captions, class folders
    captions.mkdir(parents=True)
    shutil.copy(RACCOON / "train" / "images" / f"{STEMS[0]}.jpg", captions)
    (captions / f"{STEMS[0]}.txt").write_text("a raccoon in the grass\n")
    assert describe_layout(captions.parent).format == "classification"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_voc_entities_are_refused_wherever_they_are(encoding):
    from augment.io.annotations import AnnotationError, Layout, voc

    doc = ('<?xml version="1.0" encoding="%s"?><!--' % encoding + "x" * 5000 + '--><!DOCTYPE annotation '
           '[<!ENTITY e "secret">]><annotation><filename>&e;</filename></annotation>')
    with pytest.raises(AnnotationError, match="DOCTYPE or entities"):
        voc.read(doc.encode(encoding), Layout("voc", ""), (10, 10), "x.xml")


def test_annotation_symlink_leaving_input_is_an_item_error_not_class_folders(tmp_path):
    build, _ = LAYOUTS["labelimg"]
    src = build(tmp_path / "in")
    outside = tmp_path / "outside.xml"
    (src / f"{STEMS[0]}.xml").rename(outside)
    (src / f"{STEMS[0]}.xml").symlink_to(outside)
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["items"] == 3 and summary["written"] == 2
    errors = (tmp_path / "out" / "errors.jsonl").read_text()
    assert "outside" in errors and not (tmp_path / "out" / f"{STEMS[0]}__aug0.jpg").exists()
