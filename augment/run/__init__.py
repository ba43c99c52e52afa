"""Running pipelines over datasets: the unit of work, and the engines that run it."""

__all__ = []
