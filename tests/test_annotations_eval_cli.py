"""`augment eval` on detection (VOC, YOLO, COCO) and segmentation (mask folder) datasets, through the real CLI.

Tiny data (a few raccoon photos, synthetic shapes) and a tiny model (32 px, one epoch) keep each call to seconds;
what is checked is the protocol: layout detection as in `augment run`, paired arms, the verdict rule with its
interval and MDE, adaptive stopping, the reports, and one-line usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotation_fixtures import MAKERS, STEMS

REPO = Path(__file__).resolve().parents[1]
TINY = ["--model-option", "image_size=32", "--model-option", "epochs=1", "--model-option", "width=4"]
FLIP_ZOOM = REPO / "pipelines" / "detection_flip_zoom.yaml"


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def spec(tmp_path: Path, steps: list[dict]) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"name": "t", "modality": "image", "seed": 3, "steps": steps}))
    return path


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    return MAKERS["voc"](root / "train", STEMS[:3]), MAKERS["voc"](root / "test", STEMS[3:])


def shapes_dataset(root: Path, n: int, seed: int) -> Path:
    from augment.evaluate.segmentation_model import synthetic_shapes

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (img, mask) in enumerate(synthetic_shapes(n, seed, size=32)):
        Image.fromarray(img).save(root / "images" / f"s{i:03d}.png")
        Image.fromarray(mask, mode="L").save(root / "masks" / f"s{i:03d}.png")
    return root


def test_detection_eval_through_the_cli_writes_verdict_interval_and_mde(voc, tmp_path):
    train, test = voc
    out = tmp_path / "rep"
    r = cli("eval", FLIP_ZOOM, "--train", train, "--test", test, *TINY, "--repeats", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"json": str(out / "report.json"), "html": str(out / "report.html")}
    assert "mAP@[.5:.95]" in r.stderr and "verdict" in r.stderr  # the summary table, on COCO's primary AP
    rep = json.loads((out / "report.json").read_text())
    assert rep["task"] == "detection" and rep["data"]["format"] == "voc" and rep["classes"] == ["raccoon"]
    assert rep["data"]["train_pool"] == {"n": 3, "objects": 3} and rep["data"]["test"]["n"] == 1
    (row,) = rep["summary"]
    assert row["arm"] == "copies=1" and row["repeats"] == 3 and set(row["metrics"]) == {"map50", "map"}
    assert row["metric"] == "map" and row["verdict"] == row["metrics"]["map"]["verdict"]
    assert row["verdict"] in ("helps", "hurts", "equivalent", "no detectable effect")
    d = row["decision"]
    assert d["n"] == 3 and d["ci"] is not None and len(d["ci"]) == 2
    assert row["metrics"]["map50"]["diffs"] == pytest.approx(
        [a["metrics"]["map50"] - b["metrics"]["map50"] for b, a in zip(rep["runs"][::2], rep["runs"][1::2])])
    # paired arms: each run's two fits share the model seed and the subset; the augmented arm adds copies
    for b, a in zip(rep["runs"][::2], rep["runs"][1::2]):
        assert (b["arm"], a["arm"]) == ("baseline", "copies=1") and b["seeds"] == a["seeds"]
        assert a["n_train"] == 3 + a["n_copies_added"] and b["n_train"] == 3
    html = (out / "report.html").read_text()
    assert 'id="verdicts"' in html and 'id="sample-grid"' in html and "mAP@0.5" in html
    assert "http://" not in html and "https://" not in html  # self-contained


def test_a_pipeline_that_never_fires_is_equivalent_and_adaptive_repeats_stop_at_the_first_look(voc, tmp_path):
    train, test = voc
    never = spec(tmp_path, [{"op": "horizontal_flip", "p": 0.0}])
    out = tmp_path / "rep"
    r = cli("eval", never, "--train", train, "--test", test, *TINY, "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    (row,) = rep["summary"]
    # no copy differs from its source: the augmented arm is the baseline, exactly, so the rule says equivalent
    assert row["verdict"] == "equivalent" and row["metrics"]["map"]["diffs"] == [0.0, 0.0, 0.0]
    assert row["reused_baseline_runs"] == 3
    assert rep["protocol"]["stopping"]["full"] == {**rep["protocol"]["stopping"]["full"], "runs": 3, "reason": "decided"}
    assert rep["protocol"]["looks"][0] == 3 and rep["protocol"]["statistics"]["nominal_level"] < 0.05


def test_time_budget_stops_starting_runs_and_the_verdict_is_undecided(voc, tmp_path):
    train, test = voc
    r = cli("eval", FLIP_ZOOM, "--train", train, "--test", test, *TINY, "--time-budget", "1", "--out", tmp_path / "r",
            "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["protocol"]["stopping"]["full"]["reason"] == "time budget reached"
    assert rep["summary"][0]["repeats"] == 1 and rep["summary"][0]["verdict"] == "undecided"


@pytest.mark.parametrize("fmt", ["yolo", "coco"])
def test_yolo_and_coco_datasets_are_detected_as_augment_run_detects_them(fmt, tmp_path):
    root = MAKERS[fmt](tmp_path / fmt)
    out = tmp_path / "rep"
    # no --test: TRAIN is split once (seeded); boxes come from the format's reader (polygons tighten them)
    r = cli("eval", FLIP_ZOOM, "--train", root, *TINY, "--repeats", "2", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["data"]["format"] == fmt and rep["task"] == "detection"
    assert rep["data"]["split"]["kind"] == "held-out split of TRAIN"
    assert rep["data"]["train_pool"]["n"] + rep["data"]["test"]["n"] == len(STEMS)
    assert len(rep["runs"]) == 4 and rep["summary"][0]["metrics"]["map50"]["ci"] is not None


def test_segmentation_masks_give_miou_verdicts(tmp_path):
    train, test = shapes_dataset(tmp_path / "train", 8, 0), shapes_dataset(tmp_path / "test", 4, 1)
    rotate = spec(tmp_path, [{"op": "horizontal_flip", "p": 0.5}, {"op": "rotate", "params": {"degrees": 20}}])
    out = tmp_path / "rep"
    r = cli("eval", rotate, "--train", train, "--test", test, "--model-option", "epochs=1",
            "--model-option", "image_size=16", "--model-option", "width=4", "--repeats", "2", "--copies", "1,2",
            "--out", out)
    assert r.returncode == 0, r.stderr
    assert "mIoU" in r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["task"] == "segmentation" and rep["model"]["name"] == "segmenter" and rep["classes"] == ["0", "1", "2", "3"]
    assert [s["arm"] for s in rep["summary"]] == ["copies=1", "copies=2"]
    for s in rep["summary"]:
        assert set(s["metrics"]) == {"miou", "pixel_accuracy"} and s["decision"]["n"] == 2
    runs = {(r["repeat"], r["arm"]): r for r in rep["runs"]}
    for u in range(2):  # nested arms: copies=2 adds at least what copies=1 added
        assert runs[(u, "copies=2")]["n_copies_added"] >= runs[(u, "copies=1")]["n_copies_added"]
    assert 0 <= rep["runs"][0]["metrics"]["miou"] <= 1


@pytest.mark.parametrize("args, message", [
    (["--cv", "3"], "--cv"),
    (["--compare", "dropout"], "--compare"),
    (["--budget", "steps"], "--budget steps"),
    (["--text-column", "x"], "--text-column"),
    (["--model", "cnn"], "not a detection model"),
    (["--model", "segmenter"], "is for segmentation data"),
    (["--model", "mypkg.models:fn"], "cannot import module 'mypkg.models'"),
    (["--timeout", "5"], "--timeout is for a custom model"),
    (["--model-option", "image_sise=64"], "did you mean 'image_size'"),
    (["--model-option", "epochs=0"], "epochs"),
    (["--format", "coco"], "is not a coco dataset"),
    (["--repeats", "many"], "repeats"),
])
def test_what_annotated_eval_cannot_do_is_a_one_line_usage_error(voc, args, message):
    train, test = voc
    r = cli("eval", FLIP_ZOOM, "--train", train, "--test", test, *args)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_a_test_set_of_another_task_or_a_preset_spec_is_refused(voc, tmp_path):
    train, _ = voc
    masks = shapes_dataset(tmp_path / "m", 2, 0)
    r = cli("eval", FLIP_ZOOM, "--train", train, "--test", masks, *TINY, "--repeats", "2")
    assert r.returncode == 2 and "segmentation dataset" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("eval", FLIP_ZOOM, "--train", train, "--test", masks / "images", *TINY, "--repeats", "2")
    assert r.returncode == 2 and "not an annotated dataset" in r.stderr
    # augmix blends differently warped copies: no box fits (trivial_augment and rand_augment move the boxes)
    preset = spec(tmp_path, [{"op": "augmix"}])
    r = cli("eval", preset, "--train", train, *TINY, "--out", str(tmp_path / "report"))
    assert r.returncode == 2 and "cannot move annotations" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_models_lists_the_detector_and_the_segmenter_with_options():
    r = cli("models", "--json")
    assert r.returncode == 0, r.stderr
    listing = {m["name"]: m for m in json.loads(r.stdout)}
    assert listing["detector"]["modality"] == "detection" and listing["segmenter"]["modality"] == "segmentation"
    opts = {o["name"]: o for o in listing["detector"]["options"]}
    assert opts["image_size"]["default"] == 128 and ">= 32" in opts["image_size"]["bounds"]
    text = cli("models").stdout
    assert "detector  [detection]" in text and "segmenter  [segmentation]" in text and "mAP" in text


def test_same_seed_same_report_numbers(voc, tmp_path):
    train, test = voc
    reps = []
    for name in ("a", "b"):
        r = cli("eval", FLIP_ZOOM, "--train", train, "--test", test, *TINY, "--repeats", "2", "--out",
                tmp_path / name, "-q")
        assert r.returncode == 0, r.stderr
        reps.append(json.loads((tmp_path / name / "report.json").read_text()))
    assert [r["metrics"] for r in reps[0]["runs"]] == [r["metrics"] for r in reps[1]["runs"]]
    assert np.isfinite(reps[0]["summary"][0]["metrics"]["map"]["diff_mean"])
