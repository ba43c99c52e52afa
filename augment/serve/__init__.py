"""``augment serve``: the augmentation service (HTTP API) and the studio, on top of the library and the CLI.

FastAPI and uvicorn are imported only here, so the other commands never pay for them. The app is built by
``create_app(ServeConfig(...))``; ``serve(config)`` binds the socket and runs uvicorn.
"""

from augment.serve.config import Limits, ServeConfig, ServeConfigError

__all__ = ["Limits", "ServeConfig", "ServeConfigError", "create_app", "serve"]


def create_app(config: ServeConfig):
    from augment.serve.app import create_app as _create

    return _create(config)


def serve(config: ServeConfig, on_listening=None) -> None:
    from augment.serve.server import serve as _serve

    _serve(config, on_listening)
