"""--device (auto|cpu|cuda[:N]|mps) and the built-in fast-conv model: where and what the default eval trains."""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluate_protocol import TINY_CNN, make_blob_folder, vflip

from augment.evaluate import EvalConfig, run_evaluation
from augment.evaluate.base import TrainSet
from augment.evaluate.device import cuda_available, resolve_device
from augment.evaluate.models import choose_model, make_model


def test_auto_resolves_to_the_cpu_without_a_gpu():
    if cuda_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") in ("cpu", "mps") and resolve_device("cpu") == "cpu"
    for bad, message in (("cuda", "no CUDA GPU"), ("cuda:1", "no CUDA GPU"), ("gpu", "use auto, cpu"),
                         ("cuda:x", "use auto, cpu")):
        with pytest.raises(ValueError, match=message):
            resolve_device(bad)


def test_the_default_image_model_depends_on_the_device_and_says_why():
    assert choose_model("auto", "image", None, "cpu")[0] == "fast-conv"
    assert choose_model("auto", "image", None, "cuda")[0] == "cnn"
    assert choose_model("auto", "image", {"width": 8}, "cpu")[0] == "cnn"
    assert choose_model("auto", "text", None, "cuda")[0] == "ngram"
    assert "CPU" in choose_model("auto", "image", None, "cpu")[1]


def _blobs(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for i in range(n):
        c = i % 2
        a = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
        a[4:14, (4 if c == 0 else 18):(14 if c == 0 else 28)] = 220  # a bright square, left or right
        items.append(a)
        labels.append(c)
    return items, np.array(labels)


def test_fast_conv_learns_and_is_deterministic():
    items, y = _blobs(60, 0)
    test_items, y_test = _blobs(40, 1)
    model = make_model("fast-conv", "image", {"epochs": 20})
    ts = TrainSet(items, y, [], np.zeros(0, np.int64), ["a", "b"])
    a = model.fit_predict(ts, test_items, seed=3)
    b = make_model("fast-conv", "image", {"epochs": 20}).fit_predict(ts, test_items, seed=3)
    assert np.array_equal(a.predictions, b.predictions)
    assert (a.predictions == y_test).mean() > 0.9
    assert a.info["epochs_run"] == 20


def test_cpu_device_eval_runs_the_cnn_and_records_the_device(tmp_path):
    root = make_blob_folder(tmp_path / "d", n_per_class=12)
    cfg = EvalConfig(train=root, train_sizes=["full"], copies=[1], repeats=2, model="cnn", model_options=TINY_CNN,
                     n_samples=0, n_bootstrap=200, device="cpu", jobs=1)
    res = run_evaluation(cfg, progress=False, augmenter=vflip)
    assert res.model["device"] == "cpu" and "width" in res.model["cost"]
    assert res.model["chosen_because"] == "chosen with --model"
