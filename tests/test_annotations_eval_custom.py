"""Bring-your-own detectors and segmenters (``augment eval --model module:function`` on annotated data): the
function runs in the same spawned child process as a custom classifier, its answers are checked and scored with
the built-in models' metric code, and every way it can misbehave is a one-line error naming it (exit 1).

Tiny data (three VOC raccoon photos, a few 32 px synthetic shape masks) keep every CLI call to seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from annotation_fixtures import MAKERS, STEMS
from test_annotations_eval_cli import shapes_dataset
from augment.evaluate.custom import CustomModelError, check_detections, check_masks

REPO = Path(__file__).resolve().parents[1]
FLIP_ZOOM = REPO / "pipelines" / "detection_flip_zoom.yaml"

MODULE = textwrap.dedent('''
    import os, time
    import numpy as np

    def _log(train, test):
        # which training sets each call saw, so the test can tell the arms apart
        with open(os.environ["BYO_LOG"], "a") as f:
            f.write(f"{len(train)} {len(test)}\\n")

    def _check_detection_items(items):
        for image, target in items:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, image.shape
            boxes = np.asarray(target["boxes"])
            assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(boxes) == len(target["labels"])
            assert all(isinstance(lab, str) for lab in target["labels"])

    def truth_detector(train, test, *, seed):
        """Returns the ground-truth boxes of every test image."""
        _check_detection_items(train)
        _check_detection_items(test)
        _log(train, test)
        return {"detections": [{"boxes": t["boxes"], "scores": np.ones(len(t["labels"])), "labels": t["labels"]}
                               for _, t in test]}

    def truth_segmenter(train, test, *, seed):
        for image, mask in train + test:
            assert image.dtype == np.uint8 and mask.dtype == np.uint8 and mask.shape == image.shape[:2]
        _log(train, test)
        return {"masks": [mask.copy() for _, mask in test]}

    def learns_from_copies(train, test, *, seed):
        # the truth once it has more than the 4 training images (the augmented arm); before, one test image
        # (picked by the seed, so the runs differ) is all background
        miss = -1 if len(train) > 4 else seed % len(test)
        return {"masks": [np.zeros_like(mask) if i == miss else mask.copy() for i, (_, mask) in enumerate(test)]}

    def own_detection_scores(train, test, *, seed):
        return {"map": 0.25, "map_50": 0.5}

    def own_miou(train, test, *, seed):
        return {"miou": 0.4}

    def raises(train, test, *, seed):
        raise RuntimeError("boom")

    def one_detection_short(train, test, *, seed):
        return {"detections": [{"boxes": t["boxes"], "scores": [1.0] * len(t["labels"]), "labels": t["labels"]}
                               for _, t in test[1:]]}

    def one_mask_short(train, test, *, seed):
        return {"masks": [m for _, m in test[1:]]}

    def hangs(train, test, *, seed):
        time.sleep(120)
''')


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("byo")
    (root / "pkg").mkdir()
    (root / "pkg" / "byo_models.py").write_text(MODULE)
    voc = MAKERS["voc"](root / "train", STEMS[:3]), MAKERS["voc"](root / "test", STEMS[3:])
    masks = shapes_dataset(root / "mtrain", 4, 0), shapes_dataset(root / "mtest", 3, 1)
    rotate = root / "rotate.json"
    rotate.write_text(json.dumps({"name": "r", "modality": "image", "seed": 3, "steps": [
        {"op": "horizontal_flip", "p": 0.5}, {"op": "rotate", "params": {"degrees": 20}}]}))
    return {"root": root, "voc": voc, "masks": masks, "rotate": rotate}


def cli(data, *args, log: Path | None = None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(data["root"] / "pkg")]),
           "BYO_LOG": str(log or data["root"] / "unused.log")}
    return subprocess.run([sys.executable, "-m", "augment.cli", "eval", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def _sets(log: Path) -> list[tuple[int, int]]:
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()]


def test_a_detector_returning_the_truth_scores_map_1_in_both_arms(data, tmp_path):
    train, test = data["voc"]
    out, log = tmp_path / "rep", tmp_path / "calls.log"
    r = cli(data, FLIP_ZOOM, "--train", train, "--test", test, "--model", "byo_models:truth_detector",
            "--repeats", "3", "--out", out, "-q", log=log)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"]["name"] == "byo_models:truth_detector" and rep["model"]["kind"] == "custom (module:function)"
    assert rep["model"]["doc"] == "Returns the ground-truth boxes of every test image."
    for run in rep["runs"]:
        assert run["metrics"] == {"map": pytest.approx(1.0), "map50": pytest.approx(1.0)}  # COCOeval's 1 - 2e-16
    row = rep["summary"][0]
    # a perfect score in every run of both arms is no variance estimate: not "equivalent" (issue 21)
    assert row["verdict"] == "no detectable effect" and row["metrics"]["map"]["diffs"] == [0.0, 0.0, 0.0]
    assert "no variance" in row["sentence"] and row["metrics"]["map50"]["verdict"] == "no detectable effect"
    # the function saw the 3 training images in the baseline and them plus their augmented copies in the arm
    calls = _sets(log)
    fitted = [run for run in rep["runs"] if not run["reused_baseline"]]
    assert calls == [(run["n_train"], 1) for run in fitted]
    assert [run["n_train"] for run in rep["runs"] if run["arm"] == "baseline"] == [3, 3, 3]
    assert max(n for n, _ in calls) > 3


def test_a_segmenter_returning_the_truth_masks_scores_miou_1_in_both_arms(data, tmp_path):
    train, test = data["masks"]
    out, log = tmp_path / "rep", tmp_path / "calls.log"
    r = cli(data, data["rotate"], "--train", train, "--test", test, "--model", "byo_models:truth_segmenter",
            "--repeats", "2", "--out", out, "-q", log=log)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["task"] == "segmentation"
    for run in rep["runs"]:
        assert run["metrics"] == {"miou": 1.0, "pixel_accuracy": 1.0}
    # the same score in every run leaves no variance to judge by: not "equivalent" (issue 21's rule)
    assert rep["summary"][0]["verdict"] == "no detectable effect"
    assert {n_test for _, n_test in _sets(log)} == {3} and max(n for n, _ in _sets(log)) > 4


def test_a_segmenter_that_gains_from_the_copies_is_judged_to_help(data, tmp_path):
    train, test = data["masks"]
    out = tmp_path / "rep"
    r = cli(data, data["rotate"], "--train", train, "--test", test, "--model", "byo_models:learns_from_copies",
            "--repeats", "3", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    row = json.loads((out / "report.json").read_text())["summary"][0]
    assert row["verdict"] == "helps" and row["metrics"]["miou"]["augmented"]["mean"] == 1.0, row["metrics"]["miou"]
    assert row["metrics"]["miou"]["baseline"]["mean"] < 1.0 and "helps" in row["sentence"]


def test_own_scores_are_taken_as_given_and_a_missing_secondary_metric_is_left_out(data, tmp_path):
    train, test = data["voc"]
    out = tmp_path / "det"
    r = cli(data, FLIP_ZOOM, "--train", train, "--test", test, "--model", "byo_models:own_detection_scores",
            "--repeats", "2", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert all(run["metrics"] == {"map": 0.25, "map50": 0.5} for run in rep["runs"])
    assert rep["summary"][0]["verdict"] == "no detectable effect"  # constant scores: no variance, no equivalence
    train, test = data["masks"]
    out = tmp_path / "seg"
    r = cli(data, data["rotate"], "--train", train, "--test", test, "--model", "byo_models:own_miou",
            "--repeats", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert all(run["metrics"] == {"miou": 0.4} for run in rep["runs"])
    assert list(rep["summary"][0]["metrics"]) == ["miou"] and rep["summary"][0]["verdict"] == "no detectable effect"
    assert (out / "report.html").stat().st_size > 0


@pytest.mark.parametrize("task, fn, extra, message", [
    ("voc", "raises", [], "raised RuntimeError: boom"),
    ("voc", "one_detection_short", [], "returned detections for 0 images; the test set has 1"),
    ("masks", "one_mask_short", [], "returned 2 masks; the test set has 3 images"),
    ("masks", "hangs", ["--timeout", "2"], "did not return within 2 s"),
])
def test_a_misbehaving_function_is_one_line_naming_it_exit_1(data, tmp_path, task, fn, extra, message):
    train, test = data[task]
    pipe = FLIP_ZOOM if task == "voc" else data["rotate"]
    r = cli(data, pipe, "--train", train, "--test", test, "--model", f"byo_models:{fn}", "--repeats", "2",
            *extra, "--out", tmp_path / "rep", "-q")
    assert r.returncode == 1, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"byo_models:{fn}" in line and message in line


def test_built_in_models_still_refuse_timeout_and_custom_models_refuse_model_options(data):
    train, test = data["voc"]
    r = cli(data, FLIP_ZOOM, "--train", train, "--test", test, "--timeout", "5")
    assert r.returncode == 2 and "--timeout is for a custom model" in r.stderr
    r = cli(data, FLIP_ZOOM, "--train", train, "--test", test, "--model", "byo_models:truth_detector",
            "--model-option", "epochs=2")
    assert r.returncode == 2 and "do not apply to a custom model" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ---- the answer checks, case by case (in process: no child needed) ------------------------------------------

IMAGE = np.zeros((40, 60, 3), np.uint8)
TEST = [(IMAGE, np.array([[5.0, 5, 20, 30]]), ["cat"]), (IMAGE, np.array([[10.0, 0, 50, 40]]), ["dog"])]


def _det(boxes=((5, 5, 20, 30),), scores=(0.9,), labels=("cat",)):
    return {"boxes": list(boxes), "scores": list(scores), "labels": list(labels)}


@pytest.mark.parametrize("result, message", [
    ([], "returned list; expected a mapping"),
    ({"detections": "no"}, "of type str"),
    ({"detections": [_det()]}, "for 1 images; the test set has 2"),
    ({"detections": [_det(), {"boxes": []}]}, "detections[1] without 'boxes', 'scores' and 'labels'"),
    ({"detections": [_det(boxes=[(1, 2, 3)]), _det()]}, "boxes of shape (1, 3)"),
    ({"detections": [_det(boxes=[(1, 2, float("nan"), 4)]), _det()]}, "NaN or infinite"),
    ({"detections": [_det(scores=(1.5,)), _det()]}, "scores'] outside [0, 1]"),
    ({"detections": [_det(scores=(0.5, 0.5)), _det()]}, "1 labels"),
    ({"detections": [_det(labels=("bird",)), _det()]}, "unknown class 'bird'"),
    ({"detections": [_det(boxes=[("a", 1, 2, 3)]), _det()]}, "not a numeric array"),
    ({"map50": 0.5}, "must return 'detections' or 'map'"),
    ({"map": 50}, "a fraction, not a percentage"),
    ({"map": 0.5, "map_50": float("nan")}, "expected a finite number"),
])
def test_bad_detector_answers_are_one_line_errors_naming_the_function(result, message):
    with pytest.raises(CustomModelError) as info:
        check_detections("m:f", result, TEST, ["cat", "dog"])
    assert "\n" not in str(info.value) and "custom model m:f" in str(info.value)
    assert message in str(info.value)


def test_detector_answers_are_scored_with_the_built_in_map():
    perfect = {"detections": [_det(), _det(boxes=[(10, 0, 50, 40)], labels=("dog",))]}
    assert check_detections("m:f", perfect, TEST, ["cat", "dog"]) == {"map": pytest.approx(1.0),
                                                                       "map50": pytest.approx(1.0)}
    empty = {"detections": [_det(boxes=[], scores=[], labels=[]), _det(boxes=np.zeros((0, 4)), scores=[],
                                                                      labels=[])]}
    assert check_detections("m:f", empty, TEST, ["cat", "dog"]) == {"map": 0.0, "map50": 0.0}
    half = {"detections": [_det(), _det(boxes=[(10, 0, 50, 40)], labels=("cat",))]}
    assert 0 < check_detections("m:f", half, TEST, ["cat", "dog"])["map"] < 1


TRUTH = [np.array([[0, 1], [2, 255]], np.uint8), np.array([[1, 1], [1, 1]], np.uint8)]


@pytest.mark.parametrize("result, message", [
    ({"masks": TRUTH[:1]}, "returned 1 masks; the test set has 2"),
    ({"masks": [TRUTH[0], np.ones((2, 3))]}, "masks[1] of shape (2, 3); the test image is 2x2"),
    ({"masks": [TRUTH[0], np.ones(4)]}, "masks[1] of shape (4,)"),
    ({"masks": [TRUTH[0], np.full((2, 2), 3)]}, "not class indices 0..2"),
    ({"masks": [TRUTH[0], np.full((2, 2), 0.5)]}, "not class indices"),
    ({"masks": [TRUTH[0], np.full((2, 2), np.nan)]}, "NaN or infinite"),
    ({"masks": 7}, "of type int"),
    ({"pixel_accuracy": 0.5}, "must return 'masks' or 'miou'"),
    ({"miou": -0.1}, "expected a finite number in [0, 1]"),
])
def test_bad_segmenter_answers_are_one_line_errors_naming_the_function(result, message):
    with pytest.raises(CustomModelError) as info:
        check_masks("m:f", result, TRUTH, 3)
    assert "\n" not in str(info.value) and "custom model m:f" in str(info.value)
    assert message in str(info.value)


def test_segmenter_answers_are_scored_with_the_built_in_miou():
    assert check_masks("m:f", {"masks": TRUTH}, TRUTH, 3) == {"miou": 1.0, "pixel_accuracy": 1.0}
    wrong = [np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8)]  # 255: no prediction, counted wrong
    scores = check_masks("m:f", {"masks": wrong}, TRUTH, 3)
    assert scores["pixel_accuracy"] == pytest.approx(1 / 7)
    assert check_masks("m:f", {"miou": 0.3}, TRUTH, 3) == {"miou": 0.3}
