"""Bring your own model: ``augment eval ... --model mypackage.mymodule:train_and_predict``.

The function is imported from the named module (which must be importable: installed, or on ``PYTHONPATH``)
and called once per arm of every run::

    def train_and_predict(train, test, *, seed):
        '''train: list of (example, label) pairs to learn from -- the training subset, plus its augmented
                  copies in the augmented arm. An example is an HxWxC uint8 numpy array (images) or a str
                  (text); a label is the class name (str).
           test:  list of (example, label) pairs of the held-out set (the same in every run and arm).
                  Use the labels only to score; never train on them.
           seed:  int; use it for every random choice so the run can be repeated exactly. Both arms of a
                  run get the same seed.
           Return a mapping with either
             "predictions": one predicted class name per test example, in order -- preferred: accuracy,
                            macro-F1, per-class scores and the paired bootstrap are then computed for you; or
             "accuracy" (and optionally "macro_f1"): your own scores, finite numbers in [0, 1].
           Any other numeric entries are recorded in report.json under "extra".'''

Example (a nearest-centroid classifier on bag-of-words, for text)::

    # my_models.py
    from collections import Counter

    def centroid(train, test, *, seed):
        sums = {}
        for text, label in train:
            sums.setdefault(label, Counter()).update(text.split())
        def score(text, label):
            c = sums[label]
            return sum(c[w] for w in text.split()) / (sum(c.values()) or 1)
        return {"predictions": [max(sums, key=lambda lab: score(text, lab)) for text, _ in test]}

    # augment eval pipelines/eda.yaml --train data/train.tsv --model my_models:centroid

On annotated data (``augment eval`` on a Pascal VOC, YOLO or COCO dataset, or a mask folder; see
:mod:`.annotated_protocol`) the same signature takes other items and returns other keys:

* detection -- ``train`` and ``test`` are lists of ``(image, target)``: an HxWx3 uint8 image and
  ``{"boxes": (N, 4) float x_min, y_min, x_max, y_max in pixels, "labels": [N class names]}`` (the augmented
  arm's ``train`` includes the augmented copies with their moved boxes; use the test boxes only to score).
  Return either ``"detections"``: one mapping per test image, in order, ``{"boxes": (M, 4), "scores": M numbers
  in [0, 1], "labels": M known class names}`` -- preferred: mAP@[.5:.95] and mAP@0.5 are computed by
  :func:`.detection_model.mean_average_precision`, the built-in detector's COCOeval code; or your own ``"map"``
  (mAP@[.5:.95]) and optionally ``"map_50"``, finite numbers in [0, 1].
* semantic segmentation -- the items are ``(image, mask)``: an HxW uint8 class-index mask in which 255 is the
  ignore index. Return either ``"masks"``: one HxW array of predicted class indices per test image, the shape of
  its image (255 allowed: no prediction, counted wrong where the truth is not ignored) -- preferred: mIoU and
  pixel accuracy are computed by :func:`.segmentation_model.mean_iou`, as for the built-in segmenter; or your own
  ``"miou"`` and optionally ``"pixel_accuracy"``.

A secondary metric the function leaves out is left out of the report; other keys are ignored on annotated data.
Wrong lengths, wrong shapes, NaN, scores out of [0, 1], unknown labels or class indices are one-line
:class:`CustomModelError` s naming the function (:func:`check_detections`, :func:`check_masks`).

The function runs in a child process (started once per evaluation with the ``spawn`` method, so it shares no
state with the caller), with a time limit per call (``--timeout``). Whatever goes wrong -- an exception, a
return value that is not a mapping, NaN or out-of-range scores, unknown classes, the process exiting
(``os._exit``, a crash) or not answering in time -- is a :class:`CustomModelError` whose one-line message names
the function. The protocol does not carve a validation slice out of the training subset for a custom model:
the function gets the whole subset and may hold out what it needs itself.
"""

from __future__ import annotations

import importlib
import inspect
import math
import multiprocessing
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from augment.run.worker import children_born_deaf_to_ctrl_c, ignore_ctrl_c

from .base import ModelOutput, TrainSet

DEFAULT_TIMEOUT = 1800.0


class CustomModelError(ValueError):
    """A custom model failed or returned something unusable; the message is one line naming the function."""

__all__ = ["resolve", "CustomFunction", "CustomModel", "check_detections", "check_masks"]


def resolve(spec: str) -> Callable[..., Any]:
    """Import ``module:function`` (dotted attribute paths after the colon are allowed)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"custom model must be written module:function, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} for model {spec!r}: {exc}") from exc
    except Exception as exc:  # the user's module failed while importing: still one line
        raise ValueError(f"importing module {module_name!r} for model {spec!r} failed: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r} (model {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"model {spec!r} is not callable")
    return obj


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _serve(conn, spec: str) -> None:
    """Child process: resolve the function, then answer calls until the parent closes the pipe. A parent that is
    gone (interrupted, killed) ends the child quietly: its error is the parent's to report."""
    ignore_ctrl_c()
    try:
        try:
            fn = resolve(spec)
        except ValueError as exc:
            conn.send(("error", str(exc)))
            return
        conn.send(("ready", None))
        while True:
            try:
                args = conn.recv()
            except EOFError:
                return
            train, test, seed = args
            try:
                result = fn(train, test, seed=seed)
                reply = ("ok", _plain(result))
            except BaseException as exc:  # anything the user's code raises, SystemExit included, becomes one line
                reply = ("error", f"raised {type(exc).__name__}: {_first_line(exc)}".rstrip(": "))
            conn.send(reply)
    except (BrokenPipeError, ConnectionResetError):
        return


def _plain(result: Any) -> Any:
    """The result with numpy containers turned into lists (they pickle either way; this keeps sizes small)."""
    if isinstance(result, Mapping):
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in result.items()}
    return result


class _Child:
    """One spawned process serving calls to the custom function, killed on timeout or at close."""

    def __init__(self, spec: str, timeout: float) -> None:
        self.spec, self.timeout = spec, timeout
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child_conn, spec), daemon=True, name="augment-custom-model")
        try:
            with children_born_deaf_to_ctrl_c():  # Ctrl-C is this process's to handle: it closes the child
                self.proc.start()
            child_conn.close()
            kind, payload = self._receive(max(60.0, timeout), "starting")
        except BaseException:  # interrupted while starting: the child must not outlive its unfinished start
            child_conn.close()
            self.close()
            raise
        if kind == "error":
            self.close()
            raise CustomModelError(payload)

    def _receive(self, timeout: float, what: str) -> tuple[str, Any]:
        try:
            ready = self.conn.poll(timeout)
            if ready:
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        else:
            self.close()
            raise CustomModelError(f"custom model {self.spec} did not return within {timeout:g} s while {what} "
                                   "(raise --timeout if it needs longer)")
        self.proc.join(5)
        code = self.proc.exitcode
        self.close()
        raise CustomModelError(f"custom model {self.spec} ended its process (exit code {code}) while {what}; "
                               "it must return a mapping, not exit")

    def call(self, train: list, test: list, seed: int) -> Any:
        try:
            self.conn.send((train, test, seed))
        except (BrokenPipeError, OSError):
            self.close()
            raise CustomModelError(f"custom model {self.spec}: its process is gone") from None
        kind, payload = self._receive(self.timeout, "training")
        if kind == "error":
            raise CustomModelError(f"custom model {self.spec} {payload}")
        return payload

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)


class CustomFunction:
    """A ``module:function`` called as ``fn(train, test, seed=seed)`` in a spawned child process (started at the
    first call, kept for the next ones), ``timeout`` seconds per call; every failure a one-line
    :class:`CustomModelError` naming the function. The task-specific wrappers (:class:`CustomModel` for
    classification, the annotated protocol for detection and segmentation) build the arguments and check the
    answer."""

    def __init__(self, spec: str, timeout: float | None = None) -> None:
        self.name = spec
        self.fn = resolve(spec)  # fail fast, in this process, on a wrong module or name
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self._child: _Child | None = None

    def describe(self) -> dict[str, Any]:
        doc = inspect.getdoc(self.fn) or ""
        return {"name": self.name, "kind": "custom (module:function)", "doc": doc.splitlines()[0] if doc else "",
                "regularisation": "defined by the custom model",
                "isolation": f"child process (spawn), {self.timeout:g} s per call"}

    def call(self, train: list, test: list, seed: int) -> Any:
        if self._child is None:
            self._child = _Child(self.name, self.timeout)
        return self._child.call(train, test, int(seed))

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    def __del__(self) -> None:  # pragma: no cover - best effort; callers close it explicitly
        try:
            self.close()
        except Exception:
            pass


class CustomModel:
    """A custom classification model (the contract of the module docstring) for the classification protocol."""

    needs_validation = False

    def __init__(self, spec: str, timeout: float | None = None) -> None:
        self.name = spec
        self.function = CustomFunction(spec, timeout)
        self.fn, self.timeout = self.function.fn, self.function.timeout

    @property
    def _child(self) -> "_Child | None":
        return self.function._child

    def describe(self) -> dict[str, Any]:
        return self.function.describe()

    def close(self) -> None:
        self.function.close()

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        classes = train.classes
        pairs = [(x, classes[int(y)]) for x, y in zip(list(train.items) + list(train.val_items),
                                                       np.concatenate([train.labels, train.val_labels]))]
        if test_labels is None:
            raise ValueError("custom models need the test labels to be passed for scoring")
        test_pairs = [(x, classes[int(y)]) for x, y in zip(test_items, test_labels)]
        t0 = time.perf_counter()
        result = self.function.call(pairs, test_pairs, int(seed))
        elapsed = round(time.perf_counter() - t0, 4)
        return check_output(self.name, result, classes, len(test_items), {"train_seconds": elapsed})

    def __del__(self) -> None:  # pragma: no cover - best effort; the protocol closes it explicitly
        try:
            self.close()
        except Exception:
            pass


def _score(name: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CustomModelError(f"custom model {name} returned {key}={value!r}; expected a number in [0, 1]")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise CustomModelError(f"custom model {name} returned {key}={v!r}; expected a finite number in [0, 1] "
                               "(a fraction, not a percentage)")
    return v


def check_output(name: str, result: Any, classes: Sequence[str], n_test: int, info: dict) -> ModelOutput:
    """Validate what a custom function returned (see the module docstring) and turn it into a ModelOutput."""
    if not isinstance(result, Mapping):
        raise CustomModelError(f"custom model {name} returned {type(result).__name__}; expected a mapping with "
                               "'predictions' or 'accuracy'")
    extra = {k: float(v) for k, v in result.items()
             if k not in ("predictions", "accuracy", "macro_f1") and isinstance(v, (int, float))
             and not isinstance(v, bool) and math.isfinite(float(v))}
    if extra:
        info["extra"] = extra
    if "predictions" in result:
        preds = result["predictions"]
        if isinstance(preds, (str, bytes)) or not isinstance(preds, Sequence):
            raise CustomModelError(f"custom model {name} returned predictions of type {type(preds).__name__}; "
                                   "expected a list of class names")
        preds = list(preds)
        if len(preds) != n_test:
            raise CustomModelError(f"custom model {name} returned {len(preds)} predictions for {n_test} test "
                                   "examples")
        pos = {c: i for i, c in enumerate(classes)}
        idx = []
        for p in preds:
            if isinstance(p, str):
                key = p
            elif isinstance(p, (int, np.integer)) and not isinstance(p, bool) and 0 <= int(p) < len(classes):
                key = classes[int(p)]
            else:
                key = None
            if key not in pos:
                raise CustomModelError(f"custom model {name} predicted unknown class {p!r}; classes: "
                                       f"{', '.join(map(str, classes[:20]))}")
            idx.append(pos[key])
        return ModelOutput(predictions=np.array(idx, dtype=np.int64), info=info)
    if "accuracy" not in result:
        raise CustomModelError(f"custom model {name} must return 'predictions' or 'accuracy'; got keys "
                               f"{sorted(map(str, result))}")
    metrics = {"accuracy": _score(name, "accuracy", result["accuracy"])}
    if "macro_f1" in result:
        metrics["macro_f1"] = _score(name, "macro_f1", result["macro_f1"])
    return ModelOutput(metrics=metrics, info=info)


# --------------------------------------------------------------------------------------------- annotated data


def _array(name: str, what: str, value: Any, dims: int) -> np.ndarray:
    """``value`` as a finite float array of ``dims`` dimensions, else a one-line error naming ``what``."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CustomModelError(f"custom model {name} returned {what} that is not a numeric array") from None
    if arr.size == 0:
        arr = arr.reshape((0, 4) if dims == 2 else (0,) * dims)
    if arr.ndim != dims:
        raise CustomModelError(f"custom model {name} returned {what} of shape {arr.shape}; expected {dims} "
                               "dimensions")
    if not np.isfinite(arr).all():
        raise CustomModelError(f"custom model {name} returned {what} with NaN or infinite values")
    return arr


def _own_scores(name: str, result: Mapping, listed: str, keys: Mapping[str, str], needed: str) -> dict:
    """The function's own scores (``keys``: returned key -> metric name); ``needed`` must be among them."""
    if needed not in result:
        raise CustomModelError(f"custom model {name} must return {listed!r} or {needed!r}; got keys "
                               f"{sorted(map(str, result))}")
    return {metric: _score(name, key, result[key]) for key, metric in keys.items() if key in result}


def check_detections(name: str, result: Any, test: Sequence[tuple], classes: Sequence[str]) -> dict:
    """Validate a custom detector's answer and score it: ``{"map", "map50"}`` (``map50`` left out when the
    function gave its own ``map`` without ``map_50``). ``test`` holds ``(image, boxes, labels)`` items."""
    from .detection_model import mean_average_precision

    if not isinstance(result, Mapping):
        raise CustomModelError(f"custom model {name} returned {type(result).__name__}; expected a mapping with "
                               "'detections' or 'map'")
    if "detections" not in result:
        return _own_scores(name, result, "detections", {"map": "map", "map_50": "map50", "map50": "map50"}, "map")
    dets = result["detections"]
    if isinstance(dets, (str, bytes, Mapping)) or not isinstance(dets, Sequence):
        raise CustomModelError(f"custom model {name} returned detections of type {type(dets).__name__}; expected "
                               "a list with one mapping per test image")
    if len(dets) != len(test):
        raise CustomModelError(f"custom model {name} returned detections for {len(dets)} images; the test set "
                               f"has {len(test)}")
    known = set(map(str, classes))
    preds = []
    for i, (d, (image, _, _)) in enumerate(zip(dets, test)):
        where = f"detections[{i}]"
        if not isinstance(d, Mapping) or not {"boxes", "scores", "labels"} <= set(d):
            raise CustomModelError(f"custom model {name} returned {where} without 'boxes', 'scores' and "
                                   "'labels'")
        boxes = _array(name, f"{where}['boxes']", d["boxes"], 2)
        scores = _array(name, f"{where}['scores']", d["scores"], 1)
        labels = d["labels"]
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
            labels = list(np.asarray(labels).reshape(-1)) if isinstance(labels, np.ndarray) else None
        if labels is None:
            raise CustomModelError(f"custom model {name} returned {where}['labels'] that is not a list of class "
                                   "names")
        labels = [str(lab) for lab in labels]
        if boxes.shape[1:] != (4,) or not len(boxes) == len(scores) == len(labels):
            raise CustomModelError(f"custom model {name} returned {where} with boxes of shape {boxes.shape}, "
                                   f"{len(scores)} scores and {len(labels)} labels; expected Mx4 boxes (x_min, "
                                   "y_min, x_max, y_max pixels) and M scores and labels")
        if ((scores < 0) | (scores > 1)).any():
            raise CustomModelError(f"custom model {name} returned {where}['scores'] outside [0, 1]")
        unknown = sorted(set(labels) - known)
        if unknown:
            raise CustomModelError(f"custom model {name} returned unknown class {unknown[0]!r} in {where}; "
                                   f"classes: {', '.join(sorted(known)[:20])}")
        preds.append({"boxes": boxes, "scores": scores, "labels": labels})
    return mean_average_precision(test, preds, classes)


def check_masks(name: str, result: Any, truth: Sequence[np.ndarray], n_classes: int) -> dict:
    """Validate a custom segmenter's answer and score it: ``{"miou", "pixel_accuracy"}`` (``pixel_accuracy``
    left out when the function gave its own ``miou`` without it). ``truth``: the test masks."""
    from .segmentation_model import IGNORE, mean_iou

    if not isinstance(result, Mapping):
        raise CustomModelError(f"custom model {name} returned {type(result).__name__}; expected a mapping with "
                               "'masks' or 'miou'")
    if "masks" not in result:
        return _own_scores(name, result, "masks", {"miou": "miou", "pixel_accuracy": "pixel_accuracy"}, "miou")
    masks = result["masks"]
    if isinstance(masks, (str, bytes, Mapping)) or not isinstance(masks, (Sequence, np.ndarray)):
        raise CustomModelError(f"custom model {name} returned masks of type {type(masks).__name__}; expected a "
                               "list with one HxW class-index array per test image")
    if len(masks) != len(truth):
        raise CustomModelError(f"custom model {name} returned {len(masks)} masks; the test set has {len(truth)} "
                               "images")
    preds = []
    for i, (m, t) in enumerate(zip(masks, truth)):
        arr = _array(name, f"masks[{i}]", m, 2) if np.asarray(m).ndim == 2 else None
        if arr is None or arr.shape != t.shape:
            raise CustomModelError(f"custom model {name} returned masks[{i}] of shape {np.shape(m)}; the test "
                                   f"image is {t.shape[0]}x{t.shape[1]}")
        # the ignore index is allowed: "no prediction", counted wrong wherever the truth is not ignored
        bad = (arr != np.round(arr)) | (arr < 0) | ((arr >= n_classes) & (arr != IGNORE))
        if bad.any():
            raise CustomModelError(f"custom model {name} returned masks[{i}] with values that are not class "
                                   f"indices 0..{n_classes - 1} (or the ignore index {IGNORE})")
        preds.append(arr.astype(np.int64))
    return mean_iou(truth, preds, n_classes)
