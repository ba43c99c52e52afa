"""Example augment plugin (see examples/plugin/README.md): ops registered as augment_stain.<name>."""

from augment_stain.ops import ShoutWord, StainJitter, Translate

__all__ = ["StainJitter", "Translate", "ShoutWord"]
