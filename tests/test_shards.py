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
    """The dvc.yaml example of the docs (docs/expanding.md): its command, run twice on the same inputs, gives byte-identical
    outputs (shards, manifest, error log and run record), so DVC may cache the stage."""
    import re
    import shlex
    import subprocess
    import sys

    import yaml

    from conftest import REPO

    readme = (REPO / "docs" / "expanding.md").read_text()
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


# ---------------------------------------------------------------- shards streamed in parts by the main process

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from augment.io import shards as shard_io  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=120).filter(lambda s: "\0" not in s),
       size=st.one_of(st.integers(0, 10_000), st.integers(8 ** 11 - 2, 8 ** 11 + 2)))
def test_tar_headers_are_the_ones_tarfile_writes(name, size):
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    assert shard_io._header(name, size) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a/x.jpg", "b/y.z.png", "ü/long" + "n" * 110 + ".jpg", "c.webp"]),
                          st.binary(max_size=1500)), max_size=6),
       st.integers(1, 4))
def test_a_tar_streamed_in_fragments_is_the_whole_tar(items, cut):
    import io
    import tarfile

    samples = [shard_io.Sample(f"{i}{name}", data=data, meta={"copy": i}) for i, (name, data) in enumerate(items)]
    fragments = [shard_io.tar_members(samples[i:i + cut]) for i in range(0, len(samples), cut)]
    body = b"".join(fragments)
    whole = body + shard_io.tar_end(len(body))
    assert whole == shard_io.tar_shard(samples)
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:  # what tarfile itself reads back
        names = tar.getnames()
        assert len(names) == 2 * len(samples)
        for s in samples:
            key = shard_io.sample_key(s.output)
            assert tar.extractfile(f"{key}.{s.output.rsplit('.', 1)[1]}").read() == s.data


def _expand_in_parts(src, out, fmt, engine, workers=None, part_size=1, shard_size=7):
    from augment.run.expander import RunOptions, expand

    pipe = augment.load_pipeline(SPEC)
    pipe = augment.Pipeline(pipe.spec.model_copy(update={"copies": 2}))
    opts = RunOptions(input=src, output=out, include_originals=True, engine=engine, workers=workers,
                      output_format=fmt, shard_size=shard_size, chunk_size=part_size)
    return expand(pipe, opts)


import augment  # noqa: E402


@pytest.mark.parametrize("fmt,suffix", [("webdataset", ".tar"), ("parquet", ".parquet")])
def test_shards_made_of_many_parts_are_the_same_for_any_workers_and_part_size(image_folder, tmp_path, fmt, suffix):
    """Each shard (3 sources) is cut into parts of 1 source that two workers finish in any order: the main process
    appends them in their order, so the shards are those of one part per shard, in one process."""
    a = _expand_in_parts(image_folder, tmp_path / "a", fmt, "local", workers=2, part_size=1)
    b = _expand_in_parts(image_folder, tmp_path / "b", fmt, "serial", part_size=16)
    assert a.written == b.written == 24
    assert shards(tmp_path / "a", suffix) == shards(tmp_path / "b", suffix) and len(shards(tmp_path / "a", suffix)) == 3
    assert manifest(tmp_path / "a") == manifest(tmp_path / "b")
    assert not [p.name for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]  # no temporaries, no lock


def test_assembler_writes_parts_in_order_whatever_order_they_come_in(image_folder, tmp_path):
    from augment.run.expander import _image_plan  # noqa: F401 (the plan's tasks are built as a run builds them)
    from augment.run.job import ImageTask, JobConfig, process_chunk
    from augment.run.shard_job import ShardAssembler, publish_local, shard_tasks

    pipe = augment.load_pipeline(SPEC)
    sources = sorted(p.relative_to(image_folder).as_posix() for p in image_folder.rglob("*.*"))
    tasks = [ImageTask(s, (0, 1), True) for s in sources]
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(image_folder),
                       output_root=str(tmp_path), output_format="webdataset")
    parts, _ = shard_tasks(tasks, "webdataset", 3, set(), part_size=1)
    results = [process_chunk(config, [p]) for p in parts]
    trees = []
    for order in (results, results[::-1], results[1::2] + results[::2]):
        out = tmp_path / f"o{len(trees)}"
        out.mkdir()
        assembler = ShardAssembler(out, publish_local(out), "webdataset")
        records = []
        for res in order:
            import copy

            records += assembler.take(copy.deepcopy(res)).records
        assembler.finish()
        assert len(records) == 24 and not any(shard_io.SHARD_SUFFIX and "_shard_part" in r for r in records)
        trees.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert trees[0] == trees[1] == trees[2] and list(trees[0]) == [f"shard-{i:06d}.tar" for i in range(3)]


def test_a_part_whose_worker_died_costs_its_shard_only(image_folder, tmp_path):
    from augment.run.engine_base import died_result
    from augment.run.job import ImageTask, JobConfig, process_chunk
    from augment.run.shard_job import ShardAssembler, publish_local, shard_tasks

    pipe = augment.load_pipeline(SPEC)
    sources = sorted(p.relative_to(image_folder).as_posix() for p in image_folder.rglob("*.*"))
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=str(image_folder),
                       output_root=str(tmp_path), output_format="webdataset")
    parts, _ = shard_tasks([ImageTask(s, (0,), False) for s in sources], "webdataset", 4, set(), part_size=2)
    assembler = ShardAssembler(tmp_path, publish_local(tmp_path), "webdataset")
    written = []
    for i, part in enumerate(parts):
        res = died_result(part, "killed") if i == 0 else process_chunk(config, [part])
        written += assembler.take(res).records
    assembler.finish()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["shard-000001.tar"]
    assert {r["shard"] for r in written} == {"shard-000001.tar"} and len(written) == 4


def test_resume_after_inputs_were_removed_or_added_matches_a_fresh_run(image_folder, tmp_path):
    """Shard boundaries follow the sorted sources: removing or adding one moves the later shards' members, so
    those shards are redone and a shard file beyond the new count is removed; the result is a fresh run's."""
    out = tmp_path / "out"
    run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4", "--engine", "serial")
    (image_folder / "cat" / "img0.jpg").unlink()
    again = run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4", "--engine", "serial")
    fresh = tmp_path / "fresh"
    run(image_folder, fresh, "--output-format", "webdataset", "--shard-size", "4", "--engine", "serial")
    assert again["sources_removed"] == 1
    assert shards(out, ".tar") == shards(fresh, ".tar") and len(shards(out, ".tar")) == 4
    assert manifest(out) == manifest(fresh)
    Image.new("RGB", (20, 20), "red").save(image_folder / "cat" / "aaa.png")  # sorts first: every shard moves
    run(image_folder, out, "--output-format", "webdataset", "--shard-size", "4", "--engine", "serial")
    fresh2 = tmp_path / "fresh2"
    run(image_folder, fresh2, "--output-format", "webdataset", "--shard-size", "4", "--engine", "serial")
    assert shards(out, ".tar") == shards(fresh2, ".tar") and manifest(out) == manifest(fresh2)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 12), st.lists(st.integers(1, 5), min_size=1, max_size=12), st.integers(1, 6))
def test_a_parquet_shard_does_not_depend_on_how_its_samples_were_handed_in(n, cuts, group):
    import io

    samples = [shard_io.Sample(f"c/{i}.jpg", data=bytes([i]) * (i + 1),
                               meta={"source": f"c/{i}.jpg", "copy": i, "seed": i * 7, "label": "c"})
               for i in range(n)]

    def write(pieces):
        buf = io.BytesIO()
        writer = shard_io.ParquetShardWriter(buf, rows_per_group=group)
        for piece in pieces:
            writer.write(piece)
        writer.close()
        return buf.getvalue()

    pieces, i = [], 0
    for c in cuts * (n + 1):
        if i >= n:
            break
        pieces.append(samples[i:i + c])
        i += c
    assert write(pieces) == write([samples])
    table = pq.read_table(io.BytesIO(write([samples])))
    assert table.column("output").to_pylist() == [s.output for s in samples]


def test_shards_to_a_url_output_are_uploaded_whole_and_equal_the_folder_ones(image_folder, tmp_path, monkeypatch):
    import fsspec

    from augment.run.expander import RunOptions, expand

    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))
    pipe = augment.load_pipeline(SPEC)
    pipe = augment.Pipeline(pipe.spec.model_copy(update={"copies": 2}))
    url = f"memory://shards-{tmp_path.name}"
    expand(pipe, RunOptions(input=image_folder, output=url, include_originals=True, engine="serial",
                            output_format="webdataset", shard_size=7, chunk_size=1))
    _expand_in_parts(image_folder, tmp_path / "local", "webdataset", "serial", part_size=1)
    fs = fsspec.filesystem("memory")
    names = sorted(p.rsplit("/", 1)[1] for p in fs.ls(url, detail=False) if p.endswith(".tar"))
    assert names == sorted(shards(tmp_path / "local", ".tar"))
    for name in names:
        assert fs.cat(f"{url}/{name}") == (tmp_path / "local" / name).read_bytes()
    assert not list((tmp_path / "cache").rglob("*.augment-tmp"))  # the staged shard files went with the upload
