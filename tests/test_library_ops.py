"""Library transforms by name (``albumentations.X``, ``torchvision.X``): validated keywords, recorded draws,
byte-exact replay, randomness from augment's seed stream only, and the tested list of qualifying transforms."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import augment
from augment.compile.library_qualify import SAMPLE_KEYWORDS, build_table
from augment.compile.targets import Targets
from augment.ops.drawn import DrawnValueError
from augment.ops.library_ops import TABLE, TORCHVISION_TRANSFORMS, decode, encode, qualification_table
from conftest import REPO

QUALIFYING = sorted(n for n, t in qualification_table()["transforms"].items() if t["qualifies"])
TV_KEYWORDS = {
    "RandomRotation": {"degrees": 20}, "RandomAffine": {"degrees": 10, "translate": [0.1, 0.1]},
    "RandomResizedCrop": {"size": [32, 32]}, "RandomCrop": {"size": [24, 32]}, "CenterCrop": {"size": [24, 32]},
    "Resize": {"size": [40, 40]}, "GaussianBlur": {"kernel_size": 5, "sigma": [0.1, 2.0]},
    "RandomPosterize": {"bits": 3}, "RandomSolarize": {"threshold": 128}, "RandomAdjustSharpness":
    {"sharpness_factor": 2.0}, "Pad": {"padding": 3}, "ColorJitter": {"brightness": 0.4, "contrast": 0.4,
                                                                       "saturation": 0.4, "hue": 0.1},
}


def _image(h=48, w=64, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _pipe(op: str, params: dict, backend: str = "albumentations", p: float = 1.0) -> augment.Pipeline:
    return augment.Pipeline(augment.parse_spec({"modality": "image", "backend": backend, "seed": 3,
                                                "steps": [{"op": op, "p": p, "params": params}]}))


def _check_run_replay(pipe: augment.Pipeline, image: np.ndarray) -> None:
    for seed in (1, 2, 3):
        np.random.seed(seed + 50)
        random.seed(seed + 50)
        torch.manual_seed(seed + 50)
        first = pipe.run(image, seed=seed)
        np.random.seed(seed + 99)  # other global RNG state: nothing changes
        random.seed(seed + 99)
        torch.manual_seed(seed + 99)
        second = pipe.run(image, seed=seed)
        assert np.array_equal(first.output, second.output) and first.applied == second.applied
        record = json.loads(json.dumps(first.applied, allow_nan=False))  # the manifest's JSON
        assert np.array_equal(pipe.replay(image, record), first.output)
        assert np.array_equal(pipe(image, seed=seed), first.output)  # the image alone (values not encoded)


def test_the_tested_list_is_what_running_every_transform_gives():
    """Regenerating the table (every albumentations transform run, recorded and replayed) gives the checked-in
    file: ``python -m augment.compile.library_qualify`` rewrites it."""
    table = build_table()
    assert json.loads(TABLE.read_text(encoding="utf-8")) == json.loads(json.dumps(table))
    assert len(table["transforms"]) > 100
    assert sum(t["qualifies"] for t in table["transforms"].values()) >= 70
    assert all(t["reason"] for t in table["transforms"].values() if not t["qualifies"])


@pytest.mark.parametrize("name", QUALIFYING)
def test_every_qualifying_albumentations_transform_replays_byte_exact(name):
    pipe = _pipe(f"albumentations.{name}", SAMPLE_KEYWORDS.get(name, {}))
    _check_run_replay(pipe, _image())
    res = pipe.run(_image(), seed=1)
    assert res.applied[0]["provider"].startswith("albumentations 2.")


@pytest.mark.parametrize("name", TORCHVISION_TRANSFORMS)
def test_every_listed_torchvision_transform_replays_byte_exact_and_leaves_torch_rng_alone(name):
    pipe = _pipe(f"torchvision.{name}", TV_KEYWORDS.get(name, {}))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    pipe.run(_image(), seed=4)
    assert torch.equal(before, torch.get_rng_state())
    _check_run_replay(pipe, _image())


_SHAPES = [(40, 52), (40, 52, 1), (40, 52, 3), (40, 52, 4)]


@pytest.mark.parametrize("name", [f"albumentations.{n}" for n in QUALIFYING]
                         + [f"torchvision.{n}" for n in TORCHVISION_TRANSFORMS])
def test_no_library_transform_writes_into_its_input_or_returns_a_view_of_it(name):
    # albumentations' AutoContrast stretched a one-channel input in place (the same seed then gave another output,
    # and a run's read-only decoded pixels failed every item); torchvision's RandomErasing(inplace=True) erased it
    library, _, attr = name.partition(".")
    params = dict(SAMPLE_KEYWORDS.get(attr, {}) if library == "albumentations" else TV_KEYWORDS.get(attr, {}))
    if attr == "RandomErasing":
        params["inplace"] = True
    pipe = _pipe(name, params)
    ran = 0
    for shape in _SHAPES:
        for writable in (True, False):
            image = np.random.default_rng(len(shape)).integers(0, 60, shape, dtype=np.uint8)  # low contrast
            image.flags.writeable = writable
            keep = image.copy()
            try:
                first = pipe(image, seed=5)
            except Exception as exc:  # noqa: BLE001 - a shape the library does not take (a run's item error)
                assert "read-only" not in str(exc) and "not writable" not in str(exc), exc
                continue
            assert np.array_equal(image, keep), f"{name} changed its {shape} input"
            assert not np.may_share_memory(first, image)
            assert np.array_equal(pipe(image, seed=5), first)
            ran += 1
    assert ran >= 2


def test_the_same_draws_on_either_backend_and_through_the_typed_api():
    spec = [{"op": "albumentations.CLAHE", "params": {"clip_limit": [1, 4]}},
            {"op": "torchvision.ColorJitter", "p": 0.8, "params": {"brightness": 0.3, "hue": 0.05}}]
    outs = []
    for backend in ("albumentations", "torchvision"):
        pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "backend": backend, "steps": spec}))
        outs.append(pipe.run(_image(), seed=8))
    assert np.array_equal(outs[0].output, outs[1].output) and outs[0].applied == outs[1].applied
    clahe = augment.ops.op_class("albumentations.CLAHE")(clip_limit=[1, 4])
    typed = augment.Compose([clahe], seed=0)
    res = typed.run(_image(), seed=8)
    assert res.applied[0]["params"] == outs[0].applied[0]["params"] and res.ops[0].values.clip_limit
    assert augment.Compose.from_yaml(typed.to_yaml()).spec_hash == typed.spec_hash


@pytest.mark.parametrize("step, message", [
    ({"op": "albumentations.CLAHE", "params": {"clip_limt": 2}},
     "steps[0].params.clip_limt: unknown keyword 'clip_limt' of albumentations.CLAHE (did you mean 'clip_limit'?)"),
    ({"op": "albumentations.CLAHE", "params": {"p": 0.5}}, "steps[0].params.p: probability is the step's p"),
    ({"op": "albumentations.CLAHE", "params": {"tile_grid_size": [0, 8]}}, "steps[0].params.tile_grid_size"),
    ({"op": "albumentations.CLAHEE"}, "steps[0].op: albumentations has no transform 'CLAHEE' (did you mean "
                                      "'albumentations.CLAHE'?)"),
    ({"op": "albumentations.Normalize"}, "steps[0].op: albumentations.Normalize cannot be used by name: returns "
                                         "float pixels"),
    ({"op": "albumentations.Lambda"}, "runs arbitrary Python functions"),
    ({"op": "albumentations.Compose"}, "albumentations has no transform 'Compose'"),
    ({"op": "albumentations.__class__"}, "albumentations has no transform '__class__'"),
    ({"op": "torchvision.ColorJitter", "params": {"brightnes": 0.2}}, "(did you mean 'brightness'?)"),
    ({"op": "torchvision.ColorJitter", "params": {"brightness": -1}}, "steps[0].params.brightness: If brightness is a single number, it must be non negative"),
    ({"op": "torchvision.ToTensor"}, "steps[0].op: "),
])
def test_validation_errors_name_the_key_and_say_why(step, message):
    with pytest.raises(augment.SpecError) as err:
        augment.parse_spec({"modality": "image", "steps": [step]})
    text = str(err.value)
    assert message in text and len(text.splitlines()) == 1, text


def test_recorded_values_keep_their_types_and_a_damaged_record_is_refused():
    values = {"shape": (4, 5, 3), "a": np.float32(0.1), "arr": np.arange(6, dtype=np.int16).reshape(2, 3),
              "nan": float("nan"), "empty": np.zeros((0, 4)), "t": torch.tensor([2, 0, 1])}
    back = decode(json.loads(json.dumps(encode(values), allow_nan=False)))
    assert back["shape"] == (4, 5, 3) and type(back["a"]) is np.float32 and back["a"] == values["a"]
    assert back["arr"].dtype == np.int16 and np.array_equal(back["arr"], values["arr"])
    assert np.isnan(back["nan"]) and back["empty"].shape == (0, 4) and torch.equal(back["t"], values["t"])
    with pytest.raises(ValueError, match="cannot be recorded"):
        encode({"f": lambda x: x})
    pipe = _pipe("albumentations.CLAHE", {})
    res = pipe.run(_image(), seed=0)
    bad = json.loads(json.dumps(res.applied))
    bad[0]["params"]["shape"] = {"__ndarray__": [1, 2], "dtype": "object", "shape": [2]}
    with pytest.raises(DrawnValueError, match="cannot be read back"):
        pipe.replay(_image(), bad)


def test_annotations_pixel_transforms_keep_them_torchvision_geometric_ones_move_them():
    targets = Targets(boxes=np.array([[5.0, 5.0, 20.0, 20.0]]), labels=("x",))
    pipe = _pipe("albumentations.CLAHE", {})
    _, out, applied, _ = pipe.run_targets(_image(), targets, seed=0)
    assert np.array_equal(out.boxes, targets.boxes) and applied[0]["op"] == "albumentations.CLAHE"
    pipe = _pipe("torchvision.RandomHorizontalFlip", {})
    _, out, _, _ = pipe.run_targets(_image(), targets, seed=0)  # W = 64 (tests/test_annotations_torchvision.py)
    assert np.allclose(out.boxes, [[44.0, 5.0, 59.0, 20.0]])


@pytest.mark.parametrize("name, expected", [
    ("HorizontalFlip", [44.0, 5.0, 59.0, 20.0]),  # W = 64: x -> 64 - x
    ("VerticalFlip", [5.0, 28.0, 20.0, 43.0]),  # H = 48
    ("Transpose", [5.0, 5.0, 20.0, 20.0]),
])
def test_albumentations_moves_boxes_keypoints_and_masks_with_its_own_target_functions(name, expected):
    mask = np.zeros((1, 48, 64), np.uint8)
    mask[0, 5:20, 5:20] = 1
    targets = Targets(boxes=np.array([[5.0, 5.0, 20.0, 20.0]]), labels=("x",), masks=mask,
                      keypoints=np.array([[[5.5, 5.5, 2.0]]]))
    pipe = _pipe(f"albumentations.{name}", {})
    image, out, applied, report = pipe.run_targets(_image(), targets, seed=0)
    assert np.allclose(out.boxes[0], expected)
    ys, xs = np.nonzero(out.masks[0])
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == expected
    kx, ky = out.keypoints[0, 0, :2]
    assert expected[0] <= kx <= expected[2] and expected[1] <= ky <= expected[3]
    again_image, again, _ = pipe.replay_targets(_image(), targets, json.loads(json.dumps(applied)))
    assert np.array_equal(again_image, image) and np.allclose(again.boxes, out.boxes)


# albumentations' distortions remap points through a raster and drop those at the border (a box touching the edge)
# or squeezed together: refused on annotated data before any item, in one line (not an error per item)
DROPS_POINTS = {"GridDistortion", "ThinPlateSpline", "ElasticTransform", "OpticalDistortion", "PiecewiseAffine"}
DUAL = [n for n in QUALIFYING if not issubclass(getattr(__import__("albumentations"), n),
                                                 __import__("albumentations").ImageOnlyTransform)]


@pytest.mark.parametrize("name", DUAL)
def test_every_qualifying_geometric_transform_moves_a_box_where_it_moves_the_mask(name):
    """Property: the box moved through the transform's keypoint function fits the mask moved through its mask
    function (the mask is the object; a few pixels of slack for interpolation and the keypoint rounding some
    transforms do)."""
    mask = np.zeros((1, 48, 64), np.uint8)
    mask[0, 14:34, 20:44] = 1
    targets = Targets(boxes=np.array([[20.0, 14.0, 44.0, 34.0]]), labels=("x",), masks=mask)
    pipe = _pipe(f"albumentations.{name}", SAMPLE_KEYWORDS.get(name, {}))
    for seed in (0, 1):
        if name in DROPS_POINTS:  # their keypoint functions drop points: refused in one line, not misaligned
            with pytest.raises(ValueError, match=f"^steps\\[0\\]: albumentations.{name} moves points by remapping"):
                pipe.run_targets(_image(), targets, seed=seed)
            with pytest.raises(ValueError, match="moves points by remapping"):
                pipe.check_moves_annotations()
            return
        _, out, _, _ = pipe.run_targets(_image(), targets, seed=seed)
        if len(out.boxes) == 0 or not out.masks[0].any():
            continue
        ys, xs = np.nonzero(out.masks[0])
        from_mask = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)
        assert np.abs(out.boxes[0] - from_mask).max() <= 3.0, (name, out.boxes[0], from_mask)


def test_cli_run_is_the_same_whatever_the_workers_and_replays(tmp_path):
    root = tmp_path / "in" / "a"
    root.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(_image(seed=i)).save(root / f"{i}.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text("modality: image\nseed: 2\ncopies: 2\nsteps:\n"
                    "  - op: albumentations.RandomSunFlare\n    p: 0.7\n"
                    "  - op: torchvision.RandomPerspective\n    params: {distortion_scale: 0.3}\n")
    outs = {}
    for name, flags in (("serial", ["--engine", "serial"]), ("pool", ["--workers", "2"])):
        proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(tmp_path / "in"),
                               str(tmp_path / name), "-q", *flags], cwd=REPO, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
        outs[name] = (tmp_path / name / "manifest.jsonl").read_bytes()
    assert outs["serial"] == outs["pool"]
    rec = json.loads(outs["pool"].splitlines()[0])
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "replay", str(tmp_path / "pool"), rec["output"]],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ})
    assert proc.returncode == 0 and json.loads(proc.stdout)["identical"] is True, proc.stderr
    run = json.loads((tmp_path / "pool" / "run.json").read_text())
    assert run["plugins"]["albumentations.RandomSunFlare"]["distribution"] == "albumentations"


def test_a_draw_too_large_to_record_is_its_seed_and_sha256_and_replay_checks_it():
    pipe = _pipe("albumentations.GaussNoise", {"std_range": [0.1, 0.2]})
    image = _image()
    res = pipe.run(image, seed=6)
    record = json.loads(json.dumps(res.applied))
    assert set(record[0]["params"]) == {"__redraw__", "sha256"}  # a per-pixel noise field: not in the manifest
    assert np.array_equal(pipe.replay(image, record), res.output)
    record[0]["params"]["__redraw__"] ^= 1  # another seed draws another field: refused, not applied
    with pytest.raises(ValueError, match="sha256 differs"):
        pipe.replay(image, record)
    record[0]["params"] = {"__redraw__": -1, "sha256": "x"}
    with pytest.raises(DrawnValueError, match="a redraw record holds exactly"):
        pipe.replay(image, record)


def test_ops_lists_the_usable_library_transforms_and_why_the_others_are_not():
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "ops", "--library", "albumentations", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    listing = {item["op"]: item for item in json.loads(proc.stdout)}
    assert {n for n, i in listing.items() if i["usable"]} == {f"albumentations.{n}" for n in QUALIFYING}
    assert "clip_limit" in listing["albumentations.CLAHE"]["keywords"]
    assert listing["albumentations.Lambda"]["reason"].startswith("runs arbitrary Python functions")


@pytest.mark.parametrize("name", sorted(DROPS_POINTS))
def test_a_box_touching_the_border_never_fails_an_item_it_is_refused_up_front(name, tmp_path):
    # VOC's xmax equal to the width: each such item went to errors.jsonl ("dropped keypoints itself")
    image = np.zeros((40, 48, 3), np.uint8)
    pipe = _pipe(f"albumentations.{name}", SAMPLE_KEYWORDS.get(name, {}))
    with pytest.raises(ValueError, match="grid_distortion, elastic or optical_distortion"):
        pipe(image, seed=0, boxes=np.array([[0.0, 0.0, 48.0, 40.0]]), labels=["whole"])
    assert pipe(image, seed=0).shape == image.shape  # images alone: as before


@pytest.mark.parametrize("op", ["horizontal_flip", "vertical_flip", "transpose", "d4"])
def test_a_visible_keypoint_on_an_edge_stays_visible_through_a_mirror_and_back(op):
    from augment.compile.targets import Targets

    h, w = 30, 50
    kp = np.array([[[0.0, 15.0, 2.0], [25.0, 0.0, 2.0], [50.0, 7.0, 2.0], [10.0, 30.0, 2.0]]])
    targets = Targets(boxes=np.array([[0.0, 0.0, 50.0, 30.0]]), labels=("p",), keypoints=kp)
    pipe = _pipe(op, {}) if op != "d4" else _pipe(op, {})
    for seed in range(4):
        _, once, _, _ = pipe.run_targets(np.zeros((h, w, 3), np.uint8), targets, seed=seed)
        assert (once.keypoints[0, :, 2] == 2.0).all(), (op, seed, once.keypoints)


@pytest.mark.parametrize("name", [f"albumentations.{n}" for n in DUAL if n not in DROPS_POINTS]
                         + [f"torchvision.{n}" for n in __import__("augment.ops.library_ops", fromlist=["x"])
                            .TORCHVISION_GEOMETRIC])
def test_pixels_a_library_warp_cannot_see_get_the_ignore_index_not_class_0(name):
    # the libraries fill a mask's unseen pixels with 0, a real class: rotation corners and padding were labelled
    # background in segmentation data; native ops give them the ignore index
    library, _, attr = name.partition(".")
    params = dict(SAMPLE_KEYWORDS.get(attr, {}) if library == "albumentations" else TV_KEYWORDS.get(attr, {}))
    pipe = _pipe(name, params)
    sem = np.full((40, 52), 3, np.uint8)  # no class 0 anywhere: a 0 in the output is a fill read as a class
    sem[0, 0] = 255
    for seed in range(3):
        out = pipe(_image(40, 52), seed=seed, masks=sem)["masks"]
        assert set(np.unique(out).tolist()) <= {3, 255}, (name, seed, np.unique(out))


def _perturbed(params: dict):
    for key, value in params.items():
        if isinstance(value, list) and len(value) == 2 and value[0] != value[1]:
            yield key, {**params, key: value[::-1]}
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield key, {**params, key: -abs(value) - 1}


_TV_BAD = [(name, key, bad) for name in TORCHVISION_TRANSFORMS for key, bad in _perturbed(TV_KEYWORDS.get(name, {}))]


@pytest.mark.parametrize("name,key,params", _TV_BAD, ids=[f"{n}-{k}" for n, k, _ in _TV_BAD])
def test_torchvision_keywords_either_fail_validation_at_their_key_or_run(name, key, params):
    # torchvision checks some keywords only when it draws: RandomRotation(degrees=[30, 10]) validated and then
    # failed every item of a run
    try:
        pipe = _pipe(f"torchvision.{name}", params)
    except augment.SpecError as exc:
        assert len(exc.issues) == 1 and exc.issues[0].path.startswith("steps[0].params."), str(exc)
        return
    for seed in range(5):
        pipe(_image(), seed=seed)


def test_a_refused_torchvision_keyword_is_named_in_one_line_by_the_cli(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("modality: image\nsteps:\n  - op: torchvision.RandomRotation\n    params: {degrees: [30, 10]}\n")
    out = subprocess.run([sys.executable, "-m", "augment.cli", "validate", str(spec)], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "steps[0].params.degrees:" in out.stderr


@pytest.mark.parametrize("name,key,value", [
    ("Affine", "scale", {"x": [0.9, 1.1], "y": "z"}), ("Affine", "rotate", "x"), ("Affine", "translate_px", [1, "a"]),
    ("RandomBrightnessContrast", "brightness_limit", "x"), ("CLAHE", "clip_limit", {"a": 1}),
    ("GaussNoise", "std_range", "wide"), ("CoarseDropout", "num_holes_range", [1, "many"]),
])
def test_a_bad_union_value_is_one_issue_at_its_key_without_branch_names(name, key, value):
    # a value matching no branch of albumentations' union types gave one line per branch, with paths such as
    # scale.float and scale.y.tuple[float, float]
    with pytest.raises(augment.SpecError) as err:
        _pipe(f"albumentations.{name}", {key: value})
    issues = err.value.issues
    assert len(issues) == 1, str(err.value)
    path = issues[0].path
    assert path.startswith(f"steps[0].params.{key}"), path
    assert re.fullmatch(r"steps\[0\]\.params(\.[a-z_]+|\[\d+\])+", path), path  # keys and list indexes only
    assert not any(part in ("float", "int", "tuple", "list") for part in path.split(".")), path


@pytest.mark.parametrize("given,meant", [("albumentations.clahe", "albumentations.CLAHE"),
                                         ("albumentations.Clahe", "albumentations.CLAHE"),
                                         ("torchvision.colorjitter", "torchvision.ColorJitter"),
                                         ("albumentations.HorizntalFlip", "albumentations.HorizontalFlip")])
def test_a_misspelled_or_miscased_transform_name_gets_the_right_suggestion(given, meant):
    with pytest.raises(augment.SpecError, match=re.escape(f"(did you mean '{meant}'?)")):
        _pipe(given, {})


_PIXEL_ONLY = [n for n in QUALIFYING if n not in DUAL]


@pytest.mark.parametrize("name", _PIXEL_ONLY)
def test_a_pixel_transform_on_a_tiny_image_gives_its_size_or_an_error(name):
    # albumentations' ToGray returned a (3,) array for a 1x1 image, which came back as the "image"
    pipe = _pipe(f"albumentations.{name}", SAMPLE_KEYWORDS.get(name, {}))
    for shape in [(1, 1, 3), (1, 37, 3), (23, 1, 3), (2, 2, 1)]:
        image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        try:
            out = pipe(image, seed=1)
        except Exception:  # noqa: BLE001 - a library limit: the run reports it as the item's error
            continue
        assert out.ndim == 3 and out.shape[:2] == shape[:2], (name, shape, out.shape)


def test_the_validation_draw_uses_an_image_large_enough_for_the_keywords():
    # a 32x32 trial image refused RandomCrop(size=[92, 120]), which runs on any image that large
    pipe = _pipe("torchvision.RandomCrop", {"size": [92, 120]})
    assert pipe(_image(100, 130), seed=0).shape == (92, 120, 3)
