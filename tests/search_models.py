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
