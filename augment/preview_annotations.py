"""Drawing annotations over preview tiles: boxes, polygons, instance and class masks, keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from augment.io.images import array_to_pil
from augment.seeding import derive_seed

_COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
            (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]


def _colour(label, names: dict) -> tuple[int, int, int]:
    if label not in names:
        names[label] = len(names)
    return _COLOURS[names[label] % len(_COLOURS)]


def draw_targets(image: np.ndarray, targets) -> np.ndarray:
    """An RGB copy of ``image`` with its annotations drawn on it."""
    base = array_to_pil(image).convert("RGB")
    names: dict = {}
    overlay = np.asarray(base).astype(np.float32)
    if targets.semantic is not None:
        sem = targets.semantic
        for value in np.unique(sem):
            colour = (255, 255, 255) if value == targets.ignore_index else _colour(f"class {value}", names)
            if value == 0:
                continue
            overlay[sem == value] = overlay[sem == value] * 0.5 + np.array(colour) * 0.5
    if targets.masks is not None:
        for label, m in zip(targets.labels, targets.masks):
            overlay[m > 0] = overlay[m > 0] * 0.5 + np.array(_colour(label, names)) * 0.5
    out = Image.fromarray(np.clip(overlay, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 120))  # still visible once the tile is shrunk to the grid cell
    for i, (label, box) in enumerate(zip(targets.labels, targets.boxes)):
        colour = _colour(label, names)
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=colour, width=width)
        draw.text((box[0] + 2, box[1] + 1), str(label), fill=colour)
        for part in (targets.polygons[i] if targets.polygons is not None else ()):
            draw.polygon([tuple(p) for p in part], outline=colour, width=max(1, width // 2))
        if targets.keypoints is not None:
            for x, y, v in targets.keypoints[i]:
                if v > 0:
                    draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour if v >= 2 else None, outline=colour)
    return np.asarray(out)


def annotated_tiles(pipe, image: np.ndarray, targets, count: int) -> list[tuple[str, np.ndarray]]:
    tiles = [("original", draw_targets(image, targets))]
    for k in range(count):
        out, moved, _, report = pipe.run_targets(image, targets, seed=derive_seed(pipe.spec.seed, "preview", k))
        lost = sum(report.dropped.values())
        tiles.append((f"copy {k}" + (f" ({lost} dropped)" if lost else ""), draw_targets(out, moved)))
    return tiles


def read_preview_targets(image_path: Path, annotation: Path, hw: tuple[int, int], fmt: str | None = None):
    """The annotations of one image from a VOC XML, YOLO txt, mask PNG or COCO JSON file."""
    from augment.io.annotations import Item, Layout, coco, masks, read_item, voc, yolo

    suffix = annotation.suffix.lower()
    fmt = fmt or {".xml": "voc", ".txt": "yolo", ".png": "masks", ".json": "coco"}.get(suffix)
    data = annotation.read_bytes()
    where = str(annotation)
    if fmt == "voc":
        return voc.read(data, Layout("voc", ""), hw, where)[0]
    if fmt == "yolo":
        fields = {}
        for folder in [annotation.parent, *annotation.parents]:
            if (folder / "data.yaml").is_file():
                import yaml

                doc = yaml.safe_load((folder / "data.yaml").read_text()) or {}
                fields = {"class_names": yolo.read_class_names(doc), **yolo.read_pose_fields(doc, "data.yaml")}
                break
        return yolo.read(data, Layout("yolo", "", **fields), hw, where)[0]
    if fmt == "masks":
        return masks.read(data, Layout("masks", ""), hw, where)[0]
    if fmt == "coco":
        doc = coco.load_index(data, where)
        entry = next((e for e in doc["images"] if Path(str(e.get("file_name", ""))).name == image_path.name), None)
        if entry is None:
            raise ValueError(f"{annotation} has no image named {image_path.name}")
        layout = Layout("coco", "", categories=tuple(doc.get("categories") or ()))
        payload = {"image": entry, "annotations": [a for a in doc["annotations"] if a.get("image_id") == entry["id"]]}
        return read_item(annotation.parent, layout, Item(image_path.name, None, payload), hw)[0]
    raise ValueError(f"cannot tell the format of {annotation}; name it .xml, .txt, .png or .json")


__all__ = ["draw_targets", "annotated_tiles", "read_preview_targets"]
