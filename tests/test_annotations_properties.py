"""Property tests of the box rules: for random ops, params and objects, every written box lies inside its image
with positive area, and objects kept + dropped = objects in (per class)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from augment.compile.pipeline import Pipeline
from augment.compile.targets import Targets
from augment.spec import parse_spec

H, W = 40, 52

ops = st.one_of(
    st.just(("horizontal_flip", {})),
    st.just(("vertical_flip", {})),
    st.builds(lambda d: ("rotate", {"degrees": d}), st.floats(-180, 180)),
    st.builds(lambda s: ("zoom", {"scale": s}), st.floats(0.3, 3.0)),
    st.builds(lambda d, t, s, sh: ("affine", {"degrees": d, "translate": t, "scale": s, "shear": sh}),
              st.floats(-90, 90), st.floats(-0.6, 0.6), st.floats(0.3, 3), st.floats(-40, 40)),
    st.builds(lambda d: ("perspective", {"distortion": d}), st.floats(0, 0.5)),
    st.builds(lambda a, b: ("random_resized_crop", {"scale": [min(a, b), max(a, b)], "size": [23, 31]}),
              st.floats(0.05, 1), st.floats(0.05, 1)),
    st.builds(lambda h, w: ("crop", {"height": h, "width": w}), st.integers(1, H), st.integers(1, W)),
    st.builds(lambda a: ("elastic", {"alpha": a, "sigma": 4}), st.floats(0, 30)),
    # the wider native op set (test_image_ops_native.py has their pixel oracles)
    st.builds(lambda h, w: ("resize", {"height": h, "width": w}), st.integers(1, 80), st.integers(1, 80)),
    st.builds(lambda m: ("longest_max_size", {"max_size": m}), st.integers(1, 90)),
    st.builds(lambda m: ("smallest_max_size", {"max_size": m}), st.integers(1, 90)),
    st.builds(lambda h, w, pos: ("pad_if_needed", {"min_height": h, "min_width": w, "position": pos}),
              st.integers(1, 90), st.integers(1, 90),
              st.sampled_from(["center", "top_left", "top_right", "bottom_left", "bottom_right", "random"])),
    st.builds(lambda pad, border: ("pad", {"padding": pad, "border": border}),
              st.integers(0, 40) | st.lists(st.integers(0, 40), min_size=2, max_size=2)
              | st.lists(st.integers(0, 40), min_size=4, max_size=4),
              st.sampled_from(["constant", "edge", "reflect"])),
    st.builds(lambda h, w: ("center_crop", {"height": h, "width": w}), st.integers(1, H), st.integers(1, W)),
    st.builds(lambda h, w: ("random_crop", {"height": h, "width": w}), st.integers(1, H), st.integers(1, W)),
    st.builds(lambda e: ("bbox_safe_random_crop", {"erosion_rate": e}), st.floats(0, 0.9)),
    st.just(("transpose", {})), st.just(("rot90", {})), st.just(("d4", {})),
    st.builds(lambda n, d: ("grid_distortion", {"num_steps": n, "distort_limit": d}), st.integers(1, 10),
              st.floats(-0.6, 0.6)),
    st.builds(lambda k: ("optical_distortion", {"distort_limit": k}), st.floats(-0.5, 0.5)),
)
_NO_BOX_RULES = ("horizontal_flip", "vertical_flip", "transpose", "rot90", "d4")


@st.composite
def objects(draw):
    n = draw(st.integers(0, 5))
    boxes, labels, polys = [], [], []
    for i in range(n):
        x0 = draw(st.floats(0, W - 1))
        y0 = draw(st.floats(0, H - 1))
        x1 = draw(st.floats(x0 + 0.5, W))
        y1 = draw(st.floats(y0 + 0.5, H))
        boxes.append([x0, y0, x1, y1])
        labels.append(draw(st.sampled_from(["a", "b", "c"])))
        if draw(st.booleans()):
            polys.append(([[x0, y0], [x1, (y0 + y1) / 2], [x0, y1]],))
        else:
            polys.append(())
    return Targets(boxes=np.array(boxes).reshape(-1, 4), labels=labels, polygons=polys)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=ops, targets=objects(), seed=st.integers(0, 2**32), min_vis=st.floats(0, 1), min_area=st.floats(0, 50),
       backend=st.sampled_from(["albumentations", "torchvision"]))
def test_written_boxes_lie_inside_with_positive_area(op, targets, seed, min_vis, min_area, backend):
    name, params = op
    if name not in _NO_BOX_RULES:
        params = {**params, "min_visibility": min_vis, "min_area": min_area}
    pipe = Pipeline(parse_spec({"name": "p", "modality": "image", "backend": backend,
                                "steps": [{"op": name, "params": params}]}))
    image = np.zeros((H, W, 3), np.uint8)
    out, t, _, report = pipe.run_targets(image, targets, seed=seed)
    oh, ow = out.shape[:2]
    if len(t):
        b = t.boxes
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= ow).all() and (b[:, 3] <= oh).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    for parts in t.polygons:
        for p in parts:
            assert len(p) >= 3 and (p >= -1e-9).all() and (p[:, 0] <= ow + 1e-9).all() and (p[:, 1] <= oh + 1e-9).all()
    assert report.objects_in == len(targets)
    assert sum(report.kept.values()) == len(t)
    assert sum(report.kept.values()) + sum(report.dropped.values()) == len(targets)
    for label in set(targets.labels):
        assert report.kept.get(label, 0) + report.dropped.get(label, 0) == list(targets.labels).count(label)
    assert sorted(t.labels) == sorted(k for k, v in report.kept.items() for _ in range(v))


@st.composite
def boxes_in_image(draw):
    w, h = draw(st.integers(8, 400)), draw(st.integers(8, 400))
    n = draw(st.integers(0, 6))
    boxes = []
    for _ in range(n):
        x0 = draw(st.floats(0, w - 2))
        y0 = draw(st.floats(0, h - 2))
        boxes.append([x0, y0, draw(st.floats(x0 + 1, w)), draw(st.floats(y0 + 1, h))])
    return (h, w), np.array(boxes).reshape(-1, 4)


@settings(max_examples=60, deadline=None)
@given(case=boxes_in_image())
def test_written_voc_and_yolo_read_back_inside_the_image(case):
    """What the writers write, the readers read back: same objects, inside the image, within rounding."""
    from augment.io.annotations import Layout, voc, yolo

    (h, w), boxes = case
    n = len(boxes)
    source = ("<annotation><filename>a.jpg</filename><size><width>1</width><height>1</height></size>"
              + "".join(f"<object><name>c{i % 2}</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
                        "<xmax>2</xmax><ymax>2</ymax></bndbox></object>" for i in range(n)) + "</annotation>").encode()
    t = Targets(boxes=boxes, labels=[f"c{i % 2}" for i in range(n)], extras=[{"index": i} for i in range(n)])
    back, _ = voc.read(voc.encode(source, t, "images/a__aug0.jpg", (h, w)), Layout("voc", ""), (h, w), "x")
    assert list(back.labels) == list(t.labels)
    assert np.abs(back.boxes - boxes).max(initial=0) <= 1.0
    assert (back.boxes[:, 2] > back.boxes[:, 0]).all() and (back.boxes[:, 2] <= w).all() and (back.boxes[:, 3] <= h).all()
    ty = Targets(boxes=boxes, labels=["a"] * n, polygons=[()] * n, extras=[{"class_id": 0, "kind": "box"}] * n)
    back, repairs = yolo.read(yolo.encode(ty, (h, w)), Layout("yolo", ""), (h, w), "y")
    assert len(back) == n and np.abs(back.boxes - boxes).max(initial=0) <= 0.01
    assert (back.boxes >= 0).all() and (back.boxes[:, 2] <= w).all() and (back.boxes[:, 3] <= h).all()
