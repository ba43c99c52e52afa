"""Tensors in, tensors out (issue 23): every image op gives the same drawn values and pixels for numpy, torch
tensors (uint8 and float, CxHxW and HxW) and tv_tensors, and returns the caller's type, dtype and device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

import augment
from augment.compile.pipeline import ImageInputError
from augment.ops._typed_gen import _sample_params
from augment.ops.catalog import registry

IMAGE_OPS = [op for op in registry().ops("image")]


def _image(h=24, w=32, c=3, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    img[6:14, 8:20] = 220
    return img


def _pipe(op, backend="albumentations"):
    params = _sample_params(op).model_dump(mode="json")
    return augment.Pipeline(augment.parse_spec({"name": "t", "modality": "image", "backend": backend, "seed": 3,
                                                "steps": [{"op": op.name, "params": params}]}))


@pytest.mark.parametrize("op", IMAGE_OPS, ids=lambda o: o.name)
def test_every_op_same_values_and_pixels_whatever_the_input_type(op):
    pipe = _pipe(op)
    arr = _image()
    t = torch.from_numpy(arr).permute(2, 0, 1).contiguous()
    for seed in (0, 1):
        ref = pipe.run(arr, seed=seed)
        as_tensor = pipe.run(t, seed=seed)
        assert as_tensor.applied == ref.applied
        if op.name in ("normalize", "to_dtype"):  # a finishing op: float32 values out, whatever the input type
            assert as_tensor.output.dtype == torch.float32
            assert np.array_equal(as_tensor.output.permute(1, 2, 0).numpy(), ref.output)
            assert pipe.run(t.float() / 255.0, seed=seed).output.dtype == torch.float32
            continue
        assert type(as_tensor.output) is torch.Tensor and as_tensor.output.dtype == torch.uint8
        assert np.array_equal(as_tensor.output.permute(1, 2, 0).numpy(), ref.output)
        image = pipe(tv_tensors.Image(t), seed=seed)
        assert type(image) is tv_tensors.Image and torch.equal(image.as_subclass(torch.Tensor), as_tensor.output)
        as_float = pipe.run(t.float() / 255.0, seed=seed)
        assert as_float.applied == ref.applied and as_float.output.dtype == torch.float32
        assert torch.equal((as_float.output * 255).round().to(torch.uint8), as_tensor.output)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_dtype_device_and_shape_round_trip(dtype):
    pipe = augment.Compose([augment.ops.Rotate(degrees=(-20, 20)), augment.ops.Gamma()], seed=1)
    t = torch.from_numpy(_image()).permute(2, 0, 1)
    t = t if dtype == torch.uint8 else t.to(dtype) / 255.0
    out = pipe(t, seed=4)
    assert out.dtype == dtype and out.device == t.device and out.shape == t.shape
    gray = pipe(t[0], seed=4)  # HxW stays HxW
    assert gray.shape == t.shape[1:] and gray.dtype == dtype
    assert torch.equal(pipe.replay(t, pipe.run(t, seed=4)), out)


def test_video_frames_share_one_draw():
    pipe = augment.Compose([augment.ops.Affine(degrees=(-30, 30)), augment.ops.BrightnessContrast()], seed=2)
    frames = torch.stack([torch.from_numpy(_image(seed=i)).permute(2, 0, 1) for i in range(3)])
    out = pipe(tv_tensors.Video(frames), seed=9)
    assert type(out) is tv_tensors.Video and out.shape == frames.shape
    applied = pipe.run(frames[0], seed=9).applied
    for i in range(3):
        assert torch.equal(out[i].as_subclass(torch.Tensor), pipe.replay(frames[i], applied))


@pytest.mark.parametrize("fmt", ["XYXY", "XYWH", "CXCYWH"])
def test_structured_tv_tensors_inputs_come_back_in_their_structure(fmt):
    pipe = augment.Compose([augment.ops.HorizontalFlip(), augment.ops.Rotate(degrees=(10, 10))], seed=0)
    arr = _image()
    xyxy = np.array([[4.0, 5.0, 14.0, 15.0], [20.0, 2.0, 30.0, 12.0]])
    conv = {"XYXY": xyxy, "XYWH": np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]],
            "CXCYWH": np.c_[(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]]}[fmt]
    boxes = tv_tensors.BoundingBoxes(torch.as_tensor(conv, dtype=torch.float32), format=fmt, canvas_size=(24, 32))
    mask = tv_tensors.Mask(torch.from_numpy((arr[:, :, 0] > 128).astype(np.uint8)))
    image = tv_tensors.Image(torch.from_numpy(arr).permute(2, 0, 1))
    ref = pipe(arr, seed=1, boxes=xyxy, masks=(arr[:, :, 0] > 128).astype(np.uint8))
    out = pipe({"image": image, "boxes": boxes, "masks": mask, "labels": torch.tensor([1, 2])}, seed=1)
    assert set(out) == {"image", "boxes", "masks", "labels"}
    assert type(out["image"]) is tv_tensors.Image and type(out["boxes"]) is tv_tensors.BoundingBoxes
    assert out["boxes"].format.name == fmt and type(out["masks"]) is tv_tensors.Mask
    assert np.array_equal(out["image"].permute(1, 2, 0).numpy(), ref["image"])
    back = augment.compile.annotated._to_xyxy(out["boxes"].numpy(), fmt)
    assert np.allclose(back, ref["boxes"], atol=1e-4)
    assert np.array_equal(out["masks"].numpy(), ref["masks"])
    as_tuple = pipe((image, boxes), seed=1)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[1], out["boxes"])


def test_tensor_input_errors_say_what_to_do():
    pipe = augment.Compose([augment.ops.HorizontalFlip()])
    with pytest.raises(ImageInputError, match="pipe.batch"):
        pipe(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ImageInputError, match=r"\[0, 1\]"):
        pipe(torch.full((3, 8, 8), 2.0))
    with pytest.raises(ImageInputError, match="uint8"):
        pipe(torch.zeros(3, 8, 8, dtype=torch.int32))
    with pytest.raises(ImageInputError, match="annotation, not an image"):
        pipe(tv_tensors.Mask(torch.zeros(8, 8, dtype=torch.uint8)))
    with pytest.raises(ImageInputError, match="no image"):
        pipe((tv_tensors.BoundingBoxes([[0, 0, 2, 2]], format="XYXY", canvas_size=(8, 8)),))


def test_typed_op_keyword_typo_says_did_you_mean():
    with pytest.raises(augment.ops.OpParamError, match="did you mean 'scale'"):
        augment.ops.Zoom(scal=(1.0, 1.2))
    assert augment.Compose([augment.ops.Zoom()], backend="torchvision").backend == "torchvision"


@pytest.mark.parametrize("backend", ["albumentations", "torchvision"])
@pytest.mark.parametrize("op", [augment.ops.Affine(degrees=(20, 20), fill=100),
                                augment.ops.Rotate(degrees=(30, 30), fill=100),
                                augment.ops.Perspective(fill=100),
                                augment.ops.Elastic(border="constant", fill=100, alpha=(200, 200))],
                         ids=["affine", "rotate", "perspective", "elastic"])
def test_constant_fill_reaches_every_channel(op, backend):
    # the albumentations backend passed a scalar fill on, which OpenCV applied to the first channel only
    for c in (3, 4):
        out = augment.Compose([op], backend=backend)(np.full((32, 40, c), 50, np.uint8), seed=1)
        filled = out[(out != 50).any(axis=2)]
        assert len(filled) and (filled == filled[:, :1]).all(), f"{c} channels: {filled[:3].tolist()}"


# --- nested torchvision samples: the image, its boxes and their per-box entries move together -----------------

def _nested_cases():
    import collections

    Sample = collections.namedtuple("Sample", "image target")
    return {
        "dict": lambda img, boxes, labels, extra: {"image": img, "boxes": boxes, "labels": labels, "note": extra},
        "image-target tuple": lambda img, boxes, labels, extra: (img, {"boxes": boxes, "labels": labels,
                                                                        "image_id": extra}),
        "namedtuple": lambda img, boxes, labels, extra: Sample(img, {"boxes": boxes, "class_labels": labels,
                                                                    "size": extra}),
        "flat tuple": lambda img, boxes, labels, extra: (img, boxes, labels),
        "list in dict": lambda img, boxes, labels, extra: {"sample": [img, {"boxes": boxes, "labels": labels}],
                                                           "meta": extra},
    }


@pytest.mark.parametrize("shape", list(_nested_cases()))
@pytest.mark.parametrize("seed", range(6))
def test_nested_samples_move_boxes_and_keep_labels_in_step(shape, seed):
    from torchvision import tv_tensors

    rng = np.random.default_rng(seed)
    h, w = 40, 48
    n = int(rng.integers(1, 6))
    xy = rng.uniform(0, [w - 4, h - 4], size=(n, 2))
    wh = rng.uniform(2, 12, size=(n, 2))
    xyxy = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
    img = tv_tensors.Image(torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)))
    boxes = tv_tensors.BoundingBoxes(torch.tensor(xyxy, dtype=torch.float32), format="XYXY", canvas_size=(h, w))
    labels = torch.arange(n) * 10 + 1  # a box's label names it: 1, 11, 21, ...
    extra = torch.tensor([h, w])
    pipe = augment.Compose([augment.ops.HorizontalFlip(p=0.5),
                            augment.ops.CenterCrop(height=24, width=28)], seed=1)  # the crop drops some boxes
    sample = _nested_cases()[shape](img, boxes, labels, extra)
    out = pipe(sample, seed=seed)
    assert type(out) is type(sample)
    flat = pipe(img, seed=seed, boxes=boxes, labels=labels)  # the flat call: the reference
    leaves = [v for _, v in augment.compile.tensors._walk(out)]
    got_img = next(v for v in leaves if isinstance(v, tv_tensors.Image))
    got_boxes = next(v for v in leaves if isinstance(v, tv_tensors.BoundingBoxes))
    assert torch.equal(got_img, flat["image"]) and torch.equal(got_boxes, flat["boxes"])
    assert got_boxes.format == boxes.format and tuple(got_boxes.canvas_size) == (24, 28)
    got_labels = next(v for v in leaves if torch.is_tensor(v) and v.ndim == 1 and v.dtype == labels.dtype
                      and not torch.equal(v, extra) and v is not extra and (len(v) != 2 or (v % 10 == 1).all()))
    assert torch.equal(got_labels, flat["labels"]) and len(got_labels) == len(got_boxes)
    if shape != "flat tuple":
        assert any(v is extra for v in leaves)  # not a per-box entry: untouched


def test_run_of_a_video_records_the_values_every_frame_got():
    from torchvision import tv_tensors

    pipe = augment.Compose([augment.ops.HorizontalFlip(p=0.5), augment.ops.Rotate()], seed=1)
    video = tv_tensors.Video(torch.randint(0, 255, (3, 3, 8, 8), dtype=torch.uint8))
    res = pipe.run(video, seed=2)
    assert isinstance(res.output, tv_tensors.Video) and torch.equal(res.output, pipe(video, seed=2))
    for t in range(3):  # each frame is the replay of the one record
        frame = video[t].as_subclass(torch.Tensor)
        assert torch.equal(pipe.replay(frame, res), res.output[t].as_subclass(torch.Tensor))
    with pytest.raises(augment.compile.ImageInputError, match="tv_tensors.Video"):
        pipe.run(torch.zeros((2, 3, 8, 8), dtype=torch.uint8))


def test_a_misspelled_batch_keyword_gets_a_suggestion():
    pipe = augment.Compose([augment.ops.HorizontalFlip()], seed=1)
    with pytest.raises(TypeError, match=r"unknown batch keyword 'seed' \(did you mean 'seeds'\?\)"):
        pipe.batch(torch.zeros((2, 3, 8, 8), dtype=torch.uint8), seed=[1, 2])


def test_an_empty_tensor_batch_comes_back_empty():
    pipe = augment.Compose([augment.ops.HorizontalFlip(), augment.ops.Rotate()], seed=0)
    empty = torch.zeros((0, 3, 8, 8), dtype=torch.uint8)
    out = pipe.batch(empty)
    assert out.shape == empty.shape and out.dtype == empty.dtype and out is not empty
    assert len(pipe.run_batch(empty)) == 0
    with pytest.raises(ValueError, match="0 images but 2 seeds"):
        pipe.batch(empty, seeds=[1, 2])


def _two_boxes():
    from torchvision import tv_tensors

    img = tv_tensors.Image(torch.zeros((3, 64, 64), dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[2.0, 2, 10, 10], [28, 28, 36, 36]]), format="XYXY",
                                     canvas_size=(64, 64))
    return img, boxes, augment.Compose([augment.ops.CenterCrop(height=20, width=20)], seed=0)  # drops box 0


def test_per_box_rows_drop_with_their_boxes_and_a_wrong_count_is_refused():
    import collections

    img, boxes, crop = _two_boxes()
    assert torch.equal(crop({"image": img, "boxes": boxes, "labels": torch.eye(2)}, seed=0)["labels"],
                       torch.eye(2)[1:])  # one-hot rows
    assert crop({"image": img, "boxes": boxes, "labels": [[1], [2]]}, seed=0)["labels"] == [[2]]
    with pytest.raises(augment.compile.ImageInputError, match="'labels' has 3 entries for 2 boxes"):
        crop({"image": img, "boxes": boxes, "labels": [1, 2, 3]}, seed=0)
    with pytest.raises(augment.compile.ImageInputError, match="'area' has 1 entries for 2 boxes"):
        crop({"image": img, "boxes": boxes, "labels": [1, 2], "area": [1.0]}, seed=0)
    out = crop(collections.defaultdict(list, image=img, boxes=boxes, labels=[1, 2]), seed=0)
    assert type(out) is collections.defaultdict and out.default_factory is list and out["labels"] == [2]


def test_a_tuple_with_several_candidates_for_per_box_values_is_refused_when_boxes_drop():
    img, boxes, crop = _two_boxes()
    assert torch.equal(crop((img, boxes, torch.tensor([5, 6])), seed=0)[2], torch.tensor([6]))
    with pytest.raises(augment.compile.ImageInputError, match="pass the target as a dict with 'labels'"):
        crop((img, boxes, torch.tensor([5, 6]), torch.tensor([64, 64])), seed=0)  # labels, or an image size?
    flip = augment.Compose([augment.ops.HorizontalFlip(p=1.0)], seed=0)  # nothing dropped: nothing to tell apart
    assert torch.equal(flip((img, boxes, torch.tensor([5, 6]), torch.tensor([64, 64])), seed=0)[3],
                       torch.tensor([64, 64]))


def test_a_nested_sample_takes_the_ignore_index_of_its_mask():
    from torchvision import tv_tensors

    img, _, _ = _two_boxes()
    mask = torch.zeros((64, 64), dtype=torch.int64)
    mask[5:10, 5:10] = 3
    rot = augment.Compose([augment.ops.Rotate(degrees=(30, 30))], seed=0)
    out = rot((img, {"masks": tv_tensors.Mask(mask)}), seed=0, ignore_index=-1)[1]["masks"]
    assert out.dtype == torch.int64 and set(out.unique().tolist()) <= {-1, 0, 3} and (out == -1).any()
    with pytest.raises(ValueError, match="ignore_index -1 does not fit the mask's uint8"):
        rot(img, seed=0, masks=mask.to(torch.uint8), ignore_index=-1)
    with pytest.raises(ValueError, match="not bool values"):
        rot(img, seed=0, masks=mask.bool())


def test_point_keypoints_beside_boxes_are_refused_in_one_line():
    from torchvision import tv_tensors

    img, boxes, crop = _two_boxes()
    with pytest.raises(augment.compile.ImageInputError, match=r"KeyPoints of shape \(N, 2\) beside boxes"):
        crop({"image": img, "boxes": boxes, "keypoints": tv_tensors.KeyPoints(torch.zeros(3, 2), canvas_size=(64, 64))},
             seed=0)
