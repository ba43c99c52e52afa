"""The annotated evals run through the one loop of every evaluation (augment.evaluate.loop): the same numbers
whatever the number of worker processes, for ``augment eval`` on an annotated folder and for the library's
``compare_detection`` / ``compare_segmentation``, which also get the time budget, the journal and resume."""

from __future__ import annotations

import json

import pytest
from annotation_fixtures import MAKERS, STEMS
from test_annotations_eval import squares

from augment.compile.pipeline import Pipeline
from augment.evaluate import EvalConfig
from augment.evaluate import detection_model as det
from augment.evaluate import segmentation_model as seg
from augment.evaluate.annotated_protocol import annotated_layout, run_annotated_evaluation
from augment.evaluate.loop import STOPPED_BUDGET, can_fork
from augment.spec import parse_spec

needs_fork = pytest.mark.skipif(not can_fork(), reason="parallel fits need fork")
TINY_DET = det.DetectionOptions(image_size=32, epochs=2, width=4)
FLIP = {"name": "flip", "modality": "image", "steps": [{"op": "horizontal_flip", "p": 0.5}]}


def _pipe():
    return Pipeline(parse_spec(FLIP))


@needs_fork
def test_annotated_eval_gives_the_same_numbers_on_one_or_two_workers(tmp_path):
    train = MAKERS["voc"](tmp_path / "train", STEMS[:3])
    test = MAKERS["voc"](tmp_path / "test", STEMS[3:])
    base = dict(pipeline=None, train=train, test=test, train_sizes="2,full", copies="1,2", repeats=2, seed=5,
                model_options={"image_size": 32, "epochs": 1, "width": 4}, n_samples=0)
    results = [run_annotated_evaluation(EvalConfig(**base, jobs=jobs), annotated_layout(train),
                                        annotated_layout(test), progress=False, pipe=_pipe()) for jobs in (1, 2)]
    assert [r.protocol["jobs"] for r in results] == [1, 2]
    runs = [json.dumps([{k: v for k, v in rec.items() if k != "timings"} for rec in r.runs], sort_keys=True)
            for r in results]
    assert runs[0] == runs[1] and len(results[0].runs) == 2 * 2 * 3  # sizes x runs x arms
    summaries = [json.dumps(r.summary, sort_keys=True) for r in results]
    assert summaries[0] == summaries[1]


@needs_fork
def test_compare_detection_same_numbers_on_two_workers_and_resume_reuses_every_fit(tmp_path):
    train, test = squares(12, 0), squares(6, 1)
    kw = dict(copies=1, repeats=2, seed=4, options=TINY_DET)
    serial = det.compare_detection(_pipe(), train, test, jobs=1, **kw)
    parallel = det.compare_detection(_pipe(), train, test, jobs=2, journal=tmp_path / "fits.jsonl", **kw)
    assert (serial["jobs"], parallel["jobs"]) == (1, 2) and serial["status"] == parallel["status"] == "complete"
    assert serial["runs"] == parallel["runs"] and serial["metrics"] == parallel["metrics"]
    assert set(serial["metrics"]) == {"map", "map50"} and serial["fits"] == {"trained": 4, "from_journal": 0}
    again = det.compare_detection(_pipe(), train, test, jobs=1, journal=tmp_path / "fits.jsonl", resume=True, **kw)
    assert again["fits"] == {"trained": 0, "from_journal": 4} and again["metrics"] == serial["metrics"]
    with pytest.raises(ValueError, match="another evaluation"):  # another seed: the journal is not reused
        det.compare_detection(_pipe(), train, test, jobs=1, journal=tmp_path / "fits.jsonl", resume=True,
                              **{**kw, "seed": 9})


def test_compare_detection_stops_at_the_time_budget_with_what_finished():
    out = det.compare_detection(_pipe(), squares(8, 0), squares(4, 1), copies=1, repeats=50, jobs=1,
                                time_budget=1e-6, options=TINY_DET)
    # the first run always runs (a comparison with no run would say nothing); no other run fits the budget
    assert out["status"] == STOPPED_BUDGET and out["repeats"] == 1 and out["repeats_planned"] == 50
    assert out["stopping"]["reason"] == "time budget reached" and len(out["runs"]["augmented"]) == 1


@needs_fork
def test_compare_segmentation_same_numbers_on_two_workers():
    train, test = seg.synthetic_shapes(10, 0, size=32), seg.synthetic_shapes(4, 1, size=32)
    kw = dict(copies=1, repeats=2, seed=2, options=seg.SegmentationOptions(image_size=32, epochs=1, width=4))
    a = seg.compare_segmentation(_pipe(), train, test, jobs=1, **kw)
    b = seg.compare_segmentation(_pipe(), train, test, jobs=2, **kw)
    assert a["runs"] == b["runs"] and a["metrics"] == b["metrics"] and set(a["metrics"]) == {"miou", "pixel_accuracy"}


def test_annotated_eval_plans_the_detector_epochs_against_the_budget(tmp_path):
    train = MAKERS["voc"](tmp_path / "train", STEMS[:3])
    test = MAKERS["voc"](tmp_path / "test", STEMS[3:])
    config = EvalConfig(train=train, test=test, train_sizes="full", copies="1", repeats="auto", min_repeats=2,
                        max_repeats=2, time_budget=1e-6, seed=1, jobs=1, n_samples=0,
                        model_options={"image_size": 32, "epochs": 8, "width": 4})
    result = run_annotated_evaluation(config, annotated_layout(train), annotated_layout(test), progress=False,
                                      pipe=_pipe())
    plan = result.protocol["epochs"]
    # nothing left of the budget after the pilot: a quarter of the configured epochs, for every fit
    assert (plan["configured"], plan["planned"]) == (8, 2) and result.model["options"]["epochs"] == 2
    assert result.runs and {r["epochs_planned"] for r in result.runs} == {2}
    assert result.protocol["status"] == STOPPED_BUDGET
