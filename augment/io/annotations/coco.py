"""COCO JSON: one file with ``images``, ``annotations`` and ``categories``; the images next to it (``images/``).

Read per image: boxes (``[x, y, w, h]``), polygons (lists of ``x1, y1, ...``), RLE masks (compressed or not,
through pycocotools) and keypoints (``x, y, v`` triples; names from the category). The output is one JSON at the
same relative path, assembled from the manifest when the run completes: images and annotations get new ids in
output order and keep their source ids as ``source_id``; categories and ``info``/``licenses`` are copied.
Invisible keypoints are written ``0, 0, 0`` as COCO does.
"""

from __future__ import annotations

import json
import posixpath

import numpy as np

from augment.compile.targets import Targets, polygon_area
from augment.io.annotations.base import AnnotationError, Layout, Repairs, clip_box


def load_index(data: bytes, where: str) -> dict:
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list) or not isinstance(doc.get("annotations"), list):
        raise AnnotationError(f"{where}: a COCO file needs 'images' and 'annotations' lists")
    return doc


def _rle_to_mask(seg: dict, hw: tuple[int, int], where: str) -> np.ndarray:
    from pycocotools import mask as mask_utils

    try:
        size = [int(v) for v in seg.get("size", hw)]
        if tuple(size) != tuple(hw):
            raise AnnotationError(f"{where}: RLE size {size} is not the image size {list(hw)}")
        rle = mask_utils.frPyObjects(seg, *size) if isinstance(seg.get("counts"), list) else dict(seg)
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        return np.asarray(mask_utils.decode(rle), dtype=np.uint8)
    except AnnotationError:
        raise
    except Exception as exc:  # pycocotools raises bare exceptions on malformed counts
        raise AnnotationError(f"{where}: unreadable RLE ({type(exc).__name__}: {exc})") from None


def _raster(parts, box, hw) -> np.ndarray:
    import cv2

    out = np.zeros(hw, np.uint8)
    polys = [p for p in parts if len(p) >= 3] or [np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])]
    cv2.fillPoly(out, [np.round((p - 0.5) * 16).astype(np.int32) for p in polys], 1, shift=4)
    return out


def read(payload: dict, layout: Layout, hw: tuple[int, int], where: str) -> tuple[Targets, Repairs]:
    h, w = hw
    repairs = Repairs()
    if payload.get("unlisted"):  # an image beside the others that the JSON does not list: a background image
        repairs.add("not_in_coco_json_background")
    cats = {c["id"]: c for c in layout.categories}
    boxes, labels, polys, extras, rles, kps = [], [], [], [], [], []
    for ann in payload["annotations"]:
        at = f"{where} annotation {ann.get('id')}"
        cat = cats.get(ann.get("category_id"))
        if cat is None:
            raise AnnotationError(f"{at}: unknown category_id {ann.get('category_id')!r}")
        seg = ann.get("segmentation")
        parts, rle = [], None
        if isinstance(seg, list):
            for poly in seg:
                if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                    raise AnnotationError(f"{at}: polygon with fewer than 3 points")
                pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
                clipped = np.clip(pts, 0, [w, h])
                if not np.array_equal(clipped, pts):
                    repairs.add("polygon_points_clipped_to_image")
                parts.append(clipped)
        elif isinstance(seg, dict):
            rle = _rle_to_mask(seg, hw, at)
        bbox = ann.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4:
            x, y, bw, bh = (float(v) for v in bbox)
            box = clip_box([x, y, x + bw, y + bh], w, h, repairs, at)
        elif parts:
            allp = np.concatenate(parts)
            box = [allp[:, 0].min(), allp[:, 1].min(), allp[:, 0].max(), allp[:, 1].max()]
        else:
            raise AnnotationError(f"{at}: no bbox")
        if parts and sum(polygon_area(p) for p in parts) <= 0:
            raise AnnotationError(f"{at}: polygon has zero area")
        kp = ann.get("keypoints")
        if kp is not None and (not isinstance(kp, list) or len(kp) % 3):
            raise AnnotationError(f"{at}: keypoints must be x, y, v triples")
        boxes.append(box)
        labels.append(cat.get("name", str(cat["id"])))
        polys.append(tuple(parts))
        rles.append(rle)
        kps.append(np.asarray(kp or [], dtype=np.float64).reshape(-1, 3))
        extra = {k: ann[k] for k in ("iscrowd", "id") if k in ann}
        extra.update(category_id=cat["id"], seg="rle" if rle is not None else "polygon" if parts else "none",
                     keypoints=len(kps[-1]) if kp is not None else None)
        extras.append(extra)
    masks = None
    if any(r is not None for r in rles):
        masks = np.stack([r if r is not None else _raster(p, b, hw) for r, p, b in zip(rles, polys, boxes)])
    keypoints, names = None, None
    if any(e["keypoints"] is not None for e in extras):
        k = max(len(x) for x in kps)
        keypoints = np.zeros((len(kps), k, 3))
        for i, x in enumerate(kps):
            keypoints[i, : len(x)] = x
            # COCO writes pixel positions; an unlabelled point (v = 0) has no position
        with_kp = [cats[e["category_id"]] for e in extras if e["keypoints"]]
        names_list = {tuple(c.get("keypoints") or ()) for c in with_kp}
        if len(names_list) == 1:
            names = next(iter(names_list)) or None
    try:
        return Targets(boxes=np.asarray(boxes).reshape(-1, 4), labels=labels, polygons=polys, masks=masks,
                       keypoints=keypoints, keypoint_names=names, extras=extras), repairs
    except ValueError as exc:  # e.g. a category naming more keypoints than its annotations carry
        raise AnnotationError(f"{where}: {exc} (categories[].keypoints)") from None


def _round(v: float) -> float:
    return float(round(float(v), 2))


def entries(targets: Targets, out_image_rel: str, hw: tuple[int, int], source: dict) -> dict:
    """The output image's COCO image entry and annotations (without ids; ids are given at assembly).
    ``source`` is the source image's entry: the output's file_name is its file_name with the output's name."""
    from pycocotools import mask as mask_utils

    h, w = hw
    source_name = str(source.get("file_name", out_image_rel)).replace("\\", "/")
    file_name = posixpath.join(posixpath.dirname(source_name), posixpath.basename(out_image_rel))
    source_id = source.get("id")
    anns = []
    for i, (box, extra) in enumerate(zip(targets.boxes, targets.extras)):
        x0, y0, x1, y1 = (float(v) for v in box)
        ann = {"category_id": extra["category_id"], "bbox": [_round(x0), _round(y0), _round(x1 - x0), _round(y1 - y0)],
               "iscrowd": extra.get("iscrowd", 0)}
        parts = targets.polygons[i] if targets.polygons is not None else ()
        if extra["seg"] == "rle" and targets.masks is not None:
            rle = mask_utils.encode(np.asfortranarray(targets.masks[i]))
            ann["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
            ann["area"] = float(targets.masks[i].sum())
        elif extra["seg"] == "polygon" and parts:
            ann["segmentation"] = [[_round(v) for v in p.reshape(-1)] for p in parts]
            ann["area"] = _round(sum(polygon_area(p) for p in parts))
        else:
            ann["area"] = _round((x1 - x0) * (y1 - y0))
        if extra.get("keypoints") is not None and targets.keypoints is not None:
            flat = []
            for x, y, v in targets.keypoints[i, : extra["keypoints"]]:
                flat += [_round(x), _round(y), int(v)] if v > 0 else [0, 0, 0]
            ann["keypoints"] = flat
            ann["num_keypoints"] = sum(1 for j in range(2, len(flat), 3) if flat[j] > 0)
        if "partner" in extra:  # brought in by a mosaic or copy-paste: its image is named
            ann["partner"] = extra["partner"]
        if "id" in extra:
            ann["source_id"] = extra["id"]
        anns.append(ann)
    return {"image": {"file_name": file_name, "width": w, "height": h, "source_id": source_id}, "annotations": anns}


def assemble(source_doc: dict, items: list[dict]) -> bytes:
    """The output JSON from the per-output entries (in output order): new ids from 1, source ids kept."""
    images, annotations = [], []
    for image_id, item in enumerate(items, 1):
        images.append({"id": image_id, **item["image"]})
        for ann in item["annotations"]:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, **ann})
    doc = {k: source_doc[k] for k in ("info", "licenses") if k in source_doc}
    doc.update(images=images, annotations=annotations, categories=source_doc.get("categories", []))
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


__all__ = ["load_index", "read", "entries", "assemble"]
