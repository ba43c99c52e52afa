"""Binding the socket and running uvicorn (the one place that imports uvicorn)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import Callable

from augment.serve.config import ServeConfig


def bind(host: str, port: int) -> socket.socket:
    """Bind first, so port 0 gives a free port that we can print before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on accepted sockets whose proto says TCP; without it every
    # response waited ~40 ms for the client's delayed ACK (uvicorn writes headers and body separately)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def serve(config: ServeConfig, on_listening: Callable[[str], None] | None = None, log_level: str = "warning") -> None:
    import uvicorn

    from augment.serve.app import create_app

    app = create_app(config)
    sock = bind(config.host, config.port)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, server_header=False,
                                           proxy_headers=False, timeout_keep_alive=30))
    # uvicorn shuts down cleanly on SIGINT or SIGTERM, then raises the signal again for the handler it found:
    # for a service, being stopped (Ctrl-C, docker stop, systemd) is the normal end, not an error, also when the
    # signal comes as soon as it says it listens
    stopped = _SigtermStops() if threading.current_thread() is threading.main_thread() else contextlib.nullcontext()
    try:
        with stopped:
            if on_listening is not None:
                on_listening(url_of(sock))
            server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass


class _Stopped(Exception):
    pass


class _SigtermStops:
    def __enter__(self):
        def stop(signum, frame):
            raise _Stopped

        self.previous = signal.signal(signal.SIGTERM, stop)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGTERM, self.previous)


__all__ = ["bind", "url_of", "serve"]
