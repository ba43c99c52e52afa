"""LLM paraphrase: ask an OpenAI-compatible chat endpoint to rewrite each text, keep what passes the guards.

Per text the op's generator draws one number (the copy's *draw*); attempt ``a`` of that copy sends the
prompt with the request seed derived from (spec seed, draw, a). Answers come from the cache when they are
there (``augment.text.llm_cache``), else from the server, and are cached before they are judged, so a rerun
judges the very same bytes. A paraphrase passes the back-translation guards (``backtranslate.guard``: length
ratio, similarity, protected tokens, question words, rare invented words); a rejected or malformed answer is
asked again as the next attempt, and after ``attempts`` the text comes back unchanged with the reasons, which
makes ``augment run`` redraw the copy and finally drop it (counted as unchanged).

Requests of one batch run ``concurrency`` at a time (daemon threads), attempt by attempt; results do not
depend on the order in which answers arrive.
"""

from __future__ import annotations

import hashlib
import re
import string
import threading
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from augment.text import backtranslate
from augment.text.llm_cache import ResponseCache, cache_dirs, cache_key
from augment.text.llm_client import ChatClient, parse_chat_content
from augment.text.result import TextOpResult

__all__ = ["DEFAULT_SYSTEM", "DEFAULT_PROMPT", "template_fields", "paraphrase_many"]

DEFAULT_SYSTEM = ("You rewrite texts for data augmentation. Keep the meaning, the sentiment, the language and "
                  "every name, number and URL; change the wording. Answer with the rewritten text only.")
DEFAULT_PROMPT = "Paraphrase this text:\n{text}"

TEMPLATE_FIELDS = frozenset({"text", "label"})


def template_fields(template: str) -> set[str]:
    """The fields a prompt template uses; ValueError for a field other than {text} / {label}, a conversion
    or attribute access, or unbalanced braces."""
    used = set()
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or conversion or spec:
            raise ValueError(f"unknown placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}}: only {{text}} and {{label}} (write {{{{ and }}}} "
                             "for literal braces)")
        used.add(name)
    return used


class _Settings(backtranslate.GuardSettings, Protocol):  # the op's parameters (augment.ops.llm_op.LlmParaphraseParams)
    base_url: str
    model: str
    api_key_env: str | None
    system: str | None
    prompt: str
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    attempts: int
    concurrency: int
    timeout: float
    retries: int
    backoff: float
    cache_dir: str | None
    lang: str


@dataclass
class _Copy:
    index: int
    core: str
    label: str | None
    draw: int
    tried: list  # [{"cache_key", "reason"}] of rejected attempts
    result: TextOpResult | None = None


def _request_seed(seed: int, draw: int, attempt: int) -> int:
    digest = hashlib.sha256(f"{seed}:{draw}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _payload(p: _Settings, copy: _Copy, attempt: int) -> dict:
    fields = {"text": copy.core}
    if "label" in template_fields(p.prompt):
        if copy.label is None:
            raise ValueError("llm_paraphrase: the prompt uses {label} but this text has no label (give labels, "
                             "or drop {label} from prompt)")
        fields["label"] = copy.label
    messages = ([{"role": "system", "content": p.system}] if p.system else [])
    messages.append({"role": "user", "content": p.prompt.format(**fields)})
    payload = {"model": p.model, "messages": messages, "temperature": p.temperature, "top_p": p.top_p,
               "max_tokens": p.max_tokens}  # n and stream left at their defaults: not every server knows them
    if p.seed is not None:
        payload["seed"] = _request_seed(p.seed, copy.draw, attempt)
    return payload


_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL)


def _clean(content: str, source: str) -> str:
    """The paraphrase in the source's surface style: one line when the source is one line, without quotes the
    model wrapped it in or a reasoning model's <think> block, lower-cased for a lower-cased corpus."""
    # reasoning models (Qwen3, DeepSeek-R1 through llama.cpp or Ollama) put their thinking before the answer
    out = _THINK.sub("", content).strip()
    for left, right in (('"', '"'), ("'", "'"), ("\u201c", "\u201d"), ("`", "`")):
        if len(out) >= 2 and out[0] == left and out[-1] == right and not source.startswith(left):
            out = out[1:-1].strip()
    return backtranslate.match_style(source, out) if "\n" not in source else out


def _judge(p: _Settings, source: str, body: str) -> tuple[str | None, str]:
    """(reason or None, cleaned paraphrase) of one answer."""
    content = parse_chat_content(body)
    if content is None:
        return "malformed", ""
    out = _clean(content, source)
    if not out:
        return "empty", out
    if out == source:
        return "unchanged", out
    return backtranslate.judge(p, source, out, lang=p.lang), out


def _concurrently(fn, jobs: list, limit: int) -> list:
    """``[fn(job) for job in jobs]`` with at most ``limit`` running at once. Daemon threads, not a
    ThreadPoolExecutor: on Ctrl-C or a dead server the run must not wait (at exit, too) for requests still in
    flight. The first failure (by job order among those that ran) is raised."""
    results: list = [None] * len(jobs)
    failures: list[tuple[int, BaseException]] = []
    todo = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(todo, None) if not failures else None
            if i is None:
                return
            try:
                results[i] = fn(jobs[i])
            except BaseException as exc:  # handed to the caller's thread below
                with lock:
                    failures.append((i, exc))
                return

    threads = [threading.Thread(target=work, name="augment-llm", daemon=True)
               for _ in range(max(1, min(limit, len(jobs))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise min(failures, key=lambda f: f[0])[1]
    return results


def paraphrase_many(texts: Sequence[str], rngs: Sequence[np.random.Generator], p: _Settings,
                    labels: Sequence[str | None] | None = None, *, client: ChatClient | None = None
                    ) -> list[TextOpResult]:
    """Paraphrase ``texts`` (output i belongs to input i). Raises ``EndpointUnreachableError`` when the server
    cannot answer a request that is not cached."""
    labels = list(labels) if labels is not None else [None] * len(texts)
    client = client or ChatClient(p.base_url, p.model, p.api_key_env, timeout=p.timeout, retries=p.retries,
                                 backoff=p.backoff)
    cache = ResponseCache(cache_dirs(p.cache_dir))
    copies: list[_Copy] = []
    results: list[TextOpResult | None] = [None] * len(texts)
    for i, (text, rng, label) in enumerate(zip(texts, rngs, labels)):
        draw = int(rng.integers(2 ** 31))  # drawn for every text, so each text's stream does not depend on others
        if text.strip():
            copies.append(_Copy(i, text.strip(), None if label is None else str(label), draw, []))
        else:
            results[i] = TextOpResult(text, [])

    def answer(job: tuple[str, dict]) -> str:
        key, payload = job
        body = cache.get(key)
        if body is None:
            body = client.post(payload)
            cache.put(key, p.model, payload, body)  # before judging it: a rerun judges these very bytes
        return body

    pending = copies
    for attempt in range(p.attempts):
        if not pending:
            break
        payloads = [_payload(p, c, attempt) for c in pending]
        keys = [cache_key(p.model, payload, c.draw, attempt) for c, payload in zip(pending, payloads)]
        bodies = _concurrently(answer, list(zip(keys, payloads)), p.concurrency)
        again = []
        for c, key, body in zip(pending, keys, bodies):
            reason, out = _judge(p, c.core, body)
            if reason is None:
                text = texts[c.index]
                lead = text[: len(text) - len(text.lstrip())]
                trail = text[len(text.rstrip()):]
                new = lead + out + trail
                c.result = TextOpResult(new, [{"action": "substitute", "position": 0, "scope": "text",
                                               "before": text, "after": new, "model": p.model,
                                               "cache_key": key, "attempt": attempt,
                                               **({"rejected_attempts": c.tried} if c.tried else {})}])
            else:
                c.tried.append({"cache_key": key, "reason": reason})
                again.append(c)
        pending = again
    for c in copies:
        results[c.index] = c.result or TextOpResult(texts[c.index], [{
            "action": "rejected", "reason": c.tried[-1]["reason"], "model": p.model, "attempts": c.tried}])
    return results  # type: ignore[return-value]
