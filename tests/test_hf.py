"""Hugging Face datasets: the on-the-fly transform, the map expansion, and `augment run` on save_to_disk folders
and Parquet files (the real `datasets` and `pyarrow` packages, real files, the real CLI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

datasets = pytest.importorskip("datasets")
pytest.importorskip("pyarrow")

import augment  # noqa: E402
from augment import ops  # noqa: E402
from augment.hf import Expansion, Transform, row_seed, with_row_index  # noqa: E402
from conftest import PIPELINES  # noqa: E402
from test_expander import augment_cli, manifest  # noqa: E402

IMAGE_PIPE = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Rotate(degrees=(-20, 20)), ops.GaussianNoise()],
                             seed=7)
TEXT_PIPE = augment.Compose([ops.RandomSwap(rate=0.3), ops.CharSwap(word_rate=0.3)], seed=3)
SENTENCES = [f"the quick brown fox number {i} jumps over the lazy dog near the river bank" for i in range(12)]


def _image_dataset(tmp_path, n=10):
    rng = np.random.default_rng(0)
    files = []
    for i in range(n):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(path)
        files.append(str(path))
    return datasets.Dataset.from_dict({"image": files, "label": [i % 3 for i in range(n)]}).cast_column(
        "image", datasets.Image())


def test_transform_seeds_follow_row_index_and_epoch(tmp_path):
    ds = with_row_index(_image_dataset(tmp_path))
    tf = Transform(IMAGE_PIPE, "image")
    view = ds.with_transform(tf)
    batch = view[0:6]
    assert set(batch) == {"image", "label"} and len(batch["image"]) == 6
    for i in range(6):
        expected = IMAGE_PIPE(ds[i]["image"], seed=row_seed(7, i, 0))
        assert np.array_equal(np.asarray(batch["image"][i]), np.asarray(expected))
    # the same row, fetched alone or in another order, gets the same values: seeds come from the index
    assert np.array_equal(np.asarray(view[4]["image"]), np.asarray(batch["image"][4]))
    assert np.array_equal(np.asarray(view.select([5, 2])[1]["image"]), np.asarray(batch["image"][2]))
    tf.set_epoch(1)
    other = view[0:6]["image"]
    assert sum(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(other, batch["image"])) >= 4
    rerun = ds.with_transform(Transform(IMAGE_PIPE, "image", epoch=1))[0:6]["image"]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(other, rerun))


def test_transform_needs_the_row_index(tmp_path):
    ds = _image_dataset(tmp_path).with_transform(Transform(IMAGE_PIPE, "image"))
    with pytest.raises(KeyError, match="with_row_index"):
        ds[0:2]


def test_text_transform_and_set_transform():
    ds = with_row_index(datasets.Dataset.from_dict({"text": SENTENCES, "label": [0, 1] * 6}))
    tf = Transform(TEXT_PIPE, "text", epoch=2)
    ds.set_transform(tf)
    got = ds[0:5]["text"]
    assert got == [TEXT_PIPE(SENTENCES[i], seed=row_seed(3, i, 2)) for i in range(5)]
    assert got != SENTENCES[:5]


@pytest.mark.parametrize("modality", ["image", "text"])
def test_expansion_is_the_same_for_any_num_proc_and_batch_size(tmp_path, modality):
    if modality == "image":
        ds, pipe, col = _image_dataset(tmp_path), IMAGE_PIPE, "image"
    else:
        ds, pipe, col = datasets.Dataset.from_dict({"text": SENTENCES, "label": [0, 1] * 6}), TEXT_PIPE, "text"
    ex = Expansion(pipe, col, copies=3, include_originals=True, record_ops=True)
    results = [
        ds.map(ex, batched=True, with_indices=True, num_proc=num_proc, batch_size=bs, keep_in_memory=True)
        for num_proc, bs in [(None, 1000), (2, 3), (3, 1)]
    ]
    first = results[0]
    assert len(first) == len(ds) * 4
    assert first["source_index"][:8] == [0, 0, 0, 0, 1, 1, 1, 1] and first["copy"][:4] == [None, 0, 1, 2]
    for other in results[1:]:
        assert other.data.table.equals(first.data.table)  # the same values, row for row
    # copy k of row i is epoch k of the on-the-fly transform, and what the pipeline gives for that seed
    tf = Transform(pipe, col, epoch=2)
    row = first[5 * 4 + 3]  # row 5, copy 2
    on_the_fly = tf({col: [ds[5][col]], "__augment_index__": [5]})[col][0]
    assert row["seed"] == row_seed(pipe.spec.seed, 5, 2)
    if modality == "text":
        assert row[col] == on_the_fly == pipe(ds[5][col], seed=row["seed"])
        assert [o["op"] for o in json.loads(row["augment_ops"])] == ["random_swap", "char_swap"]
    else:
        assert np.array_equal(np.asarray(row[col]), np.asarray(on_the_fly))


def _save_text_dataset(path):
    datasets.Dataset.from_dict({"text": SENTENCES, "label": [0, 1] * 6}).save_to_disk(str(path))


def test_cli_reads_and_writes_a_save_to_disk_dataset(tmp_path):
    src = tmp_path / "ds"
    _save_text_dataset(src)
    before = sorted(p.name for p in src.iterdir())
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        proc = augment_cli("run", PIPELINES / "char_noise.yaml", src, out, "--copies", "2", "--include-originals",
                           "--workers", workers)
        summary = json.loads(proc.stdout)
        assert summary["status"] == "complete" and summary["written"] == 36 and summary["items"] == 12
        outs.append(out)
    assert sorted(p.name for p in src.iterdir()) == before  # INPUT untouched (no cache files)
    a, b = (datasets.load_from_disk(str(o)) for o in outs)
    assert a.column_names == ["text", "label", "source_index", "copy"]
    assert a.to_dict() == b.to_dict()
    assert manifest(outs[0]) == manifest(outs[1])
    pipe = augment.load_pipeline(PIPELINES / "char_noise.yaml")
    records = manifest(outs[0])
    assert len(records) == 36
    for rec in records:
        row = a[rec["output_row"]]
        assert row["source_index"] == rec["row"] and row["copy"] == rec["copy"]
        if rec["copy"] is not None:
            assert row["text"] == pipe.replay(SENTENCES[rec["row"]], rec)
    # the same command again finds the complete run
    again = json.loads(augment_cli("run", PIPELINES / "char_noise.yaml", src, outs[0], "--copies", "2",
                                   "--include-originals").stdout)
    assert again["written"] == 0 and again["resumed_skipped"] == 36
    refused = augment_cli("run", PIPELINES / "char_noise.yaml", src, outs[0], "--copies", "3", check=False)
    assert refused.returncode == 1 and "another spec" in refused.stderr


def test_cli_reads_and_writes_parquet_images_with_bad_rows_reported(tmp_path, shared_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = shared_dir / "datasets" / "images" / "sign_digits" / "3"
    files = sorted(folder.iterdir())[:6]
    images = [{"bytes": f.read_bytes(), "path": f.name} for f in files]
    images.insert(2, {"bytes": b"not an image", "path": "broken.jpg"})
    table = pa.table({"image": images, "label": [3] * len(images)})
    src = tmp_path / "parquet"
    src.mkdir()
    pq.write_table(table, src / "train.parquet")
    out = tmp_path / "out"
    summary = json.loads(augment_cli("run", PIPELINES / "flip_zoom_noise.yaml", src, out, "--copies", "2",
                                     "--workers", "2").stdout)
    assert summary["written"] == 12 and summary["errors"] == 1
    assert json.loads((out / "errors.jsonl").read_text())["row"] == 2
    result = pq.read_table(out / "train.parquet")
    assert result.num_rows == 12 and result.column("source_index").to_pylist() == [0, 0, 1, 1, 3, 3, 4, 4, 5, 5, 6, 6]
    pipe = augment.load_pipeline(PIPELINES / "flip_zoom_noise.yaml")
    from augment.io.images import decode_image, encode_image

    for rec, value in zip(manifest(out), result.column("image").to_pylist()):
        arr, _ = decode_image(images[rec["row"]]["bytes"])
        expected = encode_image(pipe.replay(arr, rec), "JPEG", 95)
        assert value["bytes"] == expected  # what `augment run` writes for the same file and seed
        assert rec["sha256"] == __import__("hashlib").sha256(expected).hexdigest()
    back = datasets.Dataset.from_parquet(str(out / "train.parquet"), cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(back[0]["image"], Image.Image) and back.column_names == ["image", "label", "source_index", "copy"]


def test_cli_expands_every_split_of_a_saved_image_dataset_dict(tmp_path):
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)) for _ in range(5)]
    dd = datasets.DatasetDict({split: datasets.Dataset.from_dict({"image": images[:n], "label": list(range(n))})
                               .cast_column("image", datasets.Image()) for split, n in (("train", 5), ("test", 2))})
    src = tmp_path / "dd"
    dd.save_to_disk(str(src))
    out = tmp_path / "out"
    summary = json.loads(augment_cli("run", PIPELINES / "flip_zoom_noise.yaml", src, out, "--copies", "2",
                                     "--engine", "serial").stdout)
    assert summary["items"] == 7 and summary["written"] == 14
    back = datasets.load_from_disk(str(out))
    assert sorted(back) == ["test", "train"] and len(back["train"]) == 10 and len(back["test"]) == 4
    assert isinstance(back["train"][0]["image"], Image.Image)
    assert {r["source"] for r in manifest(out)} == {"train", "test"}


def test_cli_errors_on_hf_inputs_are_one_line(tmp_path):
    src = tmp_path / "ds"
    datasets.Dataset.from_dict({"title": ["a b c"] * 3, "body": ["d e f"] * 3}).save_to_disk(str(src))
    eda = PIPELINES / "char_noise.yaml"
    cases = [
        (["--engine", "serial"], "cannot tell which column holds the text (string columns: title, body); "
                                 "name it with --text-column"),
        (["--text-column", "nope"], "--text-column 'nope' is not a column; columns: title, body"),
        (["--output-format", "parquet"], "written back in the same kind; drop --output-format parquet"),
    ]
    for i, (extra, message) in enumerate(cases):
        proc = augment_cli("run", eda, src, tmp_path / f"out{i}", *extra, check=False)
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    ok = augment_cli("run", eda, src, tmp_path / "ok", "--text-column", "body", "--engine", "serial")
    assert json.loads(ok.stdout)["written"] == 6


# ---------------------------------------------------------------- ownership and partial resume of HF runs

import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from conftest import REPO  # noqa: E402

CHAR = PIPELINES / "char_noise.yaml"


def _many_sentences(n, salt=""):
    return [f"row {i}{salt}: the quick brown fox jumps over the lazy dog near the river bank again" for i in range(n)]


def _cli_popen(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _wait_for(predicate, proc, seconds=300):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"the run ended before the test could act: {proc.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_second_hf_run_into_a_busy_output_exits_5_with_the_holder(tmp_path):
    src = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": _many_sentences(600)}).save_to_disk(str(src))
    out = tmp_path / "out"
    first = _cli_popen("run", CHAR, src, out, "--engine", "serial", "-q", env={"AUGMENT_HF_BLOCK_ROWS": "20"})
    _wait_for(lambda: (out / ".augment-lock").is_file() and any((out / ".augment-hf-tmp").glob("block-*")), first)
    os.kill(first.pid, signal.SIGSTOP)  # paused, the first run keeps OUTPUT while the second starts, however fast
    try:
        second = augment_cli("run", CHAR, src, out, "--engine", "serial", check=False)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert second.returncode == 5 and len(second.stderr.strip().splitlines()) == 1
    assert "is in use by another augment run" in second.stderr and f"pid {first.pid}" in second.stderr
    assert json.loads(stdout)["written"] == 1200  # the refused run touched nothing
    assert not (out / ".augment-lock").exists() and not (out / ".augment-hf-tmp").exists()


@pytest.mark.parametrize("kind", ["dataset", "parquet"])
def test_a_killed_hf_run_resumes_its_missing_blocks_into_the_uninterrupted_output(tmp_path, kind):
    """SIGKILL mid-run, then the same command: the finished blocks are reused, the rest computed, and OUTPUT is
    byte for byte what one uninterrupted run writes (the Arrow/Parquet files, state.json, manifest, errors)."""
    ds = datasets.Dataset.from_dict({"text": _many_sentences(400), "label": [i % 2 for i in range(400)]})
    if kind == "dataset":
        src = tmp_path / "ds"
        ds.save_to_disk(str(src))
    else:
        src = tmp_path / "pq"
        src.mkdir()
        ds.to_parquet(str(src / "train.parquet"))
    env = {"AUGMENT_HF_BLOCK_ROWS": "16"}
    args = ["run", CHAR, src, tmp_path / "out", "--copies", "2", "--include-originals", "--engine", "serial", "-q"]
    killed = _cli_popen(*args, env=env)
    scratch = tmp_path / "out" / ".augment-hf-tmp"
    _wait_for(lambda: len(list(scratch.glob("block-*.arrow"))) >= 3, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "running"
    done_before = len(list(scratch.glob("block-*.arrow")))
    resumed = subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, text=True,
                             capture_output=True, env={**os.environ, **env}, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed_skipped"] >= 3 * 16 * 3 and summary["written"] + summary["resumed_skipped"] == 1200
    assert summary["resumed_skipped"] == 48 * done_before  # every finished block reused, no other
    fresh = tmp_path / "fresh"  # uninterrupted, and in a pool of two worker processes
    subprocess.run([sys.executable, "-m", "augment.cli", "run", str(CHAR), str(src), str(fresh), "--copies", "2",
                    "--include-originals", "--workers", "2", "-q"], cwd=REPO, check=True, capture_output=True,
                   env={**os.environ, **env}, timeout=600)
    a, b = _tree(tmp_path / "out"), _tree(fresh)
    a.pop("run.json"), b.pop("run.json")  # times and counts of this run
    assert a == b and "manifest.jsonl" in a


def test_hf_resume_redoes_a_changed_part_and_refuses_another_spec(tmp_path):
    src = tmp_path / "dd"
    splits = {"train": _many_sentences(40), "test": _many_sentences(10)}
    datasets.DatasetDict({k: datasets.Dataset.from_dict({"text": v}) for k, v in splits.items()}).save_to_disk(str(src))
    out = tmp_path / "out"
    augment_cli("run", CHAR, src, out, "--engine", "serial")
    again = json.loads(augment_cli("run", CHAR, src, out, "--engine", "serial").stdout)
    assert again["written"] == 0 and again["resumed_skipped"] == 100
    # the test split changes (rows rewritten): only its rows are made again
    time.sleep(0.01)
    datasets.Dataset.from_dict({"text": _many_sentences(10, salt="!")}).save_to_disk(str(tmp_path / "new_test"))
    for f in (src / "test").iterdir():
        f.unlink()
    for f in (tmp_path / "new_test").iterdir():
        (src / "test" / f.name).write_bytes(f.read_bytes())
    changed = json.loads(augment_cli("run", CHAR, src, out, "--engine", "serial").stdout)
    assert changed["sources_changed"] == 1 and changed["changed_examples"] == ["test"]
    assert changed["written"] == 20 and changed["resumed_skipped"] == 80
    fresh = tmp_path / "fresh"
    augment_cli("run", CHAR, src, fresh, "--engine", "serial")
    assert datasets.load_from_disk(str(out))["test"].to_dict() == datasets.load_from_disk(str(fresh))["test"].to_dict()
    assert manifest(out) == manifest(fresh)
    other = augment_cli("run", PIPELINES / "eda.yaml", src, out, "--engine", "serial", check=False)
    assert other.returncode == 1 and "another spec" in other.stderr and "spec " in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    seed = augment_cli("run", CHAR, src, out, "--engine", "serial", "--seed", "99", check=False)
    assert seed.returncode == 1 and "seed" in seed.stderr
    more = json.loads(augment_cli("run", CHAR, src, out, "--engine", "serial", "--copies", "3").stdout)
    assert more["written"] == 150 and len(manifest(out)) == 150  # copies are part of a block: all made again
    fewer = augment_cli("run", CHAR, src, out, "--engine", "serial", "--copies", "2", check=False)
    assert fewer.returncode == 1 and "--overwrite" in fewer.stderr
    replaced = json.loads(augment_cli("run", PIPELINES / "eda.yaml", src, out, "--engine", "serial", "--copies", "1",
                                      "--overwrite").stdout)
    assert replaced["written"] == 50 and len(manifest(out)) == 50


# ---------------------------------------------------------------- detection `objects` columns

import xml.etree.ElementTree as ET  # noqa: E402

from augment.hf import move_objects  # noqa: E402

RACCOON = "datasets/detection/raccoon/train"
DETECT_PIPE = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-15, 15), translate=(-0.2, 0.2),
                                                                       scale=(0.8, 1.2), min_visibility=0.3)], seed=5)


def _raccoon_rows(shared_dir, n=4):
    """cppe-5 / detection-datasets layout from the raccoon VOC files: image, and objects with COCO [x, y, w, h]."""
    folder = shared_dir / RACCOON
    rows = []
    for xml in sorted((folder / "annotations").glob("*.xml"))[:n]:
        root = ET.parse(xml).getroot()
        boxes = []
        for obj in root.iter("object"):
            b = obj.find("bndbox")
            x0, y0, x1, y1 = (float(b.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.append([x0, y0, x1 - x0, y1 - y0])
        # a second, small object in a corner, so that some copies drop one object and keep the other
        boxes.append([1.0, 1.0, 12.0, 10.0])
        image = Image.open(folder / "images" / root.find("filename").text).convert("RGB")
        rows.append({"image": image, "image_id": len(rows), "objects": {
            "id": list(range(len(boxes))), "area": [int(w * h) for _, _, w, h in boxes], "bbox": boxes,
            "category": [0] * (len(boxes) - 1) + [1]}})
    return rows


def _detection_dataset(shared_dir, n=4):
    features = datasets.Features({
        "image": datasets.Image(), "image_id": datasets.Value("int64"),
        "objects": datasets.Sequence({"id": datasets.Value("int64"), "area": datasets.Value("int64"),
                                      "bbox": datasets.Sequence(datasets.Value("float32"), length=4),
                                      "category": datasets.ClassLabel(names=["raccoon", "corner"])})})
    rows = _raccoon_rows(shared_dir, n)
    return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]}, features=features)


def _expected(pipe, image, objects, seed):
    """The library's annotated call on the same image, boxes and seed: what the objects must become."""
    xywh = np.array(objects["bbox"], dtype=np.float64)
    xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
    out = pipe(np.asarray(image), seed=seed, boxes=xyxy, labels=np.arange(len(xyxy)))
    return out["image"], out["boxes"], list(out["labels"])


def test_expansion_moves_objects_with_the_image_and_drops_them_per_the_op_rules(shared_dir):
    ds = _detection_dataset(shared_dir)
    ex = Expansion(DETECT_PIPE, "image", copies=6, objects="objects")
    bigger = ds.map(ex, batched=True, with_indices=True, batch_size=3, remove_columns=ds.column_names)
    assert set(bigger.column_names) >= {"image", "image_id", "objects", "source_index", "copy", "seed"}
    dropped = kept_all = 0
    for row in bigger:
        src = ds[row["source_index"]]
        image, boxes, kept = _expected(DETECT_PIPE, src["image"], src["objects"], row["seed"])
        assert np.array_equal(np.asarray(row["image"]), image)
        objs = row["objects"]
        assert list(objs) == ["id", "area", "bbox", "category"]  # the layout is kept
        assert objs["id"] == [src["objects"]["id"][i] for i in kept]  # every per-object field keeps the kept ones
        assert objs["category"] == [src["objects"]["category"][i] for i in kept]
        got = np.array(objs["bbox"], dtype=np.float64).reshape(-1, 4)
        assert np.allclose(got[:, :2], boxes[:, :2], atol=1e-3) and np.allclose(got[:, :2] + got[:, 2:], boxes[:, 2:],
                                                                                 atol=1e-3)
        assert objs["area"] == [int(round(w * h)) for _, _, w, h in objs["bbox"]]  # recomputed, int as it came
        h, w = np.asarray(row["image"]).shape[:2]
        assert all(0 <= x and 0 <= y and x + bw <= w + 1e-3 and y + bh <= h + 1e-3 for x, y, bw, bh in objs["bbox"])
        dropped += len(kept) < len(src["objects"]["bbox"])
        kept_all += len(kept) == len(src["objects"]["bbox"])
    assert dropped and kept_all  # the corner object leaves the image in some copies, not in all


def test_transform_moves_objects_in_either_layout_and_never_mutates_the_batch(shared_dir):
    rows = _raccoon_rows(shared_dir, 2)
    flip = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    for layout in ("columns", "rows"):
        objects = [r["objects"] if layout == "columns" else
                   [dict(zip(r["objects"], vals)) for vals in zip(*r["objects"].values())] for r in rows]
        batch = {"image": [r["image"] for r in rows], "objects": objects, INDEX: [0, 1]}
        before = json.dumps(objects)
        out = Transform(flip, "image", objects="objects")(batch)
        assert json.dumps(objects) == before
        for r, got in zip(rows, out["objects"]):
            w = r["image"].width
            got_rows = got if layout == "rows" else [dict(zip(got, v)) for v in zip(*got.values())]
            assert [o["bbox"] for o in got_rows] == [[w - x - bw, y, bw, bh] for x, y, bw, bh in r["objects"]["bbox"]]
            assert [o["id"] for o in got_rows] == r["objects"]["id"]


def test_presets_are_refused_on_objects(shared_dir, tmp_path):
    # augmix blends differently warped copies (trivial_augment and rand_augment move the boxes)
    preset = augment.Pipeline(augment.parse_spec({"version": 1, "name": "p", "modality": "image", "seed": 1,
                                                  "steps": [{"op": "augmix"}]}))
    for cls in (Transform, Expansion):
        with pytest.raises(ValueError, match="cannot move annotations"):
            cls(preset, "image", objects="objects")
    src = tmp_path / "ds"
    _detection_dataset(shared_dir, 2).save_to_disk(str(src))
    spec = tmp_path / "preset.yaml"
    spec.write_text("version: 1\nname: p\nmodality: image\nseed: 1\nsteps:\n  - op: augmix\n")
    proc = augment_cli("run", spec, src, tmp_path / "out", "--engine", "serial", check=False)
    assert proc.returncode == 1 and "cannot move annotations" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_moves_the_objects_of_a_saved_detection_dataset(shared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_HF_BLOCK_ROWS", "1")  # one row a block: the blocks go to the pool of 2 workers
    src = tmp_path / "ds"
    ds = _detection_dataset(shared_dir, 3)
    ds.save_to_disk(str(src))
    spec = tmp_path / "det.yaml"
    spec.write_text("version: 1\nname: det\nmodality: image\nseed: 5\ncopies: 2\nsteps:\n  - op: horizontal_flip\n"
                    "    p: 0.5\n  - op: affine\n    params: {degrees: [-15, 15], translate: [-0.2, 0.2], "
                    "scale: [0.8, 1.2], min_visibility: 0.3}\n")
    out = tmp_path / "out"
    summary = json.loads(augment_cli("run", spec, src, out, "--workers", "2", "--include-originals").stdout)
    assert summary["written"] == 9
    back = datasets.load_from_disk(str(out))
    assert back.features["objects"] == ds.features["objects"]  # float32 boxes, int64 areas, the ClassLabel
    pipe = augment.load_pipeline(spec)
    from augment.io.images import decode_image

    for rec in manifest(out):
        row, source = back[rec["output_row"]], ds[rec["row"]]
        if rec["copy"] is None:
            assert row["objects"] == source["objects"]
            continue
        arr, _ = decode_image(src_bytes(src, rec["row"]))
        image, objs, _ = move_objects(pipe, arr, source["objects"], rec["seed"])
        assert row["objects"]["id"] == objs["id"] and row["objects"]["area"] == objs["area"]
        assert np.allclose(row["objects"]["bbox"], np.array(objs["bbox"], dtype=np.float32).reshape(-1, 4)
                           if objs["bbox"] else np.zeros((0, 4)), atol=1e-3)


def src_bytes(src, index):
    raw = datasets.load_from_disk(str(src)).cast_column("image", datasets.Image(decode=False))
    return raw[index]["image"]["bytes"]


from augment.hf import INDEX_COLUMN as INDEX  # noqa: E402


def test_sigterm_stops_an_hf_run_resumable_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AUGMENT_HF_BLOCK_ROWS", "16")  # for both runs: blocks are named by their rows
    src = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": _many_sentences(400)}).save_to_disk(str(src))
    out = tmp_path / "out"
    args = ["run", CHAR, src, out, "--workers", "2", "-q"]
    proc = _cli_popen(*args, env={"AUGMENT_HF_BLOCK_ROWS": "16"})
    _wait_for(lambda: any((out / ".augment-hf-tmp").glob("block-*.arrow")), proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143 and len(stderr.strip().splitlines()) == 1 and "resume" in stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert not (out / ".augment-lock").exists()
    resumed = json.loads(augment_cli(*args).stdout)
    assert resumed["status"] == "complete" and resumed["resumed_skipped"] > 0
    assert resumed["written"] + resumed["resumed_skipped"] == 800
