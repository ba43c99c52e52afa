"""The Dockerfile of `augment serve`: non-root, data roots as volumes, the token from the environment, a health
check at /v1/health.

Without a container engine the image's entry point and health check are run here as the container would run them
(same arguments, token from the environment). Where `docker info` answers, the image is also built and started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
TOKEN = "t0ken-for-the-dockerfile-test"


def _instruction(name: str) -> list[str]:
    """Every ``NAME ...`` instruction of the final stage, continuation lines joined."""
    final = DOCKERFILE.split("\nFROM ")[-1]
    joined = re.sub(r"\\\n", " ", final)
    return [line[len(name) + 1:].strip() for line in joined.splitlines() if line.startswith(name + " ")]


def test_the_image_runs_as_a_non_root_user_with_volumes_and_no_baked_token():
    assert _instruction("USER") and _instruction("USER")[-1] not in ("root", "0")
    volumes = json.loads(_instruction("VOLUME")[0])
    assert set(volumes) == {"/data", "/jobs"}
    assert "AUGMENT_TOKEN=" not in " ".join(_instruction("ENV")) and "--token" not in DOCKERFILE
    assert "/v1/health" in _instruction("HEALTHCHECK")[0]


def _entrypoint(data: Path, jobs: Path) -> list[str]:
    argv = json.loads(_instruction("ENTRYPOINT")[0]) + json.loads(_instruction("CMD")[0])
    assert argv[:2] == ["augment", "serve"]
    argv = [str(jobs) if a == "/jobs" else a.replace("=/data", f"={data}") for a in argv]
    argv[argv.index("--port") + 1] = "0"  # a free port here
    return [sys.executable, "-m", "augment.cli", *argv[1:]]


def _health_command(port: int) -> str:
    text = _instruction("HEALTHCHECK")[0]
    command = text[text.index(" CMD ") + 5:] if not text.startswith("CMD ") else text[4:]
    return command.replace("127.0.0.1:8765", f"127.0.0.1:{port}")


@pytest.mark.slow
def test_the_entry_point_needs_the_token_and_the_health_check_passes_with_it(tmp_path):
    data, jobs = tmp_path / "data", tmp_path / "jobs"
    (data / "digits").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "AUGMENT_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    refused = subprocess.run(_entrypoint(data, jobs), env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "token" in refused.stderr and "Traceback" not in refused.stderr
    env["AUGMENT_TOKEN"] = TOKEN
    server = subprocess.Popen(_entrypoint(data, jobs), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        line = server.stdout.readline()
        assert line, server.stderr.read()
        port = int(json.loads(line)["url"].rsplit(":", 1)[1])
        health = subprocess.run(["sh", "-c", _health_command(port)], env=env, capture_output=True, text=True,
                                timeout=60)
        assert health.returncode == 0, health.stderr
        wrong = subprocess.run(["sh", "-c", _health_command(port)], env=dict(env, AUGMENT_TOKEN="x" * 20),
                               capture_output=True, text=True, timeout=60)
        assert wrong.returncode != 0  # the check authenticates like any client
    finally:
        server.terminate()
        server.wait(timeout=60)


BASE_IMAGE = "python:3.11-slim"


def _docker_works() -> bool:
    """A daemon that answers and the base image, present or pullable (a container registry may be unreachable)."""
    if shutil.which("docker") is None:
        return False
    try:
        if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
            return False
        if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True, timeout=60).returncode == 0:
            return True
        return subprocess.run(["docker", "pull", BASE_IMAGE], capture_output=True, timeout=300).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.mark.slow
def test_the_image_builds_and_reports_healthy(tmp_path):
    if not _docker_works():
        pytest.skip(f"no working container engine here, or {BASE_IMAGE} cannot be pulled")
    tag = f"augment-serve-test:{os.getpid()}"
    build = subprocess.run(["docker", "build", "-t", tag, str(REPO)], capture_output=True, text=True, timeout=3000)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run(["docker", "run", "-d", "-e", f"AUGMENT_TOKEN={TOKEN}", tag], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    container = run.stdout.strip()
    try:
        for _ in range(60):
            state = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                                   capture_output=True, text=True).stdout.strip()
            if state in ("healthy", "unhealthy"):
                break
            time.sleep(5)
        assert state == "healthy"
        user = subprocess.run(["docker", "exec", container, "id", "-u"], capture_output=True, text=True).stdout
        assert user.strip() != "0"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
