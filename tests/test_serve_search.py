"""Search jobs through real HTTP against `augment serve` (the real CLI on 127.0.0.1 and a free port): a space file
under a data root or an inline space, progress and events, the leaderboard, best.yaml and report, the checks on
the space (key paths, files confined to the data roots, the budget limit), cancel then resume, and a server
restart. A tiny text dataset and tiny spaces with the tfidf-logreg model keep each search to seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from augment.serve.search_jobs import planned_evaluations
from augment.search.space import parse_space
from augment.spec import parse_spec
from serve_support import REPO, Server

SAMPLES = REPO / "samples"
OPTIONS = {"model": "tfidf-logreg", "rungs": 2, "folds": 2, "final_repeats": 2, "seed": 4, "budget": "2m"}
SMALL_SPACE = {"name": "small", "modality": "text", "candidates": 2, "copies": [1],
               "ops": [{"op": "random_swap", "params": {"rate": {"choices": [0.1, 0.3]}}},
                       {"op": "random_delete", "params": {"rate": {"choices": [0.1, 0.3]}}}],
               "pipelines": [{"file": "../specs/eda.yaml"}]}
# many candidates, so that a search is still running when the test cancels it or kills its server
LONG_SPACE = {"name": "long", "modality": "text", "candidates": 12, "copies": [1],
              "ops": [{"op": "random_delete", "p": [0.1, 0.9], "params": {"rate": {"range": [0.05, 0.4]}}},
                      {"op": "random_swap", "params": {"rate": {"range": [0.05, 0.4]}}}]}
LONG_OPTIONS = {**OPTIONS, "rungs": 3}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("serve-search")
    root = base / "data"
    (root / "text").mkdir(parents=True)
    (root / "text" / "reviews.tsv").write_text((SAMPLES / "text" / "reviews.tsv").read_text())
    (root / "specs").mkdir()
    (root / "specs" / "eda.yaml").write_text((REPO / "pipelines" / "eda.yaml").read_text())
    (root / "spaces").mkdir()
    (root / "spaces" / "small.yaml").write_text(yaml.safe_dump(SMALL_SPACE))
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text((REPO / "pipelines" / "eda.yaml").read_text())
    (outside / "space.yaml").write_text(yaml.safe_dump(SMALL_SPACE))
    os.symlink(outside / "space.yaml", root / "spaces" / "leak.yaml")
    os.symlink(outside / "secret.yaml", root / "specs" / "leak.yaml")
    escaping = {**SMALL_SPACE, "pipelines": [{"file": "../../outside/secret.yaml"}]}
    (root / "spaces" / "escaping.yaml").write_text(yaml.safe_dump(escaping))
    via_link = {**SMALL_SPACE, "pipelines": [{"file": "../specs/leak.yaml"}]}
    (root / "spaces" / "via_link.yaml").write_text(yaml.safe_dump(via_link))
    return base


@pytest.fixture(scope="module")
def server(data):
    srv = Server("--data-root", f"data={data / 'data'}", "--jobs-root", str(data / "jobs"),
                 "--max-search-budget", "5m", "--max-jobs", "3")
    yield srv
    assert srv.stop() == 0


def _comparable(folder: Path) -> dict:
    """What must not depend on how the search got there: every evaluation, the test-set numbers, best.yaml."""
    board = json.loads((folder / "leaderboard.json").read_text())
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in board["candidates"]]
    return {"rows": rows, "test": board["test"], "best": (folder / "best.yaml").read_text()}


def _trial_keys(folder: Path) -> list[tuple]:
    return [(t["candidate"], t["rung"]) for t in map(json.loads, (folder / "trials.jsonl").read_text().splitlines())]


def _start(server, space=None, space_file=None, options=OPTIONS, **extra):
    body = {"kind": "search", "dataset": "data/text/reviews.tsv", "options": options, **extra}
    if space is not None:
        body["space"] = space
    if space_file is not None:
        body["space_file"] = space_file
    return server.post("/v1/jobs", body)


def test_search_job_from_a_space_file_gives_what_the_cli_writes(server, data, tmp_path):
    reply = _start(server, space_file="data/spaces/small.yaml")
    assert reply.status == 201, reply.body
    job = reply.json()
    space = parse_space(SMALL_SPACE | {"pipelines": [{"file": str(data / "data" / "specs" / "eda.yaml")}]})
    assert job["kind"] == "search" and job["counts"]["total"] == planned_evaluations(space, 4, 2, 3) > 0
    events = server.get(f"/v1/jobs/{job['id']}/events").body.decode()
    states = [json.loads(b.split("data: ", 1)[1]) for b in events.split("\n\n") if b.startswith("event: job")]
    assert states[0]["status"] in ("queued", "running") and states[-1]["status"] == "complete"
    assert "event: end" in events
    dones = [s["counts"]["done"] for s in states]
    assert dones == sorted(dones)
    final = server.get(f"/v1/jobs/{job['id']}").json()
    assert final["progress"] == 1.0 and final["counts"]["done"] == final["counts"]["total"] > 0
    summary = final["summary"]
    assert summary["winner"] and summary["test"]["winner"]["verdict"]
    assert str(data) not in json.dumps(final)  # no path of the server's machine
    board = server.get(f"/v1/jobs/{job['id']}/leaderboard")
    assert board.status == 200 and str(data) not in board.body.decode()
    board = board.json()
    assert board["complete"] and board["winner"] == summary["winner"] == board["candidates"][0]["candidate"]
    assert board["info"]["search_data"] == "search/data/train.jsonl"
    best = server.get(f"/v1/jobs/{job['id']}/files/{summary['best_yaml']}")
    assert best.status == 200 and parse_spec(yaml.safe_load(best.body)).modality == "text"
    report = server.get(f"/v1/jobs/{job['id']}/files/{summary['report_html']}")
    assert report.status == 200 and report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"] and b"optimistic" in report.body
    assert server.get(f"/v1/jobs/{job['id']}/files/search/../../jobs.sqlite3").status in (403, 404)
    assert server.get(f"/v1/jobs/{job['id']}/outputs").status == 400  # a search has a leaderboard, not outputs

    # the same search typed at the command line: the same evaluations, test numbers and best.yaml
    space_file = tmp_path / "space.yaml"
    space_file.write_text(yaml.safe_dump(SMALL_SPACE | {"pipelines": [{"file": str(data / "data" / "specs" /
                                                                                      "eda.yaml")}]}))
    cli = subprocess.run([sys.executable, "-m", "augment.cli", "search", "--train",
                          str(data / "data" / "text" / "reviews.tsv"), "--space", str(space_file), "--out",
                          str(tmp_path / "cli"), "--model", "tfidf-logreg", "--rungs", "2", "--folds", "2",
                          "--final-repeats", "2", "--seed", "4", "-q"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stderr
    job_out = data / "jobs" / job["id"] / "search"
    assert _comparable(job_out) == _comparable(tmp_path / "cli")


def test_an_inline_space_is_validated_with_key_paths_and_its_files_confined(server):
    bad = {**SMALL_SPACE, "pipelines": [], "ops": [{"op": "random_swap", "params": {"rat": {"choices": [0.1]}}},
                                                   {"op": "random_swop"}]}
    reply = _start(server, space=bad)
    assert reply.status == 422
    paths = [i["path"] for i in reply.json()["issues"]]
    assert paths == ["ops[0].params.rat", "ops[1].op"], reply.body
    assert "did you mean 'rate'" in reply.json()["issues"][0]["message"]
    text = _start(server, space="name: x\nmodality: text\nops:\n  - op: random_swap\n    p: 2\n")
    assert text.status == 422 and text.json()["issues"][0]["path"] == "ops[0].p"
    # files of an inline space are ROOT/path names, confined like datasets
    ok = {**SMALL_SPACE, "pipelines": [{"file": "data/specs/eda.yaml"}], "candidates": 1}
    started = _start(server, space=yaml.safe_dump(ok))
    assert started.status == 201, started.body
    for ref, status in (("data/../outside/secret.yaml", 403), ("data/specs/leak.yaml", 403),
                        ("/etc/passwd", 404), ("nope/x.yaml", 404)):
        reply = _start(server, space={**SMALL_SPACE, "pipelines": [{"file": ref}]})
        assert reply.status == status, (ref, reply.body)
        assert reply.json()["error"].startswith("pipelines[0].file: ")
    missing = _start(server, space={**SMALL_SPACE, "pipelines": [{"file": "data/specs/missing.yaml"}]})
    assert missing.status == 422 and missing.json()["issues"][0]["path"] == "pipelines[0].file"
    server.wait_job(started.json()["id"])


@pytest.mark.parametrize("body, status, words", [
    ({"space_file": "data/spaces/leak.yaml"}, 403, "outside the data root"),
    ({"space_file": "data/spaces/escaping.yaml"}, 403, "pipelines[0].file"),
    ({"space_file": "data/spaces/via_link.yaml"}, 403, "outside the data root"),
    ({"space_file": "data/../outside/space.yaml"}, 403, ""),
    ({"space_file": "data/spaces/nothing.yaml"}, 404, ""),
    ({}, 422, "one of the two"),
    ({"space": SMALL_SPACE, "space_file": "data/spaces/small.yaml"}, 422, "one of the two"),
    ({"space_file": "data/spaces/small.yaml", "spec": "name: x"}, 422, "not a spec"),
    ({"space_file": "data/spaces/small.yaml", "options": {**OPTIONS, "budget": "10m"}}, 422, "limit of 300 s"),
    ({"space_file": "data/spaces/small.yaml", "options": {**OPTIONS, "budget": "soon"}}, 422, "duration"),
    ({"space_file": "data/spaces/small.yaml", "options": {**OPTIONS, "budget": -3}}, 422, "positive"),
    ({"space_file": "data/spaces/small.yaml", "options": {**OPTIONS, "model": "os:system"}}, 422, "options.model"),
    ({"space_file": "data/spaces/small.yaml", "options": {"folds": 1}}, 422, "options.folds"),
    ({"space_file": "data/spaces/small.yaml", "dataset": "data/specs"}, 422, "image dataset"),
    ({"space_file": "data/spaces/small.yaml", "test": "data/../outside"}, 403, ""),
])
def test_search_requests_are_refused_with_one_line_errors(server, data, body, status, words):
    reply = server.post("/v1/jobs", {"kind": "search", "dataset": "data/text/reviews.tsv", "options": OPTIONS,
                                     **body})
    assert reply.status == status, reply.body
    assert reply.body.count(b"\n") <= 1 and b"Traceback" not in reply.body and str(data).encode() not in reply.body
    assert words in reply.json()["error"]


def _watch_trials(path: Path, at_least: int, proc_alive, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            n = len(path.read_text().splitlines())
            if n >= at_least:
                return n
        assert proc_alive(), "the search ended before it could be stopped"
        time.sleep(0.01)
    raise AssertionError(f"no {at_least} evaluations in {path} after {timeout}s")


@pytest.mark.slow
def test_cancel_then_resume_ends_exactly_like_an_uninterrupted_search(server, data):
    whole = _start(server, space=LONG_SPACE, options=LONG_OPTIONS).json()
    job = _start(server, space=LONG_SPACE, options=LONG_OPTIONS).json()
    trials = data / "jobs" / job["id"] / "search" / "trials.jsonl"
    _watch_trials(trials, 2, lambda: server.get(f"/v1/jobs/{job['id']}").json()["status"] == "running")
    cancelled = server.request("DELETE", f"/v1/jobs/{job['id']}")
    assert cancelled.status == 202 and cancelled.json()["status"] in ("cancelling", "cancelled")
    stopped = server.wait_job(job["id"])
    assert stopped["status"] == "cancelled" and stopped["resumable"], stopped
    done = len(trials.read_text().splitlines())
    assert 2 <= done < stopped["counts"]["total"]
    assert not (trials.parent / "leaderboard.json").exists()
    partial = server.get(f"/v1/jobs/{job['id']}/leaderboard").json()
    assert not partial["complete"] and len(partial["trials"]) == done
    resumed = server.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status == 200 and resumed.json()["status"] == "running"
    final = server.wait_job(job["id"])
    assert final["status"] == "complete" and final["progress"] == 1.0, final
    assert f"resuming: {done} evaluations" in (trials.parent.parent / "stderr.log").read_text()
    keys = _trial_keys(trials.parent)
    assert len(keys) == len(set(keys)), "a finished evaluation ran twice"
    assert server.wait_job(whole["id"])["status"] == "complete"
    assert _comparable(trials.parent) == _comparable(data / "jobs" / whole["id"] / "search")
    assert server.post(f"/v1/jobs/{job['id']}/resume").status == 409


@pytest.mark.slow
def test_a_restarted_server_resumes_an_interrupted_search(data, tmp_path):
    args = ("--data-root", f"data={data / 'data'}", "--jobs-root", str(tmp_path / "jobs"), "--max-jobs", "1")
    first = Server(*args)
    job = _start(first, space=LONG_SPACE, options=LONG_OPTIONS).json()
    busy = _start(first, space_file="data/spaces/small.yaml")  # --max-jobs 1: the machine is not a queue
    assert busy.status == 429 and "running" in busy.json()["error"] and busy.body.count(b"\n") == 1
    trials = tmp_path / "jobs" / job["id"] / "search" / "trials.jsonl"
    _watch_trials(trials, 2, lambda: first.get(f"/v1/jobs/{job['id']}").json()["status"] == "running")
    first.stop(signal.SIGKILL)  # no clean shutdown: the search is told by the kernel (parent death)
    second = Server(*args)
    try:
        listed = second.get(f"/v1/jobs/{job['id']}").json()
        assert listed["status"] == "interrupted" and listed["resumable"]
        assert second.post(f"/v1/jobs/{job['id']}/resume").status == 200
        final = second.wait_job(job["id"])
        assert final["status"] == "complete", final
        assert "resuming:" in (trials.parent.parent / "stderr.log").read_text()
        keys = _trial_keys(trials.parent)
        assert len(keys) == len(set(keys))
    finally:
        assert second.stop() == 0


def test_a_bad_max_search_budget_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "serve", "--port", "0", "--jobs-root",
                           str(tmp_path / "jobs"), "--max-search-budget", "soon"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: --max-search-budget 'soon'"), proc.stderr
