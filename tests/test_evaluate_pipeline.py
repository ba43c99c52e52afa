"""End to end with real compiled pipelines (augment.load_pipeline), spec files on disk, and report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import augment
from augment.evaluate import EvalConfig, run_evaluation, write_report
from test_evaluate_protocol import make_blob_folder

TINY_CNN = {"image_size": 12, "width": 8, "max_epochs": 12, "patience": 3, "min_steps": 0}


def _blobs(root: Path, n_per_class: int = 80, size: int = 12) -> Path:
    return make_blob_folder(root, n_per_class=n_per_class, size=size)


def _spec(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return _blobs(tmp_path_factory.mktemp("blobs"))


def test_real_vertical_flip_pipeline_hurts_and_report_records_the_spec(blob_dir, tmp_path):
    spec = _spec(tmp_path / "vflip.yaml", "version: 1\nname: vflip\nmodality: image\nsteps:\n  - op: vertical_flip\n")
    cfg = EvalConfig(pipeline=spec, train=blob_dir, train_sizes=["full"], copies=[1], repeats=5,
                     model_options=TINY_CNN, n_bootstrap=500, n_samples=2, seed=1)
    res = run_evaluation(cfg, progress=False)
    assert res.summary[0]["verdict"] == "hurts"
    paths = write_report(res, tmp_path / "out")
    doc = json.loads(paths["json"].read_text())
    pipe = augment.load_pipeline(spec)
    assert doc["pipeline"]["spec_hash"] == pipe.spec_hash
    assert doc["pipeline"]["spec"] == pipe.spec.model_dump()
    assert doc["samples"][0]["ops"] == [["vertical_flip"]]
    assert "vertical_flip" in paths["html"].read_text()


def test_real_pipeline_that_changes_nothing_gives_no_effect(blob_dir, tmp_path):
    spec = _spec(tmp_path / "noop.yaml",
                 "version: 1\nname: noop\nmodality: image\nsteps:\n  - op: horizontal_flip\n    p: 0.0\n")
    cfg = EvalConfig(pipeline=spec, train=blob_dir, train_sizes=[20], copies=[2], repeats=2,
                     model_options=TINY_CNN, n_bootstrap=200, n_samples=0)
    res = run_evaluation(cfg, progress=False)
    (s,) = res.summary
    assert s["verdict"] == "equivalent"
    assert s["metrics"]["accuracy"]["diff_mean"] == 0.0 and s["reused_baseline_runs"] == 2


def _text_ops_available() -> bool:
    from augment.ops.catalog import registry

    return "random_swap" in registry().names("text")


@pytest.mark.skipif(not _text_ops_available(), reason="text ops not registered yet")
def test_real_text_pipeline_runs_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for label, cues in (("pos", ["good", "great"]), ("neg", ["bad", "awful"])):
        for _ in range(30):
            words = list(rng.choice(["the", "film", "plot", "was", "very", "story"], 4)) + list(rng.choice(cues, 2))
            lines.append(f"{label}\t{' '.join(words)}")
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    spec = _spec(tmp_path / "swap.yaml",
                 "version: 1\nname: swap\nmodality: text\nsteps:\n  - op: random_swap\n    params: {rate: 0.3}\n")
    cfg = EvalConfig(pipeline=spec, train=tmp_path / "train.tsv", train_sizes=["full"], copies=[1], repeats=2,
                     model="tfidf-logreg", n_bootstrap=200, n_samples=2)
    res = run_evaluation(cfg, progress=False)
    assert res.summary[0]["verdict"] in ("helps", "hurts", "equivalent", "no detectable effect")
    assert res.samples[0]["ops"][0] == ["random_swap"]
    paths = write_report(res, tmp_path / "out")
    assert "random_swap" in paths["html"].read_text()
