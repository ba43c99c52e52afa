"""Annotated-image expansion speed: ``augment run`` on raccoon (Pascal VOC) against a plain loop (not a test).

    .venv/bin/python benchmarks/bench_annotations.py [--copies 3] [--repeats 3]

Work for both contenders, on the 160 raccoon training photos with their VOC boxes: decode -> horizontal flip
(p = 0.5) + affine (rotate +-10 deg, translate +-10 %, scale 0.9-1.1) + random resized crop to 320x320 (boxes
under 20 % visibility dropped) -> JPEG (quality 95) + a VOC XML per output, one worker.

- ``plain``: one process, a loop of ElementTree + PIL decode -> ``A.Compose([...], bbox_params=A.BboxParams(
  format="pascal_voc", min_visibility=0.2))`` -> PIL encode -> write the JPEG and the updated XML.
- ``ours``: ``augment run --workers 1`` (the CLI): the same, plus seeding, the manifest, atomic writes.

Each contender is a fresh process timed from outside (start-up and imports included), round-robin, best of
``--repeats``. Target: ours >= 0.9x the plain loop's outputs per second.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "detection" / "raccoon" / "train"
SIZE = 320

SPEC = """\
version: 1
name: bench-annotations
modality: image
backend: albumentations
seed: 7
copies: {copies}
steps:
  - op: horizontal_flip
    p: 0.5
  - op: affine
    params: {{degrees: [-10, 10], translate: [-0.1, 0.1], scale: [0.9, 1.1]}}
  - op: random_resized_crop
    params: {{scale: [0.5, 1.0], size: [{size}, {size}], min_visibility: 0.2}}
"""


def plain_loop(src: Path, out: Path, copies: int) -> int:
    import xml.etree.ElementTree as ET

    import albumentations as A
    import numpy as np
    from PIL import Image

    transform = A.Compose(
        [A.HorizontalFlip(p=0.5), A.Affine(rotate=(-10, 10), translate_percent=(-0.1, 0.1), scale=(0.9, 1.1), p=1.0),
         A.RandomResizedCrop(size=(SIZE, SIZE), scale=(0.5, 1.0), p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.2), seed=7,
    )
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted((src / "images").glob("*.jpg")):
        root = ET.parse(src / "annotations" / f"{path.stem}.xml").getroot()
        image = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))
        h, w = image.shape[:2]
        objs = root.findall("object")
        boxes = []
        for o in objs:
            b = [float(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            boxes.append([min(max(b[0] - 1, 0), w), min(max(b[1] - 1, 0), h), min(b[2], w), min(b[3], h)])
        for k in range(copies):
            res = transform(image=image, bboxes=np.array(boxes).reshape(-1, 4), labels=list(range(len(objs))))
            buf = io.BytesIO()
            Image.fromarray(res["image"]).save(buf, "JPEG", quality=95)
            (out / "images" / f"{path.stem}__aug{k}.jpg").write_bytes(buf.getvalue())
            doc = ET.Element("annotation")
            ET.SubElement(doc, "filename").text = f"{path.stem}__aug{k}.jpg"
            size = ET.SubElement(doc, "size")
            for key, v in (("width", SIZE), ("height", SIZE), ("depth", 3)):
                ET.SubElement(size, key).text = str(v)
            for label, box in zip(res["labels"], res["bboxes"]):
                src_obj = objs[int(label)]
                obj = ET.SubElement(doc, "object")
                for key in ("name", "pose", "truncated", "difficult"):
                    ET.SubElement(obj, key).text = src_obj.findtext(key)
                bnd = ET.SubElement(obj, "bndbox")
                for key, v in zip(("xmin", "ymin", "xmax", "ymax"), (box[0] + 1, box[1] + 1, box[2], box[3])):
                    ET.SubElement(bnd, key).text = str(int(round(v)))
            (out / "annotations" / f"{path.stem}__aug{k}.xml").write_bytes(ET.tostring(doc, encoding="utf-8"))
            written += 1
    return written


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def run(copies: int = 3, repeats: int = 3) -> dict:
    n_images = len(list((DATASET / "images").glob("*.jpg")))
    outputs = n_images * copies
    with tempfile.TemporaryDirectory(prefix="bench-ann-") as tmp:
        tmp = Path(tmp)
        spec = tmp / "spec.yaml"
        spec.write_text(SPEC.format(copies=copies, size=SIZE))
        commands = {
            "plain": [sys.executable, __file__, "--plain", str(DATASET), str(tmp / "plain"), str(copies)],
            "ours": [sys.executable, "-m", "augment.cli", "run", str(spec), str(DATASET), str(tmp / "ours"),
                     "--workers", "1", "--quiet"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(repeats):
            for name, cmd in commands.items():
                shutil.rmtree(tmp / name, ignore_errors=True)
                times[name].append(_time(cmd))
        written = len(list((tmp / "ours" / "annotations").glob("*.xml")))
        plain_written = len(list((tmp / "plain" / "annotations").glob("*.xml")))
    best = {k: min(v) for k, v in times.items()}
    return {
        "images": n_images, "copies": copies, "outputs": outputs, "written": {"ours": written, "plain": plain_written},
        "seconds": times, "best": best, "ratio": (outputs / best["ours"]) / (outputs / best["plain"]),
    }


def section(res: dict) -> list[str]:
    lines = [
        "## Annotated images (raccoon, VOC boxes)",
        "",
        f"{res['images']} photos x {res['copies']} copies: flip + affine + random resized crop to {SIZE}x{SIZE}, "
        "boxes moved and written as VOC XML, one worker; fresh processes, best of "
        f"{len(res['seconds']['ours'])}.",
        "",
        "| run | outputs | wall s (runs) | outputs/s |",
        "|---|---:|---:|---:|",
    ]
    for name in ("plain", "ours"):
        runs = ", ".join(f"{t:.2f}" for t in res["seconds"][name])
        lines.append(f"| {name} | {res['written'][name]} | {res['best'][name]:.2f} ({runs}) "
                     f"| {res['outputs'] / res['best'][name]:.1f} |")
    verdict = "met" if res["ratio"] >= 0.9 else "NOT met"
    lines += ["", f"ours / plain: {res['ratio']:.2f}x (target >= 0.9x: {verdict})"]
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain":
        plain_loop(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    res = run(args.copies, args.repeats)
    print("\n".join(section(res)))
    print(json.dumps({"ratio": round(res["ratio"], 3), "best": res["best"]}))


if __name__ == "__main__":
    main()
