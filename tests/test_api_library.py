"""Library use matches the CLI: EXIF orientation, batches of images and texts, and replay of text outputs."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

import augment
from augment import ops
from augment.io.images import encode_image
from conftest import PIPELINES
from test_expander import augment_cli, manifest

SPEC = PIPELINES / "flip_zoom_noise.yaml"


def _oriented_jpeg(path, orientation: int) -> np.ndarray:
    """A 30x48 picture stored with EXIF ``orientation``; returns its stored (sensor) pixels."""
    rng = np.random.default_rng(orientation)
    arr = rng.integers(0, 256, (30, 48, 3), dtype=np.uint8)
    arr[:5, :10] = 255  # a corner marker, so a wrong rotation cannot match by symmetry
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(arr).save(path, quality=95, exif=exif.tobytes())
    return arr


def test_pil_images_are_oriented_like_the_cli_writes_them(tmp_path):
    """Every EXIF orientation: pipe(PIL image) gives the pixels the CLI writes for the same file and seed."""
    src = tmp_path / "in"
    src.mkdir()
    for o in range(1, 9):
        _oriented_jpeg(src / f"o{o}.jpg", o)
    out = tmp_path / "out"
    augment_cli("run", SPEC, src, out, "--copies", "1", "--engine", "serial")
    pipe = augment.load_pipeline(SPEC)
    for rec in manifest(out):
        with Image.open(src / rec["source"]) as img:
            lib = pipe.run(img, seed=rec["seed"])
            assert lib.applied == rec["ops"]
            assert encode_image(np.asarray(lib.output), "JPEG", 95) == (out / rec["output"]).read_bytes()
            if rec["source"] in ("o6.jpg", "o8.jpg", "o5.jpg", "o7.jpg"):  # rotated by 90 degrees
                assert lib.output.size == (30, 48)
            else:
                assert lib.output.size == (48, 30)


def test_orientation_6_comes_back_upright():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", exif=exif.tobytes())
    img = Image.open(io.BytesIO(buf.getvalue()))
    out = augment.Compose([ops.Gamma(gamma=1.0)])(img, seed=0)
    assert out.size == (20, 40)  # upright: portrait
    assert np.asarray(out)[:20].min() == 255 and np.asarray(out)[20:].max() == 0  # white on top after the turn


def test_batch_and_run_batch_work_for_images():
    pipe = augment.load_pipeline(SPEC)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(4)]
    seeds = [3, 1, 4, 1]
    outs = pipe.batch(images, seeds)
    results = pipe.run_batch(images, seeds)
    for img, s, out, res in zip(images, seeds, outs, results):
        assert np.array_equal(out, pipe(img, seed=s)) and np.array_equal(res.output, out) and res.seed == s
    with pytest.raises(ValueError, match="4 inputs but 1 seeds"):
        pipe.batch(images, [1])


def test_text_replay_from_a_result_and_from_a_manifest_record(tmp_path):
    src = tmp_path / "data.tsv"
    src.write_text("".join(f"{i % 2}\tthe quick brown fox number {i} jumps over the lazy dog again\n"
                           for i in range(6)))
    out = tmp_path / "out"
    augment_cli("run", PIPELINES / "char_noise.yaml", src, out, "--copies", "2", "--engine", "serial")
    pipe = augment.load_pipeline(PIPELINES / "char_noise.yaml")
    sources = [line.split("\t", 1)[1] for line in src.read_text().splitlines()]
    produced = [line.split("\t", 1)[1] for line in (out / "data.tsv").read_text().splitlines()]
    records = [r for r in manifest(out) if r.get("copy") is not None]
    assert len(records) == 12
    for rec in records:
        again = pipe.replay(sources[rec["row"]], rec)
        assert again in produced and again == pipe.run(sources[rec["row"]], seed=rec["seed"]).output

    texts = sources[:3]
    results = pipe.run_batch(texts, [10, 11, 12])
    assert pipe.batch(texts, [10, 11, 12]) == [r.output for r in results]
    for text, res in zip(texts, results):
        assert pipe.replay(text, res) == res.output
        assert pipe.replay(text, res.applied, seed=res.seed) == res.output
    with pytest.raises(ValueError, match="replayed from their seed: pass the AugmentResult or manifest record"):
        pipe.replay(texts[0], results[0].applied)
    other = next(s for s in range(100) if [a["path"] for a in pipe.run(texts[0], seed=s).applied]
                 != [a["path"] for a in results[0].applied])
    with pytest.raises(ValueError, match="but the record names"):
        pipe.replay(texts[0], results[0].applied, seed=other)
