"""The service's routes, one router per resource, all on the shared dependencies of ``serve.deps``."""

__all__: list[str] = []
