"""Annotated datasets laid out as labelling tools and exporters write them, built from a few raccoon images (VOC,
read in place from ../shared) into a tmp folder, converted to YOLO and COCO here.

Each builder returns the dataset root; ``LAYOUTS`` maps a layout name to (builder, format). ``count_objects``
counts what an annotated folder holds (per annotation file, boxes, polygons, keypoints), the same way for input
and output, so a test can check that every object of every layout reaches the output in the same layout.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from annotation_fixtures import RACCOON, raccoon_items

STEMS = ["raccoon-1", "raccoon-10", "raccoon-100", "raccoon-101", "raccoon-102", "raccoon-103"]


def _copy_voc(stem: str, image_dir: Path, xml_dir: Path) -> None:
    image_dir.mkdir(parents=True, exist_ok=True)
    xml_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(RACCOON / "train" / "images" / f"{stem}.jpg", image_dir)
    shutil.copy(RACCOON / "train" / "annotations" / f"{stem}.xml", xml_dir)


def labelimg(root: Path) -> Path:
    """LabelImg (and many exporters): foo.jpg + foo.xml side by side in one folder."""
    for stem in STEMS[:3]:
        _copy_voc(stem, root, root)
    return root


def voc_devkit(root: Path) -> Path:
    """The original devkit: Annotations/ + JPEGImages/ + ImageSets/Main/*.txt (CVAT's 'Pascal VOC 1.1' adds
    labelmap.txt)."""
    for stem in STEMS[:3]:
        _copy_voc(stem, root / "JPEGImages", root / "Annotations")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("\n".join(STEMS[:3]) + "\n")
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nraccoon:250,50,83::\n")
    return root


def voc_renamed(root: Path) -> Path:
    """A VOC set whose two folders carry other names than the devkit's (with a split level below them)."""
    for i, stem in enumerate(STEMS[:3]):
        split = "train" if i < 2 else "val"
        _copy_voc(stem, root / "pictures" / split, root / "boxes_xml" / split)
    return root


def roboflow_voc(root: Path) -> Path:
    """Roboflow 'Pascal VOC' export: train/ valid/ test/, each with foo.jpg + foo.xml; README files at the top."""
    for stem, split in zip(STEMS, ["train", "train", "valid", "test"]):
        _copy_voc(stem, root / split, root / split)
    (root / "README.roboflow.txt").write_text("Exported from roboflow.com\n")
    (root / "README.dataset.txt").write_text("# raccoon\n")
    return root


def _yolo_rows(w: int, h: int, objs, polygon: bool) -> str:
    rows = []
    for _, x0, y0, x1, y1 in objs:
        x0 -= 1
        if polygon:  # a diamond inside the box
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            pts = [(cx, y0), (x1, cy), (cx, y1), (x0, cy)]
            rows.append("0 " + " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in pts))
        else:
            rows.append(f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
    return "\n".join(rows) + "\n"


def _yolo(root: Path, places, names_file: str | None) -> Path:
    """``places``: per stem (image folder, label folder); odd items get polygon rows."""
    for i, ((image, w, h, objs), (image_dir, label_dir)) in enumerate(zip(raccoon_items(STEMS[:len(places)]), places)):
        (root / image_dir).mkdir(parents=True, exist_ok=True)
        (root / label_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, root / image_dir)
        (root / label_dir / f"{image.stem}.txt").write_text(_yolo_rows(w, h, objs, polygon=bool(i % 2)))
    if names_file == "data.yaml":
        (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['raccoon']\n")
    elif names_file == "classes.txt":
        (root / "classes.txt").write_text("raccoon\n")
    elif names_file == "obj.names":
        (root / "obj.names").write_text("raccoon\n")
    return root


def ultralytics(root: Path) -> Path:
    """Ultralytics: images/<split>/ + labels/<split>/ and data.yaml."""
    return _yolo(root, [("images/train", "labels/train"), ("images/train", "labels/train"),
                        ("images/val", "labels/val")], "data.yaml")


def roboflow_yolo(root: Path) -> Path:
    """Roboflow 'YOLOv8' export: <split>/images + <split>/labels, data.yaml and READMEs at the top."""
    _yolo(root, [("train/images", "train/labels"), ("train/images", "train/labels"), ("valid/images", "valid/labels"),
                 ("test/images", "test/labels")], "data.yaml")
    (root / "README.roboflow.txt").write_text("Exported from roboflow.com\n")
    return root


def darknet(root: Path) -> Path:
    """Darknet / CVAT 'YOLO 1.1': foo.jpg + foo.txt side by side, obj.names, obj.data and a train.txt list."""
    _yolo(root, [("obj_train_data", "obj_train_data")] * 3, "obj.names")
    (root / "obj.data").write_text("classes = 1\ntrain = data/train.txt\nnames = data/obj.names\nbackup = backup/\n")
    (root / "train.txt").write_text("".join(f"data/obj_train_data/{s}.jpg\n" for s in STEMS[:3]))
    return root


def darknet_flat(root: Path) -> Path:
    """Darknet flat: foo.jpg + foo.txt in INPUT itself, with classes.txt."""
    return _yolo(root, [("", "")] * 3, "classes.txt")


def label_studio_yolo(root: Path) -> Path:
    """Label Studio 'YOLO' export: images/ + labels/, classes.txt and notes.json."""
    _yolo(root, [("images", "labels")] * 3, "classes.txt")
    (root / "notes.json").write_text(json.dumps({"categories": [{"id": 0, "name": "raccoon"}],
                                                 "info": {"year": 2024, "contributor": "Label Studio"}}))
    return root


def _coco_doc(items, file_name) -> dict:
    images, anns = [], []
    for i, (image, w, h, objs) in enumerate(items):
        images.append({"id": i + 1, "file_name": file_name(image), "width": w, "height": h})
        for _, x0, y0, x1, y1 in objs:
            x0, y0 = x0 - 1, y0 - 1
            ann = {"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                   "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                   "keypoints": [x0 + 5.5, y0 + 5.5, 2, x1 - 5.5, y1 - 5.5, 2], "num_keypoints": 2}
            if i % 2:
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                ann["segmentation"] = [[cx, y0, x1, cy, cx, y1, x0, cy]]
            anns.append(ann)
    return {"info": {"description": "raccoon"}, "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "raccoon", "supercategory": "animal",
                            "keypoints": ["top_left", "bottom_right"], "skeleton": []}]}


def roboflow_coco(root: Path) -> Path:
    """Roboflow 'COCO' export: <split>/_annotations.coco.json beside the split's images."""
    for split, stems in (("train", STEMS[:2]), ("valid", STEMS[2:3]), ("test", STEMS[3:4])):
        (root / split).mkdir(parents=True)
        items = raccoon_items(stems)
        for image, *_ in items:
            shutil.copy(image, root / split)
        (root / split / "_annotations.coco.json").write_text(json.dumps(_coco_doc(items, lambda p: p.name)))
    (root / "README.roboflow.txt").write_text("Exported from roboflow.com\n")
    return root


def cvat_coco(root: Path) -> Path:
    """CVAT 'COCO 1.0': annotations/instances_default.json + images/."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    items = raccoon_items(STEMS[:3])
    for image, *_ in items:
        shutil.copy(image, root / "images")
    (root / "annotations" / "instances_default.json").write_text(json.dumps(_coco_doc(items, lambda p: p.name)))
    return root


def label_studio_coco(root: Path) -> Path:
    """Label Studio 'COCO' export: result.json at the top naming images/<file>."""
    (root / "images").mkdir(parents=True)
    items = raccoon_items(STEMS[:3])
    for image, *_ in items:
        shutil.copy(image, root / "images")
    (root / "result.json").write_text(json.dumps(_coco_doc(items, lambda p: f"images/{p.name}")))
    return root


LAYOUTS = {
    "labelimg": (labelimg, "voc"),
    "voc_devkit": (voc_devkit, "voc"),
    "voc_renamed": (voc_renamed, "voc"),
    "roboflow_voc": (roboflow_voc, "voc"),
    "ultralytics": (ultralytics, "yolo"),
    "roboflow_yolo": (roboflow_yolo, "yolo"),
    "darknet": (darknet, "yolo"),
    "darknet_flat": (darknet_flat, "yolo"),
    "label_studio_yolo": (label_studio_yolo, "yolo"),
    "roboflow_coco": (roboflow_coco, "coco"),
    "cvat_coco": (cvat_coco, "coco"),
    "label_studio_coco": (label_studio_coco, "coco"),
}


def count_objects(root: Path, fmt: str, skip: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """Per annotation file (relative path, aug suffix removed): boxes, polygons and keypoints it holds."""
    out: dict[str, dict[str, int]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel in skip or rel.startswith(".") or path.name in ("manifest.jsonl", "errors.jsonl", "run.json"):
            continue
        key = rel.replace("__aug0", "")
        if fmt == "voc" and path.suffix == ".xml":
            el = ET.parse(path).getroot()
            if el.tag == "annotation":
                out[key] = {"boxes": len(el.findall("object"))}
        elif fmt == "yolo" and path.suffix == ".txt" and path.name not in ("classes.txt", "train.txt") \
                and not path.name.startswith("README"):
            rows = [line.split() for line in path.read_text().splitlines() if line.split()]
            out[key] = {"boxes": len(rows), "polygons": sum(1 for r in rows if len(r) > 5)}
        elif fmt == "coco" and path.suffix == ".json" and path.name != "notes.json":
            doc = json.loads(path.read_text())
            anns = doc["annotations"]
            out[key] = {"images": len(doc["images"]), "boxes": len(anns),
                        "polygons": sum(1 for a in anns if isinstance(a.get("segmentation"), list)),
                        "keypoints": sum(1 for a in anns for v in a.get("keypoints", [])[2::3] if v > 0)}
    return out
