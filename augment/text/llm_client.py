"""A minimal client for OpenAI-compatible chat endpoints (vLLM, llama.cpp server, Ollama, hosted APIs).

Standard library only (``urllib``): one POST to ``{base_url}/chat/completions`` per request. The client only
moves bytes: it returns the raw response body, so the caller can cache exactly what the server said (a
malformed answer included) and parse it afterwards.

Failures are split by what the run should do about them:

- 429 and 5xx answers, timeouts and dropped connections are retried with exponential backoff (``Retry-After``
  honoured, capped); when the tries run out, or the server cannot be reached at all, or it refuses the request
  (401, 404: a wrong key, URL or model, which no retry fixes), :class:`EndpointUnreachableError` is raised:
  every later request would fail the same way, so the run stops (resumably) instead of skipping every row.
- A 200 answer whose body is not the expected JSON is *not* an error here: it is returned, cached, and the
  op rejects that draw as ``malformed``.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

__all__ = ["EndpointUnreachableError", "ChatClient", "parse_chat_content"]

_RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER = 60.0  # a server asking for a longer pause than this gets this (and the run goes on)


class EndpointUnreachableError(RuntimeError):
    """The chat endpoint cannot serve requests; the message is one line saying what to do. A run stops on it
    (nothing of the current chunk is written) and is resumed by running the same command again."""


@dataclass(frozen=True)
class ChatClient:
    base_url: str
    model: str
    api_key_env: str | None = None
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0  # first pause in seconds; doubled on each retry
    sleep: Callable[[float], None] = time.sleep

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EndpointUnreachableError(
                    f"llm_paraphrase: environment variable {self.api_key_env} (api_key_env) is not set; export "
                    f"the API key in it, or remove api_key_env for a server that needs no key")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def post(self, payload: dict) -> str:
        """The body of a 200 answer to ``payload`` (text, possibly not JSON); retries as described above."""
        data = json.dumps(payload, sort_keys=True).encode("utf-8")
        headers = self._headers()
        last = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * (2 ** attempt)
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only: checked by the spec)
                    return response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as exc:
                body = _short(exc.read() if exc.fp is not None else b"")
                if exc.code not in _RETRY_STATUS:
                    raise EndpointUnreachableError(
                        f"llm_paraphrase: {self.url} refused the request with HTTP {exc.code}{body}; check "
                        f"base_url, model ({self.model!r}) and the API key{self._key_hint()}") from None
                last = f"HTTP {exc.code}{body}"
                wait = max(wait, _retry_after(exc.headers.get("Retry-After") if exc.headers else None))
            except urllib.error.URLError as exc:
                reason = exc.reason
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    last = f"no answer within {self.timeout:g} s (timeout)"
                elif isinstance(reason, ConnectionRefusedError) or isinstance(reason, socket.gaierror):
                    raise EndpointUnreachableError(
                        f"llm_paraphrase: cannot reach {self.url} ({reason}); start the server or fix base_url, "
                        "then run the same command again to resume") from None
                else:
                    last = f"connection failed: {reason}"
            except (TimeoutError, socket.timeout):
                last = f"no answer within {self.timeout:g} s (timeout)"
            except (ConnectionError, OSError, http.client.HTTPException) as exc:  # reset, dropped or cut mid-answer
                last = f"connection failed: {type(exc).__name__} {exc}".strip()
            if attempt < self.retries:
                self.sleep(min(wait, _MAX_RETRY_AFTER))
        raise EndpointUnreachableError(
            f"llm_paraphrase: {self.url} failed {self.retries + 1} times ({last}); retry later or raise retries/"
            "timeout, then run the same command again to resume")

    def _key_hint(self) -> str:
        return f" in ${self.api_key_env}" if self.api_key_env else " (api_key_env)"


def _retry_after(value: str | None) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds; an HTTP date is read as 'soon')."""
    if not value:
        return 0.0
    try:
        return max(0.0, min(float(value.strip()), _MAX_RETRY_AFTER))
    except ValueError:
        return 1.0


def _short(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", errors="replace").split())[:160]
    return f": {text}" if text else ""


def parse_chat_content(body: str) -> str | None:
    """The first choice's message content of a chat-completion body, or None when the body is not one (not
    JSON, no choices, no string content, cut off by the token limit)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    choices = doc.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if choice.get("finish_reason") == "length":  # the paraphrase was cut off: half a sentence is not one
        return None
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else None
