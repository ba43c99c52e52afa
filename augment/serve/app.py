"""The FastAPI application: the HTTP API under /v1, the studio at /, offline API docs at /docs.

``create_app`` wires the pieces: the ``Gate`` middleware (body size, token, host and origin), one-line JSON errors,
and one router per resource (``serve.routes``: specs, augment, datasets, jobs, studio), all of which take their
state, limits and dataset confinement from the shared dependencies in ``serve.deps``."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from augment._version import __version__
from augment.serve import datasets
from augment.serve.config import ServeConfig
from augment.serve.deps import ApiError, Service, error_response, pydantic_message
from augment.serve.jobs import JobError, JobManager
from augment.serve.routes import augment, jobs, specs, studio
from augment.serve.routes import datasets as dataset_routes
from augment.serve.security import Gate

HERE = Path(__file__).resolve().parent
log = logging.getLogger("augment.serve")


def create_app(config: ServeConfig) -> FastAPI:
    manager = JobManager(config.jobs_root, config.python, config.limits.max_running_jobs)

    @asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(manager.shutdown)

    app = FastAPI(title="augment", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Declarative data augmentation as a service: validate specs, augment items with the "
                              "same bytes as `augment run`, and run/eval jobs on datasets under the data roots.")
    app.state.config, app.state.jobs = config, manager
    app.state.service = Service(config, manager)
    app.add_middleware(Gate, config=config)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _error_handlers(app)
    for module in (specs, augment, dataset_routes, jobs, studio):
        app.include_router(module.router)
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error is one line of JSON, never a traceback."""

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return error_response(exc.status, exc.message, **exc.extra)

    @app.exception_handler(datasets.DatasetError)
    async def _dataset_error(request, exc):
        return error_response(exc.status, str(exc))

    @app.exception_handler(JobError)
    async def _job_error(request, exc):
        return error_response(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _request_error(request, exc):
        return error_response(422, pydantic_message(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")


__all__ = ["HERE", "ApiError", "create_app"]
