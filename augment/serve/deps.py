"""What every router of the service shares, so that each check lives once: the service's state (config, limits,
jobs), one-line JSON errors, request bodies read with their limits (nesting depth, valid Unicode), and dataset
references confined to the data roots. Authentication, the body-size limit and the host/origin checks are the
``Gate`` middleware (``serve.security``), in front of every route."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from augment.io.annotations import Layout
from augment.serve import datasets
from augment.serve.config import Limits, ServeConfig
from augment.serve.jobs import JobManager
from augment.serve.security import error_body
from augment.spec import SpecError

MAX_JSON_DEPTH = 64  # deeper than any spec, item or annotation needs; refused before anything recurses into it


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass(frozen=True)
class Service:
    config: ServeConfig
    jobs: JobManager

    @property
    def limits(self) -> Limits:
        return self.config.limits

    @property
    def roots(self) -> dict[str, Path]:
        return self.config.data_roots


def service(request: Request) -> Service:
    """The dependency every route takes: the service the app was created with."""
    return request.app.state.service


# -- errors ----------------------------------------------------------------------------------------------------

def error_response(status: int, message: str, **extra) -> Response:
    return Response(error_body(status, message, **extra), status_code=status, media_type="application/json")


def spec_error(exc: SpecError, what: str = "invalid spec: ") -> ApiError:
    issues = [{"path": i.path, "message": i.message} for i in exc.issues]
    return ApiError(422, what + "; ".join(str(i) for i in exc.issues[:5]), issues=issues)


def pydantic_message(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def validated(model: type[BaseModel], raw: Any, prefix: str = ""):
    """``model`` from parsed JSON; a problem is a 422 naming its key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, prefix + pydantic_message(exc.errors())) from None


# -- bodies ----------------------------------------------------------------------------------------------------

def check_json(value: Any) -> None:
    """Refuse JSON no route can use, before anything recurses into it or encodes it: nesting deeper than
    ``MAX_JSON_DEPTH`` (400) and strings that are not valid Unicode, such as a lone surrogate "\\ud800" (422)."""
    stack = [(value, "body", 0)]
    while stack:
        node, where, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node, where)
            continue
        if not isinstance(node, (dict, list)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise ApiError(400, f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, f"{where}: key")
                stack.append((child, f"{where}.{key}" if where != "body" else key, depth + 1))
        else:
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(node))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise ApiError(422, f"{where[:200]}: not valid Unicode (a lone surrogate \\u{ord(bad):04x} at character "
                            f"{exc.start}); send UTF-8 text") from None


async def json_body(request: Request) -> Any:
    """The request's JSON body, checked by ``check_json``; a body that is not JSON is a 400."""
    raw = await request.body()
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ApiError(400, f"the body is JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    check_json(value)
    return value


async def spec_body(request: Request) -> Any:
    """A JSON body ({"spec": ...} or the spec itself), or a YAML body (Content-Type: application/yaml)."""
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        body = await json_body(request)
        if isinstance(body, dict) and set(body) == {"spec"}:
            return body["spec"]
        return body
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


def body_doc(model, yaml: bool = False, multipart: bool = False) -> dict:
    """The OpenAPI request body of a route that reads its body itself (to apply the checks above)."""
    schema = model.model_json_schema()
    content: dict = {"application/json": {"schema": schema}}
    if yaml:
        content["application/yaml"] = {"schema": {"type": "string"}}
    if multipart:
        content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
            "spec": {"type": "string", "format": "binary"}, "image": {"type": "array", "items": {
                "type": "string", "format": "binary"}}, "text": {"type": "array", "items": {"type": "string"}},
            "name": {"type": "array", "items": {"type": "string"}},
            "annotations": {"type": "array", "items": {"type": "string", "format": "binary"}}, "seed": {"type": "integer"},
            "copies": {"type": "integer"}, "quality": {"type": "integer"}}}}
    return {"requestBody": {"required": True, "content": content}}


# -- datasets: confined to the data roots ------------------------------------------------------------------------

def dataset_path(svc: Service, ref: str, must_exist: bool = True) -> Path:
    """``ROOT/path`` -> the path, confined to that data root (403 when it, or a symlink on the way, leaves it)."""
    return datasets.resolve(svc.roots, ref, must_exist)


def annotated_layout(folder: Path) -> Layout | None:
    """The annotation layout of a dataset folder (None: plain image folder); 403 when a layout file (the COCO
    JSON, data.yaml) leaves the dataset, for every route that reads the dataset."""
    layout = datasets.layout_of(folder)
    if layout is not None:
        datasets.check_confined(folder, layout)
    return layout


__all__ = ["MAX_JSON_DEPTH", "ApiError", "Service", "service", "error_response", "spec_error", "pydantic_message",
           "validated", "check_json", "json_body", "spec_body", "body_doc", "dataset_path", "annotated_layout"]
