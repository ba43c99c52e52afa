"""A resumed `augment run` over an annotated dataset redoes exactly what changed: an item whose annotation (file,
or its own entries in a COCO JSON) or image changed is redone, every other item is left as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation_fixtures import MAKERS

REPO = Path(__file__).resolve().parents[1]
SPEC = {"name": "r", "modality": "image", "seed": 4, "copies": 2, "steps": [
    {"op": "horizontal_flip", "p": 0.5}, {"op": "zoom", "params": {"scale": [0.8, 1.2]}}]}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def records(out: Path) -> dict[str, dict]:
    return {r["output"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in ("manifest.jsonl", "run.json", "errors.jsonl", "data.yaml")
            and p.suffix != ".json"}


def edit(fmt: str, src: Path) -> str:
    """Change one item's annotations (not its image); return the item's image path under INPUT."""
    if fmt == "voc":
        path = src / "annotations" / "raccoon-10.xml"
        text = path.read_text()
        xmin = text.split("<xmin>")[1].split("<")[0]
        path.write_text(text.replace(f"<xmin>{xmin}<", f"<xmin>{int(float(xmin)) + 7}<", 1))
        return "images/raccoon-10.jpg"
    if fmt == "yolo":
        path = src / "labels" / "train" / "raccoon-1.txt"
        fields = path.read_text().split()
        fields[3] = f"{float(fields[3]) * 0.5:.6f}"
        path.write_text(" ".join(fields) + "\n")
        return "images/train/raccoon-1.jpg"
    if fmt == "coco":
        path = src / "annotations.json"
        doc = json.loads(path.read_text())
        ann = next(a for a in doc["annotations"] if a["image_id"] == 100)
        ann["bbox"] = [ann["bbox"][0] + 5, ann["bbox"][1], ann["bbox"][2] - 5, ann["bbox"][3]]
        path.write_text(json.dumps(doc))
        return "images/raccoon-1.jpg"
    path = src / "masks" / "raccoon-100.png"
    img = Image.open(path)
    arr = np.asarray(img).copy()
    arr[10:40, 10:40] = 1
    out = Image.frombytes("P", img.size, arr.tobytes())
    out.putpalette(img.getpalette())
    out.save(path)
    return "images/raccoon-100.jpg"


@pytest.mark.parametrize("fmt", ["voc", "yolo", "coco", "masks"])
def test_an_edited_annotation_redoes_its_item_and_nothing_else(fmt, tmp_path):
    src, out = MAKERS[fmt](tmp_path / "in"), tmp_path / "out"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    r = cli("run", spec, src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    before_records, before_files = records(out), files(out)
    for rec in before_records.values():  # image and annotation fingerprints in every record
        assert rec["source_fingerprint"]["sha256"] and rec["source_annotation_fingerprint"]["sha256"]
    changed = edit(fmt, src)
    r = cli("run", spec, src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["sources_changed"] == 1 and summary["changed_examples"] == [changed]
    assert summary["written"] == 2 and summary["resumed_skipped"] == len(before_records) - 2
    after_records, after_files = records(out), files(out)
    assert set(after_records) == set(before_records)
    for name, rec in after_records.items():
        if rec["source"] == changed:
            assert rec["source_annotation_fingerprint"] != before_records[name]["source_annotation_fingerprint"]
        else:  # untouched items: same record, same files, not rewritten
            assert rec == before_records[name]
    redone = {n for n in after_files if after_files[n][1] != before_files.get(n, (None, None))[1]}
    stem = Path(changed).stem
    assert redone and all(Path(n).stem.startswith(stem + "__aug") for n in redone), redone
    if fmt in ("voc", "yolo", "masks"):  # the copies' annotations follow the edited source
        assert any(after_files[n][0] != before_files[n][0] for n in redone if not n.endswith(".jpg"))
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        assert len(doc["images"]) == 8
    # a third run has nothing to do
    r = cli("run", spec, src, out, "--workers", "1")
    assert json.loads(r.stdout)["written"] == 0 and json.loads(r.stdout)["sources_changed"] == 0


def test_a_touched_annotation_is_not_redone_and_its_new_mtime_is_recorded(tmp_path):
    src, out = MAKERS["voc"](tmp_path / "in"), tmp_path / "out"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    assert cli("run", spec, src, out, "--workers", "1").returncode == 0
    ann = src / "annotations" / "raccoon-1.xml"
    os.utime(ann, ns=(ann.stat().st_atime_ns, ann.stat().st_mtime_ns + 5_000_000_000))
    r = cli("run", spec, src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["written"] == 0 and json.loads(r.stdout)["sources_changed"] == 0
    rec = next(r for r in records(out).values() if r["source"] == "images/raccoon-1.jpg")
    assert rec["source_annotation_fingerprint"]["mtime_ns"] == ann.stat().st_mtime_ns


def test_a_background_image_that_gets_labels_is_redone(tmp_path):
    src, out = MAKERS["yolo"](tmp_path / "in"), tmp_path / "out"
    label = src / "labels" / "train" / "raccoon-10.txt"
    text = label.read_text()
    label.unlink()  # a background image (no label file) at first
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    assert cli("run", spec, src, out, "--workers", "1").returncode == 0
    assert (out / "labels" / "train" / "raccoon-10__aug0.txt").read_text() == ""  # a background copy
    label.write_text(text)
    r = cli("run", spec, src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["changed_examples"] == ["images/train/raccoon-10.jpg"]
    assert (out / "labels" / "train" / "raccoon-10__aug0.txt").read_text().strip()
