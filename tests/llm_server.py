"""A small OpenAI-compatible chat server for tests: deterministic rewrites, and scripted failures (429 with
Retry-After, 500, a slow answer past the client's timeout, malformed JSON, a dropped connection)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SWAPS = {"movie": "film", "film": "movie", "good": "fine", "great": "excellent", "bad": "poor", "really": "truly",
         "very": "quite", "boring": "dull", "funny": "amusing", "story": "plot", "acting": "performances"}
OPENERS = ["honestly, ", "frankly, ", "in short, ", "all in all, ", "to be fair, ", "i think ", "overall, "]
DIGITS = {"3": "three", "10": "ten"}


def rewrite(text: str, seed: int | None) -> str:
    """What the fake model answers: word swaps and an opener picked by the seed; numbers spelled out (which
    the protected-token guard must refuse)."""
    words = [SWAPS.get(w, w) for w in text.split()]
    words = [DIGITS.get(w, w) for w in words]
    return OPENERS[(seed or 0) % len(OPENERS)] + " ".join(words)


class FakeChatServer:
    def __init__(self, port: int = 0):
        self.requests: list[dict] = []
        self.script: list[str] = []  # actions for the next requests, in order: 429, 500, slow, malformed, drop
        self.fail_after: int | None = None  # answer 503 to every request after this many
        self.fail_on: str | None = None  # answer 503 to every request whose prompt contains this
        self.retry_after = "0"
        self.slow_seconds = 1.0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    doc = json.loads(body)
                    doc["_auth"] = self.headers.get("Authorization")
                    outer.requests.append(doc)
                    n = len(outer.requests)
                    action = outer.script.pop(0) if outer.script else "ok"
                    if outer.fail_after is not None and n > outer.fail_after:
                        action = "503"
                    if outer.fail_on is not None and outer.fail_on in doc["messages"][-1]["content"]:
                        action = "503"
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if action in ("429", "500", "503"):
                    return self._send(int(action), b'{"error": "busy"}',
                                      {"Retry-After": outer.retry_after} if action == "429" else {})
                if action == "slow":
                    time.sleep(outer.slow_seconds)
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "cut":  # a status line and headers, then half the promised body
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"choices": [')
                    self.close_connection = True
                    return
                text = doc["messages"][-1]["content"].split("\n")[-1]
                if action == "malformed" or "MALFORMED" in text:
                    return self._send(200, b'{"choices": [{"message": {"content": "trunc')
                content = rewrite(text, doc.get("seed"))
                answer = {"id": f"cmpl-{n}", "object": "chat.completion", "model": doc["model"],
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                       "finish_reason": "stop"}]}
                self._send(200, json.dumps(answer).encode())

            def _send(self, code, data, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def texts(self) -> list[str]:
        return [r["messages"][-1]["content"] for r in self.requests]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port_url() -> str:
    """A base URL where nothing listens (a server started and stopped)."""
    server = FakeChatServer()
    server.stop()
    return server.base_url

