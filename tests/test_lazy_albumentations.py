"""albumentations (~0.8 s to import, scipy with it) is imported only when a kernel needs it: a run whose ops never
call it starts its workers that much sooner, and a run that needs it imports it once, in the forkserver."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from augment.compile.import_guard import WITHOUT_ALBUMENTATIONS, LazyKernels, spec_needs_albumentations
from augment.ops.catalog import registry
from augment.run.engines import preload_for_spec

TESTS = Path(__file__).resolve().parent

# Every op listed as free of albumentations, on gray, RGB, RGBA and 2-D images, with seeds that make each draw
# its values differently; then one op that needs it, which must still work (imported on first use).
PROBE = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from op_requirements import required
from augment.compile import Pipeline
from augment.spec import parse_spec
import augment.compile.backend_albumentations  # the backend alone
report = {"after_backend_import": "albumentations" in sys.modules, "imported_by": {}}
shapes = [(64, 64, 1), (64, 64, 3), (64, 64, 4), (33, 47, 3), (40, 30)]
for op in json.loads(sys.argv[2]):
    params = {"mean": [0.5], "std": [0.25]} if op == "normalize" else required(op)
    pipe = Pipeline(parse_spec({"name": "probe", "modality": "image", "steps": [{"op": op, "params": params}]}))
    for shape in shapes:
        img = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
        for seed in range(8):
            pipe(img, seed=seed)
    if "albumentations" in sys.modules:
        report["imported_by"][op] = True
        break
clahe = Pipeline(parse_spec({"name": "probe", "modality": "image", "steps": [{"op": "clahe"}]}))
img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
report["clahe_shape"] = list(clahe(img, seed=1).shape)
report["after_clahe"] = "albumentations" in sys.modules
print(json.dumps(report))
"""


def test_ops_listed_as_free_never_import_albumentations_and_the_others_still_work():
    ops = sorted(WITHOUT_ALBUMENTATIONS)
    out = subprocess.run([sys.executable, "-c", PROBE, str(TESTS), json.dumps(ops)], capture_output=True,
                         text=True, timeout=300, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["after_backend_import"] is False
    assert report["imported_by"] == {}
    assert report["clahe_shape"] == [32, 32, 3] and report["after_clahe"] is True


def test_every_op_listed_as_free_is_an_image_op():
    assert WITHOUT_ALBUMENTATIONS <= set(registry().names("image"))


def test_the_stand_in_puts_the_module_in_its_place_on_first_use():
    namespace: dict = {}
    namespace["fpixel"] = LazyKernels("albumentations.augmentations.pixel.functional", namespace, "fpixel")
    stand_in = namespace["fpixel"]
    assert callable(stand_in.adjust_hue_torchvision)
    import albumentations.augmentations.pixel.functional as fpixel

    assert namespace["fpixel"] is fpixel
    with pytest.raises(AttributeError):
        stand_in.__wrapped__  # copy, pickle and inspect probe dunders: the stand-in answers them itself


@pytest.mark.parametrize(("steps", "needs"), [
    ([{"op": "horizontal_flip"}, {"op": "zoom"}], False),
    ([{"op": "horizontal_flip"}, {"one_of": [{"op": "rotate"}, {"sequence": [{"op": "clahe"}]}]}], True),
    ([{"some_of": [{"op": "hsv"}, {"op": "affine"}], "n": [1, 2]}], False),
    ([{"op": "albumentations.CLAHE"}], True),  # a library transform by name
    ([{"op": "augment_stain.stain_jitter"}], True),  # a plugin: it may import anything; preload as before
    ([], False),
])
def test_which_specs_need_albumentations(steps, needs):
    spec = {"modality": "image", "steps": steps}
    assert spec_needs_albumentations(spec) is needs
    assert ("albumentations" in preload_for_spec(spec)) is needs
    assert "albumentations" not in preload_for_spec(dict(spec, backend="torchvision"))
