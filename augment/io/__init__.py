"""Reading and writing datasets, images, manifests and run records."""

__all__ = []
