"""`augment eval` through the real CLI: model options and threads reach the model and the report, and bad
options fail in one line before any data is read."""

import json
import time

import pytest
from conftest import PIPELINES
from test_evaluate_protocol import make_tsv
from test_expander import augment_cli


@pytest.fixture(scope="module")
def tiny_tsv(tmp_path_factory):
    return make_tsv(tmp_path_factory.mktemp("eval-cli") / "train.tsv", n_per_class=40, seed=3)


def test_model_options_and_threads_reach_the_report(tmp_path, tiny_tsv):
    out = tmp_path / "report"
    augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--train-sizes", "full", "--copies", "1",
                "--repeats", "2", "--model", "ngram", "--model-option", "max_epochs=3", "--model-option",
                "min_steps=0", "--model-option", "monitor=loss", "--threads", "2", "--out", out, "-q")
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["model_options"] == {"max_epochs": 3, "min_steps": 0, "monitor": "loss"}
    assert report["config"]["threads"] == 2
    options = report["model"]["options"]  # what the model was built with, not only what was asked
    assert (options["max_epochs"], options["min_steps"], options["monitor"]) == (3, 0, "loss")
    assert report["model"]["deterministic"]["threads"] == 2
    assert (out / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--model-option", "max_epoch=3"], "model option 'max_epoch' is not an option of ngram (did you mean 'max_epochs'?)"),
    (["--model-option", "max_epochs=many"], "model option max_epochs='many'"),
    (["--model-option", "max_epochs"], "expected KEY=VALUE"),
    (["--model-option", "lr=1", "--model-option", "lr=2"], "given twice"),
    (["--model", "cnn"], "model 'cnn' is for image data, but the data is text"),
    (["--model", "tfidf-logreg", "--model-option", "dim=8"], "allowed: C, max_iter, min_df, ngram, sublinear_tf"),
    (["--threads", "0"], "Invalid value for '--threads'"),
])
def test_bad_model_options_fail_in_one_line_before_reading_data(tmp_path, tiny_tsv, args, message):
    start = time.monotonic()
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--out", tmp_path / "r", *args,
                       check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()
    assert time.monotonic() - start < 30
