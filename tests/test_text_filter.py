"""The label-preservation filter (issue 12 item 3): cross-fitted TF-IDF + logistic regression, similarity and
length bounds, through the library and the real CLI."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_expander import augment_cli, manifest

from augment.text.filter import FilterRules, LabelFilter

POS = ["a good film", "good acting and a good plot", "the music is good", "good fun for all", "really good",
       "a good cast", "good jokes", "the ending is good", "good and warm", "good to watch"]
NEG = ["a bad film", "bad acting and a bad plot", "the music is bad", "bad fun for none", "really bad",
       "a bad cast", "bad jokes", "the ending is bad", "bad and cold", "bad to watch"]


def _data(n: int = 4):
    texts = [t for _ in range(n) for pair in zip(POS, NEG) for t in pair]
    labels = [y for _ in range(n) for y in ("1", "0") * len(POS)]
    return list(range(len(texts))), texts, labels


@settings(max_examples=20, deadline=None)
@given(folds=st.integers(2, 8), n=st.integers(1, 4))
def test_no_model_judges_copies_of_its_own_training_rows(folds, n):
    indices, texts, labels = _data(n)
    flt = LabelFilter(indices, texts, labels, FilterRules(label_confidence=0.6, folds=folds))
    assert flt.trained_on
    for index in indices:
        fold = flt.fold(index)
        if fold in flt.trained_on:
            assert index not in flt.trained_on[fold]


def test_label_flips_similarity_and_length_are_rejected():
    indices, texts, labels = _data()
    flt = LabelFilter(indices, texts, labels, FilterRules(label_confidence=0.6, folds=5, min_similarity=0.3,
                                                          length_ratio=(0.5, 2.0)))
    src = texts[0]  # "a good film", label 1
    verdicts = flt.judge_many([(0, src, "a good movie"), (0, src, "a bad film"),
                               (0, src, "zzz qqq xxx"), (0, src, "a good film " * 5)])
    assert verdicts == [None, "label", "similarity", "length"]


def test_the_filter_block_drops_label_flipping_copies_in_a_run(tmp_path):
    _, texts, labels = _data()
    src = tmp_path / "in.tsv"
    src.write_text("".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)), encoding="utf-8")
    body = "version: 1\nname: f\nmodality: text\nseed: 1\ncopies: 2\nsteps:\n  - op: antonym_replace\n    params: {rate: 1.0}\n"
    plain, filtered = tmp_path / "plain.yaml", tmp_path / "filtered.yaml"
    plain.write_text(body)
    filtered.write_text(body + "filter:\n  label_confidence: 0.6\n  folds: 5\n")
    a = json.loads(augment_cli("run", plain, src, tmp_path / "a", "--engine", "serial").stdout)
    b = json.loads(augment_cli("run", filtered, src, tmp_path / "b", "--engine", "serial").stdout)
    assert b["dropped_filtered"] > 0 and b["written"] < a["written"]
    assert any(key.startswith("antonym_replace:label") for key in b["filter_rejections"])
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run["spec"]["filter"]["label_confidence"] == 0.6  # recorded with the run
    assert run["counts"]["dropped_filtered"] == b["dropped_filtered"]
    # what is kept still says what its source said: "good" copies of label-1 rows carry no "bad"
    def flips(out):
        rows = [line.split("\t") for line in (out / "in.tsv").read_text().splitlines()]
        return sum(("bad" in t.split()) != ("bad" in texts[rec["row"]].split())
                   for (_, t), rec in zip(rows, manifest(out))) / len(rows)

    assert flips(tmp_path / "b") < flips(tmp_path / "a") / 2
    assert np.isfinite(b["seconds"])


def test_the_readme_filter_block_is_a_valid_spec(tmp_path):
    """The block as the docs (docs/text.md) write it (YAML lists for pairs) loads: a strict tuple field refused the list
    `length_ratio: [0.5, 2.0]`, so the documented example was a spec error."""
    import re
    from pathlib import Path

    from augment.spec import load_spec

    readme = (Path(__file__).resolve().parents[1] / "docs" / "text.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if b.startswith("filter:"))
    spec = tmp_path / "f.yaml"
    spec.write_text("version: 1\nname: f\nmodality: text\nsteps:\n  - op: eda\n" + block, encoding="utf-8")
    loaded = load_spec(spec)
    assert loaded.filter.length_ratio == (0.5, 2.0) and loaded.filter.min_similarity == 0.3


@settings(max_examples=30, deadline=None)
@given(low=st.floats(0, 1), high=st.floats(1, 10), as_list=st.booleans(), extra=st.booleans())
def test_length_ratio_pairs_load_from_yaml_and_json(tmp_path_factory, low, high, as_list, extra):
    import yaml

    from augment.spec import load_spec
    from augment.spec.errors import SpecError

    pair = [low, high, 3.0] if extra else [low, high]
    body = {"version": 1, "name": "f", "modality": "text", "steps": [{"op": "eda"}],
            "filter": {"length_ratio": pair if as_list else {"low": low}}}
    path = tmp_path_factory.mktemp("spec") / "f.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    if as_list and not extra:
        assert load_spec(path).filter.length_ratio == (low, high)
    else:  # three values, or not a pair at all: one error naming the key
        try:
            load_spec(path)
        except SpecError as exc:
            assert "filter.length_ratio" in str(exc)
        else:
            raise AssertionError("accepted")
