"""`augment search` end to end through the real CLI: determinism, resume after a kill, the separation of
selection and test data (proved by a model that records every row it is given), outputs and errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from augment.search.space import load_space
from augment.spec import load_spec
from conftest import REPO, SAMPLES

TRAIN = SAMPLES / "text" / "reviews.tsv"
MODEL = "search_models:centroid"
SPACE = {"name": "small", "modality": "text", "candidates": 3, "copies": [1, 2],
         "ops": [{"op": "random_swap", "params": {"rate": {"choices": [0.1, 0.3]}}},
                 {"op": "random_delete", "params": {"rate": {"choices": [0.1, 0.3]}}}],
         "presets": [{"op": "eda"}]}


def env(log: Path | None = None) -> dict:
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
    e.pop("AUGMENT_SEARCH_LOG", None)
    if log is not None:
        e["AUGMENT_SEARCH_LOG"] = str(log)
    return e


def cli(*args, log=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=600, env=env(log))
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def search_args(space, out, *extra):
    return ["search", "--train", TRAIN, "--space", space, "--out", out, "--model", MODEL, "--rungs", "2",
            "--final-repeats", "2", "--seed", "4", *extra]


def comparable(out: Path) -> dict:
    board = json.loads((out / "leaderboard.json").read_text())
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in board["candidates"]]
    return {"rows": rows, "test": board["test"], "best": (out / "best.yaml").read_text()}


@pytest.fixture(scope="module")
def space_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return path


@pytest.fixture(scope="module")
def full_run(space_file, tmp_path_factory):
    """One uninterrupted search with the outer hold-out, every model call recorded."""
    root = tmp_path_factory.mktemp("full")
    out, log = root / "out", root / "calls.jsonl"
    proc = cli(*search_args(space_file, out), log=log)
    return out, log, json.loads(proc.stdout)


def _texts(path: Path) -> set[str]:
    return {json.loads(line)["text"] for line in path.read_text().splitlines()}


def _check_separation(calls: list[dict], held_out: set[str]) -> int:
    """Every call before the first one that sees held-out rows is a search call and sees none of them; from
    then on every call tests on exactly the held-out set; no call ever trains on a held-out row."""
    assert held_out
    first = next(i for i, c in enumerate(calls) if held_out & set(c["test"]))
    for c in calls:
        assert not held_out & set(c["train"]), "a held-out row was trained on"
    for c in calls[:first]:
        assert not held_out & set(c["test"]), "a held-out row reached the search"
    for c in calls[first:]:
        assert set(c["test"]) == held_out, "the final measurement must test on exactly the held-out set"
    assert first > 0
    return first


def test_search_writes_outputs_and_never_lets_the_outer_fold_reach_the_search(full_run):
    out, log, summary = full_run
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    held_out = _texts(out / "data" / "test.jsonl")
    search_rows = _texts(out / "data" / "train.jsonl")
    assert not held_out & search_rows and len(held_out) + len(search_rows) == 50
    first = _check_separation(calls, held_out)
    for c in calls[:first]:  # cross-validation of the search data: folds are disjoint from their training rows
        assert set(c["test"]) <= search_rows and not set(c["test"]) & set(c["train"])
    board = json.loads((out / "leaderboard.json").read_text())
    assert summary["winner"] == board["winner"] == board["candidates"][0]["candidate"]
    assert "optimistic" in board["note"] and "optimistic" in (out / "report.html").read_text()
    assert {"gain", "ci", "verdict", "mde"} <= set(board["test"]["winner"])
    best = load_spec(out / "best.yaml")  # a normal, valid spec
    assert best.modality == "text" and best.copies == board["candidates"][0]["copies"]
    assert board["op_importance"] and all(0 <= r["share_of_top"] <= 1 for r in board["op_importance"])
    trials = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    rung0 = [t for t in trials if t["rung"] == 0]
    assert rung0
    assert len({t["candidate"] for t in trials if t["rung"] == 1}) < len(rung0)  # halving happened


def test_given_test_set_is_read_only_by_the_final_measurement(space_file, tmp_path):
    rows = TRAIN.read_text().splitlines()
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("\n".join(rows[10:]) + "\n")
    test.write_text("\n".join(rows[:10]) + "\n")
    log = tmp_path / "calls.jsonl"
    cli("search", "--train", train, "--test", test, "--space", space_file, "--out", tmp_path / "out",
        "--model", MODEL, "--rungs", "2", "--quiet", log=log)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    _check_separation(calls, {r.split("\t", 1)[1] for r in rows[:10]})
    assert not (tmp_path / "out" / "data").exists()


def _search_until_trials(space_file: Path, out: Path, at_least: int, poll: float) -> subprocess.Popen:
    """Start `augment search` in its own session; return once it has finished ``at_least`` evaluations (or ended,
    or 300 s passed: the caller checks it is still running)."""
    proc = subprocess.Popen([sys.executable, "-m", "augment.cli", *map(str, search_args(space_file, out))],
                            cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    trials = out / "trials.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if trials.exists() and len(trials.read_text().splitlines()) >= at_least:
            break
        time.sleep(poll)
    return proc


def test_a_killed_search_resumes_and_ends_exactly_like_an_uninterrupted_one(full_run, space_file, tmp_path):
    out = tmp_path / "out"
    proc = _search_until_trials(space_file, out, 2, poll=0.2)
    trials = out / "trials.jsonl"
    assert proc.poll() is None, "the search ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and the model's child process, all started here
    proc.wait(timeout=60)
    done = len(trials.read_text().splitlines())
    assert 2 <= done and not (out / "leaderboard.json").exists()
    again = cli(*search_args(space_file, out))
    assert f"resuming: {done} evaluations" in again.stdout + again.stderr
    keys = [(t["candidate"], t["rung"]) for t in map(json.loads, trials.read_text().splitlines())]
    assert len(keys) == len(set(keys)), "a finished evaluation ran twice"
    assert comparable(out) == comparable(full_run[0])


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_the_search_where_it_is(space_file, tmp_path, sig, code):
    """The evaluation loop turns a signal into a partial result; the search must stop on it (it once carried on
    to the end, every later evaluation recorded, and exited 0)."""
    out = tmp_path / "out"
    proc = _search_until_trials(space_file, out, 1, poll=0.02)
    trials = out / "trials.jsonl"
    assert proc.poll() is None, "the search ended before it could be stopped"
    # Ctrl-C reaches the whole process group; SIGTERM (docker stop, SLURM) only the CLI's process
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "rerun the same command to resume" in last and "Traceback" not in err, err
    assert not (out / "leaderboard.json").exists() and not (out / "best.yaml").exists()
    done = len(trials.read_text().splitlines())
    assert 1 <= done < 3 * 2 + 2  # stopped early: not every candidate at every rung


def test_same_seed_same_search_other_seed_other_draws(full_run, space_file, tmp_path):
    a = load_space(space_file)
    assert [c.spec.to_dict() for c in a.candidates(seed=4)] == [c.spec.to_dict() for c in a.candidates(seed=4)]
    assert [c.spec.to_dict()["steps"] for c in a.candidates(seed=4)] != \
        [c.spec.to_dict()["steps"] for c in a.candidates(seed=5)]


def test_budget_stops_the_search_but_still_reports(space_file, tmp_path):
    proc = cli(*search_args(space_file, tmp_path / "out", "--budget", "1s", "-q"))
    summary = json.loads(proc.stdout)
    assert "budget" in summary["stopped"]
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert 1 <= len(board["candidates"]) < 4 and board["test"]["winner"]["verdict"]


def test_errors_are_one_line_with_documented_exit_codes(full_run, space_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SPACE, "ops": [{"op": "random_swap", "params": {"rat": 0.1}}]}))
    proc = cli(*search_args(bad, tmp_path / "o"), check=False)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "ops[0].params.rat: unknown key 'rat' (did you mean 'rate'?)" in proc.stderr
    proc = cli(*search_args(space_file, tmp_path / "o", "--budget", "soon"), check=False)
    assert proc.returncode == 2 and "--budget 'soon'" in proc.stderr
    proc = cli("search", "--train", TRAIN, "--space", REPO / "pipelines" / "eda.yaml", "--out", tmp_path / "o",
               check=False)
    assert proc.returncode == 2 and "this is a pipeline spec, not a search space" in proc.stderr
    # OUT holds a search with other settings: refused, never mixed
    other = cli("search", "--train", TRAIN, "--space", space_file, "--out", full_run[0], "--model", MODEL,
                "--rungs", "2", "--seed", "5", check=False)
    assert other.returncode == 1 and "different settings (seed)" in other.stderr
    assert "Traceback" not in other.stderr
    proc = cli("search", "--train", SAMPLES / "digits", "--space", space_file, "--out", tmp_path / "img",
               "--model", MODEL, check=False)
    assert proc.returncode == 1 and "the space is for text" in proc.stderr and "Traceback" not in proc.stderr


def test_op_importance_compares_rung0_gains_of_every_candidate():
    from augment.search.search import op_importance, rank
    from augment.search.space import parse_space

    cands = parse_space({"name": "s", "modality": "text", "candidates": 0,
                         "pipelines": [{"steps": [{"op": "random_swap"}]}, {"steps": [{"op": "random_delete"}]},
                                       {"steps": [{"op": "random_swap"}, {"op": "random_delete"}]}]}).candidates()
    trials = [{"candidate": "c000", "rung": 0, "gain": 0.03}, {"candidate": "c001", "rung": 0, "gain": -0.02},
              {"candidate": "c002", "rung": 0, "gain": 0.01}, {"candidate": "c000", "rung": 1, "gain": 0.02}]
    rows = rank(cands, trials)
    assert [r["candidate"] for r in rows] == ["c000", "c002", "c001"] and rows[0]["rung"] == 1
    imp = {r["op"]: r for r in op_importance(rows, top=1)}
    assert imp["random_swap"]["mean_gain_with"] == pytest.approx(0.02)  # c000 (rung 0: 0.03) and c002 (0.01)
    assert imp["random_delete"]["mean_gain_without"] == pytest.approx(0.03)
    assert imp["random_swap"]["share_of_top"] == 1 and imp["random_delete"]["share_of_top"] == 0


def test_image_search_with_presets_on_digits(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "name": "digits", "modality": "image", "backend": "torchvision", "candidates": 1,
        "ops": [{"op": "rotate", "p": [0.3, 0.7], "params": {"degrees": {"choices": [[-10, 10], [-20, 20]]}}}],
        "pipelines": [{"name": "flip", "steps": [{"op": "horizontal_flip", "p": 0.5}]}],
        "presets": ["trivial_augment", {"op": "rand_augment", "params": {"n": 1, "magnitude": 0.3}}]}))
    digits = tmp_path / "digits"  # 8 of each digit's 20: the same search on 2/5 of the images
    for cls in sorted((SAMPLES / "digits").iterdir()):
        (digits / cls.name).mkdir(parents=True)
        for image in sorted(cls.glob("*.png"))[:8]:
            (digits / cls.name / image.name).write_bytes(image.read_bytes())
    out = tmp_path / "out"
    cli("search", "--train", digits, "--space", space, "--out", out, "--model",
        "search_models:pixel_centroid", "--rungs", "2", "--final-repeats", "2", "-q")
    held = {p.relative_to(out / "data" / "test") for p in (out / "data" / "test").rglob("*.png")}
    kept = {p.relative_to(out / "data" / "train") for p in (out / "data" / "train").rglob("*.png")}
    assert held and kept and not held & kept and len(held) + len(kept) == 80
    board = json.loads((out / "leaderboard.json").read_text())
    assert {r["kind"] for r in board["candidates"]} == {"pipeline", "preset", "drawn"}
    assert board["test"]["winner"]["verdict"]
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3 and "optimistic" in report
    assert load_spec(out / "best.yaml").backend == "torchvision"


def test_a_winner_that_does_not_beat_the_baseline_is_flagged(tmp_path):
    """An identity-like candidate (p=0) gains exactly nothing: the search must not present it as a help."""
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"name": "none", "modality": "text", "candidates": 0,
                                     "pipelines": [{"name": "never", "steps": [{"op": "random_swap", "p": 0.0}]}]}))
    out = tmp_path / "out"
    proc = cli("search", "--train", TRAIN, "--space", space, "--out", out, "--model", MODEL, "--rungs", "1",
               "--final-repeats", "2")
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["info"]["beat_baseline"] is False and board["candidates"][0]["gain"] == 0
    assert "no candidate beat the baseline" in proc.stderr
    assert "no candidate beat the baseline" in load_spec(out / "best.yaml").description
    assert "No candidate beat the baseline" in (out / "report.html").read_text()
