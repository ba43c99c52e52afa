"""The ``llm_paraphrase`` op: its parameter schema and its binding to ``augment.text.llm``."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from augment.ops.guard_params import GuardParams
from augment.ops.registry import OpDef
from augment.text import llm
from augment.text.result import TextOpResult

__all__ = ["LlmParaphraseParams", "LLM_PARAPHRASE"]

_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_KEY_FIELDS = ("api_key", "apikey", "key", "token", "api_token", "authorization", "secret")


class LlmParaphraseParams(GuardParams):
    base_url: str = Field(description="the OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1 (vLLM), "
                          "http://127.0.0.1:11434/v1 (Ollama), https://api.openai.com/v1; requests go to "
                          "<base_url>/chat/completions")
    model: str = Field(min_length=1, max_length=300, description="model name as the server knows it "
                       "(recorded in the manifest and part of the cache key)")
    api_key_env: str | None = Field(None, max_length=200, description="NAME of the environment variable that "
                                    "holds the API key (e.g. OPENAI_API_KEY); the key itself never goes in a spec")
    prompt: str = Field(llm.DEFAULT_PROMPT, min_length=1, max_length=20_000, description="user message "
                        "template: {text} is the text, {label} its label (e.g. 'Rewrite this {label} review: "
                        "{text}'); {{ and }} for literal braces")
    system: str | None = Field(llm.DEFAULT_SYSTEM, max_length=20_000, description="system message "
                               "(null: none)")
    temperature: float = Field(0.7, ge=0.0, le=2.0, allow_inf_nan=False, description="sampling temperature")
    top_p: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False, description="nucleus sampling")
    max_tokens: int = Field(256, ge=1, le=32_768, description="answer token limit (an answer cut off by it is "
                            "rejected as malformed)")
    seed: int | None = Field(0, ge=0, le=2**31 - 1, description="base of each request's seed (derived from it, "
                             "the copy's draw and the attempt); null: no seed is sent. Answers are cached either "
                             "way, so reruns are identical even with a server that ignores seeds")
    attempts: int = Field(3, ge=1, le=10, description="requests per copy: an answer that is malformed or fails "
                          "the guard is asked again as the next attempt (another seed)")
    concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout: float = Field(60.0, gt=0.0, le=3600.0, allow_inf_nan=False, description="seconds to wait for "
                           "one answer")
    retries: int = Field(4, ge=0, le=20, description="retries of a request on 429/5xx, timeouts and dropped "
                         "connections, with exponential backoff (Retry-After honoured, at most 60 s)")
    backoff: float = Field(1.0, ge=0.0, le=60.0, allow_inf_nan=False, description="seconds before the first "
                           "retry, doubled on each next one")
    cache_dir: str | None = Field(None, description="a shared answer cache to read first and fill too "
                                  "(augment run always keeps one in OUTPUT/.augment-llm-cache; library calls "
                                  "without one use ~/.cache/augment/llm)")
    batch_size: int = Field(64, ge=1, le=100_000, description="texts per batch")
    lang: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", description="guard: the texts' language "
                      "as a wordfreq code (en, de, fr, zh...) for min_zipf; a language wordfreq lacks skips that "
                      "check")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in _KEY_FIELDS:
                if name in data:
                    raise ValueError(f"{name}: an API key never goes in a spec (specs are saved, hashed and "
                                     "recorded in manifests); put it in an environment variable and name that "
                                     "variable in api_key_env")
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:8000/v1")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: name the environment variable of the key in api_key_env")
        if parts.query or parts.fragment:
            raise ValueError("must be the API root without ?query or #fragment (e.g. http://127.0.0.1:8000/v1)")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        import re

        if value is not None and not re.match(_ENV_NAME, value):
            raise ValueError("must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key")
        return value

    @field_validator("prompt")
    @classmethod
    def _template(cls, value: str) -> str:
        if "text" not in llm.template_fields(value):
            raise ValueError("must contain {text}, where the text to paraphrase goes")
        return value


def _batch(texts: list[str], p: LlmParaphraseParams, rngs: list[np.random.Generator],
           labels: list | None = None) -> list[TextOpResult]:
    return llm.paraphrase_many(texts, rngs, p, labels)


def _one(text: str, p: LlmParaphraseParams, rng: np.random.Generator, label: Any = None) -> TextOpResult:
    return llm.paraphrase_many([text], [rng], p, [label])[0]


LLM_PARAPHRASE = OpDef("llm_paraphrase", "text", LlmParaphraseParams,
                       "paraphrase with an OpenAI-compatible chat endpoint (vLLM, llama.cpp, Ollama, hosted), "
                       "answers cached, guarded like back-translation",
                       apply_text=_one, batch_text=_batch, uses_labels=True)
