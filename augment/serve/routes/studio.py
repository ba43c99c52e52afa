"""The studio page at / and the offline API docs at /docs."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from augment.serve.deps import Service, service

router = APIRouter()


@router.get("/", include_in_schema=False)
def studio(svc: Service = Depends(service)) -> HTMLResponse:
    from augment.serve.studio import render_studio

    return HTMLResponse(render_studio(svc.config), headers={
        "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                   "frame-src 'self'; connect-src 'self'; object-src 'none'"})


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    from augment.serve.studio import render_docs

    return HTMLResponse(render_docs(request.app.openapi()))


__all__ = ["router"]
