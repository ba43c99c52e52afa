"""``/v1/augment`` speed: requests per second through real HTTP, and the overhead over the library call.

    .venv/bin/python benchmarks/bench_serve.py [--requests 300] [--clients 4]

Work per request: one 100x100 JPEG (a sign_digits file, or a generated one when ../shared is absent) sent as
base64 JSON -> decode -> horizontal flip (p = 0.5) + zoom -> JPEG encode (quality 95) -> base64 JSON back, one
copy. The server is ``augment serve`` (the CLI, uvicorn, one process) on 127.0.0.1; the client keeps one
connection alive per thread (stdlib http.client, TCP_NODELAY as urllib3 and httpx set it). The library contender does the same work in-process
without HTTP: decode, ``Pipeline.run``, encode, sha256 and base64, which is what the endpoint does too, so the
difference is the service's overhead (HTTP, JSON, base64 decoding, parsing and validating the spec, the compiled
pipeline cache lookup). Seeds vary per request (seed = request index) so no response can be cached. Best of
``ROUNDS`` rounds each, the contenders taking turns.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SIGN_DIGITS = ROOT.parent / "shared" / "datasets" / "images" / "sign_digits"
ROUNDS = 3
SPEC = {"version": 1, "name": "bench-serve", "modality": "image", "backend": "albumentations", "seed": 7, "copies": 1,
        "steps": [{"op": "horizontal_flip", "p": 0.5}, {"op": "zoom", "params": {"scale": [0.85, 1.15]}}]}


def jpeg_100() -> tuple[bytes, str]:
    files = sorted(SIGN_DIGITS.glob("*/*.JPG")) + sorted(SIGN_DIGITS.glob("*/*.jpg")) if SIGN_DIGITS.is_dir() else []
    for path in files:
        data = path.read_bytes()
        from PIL import Image

        if Image.open(io.BytesIO(data)).size == (100, 100):
            return data, path.relative_to(SIGN_DIGITS).as_posix()
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 100, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue(), "generated.jpg"


def library_rate(data: bytes, name: str, n: int) -> float:
    """Items per second of the library doing the endpoint's work in-process: one compiled pipeline (as a library
    user holds it), then per item decode, run, encode, sha256 and base64."""
    from augment.compile.pipeline import Pipeline
    from augment.io.images import decode_image, encode_image, output_format
    from augment.seeding import derive_seed
    from augment.spec import parse_spec

    pipe = Pipeline(parse_spec(SPEC))
    # Objects made at import (torch's among them) are moved out of the collector's reach, as they are in the
    # long-lived server process by the time it has warmed up: otherwise full collections in this process made
    # the library look 20-30% slower than the same work behind HTTP.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    for i in range(n):
        image, info = decode_image(data)
        out = pipe.run(image, seed=derive_seed(i, name, 0)).output
        encoded = encode_image(out, output_format(name, info), 95)
        hashlib.sha256(encoded).hexdigest()
        base64.b64encode(encoded)
    return n / (time.perf_counter() - start)


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "augment.cli", "serve", "--port", "0", "--jobs-root",
                             str(ROOT / "benchmarks" / "out" / "serve-jobs")], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = proc.stdout.readline()
    return proc, json.loads(line)["url"]


def http_rate(url: str, data: bytes, name: str, n: int, clients: int) -> tuple[float, list[float]]:
    """Requests per second with ``clients`` threads, each with one kept-alive connection; and the latencies."""
    netloc = urlsplit(url).netloc
    image = base64.b64encode(data).decode()
    latencies: list[float] = []
    server_ms: list[float] = []
    lock = threading.Lock()

    def worker(indices: range) -> None:
        conn = http.client.HTTPConnection(netloc, timeout=60)
        conn.connect()
        # as urllib3/requests/httpx do: http.client sends headers and body in two writes, and Nagle's algorithm
        # would hold the body back for the server's delayed ACK (~40 ms a request)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mine: list[float] = []
        for i in indices:
            body = json.dumps({"spec": SPEC, "seed": i, "copies": 1, "items": [{"image": image, "name": name}]})
            t0 = time.perf_counter()
            conn.request("POST", "/v1/augment", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
            mine.append(time.perf_counter() - t0)
            if resp.status != 200:
                raise RuntimeError(payload[:200])
            timing = resp.getheader("server-timing", "")  # "augment;dur=1.234": the library's part, in the server
            server_ms.append(float(timing.partition("dur=")[2] or "nan"))
        conn.close()
        with lock:
            latencies.extend(mine)

    per = n // clients
    threads = [threading.Thread(target=worker, args=(range(c * per, (c + 1) * per),)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * clients / (time.perf_counter() - start), latencies, server_ms


def run(requests: int = 300, clients: int = 4) -> dict:
    data, name = jpeg_100()
    proc, url = start_server()
    try:
        http_rate(url, data, name, 30, 1)  # warm-up: imports, the spec cache, the first albumentations call
        library_rate(data, name, 30)
        lib, seq, par = 0.0, (0.0, [], []), (0.0, [], [])
        for _ in range(ROUNDS):  # round-robin, so a busy moment of the machine hits every contender alike
            lib = max(lib, library_rate(data, name, requests))
            seq = max(seq, http_rate(url, data, name, requests, 1), key=lambda r: r[0])
            par = max(par, http_rate(url, data, name, requests, clients), key=lambda r: r[0])
    finally:
        proc.terminate()
        proc.wait(30)
    lat = sorted(seq[1])
    return {
        "image": name, "requests": requests, "clients": clients, "library_per_s": lib, "http_per_s": seq[0],
        "http_parallel_per_s": par[0], "latency_ms_p50": 1000 * statistics.median(lat),
        "latency_ms_p95": 1000 * lat[int(0.95 * (len(lat) - 1))],
        "overhead_ms": 1000 * (1 / seq[0] - 1 / lib), "load_before": os.getloadavg()[0],
        "in_server_ms_p50": statistics.median(seq[2]),
        "http_overhead_ms_p50": statistics.median(1000 * t - a for t, a in zip(seq[1], seq[2])),
    }


def section(res: dict) -> list[str]:
    return [
        "## Service (`augment serve`, POST /v1/augment)",
        "",
        f"One 100x100 JPEG ({res['image']}) as base64 JSON, flip + zoom, one JPEG copy back; {res['requests']} requests "
        f"per round, best of {ROUNDS}; keep-alive stdlib client on 127.0.0.1; load average {res['load_before']:.1f}.",
        "",
        "| contender | items/s | per item |",
        "|---|---:|---:|",
        f"| library in-process (compiled pipeline; decode, run, encode, sha256, base64) | {res['library_per_s']:.0f} "
        f"| {1000 / res['library_per_s']:.2f} ms |",
        f"| HTTP, 1 keep-alive client | {res['http_per_s']:.0f} | {1000 / res['http_per_s']:.2f} ms "
        f"(p50 {res['latency_ms_p50']:.2f}, p95 {res['latency_ms_p95']:.2f}) |",
        f"| HTTP, {res['clients']} keep-alive clients | {res['http_parallel_per_s']:.0f} "
        f"| {1000 / res['http_parallel_per_s']:.2f} ms |",
        "",
        f"Overhead of the service over the in-process library loop: {res['overhead_ms']:+.2f} ms per request "
        f"({res['http_per_s'] / res['library_per_s']:.2f}x its rate). Inside the server the same work took "
        f"{res['in_server_ms_p50']:.2f} ms (median, its Server-Timing header), so HTTP and JSON "
        f"add {res['http_overhead_ms_p50']:.2f} ms per request (median, 1 client). The two processes run the "
        "same code; their difference in per-item time is the machine's noise (a busy shared machine).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print("\n".join(section(run(args.requests, args.clients))))


if __name__ == "__main__":
    main()
