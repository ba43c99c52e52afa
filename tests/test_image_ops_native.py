"""The wider native image op set (issue 22, part 3): every op on both backends runs, records its drawn values,
replays byte-exactly from the recorded JSON, draws the same values on either backend, and (geometric ops) moves
boxes, masks and keypoints the way it moves the pixels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from augment.compile import Pipeline
from augment.compile import geometry_native as gn
from augment.compile.backend_torchvision_native import ALBUMENTATIONS_KERNEL
from augment.compile.targets import Targets
from augment.ops.catalog import registry
from augment.ops.drawn import DrawnValueError, check_drawn
from augment.ops.image_ops_native import NATIVE_GEOMETRIC, NATIVE_IMAGE_OPS, NATIVE_PIXEL_OPS
from augment.ops.registry import ImageContext
from augment.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["albumentations", "torchvision"]
NATIVE = [op.name for op in NATIVE_IMAGE_OPS]
PARAMS = {
    "resize": {"height": 16, "width": 20}, "longest_max_size": {"max_size": 20},
    "smallest_max_size": {"max_size": 20}, "pad_if_needed": {"min_height": 30, "min_width": 40},
    "center_crop": {"height": 10, "width": 12}, "random_crop": {"height": 10, "width": 12},
    "normalize": {"mean": [0.5], "std": [0.25]}, "pad": {"padding": [1, 2, 3, 4], "border": "reflect"},
}
FLOAT_OUT = {"normalize", "to_dtype"}  # finishing ops: float32 pixels out
# Mean absolute difference (0-255) allowed between the backends on a smooth image, for the ops whose torchvision
# kernel is torchvision's own; README's pixel agreement table gives the measured values.
AGREEMENT = {"resize": 2.0, "longest_max_size": 2.0, "smallest_max_size": 2.0, "grid_distortion": 1.5,
             "optical_distortion": 1.5, "color_jitter": 1.5, "equalize": 10.0, "rgb_shift": 1.0,
             "multiplicative_noise": 1.0, "downscale": 1.0, "image_compression": 3.0}


def smooth_image(h=24, w=32, c=3):
    y, x = np.mgrid[0:h, 0:w]
    planes = [(x * 255 / (w - 1)), (y * 255 / (h - 1)), ((x + y) * 255 / (h + w - 2))]
    img = np.stack(planes[:c] if c <= 3 else planes + [np.full((h, w), 200.0)], axis=2)
    return np.ascontiguousarray(img.round().astype(np.uint8))


def pipe(op, backend, params=None, **spec):
    return Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend, **spec,
                                "steps": [{"op": op, "params": PARAMS.get(op, {}) if params is None else params}]}))


def test_augment_ops_lists_at_least_60_image_ops():
    out = subprocess.run([sys.executable, "-m", "augment.cli", "ops", "--modality", "image", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    names = [op["op"] for op in json.loads(out.stdout)]
    assert len(names) >= 60 and set(NATIVE) <= set(names)
    promised = {"resize", "longest_max_size", "smallest_max_size", "pad_if_needed", "center_crop", "random_crop",
                "bbox_safe_random_crop", "transpose", "rot90", "d4", "grid_distortion", "optical_distortion",
                "color_jitter", "clahe", "equalize", "posterize", "solarize", "invert", "channel_shuffle",
                "rgb_shift", "to_sepia", "fancy_pca", "median_blur", "defocus", "zoom_blur", "iso_noise",
                "multiplicative_noise", "downscale", "image_compression", "coarse_dropout", "grid_dropout",
                "pixel_dropout", "random_fog", "random_rain", "random_snow", "random_shadow", "random_sun_flare",
                "normalize", "pad", "to_dtype"}
    assert promised <= set(names)


def _expected_hw(op, drawn, params, h, w):
    if op in ("transpose",) or (op == "rot90" and drawn["k"] % 2) or (op == "d4" and drawn["element"] in
                                                                        ("r90", "r270", "t", "hvt")):
        return w, h
    if op in ("resize", "longest_max_size", "smallest_max_size", "pad_if_needed", "pad", "center_crop",
              "random_crop", "bbox_safe_random_crop"):
        return gn.output_hw(op, drawn, params, h, w)
    return h, w


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", NATIVE)
def test_op_runs_records_and_replays_exactly(op, backend, channels):
    img = smooth_image(c=channels)
    before = img.copy()
    p = pipe(op, backend, params=PARAMS.get(op, {}) if op != "normalize" else {"mean": [0.5], "std": [0.25]})
    for seed in (0, 7):
        res = p.run(img, seed=seed)
        assert np.array_equal(img, before), "the op modified its input"
        out = res.output
        assert out.dtype == (np.float32 if op in FLOAT_OUT else np.uint8) and out.ndim == 3
        assert out.shape[2] == channels
        drawn = res.applied[0]["params"]
        leaf = p.leaves()[0]
        assert out.shape[:2] == _expected_hw(op, drawn, leaf.params, *img.shape[:2])
        if channels == 4 and op in NATIVE_PIXEL_OPS:
            assert np.array_equal(out[:, :, 3], img[:, :, 3]), "pixel ops leave alpha alone"
        # the record is plain JSON, accepted by the drawn-value check and replayed byte for byte
        record = json.loads(json.dumps(res.applied))
        check_drawn(op, leaf.params, record[0]["params"], ImageContext(*img.shape))
        again = p.replay(img, {"seed": seed, "ops": record})
        assert again.dtype == out.dtype and again.tobytes() == out.tobytes()


@pytest.mark.parametrize("op", NATIVE)
def test_both_backends_draw_the_same_values_and_agree_on_pixels(op):
    img = smooth_image()
    a = pipe(op, "albumentations").run(img, seed=11)
    b = pipe(op, "torchvision").run(img, seed=11)
    assert a.applied == b.applied
    assert a.output.shape == b.output.shape and a.output.dtype == b.output.dtype
    diff = np.abs(a.output.astype(np.float64) - b.output.astype(np.float64))
    if op in AGREEMENT:  # OpenCV and torch treat the outermost pixels differently when sampling past the edge
        diff = diff[4:-4, 4:-4]
    if op in FLOAT_OUT:
        assert diff.max() < 1e-5
    elif op in AGREEMENT:
        assert diff.mean() <= AGREEMENT[op], f"{op}: mean difference {diff.mean():.2f}"
    else:  # the same kernel (or an exact one) on both
        assert diff.max() == 0, f"{op}: max difference {diff.max()}"
    if op in ALBUMENTATIONS_KERNEL:
        assert diff.max() == 0


def test_every_new_op_is_typed_and_registered_once():
    from augment import ops

    for name in NATIVE:
        cls = ops.op_class(name)
        assert cls.op_name == name and registry().get(name).modality == "image"
    step = ops.Resize(height=8, width=9, interpolation="cubic").to_step()
    assert step["op"] == "resize" and step["params"]["height"] == 8


@pytest.mark.parametrize("step, key", [
    ({"op": "resize", "params": {"height": 8}}, "steps[0].params.width"),
    ({"op": "resize", "params": {"height": 8, "width": 2.0}}, "steps[0].params.width"),
    ({"op": "center_crop", "params": {"height": 0, "width": 4}}, "steps[0].params.height"),
    ({"op": "posterize", "params": {"bits": [0, 4]}}, "steps[0].params.bits"),
    ({"op": "coarse_dropout", "params": {"fill": "noise"}}, "steps[0].params.fill: expected a value 0-255 or one of"),
    ({"op": "coarse_dropout", "params": {"fill": 300}}, "steps[0].params.fill"),
    ({"op": "image_compression", "params": {"format": "png"}}, "steps[0].params.format"),
    ({"op": "normalize", "params": {"mean": [0.5, 0.5], "std": [0.2]}}, "steps[0].params"),
    ({"op": "normalize", "params": {"std": [0.0, 1.0, 1.0]}}, "steps[0].params"),
    ({"op": "random_shadow", "params": {"shadow_roi": [0.5, 0, 0.2, 1]}}, "steps[0].params"),
    ({"op": "grid_distortion", "params": {"distort_limit": [-1.0, 0.2]}}, "steps[0].params.distort_limit"),
    ({"op": "rot90", "params": {"turns": [0, 4]}}, "steps[0].params.turns"),
    ({"op": "color_jitter", "params": {"hue": 0.7}}, "steps[0].params.hue"),
])
def test_bad_params_name_the_key(step, key):
    with pytest.raises(SpecError) as err:
        parse_spec({"name": "t", "modality": "image", "steps": [step]})
    assert key in str(err.value)


def test_normalize_is_float32_with_the_formula_and_must_be_last():
    img = smooth_image()
    for backend in BACKENDS:
        out = pipe("normalize", backend, {})(img, seed=0)
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, (img / 255.0 - mean) / std, atol=1e-5)
        with pytest.raises(ValueError, match=r"steps\[1\]: horizontal_flip may run after steps\[0\] \(normalize\)"):
            parse_spec({"name": "t", "modality": "image", "backend": backend,  # refused before any image
                        "steps": [{"op": "normalize"}, {"op": "horizontal_flip"}]})
    with pytest.raises(ValueError, match="3 mean/std values but the image has 1 channels"):
        pipe("normalize", "albumentations", {})(smooth_image(c=1), seed=0)


def test_training_finishing_ops_compose():
    """resize -> center_crop -> pad_if_needed -> normalize, as a training transform ends."""
    spec = {"name": "t", "modality": "image", "steps": [
        {"op": "smallest_max_size", "params": {"max_size": 20}},
        {"op": "center_crop", "params": {"height": 16, "width": 16}},
        {"op": "pad_if_needed", "params": {"min_height": 18, "min_width": 18}},
        {"op": "normalize"}]}
    for backend in BACKENDS:
        out = Pipeline(parse_spec({**spec, "backend": backend}))(smooth_image(30, 40), seed=1)
        assert out.shape == (18, 18, 3) and out.dtype == np.float32


def test_crop_larger_than_the_image_is_one_line():
    with pytest.raises(ValueError, match="resize or pad_if_needed first"):
        pipe("center_crop", "albumentations", {"height": 50, "width": 4})(smooth_image(), seed=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_fills_and_holes(backend):
    img = np.full((24, 32, 3), 128, np.uint8)
    res = pipe("coarse_dropout", backend, {"holes": [3, 3], "fill": 7}).run(img, seed=2)
    boxes = res.applied[0]["params"]["boxes"]
    assert len(boxes) == 3
    for top, left, h, w in boxes:
        assert (res.output[top: top + h, left: left + w] == 7).all()
    noisy = pipe("coarse_dropout", backend, {"holes": 1, "height": 0.5, "width": 0.5, "fill": "random"}).run(img, 3)
    (top, left, h, w), = noisy.applied[0]["params"]["boxes"]
    assert noisy.output[top: top + h, left: left + w].std() > 20
    for fill in ("random_uniform", "inpaint_telea", "inpaint_ns"):
        for c in (1, 3, 4):
            rgba = smooth_image(c=c)
            p = pipe("coarse_dropout", backend, {"holes": 3, "fill": fill})
            res = p.run(rgba, seed=4)
            assert res.output.shape == rgba.shape and p.replay(rgba, res).tobytes() == res.output.tobytes()
    grid = pipe("grid_dropout", backend, {"unit_size": 8, "ratio": 0.5, "random_offset": False}).run(img, 0)
    assert grid.output[0:4, 0:4].max() == 0 and (grid.output[4:8, 4:8] == 128).all()
    dropped = pipe("pixel_dropout", backend, {"dropout_prob": 0.3, "drop_value": 255})(img, seed=0)
    assert 0.2 < (dropped[:, :, 0] == 255).mean() < 0.4


def test_webp_and_jpeg_compression_differ_and_replay():
    img = smooth_image(32, 32)
    for fmt in ("jpeg", "webp"):
        for backend in BACKENDS:
            p = pipe("image_compression", backend, {"quality": 20, "format": fmt})
            res = p.run(img, seed=0)
            assert res.output.shape == img.shape and np.abs(res.output.astype(int) - img).max() > 0
            assert p.replay(img, res).tobytes() == res.output.tobytes()


def test_dropout_mask_fill_and_erase_covered_on_annotations():
    img = np.zeros((20, 20, 3), np.uint8)
    masks = np.zeros((1, 20, 20), np.uint8)
    masks[0, 2:18, 2:18] = 1
    semantic = np.ones((20, 20), np.uint8)
    t = Targets(boxes=[[2, 2, 18, 18]], labels=["a"], masks=masks, semantic=semantic)
    p = pipe("coarse_dropout", "albumentations", {"holes": 1, "height": 0.5, "width": 0.5, "mask_fill": 9})
    out, t2, applied, _ = p.run_targets(img, t, seed=1)
    (top, left, h, w), = applied[0]["params"]["boxes"]
    assert (t2.semantic[top: top + h, left: left + w] == 9).all() and (t2.masks[0, top: top + h, left: left + w] == 0).all()
    gone = pipe("coarse_dropout", "albumentations", {"holes": 1, "height": 1.0, "width": 1.0, "erase_covered": 0.5})
    assert len(gone.run_targets(img, t, seed=1)[1]) == 0


def test_bbox_safe_random_crop_keeps_every_box_whole():
    rng = np.random.default_rng(0)
    img = smooth_image(40, 50)
    p = pipe("bbox_safe_random_crop", "albumentations", {})
    for seed in range(30):
        x0, y0 = rng.uniform(0, 40, 2)
        boxes = [[x0, y0 * 0.7, x0 + 5, y0 * 0.7 + 6], [10, 3, 20, 9]]
        out, t, applied, _ = p.run_targets(img, Targets(boxes=boxes, labels=["a", "b"]), seed=seed)
        d = applied[0]["params"]
        assert len(t) == 2 and out.shape[:2] == (d["height"], d["width"])
        np.testing.assert_allclose(t.boxes, np.array(boxes) - [d["left"], d["top"], d["left"], d["top"]])
    # without boxes it is a random crop of at least (1 - erosion_rate) of each side
    res = pipe("bbox_safe_random_crop", "albumentations", {"erosion_rate": 0.5}).run(img, seed=3)
    assert 20 <= res.output.shape[0] <= 40 and 25 <= res.output.shape[1] <= 50


def test_tampered_records_are_refused():
    img = smooth_image()
    p = pipe("d4", "albumentations")
    res = p.run(img, seed=0)
    with pytest.raises(DrawnValueError, match="element"):
        p.replay(img, [{**res.applied[0], "params": {"element": "r45"}}])
    p = pipe("channel_shuffle", "albumentations")
    with pytest.raises(DrawnValueError, match="permutation"):
        p.replay(img, [{"op": "channel_shuffle", "path": "steps[0]", "params": {"order": [0, 0, 1]}}])
    # in-range for a number, but not something the op draws: a sun the size of a planet, a 2-pixel grid
    p = pipe("random_sun_flare", "albumentations")
    rec = json.loads(json.dumps(p.run(img, seed=0).applied))
    rec[0]["params"]["circles"][0][3] = 10 ** 12
    with pytest.raises(DrawnValueError, match=r"circles\[0\]\[3\]"):
        p.replay(img, rec)
    p = pipe("pad_if_needed", "albumentations")
    with pytest.raises(DrawnValueError, match="top . bottom"):
        p.replay(img, [{"op": "pad_if_needed", "path": "steps[0]",
                        "params": {"top": 0, "bottom": 0, "left": 4, "right": 4}}])
    p = pipe("grid_dropout", "albumentations")
    rec = json.loads(json.dumps(p.run(img, seed=0).applied))
    rec[0]["params"]["unit"] = 2
    with pytest.raises(DrawnValueError, match="unit"):
        p.replay(img, rec)


# --- annotations: the geometric ops move boxes, masks and keypoints as they move pixels ---------------------------

GEOMETRIC_CASES = [
    ("resize", {"height": 30, "width": 22}), ("longest_max_size", {"max_size": 30}),
    ("smallest_max_size", {"max_size": 30}), ("pad_if_needed", {"min_height": 50, "min_width": 60, "position": "random"}),
    ("center_crop", {"height": 30, "width": 36}), ("random_crop", {"height": 30, "width": 36}),
    ("bbox_safe_random_crop", {}), ("transpose", {}), ("rot90", {}), ("d4", {}),
    ("grid_distortion", {"distort_limit": 0.3}), ("optical_distortion", {"distort_limit": 0.3}),
    ("pad", {"padding": [3, 5, 0, 7], "border": "reflect"}),
]
assert {name for name, _ in GEOMETRIC_CASES} == set(NATIVE_GEOMETRIC)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op, params", GEOMETRIC_CASES)
def test_annotations_follow_the_pixels(op, params, backend):
    """Oracle: a bright rectangle's box, mask and centre keypoint, moved by the op, land on the moved rectangle."""
    h, w = 40, 48
    p = pipe(op, backend, params)
    for seed in range(4):
        x0, y0, x1, y1 = 14, 12, 30, 26
        img = np.zeros((h, w, 3), np.uint8)
        img[y0:y1, x0:x1] = 255
        masks = np.zeros((1, h, w), np.uint8)
        masks[0, y0:y1, x0:x1] = 1
        t = Targets(boxes=[[x0, y0, x1, y1]], labels=["a"], masks=masks,
                    keypoints=[[[(x0 + x1) / 2, (y0 + y1) / 2, 2]]])
        out, t2, applied, _ = p.run_targets(img, t, seed=seed)
        assert len(t2) == 1
        bright = out[:, :, 0] > 127
        ys, xs = np.nonzero(bright)
        drawn_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(t2.boxes[0] - drawn_box).max() <= 1.5, (applied, t2.boxes[0], drawn_box)
        assert t2.masks.shape[1:] == out.shape[:2]
        overlap = (t2.masks[0].astype(bool) & bright).sum() / max(1, (t2.masks[0].astype(bool) | bright).sum())
        assert overlap > 0.85, (applied, overlap)
        kx, ky = t2.keypoints[0, 0, :2]
        assert xs.min() - 1 <= kx <= xs.max() + 2 and ys.min() - 1 <= ky <= ys.max() + 2
        # replay of the annotated record gives the same image and annotations
        out2, t3, _ = p.replay_targets(img, t, json.loads(json.dumps(applied)))
        assert out2.tobytes() == out.tobytes() and np.array_equal(t3.boxes, t2.boxes)


def test_d4_matrices_match_the_kernel_pixel_for_pixel():
    h, w = 5, 7
    index = np.arange(h * w, dtype=np.int64).reshape(h, w)
    from augment.compile.backend_albumentations_native import fgeometric

    for element in ("e", "r90", "r180", "r270", "h", "v", "t", "hvt"):
        out = fgeometric.d4(index.astype(np.float32), element)
        matrix, out_hw = gn.d4_matrix(element, h, w)
        assert out.shape == out_hw
        for y in range(h):
            for x in range(w):
                qx, qy, _ = matrix @ np.array([x, y, 1.0])
                assert out[int(round(qy)), int(round(qx))] == index[y, x], element


@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_images_do_not_break_any_new_op(backend):
    img = np.full((2, 3, 3), 100, np.uint8)
    tiny = {"resize": {"height": 2, "width": 2}, "longest_max_size": {"max_size": 4},
            "smallest_max_size": {"max_size": 1}, "pad_if_needed": {"min_height": 3, "min_width": 3},
            "center_crop": {"height": 1, "width": 2}, "random_crop": {"height": 2, "width": 1},
            "pad": {"padding": 5, "border": "reflect"}}
    for op in NATIVE:
        res = pipe(op, backend, tiny.get(op, {} if op != "normalize" else None)).run(img, seed=0)
        assert res.output.shape[2] == 3 and min(res.output.shape[:2]) >= 1, op
        assert pipe(op, backend, tiny.get(op, {} if op != "normalize" else None)).replay(img, res).tobytes() == \
            res.output.tobytes(), op


def test_augment_run_refuses_normalize_in_one_line(tmp_path):
    from PIL import Image

    (tmp_path / "in" / "a").mkdir(parents=True)
    Image.fromarray(smooth_image()).save(tmp_path / "in" / "a" / "x.png")
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: n\nmodality: image\nsteps:\n  - op: resize\n    params: {height: 8, width: 8}\n"
                    "  - op: normalize\n")
    out = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(spec), str(tmp_path / "in"),
                          str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "normalize gives float32" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "augment.cli", "eval", str(spec), "--train", str(tmp_path / "in"),
                          "--out", str(tmp_path / "report")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "normalize gives float32" in out.stderr and "Traceback" not in out.stderr


def test_reflections_swap_flip_pairs_and_rotations_do_not():
    img = np.zeros((20, 30, 3), np.uint8)
    kp = [[[5.5, 4.5, 2], [20.5, 4.5, 2]]]
    t = Targets(boxes=[[2, 2, 25, 10]], labels=["p"], keypoints=kp, keypoint_names=("left", "right"))
    pairs = {"flip_pairs": [["left", "right"]]}
    _, moved, _, _ = pipe("transpose", "albumentations", pairs).run_targets(img, t, seed=0)
    np.testing.assert_allclose(moved.keypoints[0, :, :2], [[4.5, 20.5], [4.5, 5.5]])  # swapped roles
    p = pipe("rot90", "albumentations", {"turns": 1})
    _, turned, _, _ = p.run_targets(img, t, seed=0)
    np.testing.assert_allclose(turned.keypoints[0, :, :2], [[4.5, 30 - 5.5], [4.5, 30 - 20.5]])  # same order
