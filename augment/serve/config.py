"""The service's settings: where it listens, who may call it, which folders it may read, and its limits."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_ROOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=-]+")


class ServeConfigError(ValueError):
    """A setting the service cannot start with; the message is one line for the user."""


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 32 * 2**20  # a whole request body (base64 images grow by a third)
    max_pixels: int = 16_000_000  # one uploaded or dataset image, checked from its header before decoding
    max_items: int = 64  # items in one /v1/augment request
    max_outputs: int = 256  # items x copies in one /v1/augment request
    max_samples: int = 64  # samples listed by one /v1/datasets/samples request
    max_running_jobs: int = 2  # jobs running at once; more are refused (429), the machine is not a queue
    max_search_seconds: float = 3600.0  # a search job's --budget: its default and its most


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    data_roots: dict[str, Path] = field(default_factory=dict)  # name -> folder; datasets are "name/rel/path"
    jobs_root: Path = Path("augment-jobs")
    limits: Limits = field(default_factory=Limits)
    python: str | None = None  # the interpreter jobs run the CLI with (default: this one)

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ServeConfigError(
                f"binding to {self.host} exposes the service beyond this machine: give a token with --token or "
                "$AUGMENT_TOKEN (clients then send 'Authorization: Bearer TOKEN'), or bind 127.0.0.1"
            )
        if self.token is not None and not _TOKEN_CHARS.fullmatch(self.token):
            raise ServeConfigError("the token may hold letters, digits and -._~+/= only (it travels in a header "
                                   "and a cookie)")
        if self.token is not None and len(self.token) < 16:
            raise ServeConfigError("the token must be at least 16 characters (e.g. `python -c 'import secrets; "
                                   "print(secrets.token_urlsafe(24))'`)")

    @property
    def db_path(self) -> Path:
        return self.jobs_root / "jobs.sqlite3"


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_data_roots(values: list[str] | tuple[str, ...]) -> dict[str, Path]:
    """``["samples", "shared=../shared/datasets"]`` -> ``{"samples": Path(...), "shared": Path(...)}``.

    A root is named by the user (``NAME=PATH``) or after its folder; datasets are then addressed as
    ``NAME/relative/path``, so no absolute path of the server's machine ever appears in a request.
    """
    roots: dict[str, Path] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep:
            raw, name = value, Path(value).resolve().name
        path = Path(os.path.expanduser(raw)).resolve()
        if not _ROOT_NAME.fullmatch(name or ""):
            raise ServeConfigError(f"--data-root {value!r}: the name must be letters, digits, '_', '-' or '.' "
                                   "(write NAME=PATH)")
        if not path.is_dir():
            raise ServeConfigError(f"--data-root {value!r}: {path} is not a folder")
        if name in roots and roots[name] != path:
            raise ServeConfigError(f"--data-root: two roots are named {name!r}; name them with NAME=PATH")
        roots[name] = path
    return roots


__all__ = ["LOOPBACK_NAMES", "ServeConfigError", "Limits", "ServeConfig", "is_loopback", "parse_data_roots"]
