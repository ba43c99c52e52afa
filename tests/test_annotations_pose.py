"""YOLO pose rows (``class cx cy w h px py [v] ...`` with ``kpt_shape`` and ``flip_idx`` in data.yaml): read, moved
with the image on both backends, written back in the same layout (invisible keypoints as ``0 0 0``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from augment.compile.pipeline import Pipeline
from augment.compile.targets import Targets
from augment.io.annotations import Layout, yolo
from augment.io.annotations.base import AnnotationError
from augment.spec import parse_spec

REPO = Path(__file__).resolve().parents[1]
H, W = 96, 128
BOX = (30.0, 20.0, 100.0, 80.0)
KPS = [(40.5, 30.5, 2), (80.5, 60.5, 1), (0, 0, 0)]  # the third is unlabelled
MARKER = {0: 255, 1: 160}  # channel 1 intensity of each labelled keypoint's marker


def cli(*args):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def pose_row(box, kps, hw=(H, W), dims=3) -> str:
    h, w = hw
    x0, y0, x1, y1 = box
    fields = ["0"] + [f"{v:.6f}" for v in ((x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h)]
    for x, y, v in kps:
        fields += (["0", "0", "0"][:dims] if v == 0 else [f"{x / w:.6f}", f"{y / h:.6f}"] + ([str(v)] if dims == 3 else []))
    return " ".join(fields)


def image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    x0, y0, x1, y1 = (int(v) for v in BOX)
    img[y0:y1, x0:x1, 2] = 120
    for i, (x, y, v) in enumerate(KPS):
        if v:
            img[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2, 1] = MARKER[i]
    return img


def dataset(root: Path, dims=3, flip_idx=(1, 0, 2), extra_yaml="") -> Path:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.fromarray(image()).save(root / "images" / "train" / "a.png")
    (root / "labels" / "train" / "a.txt").write_text(pose_row(BOX, KPS, dims=dims) + "\n")
    flip = f"flip_idx: {list(flip_idx)}\n" if flip_idx is not None else ""
    (root / "data.yaml").write_text(f"names: [person]\nkpt_shape: [3, {dims}]\n{flip}{extra_yaml}")
    return root


def spec_file(tmp_path: Path, steps, backend="albumentations") -> Path:
    path = tmp_path / f"spec-{backend}.json"
    path.write_text(json.dumps({"name": "p", "modality": "image", "backend": backend, "seed": 5, "copies": 1,
                                "steps": steps}))
    return path


def parse_row(text: str, hw=(H, W), dims=3):
    vals = [float(v) for v in text.split()[1:]]
    h, w = hw
    cx, cy, bw, bh = np.array(vals[:4]) * [w, h, w, h]
    box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    kps = np.array(vals[4:]).reshape(-1, dims)
    return box, [(x * w, y * h, v if dims == 3 else (0 if x == y == 0 else 2)) for x, y, *rest in kps
                 for v in ([rest[0]] if rest else [None])]


def layout(dims=3, flip=(1, 0, 2)):
    return Layout("yolo", "", "labels", class_names=("person",), kpt_shape=(3, dims), flip_idx=flip)


@pytest.mark.parametrize("dims", [3, 2])
def test_pose_rows_round_trip_byte_for_byte(dims):
    data = (pose_row(BOX, KPS, dims=dims) + "\n" + pose_row((5, 6, 20, 30), [(10, 10, 2), (0, 0, 0), (15, 25, 2)],
                                                             dims=dims) + "\n").encode()
    targets, repairs = yolo.read(data, layout(dims), (H, W), "a.txt")
    assert targets.keypoints.shape == (2, 3, 3) and targets.keypoint_flip == (1, 0, 2) and not repairs.counts
    assert targets.keypoints[0, 0].tolist() == pytest.approx([40.5, 30.5, 2.0], abs=1e-3)
    assert targets.keypoints[0, 2].tolist() == [0.0, 0.0, 0.0]
    assert yolo.encode(targets, (H, W), (3, dims)) == data


@pytest.mark.parametrize("bad, message", [
    ("0 0.5 0.5 0.2 0.2 0.1 0.1 2", "pose row needs 4 box numbers and 3 keypoints"),
    ("0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.2 0.2 7 0 0 0", "visibility must be 0, 1 or 2"),
])
def test_malformed_pose_rows_are_item_errors(bad, message):
    with pytest.raises(AnnotationError, match=message):
        yolo.read(bad.encode(), layout(), (H, W), "a.txt")


@pytest.mark.parametrize("doc, message", [
    ({"kpt_shape": [3]}, "kpt_shape must be"),
    ({"kpt_shape": [3, 4]}, "kpt_shape must be"),
    ({"kpt_shape": [3, 3], "flip_idx": [0, 0, 1]}, "flip_idx must list each"),
    ({"flip_idx": [0]}, "flip_idx needs kpt_shape"),
])
def test_malformed_data_yaml_pose_fields_are_refused(doc, message):
    with pytest.raises(AnnotationError, match=message):
        yolo.read_pose_fields(doc, "data.yaml")


@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
def test_horizontal_flip_mirrors_keypoints_and_swaps_them_by_flip_idx(backend, tmp_path):
    src = dataset(tmp_path / "in")
    out = tmp_path / "out"
    r = cli("run", spec_file(tmp_path, [{"op": "horizontal_flip"}], backend), src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    box, kps = parse_row((out / "labels" / "train" / "a__aug0.txt").read_text())
    assert box == pytest.approx([W - BOX[2], BOX[1], W - BOX[0], BOX[3]], abs=1e-3)
    # keypoint 0 of the output is the mirrored keypoint 1 (flip_idx [1, 0, 2]), with its visibility
    assert kps[0] == pytest.approx((W - KPS[1][0], KPS[1][1], 1), abs=1e-3)
    assert kps[1] == pytest.approx((W - KPS[0][0], KPS[0][1], 2), abs=1e-3)
    assert kps[2] == (0, 0, 0)
    assert (out / "labels" / "train" / "a__aug0.txt").read_text().split()[-3:] == ["0", "0", "0"]
    img = np.asarray(Image.open(out / "images" / "train" / "a__aug0.png"))
    assert img[int(kps[0][1]), int(kps[0][0]), 1] == MARKER[1] and img[int(kps[1][1]), int(kps[1][0]), 1] == MARKER[0]
    assert (out / "data.yaml").read_bytes() == (src / "data.yaml").read_bytes()


def test_spec_flip_pairs_win_over_flip_idx_and_vertical_flips_swap_nothing():
    kp = np.array([[[10.5, 10.5, 2], [20.5, 20.5, 2], [30.5, 30.5, 2]]])
    t = Targets(boxes=[[5, 5, 40, 40]], labels=["p"], keypoints=kp, keypoint_flip=(1, 0, 2))

    def run(steps):
        pipe = Pipeline(parse_spec({"name": "t", "modality": "image", "steps": steps}))
        return pipe.run_targets(np.zeros((H, W, 3), np.uint8), t, seed=0)[1].keypoints[0]

    assert run([{"op": "horizontal_flip"}])[:, 0].tolist() == [W - 20.5, W - 10.5, W - 30.5]
    assert run([{"op": "horizontal_flip", "params": {"flip_pairs": [[0, 2]]}}])[:, 0].tolist() == [W - 30.5, W - 20.5,
                                                                                                   W - 10.5]
    assert run([{"op": "vertical_flip"}])[:, 0].tolist() == [10.5, 20.5, 30.5]


@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
@pytest.mark.parametrize("op, params", [("rotate", {"degrees": 20}), ("zoom", {"scale": 0.85}),
                                        ("affine", {"degrees": 8, "translate": 0.05, "scale": 0.9})])
def test_keypoints_sit_on_their_markers_after_geometric_ops(backend, op, params):
    targets, _ = yolo.read((pose_row(BOX, KPS) + "\n").encode(), layout(), (H, W), "a.txt")
    pipe = Pipeline(parse_spec({"name": "t", "modality": "image", "backend": backend, "steps": [
        {"op": op, "params": params}]}))
    out, moved, _, _ = pipe.run_targets(image(), targets, seed=1)
    _, kps = parse_row(yolo.encode(moved, out.shape[:2], (3, 3)).decode(), out.shape[:2])
    img = out.astype(int)
    for i in (0, 1):
        x, y, v = kps[i]
        assert v == KPS[i][2]
        ys, xs = np.nonzero(np.abs(img[:, :, 1] - MARKER[i]) < 40)  # the marker (3x3 block), resampled
        near = (np.abs(xs + 0.5 - x) < 4) & (np.abs(ys + 0.5 - y) < 4)
        cx, cy = xs[near].mean() + 0.5, ys[near].mean() + 0.5
        assert abs(cx - x) <= 1.5 and abs(cy - y) <= 1.5, (i, (x, y), (cx, cy))
    assert kps[2] == (0, 0, 0)


def test_a_keypoint_leaving_the_image_is_written_as_zeros_and_the_row_keeps_its_layout(tmp_path):
    src = dataset(tmp_path / "in", dims=2)
    out = tmp_path / "out"
    # zoom in 3x about the centre: (40.5, 30.5) leaves the frame, (80.5, 60.5) stays
    r = cli("run", spec_file(tmp_path, [{"op": "zoom", "params": {"scale": 3.0}}]), src, out, "--workers", "1")
    assert r.returncode == 0, r.stderr
    row = (out / "labels" / "train" / "a__aug0.txt").read_text().split()
    assert len(row) == 1 + 4 + 3 * 2 and row[5:7] == ["0", "0"] and row[9:11] == ["0", "0"]
    x, y = float(row[7]) * W, float(row[8]) * H
    assert (x, y) == pytest.approx(((80.5 - W / 2) * 3 + W / 2, (60.5 - H / 2) * 3 + H / 2), abs=0.05)


def test_bad_pose_data_yaml_stops_the_run_and_bad_rows_are_item_errors(tmp_path):
    src = dataset(tmp_path / "in", flip_idx=(0, 0, 1))
    r = cli("run", spec_file(tmp_path, [{"op": "horizontal_flip"}]), src, tmp_path / "out")
    assert r.returncode == 1 and "flip_idx must list each" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    src2 = dataset(tmp_path / "in2")
    (src2 / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 0.1 0.1\n")
    Image.fromarray(image()).save(src2 / "images" / "train" / "b.png")
    (src2 / "labels" / "train" / "b.txt").write_text(pose_row(BOX, KPS) + "\n")
    r = cli("run", spec_file(tmp_path, [{"op": "horizontal_flip"}]), src2, tmp_path / "out2")
    assert r.returncode == 0, r.stderr
    errors = [json.loads(x) for x in (tmp_path / "out2" / "errors.jsonl").read_text().splitlines()]
    assert [e["source"] for e in errors] == ["images/train/a.png"] and "pose row needs" in errors[0]["error"]
    assert (tmp_path / "out2" / "labels" / "train" / "b__aug0.txt").is_file()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.sampled_from([0, 1, 2])), min_size=3,
                max_size=3), st.floats(-45, 45), st.floats(0.6, 1.6))
def test_every_written_pose_row_is_well_formed_after_random_affines(kps, degrees, scale):
    """Property: whatever the op draws, a row keeps its K keypoints, visible ones lie inside the image, and
    invisible ones are exactly zeros."""
    pts = [(x * W, y * H, v) for x, y, v in kps]
    data = (pose_row(BOX, pts) + "\n").encode()
    t, _ = yolo.read(data, layout(), (H, W), "a.txt")
    pipe = Pipeline(parse_spec({"name": "t", "modality": "image", "steps": [
        {"op": "affine", "params": {"degrees": [degrees, degrees], "scale": [scale, scale]}}]}))
    img, moved, _, _ = pipe.run_targets(np.zeros((H, W, 3), np.uint8), t, seed=0)
    text = yolo.encode(moved, img.shape[:2], (3, 3)).decode()
    for line in text.splitlines():
        f = line.split()
        assert len(f) == 1 + 4 + 9
        for x, y, v in np.array(f[5:], dtype=float).reshape(3, 3):
            assert v in (0, 1, 2)
            if v == 0:
                assert x == y == 0
            else:
                assert 0 <= x <= 1 and 0 <= y <= 1
