"""Preloaded last by the local engine's forkserver: undoes what ``forkserver_guard`` hid for the preload only."""

from __future__ import annotations

import sys

if "huggingface_hub" in sys.modules and sys.modules["huggingface_hub"] is None:
    del sys.modules["huggingface_hub"]


__all__ = []
