"""Starting ``augment serve`` for the service tests: the real CLI in a subprocess, on 127.0.0.1 and a free port
(``--port 0``; the server prints the URL it bound), and a small stdlib HTTP client that never raises on 4xx/5xx."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class Server:
    def __init__(self, *args: str, env: dict | None = None, timeout: float = 90.0) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "augment.cli", "serve", "--port", "0", *args], cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, text=True,
        )
        line = _readline(self.proc, timeout)
        if not line:
            self.proc.kill()
            raise RuntimeError(f"augment serve did not start: {self.proc.stderr.read()}")
        self.info = json.loads(line)
        self.url = self.info["url"]

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 120) -> Reply:
        data = body
        headers = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)) and not hasattr(body, "__next__"):
            data = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(data, str):
            data = data.encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, dict(err.headers), err.read())

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw) -> Reply:
        return self.request("POST", path, body, **kw)

    def wait_job(self, job_id: str, until=lambda j: j["status"] in ("complete", "failed", "cancelled", "interrupted"),
                 timeout: float = 240, headers: dict | None = None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/v1/jobs/{job_id}", headers=headers).json()
            if until(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s: {job}")
            time.sleep(0.1)

    def stop(self, sig=signal.SIGINT, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


def _readline(proc: subprocess.Popen, timeout: float) -> str:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if sel.select(0.2):
            return proc.stdout.readline()
    return ""
