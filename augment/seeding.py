"""Seeds derived from identity, never from order.

Every output's seed is a pure function of (pipeline seed, the source item's key, copy index). The result is the
same whatever the number of workers, the order items are processed in, or which other items are in the dataset.
Inside a pipeline each step draws from its own child stream keyed by the step's position in the spec, so changing
one step's probability never changes the parameters drawn by another step.

A step's stream is ``PCG64`` seeded by ``SeedSequence(seed, spawn_key=step key)``. Building a ``SeedSequence`` per
step and call cost more than many ops (numpy assembles the entropy with array ops and enters ``np.errstate``), so
``step_rng`` runs numpy's documented, stream-stable algorithm itself on Python integers: the part that depends on
the seed alone is computed once per seed, the part that depends on the step key once per key.
``tests/test_seed_identity.py`` holds it to numpy's own ``SeedSequence``.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from functools import lru_cache

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

__all__ = ["stable_hash_words", "derive_seed", "step_rng", "child_seed", "default_rng"]

_MASK64 = (1 << 64) - 1
_M32 = 0xFFFFFFFF


def stable_hash_words(key: str) -> list[int]:
    """Four 32-bit words of SHA-256(key): stable across processes and Python versions (unlike ``hash``)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def derive_seed(pipeline_seed: int, key: str, copy_index: int) -> int:
    """The seed of one output: copy ``copy_index`` of the item identified by ``key`` (its relative path).

    ``SeedSequence([pipeline_seed & 2**64-1, *stable_hash_words(key), copy_index]).generate_state(2)``, computed on
    Python integers: a ``SeedSequence`` cost ~30 µs of each output of a run. The pool after the seed's and the
    key's words is the same for every copy of an item, which follow each other in a run, so it is kept; each copy
    then mixes in its own index. ``tests/test_seed_identity.py`` holds it to numpy's."""
    if type(copy_index) is not int or not 0 <= copy_index < _MAX_COPY_INDEX:  # numpy says what is wrong with it
        seq = np.random.SeedSequence([pipeline_seed & _MASK64, *stable_hash_words(key), copy_index])
        lo, hi = seq.generate_state(2, dtype=np.uint32)
        return (int(hi) << 32 | int(lo)) & ((1 << 63) - 1)
    (p0, p1, p2, p3), call = _item_pool(pipeline_seed & _MASK64, key)
    while True:  # the index's little-endian words (at least one), each mixed into every pool word
        word = copy_index & _M32
        r = (_MIX_L * p0 - _MIX_R * _hashmix(word, call)) & _M32
        p0 = r ^ (r >> 16)
        r = (_MIX_L * p1 - _MIX_R * _hashmix(word, call + 1)) & _M32
        p1 = r ^ (r >> 16)
        r = (_MIX_L * p2 - _MIX_R * _hashmix(word, call + 2)) & _M32
        p2 = r ^ (r >> 16)
        r = (_MIX_L * p3 - _MIX_R * _hashmix(word, call + 3)) & _M32
        p3 = r ^ (r >> 16)
        call += 4
        copy_index >>= 32
        if not copy_index:
            break
    lo = (p0 ^ _HB[0]) * _HB[1] & _M32
    hi = (p1 ^ _HB[1]) * _HB[2] & _M32
    return ((hi ^ hi >> 16) << 32 | (lo ^ lo >> 16)) & ((1 << 63) - 1)


def step_rng(seed: int, step_key: tuple[int, ...]) -> np.random.Generator:
    """The generator of one step (identified by its index path in the spec) for one output seed."""
    seed &= _MASK64
    mixes = _key_mixes(step_key) if type(step_key) is tuple else None
    if mixes is None:  # an unusual key: numpy's own SeedSequence
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=step_key))
    return np.random.Generator(np.random.PCG64(_KnownSeedSequence(_pcg64_words(seed, mixes), seed, step_key)))


def default_rng(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)`` (the same stream) for an int seed, without building a SeedSequence."""
    if type(seed) is not int or not 0 <= seed <= _MASK64:
        return np.random.default_rng(seed)
    return step_rng(seed, ())  # without a spawn key numpy does not pad the entropy, which gives the same pool


def child_seed(rng: np.random.Generator) -> int:
    """A 32-bit seed drawn from ``rng``, for noise fields that are regenerated from the manifest on replay."""
    return int(rng.integers(0, 2**32, dtype=np.uint64))


# --- numpy's SeedSequence (pool size 4) on Python integers ------------------------------------------------------
# numpy/random/bit_generator.pyx: every hashmix multiplies a running constant, so the constant each call sees
# depends only on how many calls came before it, never on the data: they are tabulated here.
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_KEY_WORDS = 24  # longest step key handled here (in 32-bit words); longer ones go to numpy


def _constants(init: int, mult: int, count: int) -> tuple[int, ...]:
    out = [init]
    for _ in range(count):
        out.append(out[-1] * mult & _M32)
    return tuple(out)


_HA = _constants(_INIT_A, _MULT_A, 16 + 4 * _KEY_WORDS)
_HB = _constants(_INIT_B, _MULT_B, 8)
# derive_seed's entropy before the copy index is at most six words (a 64-bit seed, four hash words): hashmix calls
# 0-23; the index's words take four calls each from there
_MAX_COPY_INDEX = 1 << 32 * ((len(_HA) - 1 - 24) // 4)


def _hashmix(value: int, call: int) -> int:
    value = ((value ^ _HA[call]) * _HA[call + 1]) & _M32
    return value ^ (value >> 16)


# (source, destination, constant before, constant after) of each hashmix that mixes the pool with itself
_POOL_STEPS = tuple((src, dst) for src in range(4) for dst in range(4) if src != dst)
_POOL_STEPS = tuple((src, dst, _HA[4 + i], _HA[5 + i]) for i, (src, dst) in enumerate(_POOL_STEPS))
_ZERO_WORDS = (_hashmix(0, 2), _hashmix(0, 3))


@lru_cache(maxsize=256)
def _seed_pool(seed: int) -> tuple[int, ...]:
    """The pool after mixing in the seed's words (a 64-bit seed is at most two words; with a spawn key numpy pads
    the entropy with zeros to the pool size, so every seed below 2**64 reads as four words)."""
    pool = [_hashmix(seed & _M32, 0), _hashmix(seed >> 32, 1), *_ZERO_WORDS]
    for src, dst, before, after in _POOL_STEPS:  # _hashmix and _mix inlined: this runs once per output
        v = (pool[src] ^ before) * after & _M32
        v ^= v >> 16
        r = (_MIX_L * pool[dst] - _MIX_R * v) & _M32
        pool[dst] = r ^ (r >> 16)
    return tuple(pool)


@lru_cache(maxsize=4096)
def _key_mixes(key: tuple) -> tuple[tuple[int, int, int, int], ...] | None:
    """The hashed words of a spawn key, one 4-tuple (one per pool word) per 32-bit word; None where numpy's
    SeedSequence must do it (a negative or non-int key is refused by numpy, a very long one is rare).

    An empty key mixes nothing in: numpy pads the entropy to the pool size only when there is a spawn key, but
    a pool word without entropy is hashed from 0 either way, so seeds below 2**64 give the same pool."""
    words: list[int] = []
    for e in key:
        if type(e) is not int or e < 0:
            return None
        while True:  # numpy's _int_to_uint32_array: little-endian words, at least one
            words.append(e & _M32)
            e >>= 32
            if not e:
                break
    if len(words) > _KEY_WORDS:
        return None
    call = 16
    out = []
    for word in words:
        out.append(tuple(_hashmix(word, call + d) for d in range(4)))
        call += 4
    return tuple(out)


@lru_cache(maxsize=1024)
def _item_pool(seed: int, key: str) -> tuple[tuple[int, int, int, int], int]:
    """``SeedSequence.mix_entropy`` of ``derive_seed``'s entropy up to the copy index (seed words, then the key's
    four hash words; numpy turns each int into its little-endian 32-bit words): the first four words hashed into
    the pool, the pool mixed with itself, each further word mixed into every pool word. Returns the pool and the
    number of the next hashmix call (its constant)."""
    words = [seed & _M32]
    seed >>= 32
    while seed:
        words.append(seed & _M32)
        seed >>= 32
    words += stable_hash_words(key)
    pool = [_hashmix(words[i], i) for i in range(4)]  # at least five words: the seed's one or two, the key's four
    for src, dst, before, after in _POOL_STEPS:
        v = (pool[src] ^ before) * after & _M32
        v ^= v >> 16
        r = (_MIX_L * pool[dst] - _MIX_R * v) & _M32
        pool[dst] = r ^ (r >> 16)
    call = 16
    for word in words[4:]:
        for dst in range(4):
            r = (_MIX_L * pool[dst] - _MIX_R * _hashmix(word, call)) & _M32
            pool[dst] = r ^ (r >> 16)
            call += 1
    return (pool[0], pool[1], pool[2], pool[3]), call


def _pcg64_words(seed: int, mixes: tuple) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=key).generate_state(4, np.uint64)``."""
    p0, p1, p2, p3 = _seed_pool(seed)
    for h0, h1, h2, h3 in mixes:
        r = (_MIX_L * p0 - _MIX_R * h0) & _M32
        p0 = r ^ (r >> 16)
        r = (_MIX_L * p1 - _MIX_R * h1) & _M32
        p1 = r ^ (r >> 16)
        r = (_MIX_L * p2 - _MIX_R * h2) & _M32
        p2 = r ^ (r >> 16)
        r = (_MIX_L * p3 - _MIX_R * h3) & _M32
        p3 = r ^ (r >> 16)
    # generate_state(8 words), two per uint64, little end first; unrolled (this runs once per step and output)
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = _HB
    w0 = (p0 ^ a0) * a1 & _M32
    w1 = (p1 ^ a1) * a2 & _M32
    w2 = (p2 ^ a2) * a3 & _M32
    w3 = (p3 ^ a3) * a4 & _M32
    w4 = (p0 ^ a4) * a5 & _M32
    w5 = (p1 ^ a5) * a6 & _M32
    w6 = (p2 ^ a6) * a7 & _M32
    w7 = (p3 ^ a7) * a8 & _M32
    words = (w0 ^ w0 >> 16, w1 ^ w1 >> 16, w2 ^ w2 >> 16, w3 ^ w3 >> 16,
             w4 ^ w4 >> 16, w5 ^ w5 >> 16, w6 ^ w6 >> 16, w7 ^ w7 >> 16)
    if _LITTLE_ENDIAN:  # the eight 32-bit words are the four uint64s' bytes as they lie in memory
        return np.frombuffer(_PACK_8_WORDS(*words), dtype=np.uint64)
    return np.array([words[i] | words[i + 1] << 32 for i in range(0, 8, 2)], dtype=np.uint64)


_LITTLE_ENDIAN = sys.byteorder == "little"
_PACK_8_WORDS = struct.Struct("<8I").pack


class _KnownSeedSequence(ISpawnableSeedSequence):
    """A ``SeedSequence(entropy, spawn_key=key)`` whose PCG64 seed words are already computed. Anything else asked of
    it (other state sizes, spawning, its pool, pickling) goes to the real ``SeedSequence``, built on first need."""

    __slots__ = ("_words", "_entropy", "_key", "_real")

    def __init__(self, words: np.ndarray, entropy: int, key: tuple) -> None:
        self._words, self._entropy, self._key, self._real = words, entropy, key, None

    def real(self) -> np.random.SeedSequence:
        if self._real is None:
            self._real = np.random.SeedSequence(self._entropy, spawn_key=self._key)
        return self._real

    def generate_state(self, n_words, dtype=np.uint32):
        words, self._words = self._words, None
        if words is not None and n_words == 4 and dtype is np.uint64:  # what PCG64 asks for, once
            return words
        return self.real().generate_state(n_words, dtype)

    def spawn(self, n_children):
        return self.real().spawn(n_children)

    def __getattr__(self, name):
        return getattr(self.real(), name)

    def __reduce__(self):  # pickles exactly as the SeedSequence it stands for
        return self.real().__reduce__()

    def __repr__(self) -> str:
        return repr(self.real())
