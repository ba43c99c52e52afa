"""Any albumentations or torchvision transform by name: ``op: albumentations.CLAHE``, ``op: torchvision.ColorJitter``.

``params`` are the transform's constructor keywords, checked against its signature (unknown keys with a did-you-mean)
and by constructing it (albumentations runs its own pydantic schema; errors keep their key paths). Probability is
the step's ``p``: the library's own ``p`` is refused. The values the library draws are recorded as JSON
(``encode``) and fed back on replay (``decode``); ``augment.compile.library_adapter`` draws and applies them.

Only transforms whose draws can be recorded and replayed exactly qualify. For albumentations the list is data
(``augment/data/albumentations_transforms.json``), written by a test that runs every transform: run, record and
replay give the same bytes, the same seed gives the same bytes twice, and global RNG state changes nothing. A
transform that does not qualify is refused at validation with the reason found.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from augment.ops.registry import ImageContext, OpDef, OpParams

__all__ = [
    "LIBRARIES",
    "MAX_ARRAY_VALUES",
    "TABLE",
    "UnrecordableError",
    "TooLargeError",
    "fingerprint",
    "redraw_record",
    "LibraryParams",
    "encode",
    "decode",
    "resolve",
    "definition",
    "library_of",
    "transform_class",
    "qualification_table",
    "TORCHVISION_TRANSFORMS",
    "TORCHVISION_REFUSED",
    "TORCHVISION_PIXEL",
    "TORCHVISION_GEOMETRIC",
    "signature_schema",
    "torchvision_table",
]

LIBRARIES = ("albumentations", "torchvision")
MAX_ARRAY_VALUES = 1024  # more numbers than this in one draw (a noise field) are recorded as a seed + sha256
TABLE = Path(__file__).resolve().parents[1] / "data" / "albumentations_transforms.json"
_REFUSED_KEYS = {"p": "probability is the step's p (write it next to op:), not a transform parameter",
                 "always_apply": "probability is the step's p (write it next to op:); always_apply is not used"}

# torchvision.transforms.v2 transforms whose make_params draws from torch's RNG (captured under a forked,
# seeded generator) and whose values are tensors or numbers: tested in tests/test_library_ops.py. Not listed:
# ElasticTransform (draws a per-pixel displacement field, too large to record), the AutoAugment family (they
# draw inside forward, not make_params), and the conversions (ToTensor, ToDtype, Normalize: not uint8 images).
TORCHVISION_TRANSFORMS = (
    "ColorJitter", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine",
    "RandomPerspective", "RandomResizedCrop", "RandomCrop", "CenterCrop", "Resize", "RandomGrayscale",
    "GaussianBlur", "RandomInvert", "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness",
    "RandomAutocontrast", "RandomEqualize", "RandomErasing", "RandomChannelPermutation",
    "RandomPhotometricDistort", "Grayscale", "Pad",
)


# why the other torchvision.transforms.v2 transforms cannot be named in a spec (``augment ops --library torchvision``)
TORCHVISION_REFUSED = {
    "ElasticTransform": "draws a per-pixel displacement field, too large to record; use albumentations.ElasticTransform",
    "AutoAugment": "draws inside forward, not make_params, so its values cannot be recorded; use the native ops",
    "RandAugment": "draws inside forward, not make_params, so its values cannot be recorded; use the native ops",
    "TrivialAugmentWide": "draws inside forward, not make_params, so its values cannot be recorded",
    "AugMix": "draws inside forward, not make_params, so its values cannot be recorded",
    "Compose": "composes other transforms, which a spec writes as its steps",
    "RandomApply": "composes other transforms; write the step's p instead",
    "RandomChoice": "composes other transforms, which a spec writes as its steps",
    "RandomOrder": "composes other transforms, which a spec writes as its steps",
    "Lambda": "runs arbitrary Python functions given in code, which a spec cannot name; write an augment.ImageOp",
    "CutMix": "mixes images of a batch; use augment's cutmix in pipe.batch",
    "MixUp": "mixes images of a batch; use augment's mixup in pipe.batch",
    "FiveCrop": "returns five images, not one",
    "TenCrop": "returns ten images, not one",
    "Normalize": "returns float pixels; use augment's normalize op",
    "ToDtype": "changes the pixel type; use augment's to_dtype op",
    "ConvertImageDtype": "changes the pixel type; use augment's to_dtype op",
    "ToTensor": "a conversion, not an augmentation: augment returns the type it is given",
    "ToImage": "a conversion, not an augmentation: augment returns the type it is given",
    "PILToTensor": "a conversion, not an augmentation: augment returns the type it is given",
    "ToPILImage": "a conversion, not an augmentation: augment returns the type it is given",
    "ToPureTensor": "a conversion, not an augmentation: augment returns the type it is given",
    "RGB": "a conversion, not an augmentation; use augment's grayscale or your reader's mode",
    "LinearTransformation": "needs a whitening matrix computed in code, which a spec cannot carry",
    "UniformTemporalSubsample": "works on videos (time axis), not images",
    "GaussianNoise": "takes float pixels; augment images are uint8 (use gauss_noise)",
    "JPEG": "draws its quality inside forward; use augment's image_compression",
    "ClampBoundingBoxes": "works on boxes alone; augment clips boxes itself",
    "ClampKeyPoints": "works on keypoints alone; augment keeps keypoints itself",
    "ConvertBoundingBoxFormat": "works on boxes alone; augment reads every box format itself",
    "SanitizeBoundingBoxes": "works on boxes alone; augment drops degenerate boxes itself",
    "SanitizeKeyPoints": "works on keypoints alone; augment keeps keypoints itself",
    "SetClampingMode": "works on boxes alone; augment clips boxes itself",
    "Identity": "does nothing",
    "RandomIoUCrop": "needs the boxes to draw its crop and may return no image; use bbox_safe_random_crop",
    "RandomZoomOut": "draws inside forward; use the native pad and zoom ops",
    "RandomResize": "draws inside forward, not make_params; use the native resize ops",
    "RandomShortestSize": "draws inside forward, not make_params; use smallest_max_size",
    "ScaleJitter": "draws inside forward, not make_params; use the native zoom or resize ops",
}


# how the tested torchvision transforms treat annotations: pixel-only ones keep them (RandomErasing as augment's
# cutout does: it erases pixels, not objects), geometric ones move them through torchvision's own tv_tensors kernels
TORCHVISION_PIXEL = ("ColorJitter", "RandomGrayscale", "GaussianBlur", "RandomInvert", "RandomPosterize",
                     "RandomSolarize", "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize",
                     "RandomPhotometricDistort", "Grayscale", "RandomChannelPermutation", "RandomErasing")
TORCHVISION_GEOMETRIC = ("RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation", "RandomAffine",
                         "RandomPerspective", "RandomResizedCrop", "RandomCrop", "CenterCrop", "Resize", "Pad")


class UnrecordableError(ValueError):
    """A drawn value that JSON cannot hold exactly (an object, an array of strings)."""


class TooLargeError(UnrecordableError):
    """Drawn arrays of more than ``MAX_ARRAY_VALUES`` numbers in all (a per-pixel noise field, a displacement map):
    recorded as the seed that redraws them and their sha256 instead (``redraw_record``)."""


# --- drawn values as JSON ----------------------------------------------------------------------------------------


_PLAIN = frozenset({int, bool, str, type(None)})  # encoded as themselves


def encode(value: Any, path: str = "", _budget: list | None = None) -> Any:
    """Drawn values as JSON that ``decode`` turns back into the same Python values (tuples stay tuples, arrays
    keep dtype and shape, NaN stays NaN). Arrays of more than ``MAX_ARRAY_VALUES`` numbers in all raise
    ``TooLargeError``; objects JSON cannot hold raise ``UnrecordableError``."""
    kind = type(value)  # the common scalars first: this runs for every drawn value of every output
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind is int or kind is bool or kind is str or value is None:
        return value
    if _budget is None:
        _budget = [MAX_ARRAY_VALUES]
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biuf":
            raise UnrecordableError(f"{path or 'value'}: numpy {value.dtype} cannot be recorded")
        return {"__np__": value.dtype.str, "value": encode(value.item(), path, _budget)}
    if isinstance(value, (tuple, list)):  # long lists count against the budget as arrays do
        budget_left = _budget[0] = _budget[0] - len(value)
        if budget_left < 0:
            raise TooLargeError(f"{path or 'value'}: draws more than {MAX_ARRAY_VALUES} values")
    # items that are plain JSON scalars are kept as they are (what encode returns for them) without building the
    # path that only an error message would use
    if isinstance(value, tuple):
        return {"__tuple__": [v if type(v) in _PLAIN or (type(v) is float and math.isfinite(v))
                              else encode(v, f"{path}[{i}]", _budget) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [v if type(v) in _PLAIN or (type(v) is float and math.isfinite(v))
                else encode(v, f"{path}[{i}]", _budget) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("__"):
                raise UnrecordableError(f"{path or 'value'}: key {k!r} cannot be recorded")
            kind = type(v)
            out[k] = v if kind in _PLAIN or (kind is float and math.isfinite(v)) else \
                encode(v, f"{path}.{k}" if path else k, _budget)
        return out
    if isinstance(value, np.ndarray):
        return _array("__ndarray__", value, value.dtype.str, path, _budget)
    if type(value).__module__.startswith("torch") and hasattr(value, "numpy") and hasattr(value, "dtype"):
        arr = value.detach().cpu().numpy()
        return _array("__tensor__", arr, str(value.dtype).removeprefix("torch."), path, _budget)
    raise UnrecordableError(f"{path or 'value'}: a {type(value).__module__}.{type(value).__qualname__} cannot be "
                            "recorded as JSON")


def _array(tag: str, arr: np.ndarray, dtype: str, path: str, budget: list) -> dict:
    if arr.dtype.kind not in "biuf":
        raise UnrecordableError(f"{path}: an array of {arr.dtype} cannot be recorded")
    budget[0] -= arr.size
    if budget[0] < 0:
        raise TooLargeError(f"{path}: draws arrays of more than {MAX_ARRAY_VALUES} values")
    values = arr.tolist()
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        values = encode(values if arr.ndim else [values], path)  # NaN / inf as tagged floats
    return {tag: values, "dtype": dtype, "shape": list(arr.shape)}


def fingerprint(value: Any) -> str:
    """sha256 of drawn values, arrays by dtype, shape and bytes: what a redraw record checks its redraw against."""
    digest = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray) or (type(v).__module__.startswith("torch") and hasattr(v, "numpy")):
            arr = np.ascontiguousarray(v if isinstance(v, np.ndarray) else v.detach().cpu().numpy())
            digest.update(f"A{arr.dtype.str}{arr.shape}".encode())
            digest.update(arr.tobytes())
        elif isinstance(v, dict):
            digest.update(b"{")
            for k in sorted(v, key=str):
                digest.update(repr(k).encode())
                feed(v[k])
            digest.update(b"}")
        elif isinstance(v, (list, tuple)):
            digest.update(b"(" if isinstance(v, tuple) else b"[")
            for x in v:
                feed(x)
            digest.update(b"]")
        else:
            digest.update(f"{type(v).__name__}:{v!r};".encode())

    feed(value)
    return digest.hexdigest()


def redraw_record(seed: int, values: Any) -> dict:
    """The record of a draw too large to hold: the seed that draws it again and the sha256 it must have."""
    return {"__redraw__": seed, "sha256": fingerprint(values)}


def decode(value: Any) -> Any:
    """The Python values ``encode`` recorded; a malformed record raises ValueError."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(decode(v) for v in _list(value["__tuple__"]))
    if "__float__" in value:
        text = value["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad recorded float {text!r}")
        return float(text)
    if "__np__" in value:
        return np.dtype(_dtype(value["__np__"])).type(decode(value["value"]))
    if "__ndarray__" in value:
        return _decode_array(value["__ndarray__"], value)
    if "__tensor__" in value:
        import torch

        arr = _decode_array(value["__tensor__"], value, torch_dtype=True)
        return torch.from_numpy(arr)
    return {k: decode(v) for k, v in value.items()}


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {type(value).__name__}")
    return value


def _dtype(text: Any) -> np.dtype:
    if not isinstance(text, str) or len(text) > 16:
        raise ValueError("bad recorded dtype")
    dt = np.dtype(text)
    if dt.kind not in "biuf":
        raise ValueError(f"recorded dtype {text!r} is not numeric")
    return dt


def _decode_array(values: Any, record: dict, torch_dtype: bool = False) -> np.ndarray:
    text = record.get("dtype")
    if torch_dtype:
        text = {"bool": "bool", "float32": "<f4", "float64": "<f8", "int64": "<i8", "int32": "<i4",
                "uint8": "|u1", "float16": "<f2", "int16": "<i2", "int8": "|i1"}.get(text, "?")
    dt = _dtype(text)
    shape = record.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and 0 <= s <= MAX_ARRAY_VALUES for s in shape):
        raise ValueError("bad recorded shape")
    if math.prod(shape) > MAX_ARRAY_VALUES:
        raise ValueError("recorded array is larger than any draw")
    arr = np.array(decode(values), dtype=dt)
    if arr.size == 0 and math.prod(shape) == 0:
        arr = arr.reshape(shape)  # an empty (0, 4) array reads back as (0,) from []
    if list(arr.shape) != shape:
        raise ValueError(f"recorded array has shape {list(arr.shape)}, its record says {shape}")
    return arr


# --- resolving names -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def qualification_table() -> dict:
    """The tested list: ``{"version": ..., "transforms": {name: {"qualifies": bool, "reason": str | None}}}``."""
    try:
        return json.loads(TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": None, "transforms": {}}


def torchvision_table() -> dict:
    """Every torchvision.transforms.v2 transform: ``{name: {"qualifies": bool, "reason": str | None}}``."""
    from torchvision.transforms import v2

    names = {n for n in dir(v2) if not n.startswith("_") and inspect.isclass(getattr(v2, n))
             and issubclass(getattr(v2, n), v2.Transform) and n != "Transform"}
    table = {}
    for name in sorted(names | set(TORCHVISION_TRANSFORMS)):
        ok = name in TORCHVISION_TRANSFORMS
        reason = None if ok else TORCHVISION_REFUSED.get(
            name, "not on the tested list of torchvision transforms whose draws augment records and replays")
        table[name] = {"qualifies": ok, "reason": reason}
    return table


def library_of(name: str) -> str | None:
    prefix = name.split(".", 1)[0]
    return prefix if prefix in LIBRARIES else None


def _candidates(library: str) -> list[str]:
    if library == "albumentations":
        return sorted(qualification_table()["transforms"])
    return list(TORCHVISION_TRANSFORMS)


def transform_class(name: str) -> type:
    """The library class behind ``albumentations.X`` / ``torchvision.X``; LookupError (one line) if there is none."""
    library, _, attr = name.partition(".")
    if library == "albumentations":
        import albumentations as module
        from albumentations.core.transforms_interface import BasicTransform as base
    else:
        from torchvision.transforms import v2 as module
        from torchvision.transforms.v2 import Transform as base
    cls = getattr(module, attr, None) if attr.isidentifier() and not attr.startswith("_") else None
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        names = _candidates(library)
        # case first (albumentations.clahe, .Clahe: CLAHE), then spelling
        match = [n for n in names if n.lower() == attr.lower()] or \
            [next(n for n in names if n.lower() == m)
             for m in difflib.get_close_matches(attr.lower(), [n.lower() for n in names], n=1, cutoff=0.6)]
        hint = f" (did you mean '{library}.{match[0]}'?)" if match else ""
        raise LookupError(f"{library} has no transform {attr!r}{hint}")
    return cls


def _refusal(name: str) -> str | None:
    library, _, attr = name.partition(".")
    if library == "torchvision":
        if attr in TORCHVISION_REFUSED:
            return f"torchvision.{attr} cannot be used by name: {TORCHVISION_REFUSED[attr]}"
        if attr not in TORCHVISION_TRANSFORMS:
            return (f"torchvision.{attr} is not on the tested list of torchvision transforms whose draws augment "
                    "records and replays (see README); use an albumentations or native op")
        return None
    entry = qualification_table()["transforms"].get(attr)
    if entry is None:
        return f"albumentations.{attr} is not on the tested list of qualifying transforms (see README)"
    if not entry.get("qualifies"):
        return f"albumentations.{attr} cannot be used by name: {entry.get('reason')}"
    return None


class LibraryParams(OpParams):
    """The constructor keywords of one library transform, checked against its signature and by building it."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=False)
    transform_name: ClassVar[str] = ""
    transform_cls: ClassVar[type]

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any):
        if not isinstance(obj, dict):
            raise _error("model_type", (), "expected a mapping of the transform's keywords", obj)
        allowed = [n for n in _keywords(cls.transform_cls) if n not in _REFUSED_KEYS]
        problems = []
        for key, value in obj.items():
            if key in _REFUSED_KEYS:
                problems.append(_details(key, _REFUSED_KEYS[key], value))
            elif key not in allowed:
                match = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                hint = f" (did you mean {match[0]!r}?)" if match else ""
                problems.append(_details(key, f"unknown keyword {key!r} of {cls.transform_name}{hint}; its keywords: "
                                              f"{', '.join(allowed) or 'none'}", value))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        try:
            _build_and_try(cls, obj)
        except Exception as exc:  # noqa: BLE001 - the library's own check, whatever it raises, is one line
            schema_error = exc if isinstance(exc, ValidationError) else exc.__cause__
            if isinstance(schema_error, ValidationError):  # albumentations' own schema: keep its key paths
                raise ValidationError.from_exception_data(cls.__name__, [
                    _details(path, message.removeprefix("Value error, "), value)
                    for path, message, value in _schema_issues(schema_error.errors(include_url=False))]) from None
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            key = _named_key(first, _keywords(cls.transform_cls)) or _culprit(cls, obj)
            raise ValidationError.from_exception_data(cls.__name__, [
                _details(key or "", first, obj.get(key, obj) if key else obj)]) from None
        return super().model_validate(obj, *args, **kwargs)

    def keywords(self) -> dict:
        """The constructor keywords as given (lists where the spec has lists)."""
        return dict(self.model_extra or {})

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict:
        return signature_schema(cls.transform_name, cls.transform_cls)


def signature_schema(name: str, cls: type) -> dict:
    """The JSON schema of a transform's constructor keywords: one property per keyword of its signature (not ``p``)
    with its default, typed by albumentations' own ``InitSchema`` where it has one, else by the annotation; the
    keywords without a default are required. What the studio and ``/v1/ops`` build controls from."""
    init_schema: dict = {}
    own = getattr(cls, "InitSchema", None)
    if own is not None:
        try:
            init_schema = own.model_json_schema().get("properties", {})
        except Exception:  # noqa: BLE001 - a schema pydantic cannot render: the annotations type the keywords
            init_schema = {}
    sig = inspect.signature(cls.__init__)
    properties, required = {}, []
    for key, param in sig.parameters.items():
        if key == "self" or key in _REFUSED_KEYS or param.kind not in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
            continue
        prop = dict(init_schema.get(key) or _annotation_schema(param.annotation))
        prop.pop("title", None)
        if param.default is param.empty:
            required.append(key)
        else:
            default = _json_default(param.default)
            if default is not _NO_DEFAULT:
                prop["default"] = default
        properties[key] = prop
    schema = {"title": name, "type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


_NO_DEFAULT = object()


def _annotation_schema(annotation: Any) -> dict:
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return {}
    try:
        from pydantic import TypeAdapter

        return TypeAdapter(annotation).json_schema()
    except Exception:  # noqa: BLE001 - an annotation pydantic cannot render (a class, a callable): untyped
        return {}


def _json_default(value: Any) -> Any:
    import enum

    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _NO_DEFAULT
    return value


def _details(key: str, message: str, value: Any) -> InitErrorDetails:
    loc = tuple(int(part) if part.isdigit() else part for part in key.split(".") if part) if key else ()
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=value)


def _error(kind: str, loc: tuple, message: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data("params", [InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=loc, input=value)])


def _keywords(cls: type) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [n for n, p in sig.parameters.items() if n != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _type_tag(part: Any) -> bool:
    """A location part pydantic adds for a union's branch (``float``, ``tuple[float, float]``), not a key."""
    return isinstance(part, str) and (part in ("float", "int", "str", "bool", "list", "tuple", "dict", "none")
                                      or "[" in part or "," in part)


def _schema_issues(errors: list[dict]) -> list[tuple[str, str, Any]]:
    """One issue per keyword from albumentations' schema errors: a value that matches no branch of a union got an
    error per branch (``scale: Input should be a valid tuple`` and ``scale.float: ...``); the branch that got
    deepest into the value says what is wrong (``scale.y: Input should be a valid number``), with the branch
    names left out of its path."""
    best: dict[Any, tuple[int, list, list, Any]] = {}
    for e in errors:
        loc = [part for part in e["loc"] if not _type_tag(part)]
        top = loc[0] if loc else ""
        if top not in best or len(loc) > best[top][0]:
            best[top] = (len(loc), loc, [e["msg"]], e.get("input"))
        elif len(loc) == best[top][0] and loc == best[top][1] and e["msg"] not in best[top][2]:
            best[top][2].append(e["msg"])  # branches as deep as each other: what each wanted
    return [(".".join(str(p) for p in loc), "; or ".join(msgs), value) for _, loc, msgs, value in best.values()]


def _build_and_try(cls, keywords: dict) -> None:
    import warnings

    with warnings.catch_warnings():  # what the library warns about a keyword, its trial call then raises
        warnings.simplefilter("ignore")
        built = build(cls.transform_name, cls.transform_cls, keywords)
        if cls.transform_name.startswith("torchvision."):
            try:
                seen = (cls.transform_name, json.dumps(keywords, sort_keys=True))
            except (TypeError, ValueError):  # keywords JSON cannot hold: tried every time
                seen = None
            if seen is None or seen not in _TRIED:  # every worker and service request parses the spec again
                _trial(built, keywords)
                if seen is not None:
                    if len(_TRIED) >= 1024:
                        _TRIED.clear()
                    _TRIED.add(seen)


_TRIED: set[tuple[str, str]] = set()  # (transform, keywords) whose trial draw passed in this process


def _culprit(cls, keywords: dict) -> str | None:
    """The keyword whose value the library refused, where its message names none: the only one given, else the
    one whose removal (its default instead) makes the transform build and draw."""
    if len(keywords) == 1:
        return next(iter(keywords))
    for key in keywords:
        try:
            _build_and_try(cls, {k: v for k, v in keywords.items() if k != key})
        except Exception:  # noqa: BLE001 - still refused without it (or required): not this one
            continue
        return key
    return None


def _named_key(message: str, keys: list[str]) -> str | None:
    """The one constructor keyword a library's error message names (torchvision's checks say "If brightness is a
    single number, ..." or "missing 1 required positional argument: 'degrees'"), so the error names its key."""
    import re

    def names(k: str) -> bool:  # "kernel_size" also as "Kernel size"
        return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])", message, re.IGNORECASE)
                   for form in {k, k.replace("_", " ")})

    named = [k for k in keys if names(k)]
    return named[0] if len(named) == 1 else None


def _trial(transform, keywords: dict) -> None:
    """One draw and call of a torchvision transform on a blank image: torchvision checks some keywords only when
    it draws (reversed ranges, negative sizes), so a spec that passed validation failed every item of a run. The
    image is as large as the largest number among the keywords (a crop of 92x120 needs that much image; up to
    ``_TRIAL_MAX_SIDE``), so only what fails on every image is refused. Under a forked CPU generator: the global
    torch RNG is left as it was."""
    import torch
    from torchvision import tv_tensors

    side = min(_TRIAL_MAX_SIDE, max([32, *(int(v) + 1 for v in _numbers(keywords) if 0 < v < 1e9)]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        transform(tv_tensors.Image(torch.zeros((3, side, side), dtype=torch.uint8)))


_TRIAL_MAX_SIDE = 4096


def _numbers(value: Any):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)


def build(name: str, cls: type, keywords: dict):
    """A new instance of the transform with the spec's keywords (albumentations: its ``p`` is 1, the step decides)."""
    if name.startswith("albumentations."):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # albumentations warns about deprecated arguments it still accepts
            return cls(**keywords, p=1.0)
    return cls(**keywords)


def _remaps_points(cls) -> bool:
    """albumentations' distortions (Grid, Elastic, Optical, PiecewiseAffine, ThinPlateSpline): their
    ``apply_to_keypoints`` remaps through the displacement map and drops every point it cannot place."""
    try:
        from albumentations.augmentations.geometric.distortion import BaseDistortion
    except ImportError:  # another albumentations layout: judged by the name of the base class
        return any(base.__name__ == "BaseDistortion" for base in cls.__mro__)
    return issubclass(cls, BaseDistortion)


def _library_geometry(drawn, params, hw):
    raise RuntimeError("library transforms move annotations through augment.compile.library_adapter")


def _no_sampler(params, rng, ctx):
    raise RuntimeError("library transforms draw through augment.compile.library_adapter")


def _check_record(drawn: Any, params: Any, ctx: ImageContext) -> None:
    from augment.ops.drawn import DrawnValueError

    if not isinstance(drawn, dict):
        raise DrawnValueError(f"expected a mapping of drawn values, got {type(drawn).__name__}")
    if "__redraw__" in drawn:
        seed, sha = drawn.get("__redraw__"), drawn.get("sha256")
        if set(drawn) != {"__redraw__", "sha256"} or isinstance(seed, bool) or not isinstance(seed, int) \
                or not 0 <= seed < 2**32 or not isinstance(sha, str) or len(sha) != 64:
            raise DrawnValueError("a redraw record holds exactly __redraw__ (a 32-bit seed) and sha256")
        return
    try:
        decode(drawn)
    except (ValueError, TypeError) as exc:
        raise DrawnValueError(f"the recorded values cannot be read back: {exc}") from None


@lru_cache(maxsize=512)
def resolve(name: str) -> OpDef:
    """The op definition of ``albumentations.X`` / ``torchvision.X``; LookupError with the reason if it cannot run."""
    transform_class(name)
    reason = _refusal(name)
    if reason:
        raise LookupError(reason)
    return definition(name)


def definition(name: str) -> OpDef:
    """The op definition of a library transform, whether or not it qualifies (the qualification test uses it)."""
    cls = transform_class(name)
    library = library_of(name)
    params = type(f"{cls.__name__}Params", (LibraryParams,), {"transform_name": name, "transform_cls": cls,
                                                              "__module__": __name__})
    import importlib.metadata as md

    try:
        version = md.version(library)
    except md.PackageNotFoundError:
        version = None
    if library == "albumentations":
        from albumentations.core.transforms_interface import ImageOnlyTransform

        pixel = issubclass(cls, ImageOnlyTransform)
    else:
        pixel = name in {f"torchvision.{n}" for n in TORCHVISION_PIXEL}
    geometry = None
    if pixel:
        annotations = "pixel"
    elif library == "albumentations" and _remaps_points(cls):
        annotations = (f"{name} moves points by remapping a raster of them, which loses those at the border or "
                       "squeezed together (a box touching the edge, a VOC xmax equal to the width), so boxes and "
                       "keypoints cannot follow it; on annotated data use the native grid_distortion, elastic or "
                       "optical_distortion ops")
    elif library == "albumentations" or name in {f"torchvision.{n}" for n in TORCHVISION_GEOMETRIC}:
        # albumentations: boxes, polygons and keypoints through the transform's own apply_to_keypoints, masks
        # through its apply_to_mask; torchvision: through its tv_tensors kernels (augment.compile.library_adapter,
        # augment.compile.plugin_targets), with the same recorded values as the image
        annotations, geometry = "geometric", _library_geometry
    else:
        annotations = (f"{name} has no tested handling of boxes, masks and keypoints; on annotated data use "
                       "albumentations' transform or the native ops")
    summary = (inspect.getdoc(cls) or name).splitlines()[0]
    return OpDef(name=name, modality="image", params=params, summary=summary, sample=_no_sampler,
                 annotations=annotations, geometry=geometry, check_record=_check_record,
                 origin={"distribution": library, "version": version, "library": library})
