"""Drawing and applying library transforms by name (``albumentations.X``, ``torchvision.X``).

Randomness comes from the step's generator, never from the library's global state: albumentations 2 transforms
get a fresh ``set_random_seed`` from it before each draw; torchvision's ``make_params`` runs with torch's CPU
generator seeded from it and put back afterwards (what ``torch.random.fork_rng(devices=[])`` + ``torch.manual_seed``
give on the CPU, without seeding other devices), under a lock, so no global state leaks in or out. What the library
drew is encoded as JSON (``augment.ops.library_ops.encode``), which ``decode`` turns back into equal values
(tuples, dtypes and shapes kept): a replay applies the decoded record, the run the values it just encoded. A draw
too large for a manifest record (more than ``MAX_ARRAY_VALUES`` numbers: a per-pixel noise field, a displacement
map) is recorded as the 32-bit seed it was drawn from and its sha256; a replay draws it again from that seed and
refuses to apply values whose sha256 differs.

Instances are built once per thread and spec keywords (construction runs albumentations' schema, which costs
more than many transforms), and each draw reseeds them, so a cached instance carries no state between images.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import numpy as np

from augment import seeding
from augment.ops.library_ops import (TooLargeError, build, decode, encode, fingerprint, library_of, redraw_record,
                                     transform_class)
from augment.ops.registry import OpDef

__all__ = ["draw", "apply", "run_once", "Geometry", "TorchvisionGeometry", "geometry"]

_LOCAL = threading.local()
_TORCH_RNG_LOCK = threading.Lock()


def _instance(op: OpDef, params: Any):
    cache = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = {}
    # keyed by the params object (kept alive in the entry, so its id cannot be reused while cached)
    hit = cache.get((op.name, id(params)))
    if hit is not None and hit[0] is params:
        return hit[1]
    if len(cache) > 256:
        cache.clear()
    inst = build(op.name, transform_class(op.name), params.keywords())
    cache[(op.name, id(params))] = (params, inst)
    return inst


def _values(op: OpDef, t, seed: int, image: np.ndarray) -> dict:
    """What the transform draws for ``image`` from ``seed`` (and nothing else)."""
    if op.name.startswith("albumentations."):
        t.random_generator = SeededOnUse(seed)  # what set_random_seed does (np.random.default_rng), when first used
        t.py_random = reseeded(t.py_random, seed)  # and random.Random(seed)
        data = {"image": _album_image(image)}
        values = t.get_params()
        values = t.update_transform_params(params=values, data=data)
        if t.targets_as_params and set(t.targets_as_params) - {"image"}:
            raise ValueError(f"{op.name} needs {', '.join(t.targets_as_params)} to draw its values")
        values.update(t.get_params_dependent_on_data(params=values, data=data))
        return values
    import torch

    inputs = [_tv_image(image)]
    with _TORCH_RNG_LOCK:
        if torch.get_default_device().type != "cpu":  # make_params would draw on that device's generator
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return t.make_params(inputs)
        # What fork_rng(devices=[]) + manual_seed give on the CPU generator, without torch.manual_seed's seeding of
        # every other device: it queued a CUDA seed while CUDA was not initialised (recording the call's stack,
        # ~0.15 ms of each step) and reseeded the user's GPU generators, without restoring them, once it was.
        cpu = torch.default_generator
        state = cpu.get_state()
        try:
            cpu.manual_seed(seed)
            return t.make_params(inputs)
        finally:
            cpu.set_state(state)


class SeededOnUse:
    """``np.random.default_rng(seed)``, built when the transform first uses it: most albumentations transforms draw
    from ``py_random`` alone, and building the numpy generator costs ~20 us of each library step. Values come from the
    real generator (``seeding.default_rng(seed)``, built on the first attribute asked for), so a transform that draws
    from it gets the same stream it got from an eager one. albumentations 2.0.x only calls its methods (it never
    checks the generator's type), which is what this stands in for."""

    __slots__ = ("_seed", "_rng")

    def __init__(self, seed: int) -> None:
        self._seed, self._rng = seed, None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in SeededOnUse.__slots__:  # copy and pickle probe an empty instance
            raise AttributeError(name)
        rng = self._rng
        if rng is None:
            rng = self._rng = seeding.default_rng(self._seed)
        return getattr(rng, name)

    def __repr__(self) -> str:
        return f"SeededOnUse({self._seed})"


def reseeded(py_random: Any, seed: int) -> random.Random:
    """``random.Random(seed)``: ``py_random`` itself, seeded again, where it is a plain ``random.Random`` (Python's
    ``Random.__init__`` is ``seed`` then ``gauss_next = None``; the C seeding alone skips its type checks, ~5 us of
    each library step)."""
    if type(py_random) is not random.Random or type(seed) is not int:
        return random.Random(seed)
    _seed_mersenne(py_random, seed)
    py_random.gauss_next = None
    return py_random


_seed_mersenne = random.Random.__mro__[1].seed  # _random.Random.seed, what random.Random.seed calls for an int


def draw(op: OpDef, params: Any, rng: np.random.Generator, image: np.ndarray, record: bool = True) -> dict:
    """What the transform draws for ``image``, as the JSON the manifest records: the values themselves, or for
    draws too large for a record (a per-pixel noise field) the seed that draws them again and their sha256.
    ``record=False`` (the caller wants the image alone): the values are not encoded (Affine's matrices cost ~16 µs
    a step); ``apply`` right after takes them as drawn, and the returned stand-in names the op and its seed only."""
    seed = int(rng.integers(0, 2**32))
    values = _values(op, _instance(op, params), seed, image)
    if not record:
        stand_in = {"__unrecorded__": op.name, "seed": seed}  # new each draw: apply knows it by identity; no
        # record has a "__" key (encode refuses them)
        _LOCAL.last = (stand_in, values, image)
        return stand_in
    try:
        record = encode(values)
    except TooLargeError:
        record = redraw_record(seed, values)
    except ValueError as exc:
        raise ValueError(f"{op.name}: its drawn values cannot be recorded ({exc})") from None
    _LOCAL.last = (record, values, image)  # the run applies these next; decode(record) would give the same values
    return record


def apply(op: OpDef, params: Any, image: np.ndarray, drawn: dict) -> np.ndarray:
    """The transform on ``image`` with recorded values (a run applies the values it just drew)."""
    last = getattr(_LOCAL, "last", None)
    _LOCAL.last = None  # used once: a record edited in place later must be read again
    t = _instance(op, params)
    if last is not None and last[0] is drawn and last[2] is image:  # just drawn from this image: no decoding
        values = last[1]
    elif "__unrecorded__" in drawn:
        raise ValueError(f"{op.name}: values drawn without a record are applied by the call that drew them only")
    elif "__redraw__" in drawn:
        values = _values(op, t, drawn["__redraw__"], image)
        if fingerprint(values) != drawn["sha256"]:
            raise ValueError(f"{op.name} drew other values from the recorded seed than the run did (sha256 differs): "
                             "another version of the library?")
    else:
        values = decode(drawn)
    _LOCAL.applied = (drawn, values)  # the annotations of this step move with the same values (Geometry)
    if library_of(op.name) == "albumentations":
        out = _album_apply(op, t, values, image)
    else:
        out = _hwc(t.transform(_tv_image(image), values))
    out = np.asarray(out)
    if out.ndim == 2:
        out = out[:, :, None]
    if out.ndim != 3 or (op.annotations == "pixel" and out.shape[:2] != image.shape[:2]):
        # albumentations' ToGray on a 1x1 image gave shape (3,), on 1x37 (37, 3, 1): a pixel transform keeps the size
        raise ValueError(f"{op.name} returned pixels of shape {out.shape} for a {image.shape[0]}x{image.shape[1]} "
                         f"image with {image.shape[2]} channels (a limit of the library on such images)")
    if out.dtype != np.uint8:
        raise ValueError(f"{op.name} returned {out.dtype} pixels; augment writes uint8 images")
    return np.ascontiguousarray(out)


def _album_image(image: np.ndarray) -> np.ndarray:
    return image[:, :, 0] if image.shape[2] == 1 else image


# albumentations transforms found writing into their input (AutoContrast on one-channel images): given a copy
_WRITES_INPUT: set[str] = set()


def _album_apply(op: OpDef, t, values: dict, image: np.ndarray) -> np.ndarray:
    """``apply_with_params`` on a read-only view of ``image``: a transform that writes into its input (some do, on
    some shapes) raises instead of changing the caller's pixels, and runs again on a copy; the op is then given a
    copy from the start. An output that is the input itself (a no-op draw) comes back as a copy, never as a view of
    the caller's array."""
    src = _album_image(image)
    if op.name in _WRITES_INPUT:
        return t.apply_with_params(values, image=src.copy())["image"]
    view = src.view()
    view.flags.writeable = False
    try:
        out = t.apply_with_params(values, image=view)["image"]
    except (ValueError, TypeError) as exc:  # numpy: "assignment destination is read-only"; Cython/memoryviews and
        # OpenCV's dst=: "... read-only" / "not writable"
        if "read-only" not in str(exc) and "not writable" not in str(exc) and "readonly" not in str(exc):
            raise
        _WRITES_INPUT.add(op.name)
        return t.apply_with_params(values, image=src.copy())["image"]
    if isinstance(out, np.ndarray) and np.may_share_memory(out, src):
        out = out.copy()
    return out


def _tv_image(image: np.ndarray):
    """The pixels as a CxHxW ``tv_tensors.Image`` over a copy: torch has no read-only tensors, and a transform
    may write into its input (``RandomErasing(inplace=True)``; ``torch.from_numpy`` of a read-only array also
    warned on every call). A copy costs ~1 % of the cheapest torchvision transform's call at 256x256."""
    import torch
    from torchvision import tv_tensors

    return tv_tensors.Image(torch.from_numpy(np.array(image, order="C", copy=True)).permute(2, 0, 1))


def _hwc(chw) -> np.ndarray:
    """A CxHxW tensor's pixels as an HxWxC array. A kernel that kept the input's channels-last strides gives them
    without a copy; a CxHxW-contiguous uint8 result is interleaved by ``cv2.merge`` (~10 us at 256x256x3, where
    numpy's copy of the transposed view walks C bytes per inner loop: ~0.5 ms, and torch's copy ~0.2 ms a thread)."""
    import torch

    arr = chw.as_subclass(torch.Tensor).numpy()
    hwc = arr.transpose(1, 2, 0)
    if hwc.flags.c_contiguous or not arr.flags.c_contiguous or arr.dtype != np.uint8 or not 1 < arr.shape[0] <= 4:
        return hwc
    import cv2

    return cv2.merge(list(arr))


def run_once(op: OpDef, params: Any, rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, dict]:
    drawn = draw(op, params, rng, image)
    return apply(op, params, image, drawn), drawn


def geometry(op: OpDef, params: Any, drawn: dict, hw: tuple[int, int]):
    """The geometric hooks of a library transform's step, with the values its image step just used."""
    if library_of(op.name) == "torchvision":
        return TorchvisionGeometry(op, params, drawn, hw)
    return Geometry(op, params, drawn, hw)


class Geometry:
    """An albumentations transform's own target handling as augment's geometric hooks, with the values the image
    step just used: points through ``apply_to_keypoints`` (augment's continuous coordinates, where pixel i covers
    [i, i + 1), shifted by half a pixel to albumentations' pixel indices and back), label images through
    ``apply_to_mask`` (nearest neighbour)."""

    def __init__(self, op: OpDef, params: Any, drawn: dict, hw: tuple[int, int]) -> None:
        applied = getattr(_LOCAL, "applied", None)
        if applied is None or applied[0] is not drawn:
            raise ValueError(f"{op.name}: its annotations move after its image step, with the same values")
        self.op, self.values, self.t, self.hw = op, applied[1], _instance(op, params), hw

    def _call(self, method: str, data):
        try:
            return getattr(self.t, method)(data, **self.values)
        except NotImplementedError:
            raise ValueError(f"{self.op.name} cannot move {method.removeprefix('apply_to_')}") from None

    def map_points(self, xy: np.ndarray, drawn: dict, image_hw) -> np.ndarray:
        kp = np.zeros((len(xy), 5), dtype=np.float64)
        kp[:, :2] = np.asarray(xy, dtype=np.float64) - 0.5
        kp[:, 4] = 1.0
        out = np.asarray(self._call("apply_to_keypoints", kp), dtype=np.float64)
        if out.shape[0] != len(xy):
            raise ValueError(f"{self.op.name} dropped keypoints itself, so its boxes and keypoints cannot follow; on "
                             "annotated data use another transform or the native ops")
        return out[:, :2] + 0.5

    def map_mask(self, mask: np.ndarray, drawn: dict) -> np.ndarray:
        channels = [np.asarray(self._call("apply_to_mask", np.ascontiguousarray(mask[:, :, c])))
                     for c in range(mask.shape[2])]
        return np.stack(channels, axis=2) if channels else mask

    def output_size(self, drawn: dict, image_hw) -> tuple[int, int]:
        probe = self._call("apply_to_mask", np.zeros(tuple(self.hw), dtype=np.uint8))
        return tuple(probe.shape[:2])


class TorchvisionGeometry:
    """A torchvision v2 transform's own tv_tensors handling as augment's geometric hooks, with the values the image
    step just used (``transform(inpt, params)``, one draw for image and targets as torchvision does).

    Points go through its ``BoundingBoxes`` kernels as degenerate XYXY boxes, unclamped: box kernels use augment's
    continuous coordinates (pixel i covers [i, i + 1): a flip maps x to W - x), and a box of one point stays one point
    through every affine and perspective warp. Its ``KeyPoints`` kernels are not used: their flip maps x to W - 1 - x
    while their affine and resize treat x as continuous, so they disagree with the pixels by up to a pixel. Label
    images go through its ``Mask`` kernels (nearest neighbour)."""

    def __init__(self, op: OpDef, params: Any, drawn: dict, hw: tuple[int, int]) -> None:
        applied = getattr(_LOCAL, "applied", None)
        if applied is None or applied[0] is not drawn:
            raise ValueError(f"{op.name}: its annotations move after its image step, with the same values")
        self.op, self.values, self.t, self.hw = op, applied[1], _instance(op, params), tuple(int(v) for v in hw)

    def map_points(self, xy: np.ndarray, drawn: dict, image_hw) -> np.ndarray:
        import torch
        from torchvision import tv_tensors

        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if not len(xy):
            return xy.copy()
        boxes = tv_tensors.BoundingBoxes(torch.from_numpy(np.concatenate([xy, xy], axis=1)), format="XYXY",
                                         canvas_size=self.hw, clamping_mode=None)
        out = self.t.transform(boxes, self.values).as_subclass(torch.Tensor).numpy()
        return np.ascontiguousarray(out[:, :2], dtype=np.float64)

    def map_mask(self, mask: np.ndarray, drawn: dict) -> np.ndarray:
        import torch
        from torchvision import tv_tensors

        dtype = mask.dtype
        # torch has no uint16/uint32 image kernels: labels travel as int32/int64 and come back as they were
        work = mask.astype(np.int32 if dtype.itemsize <= 2 else np.int64) if dtype.kind == "u" and dtype != np.uint8 \
            else mask
        label = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(work)).permute(2, 0, 1))
        out = self.t.transform(label, self.values).as_subclass(torch.Tensor).permute(1, 2, 0).numpy()
        return np.ascontiguousarray(out.astype(dtype, copy=False))

    def output_size(self, drawn: dict, image_hw) -> tuple[int, int]:
        probe = self.map_mask(np.zeros((*self.hw, 1), dtype=np.uint8), drawn)
        return tuple(probe.shape[:2])
