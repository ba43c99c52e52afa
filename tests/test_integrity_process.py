"""Integrity of a run's processes and records (issue 10): strict spec types, checked replays, clean shutdown on
signals, a Dask scheduler that does not answer, images the run would skip, colour profiles, and library code that
leaves the importing process alone."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from augment.compile import Pipeline
from augment.ops.catalog import registry
from augment.ops.drawn import DrawnValueError
from augment.spec import SpecError, parse_spec
from op_requirements import required

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def cli(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "augment.cli", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=ENV, **kw)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err


# --- strict, finite spec values (item 8) ----------------------------------------------------------------------

BAD_NUMBERS = [math.nan, math.inf, -math.inf, True, False, "0.5", "1", None, [1]]
BAD_INTEGERS = [2.0, 2.5, True, "2", math.nan, None]


def _spec(step: dict, **top) -> dict:
    return {"name": "t", "modality": top.pop("modality", "image"), "steps": [step], **top}


def _op_cases():
    """(op, field, bad value) for every numeric field of every op's parameter schema."""
    cases = []
    for op in registry().ops():
        for name, field in op.params.model_fields.items():
            ann = field.annotation
            if field.json_schema_extra and field.json_schema_extra.get("range"):
                item_int = "int" in str(ann).split("[", 1)[1].split(",")[0]
                bad = BAD_INTEGERS if item_int else BAD_NUMBERS
                cases += [(op.name, name, v) for v in bad if v is not None]
                cases += [(op.name, name, [v, v]) for v in bad if not isinstance(v, list)]
                cases += [(op.name, name, [1e308, 1e308]), (op.name, name, [-1e308, 1e308])]
            elif ann is float:
                cases += [(op.name, name, v) for v in BAD_NUMBERS + [1e308]]
            elif ann is int:
                cases += [(op.name, name, v) for v in BAD_INTEGERS + [10**30]]
            elif ann is bool:
                cases += [(op.name, name, v) for v in (0, 1, "true", "yes", 1.0)]
    return cases


def _required(op: str) -> dict:
    return required(op)


@pytest.mark.parametrize("op,field,value", _op_cases(), ids=lambda v: repr(v)[:20])
def test_every_numeric_op_param_is_strict_and_finite(op, field, value):
    modality = registry().get(op).modality
    with pytest.raises(SpecError) as err:
        parse_spec(_spec({"op": op, "params": {**_required(op), field: value}}, modality=modality))
    assert any(issue.path.startswith(f"steps[0].params.{field}") for issue in err.value.issues), err.value.render()


TOP_CASES = [("copies", v) for v in (True, 2.0, "2", math.nan, 1e308)] + [("seed", v) for v in (True, 1.5, "3", -1)]
STEP_CASES = (
    [("p", v) for v in (math.nan, math.inf, True, "0.5", None, 1e308)]
    + [("weights", v) for v in ([math.nan, 1], [math.inf, 1], [1e308, 1e308], [True, 1], ["1", 1], [-1, 2], [0, 0])]
    + [("n", v) for v in (True, 1.0, "1", [1, 2.0], [True, 1], math.nan)]
)


@pytest.mark.parametrize("key,value", TOP_CASES, ids=repr)
def test_top_level_numbers_are_strict(key, value):
    with pytest.raises(SpecError) as err:
        parse_spec(_spec({"op": "horizontal_flip"}, **{key: value}))
    assert [i.path for i in err.value.issues] == [key]


@pytest.mark.parametrize("key,value", STEP_CASES, ids=repr)
def test_group_numbers_are_strict(key, value):
    group = "one_of" if key == "weights" else "some_of" if key == "n" else "sequence"
    step = {group: [{"op": "horizontal_flip"}, {"op": "vertical_flip"}], key: value}
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(step))
    assert all(i.path.startswith(f"steps[0].{key}") for i in err.value.issues), err.value.render()


def test_valid_numbers_still_load_including_yaml_exponents(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nmodality: image\ncopies: 2\nsteps:\n  - one_of: [{op: horizontal_flip}, {op: zoom, "
                    "params: {scale: [1e-1, 2E0]}}]\n    weights: [1, 2.5]\n  - some_of: [{op: vertical_flip}]\n"
                    "    n: 1\n    p: 1\n")
    proc = cli("validate", path, "--dump")
    assert proc.returncode == 0, proc.stderr
    assert "- 0.1\n" in proc.stdout and "n:\n  - 1\n  - 1" in proc.stdout


@pytest.mark.parametrize("text,key", [
    ("weights: [.nan, 1]", "steps[0].weights"), ("weights: [.inf, 1]", "steps[0].weights"),
    ("weights: [1e308, 1e308]", "steps[0].weights"), ("p: '0.5'", "steps[0].p"),
])
def test_validate_cli_names_the_key(tmp_path, text, key):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\nmodality: image\nsteps:\n  - one_of: [{{op: horizontal_flip}}, {{op: vertical_flip}}]\n"
                    f"    {text}\n")
    proc = cli("validate", path)
    assert proc.returncode == 2 and f"{key}" in proc.stderr and "Traceback" not in proc.stderr


def test_copies_true_and_2_0_are_refused_by_the_cli(tmp_path):
    for value in ("true", "2.0"):
        path = tmp_path / "s.yaml"
        path.write_text(f"name: t\nmodality: image\ncopies: {value}\nsteps: [{{op: horizontal_flip}}]\n")
        proc = cli("validate", path)
        assert proc.returncode == 2 and "copies:" in proc.stderr


def test_model_dump_honours_its_arguments():
    spec = parse_spec(_spec({"op": "horizontal_flip"}))
    assert set(spec.model_dump(include={"name", "seed"})) == {"name", "seed"}
    assert "steps" not in spec.model_dump(exclude={"steps"})
    assert spec.model_dump(mode="json") == spec.to_dict()
    with pytest.raises(TypeError):
        spec.model_dump(by_alias=True)


def test_with_overrides_is_validated():
    spec = parse_spec(_spec({"op": "horizontal_flip"}))
    assert spec.with_overrides(seed=5, copies=3).seed == 5
    for bad in ({"copies": 0}, {"copies": True}, {"seed": -1}, {"backend": "native"}):
        with pytest.raises(SpecError):
            spec.with_overrides(**bad)


# --- recorded values checked before they are applied (item 7) -------------------------------------------------

IMAGE_OPS = registry().names("image")
_PIPES: dict = {}


def _op_pipe(op: str) -> Pipeline:
    if op not in _PIPES:
        _PIPES[op] = Pipeline(parse_spec(_spec({"op": op, "params": _required(op)})))
    return _PIPES[op]


def _leaf_paths(value, prefix=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaf_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaf_paths(v, prefix + (i,))
    else:
        yield prefix


def _set(doc, path, value):
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _numbers(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@contextlib.contextmanager
def _values_reaching_the_kernels():
    """Every mapping of drawn values the pipeline hands to an op's kernel (OpenCV, torchvision, a plugin), while
    the block runs: a record refused before it is applied never shows up here."""
    seen: list = []
    real = Pipeline._apply_op

    def spy(self, op, params, image, drawn, *args, **kwargs):  # *args: the buffer pool and "final" flag
        seen.append(copy.deepcopy(drawn))
        return real(self, op, params, image, drawn, *args, **kwargs)

    with mock.patch.object(Pipeline, "_apply_op", spy):
        yield seen


def _all_finite(seen) -> bool:
    # a NaN angle used to spin for 10 minutes inside OpenCV: nothing non-finite may reach a kernel
    return all(math.isfinite(v) for drawn in seen for v in _numbers(drawn))


CORRUPT = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 2**64, -(2**40), True, None, "1", [], {}]),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (-1 <= f <= 1)),
)


@pytest.mark.parametrize("op", IMAGE_OPS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), data=st.data())
def test_corrupted_recorded_values_never_hang_or_traceback(op, seed, data):
    pipe = _op_pipe(op)
    img = np.random.default_rng(seed).integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    res = pipe.run(img, seed=seed)
    assert np.array_equal(pipe.replay(img, res.applied), res.output)  # an honest record replays exactly
    record = copy.deepcopy(res.applied)
    leaves = [p for p in _leaf_paths(record[0]["params"])] if record[0]["params"] else []
    kind = data.draw(st.sampled_from(["value", "missing", "extra", "params", "path"] if leaves else ["extra", "params", "path"]))
    if kind == "value":
        path = data.draw(st.sampled_from(leaves))
        bad = data.draw(CORRUPT)
        _set(record[0]["params"], path, bad)
    elif kind == "missing":
        record[0]["params"].pop(data.draw(st.sampled_from(sorted(record[0]["params"]))))
    elif kind == "extra":
        record[0]["params"]["bogus"] = 1
    elif kind == "params":
        record[0]["params"] = data.draw(st.sampled_from([None, [], "x", 3]))
    else:
        record[0]["path"] = data.draw(st.sampled_from([None, 3, "steps[9]", ["steps[0]"]]))
    with _values_reaching_the_kernels() as seen:
        try:
            pipe.replay(img, record)
        except DrawnValueError as exc:
            assert "\n" not in str(exc)
        else:  # the corruption happened to be a value the op could have drawn (e.g. another in-range number)
            assert kind == "value"
    assert _all_finite(seen), seen


def test_nan_angle_is_refused_at_once():
    pipe = _op_pipe("rotate")
    img = np.zeros((8, 8, 3), np.uint8)
    with _values_reaching_the_kernels() as seen, pytest.raises(DrawnValueError, match="angle"):
        pipe.replay(img, [{"op": "rotate", "path": "steps[0]", "params": {"angle": math.nan}}])
    assert seen == []  # refused before OpenCV saw it
    with _values_reaching_the_kernels() as seen:  # the spy sees an accepted record
        pipe.replay(img, [{"op": "rotate", "path": "steps[0]", "params": {"angle": 5.0}}])
    assert len(seen) == 1


# --- replay of tampered records (item 7 and the tracebacks list) ----------------------------------------------

REPLAY_SPEC = {"name": "replay", "modality": "image", "seed": 3, "copies": 2, "steps": [
    {"op": "rotate", "params": {"degrees": [-20, 20]}}, {"op": "gaussian_noise", "p": 0.7},
    {"op": "random_resized_crop", "p": 0.5}, {"op": "cutout"}]}

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    src = root / "in"
    rng = np.random.default_rng(1)
    for cls in ("a", "b"):
        (src / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (20, 26, 3), dtype=np.uint8)).save(src / cls / f"x{i}.png")
    (root / "secret.png").write_bytes((src / "a" / "x0.png").read_bytes())
    spec = root / "spec.json"
    spec.write_text(json.dumps(REPLAY_SPEC))
    out = root / "out"
    proc = cli("run", spec, src, out, "--engine", "serial", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture
def replay_copy(replay_run, tmp_path):
    import shutil

    out = tmp_path / "out"
    shutil.copytree(replay_run, out)
    return out


def _replay_or_error(out, output):
    from augment.replay import ReplayError, replay_output

    try:
        return replay_output(out, output)
    except ReplayError as exc:
        assert "\n" not in str(exc)
        return exc


def test_honest_records_replay_and_match_the_files_on_disk(replay_run):
    from augment.replay import replay_output

    for rec in _records(replay_run):
        result = replay_output(replay_run, rec["output"])
        assert result.identical and result.on_disk == "identical"


def _mutations(rec: dict):
    keys = sorted(rec)
    return st.one_of(
        st.tuples(st.just("drop"), st.sampled_from(keys), st.none()),
        st.tuples(st.just("set"), st.sampled_from(keys), JSON_VALUES),
        st.tuples(st.just("op"), st.sampled_from(["op", "path", "params"]), JSON_VALUES),
        st.tuples(st.just("value"), st.sampled_from(["angle", "sigma", "noise_seed", "boxes"]),
                  st.sampled_from([math.nan, math.inf, -1e308, 10**40, True, None, "3", [[0, 0, 99, 99]], [1, 2]])),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tampered_manifest_records_give_one_line_errors(replay_run, replay_copy, data):
    records = _records(replay_run)  # the untouched run: every example starts from the same records
    rec = copy.deepcopy(data.draw(st.sampled_from([r for r in records if r["copy"] is not None])))
    kind, key, value = data.draw(_mutations(rec))
    if kind == "drop":
        rec.pop(key)
    elif kind == "set":
        rec[key] = value
    elif kind == "op" and rec["ops"]:
        rec["ops"][0][key] = value
    elif kind == "value":
        for entry in rec["ops"]:
            if key in entry["params"]:
                entry["params"][key] = value
    output = rec.get("output") if isinstance(rec.get("output"), str) else records[0]["output"]
    (replay_copy / "manifest.jsonl").write_text(json.dumps(rec, allow_nan=True) + "\n")
    with _values_reaching_the_kernels() as seen:
        _replay_or_error(replay_copy, output)
    assert _all_finite(seen), seen


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_tampered_run_records_give_one_line_errors(replay_run, replay_copy, data):
    run = json.loads((replay_run / "run.json").read_text())
    target = data.draw(st.sampled_from(["input", "quality", "spec", "spec.steps", "spec.seed", "spec.steps.0.params",
                                        "text_format", "whole"]))
    value = data.draw(JSON_VALUES)
    if target == "whole":
        run = value
    elif target.startswith("spec."):
        *path, key = target.split(".")[1:]
        node = run["spec"]
        for part in path:
            node = node[int(part)] if part.isdigit() else node[part]
        node[key] = value
    else:
        run[target] = value
    (replay_copy / "run.json").write_text(json.dumps(run, allow_nan=True))
    _replay_or_error(replay_copy, _records(replay_run)[0]["output"])


def test_replay_cli_tampered_records_and_nan_are_one_line_errors(replay_copy):
    records = _records(replay_copy)
    rec = next(r for r in records if r["copy"] is not None and any(o["op"] == "rotate" for o in r["ops"]))
    rec["ops"][0]["params"]["angle"] = math.nan
    bad_type = dict(records[1], copy="one")
    (replay_copy / "manifest.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps(bad_type) + "\n")
    proc = cli("replay", replay_copy, rec["output"], timeout=60)
    # named by the record check that runs before anything is applied (the in-process tests above count that
    # nothing reaches a kernel)
    assert proc.returncode == 1 and "angle" in one_line_error(proc) and "(rotate at steps[0])" in proc.stderr
    proc = cli("replay", replay_copy, bad_type["output"])
    assert proc.returncode == 1 and "'copy'" in one_line_error(proc)
    (replay_copy / "run.json").write_text(json.dumps({"spec": REPLAY_SPEC}))  # no input
    proc = cli("replay", replay_copy, bad_type["output"])
    assert proc.returncode == 1 and "'input'" in one_line_error(proc)


def test_replay_reports_an_output_changed_or_removed_after_the_run(replay_copy):
    rec = next(r for r in _records(replay_copy) if r["copy"] is not None)
    target = replay_copy / rec["output"]
    target.write_bytes(target.read_bytes()[:-1] + b"\0")
    proc = cli("replay", replay_copy, rec["output"])
    assert proc.returncode == 4 and json.loads(proc.stdout)["on_disk"] == "differs"
    assert json.loads(proc.stdout)["identical"] is True and "differs from its recorded sha256" in proc.stderr
    target.unlink()
    proc = cli("replay", replay_copy, rec["output"])
    assert proc.returncode == 4 and json.loads(proc.stdout)["on_disk"] == "missing"


@pytest.mark.parametrize("source", ["../secret.png", "/etc/passwd", "a/../../secret.png", "link/secret.png"])
def test_replay_refuses_a_source_outside_input(replay_copy, source):
    from augment.replay import ReplayError, replay_output

    run = json.loads((replay_copy / "run.json").read_text())
    src = Path(run["input"])
    if source.startswith("link/") and not (src / "link").exists():
        (src / "link").symlink_to(src.parent, target_is_directory=True)
    rec = dict(_records(replay_copy)[0], source=source)
    (replay_copy / "manifest.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(ReplayError, match="outside INPUT"):
        replay_output(replay_copy, rec["output"])


# --- signals to the run's process: nothing outlives it, and the run resumes (item 5) ---------------------------

SLOW_SPEC = {"name": "slow", "modality": "image", "seed": 1, "copies": 2,
             "steps": [{"op": "elastic"}, {"op": "rotate"}, {"op": "gaussian_noise"}]}


def _marked(mark: str) -> list[int]:
    """Every process whose environment carries ``mark``: the run and whatever it started, re-parented or not."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"AUGMENT_TEST_MARK={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def slow_input(tmp_path):
    src = tmp_path / "in"
    rng = np.random.default_rng(7)
    for cls in ("p", "q"):
        (src / cls).mkdir(parents=True)
        for i in range(150):
            Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(src / cls / f"{i:03d}.png",
                                                                                   compress_level=1)
    spec = tmp_path / "slow.json"
    spec.write_text(json.dumps(SLOW_SPEC))
    return spec, src


def _consistent(out: Path, items: int, copies: int) -> None:
    import hashlib

    records = _records(out)
    assert len(records) == items * copies
    assert len({r["output"] for r in records}) == len(records)
    for rec in records:
        assert hashlib.sha256((out / rec["output"]).read_bytes()).hexdigest() == rec["sha256"], rec["output"]
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert not [p for p in out.rglob("*") if ".augment-tmp" in p.name]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux-only")
@pytest.mark.parametrize("sig,engine", [(signal.SIGTERM, "local"), (signal.SIGKILL, "local"),
                                        (signal.SIGKILL, "dask")], ids=["SIGTERM", "SIGKILL", "SIGKILL-dask"])
def test_signal_to_the_run_leaves_no_process_and_the_run_resumes(slow_input, tmp_path, sig, engine):
    # dask: the LocalCluster's worker processes are forked from the run's forkserver, not children of the run
    import uuid

    if engine == "dask":
        pytest.importorskip("distributed")
    spec, src = slow_input
    out = tmp_path / "out"
    mark = uuid.uuid4().hex
    args = [PY, "-m", "augment.cli", "run", spec, src, out, "--workers", "2", "-q", "--engine", engine]
    proc = subprocess.Popen(args, cwd=REPO, env={**ENV, "AUGMENT_TEST_MARK": mark}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        manifest = out / "manifest.jsonl"
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_marked(mark)) >= 4 and manifest.exists() and manifest.stat().st_size > 0:
                break  # the forkserver and both workers are up, and outputs are being written
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before it could be signalled"
        os.kill(proc.pid, sig)  # the run's process only, as SLURM / docker stop / the OOM killer do
        stdout, stderr = proc.communicate(timeout=60)  # would hang while a worker still holds the pipes
        deadline = time.monotonic() + 5
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _marked(mark), "processes of the run outlived it"
    finally:
        for pid in _marked(mark):
            os.kill(pid, signal.SIGKILL)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert stderr.strip() == "error: terminated (SIGTERM); run the same command again to resume"
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
    again = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resource_tracker" not in again.stderr
    summary = json.loads(again.stdout)
    assert summary["resumed_skipped"] > 0 and summary["errors"] == 0
    _consistent(out, 300, 2)


# --- a Dask scheduler that does not answer (item 6) ----------------------------------------------------------

@pytest.fixture
def small_input(tmp_path):
    src = tmp_path / "in" / "c"
    src.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / f"{i}.png")
    return src.parent


@pytest.fixture
def http_port():
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("target,expected", [("http", "no Dask handshake"), ("closed", "connection refused")])
def test_an_unusable_scheduler_is_a_one_line_error_within_the_timeout(small_input, tmp_path, http_port, target,
                                                                        expected):
    port = http_port if target == "http" else _closed_port()
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "out"
    # the HTTP server never answers the handshake: the run can only end by giving up at its own deadline (the
    # subprocess timeout is a guard against a hang, not a measurement)
    proc = cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", small_input, out, "--engine", "dask",
               "--scheduler", address, "--scheduler-timeout", "2", timeout=90)
    err = one_line_error(proc)
    assert proc.returncode == 1 and address in err and expected in err and "cannot write" not in err
    if target == "http":
        assert "within 2 s" in err  # the deadline the user gave, not a default
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_scheduler_implies_dask_and_conflicts_with_another_engine(small_input, tmp_path):
    proc = cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", small_input, tmp_path / "o", "--engine", "local",
               "--scheduler", "tcp://127.0.0.1:1")
    assert proc.returncode == 2 and "--engine dask" in one_line_error(proc)
    assert not (tmp_path / "o").exists()
    proc = cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", small_input, tmp_path / "o2",
               "--scheduler", f"tcp://127.0.0.1:{_closed_port()}", "--scheduler-timeout", "1")
    assert proc.returncode == 1 and "Dask scheduler" in one_line_error(proc)  # dask was used, not ignored


def test_scheduler_alone_runs_on_that_cluster(small_input, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        proc = cli("run", REPO / "pipelines" / "flip_zoom_noise.yaml", small_input, tmp_path / "o",
                   "--scheduler", cluster.scheduler_address, "-q", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["written"] == 3 * 3


# --- colour profiles: non-sRGB sources keep their colours (rough edges) ---------------------------------------

def _s15(v: float) -> bytes:
    return int(round(v * 65536)).to_bytes(4, "big", signed=True)


def wide_gamut_icc() -> bytes:
    """An ICC v2 matrix/TRC display profile with Adobe RGB (1998) primaries (D50-adapted) and gamma 2.2: a real
    wide-gamut profile, built here because ImageCms.createProfile only makes sRGB, LAB and XYZ."""
    import struct

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)

    text = b"augment test Adobe-like RGB"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text) + 1) + text + b"\0" + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">I", 1) + struct.pack(">H", 563) + b"\0\0"  # gamma 563/256
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.6097559, 0.3111145, 0.0194702)), (b"gXYZ", xyz(0.2052401, 0.6256560, 0.0608902)),
            (b"bXYZ", xyz(0.1492240, 0.0632355, 0.7448387)),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text\0\0\0\0none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + b"\0" * 4 + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
              + b"lcms" + b"\0" * 44)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _lab(arr: np.ndarray, profile) -> np.ndarray:
    from PIL import ImageCms

    lab = ImageCms.profileToProfile(Image.fromarray(arr), profile, ImageCms.createProfile("LAB"), outputMode="LAB")
    out = np.asarray(lab).astype(np.float64)
    out[..., 0] *= 100 / 255
    out[..., 1:] -= 128
    return out


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_non_srgb_profile_is_converted_and_colours_are_kept(tmp_path, mode):
    import io as _io

    from PIL import ImageCms

    from augment.io.images import read_image

    icc = wide_gamut_icc()
    source_profile = ImageCms.ImageCmsProfile(_io.BytesIO(icc))
    # moderately saturated colours, inside sRGB's gamut once converted
    colours = np.array([[[150, 90, 70], [90, 150, 90], [80, 100, 160], [128, 128, 128], [200, 170, 120]]], np.uint8)
    arr = np.repeat(colours, 4, axis=0)
    img = Image.fromarray(arr)
    if mode == "RGBA":
        img = Image.fromarray(np.dstack([arr, np.full(arr.shape[:2], 200, np.uint8)]), "RGBA")
    path = tmp_path / "wide.png"
    img.save(path, icc_profile=icc)
    got, _ = read_image(path)
    assert got.shape[2] == (4 if mode == "RGBA" else 3)
    if mode == "RGBA":
        assert (got[..., 3] == 200).all()
    want = _lab(arr, source_profile)  # what the file's colours are
    now = _lab(np.ascontiguousarray(got[..., :3]), ImageCms.createProfile("sRGB"))  # what the decoded pixels show
    as_is = _lab(arr, ImageCms.createProfile("sRGB"))  # the old behaviour: profile dropped, numbers kept
    delta_now = np.linalg.norm(now - want, axis=-1).max()
    delta_old = np.linalg.norm(as_is - want, axis=-1).max()
    assert delta_now < 3.0 < delta_old, (delta_now, delta_old)


def test_srgb_profiles_and_damaged_profiles_leave_pixels_alone(tmp_path):
    from PIL import ImageCms

    from augment.io.images import read_image

    arr = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb.png", srgb), ("bad.png", b"not an icc profile")):
        Image.fromarray(arr).save(tmp_path / name, icc_profile=icc)
        assert np.array_equal(read_image(tmp_path / name)[0], arr)


def test_cached_colour_transforms_give_the_uncached_bytes_in_every_thread(tmp_path, monkeypatch):
    # one profile repeated over a dataset (sign_digits: Display P3 on 90% of files) built a new LCMS transform
    # per image, 3 ms each; now it is built once per thread and profile, and must not change a single byte
    import io as _io
    from concurrent.futures import ThreadPoolExecutor

    from PIL import ImageCms

    from augment.io import images

    icc = wide_gamut_icc()
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(24)]
    src = ImageCms.ImageCmsProfile(_io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    want = [np.asarray(ImageCms.profileToProfile(Image.fromarray(a), src, srgb,
                                                 renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"))
            for a in arrays]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(tmp_path / f"{i}.png", icc_profile=icc)
    built = []
    real_build = images._build_transform
    monkeypatch.setattr(images, "_build_transform", lambda *a: built.append(1) or real_build(*a))

    def decode(i):
        return images.read_image(tmp_path / f"{i}.png")[0]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(decode, list(range(24)) * 3))
    for i, g in enumerate(got):
        assert np.array_equal(g, want[i % 24]), i
    assert 1 <= len(built) <= 4  # once per thread, not once per image


# --- preview refuses what the run would skip, in one line (tracebacks list) -----------------------------------

@pytest.mark.parametrize("case", ["wide_jpeg_op", "corrupt", "bomb"])
def test_preview_is_a_one_line_error_for_images_the_run_skips(tmp_path, case):
    if case == "wide_jpeg_op":  # JPEG cannot encode more than 65500 pixels a side: the jpeg op fails on it
        image = tmp_path / "wide.png"
        Image.fromarray(np.zeros((8, 65535, 3), np.uint8)).save(image)
        spec = tmp_path / "jpeg.json"
        spec.write_text(json.dumps({"name": "j", "modality": "image", "steps": [{"op": "jpeg"}]}))
    elif case == "corrupt":
        image = tmp_path / "bad.png"
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        spec = REPO / "pipelines" / "flip_zoom_noise.yaml"
    else:
        import struct
        import zlib

        image = tmp_path / "bomb.png"  # declares 200000 x 200000 pixels
        ihdr = struct.pack(">IIBBBBB", 200000, 200000, 8, 2, 0, 0, 0)
        chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
        spec = REPO / "pipelines" / "flip_zoom_noise.yaml"
    proc = cli("preview", spec, image, "-o", tmp_path / "grid.png", "-n", "2")
    err = one_line_error(proc)
    assert proc.returncode == 1 and str(image) in err
    assert not (tmp_path / "grid.png").exists()
    # the run skips the same image, with the same reason
    out = tmp_path / "out"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / image.name).write_bytes(image.read_bytes())
    run = cli("run", spec, tmp_path / "in", out, "--engine", "serial", "-q", "--copies", "1")
    assert run.returncode == 3, run.stderr  # its only item failed: nothing usable came out
    reason = json.loads((out / "errors.jsonl").read_text().splitlines()[0])["error"]
    assert reason in err


# --- library hygiene: importing and using augment leaves the process as it was (item 7) -----------------------

HYGIENE = r"""
import csv, json, os, sys
import numpy as np
import cv2  # OpenCV's own loader adds to LD_LIBRARY_PATH when imported: not ours to judge
from threadpoolctl import threadpool_info
env, limit, pools = dict(os.environ), csv.field_size_limit(), [p["num_threads"] for p in threadpool_info()]
import augment
from augment.io.text_formats import TextFormat, read_text_dataset
pipe = augment.load_pipeline(sys.argv[1])
pipe(np.zeros((16, 16, 3), np.uint8), seed=0)   # the albumentations backend is imported now
rows = list(read_text_dataset(sys.argv[2], TextFormat(kind="csv", text_column="text", label_column="label")))
assert len(rows[0].text) > 200_000, "the big field was read"
from augment.cli import main
try:
    main(["run", sys.argv[1], sys.argv[3], sys.argv[4], "--engine", "serial", "-q"], standalone_mode=False)
except SystemExit as exc:
    assert not exc.code, exc.code
import signal
changed = {k: (env.get(k), os.environ.get(k)) for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k)}
print(json.dumps({
    "env": changed,
    "csv_limit": [limit, csv.field_size_limit()],
    "none_markers": [k for k, v in sys.modules.items() if v is None and k.startswith("albumentations")],
    "pools": [pools, [p["num_threads"] for p in threadpool_info()][: len(pools)]],
    "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
}))
import albumentations.pytorch  # still importable by the user
"""


def test_using_augment_leaves_the_importing_process_unchanged(tmp_path, small_input):
    big = tmp_path / "big.csv"
    big.write_text("label,text\npos," + "x" * 300_000 + "\n")
    proc = subprocess.run([PY, "-c", HYGIENE, str(REPO / "pipelines" / "flip_zoom_noise.yaml"), str(big),
                           str(small_input), str(tmp_path / "out")], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["env"] == {}
    assert report["csv_limit"][0] == report["csv_limit"][1]
    assert report["none_markers"] == []
    assert report["pools"][0] == report["pools"][1]
    assert report["sigterm_default"]


def test_limit_threads_resizes_pools_already_loaded():
    code = ("import numpy\nfrom threadpoolctl import threadpool_info\nfrom augment.run.worker import limit_threads\n"
            "limit_threads(1)\nprint(sorted({p['num_threads'] for p in threadpool_info()}))")
    proc = subprocess.run([PY, "-c", code], cwd=REPO, env={**ENV, "OPENBLAS_NUM_THREADS": "", "OMP_NUM_THREADS": ""},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1]"


def test_a_tampered_key_with_a_newline_stays_a_one_line_error():
    # found by the manifest fuzz test on the merged tree: an unknown key holding "\n" split the message in two
    from augment.ops.catalog import registry
    from augment.ops.drawn import DrawnValueError, check_drawn
    from augment.ops.registry import ImageContext

    op = registry().get("rotate")
    with pytest.raises(DrawnValueError) as err:
        check_drawn("rotate", op.params(), {"angle": 1.0, "x\ny" * 30: 2}, ImageContext(10, 10, 3))
    assert "\n" not in str(err.value) and len(str(err.value)) < 300
