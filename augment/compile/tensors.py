"""Torch tensors and ``tv_tensors`` in and out of an image pipeline: the same types, dtype and device come back.

A tensor image is ``CxHxW`` (or ``HxW``), ``uint8`` or floating point in ``[0, 1]``, on any device. The ops run on
the pipeline's CPU backend exactly as for a numpy array: the tensor is moved to the CPU as ``HxWxC`` uint8, and
the result goes back to the caller's dtype and device. A float image is quantised to 256 levels on the way in
(``round(x * 255)``), which is what the backends compute with; its output is ``uint8 / 255`` in the caller's
float dtype. So the drawn values and pixels are the same whatever the input type.

``tv_tensors.Video`` (``TxCxHxW``) is a batch of frames that share one draw: every frame gets the same values.
Structured inputs as torchvision v2 takes them (a tuple, list or dict holding one image and its
``BoundingBoxes``, ``Mask`` and ``KeyPoints``, other entries such as labels passed through) come back in the
same structure; boxes, masks and keypoints move with the image (``augment.compile.annotated``).

This module never imports torch at import time: numpy/PIL users do not pay for it.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from augment.compile.pixels import ImageInputError, _to_array

__all__ = ["is_tensor", "image_in", "hwc_copy", "chw_into", "from_uint8", "wanted_dtype", "is_video", "is_structured",
           "call_structured", "call_video"]


def is_tensor(x: Any) -> bool:
    mod = type(x).__module__
    return (mod.startswith("torch") or mod.startswith("torchvision")) and hasattr(x, "permute")


def _tv_class(x: Any, name: str) -> bool:
    return any(cls.__name__ == name and cls.__module__.startswith("torchvision") for cls in type(x).__mro__)


def is_video(x: Any) -> bool:
    return is_tensor(x) and _tv_class(x, "Video")


def _check_tensor(x: Any) -> None:
    import torch

    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[0] not in (1, 2, 3, 4)):
        hint = ("use pipe.batch for NxCxHxW batches (each sample its own values), or wrap frames in "
                "tv_tensors.Video (every frame the same values)" if x.ndim == 4 else "")
        raise ImageInputError(f"tensor images must be CxHxW (C in 1-4) or HxW, got shape {tuple(x.shape)}"
                              + (f": {hint}" if hint else ""))
    if x.shape[-1] < 1 or x.shape[-2] < 1:
        raise ImageInputError(f"image has no pixels (shape {tuple(x.shape)})")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ImageInputError(f"tensor images must be uint8 (0-255) or float in [0, 1], got {x.dtype}")
    if x.is_floating_point():
        lo, hi = float(x.min()), float(x.max())
        if not (lo >= 0.0 and hi <= 1.0):  # also refuses NaN
            raise ImageInputError(f"float tensor images must hold values in [0, 1], got [{lo:g}, {hi:g}]: divide by "
                                  "255 or pass uint8")


def to_uint8(x: Any):
    """A CxHxW (or NxCxHxW) tensor as uint8 on its own device (float in [0, 1] rounded to 256 levels)."""
    import torch

    if x.dtype == torch.uint8:
        return x.as_subclass(torch.Tensor)
    return x.as_subclass(torch.Tensor).float().mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def wanted_dtype(applied: list | None) -> str | None:
    """The pixel type the last ``to_dtype`` step of a record asked for (None: the caller's own)."""
    for entry in reversed(applied or []):
        if isinstance(entry, dict) and entry.get("op") == "to_dtype" and isinstance(entry.get("params"), dict):
            return entry["params"].get("dtype")
    return None


def from_uint8(t: Any, like: Any, dtype: str | None = None) -> Any:
    """``t`` (uint8, any device) in the dtype, device and tv_tensors type of ``like``. Float pixels (normalize,
    ``to_dtype``) come back as they are; ``dtype="uint8"`` (a ``to_dtype`` step) keeps uint8 for a float caller."""
    import torch

    if like.is_floating_point() and t.dtype == torch.uint8 and dtype != "uint8":
        t = t.to(like.dtype).div_(255.0)
    t = t.to(like.device)
    return _rewrap(like, t)


def _rewrap(like: Any, t: Any) -> Any:
    if type(like).__module__.startswith("torchvision"):
        return type(like)(t) if not hasattr(like, "canvas_size") else t
    return t


def image_in(x: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """Normalise any image input (numpy, PIL, tensor, tv_tensors.Image) to HxWxC uint8 and a function that gives
    the caller's type back."""
    if not is_tensor(x):
        return _to_array(x)
    import torch

    kind = _kind(x)
    if kind not in (None, "image"):
        raise ImageInputError(f"a tv_tensors.{type(x).__name__} is an annotation, not an image: pass it with its "
                              f"image, pipe(image, {kind}=...) or pipe({{'image': image, '{kind}': ...}})")
    _check_tensor(x)
    squeeze = x.ndim == 2
    t = to_uint8(x.detach())
    arr = hwc_copy((t[None] if squeeze else t).cpu())

    def restore(out: np.ndarray, applied: list | None = None) -> Any:
        h, w, c = out.shape
        back = np.empty((c, h, w), dtype=out.dtype)
        chw_into(out, back)
        back = torch.from_numpy(back)
        if squeeze and c == 1:
            back = back[0]
        return from_uint8(back, x, wanted_dtype(applied))

    return arr, restore


def hwc_copy(t: Any) -> np.ndarray:
    """A CxHxW CPU tensor as a new HxWxC array: one ``cv2.merge`` of its planes where they are contiguous (a
    tenth of the CPU time of a strided tensor permute at 224x224), a plain copy for a channels-last tensor. Always
    a copy: the caller's tensor never reaches a kernel, and no output shares its memory (an op that leaves the
    pixels alone hands its input back)."""
    import cv2

    a = t.numpy()
    if a.shape[0] == 1:
        return a[0].copy()[:, :, None]
    hwc = a.transpose(1, 2, 0)
    if hwc.flags.c_contiguous:  # a channels-last tensor
        return hwc.copy()
    if a[0].size >= _MERGE_FROM and all(p.flags.c_contiguous for p in a):
        return cv2.merge(list(a))
    return np.ascontiguousarray(hwc)


def chw_into(img: np.ndarray, dst: np.ndarray) -> None:
    """Write an HxWxC array into ``dst``, a contiguous CxHxW array (``cv2.split`` into its planes)."""
    import cv2

    if img.shape[2] == 1 or img.dtype not in (np.uint8, np.float32) or img.shape[0] * img.shape[1] < _SPLIT_FROM:
        np.copyto(dst, img.transpose(2, 0, 1))
        return
    planes = list(dst)
    got = cv2.split(np.ascontiguousarray(img), planes)  # OpenCV writes into planes of the right size and type
    for plane, into in zip(got, planes):
        if plane is not into:  # it gave new arrays instead
            np.copyto(into, plane)


# below these many pixels per plane, numpy's strided copy costs less than the OpenCV call
_MERGE_FROM = 256
_SPLIT_FROM = 4096


# --- videos: frames that share one draw -----------------------------------------------------------------------


def call_video(pipe: Any, video: Any, seed: int | None):
    """Augment every frame of a TxCxHxW video with the values drawn for its first frame."""
    import torch

    if video.ndim != 4 or video.shape[0] < 1:
        raise ImageInputError(f"videos must be TxCxHxW with at least one frame, got shape {tuple(video.shape)}")
    plain = video.as_subclass(torch.Tensor)
    first = pipe.run(plain[0], seed=seed)
    frames = [first.output] + [pipe.replay(plain[i], first.applied) for i in range(1, video.shape[0])]
    out = torch.stack(frames)
    return type(video)(out) if _tv_class(video, "Video") else out, first


# --- structured inputs (the torchvision v2 call convention) ---------------------------------------------------

_ANNOTATION_TYPES = {"BoundingBoxes": "boxes", "Mask": "masks", "KeyPoints": "keypoints"}


def _kind(v: Any) -> str | None:
    if not is_tensor(v):
        return None
    for name, key in _ANNOTATION_TYPES.items():
        if _tv_class(v, name):
            return key
    if _tv_class(v, "Image") or _tv_class(v, "Video"):
        return "image"
    return None


def _containers(x: Any) -> bool:
    return isinstance(x, (dict, list, tuple)) and not is_tensor(x)


def _walk(x: Any, path: tuple = ()):
    """(path, value) of every value in nested dicts, lists and tuples (the structures torchvision v2 takes)."""
    items = x.items() if isinstance(x, dict) else enumerate(x)
    for k, v in items:
        yield path + (k,), v
        if _containers(v):
            yield from _walk(v, path + (k,))


def is_structured(x: Any) -> bool:
    """A tuple, list or dict that holds tv_tensors anywhere inside it (one image and its annotations, as
    torchvision v2 takes them: ``{"image": ..., "boxes": ...}``, ``(image, {"boxes": ..., "labels": ...})``)."""
    return _containers(x) and any(_kind(v) is not None for _, v in _walk(x))


# Entries of the boxes' own dict kept in step with them when boxes leave the image: torchvision's labels rule
# (a key "labels", else one containing "label", any case) and the per-object fields of COCO-style targets.
_PER_BOX_KEYS = ("area", "iscrowd", "scores", "ids", "track_ids", "instance_ids")


def _per_box_entries(x: Any, boxes_path: tuple, count: int) -> tuple[list[tuple], list[tuple]]:
    """Paths of the values that hold one entry (a row: a one-hot label, a list) per box beside the boxes: in a dict,
    ``labels`` (or a key containing ``label``) and ``_PER_BOX_KEYS``, which must then have one row per box; in a
    tuple or list, the other one-dimensional sequences of ``count`` entries (``(image, boxes, labels)``). Returns
    (entries, ambiguous): in a tuple, several such sequences cannot be told apart from, say, an image size."""
    parent_path = boxes_path[:-1]
    parent = _get(x, parent_path)
    if isinstance(parent, dict):
        keys = [k for k in parent if isinstance(k, str) and k.lower() == "labels"] or \
               [k for k in parent if isinstance(k, str) and "label" in k.lower()]
        keys += [k for k in parent if isinstance(k, str) and k.lower() in _PER_BOX_KEYS and k not in keys]
        out = []
        for k in keys:
            v = parent[k]
            if _kind(v) is not None or not _rows(v):
                continue
            if len(v) != count:
                raise ImageInputError(f"{k!r} has {len(v)} entries for {count} boxes: give one per box")
            out.append(parent_path + (k,))
        return out, []
    found = [parent_path + (i,) for i, v in enumerate(parent) if i != boxes_path[-1] and _kind(v) is None
             and _flat(v) and len(v) == count]
    return (found, []) if len(found) <= 1 else ([], found)


def _rows(v: Any) -> bool:
    """A sequence with one row per object: a tensor or array of at least one dimension, a list or tuple."""
    if is_tensor(v) or isinstance(v, np.ndarray):
        return v.ndim >= 1
    return isinstance(v, (list, tuple))


def _flat(v: Any) -> bool:
    if is_tensor(v) or isinstance(v, np.ndarray):
        return v.ndim == 1
    return isinstance(v, (list, tuple)) and all(not _containers(e) for e in v)


def call_structured(pipe: Any, x: Any, seed: int | None, **options) -> Any:
    """Augment the image of a (nested) tuple/list/dict and move its annotations with it; the same structure comes
    back. Boxes that leave the image take their per-box entries (labels, ...) with them (``_per_box_entries``).
    ``options``: ``ignore_index`` of a class-id mask."""
    where: dict[str, tuple] = {}
    image_at = None
    plain_image = None  # a plain CxHxW tensor stands for the image when no tv_tensors.Image is there (torchvision)
    for path, v in _walk(x):
        kind = _kind(v)
        if kind == "image":
            if image_at is not None:
                raise ImageInputError("the input holds two images: pass one image with its annotations")
            image_at = path
        elif kind is not None:
            if kind in where:
                raise ImageInputError(f"the input holds two {kind}: pass one of each (boxes, masks, keypoints)")
            where[kind] = path
        elif plain_image is None and is_tensor(v) and v.ndim == 3:
            plain_image = path
    if image_at is None:
        image_at = plain_image
    if image_at is None:
        raise ImageInputError("the input holds annotations but no image: add a tv_tensors.Image (or a CxHxW tensor)")
    image = _get(x, image_at)
    if _tv_class(image, "Video"):
        if where:
            raise ImageInputError("annotations of videos are not supported: pass the video alone")
        out_video, _ = call_video(pipe, image, seed)
        return _replace(x, {image_at: out_video})
    ann = {key: _get(x, path) for key, path in where.items()}
    if not ann:
        return _replace(x, {image_at: pipe(image, seed=seed)})
    companions, ambiguous = _per_box_entries(x, where["boxes"], len(ann["boxes"])) if "boxes" in ann else ([], [])
    kp = ann.get("keypoints")
    if kp is not None and "boxes" in ann and kp.ndim == 2:
        raise ImageInputError("tv_tensors.KeyPoints of shape (N, 2) beside boxes: give the keypoints per object, "
                              "(number of boxes, K, 2), so that they follow their boxes")
    if "boxes" in ann:
        ann["labels"] = list(range(len(ann["boxes"])))  # which boxes are kept
    res = pipe(image, seed=seed, **ann, **options)
    if ambiguous and len(res["labels"]) != len(ann["boxes"]):
        raise ImageInputError(f"boxes left the image, and {len(ambiguous)} other entries of the sample have one value "
                              "per box: which are per-box cannot be told; pass the target as a dict with 'labels'")
    changed = {image_at: res["image"], **{path: res[key] for key, path in where.items()}}
    for path in companions:
        changed[path] = select_rows(_get(x, path), list(res["labels"]))
    return _replace(x, changed)


def select_rows(values: Any, keep: list[int]) -> Any:
    """The entries of ``values`` (a tensor, array, list or tuple) at ``keep``, in the same kind of container."""
    if is_tensor(values):
        import torch

        return values[torch.as_tensor(keep, dtype=torch.long, device=values.device)]
    if isinstance(values, np.ndarray):
        return values[np.asarray(keep, dtype=np.int64)]
    return type(values)(values[i] for i in keep) if isinstance(values, (list, tuple)) else [values[i] for i in keep]


def _get(x: Any, path: tuple) -> Any:
    for k in path:
        x = x[k]
    return x


def _replace(x: Any, changed: dict, path: tuple = ()) -> Any:
    """``x`` with the values at the ``changed`` paths replaced: the same containers (types kept, namedtuples too),
    rebuilt only along the changed paths."""
    if path in changed:
        return changed[path]
    if not any(p[:len(path)] == path for p in changed):
        return x
    if isinstance(x, dict):  # a copy keeps the dict's own kind (OrderedDict, defaultdict's factory, a subclass)
        import copy

        out_dict = copy.copy(x)
        for k, v in x.items():
            out_dict[k] = _replace(v, changed, path + (k,))
        return out_dict
    out = [_replace(v, changed, path + (i,)) for i, v in enumerate(x)]
    if isinstance(x, tuple):
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    return out if type(x) is list else type(x)(out)
