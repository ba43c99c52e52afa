"""Mosaic and copy-paste: partners from the item's own seed over the sorted item list, named in the manifest,
annotations of every tile or pasted instance moved with it; deterministic whatever the workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation_fixtures import RACCOON, make_coco, make_voc
from test_annotations_geometry import _bbox, one_op, scene

REPO = Path(__file__).resolve().parents[1]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_self_mosaic_moves_every_tile_with_its_annotations():
    img, t = scene()
    for backend in ("albumentations", "torchvision"):
        out, moved, applied, report = one_op("mosaic", {"center": 0.5}, backend).run_targets(img, t, seed=0)
        assert out.shape == img.shape and report.objects_in == 8
        assert sum(report.kept.values()) + sum(report.dropped.values()) == 8 == len(moved) + sum(report.dropped.values())
        # every kept polygon object's mask matches the shape pixels inside its box
        shape = out[:, :, 0] > 127
        for i, label in enumerate(moved.labels):
            if label != "shape":
                continue
            x0, y0, x1, y1 = np.round(moved.boxes[i]).astype(int)
            region = np.zeros_like(shape)
            region[y0:y1, x0:x1] = True
            assert ((moved.masks[i] > 0) == (shape & region)).mean() > 0.995


def test_copy_paste_adds_instances_and_drops_occluded_ones():
    img, t = scene()
    pipe = one_op("copy_paste", {"probability": 1.0, "occluded": 0.5}, "albumentations")
    out, moved, _, report = pipe.run_targets(img, t, seed=0)
    # pasting an image onto itself: every instance is replaced by its own copy
    assert report.objects_in == 4 and report.dropped == {"rect": 1, "shape": 1} and len(moved) == 2
    assert np.array_equal(out, img)
    assert np.abs(moved.boxes[0] - _bbox(out[:, :, 0] > 127)).max() <= 1


@pytest.mark.skipif(not RACCOON.is_dir(), reason="raccoon not present")
@pytest.mark.parametrize("fmt, maker", [("voc", make_voc), ("coco", make_coco)])
def test_mosaic_and_copy_paste_through_the_cli(fmt, maker, tmp_path):
    src = maker(tmp_path / "in")
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: m\nmodality: image\nseed: 5\ncopies: 2\nsteps:\n"
                    "  - op: mosaic\n    params: {min_visibility: 0.1}\n"
                    "  - op: copy_paste\n    params: {probability: 1.0}\n")
    outs = []
    for workers in ("1", "2"):
        r = cli("run", spec, src, tmp_path / f"out{workers}", "--workers", workers)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["errors"] == 0
        out = tmp_path / f"out{workers}"
        outs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
                     if p.is_file() and p.name != "run.json"})
    assert outs[0] == outs[1]
    out = tmp_path / "out1"
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    items = sorted(str(p.relative_to(src).as_posix()) for p in (src / "images").glob("*.jpg"))
    for rec in records:
        mosaic = next(op for op in rec["ops"] if op["op"] == "mosaic")
        names = mosaic["params"]["partners"]
        assert len(names) == 3 and rec["source"] not in names and set(names) <= set(items)
        assert set(rec["partners"]) >= set(names)
        objects = rec["objects"]
        assert objects["objects_in"] == sum(objects["kept"].values()) + sum(objects["dropped"].values())
        assert objects["objects_in"] > 1
        w, h = Image.open(out / rec["output"]).size
        assert (w, h) == Image.open(src / rec["source"]).size
    if fmt == "coco":
        doc = json.loads((out / "annotations.json").read_text())
        assert any("partner" in a for a in doc["annotations"])
        for a in doc["annotations"]:
            x, y, bw, bh = a["bbox"]
            im = doc["images"][a["image_id"] - 1]
            assert 0 <= x and 0 <= y and x + bw <= im["width"] + 0.01 and y + bh <= im["height"] + 0.01 and bw > 0
    rec = records[3]
    rp = cli("replay", out, rec["output"])
    assert rp.returncode == 0 and json.loads(rp.stdout)["identical"], rp.stdout + rp.stderr
