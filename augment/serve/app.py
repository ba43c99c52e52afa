"""The FastAPI application: the HTTP API under /v1, the studio at /, offline API docs at /docs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import mimetypes
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from augment._version import __version__
from augment.io.paths import UnsafePathError, is_within, safe_relative
from augment.serve import datasets
from augment.serve.annotations import AnnotatedImage, augment_annotated, sample_annotations
from augment.serve.config import ServeConfig
from augment.serve.items import ImageItem, ItemError, TextItem, augment_image, augment_texts
from augment.serve.jobs import SEARCH_OUT, TERMINAL, JobError, JobManager, public
from augment.serve.models import (AugmentRequest, EvalOptions, JobRequest, RunOptions, SearchOptions,
                                  ValidateRequest)
from augment.serve.search_jobs import SpaceRefused, parse_budget, planned_evaluations, prepare_space, search_command
from augment.serve.security import Gate, error_body
from augment.serve.specs import compiled, parse_any, validation_report
from augment.spec import SpecError, dump_spec

HERE = Path(__file__).resolve().parent
log = logging.getLogger("augment.serve")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _error(status: int, message: str, **extra) -> Response:
    return Response(error_body(status, message, **extra), status_code=status, media_type="application/json")


def _spec_error(exc: SpecError, what: str = "invalid spec: ") -> ApiError:
    issues = [{"path": i.path, "message": i.message} for i in exc.issues]
    return ApiError(422, what + "; ".join(str(i) for i in exc.issues[:5]), issues=issues)


def create_app(config: ServeConfig) -> FastAPI:
    manager = JobManager(config.jobs_root, config.python, config.limits.max_running_jobs)
    limits = config.limits

    @asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(manager.shutdown)

    app = FastAPI(title="augment", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Declarative data augmentation as a service: validate specs, augment items with the "
                              "same bytes as `augment run`, and run/eval jobs on datasets under the data roots.")
    app.state.config, app.state.jobs = config, manager
    app.add_middleware(Gate, config=config)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # -- errors: one line of JSON, never a traceback -------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return _error(exc.status, exc.message, **exc.extra)

    @app.exception_handler(datasets.DatasetError)
    async def _dataset_error(request, exc):
        return _error(exc.status, str(exc))

    @app.exception_handler(JobError)
    async def _job_error(request, exc):
        return _error(exc.status, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _request_error(request, exc):
        return _error(422, _pydantic_message(exc.errors()))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")

    # -- registry and specs --------------------------------------------------------------------------------
    @app.get("/v1/health", tags=["service"])
    def health() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/ops", tags=["specs"], summary="Every op with its parameters (as `augment ops --json`)")
    def ops(modality: Literal["image", "text"] | None = None,
            schema: bool = Query(False, description="add each op's JSON schema (the studio builds its controls "
                                                    "from it)")) -> list[dict]:
        from augment.ops.catalog import registry
        from augment.ops.describe import describe_ops

        from augment.compile.batch import BATCHED_OPS

        listing = describe_ops(modality, batched=BATCHED_OPS)
        if schema:
            for entry in listing:
                entry["schema"] = registry().get(entry["op"]).params.model_json_schema()
        return listing

    @app.post("/v1/validate", tags=["specs"], summary="Validate a spec: every problem with its key path",
              openapi_extra=_body_doc(ValidateRequest, yaml=True))
    async def validate(request: Request) -> dict:
        spec = await _spec_body(request)
        return await run_in_threadpool(validation_report, spec)

    # -- augmenting items ----------------------------------------------------------------------------------
    @app.post("/v1/augment", tags=["augment"], openapi_extra=_body_doc(AugmentRequest, multipart=True),
              summary="Augment images or texts: the same bytes and drawn values as `augment run`")
    async def augment(request: Request, response: Response) -> dict:
        body = await _augment_body(request)
        return await run_in_threadpool(_augment, body, response)

    def _augment(body: AugmentRequest, response: Response | None = None) -> dict:
        started = time.perf_counter()
        result = _augment_items(body)
        if response is not None:  # the library's share of the request, for clients and the benchmark
            response.headers["server-timing"] = f"augment;dur={1000 * (time.perf_counter() - started):.3f}"
        return result

    def _augment_items(body: AugmentRequest) -> dict:
        try:
            spec = parse_any(body.spec, seed=body.seed)
        except SpecError as exc:
            raise _spec_error(exc) from None
        pipe = compiled(spec)
        copies = _copies(body.copies, spec.copies)
        if len(body.items) > limits.max_items:
            raise ApiError(413, f"{len(body.items)} items; a request takes at most {limits.max_items}")
        if len(body.items) * len(copies) > limits.max_outputs:
            raise ApiError(413, f"{len(body.items)} items x {len(copies)} copies = {len(body.items) * len(copies)} "
                                f"outputs; a request makes at most {limits.max_outputs}")
        items = [_item(i, raw, spec.modality, body.items) for i, raw in enumerate(body.items)]
        if spec.modality == "image":
            results = []
            for i, item in enumerate(items):
                try:
                    if isinstance(item, AnnotatedImage):
                        source, outputs = augment_annotated(pipe, item, copies, body.quality, limits.max_pixels,
                                                            f"items[{i}]")
                        results.append({"name": item.name, "source": source, "outputs": outputs})
                        continue
                    outputs = augment_image(pipe, item, copies, body.quality, limits.max_pixels)
                except ItemError as exc:
                    message = str(exc)
                    raise ApiError(422, message if message.startswith(f"items[{i}]") else f"items[{i}]: {message}") \
                        from None
                results.append({"name": item.name, "outputs": outputs})
        else:
            per_item = augment_texts(pipe, items, copies)
            results = [{"source": it.source, "row": it.row, "text": it.text, "outputs": outs}
                       for it, outs in zip(items, per_item)]
        return {"spec_hash": pipe.spec_hash, "seed": spec.seed, "modality": spec.modality, "copies": copies,
                "items": results}

    def _item(i: int, raw: dict, modality: str, all_items: list):
        where = f"items[{i}]"
        allowed = {"image", "text", "name", "source", "row", "dataset", "annotations"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ApiError(422, f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        if modality == "image":
            if "text" in raw or "row" in raw:
                raise ApiError(422, f"{where}: this is an image pipeline; give image (base64) or dataset + name")
            name = raw.get("name")
            folder = layout = None
            if "dataset" in raw:
                if not isinstance(name, str):
                    raise ApiError(422, f"{where}: a dataset item needs name (the image's path in the dataset)")
                folder = datasets.resolve(config.data_roots, raw["dataset"])
                if not folder.is_dir():
                    raise ApiError(422, f"{where}: {raw['dataset']} is not an image folder")
                data = datasets.read_image_file(folder, name, limits.max_request_bytes)
                layout = datasets.layout_of(folder)
                if layout is not None:
                    datasets.check_confined(folder, layout)
            else:
                if not isinstance(raw.get("image"), (str, bytes)):
                    raise ApiError(422, f"{where}: give image (base64 bytes) or dataset + name")
                data = raw["image"] if isinstance(raw["image"], bytes) else _b64(raw["image"], where)
                name = name if name is not None else f"image{i}"
            if not isinstance(name, str) or not name:
                raise ApiError(422, f"{where}.name: a relative path such as 'cls/img.jpg'")
            try:
                safe_relative(name)
            except UnsafePathError as exc:
                raise ApiError(422, f"{where}.name: {exc}") from None
            if raw.get("annotations") is not None:  # given with the item: they key nothing, the name keys the seed
                return AnnotatedImage(name, data, annotations=raw["annotations"])
            if layout is not None:  # an image of an annotated dataset: its annotation file, read as the run reads it
                return AnnotatedImage(name, data, folder=folder, layout=layout)
            return ImageItem(name, data)
        if "image" in raw or "name" in raw or "annotations" in raw:
            raise ApiError(422, f"{where}: this is a text pipeline; give text or dataset + row")
        row = raw.get("row")
        if row is not None and (not isinstance(row, int) or isinstance(row, bool) or row < 0):
            raise ApiError(422, f"{where}.row: a 0-based row index")
        if "dataset" in raw:
            if row is None:
                raise ApiError(422, f"{where}: a dataset item needs row (its 0-based data row)")
            path = datasets.resolve(config.data_roots, raw["dataset"])
            if datasets.modality_of(path) != "text":
                raise ApiError(422, f"{where}: {raw['dataset']} is not a text dataset file")
            return TextItem(datasets.read_text_row(path, row), path.name, row)
        text = raw.get("text")
        if not isinstance(text, str):
            raise ApiError(422, f"{where}: give text (a string) or dataset + row")
        source = raw.get("source", "input.txt")
        if not isinstance(source, str) or not source:
            raise ApiError(422, f"{where}.source: the dataset file's name, e.g. 'train.tsv'")
        if row is None:  # rows of a batch are the rows of one file, in order
            row = sum(1 for other in all_items[:i] if "text" in other and "row" not in other)
        return TextItem(text, source, row)

    async def _augment_body(request: Request) -> AugmentRequest:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            raw = await _multipart(request)
        else:
            raw = await _json_body(request)
        try:
            return AugmentRequest.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(422, _pydantic_message(exc.errors())) from None

    async def _multipart(request: Request) -> dict:
        """``curl -F spec=@pipe.yaml -F image=@a.jpg -F image=@b.jpg -F seed=3 -F copies=2``."""
        try:
            form = await request.form(max_files=limits.max_items, max_fields=limits.max_items + 16)
        except Exception as exc:  # malformed multipart, too many parts
            raise ApiError(400, f"cannot read the form: {exc}") from None
        out: dict[str, Any] = {"items": []}
        names = form.getlist("name")
        annotations = []
        for i, value in enumerate(form.getlist("annotations")):  # -F annotations=@boxes.json, one per image, in order
            text = (await value.read()).decode("utf-8", "replace") if hasattr(value, "read") else value
            try:
                annotations.append(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ApiError(422, f"annotations[{i}]: not JSON ({exc})") from None
        for key, value in form.multi_items():
            if key in ("image", "text"):
                if hasattr(value, "read"):
                    data = await value.read()
                    if key == "image":
                        out["items"].append({"image": data, "name": value.filename or f"image{len(out['items'])}"})
                    else:
                        out["items"].append({"text": data.decode("utf-8", "replace")})
                else:
                    out["items"].append({key: value} if key == "text" else {"image": _b64(value, "image")})
            elif key == "spec":
                out["spec"] = (await value.read()).decode("utf-8", "replace") if hasattr(value, "read") else value
            elif key in ("seed", "copies", "quality"):
                try:
                    out[key] = int(value)
                except (TypeError, ValueError):
                    raise ApiError(422, f"{key}: expected an integer, got {str(value)[:40]!r}") from None
            elif key not in ("name", "annotations"):
                raise ApiError(422, f"unknown form field {key!r}; fields: spec, image, text, name, annotations, seed, "
                                    "copies, quality")
        images = [it for it in out["items"] if "image" in it]
        for item, name in zip(images, names):
            item["name"] = name  # -F name=3/digit_0013.png: the image's path in its dataset (keys its seed)
        if len(annotations) > len(images):
            raise ApiError(422, f"{len(annotations)} annotations fields for {len(images)} images")
        for item, ann in zip(images, annotations):
            item["annotations"] = ann
        if not out["items"]:
            raise ApiError(422, "the form has no image or text field")
        return out

    # -- datasets ------------------------------------------------------------------------------------------
    @app.get("/v1/datasets", tags=["datasets"], summary="Image folders and text files under the data roots")
    def list_datasets() -> dict:
        return {"roots": sorted(config.data_roots), "datasets": datasets.list_datasets(config.data_roots)}

    @app.get("/v1/datasets/samples", tags=["datasets"], summary="Items of a dataset, spread over it")
    def samples(dataset: str, n: int = Query(8, ge=1)) -> dict:
        n = min(n, limits.max_samples)
        path = datasets.resolve(config.data_roots, dataset)
        modality = datasets.modality_of(path)
        layout = datasets.layout_of(path) if modality == "image" else None
        if layout is not None:  # an annotated dataset: its images with their annotations, as the run reads them
            datasets.check_confined(path, layout)
            names, total = datasets.sample_annotated(path, layout, n)
            items = [{"name": name, **sample_annotations(path, layout, name)} for name in names]
        elif modality == "image":
            names, total = datasets.sample_images(path, n)
            items = [{"name": name} for name in names]
        else:
            items, total = datasets.sample_texts(path, n)
        return {"dataset": dataset, "modality": modality, "total": total, "items": items,
                "annotations": layout.format if layout is not None else None}

    @app.get("/v1/datasets/image", tags=["datasets"], summary="One image file of a dataset")
    def dataset_image(dataset: str, name: str) -> Response:
        folder = datasets.resolve(config.data_roots, dataset)
        if not folder.is_dir():
            raise ApiError(422, f"{dataset} is not an image folder")
        data = datasets.read_image_file(folder, name, limits.max_request_bytes)
        return Response(data, media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                        headers={"x-content-type-options": "nosniff", "cache-control": "max-age=60"})

    # -- jobs ----------------------------------------------------------------------------------------------
    @app.post("/v1/jobs", tags=["jobs"], status_code=201,
              summary="Start `augment run`, `augment eval` or `augment search` on a dataset under the data roots")
    def create_job(body: JobRequest) -> dict:
        if body.kind == "search":
            return _create_search(body)
        if body.spec is None:
            raise ApiError(422, f"spec: a {body.kind} job needs the pipeline spec")
        if body.space is not None or body.space_file is not None:
            raise ApiError(422, f"space: only a search job takes a space; a {body.kind} job takes spec")
        try:
            spec = parse_any(body.spec)
        except SpecError as exc:
            raise _spec_error(exc) from None
        source = datasets.resolve(config.data_roots, body.dataset)
        try:
            opts = (RunOptions if body.kind == "run" else EvalOptions).model_validate(body.options)
        except ValidationError as exc:
            raise ApiError(422, "options." + _pydantic_message(exc.errors())) from None
        if body.kind == "run":
            spec = spec.with_overrides(seed=opts.seed, copies=opts.copies)
            args, total = _run_command(source, spec, opts)
        else:
            test = datasets.resolve(config.data_roots, body.test) if body.test else None
            args, total = _eval_command(source, test, opts), None
        if datasets.modality_of(source) != spec.modality:
            raise ApiError(422, f"{body.dataset} is a {datasets.modality_of(source)} dataset; the spec is a "
                                f"{spec.modality} pipeline")
        request = {"kind": body.kind, "dataset": body.dataset, "test": body.test,
                   "options": opts.model_dump(exclude_none=True)}
        rec = manager.create(body.kind, body.dataset, args, {"pipeline.yaml": dump_spec(spec)}, total, request)
        return public(rec)

    def _create_search(body: JobRequest) -> dict:
        if body.spec is not None:
            raise ApiError(422, "spec: a search job takes a space (space or space_file), not a spec")
        try:
            opts = SearchOptions.model_validate(body.options)
        except ValidationError as exc:
            raise ApiError(422, "options." + _pydantic_message(exc.errors())) from None
        try:
            seconds = parse_budget(opts.budget, limits.max_search_seconds)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        try:
            prepared = prepare_space(config.data_roots, body.space, body.space_file)
        except SpecError as exc:
            raise _spec_error(exc, "invalid search space: ") from None
        except SpaceRefused as exc:
            raise ApiError(exc.status, str(exc)) from None
        source = datasets.resolve(config.data_roots, body.dataset)
        test = datasets.resolve(config.data_roots, body.test) if body.test else None
        for ref, path in ((body.dataset, source), (body.test, test)):
            if path is not None and datasets.modality_of(path) != prepared.space.modality:
                raise ApiError(422, f"{ref} is a {datasets.modality_of(path)} dataset; the space is for "
                                    f"{prepared.space.modality}")
        total = planned_evaluations(prepared.space, opts.seed, opts.rungs, opts.eta)
        if total == 0:
            raise ApiError(422, "invalid search space: it yields no candidates")
        request = {"kind": "search", "dataset": body.dataset, "test": body.test, "space_file": body.space_file,
                   "options": {**opts.model_dump(exclude_none=True), "budget": seconds}}
        rec = manager.create("search", body.dataset, search_command(source, test, opts, seconds), prepared.files,
                             total, request)
        return public(rec)

    @app.get("/v1/jobs", tags=["jobs"])
    def list_jobs() -> dict:
        return {"jobs": [public(r) for r in manager.store.all()]}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"], summary="Status, counts, progress and summary")
    def get_job(job_id: str) -> dict:
        return public(manager.get(job_id))

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"], status_code=202,
                summary="Cancel (SIGINT, as Ctrl-C): the run stops and stays resumable")
    def cancel_job(job_id: str) -> dict:
        return public(manager.cancel(job_id))

    @app.post("/v1/jobs/{job_id}/resume", tags=["jobs"], summary="Resume a cancelled or interrupted job")
    def resume_job(job_id: str) -> dict:
        return public(manager.resume(job_id))

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"], summary="Progress as server-sent events until the end")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        await run_in_threadpool(manager.get, job_id)  # 404 before the stream starts

        async def stream():
            last = None
            while True:
                rec = public(await run_in_threadpool(manager.get, job_id))
                if rec != last:
                    yield f"event: job\ndata: {json.dumps(rec)}\n\n"
                    last = rec
                if rec["status"] in TERMINAL:
                    yield "event: end\ndata: {}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.3)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @app.get("/v1/jobs/{job_id}/outputs", tags=["jobs"], summary="The outputs a run wrote (manifest records)")
    def job_outputs(job_id: str, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)) -> dict:
        from augment.io.manifest import MANIFEST, read_jsonl

        rec = manager.get(job_id)
        if rec["kind"] != "run":
            raise ApiError(400, "only run jobs have outputs; an eval job has report/report.html")
        records = list(read_jsonl(manager.job_dir(job_id) / "output" / MANIFEST))
        keep = ("output", "source", "copy", "row", "seed", "ops", "sha256")
        return {"total": len(records), "offset": offset,
                "outputs": [{k: r.get(k) for k in keep} for r in records[offset:offset + limit]]}

    @app.get("/v1/jobs/{job_id}/leaderboard", tags=["jobs"],
             summary="A search's leaderboard (leaderboard.json once done; the evaluations so far before)")
    def job_leaderboard(job_id: str) -> dict:
        from augment.search.search import TRIALS

        rec = manager.get(job_id)
        if rec["kind"] != "search":
            raise ApiError(400, f"job {job_id} is a {rec['kind']} job; only search jobs have a leaderboard")
        out = manager.job_dir(job_id) / SEARCH_OUT
        board = out / "leaderboard.json"
        if board.is_file() and rec["status"] == "complete":
            doc = json.loads(_scrub(board.read_text("utf-8"), manager.job_dir(job_id)))
            return {"complete": True, **doc}
        trials = []
        if (out / TRIALS).is_file():
            for line in (out / TRIALS).read_text("utf-8").splitlines():
                try:
                    trials.append(json.loads(line))
                except json.JSONDecodeError:  # the line a kill cut short
                    continue
        trials.sort(key=lambda t: (-t["rung"], -t["gain"], t["candidate"]))
        return {"complete": False, "status": rec["status"], "trials": trials}

    def _scrub(text: str, job_folder: Path) -> str:
        """Paths of the server's machine in a search's outputs -> job-relative paths and ROOT/ names."""
        pairs = [(str(job_folder) + "/", "")] + [(str(path), name) for name, path in config.data_roots.items()]
        for local, shown in sorted(pairs, key=lambda p: -len(p[0])):
            text = text.replace(json.dumps(local)[1:-1], json.dumps(shown)[1:-1])
        return text

    @app.get("/v1/jobs/{job_id}/files/{rel:path}", tags=["jobs"],
             summary="A file of a job: output/<file>, report/report.html, stderr.log, ...")
    def job_file(job_id: str, rel: str) -> Response:
        manager.get(job_id)
        folder = manager.job_dir(job_id)
        try:
            target = folder.joinpath(*safe_relative(rel).parts)
        except UnsafePathError as exc:
            raise ApiError(403, f"{rel}: {exc}") from None
        if not is_within(target, folder):
            raise ApiError(403, f"{rel}: resolves outside the job's folder")
        if not target.is_file():
            raise ApiError(404, f"{rel}: no such file in job {job_id}")
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        headers = {"x-content-type-options": "nosniff"}
        if media == "text/html":  # the eval report: self-contained, shown in the studio's iframe
            headers["content-security-policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        elif not media.startswith("image/"):
            media = "text/plain; charset=utf-8"
        return Response(target.read_bytes(), media_type=media, headers=headers)

    def _run_command(source: Path, spec, opts: RunOptions) -> tuple[list[str], int]:
        args = ["run", "pipeline.yaml", str(source), "output", "--quiet", "--engine", opts.engine,
                "--workers", str(opts.workers), "--quality", str(opts.quality)]
        if opts.include_originals:
            args.append("--include-originals")
        for flag, value in (("--text-column", opts.text_column), ("--label-column", opts.label_column)):
            if value:
                args += [flag, value]
        per_item = spec.copies + (1 if opts.include_originals else 0)
        if spec.modality == "image":
            return args, len(datasets.scan_image_folder(source).images) * per_item
        return args, datasets.count_text_rows(source) * per_item

    def _eval_command(train: Path, test: Path | None, opts: EvalOptions) -> list[str]:
        args = ["eval", "pipeline.yaml", "--train", str(train), "--train-sizes", opts.train_sizes,
                "--copies", opts.copies, "--repeats", str(opts.repeats), "--model", opts.model,
                "--seed", str(opts.seed), "--budget", opts.budget, "--threads", str(opts.threads), "--out", "report"]
        if test is not None:
            args += ["--test", str(test)]
        for key, value in opts.model_options.items():
            args += ["--model-option", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
        return args

    # -- studio and docs -----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def studio() -> HTMLResponse:
        from augment.serve.studio import render_studio

        return HTMLResponse(render_studio(config), headers={
            "content-security-policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                       "frame-src 'self'; connect-src 'self'; object-src 'none'"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from augment.serve.studio import render_docs

        return HTMLResponse(render_docs(app.openapi()))

    return app


def _copies(copies, spec_copies: int) -> list[int]:
    if copies is None:
        return list(range(spec_copies))
    if isinstance(copies, int):
        if copies < 1:
            raise ApiError(422, "copies: at least 1")
        return list(range(copies))
    if not copies or any(c < 0 for c in copies) or len(set(copies)) != len(copies):
        raise ApiError(422, "copies: a list of distinct non-negative copy indices")
    return list(copies)


def _b64(value: str, where: str) -> bytes:
    if value.startswith("data:"):  # a data: URL straight from a browser
        value = value.partition(",")[2]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{where}: image is not valid base64") from None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None


async def _spec_body(request: Request) -> Any:
    """A JSON body ({"spec": ...} or the spec itself), or a YAML body (Content-Type: application/yaml)."""
    ctype = request.headers.get("content-type", "")
    if "json" in ctype:
        body = await _json_body(request)
        if isinstance(body, dict) and set(body) == {"spec"}:
            return body["spec"]
        return body
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


def _pydantic_message(errors: list[dict]) -> str:
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _body_doc(model, yaml: bool = False, multipart: bool = False) -> dict:
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


__all__ = ["HERE", "ApiError", "create_app"]
