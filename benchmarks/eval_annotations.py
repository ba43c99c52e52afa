"""Does augmentation help detection and segmentation? The with/without comparison for annotated data (not a test).

    .venv/bin/python benchmarks/eval_annotations.py [--repeats 2] [--copies 1]
    .venv/bin/python benchmarks/eval_annotations.py --write-shapes DIR   # DIR/train, DIR/test for `augment eval`

Detection: raccoon (160 train / 40 test photos, VOC boxes) with ``pipelines/detection.yaml``, the small
CenterNet-style detector of ``augment.evaluate.detection_model`` (96 px, 25 epochs), mAP@0.5 and mAP@[.5:.95].
Segmentation: 60 / 100 synthetic shapes (``segmentation_model.synthetic_shapes``) with flip + rotate + crop,
the small encoder-decoder, mIoU. Same seeds and epochs per arm; verdicts from ``augment.evaluate.stats``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RACCOON = ROOT.parent / "shared" / "datasets" / "detection" / "raccoon"

SEG_SPEC = {"name": "seg", "modality": "image", "seed": 3, "steps": [
    {"op": "horizontal_flip", "p": 0.5},
    {"op": "rotate", "p": 0.7, "params": {"degrees": [-30, 30]}},
    {"op": "random_resized_crop", "p": 0.5, "params": {"scale": [0.5, 1.0]}},
]}


def rows(res: dict) -> list[str]:
    out = []
    for metric, c in res["metrics"].items():
        ci = c["bootstrap_ci"]
        out.append(f"| {res['task']} | {metric} | {c['baseline']['mean']:.3f} | {c['augmented']['mean']:.3f} "
                   f"| {c['diff_mean']:+.3f} | {'[%.3f, %.3f]' % tuple(ci) if ci else '-'} | {c['verdict']} |")
    return out


def write_shapes(root: Path, items) -> None:
    """A mask folder dataset (images/ + masks/, gray class-index PNGs) that `augment eval` and `augment run` read."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    for i, (img, mask) in enumerate(items):
        Image.fromarray(img).save(root / "images" / f"shape{i:03d}.png")
        Image.fromarray(mask, mode="L").save(root / "masks" / f"shape{i:03d}.png")


def main() -> None:
    from augment.compile.pipeline import Pipeline, load_pipeline
    from augment.evaluate import detection_model as det
    from augment.evaluate import segmentation_model as seg
    from augment.spec import parse_spec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--write-shapes", type=Path, default=None,
                        help="write the synthetic shapes (60 train / 100 test) as a mask folder dataset and stop")
    args = parser.parse_args()
    if args.write_shapes is not None:
        for split, n, seed in (("train", 60, 0), ("test", 100, 1)):
            write_shapes(args.write_shapes / split, seg.synthetic_shapes(n, seed))
        print(f"wrote {args.write_shapes}/train and {args.write_shapes}/test (images/ + masks/)")
        return
    lines = ["| task | metric | baseline | augmented | diff | 95% CI (bootstrap) | verdict |", "|---|---|---:|---:|---:|---|---|"]
    started = time.perf_counter()
    results = []
    if not args.skip_detection:
        train, test = det.load_voc_items(RACCOON / "train"), det.load_voc_items(RACCOON / "test")
        res = det.compare_detection(load_pipeline(ROOT / "pipelines" / "detection.yaml"), train, test,
                                    copies=args.copies, repeats=args.repeats,
                                    options=det.DetectionOptions(image_size=96, epochs=25))
        results.append(res)
        lines += rows(res)
    train, test = seg.synthetic_shapes(60, 0), seg.synthetic_shapes(100, 1)
    res = seg.compare_segmentation(Pipeline(parse_spec(SEG_SPEC)), train, test, copies=args.copies,
                                   repeats=args.repeats, options=seg.SegmentationOptions(epochs=20))
    results.append(res)
    lines += rows(res)
    print("\n".join(lines))
    print(f"({time.perf_counter() - started:.0f} s)")
    print(json.dumps([{k: v for k, v in r.items() if k != "runs"} | {"runs": r["runs"]} for r in results]))


if __name__ == "__main__":
    main()
