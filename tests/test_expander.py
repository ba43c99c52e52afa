"""The dataset expander through the real CLI and real processes."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PIPELINES, REPO

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"


def augment_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != "run.json"}


def manifest(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


def test_expands_an_image_folder_in_the_same_layout(image_folder, tmp_path):
    out = tmp_path / "out"
    proc = augment_cli("run", FLIP_ZOOM, image_folder, out, "--copies", "2", "--workers", "2")
    summary = json.loads(proc.stdout)
    assert summary["status"] == "complete" and summary["written"] == 16 and summary["errors"] == 0
    assert sorted(p.name for p in (out / "cat").iterdir()) == sorted(
        f"{stem}__aug{k}{ext}" for stem, ext in [("img0", ".jpg"), ("img1", ".jpg"), ("img2", ".jpg"), ("gray", ".png")]
        for k in range(2))
    gray_out = Image.open(out / "cat" / "gray__aug0.png")
    assert gray_out.mode == "L" and gray_out.format == "PNG"
    assert Image.open(out / "dog" / "img1__aug1.jpg").format == "JPEG"
    recs = manifest(out)
    assert len(recs) == 16
    rec = next(r for r in recs if r["output"] == "cat/img0__aug1.jpg")
    assert rec["source"] == "cat/img0.jpg" and rec["copy"] == 1 and rec["pipeline_hash"]
    assert isinstance(rec["seed"], int) and all({"op", "path", "params"} <= set(op) for op in rec["ops"])
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["counts"]["outputs_in_manifest"] == 16
    assert run["versions"]["albumentations"].startswith("2.0") and run["spec"]["name"] == "flip-zoom-noise"


@pytest.mark.parametrize("modality", ["image", "text"])
def test_a_resume_with_more_copies_gives_the_fresh_runs_manifest(image_folder, tmp_path, modality):
    # records written before the resume carried the hash of the spec with the old copies: the manifest depended on
    # the run's history, though copies decide no output's bytes
    from augment.compile.pipeline import Pipeline
    from augment.run.expander import RunOptions, expand
    from augment.spec import load_spec

    if modality == "text":
        source = tmp_path / "texts.tsv"
        source.write_text("".join(f"{i % 2}\tthe quick brown fox number {i} jumps over the lazy dog\n" for i in range(6)))
        spec = load_spec(PIPELINES / "eda.yaml")
    else:
        source, spec = image_folder, load_spec(FLIP_ZOOM)

    def run(out, copies):
        return expand(Pipeline(spec.with_overrides(copies=copies)), RunOptions(input=source, output=out, engine="serial"))

    run(tmp_path / "resumed", 1)
    run(tmp_path / "resumed", 3)
    run(tmp_path / "fresh", 3)
    resumed, fresh = manifest(tmp_path / "resumed"), manifest(tmp_path / "fresh")
    assert sorted(map(json.dumps, resumed)) == sorted(map(json.dumps, fresh))
    assert len({r["pipeline_hash"] for r in resumed}) == 1


def test_same_seed_gives_identical_bytes_whatever_the_workers_or_engine(digits_folder, tmp_path):
    outs = {}
    for name, extra in [("w1", ["--workers", "1"]), ("w2", ["--workers", "2"]), ("serial", ["--engine", "serial"])]:
        outs[name] = tmp_path / name
        augment_cli("run", FLIP_ZOOM, digits_folder, outs[name], *extra)
    reference = tree_bytes(outs["w1"])
    assert len([k for k in reference if "__aug" in k]) == 3 * 200
    assert tree_bytes(outs["w2"]) == reference
    assert tree_bytes(outs["serial"]) == reference


def test_seed_depends_on_identity_not_on_the_other_files(image_folder, tmp_path):
    full = tmp_path / "full"
    augment_cli("run", FLIP_ZOOM, image_folder, full, "--engine", "serial")
    (image_folder / "dog" / "img0.jpg").unlink()
    part = tmp_path / "part"
    augment_cli("run", FLIP_ZOOM, image_folder, part, "--engine", "serial")
    for name in ("cat/img2__aug1.jpg", "dog/img2__aug0.jpg"):
        assert (full / name).read_bytes() == (part / name).read_bytes()


def test_seed_override_changes_outputs_and_include_originals_copies_sources(image_folder, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    augment_cli("run", FLIP_ZOOM, image_folder, a, "--engine", "serial", "--include-originals")
    augment_cli("run", FLIP_ZOOM, image_folder, b, "--engine", "serial", "--seed", "99")
    assert (a / "cat" / "img0.jpg").read_bytes() == (image_folder / "cat" / "img0.jpg").read_bytes()
    assert not (b / "cat" / "img0.jpg").exists()
    differ = sum((a / p).read_bytes() != (b / p).read_bytes() for p in ["cat/img0__aug0.jpg", "cat/img1__aug0.jpg",
                                                                           "dog/img0__aug0.jpg", "dog/img1__aug2.jpg"])
    assert differ >= 3
    originals = [r for r in manifest(a) if r["copy"] is None]
    assert len(originals) == 8 and all(r["ops"] == [] for r in originals)


def test_replay_reproduces_every_output_byte_for_byte(image_folder, tmp_path):
    out = tmp_path / "out"
    augment_cli("run", PIPELINES / "photometric.yaml", image_folder, out, "--engine", "serial")
    from augment.replay import replay_output

    records = manifest(out)
    for rec in records:  # in-process: one CLI start per record would dominate the test's time
        result = replay_output(out, rec["output"])
        assert result.identical and result.data == (out / rec["output"]).read_bytes()
    proc = augment_cli("replay", out, records[0]["output"], "--to", tmp_path / "again.bin")
    assert json.loads(proc.stdout)["identical"] is True
    assert (tmp_path / "again.bin").read_bytes() == (out / records[0]["output"]).read_bytes()


def test_rerun_resumes_and_a_different_spec_is_refused(image_folder, tmp_path):
    out = tmp_path / "out"
    augment_cli("run", FLIP_ZOOM, image_folder, out, "--engine", "serial")
    before = tree_bytes(out)
    (out / "cat" / "img1__aug2.jpg").unlink()
    summary = json.loads(augment_cli("run", FLIP_ZOOM, image_folder, out, "--engine", "serial").stdout)
    assert summary["written"] == 1 and summary["resumed_skipped"] == 23
    assert tree_bytes(out) == before
    refused = augment_cli("run", FLIP_ZOOM, image_folder, out, "--seed", "5", check=False)
    assert refused.returncode == 1 and "--overwrite" in refused.stderr and refused.stderr.count("\n") == 1
    augment_cli("run", FLIP_ZOOM, image_folder, out, "--seed", "5", "--overwrite", "--engine", "serial")
    assert tree_bytes(out) != before and len(manifest(out)) == 24


@pytest.mark.parametrize("args, message", [
    (["run", FLIP_ZOOM, "/nonexistent/folder", "OUT"], "does not exist"),
    (["run", PIPELINES / "nope.yaml", ".", "OUT"], "cannot read spec"),
    (["validate", "NOT_YAML"], "invalid YAML: line 2"),
])
def test_unusable_input_is_one_line_and_non_zero(args, message, tmp_path):
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = x\nversion: 1\n")  # an INI file given as a spec
    args = [tmp_path / "o" if a == "OUT" else tmp_path / "setup.cfg" if a == "NOT_YAML" else a for a in args]
    proc = augment_cli(*args, check=False)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr


def test_empty_folder_and_output_inside_input(tmp_path, image_folder):
    (tmp_path / "empty").mkdir()
    proc = augment_cli("run", FLIP_ZOOM, tmp_path / "empty", tmp_path / "o", check=False)
    assert proc.returncode == 1 and "no images found" in proc.stderr
    inside = image_folder / "augmented"
    augment_cli("run", FLIP_ZOOM, image_folder, inside, "--engine", "serial")
    again = json.loads(augment_cli("run", FLIP_ZOOM, image_folder, inside, "--engine", "serial").stdout)
    assert again["items"] == 8, "OUTPUT inside INPUT must not be read as input"
    proc = augment_cli("run", FLIP_ZOOM, image_folder / "cat", image_folder, check=False)
    assert proc.returncode == 1 and "contains INPUT" in proc.stderr


def test_validate_ops_and_preview(tmp_path):
    out = json.loads(augment_cli("validate", FLIP_ZOOM).stdout)
    assert out["valid"] and len(out["hash"]) == 16
    listing = json.loads(augment_cli("ops", "--modality", "image", "--json").stdout)
    zoom = next(op for op in listing if op["op"] == "zoom")
    scale = next(p for p in zoom["params"] if p["name"] == "scale")
    assert scale["default"] == [0.9, 1.1] and "range" in scale["type"]
    from augment.ops import plugins
    from augment.ops.catalog import registry
    with plugins.scoped():  # the CLI lists the installed plugins' ops too (entry points)
        plugins.load_installed()
        assert [op["op"] for op in listing] == registry().names("image")
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(img)
    augment_cli("preview", FLIP_ZOOM, img, "-o", tmp_path / "grid.png", "-n", "7")
    grid = Image.open(tmp_path / "grid.png")
    assert grid.size[0] == 4 * 160 and grid.size[1] == 2 * 174
