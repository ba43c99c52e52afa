"""Reusable buffers for the intermediate images of one pipeline call.

An op's output that the next op of the same call consumes lives only until that op has run. Allocating it fresh
costs more than the pixels on large images: with glibc's default malloc, two images of more than ~128 KiB alive at
once make the heap grow and shrink on every call, and each call touches fresh pages again (1,500 page faults per
call for a flip then a warp of a 1024x1024x3 image, ~4 ms of a ~4.5 ms warp on our build machines; none at 256x256).
Kernels that can write into a given array (OpenCV's ``dst=``) write such intermediates into a per-thread buffer
instead, so only the call's output is a fresh array. The bytes are the same: the kernel is the same, only where it
writes changes.

Rules that keep this invisible to callers: a buffer is handed out only while one call of this thread holds the
session (a nested call, such as a plugin op that runs another pipeline, gets none); never one that shares memory
with the kernel's input; and the call's output is copied out of a buffer before it is returned (``release``), so
nothing a caller holds is overwritten by a later call.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np

__all__ = ["MIN_BYTES", "Pool", "session"]

MIN_BYTES = 1 << 17  # below glibc's mmap threshold (128 KiB) small arrays are recycled by malloc anyway
_KEEP = 2  # an op's input and its output: two buffers serve any chain of ops
_LOCAL = threading.local()


class Pool:
    """The buffers of one thread (at most two, the most recently used kept)."""

    __slots__ = ("_buffers",)

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []

    def buffer(self, like: np.ndarray) -> np.ndarray:
        """An array of ``like``'s shape and dtype that shares no memory with ``like`` (its contents are garbage)."""
        for i, buf in enumerate(self._buffers):
            if buf.shape == like.shape and buf.dtype == like.dtype and not np.may_share_memory(buf, like):
                self._buffers.append(self._buffers.pop(i))
                return buf
        buf = np.empty_like(like, order="C")
        self._buffers.append(buf)
        if len(self._buffers) > _KEEP:
            # the oldest is dropped, never the one the current image lives in (the caller still reads that one)
            for i, old in enumerate(self._buffers[:-1]):
                if not np.may_share_memory(old, like):
                    del self._buffers[i]
                    break
        return buf

    def release(self, out: np.ndarray) -> np.ndarray:
        """``out`` as the caller may keep it: a copy if it lives in one of the buffers."""
        for buf in self._buffers:
            if np.may_share_memory(out, buf):
                return out.copy()
        return out


@contextmanager
def session(image: np.ndarray) -> Iterator[Pool | None]:
    """This thread's pool for one call on ``image``, or None (a nested call, or an image too small to gain)."""
    if image.nbytes < MIN_BYTES or getattr(_LOCAL, "busy", False):
        yield None
        return
    pool = getattr(_LOCAL, "pool", None)
    if pool is None:
        pool = _LOCAL.pool = Pool()
    _LOCAL.busy = True
    try:
        yield pool
    finally:
        _LOCAL.busy = False
