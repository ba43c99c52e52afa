"""The small detector and segmenter learn (from scratch, in seconds, on synthetic shapes), their metrics are
right on known answers, and the with/without comparison gives a verdict."""

from __future__ import annotations

import numpy as np

from augment.compile.pipeline import Pipeline
from augment.evaluate import detection_model as det
from augment.evaluate import segmentation_model as seg
from augment.spec import parse_spec


def squares(n: int, seed: int):
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(n):
        img = rng.integers(0, 60, (64, 64, 3), dtype=np.uint8)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, 3))):
            s = int(rng.integers(12, 24))
            x, y = (int(v) for v in rng.integers(0, 64 - s, 2))
            c = int(rng.integers(0, 2))
            img[y : y + s, x : x + s] = (220, 40, 40) if c == 0 else (40, 220, 40)
            boxes.append([x, y, x + s, y + s])
            labels.append(["red", "green"][c])
        items.append((img, np.array(boxes, float), labels))
    return items


FAST_DET = det.DetectionOptions(image_size=64, epochs=12, width=12)
FAST_SEG = seg.SegmentationOptions(epochs=8, width=12)


def test_map_of_perfect_and_empty_predictions():
    items = squares(5, 0)
    perfect = [{"boxes": b, "scores": np.ones(len(b)), "labels": lab} for _, b, lab in items]
    assert det.mean_average_precision(items, perfect, ["green", "red"]) == {"map": 1.0, "map50": 1.0}
    shifted = [{"boxes": b + 30, "scores": np.ones(len(b)), "labels": lab} for _, b, lab in items]
    assert det.mean_average_precision(items, shifted, ["green", "red"])["map50"] < 0.2


def test_detector_learns_squares():
    score = det.train_and_score(squares(80, 0), squares(20, 1), seed=0, options=FAST_DET)
    assert score["map50"] > 0.5, score


def test_miou_on_known_answers():
    t = np.array([[0, 1], [1, 255]], np.uint8)
    assert seg.mean_iou([t], [np.array([[0, 1], [1, 0]], np.uint8)], 2) == {"miou": 1.0, "pixel_accuracy": 1.0}
    assert seg.mean_iou([t], [np.array([[1, 1], [1, 1]], np.uint8)], 2)["miou"] == (0 + 2 / 3) / 2


def test_segmenter_learns_shapes_and_masks_move_with_augmentation():
    train, test = seg.synthetic_shapes(60, 0), seg.synthetic_shapes(20, 1)
    # predicting background everywhere scores about 0.2
    assert seg.train_and_score(train, test, seed=0, options=FAST_SEG)["miou"] > 0.35
    pipe = Pipeline(parse_spec({"name": "s", "modality": "image", "steps": [
        {"op": "rotate", "params": {"degrees": 30}}]}))
    (img, mask), = seg.augment_items(pipe, train[:1], 1, 0)
    assert mask.shape == img.shape[:2] and (mask == 255).any()  # corners the rotation cannot see are ignored
    shape = mask != 0
    assert ((img.max(axis=2) > 100) == (shape & (mask != 255))).mean() > 0.97


def test_compare_gives_a_verdict_per_metric():
    pipe = Pipeline(parse_spec({"name": "d", "modality": "image", "steps": [{"op": "horizontal_flip", "p": 0.5}]}))
    res = det.compare_detection(pipe, squares(30, 0), squares(10, 1), copies=1, repeats=2,
                                options=det.DetectionOptions(image_size=64, epochs=3, width=8))
    assert set(res["metrics"]) == {"map50", "map"}
    for m in res["metrics"].values():
        assert m["verdict"] in ("helps", "hurts", "no detectable effect") and len(m["diffs"]) == 2
