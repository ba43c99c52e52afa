"""Small annotated datasets for the tests: a few raccoon photos (read from ../shared, written to a tmp folder)
converted to Pascal VOC, YOLO, COCO and semantic-mask layouts."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RACCOON = REPO.parent / "shared" / "datasets" / "detection" / "raccoon"
STEMS = ["raccoon-1", "raccoon-10", "raccoon-100", "raccoon-101"]


def raccoon_items(stems=STEMS, split="train"):
    """(image path, width, height, [(name, xmin, ymin, xmax, ymax), ...]) from the VOC files, in place."""
    out = []
    for stem in stems:
        root = ET.parse(RACCOON / split / "annotations" / f"{stem}.xml").getroot()
        image = RACCOON / split / "images" / f"{stem}.jpg"
        w, h = Image.open(image).size
        objs = [(o.findtext("name"), *(int(float(o.findtext(f"bndbox/{k}"))) for k in ("xmin", "ymin", "xmax", "ymax")))
                for o in root.findall("object")]
        out.append((image, w, h, objs))
    return out


def make_voc(root: Path, stems=STEMS) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    for stem in stems:
        shutil.copy(RACCOON / "train" / "images" / f"{stem}.jpg", root / "images")
        shutil.copy(RACCOON / "train" / "annotations" / f"{stem}.xml", root / "annotations")
    return root


def _diamond(x0, y0, x1, y1):
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return [[cx, y0], [x1, cy], [cx, y1], [x0, cy]]


def make_yolo(root: Path, stems=STEMS) -> Path:
    """images/train + labels/train, data.yaml; odd items get polygon rows (a diamond in the box)."""
    for i, (image, w, h, objs) in enumerate(raccoon_items(stems)):
        split = "train" if i < len(stems) - 1 else "val"
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, root / "images" / split)
        rows = []
        for _, x0, y0, x1, y1 in objs:
            x0 -= 1
            if i % 2:
                pts = np.array(_diamond(x0, y0, x1, y1)) / [w, h]
                rows.append("0 " + " ".join(f"{v:.6f}" for v in pts.reshape(-1)))
            else:
                rows.append(f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
        (root / "labels" / split / f"{image.stem}.txt").write_text("\n".join(rows) + "\n")
    (root / "data.yaml").write_text("names:\n  0: raccoon\n")
    return root


def make_coco(root: Path, stems=STEMS) -> Path:
    """images/ + annotations.json: boxes, polygons, RLE masks and two keypoints (box top-left, bottom-right)."""
    from pycocotools import mask as mask_utils

    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i, (image, w, h, objs) in enumerate(raccoon_items(stems)):
        shutil.copy(image, root / "images")
        images.append({"id": 100 + i, "file_name": image.name, "width": w, "height": h})
        for x0, y0, x1, y1 in [o[1:] for o in objs]:
            x0, y0 = x0 - 1, y0 - 1
            ann = {"id": 1000 + len(anns), "image_id": 100 + i, "category_id": 7, "iscrowd": 0,
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                   "keypoints": [x0 + 5.5, y0 + 5.5, 2, x1 - 5.5, y1 - 5.5, 1], "num_keypoints": 2}
            if i % 3 == 1:
                m = np.zeros((h, w), np.uint8, order="F")
                m[y0:y1, x0:x1] = 1
                rle = mask_utils.encode(np.asfortranarray(m))
                ann["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
            elif i % 3 == 2:
                ann["segmentation"] = [[v for p in _diamond(x0, y0, x1, y1) for v in p]]
            anns.append(ann)
    doc = {"info": {"description": "raccoon subset"}, "images": images, "annotations": anns,
           "categories": [{"id": 7, "name": "raccoon", "keypoints": ["top_left", "bottom_right"], "skeleton": []}]}
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def make_masks(root: Path, stems=STEMS) -> Path:
    """images/ + masks/: class 1 inside the boxes, 255 (ignore) on a 3-pixel frame, palette PNG."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for image, w, h, objs in raccoon_items(stems):
        shutil.copy(image, root / "images")
        m = np.zeros((h, w), np.uint8)
        for _, x0, y0, x1, y1 in objs:
            m[y0 - 1 : y1, x0 - 1 : x1] = 1
        m[:3], m[-3:], m[:, :3], m[:, -3:] = 255, 255, 255, 255
        img = Image.frombytes("P", (w, h), m.tobytes())
        img.putpalette([0, 0, 0, 200, 50, 50] + [0, 0, 0] * 253 + [255, 255, 255])
        img.save(root / "masks" / f"{image.stem}.png")
    return root


MAKERS = {"voc": make_voc, "yolo": make_yolo, "coco": make_coco, "masks": make_masks}
