"""Detection and pairing share one walk of INPUT (each annotation file probed and a COCO file parsed once, for
both), and the service keeps a dataset's items while none of its folders or layout files changed, instead of
scanning the whole dataset on every request for one image."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from annotation_fixtures import RACCOON
from layout_fixtures import LAYOUTS, STEMS


@pytest.mark.parametrize("name", ["labelimg", "ultralytics", "roboflow_coco"])
def test_detect_and_scan_walk_and_parse_once(tmp_path, monkeypatch, name):
    from augment.io import annotations
    from augment.io.annotations import layouts

    build, fmt = LAYOUTS[name]
    src = build(tmp_path / "in")
    expected = annotations.scan(src, annotations.detect(src))
    calls = {"survey": 0, "json": 0}
    survey, loads = layouts._survey, layouts.load_index

    def counted_survey(*args, **kwargs):
        calls["survey"] += 1
        return survey(*args, **kwargs)

    def counted_loads(*args, **kwargs):
        calls["json"] += 1
        return loads(*args, **kwargs)

    monkeypatch.setattr(layouts, "_survey", counted_survey)
    monkeypatch.setattr(layouts, "load_index", counted_loads)
    layout, scanned = annotations.detect_and_scan(src)
    assert layout.format == fmt and list(scanned) == list(expected) and scanned.ignored == expected.ignored
    assert calls == {"survey": 1, "json": 0}  # the COCO files were parsed by the probe, not again


def test_service_keeps_a_datasets_items_until_a_folder_or_layout_file_changes(tmp_path, monkeypatch):
    from augment.io import annotations
    from augment.serve import datasets

    build, _ = LAYOUTS["roboflow_coco"]
    src = build(tmp_path / "in")
    layout = annotations.detect(src)
    scans = []
    real = annotations.scan
    monkeypatch.setattr(annotations, "scan", lambda *a, **k: scans.append(1) or real(*a, **k))
    first = datasets.dataset_items(src, layout)
    assert datasets.dataset_items(src, layout) is not None and len(scans) == 1  # kept
    shutil.copy(RACCOON / "train" / "images" / f"{STEMS[5]}.jpg", src / "valid")  # a file added in a sub-folder
    items, by_image = datasets.dataset_items(src, layout)
    assert len(scans) == 2 and f"valid/{STEMS[5]}.jpg" in by_image and len(items) == len(first[0]) + 1
    doc_path = src / "train" / "_annotations.coco.json"
    doc = json.loads(doc_path.read_text())
    doc["annotations"] = doc["annotations"][:1]
    doc_path.write_text(json.dumps(doc))  # edited in place: the folder's entries did not change
    st = doc_path.stat()
    os.utime(doc_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, by_image = datasets.dataset_items(src, layout)
    assert len(scans) == 3
    assert sum(len(it.payload["annotations"]) for it in by_image.values() if it.image.startswith("train/")) == 1


@pytest.mark.parametrize("name", ["voc_devkit", "darknet_flat"])
def test_the_dry_run_report_reads_each_annotation_file_once(tmp_path, monkeypatch, name):
    from collections import Counter

    from augment.io.annotations import describe_layout, layouts

    build, _ = LAYOUTS[name]
    src = build(tmp_path / "in")
    expected = describe_layout(src)
    reads = Counter()
    real = layouts.read_bytes_within
    monkeypatch.setattr(layouts, "read_bytes_within", lambda root, rel, *a: reads.update([str(rel)]) or
                        real(root, rel, *a))
    report = describe_layout(src)
    assert report == expected and report.objects > 0
    assert reads and max(reads.values()) == 1, reads
