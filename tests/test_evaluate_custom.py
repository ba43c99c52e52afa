"""Custom models (``--model module:function``) run in a child process: every way one can misbehave ends in a
one-line error naming the function, through the API and through the real CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from augment.evaluate.custom import CustomModelError, check_output
from augment.evaluate.models import TrainSet, make_model

REPO = Path(__file__).resolve().parents[1]

MODULE = textwrap.dedent('''
    import os, time

    def _const(value):
        def fn(train, test, *, seed):
            return value
        return fn

    nan_accuracy = _const({"accuracy": float("nan")})
    percent_accuracy = _const({"accuracy": 7.5})
    returns_none = _const(None)

    def exits(train, test, *, seed):
        os._exit(3)

    def hangs(train, test, *, seed):
        time.sleep(600)

    def raises(train, test, *, seed):
        raise RuntimeError("boom\\nsecond line")

    def majority(train, test, *, seed):
        labels = [lab for _, lab in train]
        top = max(sorted(set(labels)), key=labels.count)
        return {"predictions": [top] * len(test)}
''')


@pytest.fixture()
def bad_models(tmp_path, monkeypatch):
    (tmp_path / "bad_eval_models.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("bad_eval_models", None)


BAD_OUTPUTS = [
    (None, "returned NoneType"),
    ([1, 2], "returned list"),
    ({"accuracy": float("nan")}, "finite number in \\[0, 1\\]"),
    ({"accuracy": float("inf")}, "finite"),
    ({"accuracy": 7.5}, "not a percentage"),
    ({"accuracy": -0.1}, "\\[0, 1\\]"),
    ({"accuracy": "0.5"}, "expected a number"),
    ({"accuracy": True}, "expected a number"),
    ({"accuracy": 0.5, "macro_f1": float("nan")}, "macro_f1"),
    ({"predictions": "ab"}, "list of class names"),
    ({"predictions": ["a"]}, "1 predictions for 2"),
    ({"predictions": ["a", "zzz"]}, "unknown class 'zzz'"),
    ({"predictions": ["a", 7]}, "unknown class 7"),
    ({"predictions": ["a", None]}, "unknown class None"),
    ({"score": 1.0}, "must return 'predictions' or 'accuracy'"),
]


@pytest.mark.parametrize("result,message", BAD_OUTPUTS)
def test_every_bad_return_value_is_a_one_line_error_naming_the_function(result, message):
    with pytest.raises(CustomModelError, match=message) as info:
        check_output("pkg.mod:fn", result, ["a", "b"], 2, {})
    assert "pkg.mod:fn" in str(info.value) and "\n" not in str(info.value)


def test_good_return_values_pass():
    out = check_output("m:f", {"predictions": ["b", 0], "n": 3, "flag": True}, ["a", "b"], 2, {})
    assert out.predictions.tolist() == [1, 0] and out.info["extra"] == {"n": 3.0}
    assert check_output("m:f", {"accuracy": 1, "macro_f1": 0.0}, ["a"], 1, {}).metrics == {"accuracy": 1.0,
                                                                                            "macro_f1": 0.0}


@pytest.mark.parametrize("fn,message", [("nan_accuracy", "finite"), ("returns_none", "returned NoneType"),
                                        ("exits", "ended its process \\(exit code 3\\)"),
                                        ("raises", "raised RuntimeError: boom"),
                                        ("hangs", "did not return within 2 s")])
def test_misbehaving_functions_in_the_child_process(bad_models, fn, message):
    ts = TrainSet(["x y", "z"], np.array([0, 1]), [], np.zeros(0, np.int64), ["a", "b"])
    model = make_model(f"bad_eval_models:{fn}", "text", timeout=2)
    try:
        with pytest.raises(CustomModelError, match=message) as info:
            model.fit_predict(ts, ["x", "z"], seed=0, test_labels=np.array([0, 1]))
        assert "\n" not in str(info.value) and f"bad_eval_models:{fn}" in str(info.value)
    finally:
        model.close()
    assert model._child is None


def _cli(args, cwd, env_path):
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(env_path)])}
    return subprocess.run([sys.executable, "-m", "augment.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("fn,message", [("percent_accuracy", "not a percentage"), ("exits", "exit code 3"),
                                        ("hangs", "did not return within 3 s")])
def test_cli_reports_a_failing_custom_model_in_one_line(bad_models, tmp_path, fn, message):
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{'ab'[i % 2]}\tword{i % 2} filler{i}\n" for i in range(24)))
    res = _cli(["eval", "pipelines/eda.yaml", "--train", str(data), "--train-sizes", "full", "--copies", "1",
                "--repeats", "2", "--model", f"bad_eval_models:{fn}", "--timeout", "3", "--out",
                str(tmp_path / "rep"), "-q"], REPO, bad_models)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: custom model bad_eval_models:" + fn), res.stderr
    assert message.replace("\\", "") in lines[0] or __import__("re").search(message, lines[0])
    assert "Traceback" not in res.stderr


def test_cli_runs_a_working_custom_model(bad_models, tmp_path):
    data = tmp_path / "train.tsv"
    data.write_text("".join(f"{'ab'[i % 3 == 0]}\tword{i % 2} filler{i}\n" for i in range(24)))
    res = _cli(["eval", "pipelines/eda.yaml", "--train", str(data), "--train-sizes", "full", "--copies", "1",
                "--repeats", "2", "--model", "bad_eval_models:majority", "--out", str(tmp_path / "rep"), "-q"],
               REPO, bad_models)
    assert res.returncode == 0, res.stderr
    import json

    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["model"]["isolation"].startswith("child process")
    assert doc["summary"][0]["metrics"]["accuracy"]["diffs"] == [0.0, 0.0]  # majority ignores the copies
