"""Reusable buffers for the intermediate images of one pipeline call.

An op's output that the next op of the same call consumes lives only until that op has run. Allocating it fresh
costs more than the pixels on large images: with glibc's default malloc, two images of a few hundred KiB alive at
once make the heap grow and shrink on every call, and each call touches fresh pages again (1,500 page faults per
call for a flip then a warp of a 1024x1024x3 image, ~4 ms of a ~4.5 ms warp on our build machines; none at 256x256).
Kernels that can write into a given array (OpenCV's ``dst=``; the backends' ``INTO`` tables) write such
intermediates, and their own temporaries (a colour op's gray or HSV copy), into per-thread buffers instead, so only
the call's output is a fresh array (flip + brightness/contrast + HSV at 1024x1024: ~3,300 page faults a call -> a
few dozen). The bytes are the same: the kernels are the same, only where they write changes.

Rules that keep this invisible to callers: a buffer is handed out only while one call of this thread holds the
session (a nested call, such as a plugin op that runs another pipeline, gets none); never one that shares memory
with an array the kernel names as still in use (its input, its output, its other temporaries); the last step's
output is never asked of the pool; and the call's output is copied out of a buffer before it is returned
(``release``: a last step that returned its input), so nothing a caller holds is overwritten by a later call.
A thread keeps at most ``_KEEP`` buffers of the sizes it last used, ``KEEP_BYTES`` in all: a server's thread pool
working on 12-megapixel photos keeps none of theirs (each call allocates as before), a 1024x1024 RGB chain fits.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["MIN_BYTES", "KEEP_BYTES", "Pool", "acquire", "leave"]

# Below this, malloc recycled the arrays of a call without touching fresh pages in our measurements (none at 256x256x3
# with a colour chain, a few hundred a call from 384x384x3 with a flip and a warp), and the buffers' bookkeeping
# (a few us) is all the pool would add.
MIN_BYTES = 1 << 18
_KEEP = 5  # a colour chain holds its input, an output and up to three temporaries at once
KEEP_BYTES = 16 << 20  # five 1024x1024x3 buffers (15 MiB)
_LOCAL = threading.local()


class Pool:
    """The buffers of one thread (at most ``_KEEP`` and ``KEEP_BYTES``, the most recently used kept)."""

    __slots__ = ("_buffers", "_bytes")

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self._bytes = 0

    def take(self, shape: tuple, dtype, *live: np.ndarray | None) -> np.ndarray:
        """An array of ``shape`` and ``dtype`` that shares no memory with any of ``live`` (the arrays the caller
        still reads or writes; None entries are ignored). Its contents are garbage."""
        live = tuple(a for a in live if a is not None)
        dtype = np.dtype(dtype)
        for i, buf in enumerate(self._buffers):
            if buf.shape == shape and buf.dtype == dtype and not any(np.may_share_memory(buf, a) for a in live):
                self._buffers.append(self._buffers.pop(i))
                return buf
        buf = np.empty(shape, dtype)
        if buf.nbytes > KEEP_BYTES:  # used once, as a fresh array would be
            return buf
        self._buffers.append(buf)
        self._bytes += buf.nbytes
        while len(self._buffers) > _KEEP or self._bytes > KEEP_BYTES:
            # the oldest is dropped (it stays valid for whoever holds it; it is only not handed out again)
            self._bytes -= self._buffers.pop(0).nbytes
        return buf

    def like(self, img: np.ndarray, *live: np.ndarray | None) -> np.ndarray:
        """``take`` an array of ``img``'s shape and dtype, sharing no memory with ``img`` nor ``live``."""
        return self.take(img.shape, img.dtype, img, *live)

    def uint8(self, shape: tuple, *live: np.ndarray | None) -> np.ndarray:
        return self.take(shape, np.uint8, *live)

    def release(self, out: np.ndarray) -> np.ndarray:
        """``out`` as the caller may keep it: a copy if it lives in one of the buffers."""
        for buf in self._buffers:
            if np.may_share_memory(out, buf):
                return out.copy()
        return out


def acquire(image: np.ndarray) -> Pool | None:
    """This thread's pool for one call on ``image`` (give it back with ``leave``), or None: a nested call, or an
    image too small to gain. (Not a context manager: this runs on every call, small images included.)"""
    if image.nbytes < MIN_BYTES or getattr(_LOCAL, "busy", False):
        return None
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = Pool()
    _LOCAL.busy = True
    return pool


def leave() -> None:
    """The call that ``acquire`` gave a pool to is over."""
    _LOCAL.busy = False
