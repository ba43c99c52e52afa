"""Multi-image ops: mosaic (four images in a 2x2 grid) and copy-paste (instances of another image pasted on).

Partners come from a provider the caller gives (``augment run``: other items of the dataset, chosen by the
op's drawn fractions over the sorted item list; see ``augment.run.partners``). Without one, an image is its own
partner, so the ops still work (as a self-mosaic, a no-op paste) in a plain ``pipeline(image)`` call.
Tiles and pasted images are resized with OpenCV on either backend: composing images is not a backend kernel,
and every annotation moves through the same maps as in ``augment.compile.targets``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from augment.compile.targets import StepLog, Targets, _crop_resize_map, apply_map, mask_box


@dataclass(frozen=True)
class Partner:
    name: str
    image: np.ndarray  # HxWxC uint8
    targets: Targets | None


def _channels(img: np.ndarray, c: int) -> np.ndarray:
    if img.shape[2] == c:
        return img
    if c == 1:
        rgb = img[:, :, :3] if img.shape[2] >= 3 else np.repeat(img[:, :, :1], 3, axis=2)
        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)[:, :, None]
    base = np.repeat(img[:, :, :1], 3, axis=2) if img.shape[2] in (1, 2) else img[:, :, :3]
    if c == 3:
        return np.ascontiguousarray(base)
    alpha = img[:, :, 3:4] if img.shape[2] == 4 else np.full(img.shape[:2] + (1,), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([base, alpha], axis=2)[:, :, :c])


def _resize(img: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    out = cv2.resize(np.ascontiguousarray(img), (w, h), interpolation=cv2.INTER_LINEAR)
    return out[:, :, None] if out.ndim == 2 else out


def _shift(t: Targets, dx: float, dy: float, canvas: tuple[int, int], top: int, left: int) -> Targets:
    h, w = canvas
    boxes = t.boxes + [dx, dy, dx, dy]
    polys = None if t.polygons is None else tuple(tuple(p + [dx, dy] for p in parts) for parts in t.polygons)
    masks = None
    if t.masks is not None:
        masks = np.zeros((len(t), h, w), np.uint8)
        mh, mw = t.masks.shape[1:]
        masks[:, top : top + mh, left : left + mw] = t.masks
    kp = None
    if t.keypoints is not None:
        kp = t.keypoints.copy()
        kp[:, :, 0] += dx
        kp[:, :, 1] += dy
    semantic = None
    if t.semantic is not None:
        fill = t.ignore_index if t.ignore_index is not None else 0
        semantic = np.full((h, w), fill, np.uint8)
        sh, sw = t.semantic.shape
        semantic[top : top + sh, left : left + sw] = t.semantic
    return replace(t, boxes=boxes, polygons=polys, masks=masks, keypoints=kp, semantic=semantic)


def _raster(parts, box, hw) -> np.ndarray:
    out = np.zeros(hw, np.uint8)
    polys = [p for p in parts if len(p) >= 3]
    if not polys:
        x0, y0, x1, y1 = box
        polys = [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])]
    cv2.fillPoly(out, [np.round((p - 0.5) * 16).astype(np.int32) for p in polys], 1, shift=4)
    return out


def concat(pieces: list[Targets], hw: tuple[int, int]) -> Targets:
    """One Targets from several in the same frame: missing masks are rasterised from polygons or boxes,
    missing keypoints are invisible, semantic masks are combined where they are not the ignore value."""
    pieces = [p for p in pieces if p is not None]
    n = sum(len(p) for p in pieces)
    boxes = np.concatenate([p.boxes for p in pieces]) if pieces else np.zeros((0, 4))
    labels = [lab for p in pieces for lab in p.labels]
    extras = tuple(e for p in pieces for e in p.extras)
    polys = None
    if any(p.polygons is not None for p in pieces):
        polys = tuple(parts for p in pieces for parts in (p.polygons if p.polygons is not None else ((),) * len(p)))
    masks = None
    if any(p.masks is not None for p in pieces):
        rows = []
        for p in pieces:
            if p.masks is not None:
                rows.append(p.masks)
            else:
                for i in range(len(p)):
                    rows.append(_raster(p.polygons[i] if p.polygons is not None else (), p.boxes[i], hw)[None])
        masks = np.concatenate(rows).reshape(n, *hw) if rows else np.zeros((0, *hw), np.uint8)
    keypoints, names, flip = None, None, None
    if any(p.keypoints is not None for p in pieces):
        k = max(p.keypoints.shape[1] for p in pieces if p.keypoints is not None)
        keypoints = np.zeros((n, k, 3))
        at = 0
        for p in pieces:
            if p.keypoints is not None:
                keypoints[at : at + len(p), : p.keypoints.shape[1]] = p.keypoints
            at += len(p)
        names = next((p.keypoint_names for p in pieces if p.keypoint_names), None)
        flip = next((p.keypoint_flip for p in pieces if p.keypoint_flip and len(p.keypoint_flip) == k), None)
    semantic, ignore = None, None
    sems = [p for p in pieces if p.semantic is not None]
    if sems:
        ignore = sems[0].ignore_index
        semantic = sems[0].semantic.copy()
        for p in sems[1:]:
            own = p.semantic != (p.ignore_index if p.ignore_index is not None else -1)
            semantic[own] = p.semantic[own]
    return Targets(boxes=boxes, labels=labels, polygons=polys, masks=masks, keypoints=keypoints,
                   keypoint_names=names, semantic=semantic, ignore_index=ignore, extras=extras, keypoint_flip=flip)


def _tile(img: np.ndarray, targets: Targets | None, quadrant: int, qh: int, qw: int, params, log: StepLog):
    """Cover a qh x qw tile with ``img`` (scaled to cover, cut at the corner nearest the mosaic centre)."""
    h, w = img.shape[:2]
    s = max(qw / w, qh / h)
    cw, ch = max(1, min(w, int(round(qw / s)))), max(1, min(h, int(round(qh / s))))
    left = w - cw if quadrant in (0, 2) else 0
    top = h - ch if quadrant in (0, 1) else 0
    m = _crop_resize_map(h, w, top, left, ch, cw, (qh, qw))
    tile = _resize(img[top : top + ch, left : left + cw], (qh, qw))
    moved = apply_map(targets, m, params, log) if targets is not None else None
    return tile, moved


def mosaic(image: np.ndarray, targets: Targets | None, drawn: dict, params, partners: list[Partner], tracker=None):
    h, w, c = image.shape
    cx = min(w - 1, max(1, int(round(drawn["center_x"] * w)))) if w > 1 else w
    cy = min(h - 1, max(1, int(round(drawn["center_y"] * h)))) if h > 1 else h
    quads = [(0, 0, cy, cx), (0, cx, cy, w - cx), (cy, 0, h - cy, cx), (cy, cx, h - cy, w - cx)]
    sources = [Partner("", image, targets)] + list(partners)
    canvas = np.zeros_like(image)
    pieces, kept_ids = [], []
    for q, ((top, left, qh, qw), src) in enumerate(zip(quads, sources)):
        ids = _ids_for(tracker, q, src)
        log = StepLog()
        if qh < 1 or qw < 1:  # a 1-pixel side leaves some tiles empty: their objects are dropped
            log.dropped = list(range(len(ids)))
        else:
            t_in = _tag(src.targets, src.name) if targets is not None else None
            tile, moved = _tile(_channels(src.image, c), t_in, q, qh, qw, params, log)
            canvas[top : top + qh, left : left + qw] = tile
            if moved is not None:
                pieces.append(_shift(moved, left, top, (h, w), top, left))
        if tracker is not None:
            tracker.record(log, ids, kept_ids)
    return canvas, (concat(pieces, (h, w)) if targets is not None else None)


def _tag(t: Targets | None, name: str) -> Targets | None:
    if t is None or not name:
        return t
    return replace(t, extras=tuple({**e, "partner": name} for e in t.extras))


def _ids_for(tracker, q: int, src: Partner) -> list[int]:
    if tracker is None:
        return []
    if q == 0:
        return list(tracker.ids)
    return tracker.add_objects(src.targets.labels if src.targets is not None else ())


def copy_paste(image: np.ndarray, targets: Targets | None, drawn: dict, params, partners: list[Partner], tracker=None):
    h, w, c = image.shape
    partner = partners[0]
    src = _resize(_channels(partner.image, c), (h, w))
    pt = partner.targets
    if targets is None or pt is None or (pt.polygons is None and pt.masks is None) or not len(pt):
        return image.copy(), targets
    ph, pw = partner.image.shape[:2]
    moved = apply_map(_tag(pt, partner.name), _crop_resize_map(ph, pw, 0, 0, ph, pw, (h, w)), None)
    rng = np.random.default_rng(drawn["pick_seed"])
    draws = rng.random(len(moved))
    chosen = []
    for i in range(len(moved)):
        has_shape = (moved.masks is not None and moved.masks[i].any()) or (
            moved.polygons is not None and any(len(p) >= 3 for p in moved.polygons[i]))
        if has_shape and draws[i] < params.probability:
            chosen.append(i)
    pasted = moved.select(chosen)
    shapes = [pasted.masks[i] if pasted.masks is not None and pasted.masks[i].any()
              else _raster(pasted.polygons[i], pasted.boxes[i], (h, w)) for i in range(len(pasted))]
    paste = np.zeros((h, w), bool)
    for s in shapes:
        paste |= s.astype(bool)
    out = image.copy()
    out[paste] = src[paste]
    keep, masks = [], None if targets.masks is None else targets.masks.copy()
    boxes = targets.boxes.copy()
    for i in range(len(targets)):
        if masks is not None:
            own = masks[i].astype(bool)
        else:
            parts = targets.polygons[i] if targets.polygons is not None else ()
            own = _raster(parts, targets.boxes[i], (h, w)).astype(bool)
        area = own.sum()
        covered = (own & paste).sum() / area if area else 1.0
        if covered >= params.occluded:
            continue
        if masks is not None and covered > 0:
            masks[i] = (own & ~paste).astype(np.uint8)
            box = mask_box(masks[i])
            if box is None:
                continue
            boxes[i] = box
        keep.append(i)
    own_t = replace(targets, boxes=boxes, masks=masks).select(keep)
    if tracker is not None:
        own_ids = list(tracker.ids)
        new_ids = tracker.add_objects(pasted.labels)
        kept_set = set(keep)
        tracker.record(StepLog(dropped=[i for i in range(len(targets)) if i not in kept_set]), own_ids, [])
        tracker.ids = tracker.ids + new_ids
    if own_t.semantic is not None and pasted.semantic is not None:
        sem = own_t.semantic.copy()
        sem[paste] = pasted.semantic[paste]
        own_t = replace(own_t, semantic=sem)
    return out, concat([own_t, replace(pasted, semantic=None)], (h, w))


__all__ = ["Partner", "concat", "mosaic", "copy_paste"]
