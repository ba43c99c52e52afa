"""Which chat endpoints the service may call for ``llm_paraphrase``.

A spec names its endpoint, so without a rule anyone who can reach the service could make it send requests to
any host its network sees (server-side request forgery). The service calls only the API roots its operator
lists in ``$AUGMENT_LLM_ENDPOINTS`` (comma-separated ``base_url`` values, e.g. ``http://127.0.0.1:8000/v1``);
a spec naming another is refused with its key path, like any spec error. A spec's ``cache_dir`` is refused too:
the service keeps answers in its own cache, and a client must not choose where the server writes. The CLI has no
such rules: there the spec's author is the one who runs it.
"""

from __future__ import annotations

import os
from typing import Any

from augment.spec import PipelineSpec, SpecError
from augment.spec.errors import SpecIssue

__all__ = ["ENDPOINTS_ENV", "allowed_endpoints", "check_endpoints"]

ENDPOINTS_ENV = "AUGMENT_LLM_ENDPOINTS"


def allowed_endpoints() -> set[str]:
    return {u.strip().rstrip("/") for u in os.environ.get(ENDPOINTS_ENV, "").split(",") if u.strip()}


def _llm_steps(steps: Any, path: str):
    for i, step in enumerate(steps or ()):
        if not isinstance(step, dict):
            continue
        where = f"{path}[{i}]"
        if step.get("op") == "llm_paraphrase":
            yield where, step.get("params") or {}
        for key, value in step.items():
            if isinstance(value, list):
                yield from _llm_steps(value, f"{where}.{key}")


def check_endpoints(spec: PipelineSpec) -> None:
    """SpecError for each llm_paraphrase step whose base_url the service may not call, or that names a cache_dir."""
    allowed = allowed_endpoints()
    issues = []
    for where, params in _llm_steps(spec.to_dict().get("steps"), "steps"):
        url = params.get("base_url")
        if str(url).rstrip("/") not in allowed:
            issues.append(SpecIssue(f"{where}.params.base_url",
                                    f"this service may not call {url}: its operator allows chat endpoints in "
                                    f"${ENDPOINTS_ENV} ({', '.join(sorted(allowed)) or 'none set'})"))
        if params.get("cache_dir") is not None:  # else a client picks where the server reads and writes files
            issues.append(SpecIssue(f"{where}.params.cache_dir",
                                    "the service keeps its own answer cache; remove cache_dir from the spec"))
    if issues:
        raise SpecError(issues)
