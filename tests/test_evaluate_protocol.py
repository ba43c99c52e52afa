"""The experiment loop: data hygiene, arms, seeds, verdicts that neither cry wolf nor miss real harm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from augment.evaluate import EvalConfig, FunctionAugmenter, format_summary, run_evaluation, write_report
from augment.evaluate.data import content_hash

TINY_CNN = {"image_size": 12, "width": 8, "max_epochs": 8, "patience": 3, "min_steps": 0}


def make_blob_folder(root: Path, n_per_class: int = 40, size: int = 12, seed: int = 0) -> Path:
    """Class 'top': a bright square in the upper half; class 'bottom': in the lower half. A vertical flip turns
    one class into the other, so flipped copies with unchanged labels must hurt."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(["top", "bottom"]):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            x = rng.integers(0, size - 4)
            y = rng.integers(0, size // 2 - 4) + (0 if c == 0 else size // 2)
            img[y:y + 4, x:x + 4] = 230
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def make_tsv(path: Path, n_per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    cue = [["good", "great", "fine", "lovely"], ["bad", "awful", "dull", "poor"]]
    filler = ["the", "film", "was", "a", "plot", "story", "and", "very", "acting", "it"]
    lines = []
    for c in (0, 1):
        for _ in range(n_per_class):
            words = list(rng.choice(filler, 3)) + list(rng.choice(cue[c], 2))
            rng.shuffle(words)
            lines.append(f"{['neg', 'pos'][c]}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


identity = FunctionAugmenter(lambda x, s: x.copy() if hasattr(x, "copy") else x, "image", "identity")
vflip = FunctionAugmenter(lambda x, s: np.ascontiguousarray(x[::-1]), "image", "vertical flip")


def drop_word(text: str, seed: int) -> str:
    words = text.split()
    if len(words) < 2:
        return text
    rng = np.random.default_rng(seed)
    del words[int(rng.integers(len(words)))]
    return " ".join(words)


class Recorder:
    """Wraps an augmenter and remembers the content of every input it was asked to augment."""

    def __init__(self, inner):
        self.inner, self.modality, self.name, self.seen = inner, inner.modality, inner.name, []
        self.spec, self.spec_hash = inner.spec, inner.spec_hash

    def __call__(self, items, seeds):
        self.seen.extend(content_hash(x) for x in items)
        return self.inner(items, seeds)


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory):
    return make_blob_folder(tmp_path_factory.mktemp("blobs"))


def test_identity_pipeline_gives_zero_difference_and_is_equivalent(blob_dir):
    cfg = EvalConfig(train=blob_dir, train_sizes=[16, "full"], copies=[1, 2], repeats=2, model_options=TINY_CNN,
                     n_bootstrap=200, n_samples=2)
    res = run_evaluation(cfg, progress=False, augmenter=identity)
    assert len(res.summary) == 4
    for s in res.summary:
        assert s["verdict"] == "equivalent"  # every difference is exactly 0: inside any margin
        assert s["metrics"]["accuracy"]["ci"] == [0.0, 0.0]
        for m in ("accuracy", "macro_f1"):
            assert s["metrics"][m]["diff_mean"] == 0.0
            assert s["metrics"][m]["bootstrap_ci"] == [0.0, 0.0]
        assert s["reused_baseline_runs"] == 2
    aug_runs = [r for r in res.runs if r["arm"] != "baseline"]
    assert all(r["reused_baseline"] and r["n_copies_added"] == 0 for r in aug_runs)
    assert all(r["n_copies_unchanged_dropped"] == r["copies"] * (r["n_train"]) for r in aug_runs)


def test_vertical_flip_on_position_coded_classes_hurts(tmp_path):
    root = make_blob_folder(tmp_path / "d", n_per_class=80)
    cfg = EvalConfig(train=root, train_sizes=["full"], copies=[1], repeats=5, model_options=TINY_CNN,
                     n_bootstrap=500, n_samples=0, seed=1)
    res = run_evaluation(cfg, progress=False, augmenter=vflip)
    (s,) = res.summary
    acc = s["metrics"]["accuracy"]
    assert acc["baseline"]["mean"] > 0.9
    assert s["verdict"] == "hurts", format_summary(res)
    assert acc["bootstrap_ci"][1] < 0 and acc["ci"][1] < 0
    assert "hurts" in s["sentence"]


def test_held_out_split_overlap_and_leak_protection(tmp_path):
    root = make_blob_folder(tmp_path / "d", n_per_class=30)
    # plant exact duplicates: every file in 'top' also appears under another name in the same class
    for f in sorted((root / "top").glob("*.png"))[:30]:
        (root / "top" / f"dup_{f.name}").write_bytes(f.read_bytes())
    rec = Recorder(vflip)
    cfg = EvalConfig(train=root, train_sizes=[20], copies=[1], repeats=2, model_options=TINY_CNN,
                     n_bootstrap=200, n_samples=2)
    res = run_evaluation(cfg, progress=False, augmenter=rec)
    split = res.data["split"]
    assert split["kind"] == "held-out split of TRAIN" and split["stratified"] and len(split["test_ids"]) == 18
    ov = res.data["overlap"]
    assert ov["train_examples_equal_to_test"] > 0  # duplicates of held-out 'top' images were in the pool
    assert ov["dropped_from_training"] == ov["train_examples_equal_to_test"]
    assert res.data["train_pool"]["n"] == 90 - 18 - ov["dropped_from_training"]
    # nothing the augmenter saw is (a duplicate of) a held-out example
    from augment.evaluate.data import load_image_folder

    data = load_image_folder(root)
    held = {data.hashes[data.ids.index(i)] for i in split["test_ids"]}
    assert rec.seen and not (set(rec.seen) & held)


def test_copies_equal_to_a_test_example_are_dropped(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    test = tmp_path / "test.tsv"
    test.write_text("pos\tthe secret test sentence\nneg\tbad film\npos\tgood film\n")
    leak = FunctionAugmenter(lambda t, s: "the secret test sentence", "text", "leaky")
    cfg = EvalConfig(train=train, test=test, train_sizes=["full"], copies=[1], repeats=1, model="tfidf-logreg",
                     n_bootstrap=200, n_samples=1)
    res = run_evaluation(cfg, progress=False, augmenter=leak)
    aug = [r for r in res.runs if r["arm"] == "copies=1"][0]
    assert aug["n_copies_matching_test_dropped"] == 40 and aug["n_copies_added"] == 0
    assert res.data["split"]["kind"] == "given"


def test_text_eval_records_everything_report_json_needs(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 40, seed=0)
    test = make_tsv(tmp_path / "test.tsv", 15, seed=1)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, test=test, train_sizes="10,full", copies="1,3", repeats=2, model="ngram",
                     model_options={"max_epochs": 5, "dim": 8, "early_stopping": True}, n_bootstrap=200, n_samples=3,
                     budget="steps")
    res = run_evaluation(cfg, progress=False, augmenter=aug)
    assert len(res.runs) == 2 * 2 * 3
    run = next(r for r in res.runs if r["arm"] == "copies=3" and r["size"] == "10")
    assert set(run["seeds"]) == {"subset", "validation", "model", "augment"}
    base = next(r for r in res.runs if r["arm"] == "baseline" and r["size"] == "10" and r["repeat"] == run["repeat"])
    assert run["seeds"] == base["seeds"]  # same subset, validation slice and model seed for both arms
    assert run["n_subset"] == 10 and run["n_val"] == base["n_val"] >= 2
    assert run["epoch_size"] == base["n_train"]  # budget "steps": an epoch counts the baseline's examples
    assert run["n_train"] == base["n_train"] + run["n_copies_added"]
    assert {"accuracy", "macro_f1", "per_class", "confusion"} <= set(run["metrics"])
    assert run["timings"]["train_predict_seconds"] >= 0 and run["model_info"]["epochs_run"] >= 1
    paths = write_report(res, tmp_path / "out")
    doc = json.loads(paths["json"].read_text())
    assert doc["versions"].keys() >= {"python", "torch", "numpy", "sklearn", "augment"}
    assert doc["protocol"]["budget"] == "steps"
    assert doc["model"]["regularisation"]["early_stopping"]["monitor"] == "validation accuracy (ties: lower loss)"
    assert len(doc["runs"]) == 12 and len(doc["summary"]) == 4
    assert doc["samples"][0]["original"] and len(doc["samples"][0]["copies"]) == 3
    assert len(doc["timings"]["per_size_run"]) == 4
    assert "<mark>" in paths["html"].read_text()  # changed words are highlighted


def test_runs_are_reproducible(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, train_sizes=[12], copies=[2], repeats=2, model="tfidf-logreg", n_bootstrap=200,
                     n_samples=0, seed=7)
    a = run_evaluation(cfg, progress=False, augmenter=aug)
    b = run_evaluation(cfg, progress=False, augmenter=aug)
    strip = lambda runs: [{k: v for k, v in r.items() if k not in ("timings", "model_info")} for r in runs]  # noqa: E731
    assert strip(a.runs) == strip(b.runs)
    assert a.summary == b.summary


def test_custom_model_through_the_protocol(tmp_path, monkeypatch):
    (tmp_path / "eval_custom_mod.py").write_text(
        "def majority(train, test, *, seed):\n"
        "    labels = [y for _, y in train]\n"
        "    top = max(sorted(set(labels)), key=labels.count)\n"
        "    return {'predictions': [top] * len(test)}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    cfg = EvalConfig(train=train, train_sizes=["full"], copies=[1], repeats=2, model="eval_custom_mod:majority",
                     n_bootstrap=200, n_samples=0)
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(drop_word, "text", "drop"))
    assert res.model["kind"] == "custom (module:function)"
    assert res.summary[0]["metrics"]["accuracy"]["baseline"]["mean"] == pytest.approx(0.5)


def test_auto_repeats_stop_as_soon_as_every_arm_is_decided(blob_dir):
    cfg = EvalConfig(train=blob_dir, train_sizes=["full"], copies=[1], model_options=TINY_CNN, n_samples=0,
                     n_bootstrap=200)
    assert cfg.repeats == "auto"
    res = run_evaluation(cfg, progress=False, augmenter=identity)
    (s,) = res.summary
    assert s["verdict"] == "equivalent" and s["repeats"] == cfg.min_repeats == 3  # the first look decides
    assert res.protocol["stopping"]["full"]["reason"] == "decided"
    st = res.protocol["statistics"]
    assert st["nominal_levels"]["full"] < cfg.alpha and "Pocock" in st["sequential"]
    assert s["decision"]["nominal_level"] == st["nominal_levels"]["full"]


def test_vertical_flip_is_decided_before_the_run_limit(tmp_path):
    root = make_blob_folder(tmp_path / "d", n_per_class=60)
    cfg = EvalConfig(train=root, train_sizes=["full"], copies=[1], model_options=TINY_CNN, n_samples=0,
                     n_bootstrap=200, max_repeats=8, seed=1)
    res = run_evaluation(cfg, progress=False, augmenter=vflip)
    (s,) = res.summary
    assert s["verdict"] == "hurts", format_summary(res)
    assert s["repeats"] < 8 and res.protocol["stopping"]["full"]["reason"] == "decided"
    var = s["variance"]
    assert var["difference_sd"] is not None and var["baseline_sd"] is not None
    gen = s["generalization"]
    assert gen["baseline"]["train_accuracy"] is not None and gen["baseline"]["learning_curve"]


def test_time_budget_ends_in_undecided_with_the_interval_so_far(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 30, seed=0)
    noisy = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, train_sizes=[20], copies=[1], model="ngram", n_samples=0, n_bootstrap=200,
                     model_options={"max_epochs": 2, "dim": 4, "min_steps": 10}, time_budget=0.001, margin=1e-6)
    res = run_evaluation(cfg, progress=False, augmenter=noisy)
    (s,) = res.summary
    assert res.protocol["stopping"]["20"]["reason"] == "time budget reached"
    assert s["repeats"] == 1 and s["verdict"] == "undecided"
    assert "undecided" in s["sentence"] and "1 run" in s["sentence"]


def test_cross_validation_tests_every_example_and_uses_the_corrected_test(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 15, seed=0)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, train_sizes=["full"], copies=[1], cv=3, cv_repeats=2, model="tfidf-logreg",
                     n_samples=0, margin=1e-6)
    res = run_evaluation(cfg, progress=False, augmenter=aug)
    base = [r for r in res.runs if r["arm"] == "baseline"]
    assert [(r["cv_repeat"], r["fold"]) for r in base][:3] == [(0, 0), (0, 1), (0, 2)]
    assert sum(r["n_test"] for r in base if r["cv_repeat"] == 0) == 30  # every example tested once
    assert all(r["n_subset"] + r["n_test"] == 30 for r in base)
    (s,) = res.summary
    assert s["decision"]["correction"] == pytest.approx(10 / 20)  # n_test / n_train
    assert "Nadeau-Bengio" in res.protocol["statistics"]["test"]
    assert res.protocol["looks"] == [3, 6] and s["repeats"] in (3, 6)
    with pytest.raises(ValidationError, match="cross-validation replaces"):
        EvalConfig(train=train, test=train, cv=3)
    with pytest.raises(ValidationError, match="cv-repeats"):
        EvalConfig(train=train, cv=3, repeats=4)
    with pytest.raises(ValueError, match="smallest class"):
        run_evaluation(EvalConfig(train=train, cv=20, model="tfidf-logreg"), progress=False, augmenter=aug)


def test_classes_in_only_one_split_are_reported_and_strict_refuses(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 10, seed=0)
    test = tmp_path / "test.tsv"
    test.write_text("pos\tgood film\nneg\tbad film\nmeh\tso so\nmeh\tok i guess\n")
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = dict(train=train, test=test, train_sizes=["full"], copies=[1], repeats=2, model="tfidf-logreg",
               n_samples=0)
    res = run_evaluation(EvalConfig(**cfg), progress=False, augmenter=aug)
    assert res.data["class_mismatch"] == {"only_in_train": {}, "only_in_test": {"meh": 2}}
    with pytest.raises(ValueError, match=r"only in test: meh \(2\)"):
        run_evaluation(EvalConfig(**cfg, strict=True), progress=False, augmenter=aug)


def test_compare_adds_regularised_arms_on_the_same_runs(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    aug = FunctionAugmenter(drop_word, "text", "drop one word")
    cfg = EvalConfig(train=train, train_sizes=["full"], copies=[2], repeats=2, model="ngram", n_samples=0,
                     model_options={"max_epochs": 2, "dim": 4, "min_steps": 10}, compare="dropout,early_stopping")
    res = run_evaluation(cfg, progress=False, augmenter=aug)
    assert [s["arm"] for s in res.summary] == ["copies=2", "dropout", "dropout+copies=2", "early_stopping",
                                               "early_stopping+copies=2"]
    runs = {(r["repeat"], r["arm"]): r for r in res.runs}
    assert runs[(0, "dropout")]["seeds"] == runs[(0, "baseline")]["seeds"]
    assert runs[(0, "early_stopping")]["n_val"] > 0 and runs[(0, "baseline")]["n_val"] == 0
    with pytest.raises(ValueError, match="torch model"):
        run_evaluation(EvalConfig(train=train, compare="dropout", model="tfidf-logreg"), progress=False,
                       augmenter=aug)


def test_config_validation(tmp_path):
    cfg = EvalConfig(train="x.tsv", train_sizes="500, full,100", copies="4,1")
    assert cfg.train_sizes == [100, 500, "full"] and cfg.copies == [1, 4]
    assert EvalConfig(train="x", train_sizes=[200]).budget == "epochs"
    for bad in ({"train_sizes": "100,abc"}, {"train_sizes": [0]}, {"copies": [0]}, {"copies": "1,1"},
                {"budget": "time"}, {"repeats": 0}, {"trian": "x"}):
        with pytest.raises(ValidationError):
            EvalConfig(**{"train": "x", **bad})
    train = make_tsv(tmp_path / "train.tsv", 10, seed=0)
    with pytest.raises(ValueError, match="pipeline is for image"):
        run_evaluation(EvalConfig(train=train), progress=False, augmenter=identity)


def test_public_api():
    import augment.evaluate as ev

    assert sorted(ev.__all__) == sorted(["Augmenter", "EvalConfig", "EvalResult", "FunctionAugmenter",
                                         "PipelineAugmenter", "format_summary", "run_evaluation", "write_report"])
    assert all(hasattr(ev, name) for name in ev.__all__)


class _FewItemsModel:
    """Correct on the first 10 test examples; the augmented arm is also correct on two or three more (which,
    depends on the seed). Every run says the augmentation helps, by a margin carried by three test examples."""

    name = "few-items"
    needs_validation = False

    def describe(self):
        return {"name": self.name}

    def fit_predict(self, train, test_items, *, seed, test_labels=None):
        from augment.evaluate.base import ModelOutput

        y = np.asarray(test_labels)
        wrong = (y + 1) % 2
        pred = wrong.copy()
        pred[:10] = y[:10]
        if train.is_copy is not None and np.any(train.is_copy):
            extra = 2 + seed % 2
            pred[10:10 + extra] = y[10:10 + extra]
        return ModelOutput(predictions=pred.astype(np.int64), info={})


def test_a_verdict_carried_by_a_few_test_examples_says_it_holds_for_this_test_set_only(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    test = make_tsv(tmp_path / "test.tsv", 15, seed=1)
    cfg = EvalConfig(train=train, test=test, train_sizes=["full"], copies=[1], repeats=6, n_bootstrap=500,
                     n_samples=0)
    res = run_evaluation(cfg, progress=False, augmenter=FunctionAugmenter(drop_word, "text", "drop"),
                         model=_FewItemsModel())
    (s,) = res.summary
    assert s["verdict"] == "helps"  # every run: +2 or +3 of 30 examples
    lo, hi = s["metrics"]["accuracy"]["bootstrap_ci"]
    assert lo <= 0 < hi
    assert s["test_set_caveat"] is True
    assert "Caution: this holds for this test set" in s["sentence"]
    assert "\n" not in s["sentence"]
    # the CLI's table says it too, not only the HTML report
    table = format_summary(res).splitlines()
    assert table[1].endswith("helps*"), table
    assert any(line.startswith(f"* on this test set of {res.data['test']['n']} examples only") for line in table), table


def test_a_verdict_spread_over_many_test_examples_has_no_test_set_caveat(blob_dir):
    cfg = EvalConfig(train=blob_dir, train_sizes=["full"], copies=[1], repeats=4, model_options=TINY_CNN,
                     n_bootstrap=300, n_samples=0, seed=1)
    res = run_evaluation(cfg, progress=False, augmenter=vflip)
    (s,) = res.summary
    assert s["verdict"] == "hurts"
    assert s["metrics"]["accuracy"]["bootstrap_ci"][1] < 0
    assert s["test_set_caveat"] is False and "Caution" not in s["sentence"]
    assert "*" not in format_summary(res)


def _spec(tmp_path, extra: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nname: del\nmodality: text\nsteps:\n  - op: random_delete\n    params: {rate: 0.2}\n"
                    + extra)
    return path


def test_text_eval_applies_the_specs_filter_like_augment_run(tmp_path):
    # before: eval augmented through Pipeline.batch, which has no labels, so a spec's filter: block was silently
    # ignored and eval measured copies that `augment run` would never write
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    strict = _spec(tmp_path, "filter:\n  label_confidence: null\n  length_ratio: [0.99, 1.01]\n")
    cfg = EvalConfig(pipeline=strict, train=train, train_sizes=["full"], copies=[1], repeats=2, n_bootstrap=200,
                     n_samples=0, model="tfidf-logreg")
    res = run_evaluation(cfg, progress=False)
    rule = res.pipeline["copy_rule"]
    # every copy deletes a word, so every copy breaks the length bound: redrawn, then dropped
    assert rule["dropped after redraws"] == rule["copies asked"] > 0
    assert any(k.startswith("rejected random_delete:") for k in rule)
    (s,) = res.summary
    assert s["verdict"] == "equivalent" and s["metrics"]["accuracy"]["diff_mean"] == 0.0


def test_text_eval_redraws_unchanged_copies_like_augment_run(tmp_path):
    train = make_tsv(tmp_path / "train.tsv", 20, seed=0)
    cfg = EvalConfig(pipeline=_spec(tmp_path), train=train, train_sizes=["full"], copies=[4], repeats=2,
                     n_bootstrap=200, n_samples=0, model="tfidf-logreg")
    res = run_evaluation(cfg, progress=False)
    rule = res.pipeline["copy_rule"]
    assert rule["copies asked"] > 0 and rule["redrawn"] > 0  # 4 copies of 5-word rows repeat each other
    assert not any(k.startswith("rejected") for k in rule)  # no filter in this spec
    aug = [r for r in res.runs if r["arm"] != "baseline"]
    assert all(r["n_copies_added"] + r["n_copies_unchanged_dropped"] + r["n_copies_matching_test_dropped"]
               == 4 * r["n_subset"] for r in aug)
    # the dropped copies are the ones still repeating another copy after the redraws, no more
    assert sum(r["n_copies_unchanged_dropped"] for r in aug) == rule["dropped after redraws"]
