"""Which albumentations transforms can be used by name: each one is run, recorded and replayed.

A transform qualifies when, on a test image, for several seeds: its draw is JSON that ``decode`` reads back and
small enough for a manifest record; the same seed gives the same draw and the same bytes even when the global
RNGs (``random``, ``numpy.random``, torch) were reseeded in between; a replay of the JSON record on a fresh
instance gives the same bytes; it returns a uint8 image and leaves its input alone. Anything else is a reason.

``python -m augment.compile.library_qualify`` rewrites ``augment/data/albumentations_transforms.json``;
tests/test_library_ops.py regenerates the table and fails when it differs from the checked-in file.
"""

from __future__ import annotations

import inspect
import json
import random
import sys
from typing import Any

import numpy as np

from augment.compile import library_adapter
from augment.ops.library_ops import TABLE, LibraryParams, definition
from augment.ops.plugins import first_line

__all__ = ["SAMPLE_KEYWORDS", "KNOWN_REASONS", "albumentations_names", "qualify", "build_table", "MAX_RECORD_CHARS"]

MAX_RECORD_CHARS = 20_000
SEEDS = (0, 1, 2)

# transforms with required constructor arguments are tried with these
SAMPLE_KEYWORDS: dict[str, dict] = {
    "CenterCrop": {"height": 24, "width": 32},
    "RandomCrop": {"height": 24, "width": 32},
    "Resize": {"height": 40, "width": 40},
    "RandomResizedCrop": {"size": [32, 32]},
    "RandomSizedCrop": {"min_max_height": [16, 40], "size": [32, 32]},
    "GridElasticDeform": {"num_grid_xy": [4, 4], "magnitude": 5},
    "AtLeastOneBBoxRandomCrop": {"height": 24, "width": 32},
    "RandomSizedBBoxSafeCrop": {"height": 24, "width": 32},
    "CropNonEmptyMaskIfExists": {"height": 24, "width": 32},
    "Crop": {"x_min": 4, "y_min": 2, "x_max": 36, "y_max": 30},
    "CropAndPad": {"px": [-4, 4]},
    "LongestMaxSize": {"max_size": 40},
    "SmallestMaxSize": {"max_size": 40},
}

# where running the transform alone cannot show the real reason
KNOWN_REASONS = {
    "Lambda": "runs arbitrary Python functions given in code, which a spec cannot name; write an augment.ImageOp",
    "TextImage": "renders text from a font file and per-image metadata, which a spec does not carry",
    "ToTensorV2": "returns a torch tensor, not an image",
    "ToFloat": "returns float pixels; augment writes uint8 images",
    "FromFloat": "takes float pixels; augment images are uint8",
    "Normalize": "returns float pixels; augment writes uint8 images (normalise in your data loader)",
    "FDA": "needs reference images passed as per-image metadata, which a spec does not carry",
    "HistogramMatching": "needs reference images passed as per-image metadata, which a spec does not carry",
    "PixelDistributionAdaptation": "needs reference images passed as per-image metadata, which a spec does not carry",
    "Mosaic": "needs other images passed as per-image metadata; use augment's mosaic op",
    "OverlayElements": "needs overlay images passed as per-image metadata, which a spec does not carry",
    "ConstrainedCoarseDropout": "places its holes inside mask or box regions given as targets, which this adapter "
                                "does not pass (without them it drops nothing); use albumentations.CoarseDropout",
    "TimeMasking": "works on spectrograms (time axis), not images; use cutout or albumentations.XYMasking",
    "FrequencyMasking": "works on spectrograms (frequency axis), not images; use albumentations.XYMasking",
    "TimeReverse": "works on spectrograms (time axis), not images; use horizontal_flip",
}
_ABSTRACT = {"BasicTransform", "DualTransform", "ImageOnlyTransform", "Transform3D", "NoOp"}


def albumentations_names() -> list[str]:
    import albumentations as A
    from albumentations.core.transforms_interface import BasicTransform

    return sorted(n for n in dir(A) if not n.startswith("_") and inspect.isclass(getattr(A, n))
                  and issubclass(getattr(A, n), BasicTransform) and n not in _ABSTRACT)


def _reseed_globals(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _first_line(exc: BaseException) -> str:
    text = first_line(exc)
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def qualify(attr: str, image: np.ndarray | None = None) -> str | None:
    """None if ``albumentations.<attr>`` qualifies, else the one-line reason."""
    import albumentations as A

    if attr in KNOWN_REASONS:
        return KNOWN_REASONS[attr]
    cls = getattr(A, attr)
    if "3D" in attr or "volume" in (inspect.getdoc(cls) or "").split("\n")[0].lower():
        return "works on 3-D volumes, not images"
    name = f"albumentations.{attr}"
    op = definition(name)
    try:
        params = op.params.model_validate(SAMPLE_KEYWORDS.get(attr, {}))
        assert isinstance(params, LibraryParams)
    except Exception as exc:  # noqa: BLE001 - any failure is the reason
        return f"cannot be built from spec keywords ({_first_line(exc)})"
    if image is None:
        image = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    before = image.copy()
    for seed in SEEDS:
        outs, draws = [], []
        for global_seed in (seed + 100, seed + 200):
            _reseed_globals(global_seed)
            library_adapter._LOCAL.cache = {}
            try:
                drawn = library_adapter.draw(op, params, np.random.default_rng(seed), image)
            except Exception as exc:  # noqa: BLE001
                message = _first_line(exc)
                if "cannot be recorded" in message:
                    return f"its drawn values cannot be recorded as JSON: {str(exc)[:200]}"
                return f"cannot draw its values from the image alone ({message})"
            text = json.dumps(drawn, allow_nan=False)
            if len(text) > MAX_RECORD_CHARS:
                return f"records {len(text) // 1000} kB of drawn values per image (limit {MAX_RECORD_CHARS // 1000} kB)"
            if global_seed != seed + 100:
                # a replay: a fresh instance whose own generators are in another state applies the first record
                library_adapter._LOCAL.cache = {}
                library_adapter._instance(op, params).set_random_seed(global_seed + 1)
                text = draws[0]
                library_adapter._LOCAL.last = None
            try:
                out = library_adapter.apply(op, params, image, json.loads(text))  # from JSON: decoded
            except Exception as exc:  # noqa: BLE001
                return f"cannot be applied from its recorded values ({_first_line(exc)})"
            if not np.array_equal(image, before):
                return "changes its input image in place"
            outs.append(out)
            draws.append(json.dumps(drawn, allow_nan=False))
        if draws[0] != draws[1]:
            return "draws from global random state: the same seed gave different values after reseeding random/numpy"
        if outs[0].shape != outs[1].shape or not np.array_equal(outs[0], outs[1]):
            return ("applies randomness that is not in its drawn values: replaying the same record gave different "
                    "bytes")
    return None


def build_table() -> dict:
    import albumentations as A

    transforms: dict[str, Any] = {}
    for attr in albumentations_names():
        reason = qualify(attr)
        transforms[attr] = {"qualifies": reason is None, "reason": reason}
    return {"library": "albumentations", "version": A.__version__,
            "note": "generated by python -m augment.compile.library_qualify (tests/test_library_ops.py checks it)",
            "transforms": transforms}


def main(argv: list[str]) -> int:
    table = build_table()
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if "--check" in argv:
        stale = not TABLE.is_file() or TABLE.read_text(encoding="utf-8") != text
        print(f"{TABLE} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    TABLE.write_text(text, encoding="utf-8")
    ok = sum(t["qualifies"] for t in table["transforms"].values())
    print(f"wrote {TABLE}: {ok} of {len(table['transforms'])} transforms qualify")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
