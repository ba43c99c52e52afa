"""Batches on the device: one pass over an ``NxCxHxW`` tensor, each sample with its own drawn values.

Values are drawn on the CPU exactly as for single calls (each sample's seed, each step's own generator, see
``augment.seeding``), so a batch records the same manifest values as the CPU backends. Applying them runs on the
tensor's device, op by op over the samples the op runs for:

- flips and fixed-size crops by indexing;
- the affine family (rotate, zoom, affine, perspective) and random_resized_crop as one ``grid_sample`` warp of
  all samples, from the same matrices the CPU backends use (``augment.compile.geometry``), with the same border
  rules (constant fill, reflect-101, replicate);
- photometric ops (brightness_contrast, hsv, gamma, grayscale) as batched tensor arithmetic with one factor per
  sample (torchvision's formulas), cutout by indexing;
- pad (the same pads for every sample) as one torchvision pad, to_dtype as one elementwise conversion;
- gaussian_noise from each sample's recorded ``noise_seed``: on the CPU the same numpy field as the CPU backends,
  on another device a ``torch.Generator`` of that device seeded with it (the same pattern on that device every
  time, another pattern of the same sigma than the CPU backends).

Every other op (and any op added later without a batched kernel) falls back to the CPU backend per sample, library
transforms by name too (``albumentations.X``, ``torchvision.X``: each draws from its own sample's pixels at that
step, as a single call does, and is listed in ``BatchResult.fallback``).
The state between ops stays uint8, as on the CPU, so each sample matches its single call within the tolerance
documented for the two CPU backends (the warps interpolate in float where OpenCV uses fixed point).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from augment.compile.geometry import affine_matrix, perspective_points
from augment.compile.pixels import ImageInputError
from augment.compile.tensors import chw_into, from_uint8, hwc_copy, is_tensor, to_uint8, wanted_dtype
from augment.ops.drawn import DrawnValueError, check_drawn
from augment.ops.image_ops import MULTI_IMAGE_OPS, gaussian_noise_field
from augment.ops.registry import ImageContext

__all__ = ["BATCHED_OPS", "KERNELS_CHOICES", "BatchResult", "run_tensor_batch", "is_tensor_batch"]


@dataclass
class BatchResult:
    """The augmented batch (the caller's type, dtype and device), the applied ops and drawn values of each sample
    (``applied[i]`` is what a manifest records for sample ``i``) and the seeds. ``result[i]`` is sample ``i`` as an
    ``AugmentResult``-like record with ``output``, ``applied`` and ``seed``."""

    output: Any
    applied: list[list[dict]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)  # ops that ran per sample on the CPU backend
    sizes: list[list[tuple[int, int]]] = field(default_factory=list)  # per sample: (h, w) each op saw

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, i: int):
        from types import SimpleNamespace

        return SimpleNamespace(output=self.output[i], applied=self.applied[i], seed=self.seeds[i])

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def is_tensor_batch(x: Any) -> bool:
    if is_tensor(x):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(is_tensor(t) for t in x)


def _stack(x: Any):
    import torch

    if is_tensor(x):
        if x.ndim != 4:
            raise ImageInputError(f"batches must be NxCxHxW tensors, got shape {tuple(x.shape)}: use pipe(x) for one "
                                  "image")
        return x, False
    shapes = {tuple(t.shape) for t in x}
    if len(shapes) != 1:
        raise ImageInputError(f"a batch's tensors must share one shape, got {sorted(shapes)[:3]}: resize them first "
                              "or augment them one by one with pipe(x)")
    if len({t.dtype for t in x}) != 1 or len({t.device for t in x}) != 1:
        raise ImageInputError("a batch's tensors must share one dtype and device")
    return torch.stack([t.as_subclass(torch.Tensor) for t in x]), True


def _check_batch(x) -> None:
    import torch

    if x.shape[0] < 1 or x.shape[1] not in (1, 2, 3, 4) or x.shape[2] < 1 or x.shape[3] < 1:
        raise ImageInputError(f"batches must be NxCxHxW with C in 1-4 and pixels, got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ImageInputError(f"tensor images must be uint8 (0-255) or float in [0, 1], got {x.dtype}")
    if x.is_floating_point():
        lo, hi = float(x.min()), float(x.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise ImageInputError(f"float tensor images must hold values in [0, 1], got [{lo:g}, {hi:g}]: divide by "
                                  "255 or pass uint8")


KERNELS_CHOICES = ("auto", "batched", "per_sample")


def run_tensor_batch(pipe: Any, x: Any, seeds: list[int] | None = None, records: list | None = None,
                     kernels: str = "auto") -> BatchResult:
    """Augment a batch (``records``: replay the recorded ops of each sample instead of drawing).

    ``kernels``: ``batched`` runs the batched tensor kernels on the tensor's device; ``per_sample`` runs each
    sample's chain on the CPU backend, exactly as its single call does, one thread per core (``_run_per_sample``);
    ``auto`` (the default) is ``batched`` on accelerators and ``per_sample`` for CPU tensors, where OpenCV's
    uint8 kernels beat float tensor arithmetic.
    """
    if kernels not in KERNELS_CHOICES:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS_CHOICES)}, got {kernels!r}")
    batch, was_list = _stack(x)
    if batch.shape[0] == 0 and batch.ndim == 4 and batch.shape[1] in (1, 2, 3, 4):
        # an empty batch (the last of a sampler, a filtered one): nothing to draw, an empty batch back
        if seeds is not None and len(seeds) or records is not None and len(records):
            raise ValueError(f"0 images but {len(seeds or records)} seeds or records")
        return BatchResult(batch.clone(), [], [], [], [])
    _check_batch(batch)
    n = batch.shape[0]
    if records is not None:
        records = [r.applied if hasattr(r, "applied") else (r.get("ops", []) if isinstance(r, dict) else r)
                   for r in records]
        if len(records) != n:
            raise ValueError(f"{n} images but {len(records)} records")
        seeds = list(seeds) if seeds is not None else [None] * n
    else:
        seeds = [pipe._next_seed() for _ in range(n)] if seeds is None else [int(s) for s in seeds]
    if len(seeds) != n:
        raise ValueError(f"{n} images but {len(seeds)} seeds")
    state = to_uint8(batch.detach())
    if records is not None:  # checked against the pipeline before any pixel moves
        recorded = [_recorded(pipe, rec, i) for i, rec in enumerate(records)]
    if kernels == "per_sample" or (kernels == "auto" and state.device.type == "cpu"):
        plans = [None] * n if records is None else recorded
        state, applied, sizes, fallback = _run_per_sample(pipe, state, seeds, plans)
    else:
        plans = [{leaf.key: rng for leaf, rng in pipe.plan(s)} for s in seeds] if records is None else recorded
        state, applied, sizes, fallback = _run_batched(pipe, state, plans, drawing=records is None)
    wanted = wanted_dtype(applied[0]) if applied else None  # a to_dtype step (p=1 in a batch: every sample's)
    out = from_uint8(state, batch, wanted)
    if was_list:
        out = [from_uint8(t, x[0], wanted) for t in state]
    elif type(x).__module__.startswith("torchvision"):
        out = type(x)(out)
    return BatchResult(out, applied, seeds, fallback, sizes)


def _run_batched(pipe: Any, state, plans: list[dict], drawing: bool):
    """Op by op over the samples each op runs for, with the batched kernels on the batch's device."""
    n = state.shape[0]
    run = _Batched(pipe, state, n)
    applied: list[list[dict]] = [[] for _ in range(n)]
    sizes: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for leaf in pipe.leaves():
        members = [i for i in range(n) if leaf.key in plans[i]]
        if not members:
            continue
        ctxs = [run.context(i) for i in members]
        if drawing and (leaf.op.origin or {}).get("library"):
            # a library transform draws from the sample itself (get_params_dependent_on_data): each sample's
            # pixels as they are at this step, so its values are those of the single call; it runs per sample
            from augment.compile import library_adapter

            drawn = [library_adapter.draw(leaf.op, leaf.params, plans[i][leaf.key], run.image(i)) for i in members]
        elif drawing:
            drawn = [leaf.op.sample(leaf.params, plans[i][leaf.key], c) for i, c in zip(members, ctxs)]
        else:
            drawn = [_checked(leaf, plans[i][leaf.key], c, i) for i, c in zip(members, ctxs)]
        run.apply(leaf, members, drawn)
        for i, d, c in zip(members, drawn, ctxs):
            applied[i].append(_entry(leaf, d))
            sizes[i].append((c.height, c.width))
    return run.state, applied, sizes, run.fallback


class _Batched:
    """The batch as one NxCxHxW uint8 tensor on its device; ops run as batched kernels where they have one."""

    def __init__(self, pipe: Any, state, n: int) -> None:
        self.pipe, self.state, self.n = pipe, state, n
        self.fallback: list[str] = []

    def context(self, i: int) -> ImageContext:
        _, c, h, w = self.state.shape
        return ImageContext(h, w, c)

    def image(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.state[i].permute(1, 2, 0).cpu().numpy())

    def apply(self, leaf, members: list[int], drawn: list[dict]) -> None:
        import torch

        idx = torch.as_tensor(members, device=self.state.device)
        sub = self.state if len(members) == self.n else self.state.index_select(0, idx)
        out, ran_batched = _apply(self.pipe, leaf, sub, drawn)
        if not ran_batched and leaf.op.name not in self.fallback:
            self.fallback.append(leaf.op.name)
        if len(members) == self.n:
            self.state = out
        elif out.dtype != sub.dtype:  # normalize: float pixels for some samples, uint8 for the others
            raise ValueError(_FLOAT_ERROR.format(op=leaf.op.name, path=leaf.path))
        elif out.shape == sub.shape:
            self.state = self.state.index_copy(0, idx, out)
        else:
            raise ValueError(_SIZE_ERROR.format(op=leaf.op.name, path=leaf.path))


# --- CPU tensors: the CPU backend per sample, each sample's whole chain on one thread ---------------------------


def _run_per_sample(pipe: Any, state, seeds: list, plans: list):
    """Each sample's chain of ops on the CPU backend, exactly as its single call runs it (the same draws, kernels
    and bytes); the samples spread over one thread per core, each thread taking the next sample when it is done
    (OpenCV releases the GIL).

    A sample goes from planes to pixels once (``tensors.hwc_copy``), runs all its steps while it is in its core's
    cache (no barrier between ops, no task per op), and its result is split straight into its slot of the
    contiguous output batch (``tensors.chw_into``). The kernels are the single call's, so the work per sample is
    about a single call's less its per-call overhead (type checks, result objects, stacking): the speed-up over a
    loop comes mostly from the threads. ``plans[i]``: None to draw from ``seeds[i]``, else sample i's checked
    record.
    """
    import torch

    cpu = state.cpu()
    n = cpu.shape[0]
    leaves = pipe.leaves()
    done: list = [None] * n

    def chain(i: int) -> None:
        image = hwc_copy(cpu[i])
        record = plans[i]
        steps = pipe.plan(seeds[i]) if record is None else [(leaf, record[leaf.key]) for leaf in leaves
                                                            if leaf.key in record]
        applied, sizes, trace = [], [], {}
        for leaf, source in steps:
            h, w, c = image.shape
            ctx = ImageContext(h, w, c)
            if record is not None:
                drawn = _checked(leaf, source, ctx, i)
            elif (leaf.op.origin or {}).get("library"):  # draws from the sample's pixels, as a single call does
                from augment.compile import library_adapter

                drawn = library_adapter.draw(leaf.op, leaf.params, source, image)
            else:
                drawn = leaf.op.sample(leaf.params, source, ctx)
            image = pipe._apply_image(leaf, image, drawn)
            applied.append(_entry(leaf, drawn))
            sizes.append((h, w))
            trace[leaf.key] = (image.shape, image.dtype)
        done[i] = (image, applied, sizes, trace)

    workers = _workers(n)
    _each(chain, n, workers)
    first = done[0][0]
    if any(d[0].shape != first.shape or d[0].dtype != first.dtype for d in done):
        raise ValueError(_diverging(leaves, (tuple(cpu.shape[2:]) + (cpu.shape[1],), np.dtype(np.uint8)), done))
    h, w, c = first.shape
    out = torch.from_numpy(np.empty((n, c, h, w), dtype=first.dtype))
    planes = out.numpy()
    _each(lambda i: chw_into(done[i][0], planes[i]), n, workers)
    ran = {entry["path"] for d in done for entry in d[1]}
    fallback = list(dict.fromkeys(leaf.op.name for leaf in leaves
                                  if leaf.path in ran and (leaf.op.origin or {}).get("library")))
    return out.to(state.device), [d[1] for d in done], [d[2] for d in done], fallback


def _workers(n: int) -> int:
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, cores, torch.get_num_threads()))


def _each(fn: Callable[[int], None], n: int, workers: int) -> None:
    """``fn(i)`` for every sample on ``workers`` threads (this one among them), each taking the next sample as it
    finishes one. Every sample runs; a failure is raised after, the lowest sample's, so which error a batch gives
    does not depend on thread timing. An interrupt (Ctrl-C) stops the helpers at their next sample."""
    errors: dict[int, Exception] = {}

    def run(i: int) -> None:
        try:
            fn(i)
        except Exception as exc:  # noqa: BLE001 - raised below, in sample order
            errors[i] = exc

    if workers <= 1:
        for i in range(n):
            run(i)
    else:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        lock, stop = threading.Lock(), threading.Event()
        pending = iter(range(n))

        def drain() -> None:
            while not stop.is_set():
                with lock:
                    i = next(pending, None)
                if i is None:
                    return
                run(i)

        with ThreadPoolExecutor(workers - 1) as pool:
            helpers = [pool.submit(drain) for _ in range(workers - 1)]
            try:
                drain()
            except BaseException:
                stop.set()
                raise
            for f in helpers:
                f.result()
    if errors:
        raise errors[min(errors)]


def _diverging(leaves: list, start: tuple, done: list) -> str:
    """The error naming the first step after which the samples' results stop sharing one size and pixel type."""
    now = [start] * len(done)
    for leaf in leaves:
        now = [d[3].get(leaf.key, s) for d, s in zip(done, now)]
        if len({s[1] for s in now}) > 1:
            return _FLOAT_ERROR.format(op=leaf.op.name, path=leaf.path)
        if len({s[0] for s in now}) > 1:
            return _SIZE_ERROR.format(op=leaf.op.name, path=leaf.path)
    return "the samples of the batch end with different sizes: augment them one by one"


_SIZE_ERROR = ("{op} at {path} changes the size of some samples of the batch only (it runs with p < 1): give "
               "size-changing ops p=1 for batches, or augment one by one")
_FLOAT_ERROR = ("{op} at {path} gives some samples of the batch float pixels only (it runs with p < 1): give it "
                "p=1 for batches, or augment one by one")


def _entry(leaf, drawn: dict) -> dict:
    """A sample's record of one step, as a single call writes it (``pipeline._entry``): plugin and library ops
    name the distribution and version that drew the values."""
    entry = {"op": leaf.op.name, "path": leaf.path, "params": drawn}
    origin = leaf.op.origin
    if origin is not None:
        entry["provider"] = f"{origin.get('distribution') or origin.get('module')} {origin.get('version') or ''}".strip()
    return entry


def _recorded(pipe: Any, record: Any, i: int) -> dict:
    if not isinstance(record, list):
        raise DrawnValueError(f"records[{i}]: recorded ops must be a list, got {type(record).__name__}")
    leaves = {leaf.path: leaf for leaf in pipe.leaves()}
    plan = {}
    for j, entry in enumerate(record):
        if not isinstance(entry, dict) or not {"op", "path", "params"} <= set(entry):
            raise DrawnValueError(f"records[{i}].ops[{j}]: expected a mapping with op, path and params")
        leaf = leaves.get(entry["path"]) if isinstance(entry["path"], str) else None
        if leaf is None or leaf.op.name != entry["op"]:
            raise DrawnValueError(f"records[{i}].ops[{j}]: names {str(entry['op'])[:60]!r} at "
                                  f"{str(entry['path'])[:60]!r}, which this pipeline does not have")
        plan[leaf.key] = entry["params"]
    return plan


def _checked(leaf, values: dict, ctx: ImageContext, i: int) -> dict:
    try:
        if leaf.op.check_record is not None:  # plugin and library ops describe their own records
            leaf.op.check_record(values, leaf.params, ctx)
        else:
            check_drawn(leaf.op.name, leaf.params, values, ctx)
    except DrawnValueError as exc:
        raise DrawnValueError(f"records[{i}]: {leaf.op.name} at {leaf.path}: {exc}") from None
    return values


# --- applying one op to the samples it runs for ---------------------------------------------------------------


def _apply(pipe: Any, leaf, x, drawn: list[dict]):
    """(output, True) from the batched kernel, or (output, False) from the per-sample CPU fallback."""
    kernel = KERNELS.get(leaf.op.name)
    if kernel is not None and leaf.op.compose is None and leaf.op.name not in MULTI_IMAGE_OPS:
        channels, fn = kernel
        if x.shape[1] in channels:
            out = fn(x, drawn, leaf.params)
            if out is not None:
                return out, True
    return _per_sample(pipe, leaf, x, drawn), False


def _per_sample(pipe: Any, leaf, x, drawn: list[dict]):
    import torch

    outs = []
    for i, d in enumerate(drawn):
        arr = np.ascontiguousarray(x[i].permute(1, 2, 0).cpu().numpy())
        out = pipe._apply_image(leaf, arr, d)
        outs.append(torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1))
    if len({tuple(o.shape) for o in outs}) != 1:
        raise ValueError(f"{leaf.op.name} at {leaf.path} gives the samples of the batch different sizes: "
                         "augment them one by one")
    return torch.stack(outs).to(x.device)


# --- geometry: one grid_sample for all samples ----------------------------------------------------------------

_PADDING = {"constant": "zeros", "reflect": "reflection", "replicate": "border"}
_MODE = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic"}


def _warp(x, inverse: np.ndarray, out_hw: tuple[int, int], interpolation: str, border: str, fill: float,
          clamp: np.ndarray | None = None):
    """Warp every sample by its 3x3 output->source pixel matrix (OpenCV convention: pixel centres at integers).
    ``clamp`` (N x 4: x0, y0, x1, y1) keeps source points inside a box, as resizing a crop replicates its edges."""
    import torch
    import torch.nn.functional as tf

    n, _, h, w = x.shape
    ho, wo = out_hw
    dev = x.device
    ys = torch.arange(ho, device=dev, dtype=torch.float32)
    xs = torch.arange(wo, device=dev, dtype=torch.float32)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(1, -1, 3)
    inv = torch.as_tensor(inverse, dtype=torch.float32, device=dev)
    src = pts @ inv.transpose(1, 2)
    sx, sy = src[..., 0] / src[..., 2], src[..., 1] / src[..., 2]
    if clamp is not None:
        box = torch.as_tensor(clamp, dtype=torch.float32, device=dev)
        sx = torch.minimum(torch.maximum(sx, box[:, 0:1]), box[:, 2:3])
        sy = torch.minimum(torch.maximum(sy, box[:, 1:2]), box[:, 3:4])
    if border == "reflect":  # reflect-101 mirrors about the edge pixels' centres: align_corners=True
        nx, ny = sx * (2.0 / (w - 1)) - 1.0, sy * (2.0 / (h - 1)) - 1.0
    else:
        nx, ny = (2.0 * sx + 1.0) / w - 1.0, (2.0 * sy + 1.0) / h - 1.0
    grid = torch.stack([nx, ny], dim=-1).reshape(n, ho, wo, 2)
    xf = x.float()
    # Outside pixels count as `fill` in the interpolation, as in OpenCV: sample (x - fill) with zero padding
    shift = float(fill) if border == "constant" and fill else 0.0
    if shift:
        xf = xf - shift
    out = tf.grid_sample(xf, grid, mode=_MODE[interpolation], padding_mode=_PADDING[border],
                         align_corners=border == "reflect")
    if shift:
        out = out + shift
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _matrix_kernel(matrix: Callable[[int, int, dict], np.ndarray]):
    def kernel(x, drawn: list[dict], p):
        h, w = x.shape[-2:]
        if min(h, w) < 2:  # 1-pixel sides: the CPU backends' special cases apply
            return None
        mats = np.stack([matrix(h, w, d) for d in drawn])
        return _warp(x, np.linalg.inv(mats), (h, w), p.interpolation, p.border, p.fill)

    return kernel


def _perspective_matrix(h: int, w: int, d: dict) -> np.ndarray:
    import cv2

    src, dst = perspective_points(h, w, d["corners"])
    return cv2.getPerspectiveTransform(src, dst)


def _random_resized_crop(x, drawn: list[dict], p):
    h, w = x.shape[-2:]
    ho, wo = tuple(p.size) if p.size is not None else (h, w)
    inv = np.zeros((len(drawn), 3, 3))
    clamp = np.array([[d["left"], d["top"], d["left"] + d["width"] - 1, d["top"] + d["height"] - 1] for d in drawn],
                     dtype=np.float64)
    for i, d in enumerate(drawn):
        sx, sy = d["width"] / wo, d["height"] / ho
        # output pixel centre u+0.5 maps to left + (u+0.5)*sx in the source (cv2.resize's half-pixel rule)
        inv[i] = [[sx, 0, d["left"] + 0.5 * sx - 0.5], [0, sy, d["top"] + 0.5 * sy - 0.5], [0, 0, 1]]
    return _warp(x, inv, (ho, wo), p.interpolation, "replicate", 0, clamp)


def _crop(x, drawn: list[dict], p):
    import torch

    return torch.stack([x[i, :, d["top"]: d["top"] + p.height, d["left"]: d["left"] + p.width]
                        for i, d in enumerate(drawn)])


# --- photometric: one factor per sample -----------------------------------------------------------------------


def _factor(x, drawn: list[dict], key: str):
    import torch

    return torch.tensor([float(d[key]) for d in drawn], dtype=torch.float32, device=x.device).view(-1, 1, 1, 1)


def _to_u8(t):
    import torch

    return t.clamp_(0, 255).to(torch.uint8)


def _gray(xf):
    r, g, b = xf.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)


def _brightness(xf, f):
    return xf.mul(f).clamp_(0, 255).floor_()


def _contrast(xf, f):
    gray = _gray(xf).floor_() if xf.shape[1] == 3 else xf
    mean = gray.mean(dim=(1, 2, 3), keepdim=True)
    return xf.mul(f).add_(mean * (1.0 - f)).clamp_(0, 255).floor_()


def _brightness_contrast(x, drawn, p):
    out = _brightness(x.float(), _factor(x, drawn, "brightness"))
    return _to_u8(_contrast(out, _factor(x, drawn, "contrast")))


def _hsv(x, drawn, p):
    import torch
    from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

    hsv = _rgb_to_hsv(x.float() / 255.0)
    h, s, v = hsv.unbind(dim=1)
    hue = _factor(x, drawn, "hue").view(-1, 1, 1)
    rgb = _hsv_to_rgb(torch.stack(((h + hue).remainder_(1.0), s, v), dim=1))
    out = rgb.mul_(255.0 + 1.0 - 1e-3).floor_().clamp_(0, 255)  # torchvision's float -> uint8 conversion
    sat = _factor(x, drawn, "saturation")
    out = out.mul(sat).add_(_gray(out).floor_() * (1.0 - sat)).clamp_(0, 255).floor_()
    return _to_u8(_brightness(out, _factor(x, drawn, "value")))


def _gamma(x, drawn, p):
    out = (x.float() / 255.0).pow_(_factor(x, drawn, "gamma"))
    return _to_u8(out.mul_(255.0 + 1.0 - 1e-3).floor_())


def _grayscale(x, drawn, p):
    gray = _to_u8(_gray(x.float()))
    return gray.expand(-1, 3, -1, -1).contiguous() if p.keep_channels else gray


def _gaussian_noise(x, drawn, p):
    import torch

    n, c, h, w = x.shape
    if x.device.type == "cpu":  # the CPU backends' own field (torchvision's rounding)
        fields = [gaussian_noise_field((h, w, c), d["sigma"], d["noise_seed"], p.per_channel) for d in drawn]
        noise = torch.from_numpy(np.stack(fields)).permute(0, 3, 1, 2)
    else:
        planes = []
        for d in drawn:
            g = torch.Generator(device=x.device)
            g.manual_seed(int(d["noise_seed"]))
            shape = (c, h, w) if p.per_channel else (1, h, w)
            planes.append(torch.randn(shape, generator=g, device=x.device).mul_(float(d["sigma"])).expand(c, h, w))
        noise = torch.stack(planes)
    return _to_u8(x.float().add_(noise).round_())


def _cutout(x, drawn, p):
    out = x.clone()
    for i, d in enumerate(drawn):
        for top, left, h, w in d["boxes"]:
            out[i, :, top: top + h, left: left + w] = d["fill"]
    return out


def _pad(x, drawn, p):
    """Every sample gets the same pads (they follow from the params): one torchvision pad of the whole batch."""
    from augment.compile import backend_torchvision_native as tvn

    d = drawn[0]
    h, w = x.shape[-2:]
    if any(e != d for e in drawn) or (p.border == "reflect" and (max(d["top"], d["bottom"]) >= h
                                                                  or max(d["left"], d["right"]) >= w)):
        return None  # torch reflects at most side - 1 pixels: the CPU backend per sample
    return tvn.KERNELS["pad"](x, d, p)


def _to_dtype(x, drawn, p):
    from augment.compile import backend_torchvision_native as tvn

    return tvn.KERNELS["to_dtype"](x, drawn[0], p)  # elementwise, the same float32 arithmetic as numpy's


_ANY = (1, 2, 3, 4)
_COLOUR = (1, 3)  # pixel ops leave an alpha channel alone: images with one go through the fallback
KERNELS: dict[str, tuple[tuple[int, ...], Callable]] = {
    "horizontal_flip": (_ANY, lambda x, d, p: x.flip(-1)),
    "vertical_flip": (_ANY, lambda x, d, p: x.flip(-2)),
    "crop": (_ANY, _crop),
    "random_resized_crop": (_ANY, _random_resized_crop),
    "rotate": (_ANY, _matrix_kernel(lambda h, w, d: affine_matrix(h, w, angle=d["angle"]))),
    "zoom": (_ANY, _matrix_kernel(lambda h, w, d: affine_matrix(h, w, scale=d["scale"]))),
    "affine": (_ANY, _matrix_kernel(lambda h, w, d: affine_matrix(h, w, **d))),
    "perspective": (_ANY, _matrix_kernel(_perspective_matrix)),
    "brightness_contrast": (_COLOUR, _brightness_contrast),
    "hsv": ((3,), _hsv),
    "gamma": (_COLOUR, _gamma),
    "grayscale": ((3,), _grayscale),
    "gaussian_noise": (_COLOUR, _gaussian_noise),
    "cutout": (_ANY, _cutout),
    "pad": (_ANY, _pad),
    "to_dtype": (_ANY, _to_dtype),
}

BATCHED_OPS = frozenset(KERNELS)
"""Ops with a batched kernel; every other op runs per sample on the CPU backend inside a batch."""
