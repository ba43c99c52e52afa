"""Seeds derived from identity, never from order.

Every output's seed is a pure function of (pipeline seed, the source item's key, copy index). The result is the
same whatever the number of workers, the order items are processed in, or which other items are in the dataset.
Inside a pipeline each step draws from its own child stream keyed by the step's position in the spec, so changing
one step's probability never changes the parameters drawn by another step.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["stable_hash_words", "derive_seed", "step_rng", "child_seed"]

_MASK64 = (1 << 64) - 1


def stable_hash_words(key: str) -> list[int]:
    """Four 32-bit words of SHA-256(key): stable across processes and Python versions (unlike ``hash``)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def derive_seed(pipeline_seed: int, key: str, copy_index: int) -> int:
    """The seed of one output: copy ``copy_index`` of the item identified by ``key`` (its relative path)."""
    seq = np.random.SeedSequence([pipeline_seed & _MASK64, *stable_hash_words(key), copy_index])
    lo, hi = seq.generate_state(2, dtype=np.uint32)
    return (int(hi) << 32 | int(lo)) & ((1 << 63) - 1)


def step_rng(seed: int, step_key: tuple[int, ...]) -> np.random.Generator:
    """The generator of one step (identified by its index path in the spec) for one output seed."""
    return np.random.default_rng(np.random.SeedSequence(seed & _MASK64, spawn_key=step_key))


def child_seed(rng: np.random.Generator) -> int:
    """A 32-bit seed drawn from ``rng``, for noise fields that are regenerated from the manifest on replay."""
    return int(rng.integers(0, 2**32, dtype=np.uint64))
