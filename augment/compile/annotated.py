"""The library form of annotated augmentation: ``pipeline(image, boxes=..., labels=..., ...)``.

Keys (all optional but ``boxes`` or ``masks``/``polygons``/``keypoints`` make sense only together with objects):
``boxes`` (N, 4) x_min, y_min, x_max, y_max in pixels, or a ``tv_tensors.BoundingBoxes`` in any format;
``labels`` N values; ``polygons`` N lists of (M, 2) point arrays; ``masks`` (N, H, W) instance masks (a
``tv_tensors.Mask`` too) or one (H, W) class-index mask (semantic; ``ignore_index`` fills what the op cannot
see, 255 by default); ``keypoints`` (N, K, 2 or 3) with visibility in the third column (``tv_tensors.KeyPoints``
too); ``keypoint_names`` for ``flip_pairs``. The result is a dict of the same keys, each of the type it came in,
plus ``image``; dropped objects are gone from every per-object key. Images may be numpy, PIL, or torch
``CxHxW`` uint8 tensors (``tv_tensors.Image``). ``detection_collate`` batches such dicts for a DataLoader.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_KEYS = {"boxes", "labels", "polygons", "masks", "keypoints", "keypoint_names", "ignore_index"}


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") or hasattr(x, "as_subclass")


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _box_format(boxes) -> str | None:
    fmt = getattr(boxes, "format", None)
    return getattr(fmt, "name", None) if fmt is not None else None


def _to_xyxy(arr: np.ndarray, fmt: str | None) -> np.ndarray:
    arr = arr.astype(np.float64).reshape(-1, 4)
    if fmt == "XYWH":
        return np.stack([arr[:, 0], arr[:, 1], arr[:, 0] + arr[:, 2], arr[:, 1] + arr[:, 3]], 1)
    if fmt == "CXCYWH":
        return np.stack([arr[:, 0] - arr[:, 2] / 2, arr[:, 1] - arr[:, 3] / 2,
                         arr[:, 0] + arr[:, 2] / 2, arr[:, 1] + arr[:, 3] / 2], 1)
    return arr


def _from_xyxy(arr: np.ndarray, fmt: str | None) -> np.ndarray:
    if fmt == "XYWH":
        return np.stack([arr[:, 0], arr[:, 1], arr[:, 2] - arr[:, 0], arr[:, 3] - arr[:, 1]], 1)
    if fmt == "CXCYWH":
        return np.stack([(arr[:, 0] + arr[:, 2]) / 2, (arr[:, 1] + arr[:, 3]) / 2,
                         arr[:, 2] - arr[:, 0], arr[:, 3] - arr[:, 1]], 1)
    return arr


_AXIS_ALIGNED = (None, "XYXY", "XYWH", "CXCYWH")


def boxes_xyxy(boxes: Any, hw: tuple[int, int]) -> tuple[np.ndarray, str | None]:
    """Boxes as float64 XYXY pixels of an image of size ``hw``, and the format to give them back in. Refused in one
    line: rotated boxes, and ``BoundingBoxes`` whose ``canvas_size`` is not the image's (read as pixels of the
    image, they moved to the wrong place)."""
    fmt = _box_format(boxes)
    if fmt not in _AXIS_ALIGNED:
        raise ValueError(f"boxes in format {fmt} (rotated) are not supported: pass axis-aligned boxes "
                         "(XYXY, XYWH or CXCYWH)")
    canvas = getattr(boxes, "canvas_size", None)
    if canvas is not None and tuple(int(v) for v in canvas) != tuple(hw):
        raise ValueError(f"the boxes' canvas_size {tuple(int(v) for v in canvas)} is not the image's size {tuple(hw)} "
                         "(height, width): give BoundingBoxes the size of the image they belong to")
    return _to_xyxy(_numpy(boxes), fmt), fmt


def boxes_like(xyxy: np.ndarray, dtype):
    """Moved boxes as a tensor of the caller's dtype: integer boxes are rounded to the nearest pixel (torchvision
    v2 keeps a box tensor's dtype too), float ones kept."""
    import torch

    if dtype.is_floating_point:
        return torch.as_tensor(xyxy, dtype=dtype)
    return torch.as_tensor(np.rint(xyxy), dtype=dtype)


def semantic_in(mask: Any, ignore_index: int = 255) -> tuple[np.ndarray, Any]:
    """A semantic mask (class ids per pixel) as the uint8 map the ops move (ignore index 255), and a function that
    gives a moved map back in the mask's own dtype and ignore index. Class ids must fit: 0-255 with the default
    ignore index, 0-254 plus the ignore index (any value, -1 say) otherwise; casting wrapped 300 to 44 and -1 to
    255 before."""
    m = _numpy(mask)
    ignore = int(ignore_index)
    if m.dtype == np.uint8 and ignore == 255:
        return m, lambda out: out
    if m.dtype.kind not in "iu":  # a bool map cannot hold an ignore index for what an op cannot see
        raise ValueError(f"a semantic mask holds integer class ids, not {m.dtype} values (pass a bool mask as uint8)")
    if not np.can_cast(np.min_scalar_type(ignore), m.dtype):
        raise ValueError(f"ignore_index {ignore} does not fit the mask's {m.dtype}")
    if m.size:
        ids = m[m != ignore]
        top = 255 if ignore == 255 else 254
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) > top):
            raise ValueError(f"semantic mask class ids must be 0-{top} (ignore index {ignore}); this one holds "
                             f"{int(ids.min())}..{int(ids.max())}")
    inner = np.where(m == ignore, 255, m).astype(np.uint8)
    dtype = m.dtype

    def back(out: np.ndarray) -> np.ndarray:
        wide = out.astype(dtype)  # before the ignore index goes back in: -1 does not fit uint8
        if ignore != 255:
            wide[out == 255] = ignore
        return wide

    return inner, back


def _identity(a):
    return a


def _rewrap(like, tensor, **kwargs):
    tensor = tensor.to(like.device)
    from torchvision import tv_tensors

    for cls in (tv_tensors.BoundingBoxes, tv_tensors.Mask, tv_tensors.Image, tv_tensors.KeyPoints):
        if isinstance(like, cls):
            return cls(tensor, **kwargs)
    return tensor


def call_annotated(pipe, x: Any, seed: int | None, ann: dict) -> dict:
    unknown = set(ann) - _KEYS
    if unknown:
        raise TypeError(f"unknown annotation keys: {', '.join(sorted(unknown))}; use {', '.join(sorted(_KEYS))}")
    from augment.compile.targets import Targets
    from augment.compile.tensors import image_in

    arr, restore = image_in(x)
    back = _identity
    h, w = arr.shape[:2]
    boxes_in = ann.get("boxes")
    fmt = None
    masks_in = ann.get("masks")
    semantic = None
    instance = None
    semantic_back = None
    ignore_index = ann.get("ignore_index", 255)
    if masks_in is not None:
        m = _numpy(masks_in)
        if m.ndim == 2:
            semantic, semantic_back = semantic_in(m, ignore_index)
        else:
            instance = m
    n = None
    for key in ("boxes", "labels", "polygons", "keypoints"):
        if ann.get(key) is not None:
            n = len(ann[key])
            break
    if n is None:
        n = len(instance) if instance is not None else 0
    if boxes_in is not None:
        boxes, fmt = boxes_xyxy(boxes_in, (h, w))
    elif instance is not None:
        from augment.compile.targets import mask_box

        boxes = np.array([mask_box(mi) if mi.any() else [0, 0, 0, 0] for mi in instance], dtype=np.float64).reshape(-1, 4)
    elif ann.get("polygons") is not None:
        boxes = np.array([[*np.concatenate(p).min(0), *np.concatenate(p).max(0)] for p in ann["polygons"]]).reshape(-1, 4)
    else:
        boxes = np.array([[0, 0, w, h]] * n, dtype=np.float64).reshape(-1, 4)
    labels_in = ann.get("labels")
    labels = list(_numpy(labels_in).tolist()) if labels_in is not None else [None] * n
    kp_in = ann.get("keypoints")
    targets = Targets(
        boxes=boxes, labels=labels, polygons=ann.get("polygons"), masks=instance,
        keypoints=_numpy(kp_in) if kp_in is not None else None, keypoint_names=ann.get("keypoint_names"),
        semantic=semantic, ignore_index=255 if semantic is not None else None,
        extras=tuple({"i": i} for i in range(n)),
    )
    out, moved, applied, report = pipe.run_targets(arr, targets, seed=seed)
    kept = [e["i"] for e in moved.extras]
    oh, ow = out.shape[:2]
    result: dict = {"image": back(restore(out, applied))}
    if boxes_in is not None:
        xyxy = _from_xyxy(moved.boxes, fmt)
        if _is_torch(boxes_in):
            import torch

            t = boxes_like(xyxy, boxes_in.dtype)
            result["boxes"] = _rewrap(boxes_in, t, format=boxes_in.format, canvas_size=(oh, ow)) if fmt else t.to(boxes_in.device)
        else:
            result["boxes"] = xyxy.astype(np.asarray(boxes_in).dtype if np.asarray(boxes_in).dtype.kind == "f" else np.float64)
    if labels_in is not None:
        result["labels"] = _select(labels_in, kept)
    if ann.get("polygons") is not None:
        result["polygons"] = [list(p) for p in moved.polygons]
    if masks_in is not None:
        data = semantic_back(moved.semantic) if semantic is not None else moved.masks.astype(_numpy(masks_in).dtype)
        if _is_torch(masks_in):
            import torch

            result["masks"] = _rewrap(masks_in, torch.from_numpy(np.ascontiguousarray(data)))
        else:
            result["masks"] = data
    if kp_in is not None:
        kp = moved.keypoints
        kp_shape = _numpy(kp_in).shape
        cols = kp_shape[-1]
        data = kp[..., :cols]
        if len(kp_shape) == 2:  # one point per object (torchvision's KeyPoints of N x 2): the same shape back
            data = data.reshape(-1, cols)
        if _is_torch(kp_in):
            import torch

            t = torch.as_tensor(data, dtype=kp_in.dtype if kp_in.is_floating_point() else torch.float32)
            result["keypoints"] = (_rewrap(kp_in, t, canvas_size=(oh, ow)) if hasattr(kp_in, "canvas_size")
                                   else t.to(kp_in.device))
        else:
            result["keypoints"] = data
    for key in ("keypoint_names", "ignore_index"):
        if key in ann:
            result[key] = ann[key]
    return result


def _select(values, keep: list[int]):
    from augment.compile.tensors import select_rows

    return select_rows(values, keep)


def detection_collate(batch: list) -> tuple:
    """Collate ``(image, target)`` pairs or result dicts of different object counts: images stacked when they
    share a size (else a list), targets as a list of dicts (the torchvision detection convention)."""
    import torch

    if batch and isinstance(batch[0], dict):
        batch = [(item["image"], {k: v for k, v in item.items() if k != "image"}) for item in batch]
    images, targets = zip(*batch) if batch else ((), ())
    if images and all(hasattr(im, "shape") and im.shape == images[0].shape for im in images) and _is_torch(images[0]):
        return torch.stack(list(images)), list(targets)
    return list(images), list(targets)


__all__ = ["call_annotated", "detection_collate"]
