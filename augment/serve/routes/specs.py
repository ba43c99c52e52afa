"""Health, the op registry and spec validation."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from augment._version import __version__
from augment.serve.deps import body_doc, spec_body
from augment.serve.models import ValidateRequest
from augment.serve.specs import validation_report

router = APIRouter()


@router.get("/v1/health", tags=["service"])
def health() -> dict:
    return {"status": "ok", "version": __version__}


@router.get("/v1/ops", tags=["specs"], summary="Every op with its parameters (as `augment ops --json`)")
def ops(modality: Literal["image", "text"] | None = None,
        schema: bool = Query(False, description="add each op's JSON schema (the studio builds its controls from it)"),
        library: Literal["albumentations", "torchvision", "all"] | None = Query(
            None, description="list the library's transforms instead (as `augment ops --library NAME --json`): "
                              "the usable ones with their keywords as parameters, the others with the reason")
        ) -> list[dict]:
    from augment.ops.catalog import registry
    from augment.ops.describe import describe_library, describe_ops
    from augment.compile.batch import BATCHED_OPS

    if library is not None:
        if modality == "text":
            return []
        return describe_library(None if library == "all" else library, schema=schema)

    listing = describe_ops(modality, batched=BATCHED_OPS)
    if schema:
        for entry in listing:
            entry["schema"] = registry().get(entry["op"]).params.model_json_schema()
    return listing


@router.post("/v1/validate", tags=["specs"], summary="Validate a spec: every problem with its key path",
             openapi_extra=body_doc(ValidateRequest, yaml=True))
async def validate(request: Request) -> dict:
    spec = await spec_body(request)
    return await run_in_threadpool(validation_report, spec)


__all__ = ["router"]
