"""Segmentation masks found by what they are (a gray or palette PNG named like an image), wherever the labelling
tool put them: every mask is carried beside its image, moved with it, in the tool's own layout; an image without a
mask is kept (every pixel ignored, counted); ambiguous pairings stop in one line naming the files and --format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import cli, flip_spec

H, W = 12, 16


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (H, W, 3), np.uint8)).save(path)


def _mask(path: Path, seed: int, mode: str = "P") -> None:
    """Class 1 on the left part (its width from ``seed``), so a horizontal flip moves it to the right."""
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((H, W), np.uint8)
    m[2:9, 1:4 + seed % 5] = 1
    m[0, :] = 2
    img = Image.frombytes(mode, (W, H), m.tobytes())
    if mode == "P":
        img.putpalette([0, 0, 0, 200, 50, 50, 50, 200, 50] + [0, 0, 0] * 253)
    img.save(path)


# layout name -> (image paths, mask paths, files ignored): as the tools write them
LAYOUTS = {
    "images_masks": (["images/a.jpg", "images/b.jpg"], ["masks/a.png", "masks/b.png"], []),
    "ultralytics_like_splits": (["images/train/a.jpg", "images/val/b.jpg"],
                                ["labels/train/a.png", "labels/val/b.png"], []),
    "voc_devkit": (["JPEGImages/a.jpg", "JPEGImages/b.jpg"], ["SegmentationClass/a.png", "SegmentationClass/b.png"],
                   ["SegmentationObject/a.png", "SegmentationObject/b.png"]),
    "cvat_segmentation_mask_1_1": (["default/JPEGImages/a.jpg", "default/JPEGImages/b.jpg"],
                                   ["default/SegmentationClass/a.png", "default/SegmentationClass/b.png"], []),
    "roboflow_semantic": (["train/a.jpg", "valid/b.jpg"], ["train/a_mask.png", "valid/b_mask.png"], []),
    "labelme2voc": (["JPEGImages/a.jpg", "JPEGImages/b.jpg"],
                    ["SegmentationClassPNG/a.png", "SegmentationClassPNG/b.png"],
                    ["SegmentationClassVisualization/a.jpg", "SegmentationClassVisualization/b.jpg"]),
    "label_suffix_side_by_side": (["a.png", "b.png"], ["a_label.png", "b_label.png"], []),
    "gray_mask_other_folder_names": (["pics/a.jpg", "pics/b.jpg"], ["truthish/a.png", "truthish/b.png"], []),
}


def _build(root: Path, name: str) -> tuple[list[str], list[str]]:
    images, masks, extra = LAYOUTS[name]
    for i, rel in enumerate(images):
        _image(root / rel, i)
    for i, rel in enumerate(masks):
        _mask(root / rel, i, mode="L" if "truthish" in rel else "P")
    for i, rel in enumerate(extra):
        (_mask if rel.endswith(".png") else _image)(root / rel, 7 + i)
    if name == "cvat_segmentation_mask_1_1":
        (root / "default" / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n")
    return images, masks


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_mask_layout_is_detected_by_content(tmp_path, name):
    from augment.io.annotations import describe_layout, detect
    from augment.io.annotations.layouts import pair

    images, masks = _build(tmp_path, name)
    report = describe_layout(tmp_path)
    assert report.format == "masks" and report.error is None, report
    assert report.images == report.annotated_images == len(images) and report.problems == []
    assert {i["path"] for i in report.ignored} >= set(LAYOUTS[name][2])
    assert [(it.image, it.annotation) for it in pair(tmp_path, detect(tmp_path)).items] == list(zip(images, masks))


def test_every_mask_of_every_layout_moves_with_its_image(tmp_path):
    """One run over all the layouts side by side (pairing is per file, so they do not mix): each mask is written
    beside its image's copy, named as the tool names it, flipped with it, in its own mode."""
    src = tmp_path / "in"
    pairs = []
    for name in LAYOUTS:
        images, masks = _build(src / name, name)
        pairs += [(f"{name}/{i}", f"{name}/{m}") for i, m in zip(images, masks)]
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q", "--include-originals")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["errors"] == 0 and summary["items"] == len(pairs), summary
    out = tmp_path / "out"
    for image, mask in pairs:
        src_mask = np.asarray(Image.open(src / mask))
        assert np.array_equal(np.asarray(Image.open(out / mask)), src_mask)  # the original, where it was
        stem, ext = image.rsplit(".", 1)
        m_stem = mask[:-4]
        tail = m_stem.rsplit("/", 1)[-1][len(stem.rsplit("/", 1)[-1]):]  # "_label" for a_label.png, else ""
        aug_mask = out / f"{m_stem[:len(m_stem) - len(tail)]}__aug0{tail}.png"
        assert (out / f"{stem}__aug0.{ext}").is_file() and aug_mask.is_file(), aug_mask
        assert np.array_equal(np.asarray(Image.open(aug_mask)), src_mask[:, ::-1])  # moved with the image
        assert Image.open(aug_mask).mode == Image.open(src / mask).mode
    for name, (_, _, extra) in LAYOUTS.items():  # instance masks, visualisations: not items
        assert not [rel for rel in extra if (out / name / rel.replace(".", "__aug0.")).exists()]


def test_an_image_without_its_mask_is_kept_with_every_pixel_ignored(tmp_path):
    src = tmp_path / "in"
    _build(src, "roboflow_semantic")
    _image(src / "train" / "c.jpg", 5)
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "--workers", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 3
    written = np.asarray(Image.open(tmp_path / "out" / "train" / "c__aug0_mask.png"))
    assert written.shape == (H, W) and (written == 255).all()
    recs = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert [r["repairs"] for r in recs if r["source"] == "train/c.jpg"] == [{"no_mask_file_all_ignored": 1}]


def test_gray_pictures_in_class_folders_are_not_masks(tmp_path):
    from augment.io.annotations import describe_layout

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):  # same names in both classes, gray, same size: photographs, not class indices
        for stem in ("1", "2"):
            (tmp_path / cls).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (H, W), np.uint8)).save(tmp_path / cls / f"{stem}.png")
    _image(tmp_path / "bird" / "1.jpg", 3)
    assert describe_layout(tmp_path).format == "classification"


@pytest.mark.parametrize("case", ["two_semantic_masks", "mask_and_boxes"])
def test_ambiguous_masks_stop_in_one_line_naming_the_files_and_the_format(tmp_path, case):
    src = tmp_path / "in"
    _build(src, "images_masks")
    if case == "two_semantic_masks":
        _mask(src / "images" / "a_mask.png", 1)
        expected = ["images/a.jpg", "images/a_mask.png", "masks/a.png", "--format"]
    else:  # a VOC devkit with both its XML boxes and its masks: the user chooses which to augment
        (src / "Annotations").mkdir()
        for stem in "ab":
            (src / "Annotations" / f"{stem}.xml").write_text(
                f"<annotation><filename>{stem}.jpg</filename><size><width>{W}</width><height>{H}</height>"
                "</size></annotation>")
        expected = ["masks", "voc", "--format"]
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "-q")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert all(word in r.stderr for word in expected), r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()
    if case == "mask_and_boxes":
        forced = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "-q", "--workers", "1", "--format", "masks")
        assert forced.returncode == 0, forced.stderr
        assert (tmp_path / "out" / "masks" / "a__aug0.png").is_file()


def test_colour_png_where_masks_would_be_is_refused_not_read_as_images(tmp_path):
    src = tmp_path / "in"
    _image(src / "images" / "a.jpg", 0)
    _image(src / "masks" / "a.png", 1)  # RGB: colour-coded classes, not indices
    r = cli("run", flip_spec(tmp_path), src, tmp_path / "out", "-q")
    assert r.returncode == 6 and "masks/a.png" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_an_unreadable_mask_named_as_one_is_its_images_error_not_an_image(tmp_path):
    import struct
    import zlib

    from augment.io.annotations import detect, describe_layout
    from augment.io.annotations.layouts import pair

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    _build(tmp_path, "images_masks")
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    (tmp_path / "masks" / "a.png").write_bytes(bomb)  # a decompression bomb's header: never decoded
    assert [(it.image, it.annotation) for it in pair(tmp_path, detect(tmp_path)).items] == \
        [("images/a.jpg", "masks/a.png"), ("images/b.jpg", "masks/b.png")]
    assert describe_layout(tmp_path).images == 2
