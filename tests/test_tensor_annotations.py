"""Annotations given as torchvision types, in single calls and in batches: box formats and canvas sizes kept,
class-id masks in their own dtype and ignore index, one-line refusals for what cannot be moved faithfully."""

import numpy as np
import pytest
import torch
from torchvision import tv_tensors

import augment
from augment import ops

FORMATS = ["XYXY", "XYWH", "CXCYWH"]


def _xyxy_to(fmt: str, xyxy: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = xyxy.T
    if fmt == "XYWH":
        return np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    if fmt == "CXCYWH":
        return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], 1)
    return xyxy


def _boxes(rng, n, h, w, fmt):
    xy = rng.uniform(0, [w - 6, h - 6], size=(n, 2))
    xyxy = np.concatenate([xy, np.minimum(xy + rng.uniform(2, 10, size=(n, 2)), [w, h])], 1)
    return tv_tensors.BoundingBoxes(torch.tensor(_xyxy_to(fmt, xyxy), dtype=torch.float32), format=fmt,
                                    canvas_size=(h, w))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", range(4))
def test_a_batch_moves_each_samples_boxes_in_their_own_format_as_single_calls_do(fmt, seed):
    rng = np.random.default_rng(seed)
    n, h, w = 3, 32, 40
    images = torch.from_numpy(rng.integers(0, 256, (n, 3, h, w), dtype=np.uint8))
    boxes = [_boxes(rng, int(rng.integers(1, 5)), h, w, fmt) for _ in range(n)]
    pipe = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Affine(degrees=(-10, 10), translate=(-0.1, 0.1)),
                            ops.CenterCrop(height=24, width=32)], seed=3)
    seeds = [int(s) for s in rng.integers(0, 2**31, n)]
    out = pipe.batch(images, seeds=seeds, boxes=boxes, kernels="per_sample")
    for i in range(n):
        single = pipe(images[i], seed=seeds[i], boxes=boxes[i])
        got = out["boxes"][i]
        assert isinstance(got, tv_tensors.BoundingBoxes) and got.format.name == fmt
        assert tuple(got.canvas_size) == (24, 32) == tuple(single["boxes"].canvas_size)
        assert torch.allclose(got, single["boxes"], atol=1e-4)


@pytest.mark.parametrize("ignore,dtype", [(ignore, dtype) for ignore in (255, -1, 0)
                                          for dtype in (torch.uint8, torch.int32, torch.int64)
                                          if not (dtype == torch.uint8 and ignore == -1)])  # -1 is no uint8
def test_class_id_masks_keep_their_dtype_ids_and_ignore_index(ignore, dtype):
    rng = np.random.default_rng(5)
    h, w = 20, 24
    top = 255 if ignore == 255 else 254
    ids = rng.integers(0 if ignore else 1, top + 1, (h, w))
    ids[0, :3] = ignore
    mask = torch.as_tensor(ids).to(dtype)
    image = torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
    flip = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    out = flip(image, seed=0, masks=mask, ignore_index=ignore)["masks"]
    assert out.dtype == dtype and torch.equal(out, mask.flip(-1))  # a flip moves every id, the ignore index too
    rot = augment.Compose([ops.Rotate(degrees=(30, 30))], seed=1)
    turned = rot(image, seed=0, masks=mask, ignore_index=ignore)["masks"]
    assert turned.dtype == dtype and (turned == ignore).any()  # corners the rotation cannot see: the ignore index
    assert set(turned.unique().tolist()) <= set(mask.unique().tolist()) | {ignore}
    batch = flip.batch(image[None].repeat(2, 1, 1, 1), seeds=[0, 1], masks=mask[None].repeat(2, 1, 1),
                       ignore_index=ignore)["masks"]
    assert batch.dtype == dtype and torch.equal(batch[0], mask.flip(-1))


def test_class_ids_that_do_not_fit_are_refused_not_wrapped():
    image = torch.zeros((3, 8, 8), dtype=torch.uint8)
    mask = torch.zeros((8, 8), dtype=torch.int64)
    mask[0, 0] = 300  # became 44
    pipe = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    with pytest.raises(ValueError, match=r"class ids must be 0-255 \(ignore index 255\); this one holds 0..300"):
        pipe(image, seed=0, masks=mask)
    mask[0, 0] = -1  # became 255, the default ignore index, silently
    with pytest.raises(ValueError, match="holds -1..0"):
        pipe({"image": tv_tensors.Image(image), "mask": tv_tensors.Mask(mask)}, seed=0)


def test_batched_instance_masks_are_refused_in_one_line_not_truncated():
    images = torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    masks = torch.zeros((2, 2, 8, 8), dtype=torch.uint8)
    pipe = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    with pytest.raises(ValueError, match=r"instance masks \(here \(2, 8, 8\) for one sample\) go through single calls"):
        pipe.batch(images, seeds=[0, 1], masks=masks)


def test_keypoints_of_one_point_per_object_come_back_in_their_shape():
    image = tv_tensors.Image(torch.zeros((3, 32, 32), dtype=torch.uint8))
    kp = tv_tensors.KeyPoints(torch.tensor([[3.0, 4.0], [10.0, 20.0]]), canvas_size=(32, 32))
    out = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)({"image": image, "keypoints": kp}, seed=0)["keypoints"]
    assert isinstance(out, tv_tensors.KeyPoints) and out.shape == kp.shape
    assert out[:, 1].tolist() == [4.0, 20.0]


def test_boxes_of_another_canvas_or_rotated_are_refused():
    image = torch.zeros((3, 8, 8), dtype=torch.uint8)
    pipe = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    other = tv_tensors.BoundingBoxes(torch.tensor([[0.0, 0.0, 2.0, 2.0]]), format="XYXY", canvas_size=(64, 64))
    with pytest.raises(ValueError, match=r"canvas_size \(64, 64\) is not the image's size \(8, 8\)"):
        pipe(image, seed=0, boxes=other)
    rotated_format = getattr(tv_tensors.BoundingBoxFormat, "XYWHR", None)
    if rotated_format is not None:
        rotated = tv_tensors.BoundingBoxes(torch.tensor([[4.0, 4.0, 2.0, 2.0, 30.0]]), format=rotated_format,
                                           canvas_size=(8, 8))
        with pytest.raises(ValueError, match="rotated"):
            pipe(image, seed=0, boxes=rotated)


@pytest.mark.parametrize("fmt", FORMATS)
def test_collate_pads_boxes_as_xyxy_whatever_their_format_and_the_batch_moves_them_right(fmt):
    from augment.torch import collate

    rng = np.random.default_rng(2)
    h, w = 24, 32
    samples = [{"image": torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8)),
                "boxes": _boxes(rng, k, h, w, fmt), "labels": torch.arange(k)} for k in (1, 3)]
    batch = collate(samples, pad_boxes=True)
    flip = augment.Compose([ops.HorizontalFlip(p=1.0)], seed=1)
    out = flip.batch(batch["image"], seeds=[0, 1], boxes=batch["boxes"], box_counts=batch["box_counts"])
    for i, s in enumerate(samples):
        single = flip(s["image"], seed=i, boxes=s["boxes"])["boxes"]
        want = torch.as_tensor(_to_xyxy_np(single, fmt), dtype=torch.float32)
        assert torch.allclose(out["boxes"][i, : len(want)], want, atol=1e-4)


def _to_xyxy_np(boxes, fmt):
    from augment.compile.annotated import _to_xyxy

    return _to_xyxy(boxes.as_subclass(torch.Tensor).numpy(), fmt)


def test_a_batch_with_a_label_count_that_does_not_match_its_boxes_is_one_line():
    pipe = augment.Compose([ops.HorizontalFlip()], seed=1)
    images = torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    boxes = [torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]]), torch.tensor([[0.0, 0.0, 2.0, 2.0]])]
    with pytest.raises(ValueError, match="sample 0: 1 labels for 2 objects"):
        pipe.batch(images, seeds=[1, 2], boxes=boxes, labels=[[1], [2]])
    with pytest.raises(ValueError, match="2 images but labels for 1"):
        pipe.batch(images, seeds=[1, 2], boxes=boxes, labels=[[1, 2]])
    assert pipe.batch(images, seeds=[1, 2], boxes=boxes, labels=[[1, 2], [3]])["labels"] == [[1, 2], [3]]


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.float64])
def test_box_tensors_keep_their_dtype_integer_ones_rounded(dtype):
    rng = np.random.default_rng(3)
    h, w = 30, 40
    xyxy = torch.tensor([[2, 3, 20, 25], [10, 1, 39, 29]])
    boxes = tv_tensors.BoundingBoxes(xyxy.to(dtype), format="XYXY", canvas_size=(h, w))
    floats = tv_tensors.BoundingBoxes(xyxy.to(torch.float64), format="XYXY", canvas_size=(h, w))
    image = torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))
    pipe = augment.Compose([ops.Affine(degrees=(-10, 10), scale=(0.8, 1.2))], seed=2)
    for seed in range(3):
        got = pipe(image, seed=seed, boxes=boxes)["boxes"]
        ref = pipe(image, seed=seed, boxes=floats)["boxes"]
        assert got.dtype == dtype and isinstance(got, tv_tensors.BoundingBoxes)
        want = ref if dtype.is_floating_point else torch.round(ref)
        assert torch.allclose(got.double(), want.double(), atol=1e-6)
        batch = pipe.batch(image[None], seeds=[seed], boxes=[boxes], kernels="per_sample")["boxes"][0]
        assert batch.dtype == dtype and torch.equal(batch, got)
