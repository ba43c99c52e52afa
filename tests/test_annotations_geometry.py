"""Annotations move with the image: an exact oracle on synthetic shapes, on both backends, op by op.

The image draws its own annotations: channel 0 holds a filled polygon (annotated by polygon and mask), channel 2
a filled rectangle (annotated by its box only) and channel 1 small square markers (the keypoints). After every
geometric op the transformed annotations must agree with what the transformed pixels show.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from augment.compile.pipeline import Pipeline
from augment.compile.targets import Targets
from augment.spec import parse_spec

H, W = 96, 128
POLY = np.array([[30.0, 20.0], [90.0, 28.0], [100.0, 70.0], [45.0, 80.0]])
RECT = np.array([8.0, 50.0, 40.0, 88.0])
KEYPOINTS = np.array([[40.5, 30.5], [80.5, 60.5], [20.5, 70.5]])

# (op, params) chosen so that the shapes stay inside the output: the oracle compares whole shapes
GEOMETRIC = [
    ("horizontal_flip", {}),
    ("vertical_flip", {}),
    ("rotate", {"degrees": 25}),
    ("rotate", {"degrees": -40, "border": "replicate"}),
    ("zoom", {"scale": 1.15}),
    ("zoom", {"scale": 0.8}),
    ("affine", {"degrees": 12, "translate": 0.05, "scale": 0.9, "shear": 8}),
    ("perspective", {"distortion": 0.08}),
    ("random_resized_crop", {"scale": [0.85, 0.95], "ratio": [1.2, 1.5], "size": [72, 100]}),
    ("crop", {"height": 92, "width": 120}),
    ("elastic", {"alpha": 6, "sigma": 6}),
]


def _raster(poly: np.ndarray) -> np.ndarray:
    out = np.zeros((H, W), np.uint8)
    cv2.fillPoly(out, [np.round((poly - 0.5) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return out


def scene() -> tuple[np.ndarray, Targets]:
    img = np.zeros((H, W, 3), np.uint8)
    mask = _raster(POLY)
    img[:, :, 0] = mask * 255
    x0, y0, x1, y1 = RECT.astype(int)
    img[y0:y1, x0:x1, 2] = 255
    rect_mask = (img[:, :, 2] > 0).astype(np.uint8)
    for x, y in KEYPOINTS:
        i, j = int(y), int(x)
        img[i - 1 : i + 2, j - 1 : j + 2, 1] = 255
    poly_box = np.array([POLY[:, 0].min(), POLY[:, 1].min(), POLY[:, 0].max(), POLY[:, 1].max()])
    targets = Targets(
        boxes=np.stack([poly_box, RECT]), labels=("shape", "rect"),
        polygons=((POLY,), ()), masks=np.stack([mask, rect_mask]),
        keypoints=np.stack([np.concatenate([KEYPOINTS, np.full((3, 1), 2.0)], 1), np.zeros((3, 3))]),
    )
    return img, targets


def targets_without_masks(t: Targets) -> Targets:
    return Targets(boxes=t.boxes, labels=t.labels, polygons=t.polygons, keypoints=t.keypoints)


def one_op(op: str, params: dict, backend: str, **rules) -> Pipeline:
    return Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend, "seed": 3,
                                "steps": [{"op": op, "params": {**params, **rules}}]}))


def _bbox(binary: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(binary)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
@pytest.mark.parametrize("op,params", GEOMETRIC, ids=[f"{o}-{i}" for i, (o, _) in enumerate(GEOMETRIC)])
def test_annotations_follow_the_pixels(op, params, backend):
    img, targets = scene()
    pipe = one_op(op, params, backend)
    for seed in (0, 1):
        out, t, applied, report = pipe.run_targets(img, targets, seed=seed)
        assert report.objects_in == 2 and sum(report.kept.values()) == 2, report
        shape = out[:, :, 0] > 127
        rect = out[:, :, 2] > 127
        # the polygon object: its mask, its box and its polygon agree with the shape's pixels
        assert _iou(t.masks[0], shape) >= 0.98
        assert np.abs(t.boxes[0] - _bbox(shape)).max() <= 2.0, (t.boxes[0], _bbox(shape))
        poly_mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(poly_mask, [np.round((t.polygons[0][0] - 0.5) * 16).astype(np.int32)], 1, shift=4)
        assert _iou(poly_mask, shape) >= 0.95
        assert np.abs(t.boxes[1] - _bbox(rect)).max() <= 2.0, (t.boxes[1], _bbox(rect))
        # without masks, the rectangle is a box only: the tight box of its transformed corners must still be
        # the rectangle's bounding box
        _, t_box, _, rep_box = pipe.run_targets(img, targets_without_masks(targets), seed=seed)
        assert np.abs(t_box.boxes[1] - _bbox(rect)).max() <= 2.0, (t_box.boxes[1], _bbox(rect))
        assert np.abs(t_box.boxes[0] - _bbox(shape)).max() <= 2.0, (t_box.boxes[0], _bbox(shape))
        # keypoints sit on their markers
        marks = (out[:, :, 1] > 100).astype(np.uint8)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(marks)
        centres = centroids[1:] + 0.5
        for x, y, v in t.keypoints[0]:
            assert v == 2
            assert np.hypot(*(centres - [x, y]).T).min() <= 1.5, (op, x, y, centres)
        # the image and annotations replay from the recorded values
        out2, t2, _ = pipe.replay_targets(img, targets, applied)
        assert np.array_equal(out, out2) and np.array_equal(t.boxes, t2.boxes)


@pytest.mark.parametrize("op,params", GEOMETRIC, ids=[f"{o}-{i}" for i, (o, _) in enumerate(GEOMETRIC)])
def test_both_backends_give_the_same_annotations(op, params):
    img, targets = scene()
    results = [one_op(op, params, b).run_targets(img, targets, seed=5)[1] for b in ("albumentations", "torchvision")]
    a, b = results
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.masks, b.masks)
    assert np.array_equal(a.keypoints, b.keypoints)


def test_box_source_is_reported():
    img, targets = scene()
    rot = one_op("rotate", {"degrees": 30}, "albumentations")
    assert rot.run_targets(img, targets_without_masks(targets).select([0]), seed=0)[3].box_source == "polygon"
    masks_only = Targets(boxes=targets.boxes[:1], labels=("shape",), masks=targets.masks[:1])
    assert rot.run_targets(img, targets_without_masks(targets).select([1]), seed=0)[3].box_source == "corners"
    assert rot.run_targets(img, masks_only, seed=0)[3].box_source == "mask"


def test_pixel_ops_leave_annotations_alone():
    img, targets = scene()
    for op, params in [("gaussian_noise", {}), ("hsv", {}), ("gaussian_blur", {}), ("jpeg", {}), ("cutout", {})]:
        _, t, _, report = one_op(op, params, "albumentations").run_targets(img, targets, seed=0)
        assert np.array_equal(t.boxes, targets.boxes) and np.array_equal(t.masks, targets.masks)
        assert report.clipped == {} and report.dropped == {}


def test_cutout_erase_covered_drops_covered_objects():
    img, targets = scene()
    pipe = one_op("cutout", {"holes": 1, "size": 0.99, "erase_covered": 0.5}, "albumentations")
    _, t, _, report = pipe.run_targets(img, targets, seed=0)
    assert len(t) == 0 and report.dropped == {"rect": 1, "shape": 1}


def test_keypoints_leaving_the_image_become_invisible_not_deleted():
    img, targets = scene()
    pipe = one_op("crop", {"height": 50, "width": 60, "position": "center"}, "albumentations")
    _, t, _, _ = pipe.run_targets(img, targets, seed=0)
    kp = t.keypoints[0]
    assert kp.shape == (3, 3)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] < 60) & (kp[:, 1] >= 0) & (kp[:, 1] < 50)
    assert np.array_equal(kp[:, 2] > 0, inside) and not inside.all()


def test_flip_pairs_swap_named_keypoints():
    img, targets = scene()
    named = Targets(boxes=targets.boxes, labels=targets.labels, keypoints=targets.keypoints,
                    keypoint_names=("left", "right", "nose"))
    pipe = one_op("horizontal_flip", {"flip_pairs": [["left", "right"]]}, "torchvision")
    _, t, _, _ = pipe.run_targets(img, named, seed=0)
    assert np.allclose(t.keypoints[0, 0, :2], [W - KEYPOINTS[1, 0], KEYPOINTS[1, 1]])
    assert np.allclose(t.keypoints[0, 2, :2], [W - KEYPOINTS[2, 0], KEYPOINTS[2, 1]])
    bad = one_op("horizontal_flip", {"flip_pairs": [["left", "ear"]]}, "torchvision")
    with pytest.raises(ValueError, match="ear"):
        bad.run_targets(img, named, seed=0)


def test_min_visibility_and_min_area_drop_objects():
    img, targets = scene()
    # a centred crop of x 34..94: the rectangle (x 8..40) keeps 19% of its area, the polygon (x 30..100) most
    crop = {"height": 96, "width": 60, "position": "center"}
    _, t, _, rep = one_op("crop", crop, "albumentations").run_targets(img, targets, seed=0)
    assert len(t) == 2 and rep.clipped == {"rect": 1, "shape": 1} and rep.dropped == {}
    _, t, _, rep = one_op("crop", crop, "albumentations", min_visibility=0.5).run_targets(img, targets, seed=0)
    assert list(t.labels) == ["shape"] and rep.dropped == {"rect": 1}
    _, t, _, rep = one_op("crop", crop, "albumentations", min_area=500).run_targets(img, targets, seed=0)
    assert list(t.labels) == ["shape"] and rep.dropped == {"rect": 1}
    _, t, _, rep = one_op("crop", crop, "albumentations", min_area=10**6).run_targets(img, targets, seed=0)
    assert len(t) == 0 and rep.dropped == {"rect": 1, "shape": 1} and rep.kept == {}


def test_semantic_mask_keeps_its_ignore_index():
    img, targets = scene()
    sem = (targets.masks[0] * 3).astype(np.uint8)
    t = Targets(boxes=np.zeros((0, 4)), labels=(), semantic=sem, ignore_index=255)
    _, out, _, _ = one_op("rotate", {"degrees": 30}, "albumentations").run_targets(img, t, seed=0)
    assert set(np.unique(out.semantic)) <= {0, 3, 255} and (out.semantic == 255).any()


@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
@pytest.mark.parametrize("preset,params", [("trivial_augment", {"max_magnitude": 0.3}),
                                           ("rand_augment", {"n": 2, "magnitude": 0.3})])
def test_chain_presets_move_annotations_with_every_sub_op(preset, params, backend):
    # before: presets were refused on annotated images (and earlier still, rotated the pixels but not the boxes)
    img, targets = scene()
    pipe = one_op(preset, params, backend)
    geometric = 0
    for seed in range(10):
        out, t, applied, report = pipe.run_targets(img, targets, seed=seed)
        subs = [s["op"] for s in applied[0]["params"]["ops"]]
        geometric += any(s in ("rotate", "affine") for s in subs)
        assert report.objects_in == 2
        shape, rect = out[:, :, 0] > 127, out[:, :, 2] > 127
        if len(t) == 2:  # both objects kept: the annotations agree with the pixels
            assert _iou(t.masks[0], shape) >= 0.97, (seed, subs)
            assert np.abs(t.boxes[0] - _bbox(shape)).max() <= 2.0, (seed, subs, t.boxes[0], _bbox(shape))
            assert np.abs(t.boxes[1] - _bbox(rect)).max() <= 2.0, (seed, subs, t.boxes[1], _bbox(rect))
            marks = (out[:, :, 1] > 100).astype(np.uint8)
            centres = cv2.connectedComponentsWithStats(marks)[3][1:] + 0.5
            for x, y, v in t.keypoints[0]:
                if v == 2:
                    assert np.hypot(*(centres - [x, y]).T).min() <= 1.5, (seed, subs, x, y)
        out2, t2, _ = pipe.replay_targets(img, targets, applied)
        assert np.array_equal(out, out2) and np.array_equal(t.boxes, t2.boxes)
    assert geometric >= 3  # the seeds exercised rotations and affine sub-ops, not only colour ones


def test_augmix_is_refused_on_annotated_images():
    img, targets = scene()
    with pytest.raises(ValueError, match="augmix cannot move annotations"):
        one_op("augmix", {}, "albumentations").run_targets(img, targets, seed=0)
