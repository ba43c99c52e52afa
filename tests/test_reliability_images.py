"""Bad image inputs through the real CLI: each bad item is skipped and reported, every good item is written.

The corpus is built here, file by file. Decisions recorded by these tests (see ``augment/io/images.py``):
animated images use their first frame; the EXIF orientation is applied; colour modes are kept (RGB, RGBA, L) or
converted (palette with transparency -> RGBA, CMYK -> RGB, 16-bit gray -> 8-bit L).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from augment.io.images import ImageReadError, read_image
from conftest import REPO

FLIP_SPEC = "name: vflip\nmodality: image\nseed: 7\ncopies: 1\nsteps:\n  - op: vertical_flip\n"


def augment_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, **kw)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring width x height 8-bit gray pixels, with a tiny IDAT: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb(h=16, w=24, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def exif_rotated_jpeg() -> bytes:
    """Stored 24 wide x 12 high, top half red, bottom half blue; EXIF orientation 6 (rotate 90 degrees clockwise)."""
    arr = np.zeros((12, 24, 3), np.uint8)
    arr[:6] = (255, 0, 0)
    arr[6:] = (0, 0, 255)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", quality=95, exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [Image.fromarray(np.full((10, 14, 3), v, np.uint8)) for v in (30, 200, 120)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


# name -> (bytes, expected output mode or None for a bad item)
GOOD = {
    "ok.jpg": (lambda: encode(Image.fromarray(rgb()), "JPEG", quality=90), "RGB"),
    "cmyk.jpg": (lambda: encode(Image.fromarray(rgb()).convert("CMYK"), "JPEG", quality=90), "RGB"),
    "sixteen.png": (lambda: encode(Image.fromarray((np.arange(16 * 24, dtype=np.uint16).reshape(16, 24) * 150)
                                                   .astype(np.uint16)), "PNG"), "L"),
    "palette_trns.png": (lambda: encode(Image.fromarray(rgb()).convert("P"), "PNG", transparency=0), "RGBA"),
    "palette.png": (lambda: encode(Image.fromarray(rgb()).convert("P"), "PNG"), "RGB"),
    "gray.png": (lambda: encode(Image.fromarray(rgb()[:, :, 0]), "PNG"), "L"),
    "rgba.png": (lambda: encode(Image.fromarray(np.dstack([rgb(), rgb(seed=1)[:, :, :1]])), "PNG"), "RGBA"),
    "la.png": (lambda: encode(Image.fromarray(rgb()).convert("LA"), "PNG"), "RGBA"),
    "onebit.png": (lambda: encode(Image.fromarray(rgb()).convert("1"), "PNG"), "L"),
    "exif_rotated.jpg": (exif_rotated_jpeg, "RGB"),
    "animated.gif": (animated_gif, None),  # GIF output: written as a palette image, first frame
    "with space.png": (lambda: encode(Image.fromarray(rgb()), "PNG"), "RGB"),
    "ünïcødé 图像.png": (lambda: encode(Image.fromarray(rgb()), "PNG"), "RGB"),
    "new\nline.png": (lambda: encode(Image.fromarray(rgb()), "PNG"), "RGB"),
    "wrong_ext.png": (lambda: encode(Image.fromarray(rgb()), "JPEG"), "RGB"),  # a JPEG named .png: decoded by content
}
_good_png = encode(Image.fromarray(rgb(64, 64)), "PNG")
_good_jpg = encode(Image.fromarray(rgb(64, 64)), "JPEG", quality=90)
BAD = {
    "zero.jpg": b"",
    "truncated.jpg": _good_jpg[: len(_good_jpg) // 2],
    "truncated.png": _good_png[: len(_good_png) // 2],
    "random.jpg": np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "text.png": b"this is not an image\n" * 20,
    "bomb.png": bomb_png(),
    ".DS_Store": b"\x00\x00\x00\x01Bud1" + b"\x00" * 64,
    "README": b"a readme in a class folder\n",
}


def build_corpus(root: Path, outside: Path) -> dict:
    """Write the corpus; returns {"good": [rel paths], "bad": [rel paths]} of what the run must report."""
    cls = root / "mixed"
    cls.mkdir(parents=True)
    (root / "empty_class").mkdir()
    (root / "clean").mkdir()
    Image.fromarray(rgb(seed=9)).save(root / "clean" / "a.png")
    for name, (make, _mode) in GOOD.items():
        (cls / name).write_bytes(make())
    for name, data in BAD.items():
        (cls / name).write_bytes(data)
    os.symlink("loop_b.jpg", cls / "loop_a.jpg")
    os.symlink("loop_a.jpg", cls / "loop_b.jpg")
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.png").write_bytes(_good_png)
    os.symlink(outside / "secret.png", cls / "outside.png")
    os.mkfifo(cls / "fifo.jpg")  # reading it would block forever: must be reported, not opened
    good = ["clean/a.png"] + [f"mixed/{n}" for n in GOOD]
    # Hidden files (.DS_Store) and well-known non-data files (README) are skipped and counted apart, not reported
    # as bad items.
    bad = [f"mixed/{n}" for n in [*BAD, "loop_a.jpg", "loop_b.jpg", "outside.png", "fifo.jpg"]
           if n[0] != "." and n != "README"]
    return {"good": sorted(good), "bad": sorted(bad)}


def read_errors(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """Build the corpus and run the CLI on it once; the tests below read the result."""
    tmp = tmp_path_factory.mktemp("corpus")
    root = tmp / "in"
    expected = build_corpus(root, tmp / "elsewhere")
    spec = tmp / "vflip.yaml"
    spec.write_text(FLIP_SPEC)
    before = tree_digest(root)
    out = tmp / "out"
    proc = augment_cli("run", spec, root, out, "--engine", "serial")
    assert tree_digest(root) == before, "the run modified its input"
    return root, spec, expected, out, proc


def tree_digest(root: Path) -> dict:
    import hashlib

    digest = {}
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(files + dirs):
            p = Path(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                digest[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
            else:
                digest[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), os.readlink(p) if stat.S_ISLNK(st.st_mode) else None)
    return digest


def test_bad_images_are_reported_and_good_ones_written(corpus_run):
    root, spec, expected, out, proc = corpus_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    errors = read_errors(out)
    assert sorted(e["source"] for e in errors) == expected["bad"]
    for e in errors:
        assert e["error"] and "\n" not in e["error"] and len(e["error"]) < 300, e
    assert summary["errors"] == len(expected["bad"]) and summary["skipped_hidden"] == 1
    assert summary["skipped_non_data"] == 1  # README
    assert summary["written"] == len(expected["good"])
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["source"] for r in records) == expected["good"]
    for rec in records:
        path = out / rec["output"]
        assert path.is_file(), rec["output"]
        img = Image.open(path)
        img.load()
        _make, mode = GOOD.get(Path(rec["source"]).name, (None, "RGB"))
        if mode is not None:
            assert img.mode == mode, (rec["output"], img.mode, mode)
    assert (out / "empty_class").is_dir() and not any((out / "empty_class").iterdir())
    by_source = {e["source"]: e["error"] for e in errors}
    assert "decompression bomb" in by_source["mixed/bomb.png"]
    assert "0 bytes" in by_source["mixed/zero.jpg"]
    assert "outside INPUT" in by_source["mixed/outside.png"]
    assert "symlink" in by_source["mixed/loop_a.jpg"]
    assert "not a regular file" in by_source["mixed/fifo.jpg"]
    assert not list(out.rglob("*secret*")), "a file outside INPUT was read through a symlink"


def test_exif_orientation_and_first_gif_frame_are_applied(corpus_run):
    out = corpus_run[3]
    # stored 24x12 with red on top; orientation 6 turns it to 12 wide x 24 high with red on the right.
    # the pipeline flips vertically, which keeps left and right.
    rotated = np.asarray(Image.open(out / "mixed" / "exif_rotated__aug0.jpg").convert("RGB")).astype(int)
    assert rotated.shape[:2] == (24, 12)
    assert rotated[:, 8:, 0].mean() > 200 and rotated[:, 8:, 2].mean() < 60  # right: red
    assert rotated[:, :4, 2].mean() > 200 and rotated[:, :4, 0].mean() < 60  # left: blue
    assert "exif" not in Image.open(out / "mixed" / "exif_rotated__aug0.jpg").info or \
        Image.open(out / "mixed" / "exif_rotated__aug0.jpg").getexif().get(0x0112) in (None, 1)
    gif = Image.open(out / "mixed" / "animated__aug0.gif")
    assert getattr(gif, "n_frames", 1) == 1
    assert np.allclose(np.asarray(gif.convert("L")), 30, atol=2)  # the first frame


def test_strict_and_max_errors_budget(corpus_run, tmp_path):
    """Re-runs into a copy of the finished OUTPUT: good items are skipped as done, bad ones are retried."""
    root, spec, expected, first, _ = corpus_run
    out = tmp_path / "out"
    shutil.copytree(first, out, symlinks=True)
    n_bad = len(expected["bad"])
    strict = augment_cli("run", spec, root, out, "--engine", "serial", "--strict")
    assert strict.returncode != 0 and "items failed" in strict.stderr and "Traceback" not in strict.stderr
    summary = json.loads(strict.stdout)
    assert summary["errors"] == n_bad and summary["resumed_skipped"] == len(expected["good"])
    within = augment_cli("run", spec, root, out, "--engine", "serial", "--max-errors", n_bad)
    assert within.returncode == 0, within.stderr
    over = augment_cli("run", spec, root, out, "--engine", "serial", "--max-errors", n_bad - 1)
    assert over.returncode != 0 and f"{n_bad} items failed" in over.stderr
    assert len(read_errors(out)) == n_bad  # errors.jsonl describes the last run, not an accumulation
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(set(lines)) == len(expected["good"])


def test_decompression_bomb_is_refused_without_allocating(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(100_000, 100_000))
    decodes = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: decodes.append(im.size) or real_load(im))
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError, match="decompression bomb"):
            read_image(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert decodes == [], "the pixels of a refused image were decoded"
    assert peak < 10_000_000, f"allocated {peak} bytes for a refused image"
    # just over the limit, and absurd in one dimension only
    for w, h in [(10_001, 10_000), (2**31 - 1, 1), (1, 2**31 - 1)]:
        path.write_bytes(bomb_png(w, h))
        with pytest.raises(ImageReadError):
            read_image(path)
    assert decodes == []
    Image.new("RGB", (4, 3)).save(path)  # the counter sees a decode when there is one
    read_image(path)
    assert decodes and set(decodes) == {(4, 3)}


def test_float_image_with_nan_and_inf_decodes_to_defined_values():
    import warnings

    from augment.io.images import decode_image

    arr = np.array([[np.nan, np.inf], [-np.inf, 0.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cast of NaN to uint8 used to warn and give platform-defined bytes
        out, info = decode_image(encode(Image.fromarray(arr), "TIFF"))
    assert info.source_mode == "F" and out.dtype == np.uint8
    assert out[:, :, 0].tolist() == [[0, 255], [0, 0]]


@pytest.mark.parametrize("name, data", sorted(BAD.items()), ids=sorted(BAD))
def test_each_bad_file_gives_one_line_image_read_error(tmp_path, name, data):
    path = tmp_path / (name if "." in name.strip(".") else name + ".jpg")
    path.write_bytes(data)
    with pytest.raises(ImageReadError) as exc:
        read_image(path)
    assert str(exc.value) and "\n" not in str(exc.value)


def test_unreadable_file_is_reported(tmp_path):
    """chmod 000 stops everyone but root. As root, the CLI runs under ``setpriv`` with the capabilities that
    bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) dropped, so root is denied like anyone."""
    root = tmp_path / "in"
    (root / "c").mkdir(parents=True)
    Image.fromarray(rgb()).save(root / "c" / "ok.png")
    Image.fromarray(rgb()).save(root / "c" / "locked.png")
    (tmp_path / "spec.yaml").write_text(FLIP_SPEC)
    os.chmod(root / "c" / "locked.png", 0o000)
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root (reads ignore chmod 000) and setpriv is not installed to drop CAP_DAC_*")
        prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        proc = subprocess.run([*prefix, sys.executable, "-m", "augment.cli", "run", str(tmp_path / "spec.yaml"),
                               str(root), str(tmp_path / "out"), "--engine", "serial"],
                              capture_output=True, text=True, cwd=REPO, timeout=300)
        assert proc.returncode == 0, proc.stderr
        errors = read_errors(tmp_path / "out")
        assert errors == [{"source": "c/locked.png", "error": "permission denied"}]
        assert (tmp_path / "out" / "c" / "ok__aug0.png").is_file()
    finally:
        os.chmod(root / "c" / "locked.png", 0o644)


# -- confinement ---------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from augment.io.paths import UnsafePathError, confined, safe_relative  # noqa: E402


@pytest.mark.parametrize("rel", [
    "..", "../x.png", "a/../../x.png", "a/b/../../../x", "/etc/passwd", "//server/share", "\\\\server\\share",
    "C:\\x.png", "c:x", "a\x00b.png", "\x00", "", ".", "./", "../", "a/..",
])
def test_confined_refuses_paths_that_leave_the_output(tmp_path, rel):
    with pytest.raises(UnsafePathError):
        confined(tmp_path, rel)


def test_confined_refuses_a_symlink_inside_output_that_points_outside(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "cls")
    with pytest.raises(UnsafePathError, match="outside"):
        confined(out, "cls/x.png")
    os.symlink("..", out / "up")
    with pytest.raises(UnsafePathError):
        confined(out, "up/x.png")
    (out / "real").mkdir()
    assert confined(out, "real/ok.png") == out / "real" / "ok.png"
    assert confined(out, "real//ok.png") == confined(out, "real/./ok.png") == out / "real" / "ok.png"


@settings(max_examples=200, deadline=None)
@given(rel=st.one_of(st.text(max_size=30), st.lists(st.sampled_from(["..", ".", "", "a", "b c", "/", "\x00", "é",
                                                                     "\\", "C:", "~"]), max_size=6).map("/".join)))
def test_confined_never_returns_a_path_outside_the_root(tmp_path_factory, rel):
    root = tmp_path_factory.getbasetemp() / "confine-root"
    root.mkdir(exist_ok=True)
    try:
        path = confined(root, rel)
    except UnsafePathError:
        return
    real_root = os.path.realpath(root)
    resolved = os.path.normpath(os.path.join(real_root, os.path.relpath(path, root)))
    assert os.path.commonpath([resolved, real_root]) == real_root and resolved != real_root
    assert "\x00" not in str(path) and ".." not in safe_relative(rel).parts


def _small_input(root: Path) -> None:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rgb(seed=i)).save(root / cls / f"{i}.png")


def test_output_inside_input_is_excluded_and_inputs_are_never_modified(tmp_path):
    src = tmp_path / "in"
    _small_input(src)
    spec = tmp_path / "s.yaml"
    spec.write_text(FLIP_SPEC)
    out = src / "augmented"
    before = tree_digest(src)
    for _ in range(2):  # the second run must not pick up the first run's outputs as inputs
        proc = augment_cli("run", spec, src, out, "--engine", "serial")
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["items"] == 6 and summary["errors"] == 0
    assert not list(out.rglob("*__aug0__aug0*"))
    after = {k: v for k, v in tree_digest(src).items() if not k.startswith("augmented")}
    assert after == before


def test_output_that_contains_input_or_equals_it_is_refused(tmp_path):
    outer = tmp_path / "outer"
    src = outer / "in"
    _small_input(src)
    spec = tmp_path / "s.yaml"
    spec.write_text(FLIP_SPEC)
    before = tree_digest(outer)
    for out in (outer, src):
        proc = augment_cli("run", spec, src, out, "--engine", "serial")
        assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert tree_digest(outer) == before


def test_a_symlink_planted_in_output_cannot_redirect_writes(tmp_path):
    """A class folder of OUTPUT replaced by a symlink to elsewhere: the run stops with a one-line error and
    writes nothing outside OUTPUT."""
    src = tmp_path / "in"
    _small_input(src)
    spec = tmp_path / "s.yaml"
    spec.write_text(FLIP_SPEC)
    out = tmp_path / "out"
    assert augment_cli("run", spec, src, out, "--engine", "serial").returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(out / "a")
    os.symlink(elsewhere, out / "a")
    proc = augment_cli("run", spec, src, out, "--engine", "serial")
    assert list(elsewhere.iterdir()) == [], "an output landed outside OUTPUT"
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "outside the output folder" in proc.stderr
