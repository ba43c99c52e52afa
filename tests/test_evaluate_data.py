"""augment.evaluate.data: loading, content hashes, stratified subsets and splits, overlap detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augment.evaluate.data import (
    align_classes,
    content_hash,
    load_dataset,
    load_image_folder,
    load_tsv,
    overlap_indices,
    stratified_split,
    stratified_subset,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _write_png(path: Path, arr: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode=mode).save(path) if mode else Image.fromarray(arr).save(path)


def test_image_folder_loads_any_mode_as_rgb_with_natural_class_order(tmp_path):
    rng = np.random.default_rng(0)
    _write_png(tmp_path / "2" / "a.png", rng.integers(0, 255, (5, 7, 3), dtype=np.uint8))
    _write_png(tmp_path / "10" / "b.png", rng.integers(0, 255, (6, 6), dtype=np.uint8))  # grayscale
    _write_png(tmp_path / "10" / "c.png", rng.integers(0, 255, (4, 4, 4), dtype=np.uint8))  # RGBA
    (tmp_path / "10" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.modality == "image"
    assert data.classes == ["2", "10"]  # natural, not lexicographic
    assert data.ids == ["2/a.png", "10/b.png", "10/c.png"]
    assert [x.shape for x in data.items] == [(5, 7, 3), (6, 6, 3), (4, 4, 3)]
    assert all(x.dtype == np.uint8 for x in data.items)
    assert data.labels.tolist() == [0, 1, 1]
    assert load_dataset(tmp_path).ids == data.ids


def test_tsv_loading_and_errors(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("pos\tgood film \n\nneg\tbad film\npos\tgreat\n", encoding="utf-8")
    data = load_tsv(p)
    assert data.modality == "text"
    assert data.classes == ["neg", "pos"]
    assert data.items == ["good film ", "bad film", "great"]
    assert data.ids == ["line:1", "line:3", "line:4"]
    assert data.labels.tolist() == [1, 0, 1]
    bad = tmp_path / "bad.tsv"
    bad.write_text("pos good\n")
    with pytest.raises(ValueError, match="bad.tsv:1"):
        load_tsv(bad)
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.tsv")


def test_content_hash_is_exact_and_content_based():
    a = np.zeros((4, 4, 3), np.uint8)
    assert content_hash(a) == content_hash(a.copy())
    b = a.copy()
    b[0, 0, 0] = 1
    assert content_hash(a) != content_hash(b)
    assert content_hash(a) != content_hash(a.reshape(8, 2, 3))  # same bytes, other shape
    assert content_hash("a film ") == content_hash("a film")  # surrounding whitespace only
    assert content_hash("a film") != content_hash("a  film")


def test_stratified_subset_is_proportional_seeded_and_covers_classes():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    idx = stratified_subset(labels, 100, seed=3)
    assert len(idx) == 100 and len(set(idx.tolist())) == 100
    counts = np.bincount(labels[idx], minlength=3)
    assert counts.tolist() == [90, 9, 1]
    assert np.array_equal(idx, stratified_subset(labels, 100, seed=3))
    assert not np.array_equal(idx, stratified_subset(labels, 100, seed=4))
    small = stratified_subset(labels, 3, seed=0)  # one from every class even though class 2 is 1% of the data
    assert sorted(np.bincount(labels[small], minlength=3).tolist()) == [1, 1, 1]
    with pytest.raises(ValueError):
        stratified_subset(labels, 1001, seed=0)


def test_stratified_split_is_disjoint_and_stratified():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    rest, held = stratified_split(labels, 0.2, seed=1)
    assert len(held) == 20 and len(rest) == 80
    assert not set(rest.tolist()) & set(held.tolist())
    assert np.bincount(labels[held], minlength=3).tolist() == [10, 6, 4]
    rest2, held2 = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(held, held2)
    # tiny classes keep at least one example in the rest
    labels = np.array([0, 1, 1, 1, 1, 1])
    rest, held = stratified_split(labels, 0.5, seed=0)
    assert 0 in labels[rest]


def test_overlap_and_class_alignment(tmp_path):
    train = tmp_path / "train.tsv"
    test = tmp_path / "test.tsv"
    train.write_text("a\tsame text\na\tonly train\nb\tother\n")
    test.write_text("a\tsame text \nc\tnew class\n")
    tr, te = align_classes(load_tsv(train), load_tsv(test))
    assert tr.classes == te.classes == ["a", "b", "c"]
    assert te.labels.tolist() == [0, 2]
    assert overlap_indices(tr.hashes, te.hashes).tolist() == [0]


@pytest.mark.skipif(not (SHARED / "text" / "sst2").is_dir(), reason="shared/datasets not present")
def test_sst2_has_the_two_documented_train_test_duplicates():
    tr = load_tsv(SHARED / "text" / "sst2" / "train.tsv")
    te = load_tsv(SHARED / "text" / "sst2" / "test.tsv")
    assert len(tr) == 7447 and len(te) == 1752
    dup = overlap_indices(tr.hashes, te.hashes)
    assert len({tr.hashes[i] for i in dup}) == 2  # two sentences ...
    assert len(dup) == 3  # ... one of which occurs twice in train
