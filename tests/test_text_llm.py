"""llm_paraphrase against a local OpenAI-format server started by each test (tests/llm_server.py): answers,
cache (resume and replay without the server), retries on 429/5xx/timeouts, malformed answers, guards,
labels in the prompt, the one-line stop when the server is gone, and spec validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from augment import Pipeline
from augment.spec import SpecError, parse_spec
from augment.text.llm_client import ChatClient, EndpointUnreachableError, parse_chat_content
from llm_server import FakeChatServer, free_port_url
from test_expander import augment_cli, manifest

REVIEWS = ["this movie is really good and the acting is great", "a very boring story with bad acting",
           "the film was funny and the story was good", "really great acting in a very good movie",
           "i saw it 3 times and it was really good", "MALFORMED answer for this one please ok",
           "what a great film with a funny story", "the acting was bad but the movie was good"]


@pytest.fixture
def server():
    s = FakeChatServer()
    yield s
    s.stop()


def _params(server_or_url, **kw) -> dict:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return {"base_url": url, "model": "fake-para-1", "backoff": 0.0, **kw}


def _pipe(url, cache_dir=None, spec_seed=7, **kw) -> Pipeline:
    params = _params(url, **kw)
    if cache_dir is not None:
        params["cache_dir"] = str(cache_dir)
    return Pipeline(parse_spec({"name": "llm", "modality": "text", "seed": spec_seed,
                                "steps": [{"op": "llm_paraphrase", "params": params}]}))


def _changes(res) -> list[dict]:
    return res.applied[0]["changes"]


def test_python_api_paraphrases_guards_and_replays_from_the_cache_without_the_server(server, tmp_path):
    pipe = _pipe(server, tmp_path / "cache")
    seeds = list(range(len(REVIEWS)))
    first = pipe.run_batch(REVIEWS, seeds)
    by_text = dict(zip(REVIEWS, first))
    ok = by_text[REVIEWS[0]]
    assert ok.output != REVIEWS[0] and "film" in ok.output  # the server's rewrite
    change = _changes(ok)[0]
    assert change["action"] == "substitute" and change["model"] == "fake-para-1" and len(change["cache_key"]) == 64
    assert (tmp_path / "cache" / change["cache_key"][:2] / f"{change['cache_key']}.json").is_file()
    # malformed answers are asked again, then the text comes back unchanged with the reasons
    bad = _changes(by_text[REVIEWS[5]])[0]
    assert by_text[REVIEWS[5]].output == REVIEWS[5]
    assert bad["action"] == "rejected" and [a["reason"] for a in bad["attempts"]] == ["malformed"] * 3
    # the guard refuses a paraphrase that spells out a protected number ("3" -> "three")
    assert _changes(by_text[REVIEWS[4]])[0]["reason"] == "protected"
    asked = len(server.requests)
    server.stop()
    again = _pipe(server, tmp_path / "cache").run_batch(REVIEWS, seeds)
    assert [r.output for r in again] == [r.output for r in first]
    assert [r.applied for r in again] == [r.applied for r in first]
    assert len(server.requests) == asked
    # a text whose answer is not cached, with the server gone: one line saying what to do
    with pytest.raises(EndpointUnreachableError, match="cannot reach .*start the server") as exc:
        _pipe(server, tmp_path / "cache").run("a text never asked before about a film", seed=1)
    assert "\n" not in str(exc.value)


def test_copies_differ_same_seed_same_request_and_seed_null_still_caches(server, tmp_path):
    pipe = _pipe(server, tmp_path / "c")
    outs = {pipe.run(REVIEWS[0], seed=s).output for s in range(6)}
    assert len(outs) > 2  # each copy draws its own request seed
    assert pipe.run(REVIEWS[0], seed=3).output == pipe.run(REVIEWS[0], seed=3).output
    n = len(server.requests)
    unseeded = _pipe(server, tmp_path / "c", seed=None)
    unseeded.run(REVIEWS[2], seed=1)
    assert "seed" not in server.requests[-1]
    unseeded.run(REVIEWS[2], seed=1)
    assert len(server.requests) == n + 1  # asked once: the second time came from the cache


def test_prompt_uses_the_label_from_the_api_and_a_missing_label_is_a_clear_error(server, tmp_path):
    pipe = _pipe(server, tmp_path / "c", prompt="Rewrite this {label} review, keep it {label}:\n{text}")
    res = pipe.run(REVIEWS[0], seed=1, label="positive")
    assert res.output != REVIEWS[0]
    assert server.texts()[-1].startswith("Rewrite this positive review, keep it positive:\n")
    assert pipe.run_batch([REVIEWS[1]], [2], labels=["negative"])[0].output != REVIEWS[1]
    assert "negative review" in server.texts()[-1]
    with pytest.raises(ValueError, match=r"uses \{label\} but this text has no label"):
        pipe.run(REVIEWS[0], seed=1)


def test_retries_on_429_500_timeouts_dropped_connections_and_cut_answers(server, tmp_path):
    server.script = ["429", "500", "slow", "drop", "cut"]
    server.slow_seconds = 1.5
    pipe = _pipe(server, tmp_path / "c", timeout=0.3, retries=5, concurrency=1)
    res = pipe.run(REVIEWS[0], seed=1)
    assert _changes(res)[0]["action"] == "substitute"
    assert len(server.requests) == 6  # five failures, then the answer


def test_retry_after_is_honoured_and_backoff_doubles(server):
    slept: list[float] = []
    server.script = ["429", "503", "500"]
    server.retry_after = "7"
    client = ChatClient(server.base_url, "m", retries=3, backoff=0.5, sleep=slept.append)
    body = client.post({"model": "m", "messages": [{"role": "user", "content": "a good movie"}]})
    assert parse_chat_content(body) is not None
    assert slept == [7.0, 1.0, 2.0]  # Retry-After on the 429, then 0.5 * 2**attempt


def test_exhausted_retries_and_refusals_stop_with_one_line(server):
    server.fail_after = 0
    client = ChatClient(server.base_url, "m", retries=2, backoff=0.0)
    with pytest.raises(EndpointUnreachableError, match=r"failed 3 times \(HTTP 503") as exc:
        client.post({"model": "m", "messages": []})
    assert "\n" not in str(exc.value)
    wrong = ChatClient(server.base_url.replace("/v1", "/v2"), "m", retries=5)
    with pytest.raises(EndpointUnreachableError, match="HTTP 404.*check base_url"):
        wrong.post({"model": "m", "messages": []})
    assert len(server.requests) == 4  # a 404 is not retried


def test_api_key_comes_from_the_named_environment_variable(server, monkeypatch):
    client = ChatClient(server.base_url, "m", api_key_env="AUGMENT_TEST_LLM_KEY")
    monkeypatch.delenv("AUGMENT_TEST_LLM_KEY", raising=False)
    with pytest.raises(EndpointUnreachableError, match="AUGMENT_TEST_LLM_KEY .* is not set"):
        client.post({"model": "m", "messages": []})
    monkeypatch.setenv("AUGMENT_TEST_LLM_KEY", "sk-test-123")
    client.post({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert server.requests[-1]["_auth"] == "Bearer sk-test-123"


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"choices": []}', '{"choices": [{"message": {}}]}',
                                  '{"choices": [{"message": {"content": 3}}]}',
                                  '{"choices": [{"message": {"content": "half a"}, "finish_reason": "length"}]}'])
def test_malformed_bodies_are_no_answer(body):
    assert parse_chat_content(body) is None


def test_guard_off_keeps_what_the_guard_refuses(server, tmp_path):
    text = "i saw it 3 times and it was really good"
    assert _pipe(server, tmp_path / "c").run(text, seed=1).output == text
    assert "three" in _pipe(server, tmp_path / "c", guard=False).run(text, seed=1).output


@pytest.mark.parametrize("params, where", [
    ({"api_key": "sk-abc"}, "api_key: an API key never goes in a spec"),
    ({"api_key_env": "sk-abc123"}, "api_key_env"),
    ({"base_url": "ftp://host/v1"}, "base_url"),
    ({"base_url": "http://user:pw@host/v1"}, "base_url"),
    ({"prompt": "no placeholder here"}, "prompt"),
    ({"prompt": "{text} for {labl}"}, "prompt"),
    ({"prompt": "{text.__class__}"}, "prompt"),
    ({"temperature": 3.0}, "temperature"),
    ({"concurrency": 0}, "concurrency"),
])
def test_validation_names_the_key(params, where):
    spec = {"name": "t", "modality": "text",
            "steps": [{"op": "llm_paraphrase", "params": {**_params("http://127.0.0.1:9/v1"), **params}}]}
    with pytest.raises(SpecError) as exc:
        parse_spec(spec)
    assert "steps[0].params" in str(exc.value) and where in str(exc.value)


def test_validate_cli_refuses_a_key_in_the_spec(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: t\nmodality: text\nsteps:\n  - op: llm_paraphrase\n    params: {base_url: "
                    "'http://127.0.0.1:9/v1', model: m, api_key: sk-secret}\n", encoding="utf-8")
    proc = augment_cli("validate", spec, check=False)
    assert proc.returncode == 2 and "api_key" in proc.stderr and "Traceback" not in proc.stderr
    assert "sk-secret" not in proc.stderr + proc.stdout  # the key is not echoed back


def _spec(tmp_path: Path, url: str, **kw) -> Path:
    spec = tmp_path / "llm.yaml"
    params = json.dumps(_params(url, **kw))
    spec.write_text(f"name: llm\nmodality: text\nseed: 3\ncopies: 2\nsteps:\n  - op: llm_paraphrase\n"
                    f"    params: {params}\n", encoding="utf-8")
    return spec


def _tsv(tmp_path: Path, n: int) -> Path:
    src = tmp_path / "reviews.tsv"
    lines = [f"{'pos' if i % 2 else 'neg'}\t{REVIEWS[i % 8].replace('MALFORMED', 'odd')} number {i}"
             for i in range(n)]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return src


def test_run_stops_resumably_when_the_server_goes_and_resumes_byte_identical(tmp_path):
    server = FakeChatServer()
    port_url = server.base_url
    src = _tsv(tmp_path, 140)  # two chunks of rows (128 + 12)
    spec = _spec(tmp_path, port_url, prompt="A {label} review:\n{text}", retries=1, concurrency=2)
    try:
        server.fail_on = "number 130"  # a row of the second chunk: the server fails from there on
        out = tmp_path / "out"
        proc = augment_cli("run", spec, src, out, "--engine", "serial", check=False)
        assert proc.returncode == 1, proc.stderr
        assert "failed 2 times (HTTP 503" in proc.stderr and "run the same command again" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (out / "reviews.tsv").exists()  # nothing half-written
        kept = manifest(out)
        assert kept and all(r["row"] < 128 for r in kept)  # the first chunk is kept
        server.fail_on = None
        done = json.loads(augment_cli("run", spec, src, out, "--engine", "serial").stdout)
        assert done["status"] == "complete"
        resumed = (out / "reviews.tsv").read_bytes()
        # a fresh run in one go gives the same bytes
        fresh = tmp_path / "fresh"
        augment_cli("run", spec, src, fresh, "--engine", "serial")
        assert (fresh / "reviews.tsv").read_bytes() == resumed
    finally:
        server.stop()
    # the server is gone: the run folder reproduces itself from its own answer cache
    (out / "reviews.tsv").unlink()
    again = json.loads(augment_cli("run", spec, src, out, "--engine", "serial").stdout)
    assert again["status"] == "complete" and (out / "reviews.tsv").read_bytes() == resumed
    records = [r for r in manifest(out) if r["copy"] is not None]
    step = records[0]["ops"][0]
    assert step["op"] == "llm_paraphrase"
    change = step["changes"][0]
    assert change["model"] == "fake-para-1" and (out / ".augment-llm-cache" / change["cache_key"][:2]).is_dir()
    rec = records[5]
    proc = augment_cli("replay", out, "reviews.tsv", "--row", rec["row"], "--copy", rec["copy"])
    assert json.loads(proc.stdout)["identical"] is True
    # labels reached the prompts: every copy row kept its label, and the run read them
    assert {line.split("\t")[0] for line in resumed.decode().splitlines()} == {"pos", "neg"}


def test_run_with_no_server_exits_1_with_one_line_and_writes_nothing(tmp_path):
    src = _tsv(tmp_path, 6)
    out = tmp_path / "out"
    proc = augment_cli("run", _spec(tmp_path, free_port_url()), src, out, "--engine", "serial", check=False)
    assert proc.returncode == 1 and "cannot reach" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "reviews.tsv").exists()
    assert not (out / "manifest.jsonl").exists() or manifest(out) == []


def test_rejections_become_redraws_then_counted_drops(server, tmp_path):
    src = tmp_path / "r.tsv"
    src.write_text("pos\tMALFORMED always for this row\nneg\tthis movie is really good and funny\n",
                   encoding="utf-8")
    out = tmp_path / "out"
    summary = json.loads(augment_cli("run", _spec(tmp_path, server.base_url), src, out, "--engine",
                                     "serial").stdout)
    assert summary["dropped_unchanged"] == 2  # both copies of the malformed row, after their redraws
    # each refused answer is counted: 2 copies x 5 draws (first + 4 redraws) x 3 attempts
    assert summary["filter_rejections"] == {"llm_paraphrase:malformed": 30}
    assert summary["written"] == 2
    assert np.all([r["row"] == 1 for r in manifest(out)])


def test_the_service_lists_the_op_for_the_studio_validates_it_and_augments_with_it(server, tmp_path):
    from serve_support import Server

    gone_url = free_port_url()
    srv = Server(env={"AUGMENT_CACHE_DIR": str(tmp_path / "user-cache"),
                      "AUGMENT_LLM_ENDPOINTS": f"{server.base_url}, {gone_url}/"})
    try:
        listing = srv.get("/v1/ops?modality=text&schema=true").json()
        entry = next(op for op in listing if op["op"] == "llm_paraphrase")
        props = entry["schema"]["properties"]
        assert {"base_url", "model", "api_key_env", "prompt", "temperature", "seed"} <= set(props)
        assert "api_key" not in props and set(entry["schema"]["required"]) == {"base_url", "model"}
        bad = {"name": "t", "modality": "text", "steps": [{"op": "llm_paraphrase", "params": {
            **_params("http://127.0.0.1:9/v1"), "api_key": "sk-x"}}]}
        doc = srv.post("/v1/validate", {"spec": bad}).json()
        assert doc["valid"] is False and doc["errors"][0]["path"].startswith("steps[0].params")
        assert "api_key" in doc["errors"][0]["message"] and "sk-x" not in json.dumps(doc)
        spec = {"name": "t", "modality": "text", "steps": [{"op": "llm_paraphrase", "params": _params(server)}]}
        reply = srv.post("/v1/augment", {"spec": spec, "seed": 2, "copies": 1, "items": [{"text": REVIEWS[0]}]})
        out = reply.json()["items"][0]["outputs"][0]
        assert reply.status == 200 and out["text"] != REVIEWS[0] and out["diff"]  # the studio's highlighted diff
        assert any((tmp_path / "user-cache" / "llm").rglob("*.json"))
        spec["steps"][0]["params"]["base_url"] = gone_url
        gone = srv.post("/v1/augment", {"spec": spec, "items": [{"text": REVIEWS[1]}]})
        assert gone.status == 502 and "cannot reach" in gone.json()["error"] and b"Traceback" not in gone.body
        # any other endpoint is refused before anything is sent (the service is no proxy to arbitrary hosts)
        spec["steps"][0]["params"]["base_url"] = "http://169.254.169.254/v1"
        for path, body in (("/v1/augment", {"spec": spec, "items": [{"text": REVIEWS[1]}]}),
                           ("/v1/validate", {"spec": spec})):
            doc = srv.post(path, body).json()
            text = json.dumps(doc)
            assert "steps[0].params.base_url" in text and "AUGMENT_LLM_ENDPOINTS" in text, doc
        # nor does a client choose where the server reads and writes its answer cache
        spec["steps"][0]["params"].update(base_url=server.base_url, cache_dir=str(tmp_path / "anywhere"))
        for path, body in (("/v1/augment", {"spec": spec, "items": [{"text": REVIEWS[1]}]}),
                           ("/v1/validate", {"spec": spec})):
            doc = srv.post(path, body).json()
            assert "steps[0].params.cache_dir" in json.dumps(doc), doc
        assert not (tmp_path / "anywhere").exists()
    finally:
        srv.stop()


def test_a_malformed_answer_is_asked_again_as_the_next_attempt(server, tmp_path):
    server.script = ["malformed"]
    res = _pipe(server, tmp_path / "c", concurrency=1).run(REVIEWS[0], seed=5)
    change = _changes(res)[0]
    assert change["action"] == "substitute" and change["attempt"] == 1
    assert [a["reason"] for a in change["rejected_attempts"]] == ["malformed"]
    assert server.requests[0]["seed"] != server.requests[1]["seed"]  # another request, not the same one again


def test_eval_paraphrases_with_the_label_in_the_prompt(server, tmp_path, monkeypatch):
    from augment.evaluate import EvalConfig, run_evaluation
    from test_evaluate_protocol import make_tsv

    monkeypatch.setenv("AUGMENT_CACHE_DIR", str(tmp_path / "cache"))  # eval has no OUTPUT: the user cache
    train = make_tsv(tmp_path / "train.tsv", 12, seed=0)
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: p\nmodality: text\nsteps:\n  - op: llm_paraphrase\n    params: " + json.dumps(
        _params(server, prompt="A {label} review:\n{text}", guard=False)) + "\n", encoding="utf-8")
    cfg = EvalConfig(pipeline=spec, train=train, train_sizes=["full"], copies=[1], repeats=1, n_bootstrap=100,
                     n_samples=0, model="tfidf-logreg")
    res = run_evaluation(cfg, progress=False)
    assert res.pipeline["copy_rule"]["copies asked"] > 0 and res.summary
    labels = {t.split(" review:")[0] for t in server.texts()}
    assert labels == {"A pos", "A neg"}


def test_a_search_space_draws_llm_paraphrase_settings_and_checks_them():
    from augment.search.space import parse_space

    space = {"name": "s", "modality": "text", "candidates": 6, "copies": [1], "ops": [
        {"op": "llm_paraphrase", "optional": False, "params": {
            "base_url": "http://127.0.0.1:9/v1", "model": "m", "temperature": {"range": [0.2, 1.2]},
            "prompt": {"choices": ["Paraphrase:\n{text}", "Rewrite this {label} review:\n{text}"]}}}]}
    drawn = [c.spec.to_dict()["steps"][0]["params"] for c in parse_space(space).candidates(seed=1)]
    assert drawn and all(0.2 <= d["temperature"] <= 1.2 for d in drawn)
    assert len({d["prompt"] for d in drawn}) == 2
    space["ops"][0]["params"]["prompt"] = {"choices": ["no placeholder"]}
    with pytest.raises(SpecError, match=r"ops\[0\]\.params\.prompt"):
        parse_space(space)


@pytest.mark.parametrize("content, source, expected", [
    ('"The film was fine."', "The movie was good.", "The film was fine."),
    ("<think>\nthe user wants a rewrite\n</think>\n\nThe film was fine.", "The movie was good.", "The film was fine."),
    ("The Film   was\nfine.", "the movie was good.", "the film was fine."),
    ("\u201cQuoted\u201d", "plain", "quoted"),
])
def test_answers_are_cleaned_to_the_sources_style(content, source, expected):
    from augment.text.llm import _clean

    assert _clean(content, source) == expected


def test_ctrl_c_while_requests_hang_stops_the_run_without_waiting_for_them(server, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    server.script = ["slow"] * 50
    server.slow_seconds = 300  # far beyond the bound below: a run that waited for its requests would not make it
    src = _tsv(tmp_path, 4)
    proc = subprocess.Popen([sys.executable, "-m", "augment.cli", "run", str(_spec(tmp_path, server.base_url,
                             timeout=600)), str(src), str(tmp_path / "out"), "--engine", "serial"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not server.requests and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert server.requests, "the run never asked the server"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "run the same command again to resume" in err
    assert not (tmp_path / "out" / "reviews.tsv").exists()


def test_the_rare_word_guard_reads_the_texts_language():
    from augment.ops.llm_op import LlmParaphraseParams
    from augment.text.llm import _judge

    body = json.dumps({"choices": [{"message": {"content": "der Film war wirklich ausgezeichnet"}}]})
    source = "der Film war wirklich gut"
    base = _params("http://127.0.0.1:9/v1")
    assert _judge(LlmParaphraseParams(**base), source, body)[0] == "untranslated"  # German words rare in English
    assert _judge(LlmParaphraseParams(**base, lang="de"), source, body)[0] is None


def test_hf_expansion_and_transform_pass_the_label_column_to_the_prompt(server, tmp_path):
    datasets = pytest.importorskip("datasets")
    from augment.hf import Expansion, Transform, with_row_index

    texts, ys = REVIEWS[:4], [1, 0, 1, 1]
    ds = datasets.Dataset.from_dict({"text": texts, "label": ys}).cast_column(
        "label", datasets.ClassLabel(names=["negative", "positive"]))
    pipe = _pipe(server, tmp_path / "c", prompt="Rewrite this {label} review:\n{text}")
    names = ds.features["label"].names
    ex = Expansion(pipe, "text", copies=2, label_column="label", label_names=names)
    out = ds.map(ex, batched=True, batch_size=3, with_indices=True, remove_columns=ds.column_names)
    assert len(out) == 8 and out["label"] == [y for y in ys for _ in range(2)]
    prompts = {t.split("\n")[-1]: t.split(" review:")[0] for t in server.texts()}
    assert prompts == {t: f"Rewrite this {names[y]}" for t, y in zip(texts, ys)}  # each row its own label
    assert all(o != t for o, t in zip(out["text"], [t for t in texts for _ in range(2)]))
    # raw values when no names are given (a string label column), and the on-the-fly transform
    plain = datasets.Dataset.from_dict({"text": texts[:2], "y": ["meh", "great"]})
    tf = Transform(pipe, "text", label_column="y")
    got = with_row_index(plain).with_transform(tf)[:]
    assert got["text"] != texts[:2] and "Rewrite this great review:\n" + texts[1] in server.texts()
    # the same rows without the label column: the prompt cannot be filled, said in one line
    with pytest.raises(ValueError, match=r"uses \{label\} but this text has no label"):
        ds.map(Expansion(pipe, "text", copies=1), batched=True, with_indices=True, remove_columns=ds.column_names)


def test_hf_label_options_are_checked_when_the_transform_is_made(server, tmp_path):
    pytest.importorskip("datasets")
    from augment.hf import Expansion, Transform

    pipe = _pipe(server, tmp_path / "c", prompt="Rewrite this {label} review:\n{text}")
    with pytest.raises(ValueError, match="label_names needs label_column"):
        Expansion(pipe, "text", label_names=["neg", "pos"])
    image = Pipeline(parse_spec({"name": "i", "modality": "image", "steps": [{"op": "horizontal_flip"}]}))
    with pytest.raises(ValueError, match="only text pipelines read labels"):
        Transform(image, "image", label_column="label")
    ex = Expansion(pipe, "text", copies=1, label_column="label", label_names=["neg", "pos"])
    with pytest.raises(ValueError, match="label_names: 7 in column 'label' is not a class index 0..1"):
        ex({"text": [REVIEWS[0]], "label": [7]}, [0])
    with pytest.raises(KeyError, match="column"):
        ex({"text": [REVIEWS[0]]}, [0])


def test_llm_paraphrase_and_back_translate_share_one_guard_schema():
    from augment.ops.guard_params import GuardParams
    from augment.ops.llm_op import LlmParaphraseParams
    from augment.ops.text_ops import BackTranslateParams

    keys = ["guard", "min_similarity", "length_ratio", "allow_wh_change", "min_zipf"]
    assert list(GuardParams.model_fields) == keys
    for params in (LlmParaphraseParams, BackTranslateParams):
        assert issubclass(params, GuardParams) and all(
            repr(params.model_fields[k]) == repr(GuardParams.model_fields[k]) for k in keys)
    errors = []
    for op, extra in (("back_translate", {}), ("llm_paraphrase", {"base_url": "http://127.0.0.1:1/v1", "model": "m"})):
        with pytest.raises(SpecError) as info:
            parse_spec({"name": "x", "modality": "text", "steps": [{"op": op, "params": {**extra,
                        "length_ratio": [2.0, 3.0], "min_zipf": -1}}]})
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "length_ratio must be [low, high]" in errors[0] and "min_zipf" in errors[0]
