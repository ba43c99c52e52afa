"""torchvision geometric transforms by name (``op: torchvision.RandomRotation``) on annotated data: boxes, masks,
polygons and keypoints move through torchvision v2's own tv_tensors kernels with the recorded draw, and agree with
the moved pixels (the oracle of tests/test_annotations_geometry.py), on every tested geometric transform."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import augment
from augment.ops.library_ops import TORCHVISION_GEOMETRIC, TORCHVISION_PIXEL, TORCHVISION_TRANSFORMS

from test_annotations_geometry import _bbox, _iou, scene, targets_without_masks

# keywords chosen so the shapes stay inside the output (the oracle compares whole shapes); NEAREST where the
# default would blur the small keypoint markers below the threshold
CASES = {
    "RandomHorizontalFlip": {},
    "RandomVerticalFlip": {},
    "RandomRotation": {"degrees": 25},
    "RandomAffine": {"degrees": 12, "translate": [0.05, 0.05], "scale": [0.85, 0.95], "shear": 8},
    "RandomPerspective": {"distortion_scale": 0.15},
    "RandomResizedCrop": {"size": [72, 100], "scale": [0.85, 0.95], "ratio": [1.2, 1.5], "interpolation": "nearest"},
    "RandomCrop": {"size": [92, 120]},
    "CenterCrop": {"size": [94, 124]},
    "Resize": {"size": [120, 150], "interpolation": "nearest"},
    "Pad": {"padding": [5, 3, 7, 2]},
}


def _pipe(name: str, params: dict) -> augment.Pipeline:
    return augment.Pipeline(augment.parse_spec({"name": "t", "modality": "image", "seed": 3,
                                                "steps": [{"op": f"torchvision.{name}", "params": params}]}))


def test_every_tested_torchvision_transform_says_how_it_treats_annotations():
    assert set(CASES) == set(TORCHVISION_GEOMETRIC)
    assert set(TORCHVISION_GEOMETRIC) | set(TORCHVISION_PIXEL) == set(TORCHVISION_TRANSFORMS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_annotations_follow_the_pixels_through_torchvision_kernels(name):
    img, targets = scene()
    pipe = _pipe(name, CASES[name])
    for seed in (0, 1):
        out, t, applied, report = pipe.run_targets(img, targets, seed=seed)
        assert report.objects_in == 2 and sum(report.kept.values()) == 2, report
        shape, rect = out[:, :, 0] > 127, out[:, :, 2] > 127
        assert t.masks.shape[1:] == out.shape[:2]
        assert _iou(t.masks[0], shape) >= 0.97
        assert np.abs(t.boxes[0] - _bbox(shape)).max() <= 2.0, (t.boxes[0], _bbox(shape))
        assert np.abs(t.boxes[1] - _bbox(rect)).max() <= 2.0, (t.boxes[1], _bbox(rect))
        poly_mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(poly_mask, [np.round((t.polygons[0][0] - 0.5) * 16).astype(np.int32)], 1, shift=4)
        assert _iou(poly_mask, shape) >= 0.93
        _, t_box, _, _ = pipe.run_targets(img, targets_without_masks(targets), seed=seed)
        assert np.abs(t_box.boxes[1] - _bbox(rect)).max() <= 2.0, (t_box.boxes[1], _bbox(rect))
        marks = (out[:, :, 1] > 100).astype(np.uint8)
        _, _, _, centroids = cv2.connectedComponentsWithStats(marks)
        centres = centroids[1:] + 0.5
        for x, y, v in t.keypoints[0]:
            assert np.hypot(*(centres - [x, y]).T).min() <= 1.5, (name, x, y, centres)
        out2, t2, _ = pipe.replay_targets(img, targets, applied)
        assert np.array_equal(out, out2) and np.array_equal(t.boxes, t2.boxes)
        assert np.array_equal(t.masks, t2.masks) and np.array_equal(t.keypoints, t2.keypoints)


def test_the_same_draw_moves_the_image_and_its_annotations_in_the_library_form():
    img, targets = scene()
    pipe = _pipe("RandomRotation", {"degrees": [30, 30]})
    out = pipe(img, seed=1, boxes=targets.boxes, labels=list(targets.labels), masks=targets.masks)
    assert _iou(out["masks"][0], out["image"][:, :, 0] > 127) >= 0.97
    # a point on the rotation centre stays put; one off it turns by the drawn 30 degrees (counter-clockwise)
    keypoints = np.array([[[64.0, 48.0], [84.0, 48.0]]])
    moved = pipe(img, seed=1, keypoints=keypoints)["keypoints"]
    assert np.allclose(moved[0, 0], [64.0, 48.0], atol=1e-4)
    assert np.allclose(moved[0, 1], [64 + 20 * np.cos(np.pi / 6), 48 - 20 * np.sin(np.pi / 6)], atol=1e-3)
