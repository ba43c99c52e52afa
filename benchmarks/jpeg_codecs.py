"""Are faster JPEG codecs byte-identical to PIL's (what `augment run` writes today)? Not a test.

    .venv/bin/python benchmarks/jpeg_codecs.py [--dataset ../shared/datasets/images/sign_digits] [--files 40]

For an evenly spaced sample of the dataset's JPEGs: PIL's RGB decode against OpenCV's and simplejpeg's (pixel
equality), and PIL's ``save(quality=95)`` (4:2:0, ISLOW) against ``cv2.imencode`` and ``simplejpeg.encode_jpeg``
at the same settings (byte equality). Then process-CPU microseconds per encode and decode of the first image
(ratios only on a loaded machine). simplejpeg is optional: ``pip install simplejpeg`` (not a dependency).
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, features

ROOT = Path(__file__).resolve().parents[1]
QUALITY = 95


def pil_encode(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()


def cv2_encode(arr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", np.ascontiguousarray(arr[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()


def cv2_decode(data: bytes) -> np.ndarray:
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)[..., ::-1]


def cpu_us(fn, n: int = 2000) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "datasets" / "images" / "sign_digits")
    parser.add_argument("--files", type=int, default=40)
    args = parser.parse_args()
    try:
        import simplejpeg
    except ImportError:
        simplejpeg = None
    jpegs = sorted(p for p in args.dataset.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    sample = jpegs[:: max(1, len(jpegs) // args.files)][: args.files]
    print(f"PIL libjpeg-turbo {features.version('libjpeg_turbo')}, OpenCV {cv2.__version__}, "
          f"simplejpeg {getattr(simplejpeg, '__version__', 'not installed')}; {len(sample)} files")
    same = {"cv2 decode": 0, "cv2 encode": 0, "simplejpeg decode": 0, "simplejpeg encode": 0}
    worst = 0
    for path in sample:
        data = path.read_bytes()
        arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        ref = pil_encode(arr)
        same["cv2 decode"] += np.array_equal(cv2_decode(data), arr)
        same["cv2 encode"] += cv2_encode(arr) == ref
        if simplejpeg is not None:
            same["simplejpeg decode"] += np.array_equal(simplejpeg.decode_jpeg(data, colorspace="RGB"), arr)
            sj = simplejpeg.encode_jpeg(arr, quality=QUALITY, colorspace="RGB", colorsubsampling="420")
            same["simplejpeg encode"] += sj == ref
            diff = np.abs(np.asarray(Image.open(io.BytesIO(sj)), int) - np.asarray(Image.open(io.BytesIO(ref)), int))
            worst = max(worst, int(diff.max()))
    for key, n in same.items():
        print(f"  {key:18s} identical to PIL: {n}/{len(sample)}")
    if simplejpeg is not None:
        print(f"  simplejpeg encode: largest pixel difference after decoding, against PIL's: {worst}")
    data = sample[0].read_bytes()
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    rows = [("PIL", lambda: pil_encode(arr), lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))),
            ("OpenCV", lambda: cv2_encode(arr), lambda: cv2_decode(data))]
    if simplejpeg is not None:
        rows.append(("simplejpeg",
                     lambda: simplejpeg.encode_jpeg(arr, quality=QUALITY, colorspace="RGB", colorsubsampling="420"),
                     lambda: simplejpeg.decode_jpeg(data, colorspace="RGB")))
    print(f"CPU us per call, {arr.shape[1]}x{arr.shape[0]}:")
    for name, enc, dec in rows:
        print(f"  {name:10s} encode {cpu_us(enc):6.0f}  decode {cpu_us(dec):6.0f}")


if __name__ == "__main__":
    main()
