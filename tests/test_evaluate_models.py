"""Benchmark models: determinism, input handling, learning on tiny synthetic data, custom-model contract."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from augment.evaluate.image_model import SmallCNNModel, preprocess_images
from augment.evaluate.models import TrainSet, make_model
from augment.evaluate.text_models import NgramModel, NgramOptions, TfidfLogRegModel, tokenize

FAST_CNN = {"image_size": 12, "width": 8, "max_epochs": 8, "patience": 3, "min_steps": 0}


def blobs(n_per_class: int, seed: int, size: int = 12) -> tuple[list[np.ndarray], np.ndarray]:
    """Two classes: a bright square in the top half or in the bottom half."""
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            x = rng.integers(0, size - 4)
            y = rng.integers(0, size // 2 - 4) + (0 if c == 0 else size // 2)
            img[y:y + 4, x:x + 4] = 230
            items.append(img)
            labels.append(c)
    return items, np.array(labels)


def sentences(n_per_class: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    cue = [["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]]
    filler = ["the", "film", "was", "a", "plot", "story", "and", "very", "acting", "it"]
    texts, labels = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            words = list(rng.choice(filler, 3)) + list(rng.choice(cue[c], 3))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(c)
    return texts, np.array(labels)


def _trainset(items, labels, n_val_per_class=4):
    val = np.concatenate([np.flatnonzero(labels == c)[:n_val_per_class] for c in np.unique(labels)])
    fit = np.setdiff1d(np.arange(len(items)), val)
    return TrainSet([items[i] for i in fit], labels[fit], [items[i] for i in val], labels[val], ["a", "b"])


def test_cnn_is_deterministic_and_learns():
    items, labels = blobs(30, seed=0)
    test_items, test_labels = blobs(20, seed=1)
    model = make_model("cnn", "image", {**FAST_CNN, "min_steps": 80})
    assert model.needs_validation is False  # a fixed budget by default: no validation slice is carved
    out1 = model.fit_predict(_trainset(items, labels), test_items, seed=5, test_labels=test_labels)
    out2 = model.fit_predict(_trainset(items, labels), test_items, seed=5, test_labels=test_labels)
    assert np.array_equal(out1.predictions, out2.predictions)
    assert out1.info["learning_curve"] == out2.info["learning_curve"]
    assert (out1.predictions == test_labels).mean() >= 0.9
    assert out1.info["steps"] == 80 and not out1.info["stopped_early"]
    curve = out1.info["learning_curve"]
    assert curve[-1]["held_out_accuracy"] == pytest.approx((out1.predictions == test_labels).mean())
    assert 0.0 <= out1.info["train_accuracy"] <= 1.0
    desc = model.describe()
    assert desc["regularisation"]["dropout"] > 0 and desc["regularisation"]["early_stopping"] is None
    assert "cosine" in desc["regularisation"]["budget"]
    import torch

    assert not torch.are_deterministic_algorithms_enabled()  # global state restored


def test_cnn_budget_rule_changes_steps_not_results_shape():
    items, labels = blobs(20, seed=0)
    ts = _trainset(items, labels)
    ts_big = TrainSet(ts.items * 3, np.concatenate([ts.labels] * 3), ts.val_items, ts.val_labels, ts.classes)
    model = SmallCNNModel(make_model("cnn", "image", {**FAST_CNN, "patience": 50}).options)
    epochs = model.fit_predict(ts_big, items[:3], seed=1).info
    ts_big.epoch_size = len(ts.items)
    steps = model.fit_predict(ts_big, items[:3], seed=1).info
    assert epochs["steps_per_epoch"] == 3 * steps["steps_per_epoch"]
    assert steps["steps"] == FAST_CNN["max_epochs"] * steps["steps_per_epoch"]


def test_preprocess_handles_gray_rgba_and_size_outliers():
    imgs = [np.zeros((10, 10), np.uint8), np.full((300, 200, 4), 255, np.uint8), np.zeros((7, 9, 1), np.uint8)]
    x = preprocess_images(imgs, 16)
    assert x.shape == (3, 3, 16, 16) and x.dtype == np.float32
    assert x[0].max() == -1.0 and x[1].min() == 1.0


def test_text_models_learn_synthetic_cues():
    texts, labels = sentences(40, seed=0)
    test_texts, test_labels = sentences(30, seed=1)
    ngram = NgramModel(NgramOptions(max_epochs=30, dim=16))
    a = ngram.fit_predict(_trainset(texts, labels), test_texts, seed=0)
    b = ngram.fit_predict(_trainset(texts, labels), test_texts, seed=0)
    assert np.array_equal(a.predictions, b.predictions)
    assert (a.predictions == test_labels).mean() >= 0.9
    tfidf = TfidfLogRegModel()
    c = tfidf.fit_predict(_trainset(texts, labels), test_texts, seed=0)
    assert (c.predictions == test_labels).mean() >= 0.9
    assert tfidf.needs_validation is False and ngram.needs_validation is False
    assert NgramModel(NgramOptions(early_stopping=True)).needs_validation is True
    assert tokenize("It's GOOD!") == ["it", "'", "s", "good", "!"]


def test_make_model_rejects_unknown_names_options_and_modalities():
    assert make_model("auto", "image").name == "fast-conv"  # on a CPU
    assert make_model("auto", "image", device="cuda").name == "cnn"
    assert make_model("auto", "image", {"width": 8}).name == "cnn"  # CNN options: the CNN
    assert make_model("auto", "text").name == "ngram"  # no time budget: the model of the text calibration
    with pytest.raises(ValueError, match="unknown model"):
        make_model("resnet", "image")
    with pytest.raises(ValueError, match="for image data"):
        make_model("cnn", "text")
    with pytest.raises(Exception, match="imagesize"):
        make_model("cnn", "image", {"imagesize": 32})  # a typo is an error, never a silent default


@pytest.fixture()
def custom_module(tmp_path, monkeypatch):
    (tmp_path / "my_eval_models.py").write_text(textwrap.dedent('''
        from collections import Counter

        def centroid(train, test, *, seed):
            """Nearest word-count centroid."""
            sums = {}
            for text, label in train:
                sums.setdefault(label, Counter()).update(text.split())
            def score(text, label):
                c = sums[label]
                return sum(c[w] for w in text.split()) / (sum(c.values()) or 1)
            return {"predictions": [max(sorted(sums), key=lambda lab: score(t, lab)) for t, _ in test],
                    "n_seen": len(train)}

        def scores_only(train, test, *, seed):
            return {"accuracy": 0.5, "macro_f1": 0.4}

        def wrong_length(train, test, *, seed):
            return {"predictions": ["a"]}
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_eval_models"
    sys.modules.pop("my_eval_models", None)


def test_custom_model_contract(custom_module):
    texts, labels = sentences(20, seed=0)
    test_texts, test_labels = sentences(10, seed=1)
    ts = TrainSet(texts, labels, [], np.zeros(0, np.int64), ["a", "b"])
    model = make_model(f"{custom_module}:centroid", "text")
    out = model.fit_predict(ts, test_texts, seed=0, test_labels=test_labels)
    assert (out.predictions == test_labels).mean() >= 0.9
    assert out.info["extra"] == {"n_seen": 40.0}
    assert model.describe()["doc"] == "Nearest word-count centroid."
    only = make_model(f"{custom_module}:scores_only", "text").fit_predict(ts, test_texts, seed=0, test_labels=test_labels)
    assert only.predictions is None and only.metrics == {"accuracy": 0.5, "macro_f1": 0.4}
    with pytest.raises(ValueError, match="1 predictions"):
        make_model(f"{custom_module}:wrong_length", "text").fit_predict(ts, test_texts, seed=0, test_labels=test_labels)
    with pytest.raises(ValueError, match="no attribute"):
        make_model(f"{custom_module}:missing", "text")
    with pytest.raises(ValueError, match="cannot import"):
        make_model("no_such_module_xyz:f", "text")


def test_early_stopping_never_stops_before_min_steps():
    """Regression: a baseline early-stopped after 140 steps although min_steps said 300."""
    items, labels = blobs(10, seed=0)
    ts = _trainset(items, labels)
    for min_steps in (30, 45):
        opts = {**FAST_CNN, "early_stopping": True, "patience": 1, "min_delta": 10.0, "batch_size": 4,
                "max_epochs": 100, "min_steps": min_steps}  # min_delta 10: no epoch ever counts as better
        info = make_model("cnn", "image", opts).fit_predict(ts, items[:2], seed=0).info
        assert info["stopped_early"] and min_steps <= info["steps"] < min_steps + 3 * 3


@pytest.mark.parametrize("side,expected", [(12, 12), (32, 32), (50, 52), (64, 64), (100, 64), (128, 64),
                                           (300, 96)])
def test_image_size_is_picked_from_the_data(side, expected):
    from augment.evaluate.image_model import pick_image_size

    items = [np.zeros((side, side + 3 * (i % 2), 3), np.uint8) for i in range(5)]
    assert pick_image_size([x[:, :side] for x in items]) == expected
    model = make_model("cnn", "image")
    model.adapt([x[:, :side] for x in items])
    assert model.describe()["image_size"] == expected and "picked from the data" in model.describe()["image_size_rule"]
    fixed = make_model("cnn", "image", {"image_size": 40})
    fixed.adapt(items)
    assert fixed.describe()["image_size"] == 40


def test_text_cnn_learns_and_is_deterministic():
    texts, labels = sentences(40, seed=0)
    test_texts, test_labels = sentences(30, seed=1)
    model = make_model("textcnn", "text", {"max_epochs": 10, "dim": 16, "filters": 8, "min_steps": 60})
    a = model.fit_predict(_trainset(texts, labels), test_texts, seed=0, test_labels=test_labels)
    b = model.fit_predict(_trainset(texts, labels), test_texts, seed=0, test_labels=test_labels)
    assert np.array_equal(a.predictions, b.predictions)
    assert (a.predictions == test_labels).mean() >= 0.9
    assert a.info["train_accuracy"] >= 0.9
    with pytest.raises(ValueError, match="widths"):
        make_model("textcnn", "text", {"widths": "3,x"})


def test_models_listing_covers_every_builtin_model_and_option():
    from augment.evaluate.models import _REGISTRY, describe_models, format_models

    listing = describe_models()
    assert [m["name"] for m in listing] == list(_REGISTRY)
    text = format_models(listing)
    for name, (_, schema, _, _) in _REGISTRY.items():
        assert name in text
        for key in schema.model_fields:
            assert key in text


def test_small_training_sets_get_enough_steps_and_both_arms_share_the_rule():
    items, labels = blobs(10, seed=0)  # 12 fit examples, batches of 4: three steps per epoch
    ts = _trainset(items, labels)
    opts = {**FAST_CNN, "min_steps": 40, "patience": 1000, "batch_size": 4}
    info = make_model("cnn", "image", opts).fit_predict(ts, items[:2], seed=0).info
    assert (info["max_epochs"], info["steps"]) == (16, 48)  # 8 epochs x 2: at least 40 steps
    assert info["patience_epochs"] == 2000
    ts.items, ts.labels, ts.base_size = ts.items * 2, np.concatenate([ts.labels] * 2), len(ts.items)
    info2 = make_model("cnn", "image", opts).fit_predict(ts, items[:2], seed=0).info
    assert (info2["max_epochs"], info2["steps"]) == (16, 96)  # same epochs over the larger set


def test_evaluate_package_has_no_import_cycles():
    """Every import between augment.evaluate modules (function-level ones included) follows one direction."""
    import ast
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "augment" / "evaluate"
    graph = {}
    for f in pkg.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level == 1:
                    deps |= {mod} if mod else {a.name for a in node.names}
                elif mod.startswith("augment.evaluate."):
                    deps.add(mod.split(".")[2])
                elif mod == "augment.evaluate":
                    deps |= {a.name for a in node.names if (pkg / f"{a.name}.py").exists()} or {"__init__"}
        graph[f.stem] = {d for d in deps if (pkg / f"{d}.py").exists() and d != f.stem}
    graph["__init__"] = graph.get("__init__", set())
    state: dict = {}

    def visit(node, path):
        if state.get(node) == "done":
            return
        assert state.get(node) != "active", f"import cycle: {' -> '.join(path + [node])}"
        state[node] = "active"
        for dep in graph.get(node, ()):
            visit(dep, path + [node])
        state[node] = "done"

    for node in graph:
        visit(node, [])


def test_auto_text_under_a_time_budget_is_tfidf_logreg_and_says_why():
    # ngram's fits take minutes on a few thousand sentences with copies (its n-gram table grows with the data)
    model = make_model("auto", "text", time_budget=180.0)
    assert model.name == "tfidf-logreg" and "time budget" in model.chosen_because
    assert "--model ngram" in model.chosen_because and "\n" not in model.chosen_because
    assert make_model("auto", "text", {"dim": 16}, time_budget=180.0).name == "ngram"  # ngram's options: ngram
    assert make_model("auto", "text", {"C": 2.0}, time_budget=180.0).name == "tfidf-logreg"
    assert make_model("ngram", "text", time_budget=180.0).name == "ngram"  # --model always wins
    assert make_model("auto", "image", time_budget=180.0).name == "fast-conv"  # images: unchanged


def _plain(items, labels, epoch_size=None):
    return TrainSet(list(items), np.asarray(labels), [], np.zeros(0, dtype=np.int64), ["a", "b"],
                    epoch_size=epoch_size)


def test_tfidf_copies_identical_to_their_source_change_nothing_under_the_steps_budget():
    # the "steps" budget (epoch_size = the baseline's size) gives every arm the same total example weight; the
    # vocabulary and idf come from the distinct texts. So kept identity copies are exactly the baseline's fit
    # (before: five times the data against the same penalty, and df counted five times)
    texts = [f"{w} film {x}" for w, x in zip(["good", "great", "bad", "awful"] * 10, range(40))]
    labels = np.array([0, 0, 1, 1] * 10)
    test = ["good film", "awful film 3", "great", "bad bad film"]
    base = TfidfLogRegModel().fit_predict(_plain(texts, labels, epoch_size=40), test, seed=0)
    copies = _plain(texts * 5, np.tile(labels, 5), epoch_size=40)
    same = TfidfLogRegModel().fit_predict(copies, test, seed=0)
    assert same.info["example_weight"] == 0.2 and base.info["example_weight"] == 1.0
    assert np.array_equal(base.predictions, same.predictions)
    assert same.info["vocabulary"] == base.info["vocabulary"]
    # the "epochs" budget (no epoch_size): every copy weighs as much as an original, as the EDA rule trains
    more = TfidfLogRegModel().fit_predict(_plain(texts * 5, np.tile(labels, 5)), test, seed=0)
    assert more.info["example_weight"] == 1.0
