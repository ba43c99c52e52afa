"""The gate every request passes first (a plain ASGI middleware, outside FastAPI's routing).

- Body size: the whole body is read here, up to ``max_request_bytes`` (Content-Length or chunked), then replayed to
  the app; a larger body is refused with 413 before the app sees any of it.
- Token: when the server has one, every request needs ``Authorization: Bearer TOKEN`` or the studio's cookie
  (set by opening ``/?token=TOKEN`` once); compared in constant time.
- Without a token the server only listens on loopback, where two browser attacks remain: DNS rebinding (a page
  whose host name resolves to 127.0.0.1) and cross-site form posts. The Host header must then be a loopback name,
  and a request that changes anything must not come from another origin.
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from augment.serve.config import ServeConfig, is_loopback

COOKIE = "augment_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def error_body(status: int, message: str, **extra) -> bytes:
    """The one error shape of the service: one line of JSON."""
    message = " ".join(str(message).split()) or "error"
    return json.dumps({"error": message, "status": status, **extra}, ensure_ascii=False).encode("utf-8") + b"\n"


async def send_error(send, status: int, message: str, headers: list | None = None) -> None:
    body = error_body(status, message)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive, cap: int = 1 << 30) -> None:
    """Read and drop the rest of a refused body, so the client, still sending it, can read the 413 instead of
    getting a broken pipe when the server closes the connection mid-upload. Up to ``cap`` bytes."""
    seen = 0
    while seen < cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class Gate:
    def __init__(self, app, config: ServeConfig) -> None:
        self.app = app
        self.config = config
        self.token = config.token.encode("utf-8") if config.token else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.token is None and not is_loopback(_host_name(host)):
            return await send_error(send, 403, f"host {host!r} refused: this server answers only to loopback names "
                                               "(127.0.0.1, localhost) unless it runs with a token")
        origin = headers.get("origin")
        if origin and scope["method"] not in _SAFE_METHODS and urlsplit(origin).netloc != host:
            return await send_error(send, 403, f"cross-origin request from {origin} refused")
        if self.token is not None:
            verdict = self._check_token(scope, headers)
            if verdict == "redirect":
                return await self._set_cookie(scope, send)
            if verdict is not True:
                return await send_error(send, 401, "missing or wrong token: send 'Authorization: Bearer TOKEN' "
                                                   "(or open /?token=TOKEN in a browser)",
                                        [(b"www-authenticate", b"Bearer")])
        declared = headers.get("content-length")
        limit = self.config.limits.max_request_bytes
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                return await send_error(send, 400, "invalid Content-Length")
            if too_big:
                await _drain(receive)
                return await send_error(send, 413, f"request body is {declared} bytes; the limit is {limit}")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                if message.get("more_body"):
                    await _drain(receive)
                return await send_error(send, 413, f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # then the client's disconnect, which streaming responses watch for

        return await self.app(scope, replay, send)

    def _check_token(self, scope, headers):
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is just no cookie
            cookie = SimpleCookie()
        if COOKIE in cookie and hmac.compare_digest(cookie[COOKIE].value.encode("utf-8"), self.token):
            return True
        if scope["path"] == "/" and scope["method"] == "GET":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0]
            if given and hmac.compare_digest(given.encode("utf-8"), self.token):
                return "redirect"
        return False

    async def _set_cookie(self, scope, send) -> None:
        """``/?token=...`` -> the token moves into an HttpOnly cookie and out of the address bar and history."""
        cookie = f"{COOKIE}={self.config.token}; HttpOnly; SameSite=Strict; Path=/"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", b"/"), (b"set-cookie", cookie.encode("utf-8")), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


__all__ = ["COOKIE", "error_body", "send_error", "Gate"]
