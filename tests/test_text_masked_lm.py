"""contextual_substitute: a masked language model's proposals, kept only where they pass the synonym rules.

The model is a tiny BERT built here (random weights, a WordPiece vocabulary of test words), saved with
save_pretrained: the tests check the mechanics (offline loading, batching, determinism, the rules, the
manifest and replay), not the quality of a random model's proposals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from text_fixtures import texts

from augment.ops.text_ops import TEXT_OPS
from augment.text import tagger
from augment.text.backtranslate import BackendUnavailableError
from augment.text.tokens import WORD_RE
from augment.text.wordnet import POS_BITS, load_index, offensive_words

REPO = Path(__file__).resolve().parents[1]
OP = {op.name: op for op in TEXT_OPS}["contextual_substitute"]

# whole words of every kind the rules must sort out: synonyms and other content words, the words of the test
# sentences themselves, function words, a rare word, an offensive one, digits, names, plural/singular pairs
WORDS = ("the a an and of to in is was it this that he she they we film films movie movies picture story "
         "stories plot actor actors cast great good fine nice bad poor dull boring long short funny sad "
         "watch watched see saw enjoy enjoyed love loved hate hated make made run ran walk quickly slowly "
         "really very ending endings show shows book books music song songs city town day night year "
         "wampum shit jack black grace kelly going will can could apple orange 42 7 "
         "gorgeous awful terrible wonderful brilliant director directors scene scenes").split()
PIECES = ["##s", "##ed", "##ing", "##ly", ".", ",", "!", "?", "'"]


def build_tiny_bert(directory: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *PIECES,
                                *"abcdefghijklmnopqrstuvwxyz"]))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(directory / "vocab.txt"), do_lower_case=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128)
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    out = directory / "tiny-bert"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


TEXTS = ["the film was great and the actors were good",
         "I am going to watch this movie again with Jack Black and Grace Kelly.",
         "they hated the ending but loved the music",
         "a dull story, a long plot and 42 boring scenes",
         "the director made a brilliant film about the city at night",
         "an awful picture",
         "",
         "short"]


def _run(texts, seeds, **params):
    params.setdefault("top_k", 500)  # the whole vocabulary: the rules, not the model, decide
    params.setdefault("device", "cpu")
    p = OP.params(**params)
    return OP.batch_text(list(texts), p, [np.random.default_rng(s) for s in seeds])


needs_tagger = pytest.mark.skipif(not tagger.tagger_available(), reason="Apertium English tagger absent")


@pytest.mark.parametrize("context", [pytest.param(True, marks=needs_tagger), False])
def test_same_seed_same_output_whatever_the_batch(tiny_bert, context):
    texts = TEXTS * 3
    seeds = list(range(len(texts)))
    whole = _run(texts, seeds, model=str(tiny_bert), rate=0.4, context=context)
    assert any(r.changes for r in whole)
    assert [r.text for r in _run(texts, seeds, model=str(tiny_bert), rate=0.4, context=context)] == \
        [r.text for r in whole]
    alone = [_run([t], [s], model=str(tiny_bert), rate=0.4, context=context)[0] for t, s in zip(texts, seeds)]
    assert [(r.text, r.changes) for r in alone] == [(r.text, r.changes) for r in whole]
    order = np.random.default_rng(1).permutation(len(texts)).tolist()  # another batch, other neighbours
    shuffled = _run([texts[i] for i in order], [seeds[i] for i in order], model=str(tiny_bert), rate=0.4,
                    context=context)
    assert {i: r.text for i, r in zip(order, shuffled)} == {i: r.text for i, r in enumerate(whole)}
    assert [r.text for r in _run(texts, [s + 100 for s in seeds], model=str(tiny_bert), rate=0.4,
                                 context=context)] != [r.text for r in whole]


@pytest.mark.parametrize("context", [pytest.param(True, marks=needs_tagger), False])
def test_every_replacement_passes_the_rules(tiny_bert, context):
    index = load_index()
    offensive = offensive_words()
    texts = TEXTS * 8
    results = _run(texts, range(len(texts)), model=str(tiny_bert), rate=1.0, context=context, min_zipf=3.0)
    changed = 0
    names = {"jack", "black", "grace", "kelly", "going", "i"}
    for text, res in zip(texts, results):
        words = WORD_RE.split(text)[1::2]
        assert WORD_RE.split(res.text)[0::2] == WORD_RE.split(text)[0::2]  # separators untouched
        for ch in res.changes:
            changed += 1
            before, after = ch["before"], ch["after"]
            assert words[ch["position"]] == before and after.isalpha()
            assert after.lower() != before.lower() and after.lower() not in offensive
            assert index.zipf(after.lower()) >= 3.0  # "wampum" (2.1) is never used
            assert before.lower() not in ("the", "a", "an", "and", "was", "were", "at", "about", "42")
            assert 0 <= ch["rank"] < ch["candidates"]
            if context:
                assert before.lower() not in names  # a name or "going to" is never masked
            k = ch["position"]
            if k and words[k - 1].lower() in ("a", "an"):
                assert (after[0].lower() in "aeiou") == (words[k - 1].lower() == "an")
    assert changed > 20


@needs_tagger
def test_with_context_a_proposal_keeps_the_tagged_part_of_speech(tiny_bert):
    index = load_index()
    texts = ["the film was great", "they watched the films", "the actors were good"] * 10
    results = _run(texts, range(len(texts)), model=str(tiny_bert), rate=1.0)
    seen = 0
    for res in results:
        for ch in res.changes:
            seen += 1
            after = ch["after"].lower()
            if ch["before"] in ("film", "actors", "films"):
                lemmas = [after] + [lemma for lemma, pos, _ in index.morphology.analyses(after) if pos == "n"]
                assert any(index._lemma_pos(lemma) & POS_BITS["n"] for lemma in lemmas), after
            if ch["before"] in ("films", "actors"):
                assert after not in ("film", "movie", "actor", "story", "picture")  # the number stays plural
            if ch["before"] == "film":
                assert after not in ("films", "movies", "actors", "stories")
    assert seen


def test_rate_zero_and_empty_texts_change_nothing(tiny_bert):
    assert [r.text for r in _run(TEXTS, range(len(TEXTS)), model=str(tiny_bert), rate=0.0)] == TEXTS
    assert _run([""], [0], model=str(tiny_bert), rate=1.0)[0].text == ""


def test_a_missing_model_is_one_line_naming_the_path(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendUnavailableError) as info:
        _run(["a good film"], [0], model=str(missing), rate=1.0, context=False)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackendUnavailableError, match="not available offline") as info:
        _run(["a good film"], [0], model=str(empty), rate=1.0, context=False)
    assert str(empty) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(BackendUnavailableError, match="huggingface-cli download"):  # never downloaded
        _run(["a good film"], [0], model="no-such-org/no-such-model-xyz", rate=1.0, context=False)


def test_spec_errors_name_the_key():
    import augment
    from augment.spec import SpecError, parse_spec

    for bad, key in (({"top_k": 0}, "top_k"), ({"device": "gpu"}, "device"), ({"rate": 2}, "rate"),
                     ({"modle": "x"}, "modle")):
        spec = {"version": 1, "modality": "text", "steps": [{"op": "contextual_substitute", "params": bad}]}
        with pytest.raises(SpecError) as info:
            parse_spec(spec)
        assert f"steps[0].params.{key}" in info.value.render()
    assert augment.ops.ContextualSubstitute(model="m", rate=0.2).to_step()["params"]["model"] == "m"


def test_typed_op_in_compose_records_positions_and_choices(tiny_bert):
    import augment
    from augment import ops

    pipe = augment.Compose([ops.ContextualSubstitute(model=str(tiny_bert), rate=0.5, top_k=500, device="cpu",
                                                     context=False)], seed=3)
    res = pipe.run("the film was great and the actors were good", seed=1)
    assert res.output == pipe("the film was great and the actors were good", seed=1)
    changes = res.applied[0]["changes"]
    assert changes and {"position", "before", "after", "rank", "candidates"} <= set(changes[0])


def test_augment_run_is_worker_invariant_and_replays(tiny_bert, tmp_path):
    from cli_helpers import assert_replays, run_with_one_and_two_workers
    from test_expander import manifest

    spec = tmp_path / "p.yaml"
    spec.write_text("version: 1\nmodality: text\nseed: 5\ncopies: 2\nsteps:\n  - op: contextual_substitute\n"
                    f"    params: {{model: {json.dumps(str(tiny_bert))}, rate: 0.4, top_k: 500, device: cpu, "
                    "context: false}\n", encoding="utf-8")
    src = tmp_path / "in.tsv"
    src.write_text("".join(f"{i % 2}\t{t}\n" for i, t in enumerate(TEXTS[:5] * 2)), encoding="utf-8")
    out = run_with_one_and_two_workers(spec, src, tmp_path)
    records = manifest(out)
    assert any(step["changes"] for rec in records for step in rec["ops"])
    assert_replays(out, "in.tsv", records[3])


def test_without_transformers_run_exits_7_naming_the_extra(tmp_path):
    from test_extras import _assert_names_extra, _cli_blocked

    spec = tmp_path / "p.yaml"
    spec.write_text("version: 1\nmodality: text\nsteps:\n  - op: contextual_substitute\n"
                    "    params: {model: /nowhere, rate: 0.3}\n", encoding="utf-8")
    src = tmp_path / "in.tsv"
    src.write_text("1\ta good film\n", encoding="utf-8")
    res = _cli_blocked(["transformers"], "run", spec, src, tmp_path / "out")
    _assert_names_extra(res, "marian")
    assert "contextual_substitute" in res.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, seed=st.integers(0, 2**32 - 1))
def test_any_text_gives_a_text_and_a_json_log(tiny_bert, text, seed):
    res = _run([str(text)], [seed], model=str(tiny_bert), rate=1.0, context=False)[0]
    assert isinstance(res.text, str)
    json.dumps(res.changes)
    assert WORD_RE.split(res.text)[0::2] == WORD_RE.split(str(text))[0::2]
    assert (res.text == str(text)) == (not res.changes)


def test_only_whole_lower_case_words_are_proposals():
    from augment.text.masked_lm import _whole_words

    class Tok:
        all_special_ids = [0, 1]

    wordpiece = ["[PAD]", "[MASK]", "film", "##s", "Paris", "42", ".", "a", "movie", None]
    assert [i for i in _whole_words(Tok(), wordpiece) if i >= 0] == [2, 8]
    bpe = ["<pad>", "<mask>", "Ġfilm", "film", "ĠParis", "Ġmovie", "ing", "Ġ42", "Ġa"]
    assert [i for i in _whole_words(Tok(), bpe) if i >= 0] == [2, 5]
