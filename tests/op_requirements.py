"""Parameters that some image ops require (they have no default), small enough for any test image: shared by the
tests that run every registered op."""

from __future__ import annotations

REQUIRED: dict[str, dict] = {
    "crop": {"height": 1, "width": 1},
    "resize": {"height": 9, "width": 11},
    "longest_max_size": {"max_size": 13},
    "smallest_max_size": {"max_size": 7},
    "pad_if_needed": {"min_height": 5, "min_width": 6},
    "pad": {"padding": [1, 2]},
    "center_crop": {"height": 1, "width": 1},
    "random_crop": {"height": 1, "width": 1},
    # text: the endpoint (nothing is contacted until a text is paraphrased)
    "llm_paraphrase": {"base_url": "http://127.0.0.1:9/v1", "model": "test-model"},
}


def required(op: str) -> dict:
    return dict(REQUIRED.get(op, {}))
