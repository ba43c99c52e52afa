"""A compiled pipeline: the object users call on images or texts.

Compiling resolves every op through the registry once; calling walks the step tree. Each step draws from its own
generator (``augment.seeding.step_rng``) keyed by its position in the spec and the output seed, first its
``p`` decision and group choice, then its parameters. Planning (which ops run) and drawing (their values) are
kept apart from applying, so the drawn values can be recorded in a manifest and replayed exactly.
"""

from __future__ import annotations

import contextlib

import importlib
import pickle
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from augment.compile import batch as batched
from augment.compile import scratch
from augment.compile import tensors
from augment.extras import require
from augment.compile.pixels import ImageInputError  # noqa: F401 (ImageInputError re-exported)
from augment.ops import plugins
from augment.ops.catalog import registry
from augment.ops.drawn import DrawnValueError, check_drawn
from augment.ops.image_ops import MULTI_IMAGE_OPS
from augment.ops.image_ops_native import NATIVE_COLOUR_ONLY, NATIVE_PIXEL_OPS
from augment.ops.presets import CHAIN_PRESETS
from augment.ops.registry import ImageContext, OpDef, OpParams, TextOpResult
from augment.seeding import step_rng
from augment.spec import PipelineSpec, load_spec, spec_hash
from augment.spec.schema import GroupStep, OpStep
from augment.text.backtranslate import BackendUnavailableError

__all__ = ["AugmentResult", "ImageInputError", "Pipeline", "load_pipeline"]

JPEG_MAX_SIDE = 65500  # the JPEG format's limit, for the jpeg op's simulated re-encoding

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
_FLOAT_INPUT_OPS = {"normalize", "to_dtype"}  # the finishing ops also take the float32 pixels of one another
_PIXEL_OPS |= NATIVE_PIXEL_OPS
_COLOUR_ONLY |= NATIVE_COLOUR_ONLY


@dataclass(frozen=True)
class _Leaf:
    key: tuple[int, ...]
    path: str
    op: OpDef
    params: OpParams
    p: float
    provider: str | None = None  # a plugin or library op's "distribution version", for its records (_entry)


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
    """One augmented output, the ops applied to produce it with their drawn values, and its seed.

    ``applied`` holds plain JSON values (exactly what a manifest records); ``ops`` gives the same entries typed
    (``AppliedOp`` with the op's ``...Drawn`` named tuple, e.g. ``res.ops[0].values.angle``).
    """

    output: Any
    applied: list[dict] = field(default_factory=list)
    seed: int | None = None

    @property
    def ops(self) -> list:
        import augment.ops.typed  # noqa: F401 (registers the built-in classes; see compose._typed)
        from augment.ops._typed_base import typed_applied

        return [typed_applied(entry) for entry in self.applied]


def _compile(steps: Sequence, key: tuple[int, ...], path: str) -> tuple:
    nodes = []
    reg = registry()
    for i, step in enumerate(steps):
        k, here = key + (i,), f"{path}[{i}]"
        if isinstance(step, OpStep):
            op = reg.get(step.op)
            if op.extra is not None:  # one line naming the extra now, not a failure per row later
                require(op.extra, f"op {op.name!r} ({here})")
            if op.preflight is not None:
                try:
                    op.preflight(step.params)
                except BackendUnavailableError as exc:
                    raise BackendUnavailableError(f"op {op.name!r} ({here}): {exc}") from None
            origin = op.origin
            provider = None if origin is None else \
                f"{origin.get('distribution') or origin.get('module')} {origin.get('version') or ''}".strip()
            nodes.append(_Leaf(k, here, op, step.params, step.p, provider))
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


@contextlib.contextmanager
def _replaying(i: int, leaf: _Leaf):
    """Replaying step ``i``: whatever the op raises on recorded values becomes one line naming the step. A plugin's
    or library's code may fail in its own way on a record it did not make (another release renamed a value, a
    hand-edited manifest); its traceback reached the user."""
    try:
        yield
    except DrawnValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the op's own code, said in one line
        detail = plugins.first_line(exc)[:200]
        hint = f"; was the output made with another version of {leaf.provider}?" if leaf.provider else ""
        raise DrawnValueError(f"ops[{i}] ({leaf.op.name} at {leaf.path}): the recorded values could not be applied "
                              f"({type(exc).__name__}: {detail}){hint}") from None


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
        if spec.modality == "image" and spec.backend == "torchvision":
            from augment.extras import require

            require("torch", "backend: torchvision")  # here, not at the first image in some worker
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
    def output_hash(self) -> str:
        """The spec's hash without ``copies``: what decides each output's bytes (the manifest's pipeline_hash)."""
        return spec_hash(self.spec.model_copy(update={"copies": 1}))

    @property
    def modality(self) -> str:
        return self.spec.modality

    def __repr__(self) -> str:
        return f"Pipeline(name={self.spec.name!r}, modality={self.modality!r}, hash={self.spec_hash})"

    def to_yaml(self) -> str:
        """The canonical spec text of this pipeline (``load_pipeline`` of it gives the same pipeline and hash)."""
        from augment.spec import dump_spec

        return dump_spec(self.spec)

    # -- pickling: modules, locks and streams are per process ----------------------------------------------
    def __getstate__(self) -> dict:
        # plugin modules named by --plugin / $AUGMENT_PLUGINS travel with the pipeline: a worker that starts clean
        # (spawn, forkserver, a Dask worker) registers them before compiling (entry points it finds by itself).
        # So do the classes of ops registered in code (register_op, a typed op in a Compose), by reference: their
        # modules register nothing when imported, and a spawned DataLoader worker knew none of them
        return {"spec": self.spec, "plugins": plugins.loaded_modules(), "op_classes": self._op_classes()}

    def __setstate__(self, state: dict) -> None:
        plugins.load_modules(m for m in state.get("plugins", ()) if m not in plugins.loaded_modules())
        for cls in state.get("op_classes", ()):
            plugins.register_op(cls)  # the same class again does nothing
        Pipeline.__init__(self, state["spec"])

    def _op_classes(self) -> list[type]:
        out = []
        for leaf in _leaves(self._nodes):
            cls = plugins.plugin_class(leaf.op.name)
            if cls is None or cls in out:
                continue
            try:  # a class defined inside a function cannot travel; such a pipeline pickles as before
                pickle.dumps(cls)
            except Exception:  # noqa: BLE001 - pickle raises several kinds for unpicklable classes
                continue
            out.append(cls)
        return out

    def plugin_origins(self) -> dict[str, dict]:
        """``{op name: {distribution, version, module}}`` of every plugin or library op this pipeline uses."""
        return {leaf.op.name: dict(leaf.op.origin) for leaf in _leaves(self._nodes) if leaf.op.origin is not None}

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
    def backend(self) -> str:
        """The name of the backend that applies image ops (``albumentations`` or ``torchvision``)."""
        return self.spec.backend

    def _backend_module(self):
        if self._backend is None:
            self._backend = importlib.import_module(_BACKENDS[self.spec.backend])
        return self._backend

    def __call__(self, x: Any, seed: int | None = None, **annotations) -> Any:
        """Augment ``x``; with annotations (``boxes``, ``labels``, ``polygons``, ``masks``, ``keypoints``, ...)
        returns a dict of the same keys plus ``image`` (see ``augment.compile.annotated``)."""
        if self.modality == "image" and set(annotations) <= {"ignore_index"}:
            if not annotations and tensors.is_video(x):
                return tensors.call_video(self, x, seed)[0]
            if tensors.is_structured(x):  # torchvision's samples; a mask's ignore index may come beside them
                return tensors.call_structured(self, x, seed, **annotations)
        if annotations:
            from augment.compile.annotated import call_annotated

            return call_annotated(self, x, seed, annotations)
        if self.modality == "image":  # the image alone: library transforms' values need no JSON record
            return self._run_image(x, self._next_seed() if seed is None else seed, record=False).output
        return self.run(x, seed=seed).output

    def run(self, x: Any, seed: int | None = None, *, label: Any = None) -> AugmentResult:
        """Augment one input and return the output with the list of applied ops and their drawn values.
        ``label``: a text's label, for text ops that use it (``llm_paraphrase`` prompts)."""
        if seed is None:
            seed = self._next_seed()
        if self.modality == "text":
            return self.run_batch([x], [seed], labels=[label])[0]
        if tensors.is_video(x):  # every frame with the first frame's values: those are the record
            video, first = tensors.call_video(self, x, seed)
            return AugmentResult(video, first.applied, seed)
        return self._run_image(x, seed)

    def _run_image(self, x: Any, seed: int, record: bool = True) -> AugmentResult:
        """``run`` of an image; without ``record`` the library steps' entries in ``applied`` are not their JSON
        records (for ``__call__``, which returns the image alone). Pixels are the same either way."""
        image, restore = tensors.image_in(x)
        applied = []
        shape = ctx = None
        steps = self.plan(seed)
        last = len(steps) - 1
        pool = scratch.acquire(image)
        try:
            for i, (leaf, rng) in enumerate(steps):
                if image.shape != shape:  # one (frozen) context per image size, not one per step
                    shape = image.shape
                    ctx = ImageContext(shape[0], shape[1], shape[2])
                drawn = _draw(leaf, rng, image, ctx=ctx, record=record)
                # intermediates (and the last step's temporaries) may live in reused buffers (scratch.py)
                image = self._apply_image(leaf, image, drawn, pool, i == last)
                applied.append(_entry(leaf, drawn))
            if pool is not None:
                image = pool.release(image)
        finally:
            if pool is not None:
                scratch.leave()
        return AugmentResult(restore(image, applied), applied, seed)

    def replay(self, x: Any, applied: "AugmentResult | dict | list[dict]", seed: int | None = None) -> Any:
        """Reproduce an output from ``x``: ``applied`` is an ``AugmentResult``, a manifest record (``seed`` and
        ``ops``), or the list of applied ops.

        Images: the recorded values are applied again (no drawing). Text: text ops choose their positions from
        the text itself, so a text output is re-run from its seed (taken from the result or record, or passed as
        ``seed``) and the ops that ran are checked against the recorded ones.
        """
        if isinstance(applied, AugmentResult):
            seed = applied.seed if seed is None else seed
            applied = applied.applied
        elif isinstance(applied, dict):
            seed = applied.get("seed") if seed is None else seed
            applied = applied.get("ops", [])
        if self.modality == "text":
            return self._replay_text(x, applied, seed)
        leaves = {leaf.path: leaf for leaf in _leaves(self._nodes)}
        image, restore = tensors.image_in(x)
        if not isinstance(applied, list):
            raise DrawnValueError(f"recorded ops must be a list, got {type(applied).__name__}")
        for i, entry in enumerate(applied):
            if not isinstance(entry, dict) or not {"op", "path", "params"} <= set(entry):
                raise DrawnValueError(f"ops[{i}]: expected a mapping with op, path and params")
            leaf = leaves.get(entry["path"]) if isinstance(entry["path"], str) else None
            if leaf is None or leaf.op.name != entry["op"]:
                raise DrawnValueError(f"ops[{i}]: record names {str(entry['op'])[:60]!r} at {str(entry['path'])[:60]!r}, "
                                      "which this pipeline does not have")
            # the record is data from a file: check it against what the op can draw before OpenCV sees it
            ctx = ImageContext(image.shape[0], image.shape[1], image.shape[2])
            try:
                if leaf.op.check_record is not None:  # plugin and library ops describe their own records
                    leaf.op.check_record(entry["params"], leaf.params, ctx)
                else:
                    check_drawn(leaf.op.name, leaf.params, entry["params"], ctx)
            except DrawnValueError as exc:
                raise DrawnValueError(f"ops[{i}] ({leaf.op.name} at {leaf.path}): {exc}") from None
            with _replaying(i, leaf):
                image = self._apply_image(leaf, image, entry["params"])
        return restore(image, applied)

    # -- annotated images ----------------------------------------------------------------------------------
    def run_targets(self, image: np.ndarray, targets, seed: int | None = None, partners=None):
        """Augment an HxWxC uint8 image and its ``augment.compile.targets.Targets`` with the same drawn values.

        Returns ``(image, targets, applied, report)``: ``report`` counts objects kept, clipped and dropped.
        ``partners`` gives multi-image ops (mosaic, copy-paste) their other images: an object with
        ``pick(draws) -> names`` and ``load(name) -> Partner``; without it an image is its own partner.
        """
        from augment.compile.targets import TargetTracker

        self.check_moves_annotations()
        if seed is None:
            seed = self._next_seed()
        image, _ = tensors.image_in(image)
        tracker = TargetTracker(targets)
        applied = []
        for leaf, rng in self.plan(seed):
            boxes = tuple(tuple(b) for b in targets.boxes.tolist()) if targets is not None else ()
            drawn = _draw(leaf, rng, image, boxes)
            hw = image.shape[:2]
            if leaf.op.name in MULTI_IMAGE_OPS:
                drawn = dict(drawn, partners=partners.pick(drawn["partner_draws"]) if partners is not None else [])
                image, targets = self._apply_multi(leaf, image, targets, drawn, partners, tracker)
            else:
                image = self._apply_image(leaf, image, drawn)
                targets = self._step_targets(tracker, leaf, drawn, hw, targets, image.shape[:2])
            applied.append(_entry(leaf, drawn))
        return image, targets, applied, tracker.finish()

    def check_moves_annotations(self) -> None:
        """Refuse presets whose output no annotation can follow. trivial_augment and rand_augment run a chain of
        ordinary ops, so boxes, masks and keypoints follow each sub-op; augmix blends several differently warped
        copies of the image into one, and no single box fits a blend."""
        for leaf in _leaves(self._nodes):
            if leaf.op.annotations not in ("builtin", "pixel", "geometric"):
                raise ValueError(f"{leaf.path}: {leaf.op.annotations}")
        presets = sorted({leaf.op.name for leaf in _leaves(self._nodes)
                          if leaf.op.compose is not None and leaf.op.name not in CHAIN_PRESETS})
        if presets:
            raise ValueError(f"{', '.join(presets)} cannot move annotations (it blends differently warped copies "
                             "of the image): use trivial_augment, rand_augment or the individual ops (rotate, "
                             "affine, ...) for boxes, masks and keypoints")

    def check_writes_images(self) -> None:
        """Refuse ops whose output is not an image (normalize gives float32): ``augment run`` and ``serve`` write
        image files and ``eval`` trains on augmented images."""
        if any(leaf.op.name == "normalize" for leaf in _leaves(self._nodes)):
            raise ValueError("normalize gives float32 arrays for a training transform, not images: leave it out of "
                             "specs for augment run, eval and serve (use it in the library or a DataLoader)")
        if any(leaf.op.name == "to_dtype" and leaf.params.dtype != "uint8" for leaf in _leaves(self._nodes)):
            raise ValueError("to_dtype gives float32 arrays for a training transform, not images: leave it out of "
                             "specs for augment run, eval and serve (use it in the library or a DataLoader)")

    def replay_targets(self, image: np.ndarray, targets, applied: list[dict], partners=None):
        """``run_targets`` from recorded ops and values: returns ``(image, targets, report)``."""
        from augment.compile.targets import TargetTracker

        leaves = {leaf.path: leaf for leaf in _leaves(self._nodes)}
        image, _ = tensors.image_in(image)
        tracker = TargetTracker(targets)
        for i, entry in enumerate(applied):
            leaf = leaves.get(entry["path"])
            if leaf is None or leaf.op.name != entry["op"]:
                raise ValueError(f"record names {entry['op']} at {entry['path']}, which this pipeline does not have")
            hw = image.shape[:2]
            with _replaying(i, leaf):
                if leaf.op.name in MULTI_IMAGE_OPS:
                    image, targets = self._apply_multi(leaf, image, targets, entry["params"], partners, tracker)
                else:
                    image = self._apply_image(leaf, image, entry["params"])
                    targets = self._step_targets(tracker, leaf, entry["params"], hw, targets, image.shape[:2])
        return image, targets, tracker.finish()

    @staticmethod
    def _step_targets(tracker, leaf: _Leaf, drawn: dict, hw: tuple[int, int], targets, out_hw=None):
        """Move the annotations by one op; a chain preset moves them by each recorded sub-op in turn, with the
        sub-op's own rules (its defaults, as the image is warped with them). ``out_hw``: the size of the image the
        step made, which a plugin's hooks must agree with."""
        if leaf.op.geometry is not None:  # a plugin op's own hooks
            from augment.compile.plugin_targets import step_plugin

            return step_plugin(tracker, leaf.op, drawn, leaf.params, hw, targets, out_hw)
        if leaf.op.name not in CHAIN_PRESETS:
            return tracker.step(leaf.op.name, drawn, leaf.params, hw, targets)
        reg = registry()
        for sub in drawn["ops"]:
            if sub["op"]:
                targets = tracker.step(sub["op"], sub["params"], reg.get(sub["op"]).params(), hw, targets)
        return targets

    def _apply_multi(self, leaf: _Leaf, image: np.ndarray, targets, drawn: dict, partners, tracker):
        from augment.compile import multi_image

        names = drawn.get("partners") or []
        count = len(drawn["partner_draws"])
        if names and partners is None:
            raise ValueError(f"{leaf.op.name} names partner images {names}: replay it with a partner provider")
        loaded = [partners.load(n) for n in names] if names else [multi_image.Partner("", image, targets)] * count
        fn = multi_image.mosaic if leaf.op.name == "mosaic" else multi_image.copy_paste
        return fn(image, targets, drawn, leaf.params, loaded, tracker)

    def _apply_image(self, leaf: _Leaf, image: np.ndarray, drawn: dict, pool: "scratch.Pool | None" = None,
                     final: bool = True) -> np.ndarray:
        if leaf.op.name in MULTI_IMAGE_OPS:  # an image without a dataset is its own partner
            return self._apply_multi(leaf, image, None, dict(drawn), None, None)[0]
        return self._apply_op(leaf.op, leaf.params, image, drawn, pool, final)

    def _apply_op(self, op: OpDef, params: OpParams, image: np.ndarray, drawn: dict,
                  pool: "scratch.Pool | None" = None, final: bool = True) -> np.ndarray:
        """``pool``: reused buffers for the backend's ``INTO`` kernels; unless ``final`` (the call's output) the
        step's output may be one of them."""
        name = op.name
        if op.apply_image is not None:  # a plugin op: its own numpy implementation, the same on every backend
            return op.apply_image(image, drawn, params)
        if op.origin is not None and op.origin.get("library"):
            return _library_adapter().apply(op, params, image, drawn)
        if op.compose is not None:  # a preset: its recorded sub-ops run through this same path
            reg = registry()
            return op.compose(image, drawn, params,
                              lambda sub, img, d: self._apply_op(reg.get(sub), reg.get(sub).params(), img, d))
        if image.dtype != np.uint8 and name not in _FLOAT_INPUT_OPS:
            raise ValueError(f"{name} runs after normalize or to_dtype, whose output is float32: make normalize the "
                             "last op (after to_dtype float32, only normalize or to_dtype uint8 may follow)")
        if name in _PIXEL_OPS and image.shape[2] in (2, 4):
            colour, alpha = image[:, :, :-1], image[:, :, -1:]
            out = self._apply_op(op, params, np.ascontiguousarray(colour), drawn)
            return np.concatenate([out, alpha], axis=2)
        if name in _COLOUR_ONLY and image.shape[2] == 1:
            return image.copy()
        if name == "jpeg" and max(image.shape[:2]) > JPEG_MAX_SIDE:
            # OpenCV would log to stderr and fail inside imdecode; say what is wrong instead
            raise ValueError(f"the jpeg op cannot encode a {image.shape[1]}x{image.shape[0]} image: JPEG allows at "
                             f"most {JPEG_MAX_SIDE} pixels a side")
        backend = self._backend_module()
        if pool is not None:
            into = backend.INTO.get(name)
            if into is not None:
                out = into(image, drawn, params, pool, final)
                return out[:, :, None] if out.ndim == 2 else out
        return backend.apply(name, image, drawn, params)

    def _replay_text(self, text: Any, applied: list[dict], seed: int | None) -> str:
        if seed is None:
            raise ValueError("text outputs are replayed from their seed: pass the AugmentResult or manifest record "
                             "(they hold it), or seed=")
        res = self.run(text, seed=seed)
        ran = [(a["op"], a["path"]) for a in res.applied]
        recorded = [(a["op"], a["path"]) for a in applied]
        if ran != recorded:
            raise ValueError(f"seed {seed} runs {ran} but the record names {recorded}: another spec or input text")
        return res.output

    # -- batches (text and images) ---------------------------------------------------------------------------
    def batch(self, items: Sequence[Any], seeds: Sequence[int] | None = None, *, kernels: str = "auto",
              **annotations) -> Any:
        """Augment many texts or images, one seed each (drawn from the pipeline's stream when omitted).

        An ``NxCxHxW`` tensor (or a list of same-size tensors) is augmented in one batched pass on its device and
        comes back as a tensor (a list) of the same dtype and device (``augment.compile.batch``). With
        ``boxes`` (a list per sample, or an NxMx4 padded tensor with ``box_counts``), ``keypoints`` (a list of
        MxKx2|3 per sample, or NxMxKx2|3 padded with ``box_counts``), ``polygons`` (per sample, per object a list
        of Px2 parts), ``labels`` and ``masks`` (NxHxW) it returns a dict of those keys plus ``image``
        (``augment.compile.batch_targets``). ``kernels``:
        ``auto`` runs batched tensor kernels on accelerators and the CPU backend per sample in threads for CPU
        tensors; ``batched`` or ``per_sample`` force one way."""
        if annotations:
            from augment.compile.batch_targets import run_annotated_batch

            return run_annotated_batch(self, items, seeds, annotations, kernels=kernels)[0]
        if self.modality == "image" and batched.is_tensor_batch(items):
            return batched.run_tensor_batch(self, items, seeds, kernels=kernels).output
        return [r.output for r in self.run_batch(items, seeds)]

    def replay_batch(self, x: Any, records: Sequence[Any], *, kernels: str = "auto") -> Any:
        """Apply each sample's recorded ops (a ``BatchResult``, or one ``applied`` list / manifest record per
        sample) to a tensor batch in one batched pass: on the same device the batch comes back exactly."""
        return batched.run_tensor_batch(self, x, records=list(records), kernels=kernels).output

    def run_batch(self, items: Sequence[Any], seeds: Sequence[int] | None = None, *,
                  kernels: str = "auto", labels: Sequence[Any] | None = None
                  ) -> "list[AugmentResult] | batched.BatchResult":
        """Augment many inputs and return their ``AugmentResult``s. Text ops with a batch form (back-translation)
        see all their inputs together; images are augmented one after the other, except a tensor batch, which
        runs in one pass and gives a ``BatchResult`` (``.output`` the batch, ``.applied[i]`` sample i's ops)."""
        if self.modality == "image" and batched.is_tensor_batch(items):
            return batched.run_tensor_batch(self, items, seeds, kernels=kernels)
        texts = list(items)
        if seeds is None:
            seeds = [self._next_seed() for _ in texts]
        seeds = list(seeds)
        if len(seeds) != len(texts):
            raise ValueError(f"{len(texts)} inputs but {len(seeds)} seeds")
        if labels is not None and len(labels) != len(texts):
            raise ValueError(f"{len(texts)} inputs but {len(labels)} labels")
        if self.modality != "text":
            return [self.run(x, seed=s) for x, s in zip(texts, seeds)]
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
            extra = {}
            if leaf.op.uses_labels:  # only ops that read labels get them: the others' signature stays (texts, p, rngs)
                extra["labels"] = [labels[i] for i in members] if labels is not None else [None] * len(members)
            if leaf.op.batch_text is not None:
                results = leaf.op.batch_text(inputs, leaf.params, rngs, **extra)
            elif extra:
                results = [leaf.op.apply_text(t, leaf.params, r, label=y)
                           for t, r, y in zip(inputs, rngs, extra["labels"])]
            else:
                results = [leaf.op.apply_text(t, leaf.params, r) for t, r in zip(inputs, rngs)]
            for i, res in zip(members, results):
                assert isinstance(res, TextOpResult)
                current[i] = res.text
                applied[i].append({**_entry(leaf, {}), "changes": res.changes})
        return [AugmentResult(out, app, s) for out, app, s in zip(current, applied, seeds)]


def _draw(leaf: _Leaf, rng: np.random.Generator, image: np.ndarray, boxes: tuple = (),
          ctx: ImageContext | None = None, record: bool = True) -> dict:
    """The step's drawn values as its record holds them. ``record=False`` (a call that returns the image alone): a
    library transform's values are not encoded as JSON (``library_adapter.draw``); built-in ops' are plain already."""
    op = leaf.op
    if op.origin is not None and op.origin.get("library"):
        return _library_adapter().draw(op, leaf.params, rng, image, record)
    if ctx is None:
        ctx = ImageContext(image.shape[0], image.shape[1], image.shape[2], boxes)
    return op.sample(leaf.params, rng, ctx)


def _entry(leaf: _Leaf, drawn: dict) -> dict:
    if leaf.provider is None:
        return {"op": leaf.op.name, "path": leaf.path, "params": drawn}
    # which distribution and version drew these values (replay checks it); computed once, when compiling
    return {"op": leaf.op.name, "path": leaf.path, "params": drawn, "provider": leaf.provider}


_LIBRARY_ADAPTER = None


def _library_adapter():
    """augment.compile.library_adapter, imported on first use (a per-step import statement cost ~1 µs a step)."""
    global _LIBRARY_ADAPTER
    if _LIBRARY_ADAPTER is None:
        from augment.compile import library_adapter

        _LIBRARY_ADAPTER = library_adapter
    return _LIBRARY_ADAPTER


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


def load_pipeline(path: str | Path, **overrides) -> Pipeline:
    """Load a spec file and compile it. ``overrides`` (seed, copies, backend) replace the file's values."""
    spec = load_spec(path)
    if overrides:
        spec = spec.with_overrides(**overrides)
    return Pipeline(spec)
