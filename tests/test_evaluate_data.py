"""augment.evaluate.data: loading, content hashes, stratified subsets and splits, overlap detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypothesis import given, settings
from hypothesis import strategies as st

from augment.evaluate.data import (
    align_classes,
    class_mismatch,
    stratified_folds,
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
    with pytest.raises(ValueError, match="bad.tsv.*line 1.*--text-column"):  # the io layer's one-line reason
        load_tsv(bad)
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.tsv")
    # a bad row in the middle is skipped and reported, not raised
    mixed = tmp_path / "mixed.tsv"
    mixed.write_bytes(b"pos\tgood\nneg\tbad \xff bytes\nneg\tfine\n")
    data = load_tsv(mixed)
    assert data.items == ["good", "fine"] and data.skipped and data.skipped[0][0] == "line:2"


ROWS = [("pos", "a fine film"), ("neg", "a dull film, sadly"), ("pos", 'quoted "praise" here'), ("neg", "meh")]


def _write_formats(tmp_path: Path) -> dict[str, tuple[Path, dict]]:
    """The same four labelled rows in every text format the io layer reads, with the options each needs."""
    import csv
    import json

    out = {}
    p = tmp_path / "plain.tsv"
    p.write_text("".join(f"{lab}\t{text}\n" for lab, text in ROWS), encoding="utf-8")
    out["tsv"] = (p, {})
    p = tmp_path / "header.tsv"
    p.write_text("id\ty\tsentence\n" + "".join(f"{i}\t{lab}\t{text}\n" for i, (lab, text) in enumerate(ROWS)),
                 encoding="utf-8")
    out["tsv-header"] = (p, {"text_column": "sentence", "label_column": "y"})
    p = tmp_path / "data.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence", "y"])
        w.writerows([(text, lab) for lab, text in ROWS])
    out["csv"] = (p, {"text_column": "sentence", "label_column": "y"})
    p = tmp_path / "default.csv"
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "text"])
        w.writerows(ROWS)
    out["csv-default-columns"] = (p, {})
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps({"review": text, "stars": lab}) + "\n" for lab, text in ROWS), encoding="utf-8")
    out["jsonl"] = (p, {"text_column": "review", "label_column": "stars"})
    return out


@pytest.mark.parametrize("fmt", ["tsv", "tsv-header", "csv", "csv-default-columns", "jsonl"])
def test_every_text_format_loads_the_same_examples(tmp_path, fmt):
    path, opts = _write_formats(tmp_path)[fmt]
    data = load_dataset(path, **opts)
    assert data.items == [t for _, t in ROWS]
    assert [data.classes[i] for i in data.labels] == [lab for lab, _ in ROWS]
    assert data.skipped == []


def test_txt_without_labels_and_columns_on_images_are_errors(tmp_path):
    (tmp_path / "u.txt").write_text("one\ntwo\n")
    with pytest.raises(ValueError, match="no labels"):
        load_dataset(tmp_path / "u.txt")
    (tmp_path / "img" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="image folder"):
        load_dataset(tmp_path / "img", text_column="x")


def test_corrupt_and_stray_files_in_an_image_folder_are_skipped_and_reported(tmp_path):
    rng = np.random.default_rng(0)
    _write_png(tmp_path / "a" / "ok.png", rng.integers(0, 255, (5, 5, 3), dtype=np.uint8))
    _write_png(tmp_path / "b" / "ok.png", rng.integers(0, 255, (5, 5, 3), dtype=np.uint8))
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "b" / "empty.png").write_bytes(b"")
    (tmp_path / "loose.png").write_bytes((tmp_path / "a" / "ok.png").read_bytes())
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0\0")
    data = load_image_folder(tmp_path)
    assert data.ids == ["a/ok.png", "b/ok.png"]
    reasons = dict(data.skipped)
    assert set(reasons) == {"a/broken.jpg", "b/empty.png", "loose.png"}
    assert "empty" in reasons["b/empty.png"] and "class folder" in reasons["loose.png"]


def test_exif_orientation_is_applied_as_run_does(tmp_path):
    img = Image.fromarray(np.zeros((4, 10, 3), dtype=np.uint8))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    (tmp_path / "a").mkdir()
    img.save(tmp_path / "a" / "r.jpg", exif=exif)
    assert load_image_folder(tmp_path).items[0].shape == (10, 4, 3)


def test_class_mismatch_counts(tmp_path):
    (tmp_path / "tr.tsv").write_text("a\tx\na\ty\nb\tz\n")
    (tmp_path / "te.tsv").write_text("a\tq\nc\tr\nc\ts\n")
    m = class_mismatch(load_tsv(tmp_path / "tr.tsv"), load_tsv(tmp_path / "te.tsv"))
    assert m == {"only_in_train": {"b": 1}, "only_in_test": {"c": 2}}


@given(st.lists(st.integers(0, 4), min_size=6, max_size=120), st.integers(2, 6), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_stratified_folds_partition_and_stratify(labels, k, seed):
    labels = np.array(labels)
    if k > len(labels):
        with pytest.raises(ValueError):
            stratified_folds(labels, k, seed)
        return
    folds = stratified_folds(labels, k, seed)
    together = np.sort(np.concatenate(folds))
    assert np.array_equal(together, np.arange(len(labels)))  # every example tested exactly once
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for c in np.unique(labels):  # each class spread as evenly as possible over the folds
        per_fold = [int((labels[f] == c).sum()) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1
    again = stratified_folds(labels, k, seed)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again))


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
