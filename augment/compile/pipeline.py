"""A compiled pipeline: the object users call on images or texts.

Compiling resolves every op through the registry once; calling walks the step tree. Each step draws from its own
generator (``augment.seeding.step_rng``) keyed by its position in the spec and the output seed, first its
``p`` decision and group choice, then its parameters. Planning (which ops run) and drawing (their values) are
kept apart from applying, so the drawn values can be recorded in a manifest and replayed exactly.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from augment.ops.catalog import registry
from augment.ops.registry import ImageContext, OpDef, OpParams, TextOpResult
from augment.seeding import step_rng
from augment.spec import PipelineSpec, load_spec, spec_hash
from augment.spec.schema import GroupStep, OpStep

_BACKENDS = {
    "albumentations": "augment.compile.backend_albumentations",
    "torchvision": "augment.compile.backend_torchvision",
}
# Ops that change pixel values only: an alpha channel is left alone, and colour-only ops skip gray images.
_PIXEL_OPS = {
    "gaussian_noise", "salt_pepper", "brightness_contrast", "hsv", "gamma", "grayscale",
    "gaussian_blur", "motion_blur", "sharpen", "jpeg",
}
_COLOUR_ONLY = {"hsv", "grayscale"}


class ImageInputError(ValueError):
    """The array or picture handed to an image pipeline is not an image it can work on."""


@dataclass(frozen=True)
class _Leaf:
    key: tuple[int, ...]
    path: str
    op: OpDef
    params: OpParams
    p: float


@dataclass(frozen=True)
class _Group:
    key: tuple[int, ...]
    path: str
    kind: str
    children: tuple
    p: float
    weights: tuple[float, ...] | None
    n: tuple[int, int] | None


@dataclass
class AugmentResult:
    """One augmented output and the ops applied to produce it, with their drawn values."""

    output: Any
    applied: list[dict] = field(default_factory=list)


def _compile(steps: Sequence, key: tuple[int, ...], path: str) -> tuple:
    nodes = []
    reg = registry()
    for i, step in enumerate(steps):
        k, here = key + (i,), f"{path}[{i}]"
        if isinstance(step, OpStep):
            nodes.append(_Leaf(k, here, reg.get(step.op), step.params, step.p))
        else:
            assert isinstance(step, GroupStep)
            children = _compile(step.steps, k, f"{here}.{step.kind}")
            nodes.append(_Group(k, here, step.kind, children, step.p, step.weights, step.n))
    return tuple(nodes)


def _plan(nodes: tuple, seed: int, out: list) -> list:
    """Append (leaf, generator) for every op that runs for this seed, in spec order."""
    for node in nodes:
        rng = step_rng(seed, node.key)
        if node.p < 1.0 and not rng.random() < node.p:
            continue
        if isinstance(node, _Leaf):
            out.append((node, rng))
        elif node.kind == "sequence":
            _plan(node.children, seed, out)
        elif node.kind == "one_of":
            weights = np.asarray(node.weights or [1.0] * len(node.children), dtype=np.float64)
            pick = int(rng.choice(len(node.children), p=weights / weights.sum()))
            _plan((node.children[pick],), seed, out)
        else:  # some_of: n distinct children, run in spec order
            lo, hi = node.n
            count = int(rng.integers(lo, hi + 1))
            picked = sorted(rng.choice(len(node.children), size=count, replace=False).tolist())
            _plan(tuple(node.children[i] for i in picked), seed, out)
    return out


class Pipeline:
    """A compiled, picklable augmentation pipeline.

    ``pipeline(x, seed=s)`` augments one image (HxW or HxWxC uint8 array, or PIL image) or one text. Without a
    seed, seeds come from the pipeline's own stream: in the main process it starts from the spec seed; inside a
    ``torch.utils.data.DataLoader`` worker it starts from ``SeedSequence([spec seed, worker seed])`` where the
    worker seed is torch's per-worker seed (base seed + worker id), so runs are reproducible whenever the
    DataLoader is (``torch.manual_seed`` or a seeded ``generator=``) and workers never repeat each other.
    """

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.spec_hash = spec_hash(spec)
        self._nodes = _compile(spec.steps, (), "steps")
        self._backend = None
        self._stream: np.random.Generator | None = None
        self._stream_owner: tuple | None = None
        self._lock = threading.Lock()

    # -- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_spec(cls, spec: PipelineSpec) -> "Pipeline":
        return cls(spec)

    @classmethod
    def from_file(cls, path: str | Path) -> "Pipeline":
        return cls(load_spec(path))

    @property
    def modality(self) -> str:
        return self.spec.modality

    def __repr__(self) -> str:
        return f"Pipeline(name={self.spec.name!r}, modality={self.modality!r}, hash={self.spec_hash})"

    # -- pickling: modules, locks and streams are per process ----------------------------------------------
    def __getstate__(self) -> dict:
        return {"spec": self.spec}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["spec"])

    # -- seeds ---------------------------------------------------------------------------------------------
    def _next_seed(self) -> int:
        with self._lock:
            owner = _stream_owner()
            if self._stream is None or self._stream_owner != owner:
                entropy = [self.spec.seed] + ([owner[1] & (2**64 - 1)] if owner[1] is not None else [])
                self._stream = np.random.default_rng(np.random.SeedSequence(entropy))
                self._stream_owner = owner
            return int(self._stream.integers(0, 2**63 - 1))

    def leaves(self) -> list[_Leaf]:
        """Every op step of the spec, in spec order (each with its op definition and validated params)."""
        return list(_leaves(self._nodes))

    def plan(self, seed: int) -> list[tuple[_Leaf, np.random.Generator]]:
        return _plan(self._nodes, seed, [])

    # -- images --------------------------------------------------------------------------------------------
    @property
    def backend(self):
        if self._backend is None:
            self._backend = importlib.import_module(_BACKENDS[self.spec.backend])
        return self._backend

    def __call__(self, x: Any, seed: int | None = None) -> Any:
        return self.run(x, seed=seed).output

    def run(self, x: Any, seed: int | None = None) -> AugmentResult:
        """Augment one input and return the output with the list of applied ops and their drawn values."""
        if seed is None:
            seed = self._next_seed()
        if self.modality == "text":
            return self.run_batch([x], [seed])[0]
        image, restore = _to_array(x)
        applied = []
        for leaf, rng in self.plan(seed):
            ctx = ImageContext(image.shape[0], image.shape[1], image.shape[2])
            drawn = leaf.op.sample(leaf.params, rng, ctx)
            image = self._apply_image(leaf, image, drawn)
            applied.append({"op": leaf.op.name, "path": leaf.path, "params": drawn})
        return AugmentResult(restore(image), applied)

    def replay(self, x: Any, applied: list[dict]) -> Any:
        """Apply recorded ops with their recorded values (from ``run`` or a manifest record) to ``x``."""
        if self.modality == "text":
            raise ValueError("text outputs are replayed from their seed: use run(text, seed=record['seed'])")
        leaves = {leaf.path: leaf for leaf in _leaves(self._nodes)}
        image, restore = _to_array(x)
        for entry in applied:
            leaf = leaves.get(entry["path"])
            if leaf is None or leaf.op.name != entry["op"]:
                raise ValueError(f"record names {entry['op']} at {entry['path']}, which this pipeline does not have")
            image = self._apply_image(leaf, image, entry["params"])
        return restore(image)

    def _apply_image(self, leaf: _Leaf, image: np.ndarray, drawn: dict) -> np.ndarray:
        return self._apply_op(leaf.op, leaf.params, image, drawn)

    def _apply_op(self, op: OpDef, params: OpParams, image: np.ndarray, drawn: dict) -> np.ndarray:
        name = op.name
        if op.compose is not None:  # a preset: its recorded sub-ops run through this same path
            reg = registry()
            return op.compose(image, drawn, params,
                              lambda sub, img, d: self._apply_op(reg.get(sub), reg.get(sub).params(), img, d))
        if name in _PIXEL_OPS and image.shape[2] in (2, 4):
            colour, alpha = image[:, :, :-1], image[:, :, -1:]
            out = self._apply_op(op, params, np.ascontiguousarray(colour), drawn)
            return np.concatenate([out, alpha], axis=2)
        if name in _COLOUR_ONLY and image.shape[2] == 1:
            return image.copy()
        return self.backend.apply(name, image, drawn, params)

    # -- text ----------------------------------------------------------------------------------------------
    def batch(self, texts: Sequence[str], seeds: Sequence[int] | None = None) -> list[str]:
        return [r.output for r in self.run_batch(texts, seeds)]

    def run_batch(self, texts: Sequence[str], seeds: Sequence[int] | None = None) -> list[AugmentResult]:
        """Augment many texts at once: ops with a batch form (back-translation) see all their inputs together."""
        if self.modality != "text":
            raise ValueError("run_batch is for text pipelines; call the pipeline on each image")
        texts = list(texts)
        if seeds is None:
            seeds = [self._next_seed() for _ in texts]
        if len(seeds) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"text pipelines take str, got {type(t).__name__}")
        plans = [dict((leaf.key, (leaf, rng)) for leaf, rng in self.plan(s)) for s in seeds]
        current = list(texts)
        applied: list[list[dict]] = [[] for _ in texts]
        for leaf in _leaves(self._nodes):
            members = [i for i, plan in enumerate(plans) if leaf.key in plan]
            if not members:
                continue
            rngs = [plans[i][leaf.key][1] for i in members]
            inputs = [current[i] for i in members]
            if leaf.op.batch_text is not None:
                results = leaf.op.batch_text(inputs, leaf.params, rngs)
            else:
                results = [leaf.op.apply_text(t, leaf.params, r) for t, r in zip(inputs, rngs)]
            for i, res in zip(members, results):
                assert isinstance(res, TextOpResult)
                current[i] = res.text
                applied[i].append({"op": leaf.op.name, "path": leaf.path, "params": {}, "changes": res.changes})
        return [AugmentResult(out, app) for out, app in zip(current, applied)]


def _leaves(nodes: tuple):
    for node in nodes:
        if isinstance(node, _Leaf):
            yield node
        else:
            yield from _leaves(node.children)


def _stream_owner() -> tuple:
    import os

    worker_seed = None
    try:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        worker_seed = info.seed if info is not None else None
    except ImportError:  # torch is optional for library use
        pass
    return (os.getpid(), worker_seed)


def _to_array(x: Any):
    """Normalise an input image to HxWxC uint8 and return a function that gives the caller's type back."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(x, Image.Image):
        from augment.io.images import array_to_pil, pil_to_array

        mode = x.mode
        return pil_to_array(x), lambda arr: array_to_pil(arr, mode)
    if not isinstance(x, np.ndarray):
        raise ImageInputError(f"image pipelines take a numpy array or PIL image, got {type(x).__name__}")
    if x.dtype != np.uint8:
        raise ImageInputError(f"images must be uint8 arrays (0-255), got dtype {x.dtype}")
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 3, 4)):
        raise ImageInputError(f"images must be HxW or HxWxC with C in 1, 3, 4; got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ImageInputError(f"image has no pixels (shape {x.shape})")
    if x.ndim == 2:
        return np.ascontiguousarray(x[:, :, None]), lambda arr: arr[:, :, 0] if arr.shape[2] == 1 else arr
    return np.ascontiguousarray(x), lambda arr: arr


def load_pipeline(path: str | Path, **overrides) -> Pipeline:
    """Load a spec file and compile it. ``overrides`` (seed, copies, backend) replace the file's values."""
    spec = load_spec(path)
    if overrides:
        spec = spec.with_overrides(**overrides)
    return Pipeline(spec)
