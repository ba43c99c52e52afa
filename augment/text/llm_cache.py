"""The on-disk cache of chat-endpoint answers: what makes an LLM op reproducible.

A server at temperature > 0 (or one that ignores ``seed``) answers differently each time, so the answer itself
is what a run records: one JSON file per request, named by the sha256 of everything that determines the
request (model, messages, sampling parameters, seed, attempt) and holding the raw response body. A resume or a
replay finds its answers here and never calls the server again.

Where: ``augment run`` keeps a cache inside OUTPUT (``.augment-llm-cache/``), so a run folder replays on its
own; a spec's ``cache_dir`` adds a shared one (read first and written too); library calls without either use
``$AUGMENT_CACHE_DIR/llm`` or ``~/.cache/augment/llm``. Writes are atomic (temporary file + rename), so a killed
run never leaves half an answer.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

__all__ = ["RUN_CACHE_DIR", "cache_key", "run_cache", "cache_dirs", "ResponseCache"]

RUN_CACHE_DIR = ".augment-llm-cache"

# The cache of the run (or replay) in progress. A context variable rather than a parameter because the op API
# is (texts, params, rngs): the run sets it around its pipeline calls and nothing outside that scope sees it.
_RUN_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("augment_llm_run_cache", default=None)


@contextlib.contextmanager
def run_cache(output_dir: str | Path | None) -> Iterator[None]:
    """Use ``output_dir/.augment-llm-cache`` for LLM answers inside this block (None: no run cache)."""
    token = _RUN_DIR.set(Path(output_dir) / RUN_CACHE_DIR if output_dir is not None else None)
    try:
        yield
    finally:
        _RUN_DIR.reset(token)


def _user_default() -> Path:
    base = os.environ.get("AUGMENT_CACHE_DIR")
    if base:
        return Path(base).expanduser() / "llm"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "augment" / "llm"


def cache_dirs(spec_dir: str | None) -> list[Path]:
    """The folders answers are read from (in order) and written to: the spec's ``cache_dir``, then the run's;
    the user default only when neither is set."""
    dirs = [Path(spec_dir).expanduser()] if spec_dir else []
    run = _RUN_DIR.get()
    if run is not None:
        dirs.append(run)
    return dirs or [_user_default()]


def cache_key(model: str, payload: dict, draw: int, attempt: int) -> str:
    """sha256 of what decides an answer: the model, the request (messages, sampling parameters, seed: all in
    ``payload``), the copy's draw and the attempt number. The draw is in the key because a spec without
    ``seed`` sends none, and two copies of one text must still be two requests."""
    doc = {"model": model, "request": {k: v for k, v in payload.items() if k != "model"}, "draw": draw,
           "attempt": attempt}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, dirs: Sequence[Path]):
        self.dirs = list(dirs)

    @staticmethod
    def _path(root: Path, key: str) -> Path:
        return root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        """The cached response body of ``key``, or None. An unreadable or foreign file counts as a miss."""
        for root in self.dirs:
            try:
                doc = json.loads(self._path(root, key).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("response"), str):
                body = doc["response"]
                self._fill(key, doc, skip=root)
                return body
        return None

    def put(self, key: str, model: str, payload: dict, body: str) -> None:
        self._fill(key, {"key": key, "model": model, "request": payload, "response": body})

    def _fill(self, key: str, doc: dict, skip: Path | None = None) -> None:
        """Write ``doc`` into every cache folder that lacks it (a shared hit is copied into the run's folder, so
        the run folder replays on its own)."""
        data = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")
        for root in self.dirs:
            path = self._path(root, key)
            if root == skip or path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
