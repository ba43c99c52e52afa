"""Annotations of a tensor batch: boxes and keypoints per sample (a list, or a padded tensor with a count of
objects), polygons per sample (a list of each sample's objects) and masks as a batch.

The images run in one batched pass (``augment.compile.batch``); each sample's boxes and mask then follow its
recorded ops with the same rules as a single annotated call (``augment.compile.targets``: clipping,
``min_visibility``/``min_area`` drops, the border fill of semantic masks). Annotations are small, so they move on
the CPU and come back to their device; dropped boxes leave the list (padded: the count shrinks, the tail is 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from augment.compile.annotated import _from_xyxy, _rewrap, boxes_like, boxes_xyxy, semantic_in
from augment.compile.batch import run_tensor_batch
from augment.compile.targets import TargetTracker, Targets

__all__ = ["ANNOTATION_KEYS", "run_annotated_batch"]

ANNOTATION_KEYS = ("boxes", "box_counts", "labels", "masks", "keypoints", "polygons", "keypoint_names", "ignore_index")


def _np(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def run_annotated_batch(pipe: Any, images: Any, seeds, ann: dict, kernels: str = "auto") -> tuple[dict, Any]:
    """Returns ``({"image", ["boxes"], ["box_counts"], ["labels"], ["masks"], ["keypoints"], ["polygons"]},
    BatchResult)``."""
    import torch

    unknown = set(ann) - set(ANNOTATION_KEYS)
    if unknown:
        import difflib

        key = sorted(unknown)[0]
        match = difflib.get_close_matches(key, [*ANNOTATION_KEYS, "seeds", "kernels"], n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise TypeError(f"unknown batch keyword {key!r}{hint}; batch takes seeds=, kernels= and the annotations "
                        f"{', '.join(ANNOTATION_KEYS)}")
    pipe.check_moves_annotations()
    res = run_tensor_batch(pipe, images, seeds, kernels=kernels)
    n = len(res.seeds)
    boxes_in, counts_in, labels_in, masks_in = (ann.get(k) for k in ("boxes", "box_counts", "labels", "masks"))
    padded = boxes_in is not None and hasattr(boxes_in, "ndim") and boxes_in.ndim == 3
    if padded and counts_in is None:
        raise ValueError("padded boxes (N x M x 4) need box_counts (N valid boxes per sample)")
    if boxes_in is not None and len(boxes_in) != n:
        raise ValueError(f"{n} images but boxes for {len(boxes_in)}")
    kp_in, polys_in = ann.get("keypoints"), ann.get("polygons")
    kp_padded = kp_in is not None and hasattr(kp_in, "ndim") and kp_in.ndim == 4
    if kp_padded and counts_in is None:
        raise ValueError("padded keypoints (N x M x K x 2 or 3) need box_counts (N valid objects per sample)")
    for key, value in (("keypoints", kp_in), ("polygons", polys_in)):
        if value is not None and len(value) != n:
            raise ValueError(f"{n} images but {key} for {len(value)}")
    counts = [int(c) for c in _np(counts_in)] if (padded or kp_padded) else None
    per_kp = [(_np(kp_in[i])[: counts[i]] if kp_padded else _np(kp_in[i])).astype(np.float64)
              if kp_in is not None else None for i in range(n)]
    per_polys = [[[np.asarray(_np(part), dtype=np.float64).reshape(-1, 2) for part in obj] for obj in polys_in[i]]
                 if polys_in is not None else None for i in range(n)]
    in_hw = tuple(images.shape[-2:]) if hasattr(images, "shape") else tuple(images[0].shape[-2:])
    formats = [None] * n
    if boxes_in is not None and padded:  # a plain N x M x 4 tensor: XYXY pixels
        per_boxes = [_np(boxes_in[i])[: counts[i]].astype(np.float64).reshape(-1, 4) for i in range(n)]
    elif boxes_in is not None:  # each sample's own BoundingBoxes (any axis-aligned format), tensor or array
        per_boxes = []
        for i in range(n):
            xyxy, formats[i] = boxes_xyxy(boxes_in[i], in_hw)
            per_boxes.append(xyxy)
    else:  # as a single call: the polygons' extent, else the whole image per object (keypoints alone)
        h, w = in_hw
        per_boxes = [np.array([[*np.concatenate(o).min(0), *np.concatenate(o).max(0)] for o in per_polys[i]],
                              dtype=np.float64).reshape(-1, 4) if per_polys[i] is not None
                     else np.array([[0, 0, w, h]] * len(per_kp[i]), dtype=np.float64).reshape(-1, 4)
                     if per_kp[i] is not None else np.zeros((0, 4)) for i in range(n)]
    if labels_in is not None:
        if len(labels_in) != n:
            raise ValueError(f"{n} images but labels for {len(labels_in)}")
        for i in range(n):
            want = counts[i] if (padded or kp_padded) else len(per_boxes[i])
            have = len(labels_in[i]) if not (padded or kp_padded) else labels_in[i].shape[0]
            if have < want if (padded or kp_padded) else have != want:
                raise ValueError(f"sample {i}: {have} labels for {want} objects; give one label per box")
    ignore = int(ann.get("ignore_index", 255))  # the input masks' own; inside, semantic_in makes it 255
    out_boxes, kept_all, out_masks, out_kp, out_polys = [], [], [], [], []
    leaves = {leaf.path: leaf for leaf in pipe.leaves()}
    backs = [None] * n
    for i in range(n):
        semantic = None
        if masks_in is not None:
            m = _np(masks_in[i])
            if m.ndim == 3 and m.shape[0] == 1:
                m = m[0]
            if m.ndim != 2:
                raise ValueError("batch masks are semantic maps (N x H x W or N x 1 x H x W of class ids); instance "
                                 f"masks (here {tuple(m.shape)} for one sample) go through single calls: "
                                 "pipe(image, boxes=..., masks=...)")
            semantic, backs[i] = semantic_in(m, ignore)
        b = per_boxes[i]
        targets = Targets(boxes=b, labels=tuple(range(len(b))), semantic=semantic,
                          ignore_index=255 if semantic is not None else None,
                          polygons=per_polys[i], keypoints=per_kp[i], keypoint_names=ann.get("keypoint_names"),
                          extras=tuple({"i": k} for k in range(len(b))))
        tracker = TargetTracker(targets)
        for entry, hw in zip(res.applied[i], res.sizes[i]):
            targets = pipe._step_targets(tracker, leaves[entry["path"]], entry["params"], hw, targets)
        kept_all.append([e["i"] for e in targets.extras])
        out_boxes.append(targets.boxes.reshape(-1, 4))
        out_masks.append(backs[i](targets.semantic) if semantic is not None else None)
        out_kp.append(targets.keypoints[..., : per_kp[i].shape[-1]] if per_kp[i] is not None else None)
        out_polys.append([list(obj) for obj in targets.polygons] if per_polys[i] is not None else None)
    result: dict = {"image": res.output}
    if boxes_in is not None:
        like = boxes_in if padded else boxes_in[0] if len(boxes_in) else None
        dtype = like.dtype if hasattr(like, "is_floating_point") and like.is_floating_point() else torch.float32
        device = like.device if hasattr(like, "device") else torch.device("cpu")
        if padded:
            m = boxes_in.shape[1]
            out = torch.zeros((n, m, 4), dtype=dtype, device=device)
            for i, b in enumerate(out_boxes):
                out[i, : len(b)] = torch.as_tensor(b, dtype=dtype)
            result["boxes"] = out
            result["box_counts"] = torch.as_tensor([len(b) for b in out_boxes], device=_device(counts_in))
        else:
            out_hw = [tuple(res.output[i].shape[-2:]) for i in range(n)]
            result["boxes"] = [_like_boxes(boxes_in[i], _from_xyxy(b, formats[i]), out_hw[i])
                               for i, b in enumerate(out_boxes)]
    if kp_in is not None:
        like = kp_in if kp_padded else kp_in[0] if len(kp_in) else None
        dtype = like.dtype if hasattr(like, "is_floating_point") and like.is_floating_point() else torch.float32
        if kp_padded:
            out = torch.zeros(tuple(kp_in.shape), dtype=dtype, device=_device(kp_in)) if hasattr(kp_in, "detach") \
                else np.zeros(kp_in.shape, dtype=np.float64)
            for i, k in enumerate(out_kp):
                out[i, : len(k)] = torch.as_tensor(k, dtype=dtype) if hasattr(out, "detach") else k
            result["keypoints"] = out
            result["box_counts"] = torch.as_tensor([len(k) for k in out_kp], device=_device(counts_in))
        else:
            result["keypoints"] = [_like(kp_in[i], k, dtype) for i, k in enumerate(out_kp)]
    if polys_in is not None:
        result["polygons"] = out_polys
    if "keypoint_names" in ann:
        result["keypoint_names"] = ann["keypoint_names"]
    if labels_in is not None:
        result["labels"] = [_select(labels_in[i], kept_all[i]) for i in range(n)]
        if (padded or kp_padded) and hasattr(labels_in, "ndim") and hasattr(labels_in, "new_zeros"):
            lab = labels_in.new_zeros(labels_in.shape)
            for i, keep in enumerate(kept_all):
                lab[i, : len(keep)] = labels_in[i, torch.as_tensor(keep, dtype=torch.long)]
            result["labels"] = lab
    if masks_in is not None:
        stacked = torch.from_numpy(np.stack(out_masks))  # each in its input's dtype (semantic_in)
        if _np(masks_in[0]).ndim == 3:
            stacked = stacked[:, None]
        stacked = stacked.to(_device(masks_in))
        # a batch of tv_tensors.Mask comes back as one; a list of masks as the stacked tensor
        result["masks"] = _rewrap(masks_in, stacked) if hasattr(masks_in, "as_subclass") else stacked
    return result, res


def _device(x: Any):
    import torch

    return x.device if hasattr(x, "device") else torch.device("cpu")


def _like(orig: Any, b: np.ndarray, dtype):
    import torch

    if hasattr(orig, "detach"):
        return torch.as_tensor(b, dtype=dtype).to(orig.device)
    return b


def _like_boxes(orig: Any, b: np.ndarray, hw: tuple[int, int]):
    """A sample's moved boxes as it gave them: its dtype, and ``BoundingBoxes`` their format with the output's
    canvas size."""
    if not hasattr(orig, "detach"):
        return b
    t = boxes_like(b, orig.dtype)
    if getattr(orig, "format", None) is not None:
        return _rewrap(orig, t, format=orig.format, canvas_size=hw)
    return t.to(orig.device)


def _select(values: Any, keep: list[int]):
    if hasattr(values, "detach"):
        import torch

        return values[torch.as_tensor(keep, dtype=torch.long, device=values.device)]
    if isinstance(values, np.ndarray):
        return values[np.asarray(keep, dtype=np.int64)]
    return [values[k] for k in keep]
