"""`augment eval` through the real CLI: model options and threads reach the model and the report, and bad
options fail in one line before any data is read."""

import json

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
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--out", tmp_path / "r", *args,
                       check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--repeats", "many"], "repeats: repeats 'many' must be a positive integer or 'auto'"),
    (["--cv", "3", "--test", "{tsv}"], "cross-validation replaces the held-out set"),
    (["--cv", "3", "--repeats", "4"], "use --cv-repeats"),
    (["--compare", "dropout,batchnorm"], "compare"),
])
def test_bad_protocol_options_fail_in_one_line(tmp_path, tiny_tsv, args, message):
    args = [a.replace("{tsv}", str(tiny_tsv)) for a in args]
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--out", tmp_path / "r", *args,
                       check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_models_command_lists_every_model_and_help_points_to_it():
    listing = augment_cli("models").stdout
    for name in ("fast-conv", "cnn", "ngram", "textcnn", "tfidf-logreg"):
        assert f"\n{name}  [" in "\n" + listing
    assert "image_size" in listing and "picked from the data" in listing and "early_stopping" in listing
    doc = json.loads(augment_cli("models", "--json").stdout)
    assert {m["name"] for m in doc} == {"fast-conv", "cnn", "ngram", "textcnn", "tfidf-logreg", "detector", "segmenter"}
    help_text = augment_cli("eval", "--help").stdout
    assert "augment models" in help_text and "see the docs of" not in help_text


def _text_files(tmp_path, offset=0):
    import csv

    rows = [(["neg", "pos"][i % 2], f"{['bad', 'good'][i % 2]} film number {i + offset} {'so' * (i % 3)}")
            for i in range(48)]
    files = {}
    p = tmp_path / "plain.tsv"
    p.write_text("".join(f"{lab}\t{t}\n" for lab, t in rows))
    files["tsv"] = (p, [])
    p = tmp_path / "header.tsv"
    p.write_text("y\tsentence\n" + "".join(f"{lab}\t{t}\n" for lab, t in rows))
    files["tsv-header"] = (p, ["--text-column", "sentence", "--label-column", "y"])
    p = tmp_path / "data.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "sentence", "y"])
        w.writerows([(i, t, lab) for i, (lab, t) in enumerate(rows)])
    files["csv"] = (p, ["--text-column", "sentence", "--label-column", "y"])
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for lab, t in rows))
    files["jsonl"] = (p, [])
    return files


@pytest.mark.parametrize("fmt", ["tsv", "tsv-header", "csv", "jsonl"])
def test_every_text_format_through_eval(tmp_path, fmt):
    path, opts = _text_files(tmp_path)[fmt]
    (tmp_path / "t").mkdir()
    test_path, _ = _text_files(tmp_path / "t", offset=1000)[fmt]
    out = tmp_path / "r"
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", path, "--test", test_path, *opts,
                       "--train-sizes", "full", "--copies", "1", "--repeats", "2", "--model", "tfidf-logreg",
                       "--out", out, "-q")
    assert proc.returncode == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["data"]["train_pool"]["n"] == doc["data"]["test"]["n"] == 48
    assert doc["classes"] == ["neg", "pos"] and doc["data"]["skipped"]["train_count"] == 0


def test_a_test_set_equal_to_train_is_a_one_line_error(tmp_path, tiny_tsv):
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--test", tiny_tsv, "--model",
                       "tfidf-logreg", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 1 and "also occurs in the test set" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_image_in_training_folder_is_skipped_and_reported(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    (tmp_path / "d" / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "r"
    proc = augment_cli("eval", PIPELINES / "flip_zoom_noise.yaml", "--train", tmp_path / "d", "--train-sizes",
                       "full", "--copies", "1", "--repeats", "2", "--model-option", "max_epochs=1",
                       "--model-option", "min_steps=2", "--model-option", "width=4", "--out", out, "-q")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    doc = json.loads((out / "report.json").read_text())
    assert doc["data"]["skipped"]["train_count"] == 1
    assert doc["data"]["skipped"]["train"][0][0] == "a/broken.jpg"
    assert "skipped" in (out / "report.html").read_text()


def test_cross_validation_through_the_cli(tmp_path, tiny_tsv):
    out = tmp_path / "r"
    proc = augment_cli("eval", PIPELINES / "eda.yaml", "--train", tiny_tsv, "--cv", "4", "--cv-repeats", "1",
                       "--train-sizes", "full", "--copies", "1", "--model", "tfidf-logreg", "--out", out)
    doc = json.loads((out / "report.json").read_text())
    assert doc["data"]["split"]["kind"] == "stratified 4-fold cross-validation of TRAIN"
    assert sorted(r["fold"] for r in doc["runs"] if r["arm"] == "baseline") == [0, 1, 2, 3]
    assert sum(r["n_test"] for r in doc["runs"] if r["arm"] == "baseline") == 80  # every example tested once
    assert "Nadeau-Bengio" in proc.stderr and doc["summary"][0]["repeats"] == 4
