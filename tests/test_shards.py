"""Sharded output: WebDataset tar shards and Parquet (images and text), read back with the real webdataset,
pyarrow and datasets packages; byte-identical across workers and engines; resume and errors as for folders."""

from __future__ import annotations

import hashlib
import json

import pytest
from PIL import Image

pytest.importorskip("pyarrow")
wds = pytest.importorskip("webdataset")

import pyarrow.parquet as pq  # noqa: E402

from conftest import PIPELINES  # noqa: E402
from test_expander import augment_cli, manifest  # noqa: E402

SPEC = PIPELINES / "flip_zoom_noise.yaml"


def run(src, out, *extra, check=True):
    proc = augment_cli("run", SPEC, src, out, "--copies", "2", *extra, check=check)
    return json.loads(proc.stdout) if check else proc


def shards(out, suffix):
    return {p.name: p.read_bytes() for p in sorted(out.glob(f"shard-*{suffix}"))}


def without_shard(records):
    return [{k: v for k, v in r.items() if k != "shard"} for r in records]


@pytest.fixture
def folder_run(image_folder, tmp_path):
    out = tmp_path / "folder"
    run(image_folder, out, "--include-originals", "--engine", "serial")
    return out


def test_webdataset_shards_hold_the_folder_outputs_and_read_with_webdataset(image_folder, tmp_path, folder_run):
    outs = []
    for extra in (["--workers", "2"], ["--engine", "serial"], ["--engine", "dask", "--workers", "2"]):
        out = tmp_path / f"wds{len(outs)}"
        summary = run(image_folder, out, "--include-originals", "--output-format", "webdataset",
                      "--shard-size", "7", *extra)
        assert summary["written"] == 24 and summary["errors"] == 0
        outs.append(out)
    first = shards(outs[0], ".tar")
    assert list(first) == [f"shard-{i:06d}.tar" for i in range(3)]  # 8 sources, 3 outputs each: 3 sources a shard
    assert all(shards(o, ".tar") == first for o in outs[1:])  # byte-identical whatever the workers or engine
    assert not [p for p in outs[0].iterdir() if p.is_dir()]  # no mirrored class folders
    records = manifest(outs[0])
    assert without_shard(records) == manifest(folder_run)  # the same records as a folder run, plus the shard
    by_key = {}
    urls = [str(outs[0] / name) for name in first]
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        data = next(v for k, v in sample.items() if k in ("jpg", "png"))
        by_key[meta["output"]] = data
        assert sample["__key__"] == meta["output"].rsplit(".", 1)[0]
        assert meta["label"] == meta["source"].split("/")[0]
    assert len(by_key) == 24
    for rec in records:
        assert by_key[rec["output"]] == (folder_run / rec["output"]).read_bytes()
        assert hashlib.sha256(by_key[rec["output"]]).hexdigest() == rec["sha256"]


def test_parquet_image_shards_read_with_pyarrow_and_datasets(image_folder, tmp_path, folder_run):
    datasets = pytest.importorskip("datasets")
    a, b = tmp_path / "pq1", tmp_path / "pq2"
    run(image_folder, a, "--include-originals", "--output-format", "parquet", "--shard-size", "10", "--workers", "2")
    run(image_folder, b, "--include-originals", "--output-format", "parquet", "--shard-size", "10",
        "--engine", "serial")
    assert shards(a, ".parquet") == shards(b, ".parquet") and len(shards(a, ".parquet")) == 2
    table = pq.read_table(sorted(a.glob("shard-*.parquet")))
    assert table.num_rows == 24
    assert {"key", "output", "source", "copy", "seed", "label", "image"} <= set(table.column_names)
    for row in table.to_pylist():
        assert row["image"]["bytes"] == (folder_run / row["output"]).read_bytes()
    ds = datasets.Dataset.from_parquet([str(p) for p in sorted(a.glob("shard-*.parquet"))],
                                       cache_dir=str(tmp_path / "hf-cache"))
    assert isinstance(ds.features["image"], datasets.Image)
    assert isinstance(ds[0]["image"], Image.Image)


def test_resume_redoes_only_missing_shards_and_layout_changes_are_refused(image_folder, tmp_path):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    run(image_folder, fresh, "--output-format", "webdataset", "--shard-size", "4")
    run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4")
    (out / "shard-000001.tar").unlink()  # as if the run had been killed before writing it
    again = run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4")
    assert again["written"] == 4 and again["resumed_skipped"] == 12
    assert shards(out, ".tar") == shards(fresh, ".tar")
    assert manifest(out) == manifest(fresh)
    other = run(image_folder, out, "--output-format", "webdataset", "--shard-size", "6", check=False)
    assert other.returncode == 1 and "--overwrite" in other.stderr
    folder = run(image_folder, out, check=False)  # a folder run into a shard run's OUTPUT
    assert folder.returncode == 1
    replaced = run(image_folder, out, "--output-format", "parquet", "--shard-size", "6", "--overwrite")
    assert replaced["written"] == 16 and not list(out.glob("*.tar")) and len(list(out.glob("*.parquet"))) == 3


def test_bad_items_are_reported_and_the_rest_sharded(image_folder, tmp_path):
    (image_folder / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    summary = run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4")
    assert summary["errors"] == 1 and summary["written"] == 16
    assert json.loads((out / "errors.jsonl").read_text())["source"] == "cat/broken.jpg"
    strict = run(image_folder, tmp_path / "strict", "--output-format", "webdataset", "--strict", check=False)
    assert strict.returncode == 3


def test_text_parquet_output(tmp_path):
    src = tmp_path / "train.tsv"
    src.write_text("".join(f"{i % 2}\tthe quick brown fox number {i} jumps over the lazy dog\n" for i in range(300)))
    folder, a, b = tmp_path / "folder", tmp_path / "a", tmp_path / "b"
    char = PIPELINES / "char_noise.yaml"
    augment_cli("run", char, src, folder, "--include-originals", "--engine", "serial")
    augment_cli("run", char, src, a, "--include-originals", "--output-format", "parquet", "--workers", "2")
    augment_cli("run", char, src, b, "--include-originals", "--output-format", "parquet", "--engine", "serial")
    assert (a / "train.parquet").read_bytes() == (b / "train.parquet").read_bytes()
    rows = pq.read_table(a / "train.parquet").to_pylist()
    lines = (folder / "train.tsv").read_text().splitlines()
    assert len(rows) == len(lines) == 900
    assert [f"{r['label']}\t{r['text']}" for r in rows] == lines
    assert [(r["source_row"], r["copy"]) for r in rows[:3]] == [(0, None), (0, 0), (0, 1)]
    recs = manifest(a)
    assert all(r["output"] == "train.parquet" for r in recs) and len(recs) == 900
    refused = augment_cli("run", char, src, tmp_path / "c", "--output-format", "webdataset", check=False)
    assert refused.returncode == 1 and "text datasets take --output-format parquet" in refused.stderr


def test_the_readme_dvc_stage_is_deterministic(image_folder, tmp_path):
    """The dvc.yaml example of the README: its command, run twice on the same inputs, gives byte-identical
    outputs (shards, manifest, error log and run record), so DVC may cache the stage."""
    import re
    import shlex
    import subprocess
    import sys

    import yaml

    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if b.startswith("stages:"))
    stage = yaml.safe_load(block)["stages"]["augment"]
    spec = next(iter(stage["params"][0]))
    assert (REPO / spec).is_file() and spec in stage["cmd"]
    dep, out = stage["deps"][0], stage["outs"][0]
    trees = []
    for attempt in ("first", "second"):
        argv = shlex.split(stage["cmd"])
        assert argv[0] == "augment" and dep in argv and out in argv
        target = tmp_path / attempt
        argv = [sys.executable, "-m", "augment.cli", *argv[1:]]
        argv = [str(image_folder) if a == dep else str(target) if a == out else a for a in argv]
        subprocess.run(argv, cwd=REPO, check=True, capture_output=True, timeout=600)
        trees.append({p.relative_to(target).as_posix(): p.read_bytes() for p in sorted(target.rglob("*"))
                      if p.is_file()})
    assert trees[0] == trees[1] and "manifest.jsonl" in trees[0] and "run.json" in trees[0]
    assert any(name.endswith(".tar") for name in trees[0])


def test_replay_reproduces_a_sample_of_a_shard(image_folder, tmp_path):
    out = tmp_path / "out"
    run(image_folder, out, "--output-format", "webdataset", "--engine", "serial")
    rec = manifest(out)[3]
    augment_cli("replay", out, rec["output"], "--to", tmp_path / "again.jpg")
    members = {}
    for sample in wds.WebDataset(str(out / rec["shard"]), shardshuffle=False, empty_check=False):
        members[json.loads(sample["json"])["output"]] = next(v for k, v in sample.items() if k in ("jpg", "png"))
    assert (tmp_path / "again.jpg").read_bytes() == members[rec["output"]]
