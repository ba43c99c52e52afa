"""The library form: ``pipeline(image, boxes=..., labels=..., masks=..., keypoints=...)`` returns the same
structure (numpy or torchvision tv_tensors), and a DataLoader batches it with ``detection_collate``."""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors

import augment
from augment.compile.pipeline import Pipeline
from augment.spec import parse_spec

from test_annotations_geometry import scene


def pipe(backend="albumentations", steps=None):
    steps = steps or [{"op": "horizontal_flip"}, {"op": "rotate", "params": {"degrees": [-20, 20]}},
                      {"op": "random_resized_crop", "params": {"scale": [0.7, 1], "size": [64, 80]}}]
    return Pipeline(parse_spec({"name": "lib", "modality": "image", "backend": backend, "seed": 1, "steps": steps}))


def test_numpy_in_numpy_out_matches_run_targets():
    img, t = scene()
    p = pipe()
    out = p(img, seed=4, boxes=t.boxes, labels=["shape", "rect"], masks=t.masks, keypoints=t.keypoints[:, :, :2],
            polygons=[list(parts) for parts in t.polygons])
    ref_img, ref, _, _ = p.run_targets(img, t, seed=4)
    assert set(out) == {"image", "boxes", "labels", "masks", "keypoints", "polygons"}
    assert np.array_equal(out["image"], ref_img) and out["image"].shape == (64, 80, 3)
    assert np.allclose(out["boxes"], ref.boxes) and out["labels"] == list(ref.labels)
    assert out["masks"].shape == (len(ref), 64, 80) and out["keypoints"].shape[-1] == 2


def test_tv_tensors_in_tv_tensors_out():
    img, t = scene()
    image = tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1))
    boxes = tv_tensors.BoundingBoxes(torch.tensor(t.boxes, dtype=torch.float32), format="XYXY",
                                     canvas_size=img.shape[:2])
    masks = tv_tensors.Mask(torch.from_numpy(t.masks))
    out = pipe("torchvision")(image, seed=2, boxes=boxes, labels=torch.tensor([1, 2]), masks=masks)
    assert isinstance(out["image"], tv_tensors.Image) and out["image"].shape == (3, 64, 80)
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes) and tuple(out["boxes"].canvas_size) == (64, 80)
    assert isinstance(out["masks"], tv_tensors.Mask) and out["masks"].shape[1:] == (64, 80)
    assert isinstance(out["labels"], torch.Tensor) and len(out["labels"]) == len(out["boxes"])
    # an XYWH box comes back XYWH, describing the same box
    xywh = tv_tensors.BoundingBoxes(torch.tensor([[30.0, 20.0, 70.0, 60.0]]), format="XYWH", canvas_size=img.shape[:2])
    xyxy = tv_tensors.BoundingBoxes(torch.tensor([[30.0, 20.0, 100.0, 80.0]]), format="XYXY", canvas_size=img.shape[:2])
    a = pipe()(image, seed=3, boxes=xywh)["boxes"]
    b = pipe()(image, seed=3, boxes=xyxy)["boxes"]
    assert a.format.name == "XYWH" and torch.allclose(a[:, 2:] + a[:, :2], b[:, 2:], atol=1e-4)


def test_detection_collate_in_a_dataloader():
    img, t = scene()
    p = pipe("torchvision")

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            image = tv_tensors.Image(torch.from_numpy(img).permute(2, 0, 1))
            return p(image, seed=i, boxes=torch.tensor(t.boxes, dtype=torch.float32), labels=torch.tensor([1, 2]))

    loader = torch.utils.data.DataLoader(DS(), batch_size=2, collate_fn=augment.detection_collate)
    batches = list(loader)
    images, targets = batches[0]
    assert images.shape == (2, 3, 64, 80) and len(targets) == 2 and set(targets[0]) == {"boxes", "labels"}


def test_preview_draws_annotations(tmp_path):
    import subprocess
    import sys

    from PIL import Image

    from annotation_fixtures import RACCOON, REPO

    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: p\nmodality: image\nsteps:\n  - op: rotate\n    params: {degrees: 20}\n")
    image = RACCOON / "train" / "images" / "raccoon-1.jpg"

    def box_pixels(*extra):
        out = tmp_path / f"grid{len(extra)}.png"
        r = subprocess.run([sys.executable, "-m", "augment.cli", "preview", str(spec), str(image), "-o", str(out),
                            "-n", "2", *extra], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        a = np.asarray(Image.open(out).convert("RGB")).astype(int)
        return ((a[..., 0] > 190) & (a[..., 1] < 80) & (a[..., 2] < 110)).sum()

    assert box_pixels("--annotations", str(RACCOON / "train" / "annotations" / "raccoon-1.xml")) > 200
    assert box_pixels() < 20


def test_blending_presets_are_refused_on_annotated_images_rather_than_leaving_boxes_behind():
    # before: trivial_augment rotated the image while the boxes stayed where they were, silently; chain presets
    # now move the boxes (test_annotations_geometry), augmix blends warped copies and is refused
    import numpy as np
    import pytest

    from augment import Pipeline, parse_spec

    pipe = Pipeline(parse_spec({"name": "p", "modality": "image", "steps": [{"op": "augmix"}]}))
    image = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="cannot move annotations"):
        pipe(image, seed=0, boxes=np.array([[2.0, 2.0, 8.0, 8.0]]), labels=[0])
