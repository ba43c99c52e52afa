"""The text op definitions against the registry contract, and property tests for every op."""

import json
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from text_fixtures import needs_apertium, text_cache, texts, wn_index  # noqa: F401

from augment.ops.registry import OpDef, OpParams, Registry, TextOpResult
from augment.ops.text_ops import TEXT_OPS

OPS = {op.name: op for op in TEXT_OPS}
# back_translate runs a backend (below); contextual_substitute needs a model (tests/test_text_masked_lm.py);
# llm_paraphrase asks a server (tests/test_text_llm.py)
LOCAL_OPS = [name for name in OPS if name not in ("back_translate", "contextual_substitute", "llm_paraphrase")]
REQUIRED = {"synonym_replace", "random_insert", "random_swap", "random_delete", "antonym_replace", "word_split",
            "keyboard_typo", "ocr_noise", "char_insert", "char_swap", "char_delete", "back_translate", "eda",
            "spelling_error"}
# parameters that make each op change as much as it can, so the properties are exercised hard
AGGRESSIVE = {
    "synonym_replace": {"rate": 1.0}, "random_insert": {"rate": 1.0}, "random_swap": {"rate": 1.0},
    "random_delete": {"rate": 1.0}, "antonym_replace": {"rate": 1.0}, "word_split": {"rate": 1.0, "min_chars": 2},
    "eda": {"alpha_sr": 0.5, "alpha_ri": 0.5, "alpha_rs": 0.5, "p_rd": 0.5}, "spelling_error": {"rate": 1.0},
    **{name: {"word_rate": 1.0, "char_rate": 1.0, "min_word_len": 1, "include_stop_words": True}
       for name in ("keyboard_typo", "ocr_noise", "char_insert", "char_swap", "char_delete")},
}


def test_contract_and_names():
    assert REQUIRED <= set(OPS) and len(OPS) == len(TEXT_OPS)
    registry = Registry()
    for op in TEXT_OPS:
        assert isinstance(op, OpDef) and op.modality == "text" and op.apply_text and op.summary
        assert issubclass(op.params, OpParams)
        registry.add(op)
        for name, field in op.params.model_fields.items():
            assert field.description, f"{op.name}.{name} has no description"
    assert OPS["back_translate"].batch_text is not None


def test_params_are_strict():
    with pytest.raises(ValidationError):
        OPS["synonym_replace"].params(rate=1.5)
    with pytest.raises(ValidationError):
        OPS["synonym_replace"].params(rte=0.1)  # a typo is an error, never a silent default
    with pytest.raises(ValidationError):
        OPS["back_translate"].params(backend="google")
    with pytest.raises(ValidationError):
        OPS["back_translate"].params(pivot="spa; rm -rf /")
    with pytest.raises(ValidationError):
        OPS["keyboard_typo"].params(lang="xx")


def test_keyboard_layout_choices_match_nlpaug_tables():
    from augment.text.chars import keyboard_layouts

    choices = OPS["keyboard_typo"].params.model_fields["lang"].annotation.__args__
    assert set(choices) == set(keyboard_layouts())


@pytest.mark.parametrize("name", LOCAL_OPS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts, seed=st.integers(0, 2**32 - 1), aggressive=st.booleans())
def test_any_text_gives_a_text_and_a_json_log(name, text, seed, aggressive, wn_index):  # noqa: F811
    op = OPS[name]
    params = op.params(**(AGGRESSIVE[name] if aggressive else {}))
    py_state, np_state = random.getstate(), np.random.get_state()
    original = str(text)
    result = op.apply_text(text, params, np.random.default_rng(seed))
    again = op.apply_text(text, params, np.random.default_rng(seed))
    assert isinstance(result, TextOpResult) and isinstance(result.text, str)
    assert text == original  # inputs untouched
    assert result == again  # all randomness from the generator
    assert random.getstate() == py_state  # no global random module
    assert np.random.get_state()[1].tolist() == np_state[1].tolist()  # no numpy global RNG
    json.dumps(result.changes)
    for change in result.changes:
        assert change["action"] in {"substitute", "insert", "swap", "delete", "split"}
        assert isinstance(change["position"], int) and change["position"] >= 0
    if not result.changes:
        assert result.text == text


@pytest.mark.parametrize("name", LOCAL_OPS)
def test_edge_inputs(name, wn_index):  # noqa: F811
    op = OPS[name]
    params = op.params(**AGGRESSIVE[name])
    rng = np.random.default_rng(0)
    assert op.apply_text("", params, rng).text == ""
    assert isinstance(op.apply_text("Wonderful", params, rng).text, str)
    assert isinstance(op.apply_text("   \n\t ", params, rng).text, str)
    assert isinstance(op.apply_text("Ünïcödé 東京 naïve café ß Ωmega 🙂!", params, rng).text, str)


@pytest.mark.parametrize("name", LOCAL_OPS)
def test_megabyte_line(name, wn_index):  # noqa: F811
    line = ("The quick brown fox jumps over the lazy dog, happily and remarkably fast! " * 14_000)[:1_000_000]
    op = OPS[name]
    result = op.apply_text(line, op.params(), np.random.default_rng(0))
    assert isinstance(result.text, str) and len(result.text) > 500_000 and result.changes


def test_eda_preset_uses_one_operation_per_output(wn_index):  # noqa: F811
    op = OPS["eda"]
    seen = set()
    for seed in range(40):
        result = op.apply_text("The happy actors gave a wonderful and moving performance tonight.",
                               op.params(alpha_sr=0.2, alpha_ri=0.2, alpha_rs=0.2, p_rd=0.2),
                               np.random.default_rng(seed))
        actions = {c["action"] for c in result.changes}
        assert len(actions) <= 1
        seen |= actions
    assert seen == {"substitute", "insert", "swap", "delete"}
    only_swap = op.params(alpha_sr=0, alpha_ri=0, alpha_rs=0.3, p_rd=0)
    result = op.apply_text("Cats chase quick mice daily.", only_swap, np.random.default_rng(1))
    assert {c["action"] for c in result.changes} == {"swap"}
    off = op.params(alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0)
    assert op.apply_text("Cats chase mice.", off, np.random.default_rng(1)).text == "Cats chase mice."


@needs_apertium
@settings(max_examples=10, deadline=None)
@given(batch=st.lists(texts, min_size=1, max_size=12))
def test_back_translate_any_texts_give_aligned_texts(batch):
    # a whole hypothesis batch per apertium run: the same coverage at a fraction of the process start-ups
    op = OPS["back_translate"]
    results = op.batch_text(batch, op.params(), [np.random.default_rng(i) for i in range(len(batch))])
    assert len(results) == len(batch)
    for text, result in zip(batch, results):
        assert isinstance(result.text, str)
        if not text.strip():
            assert result.text == text
        json.dumps(result.changes)
    assert op.apply_text(batch[0], op.params(), np.random.default_rng(0)).text == results[0].text
