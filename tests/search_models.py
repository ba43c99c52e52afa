"""Custom models for the search tests (imported by name in the eval's child process)."""

import json
import os
from collections import Counter


def centroid(train, test, *, seed):
    """Nearest word-count centroid; when AUGMENT_SEARCH_LOG is set, records every call's train and test texts
    so a test can prove which rows each phase of a search saw."""
    log = os.environ.get("AUGMENT_SEARCH_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"train": [t for t, _ in train], "test": [t for t, _ in test]}) + "\n")
    sums = {}
    for text, label in train:
        sums.setdefault(label, Counter()).update(text.split())

    def score(text, label):
        c = sums[label]
        return sum(c[w] for w in text.split()) / (sum(c.values()) or 1)

    return {"predictions": [max(sorted(sums), key=lambda lab: score(text, lab)) for text, _ in test]}


def pixel_centroid(train, test, *, seed):
    """Nearest class-mean image on 8x8 gray thumbnails: a fast deterministic image model."""
    import numpy as np

    def thumb(img):
        g = img.astype(np.float32).mean(axis=2)
        h, w = g.shape
        return g[: h - h % 8, : w - w % 8].reshape(8, h // 8, 8, w // 8).mean(axis=(1, 3)).ravel()

    means = {}
    for img, label in train:
        means.setdefault(label, []).append(thumb(img))
    centres = {lab: np.mean(v, axis=0) for lab, v in sorted(means.items())}
    return {"predictions": [min(centres, key=lambda lab: float(((thumb(img) - centres[lab]) ** 2).sum()))
                            for img, _ in test]}


def slow_centroid(train, test, *, seed):
    """``centroid``, taking half a second a call: a fit long enough for a test's signal to land inside the loop."""
    import time

    time.sleep(0.5)
    return centroid(train, test, seed=seed)
