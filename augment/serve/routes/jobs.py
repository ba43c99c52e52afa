"""Jobs: ``augment run``, ``augment eval`` and ``augment search`` on datasets under the data roots, their
progress, outputs, leaderboard and files."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from augment.io.paths import UnsafePathError, read_bytes_within, resolve_within, safe_relative
from augment.serve import datasets
from augment.serve.deps import (ApiError, Service, annotated_layout, body_doc, dataset_path, json_body, service,
                                spec_error, validated)
from augment.serve.jobs import SEARCH_OUT, TERMINAL, public
from augment.serve.models import EvalOptions, JobRequest, RunOptions, SearchOptions
from augment.serve.search_jobs import SpaceRefused, parse_budget, planned_evaluations, prepare_space, search_command
from augment.serve.endpoints import check_endpoints
from augment.serve.specs import parse_any
from augment.spec import SpecError, dump_spec

router = APIRouter()


@router.post("/v1/jobs", tags=["jobs"], status_code=201, openapi_extra=body_doc(JobRequest),
             summary="Start `augment run`, `augment eval` or `augment search` on a dataset under the data roots")
async def create_job(request: Request, svc: Service = Depends(service)) -> dict:
    body = validated(JobRequest, await json_body(request))
    return await run_in_threadpool(_create_job, svc, body)


def _create_job(svc: Service, body: JobRequest) -> dict:
    if body.kind == "search":
        return _create_search(svc, body)
    if body.spec is None:
        raise ApiError(422, f"spec: a {body.kind} job needs the pipeline spec")
    if body.space is not None or body.space_file is not None:
        raise ApiError(422, f"space: only a search job takes a space; a {body.kind} job takes spec")
    try:
        spec = parse_any(body.spec)
    except SpecError as exc:
        raise spec_error(exc) from None
    source = _job_dataset(svc, body.dataset)
    opts = validated(RunOptions if body.kind == "run" else EvalOptions, body.options, "options.")
    if body.kind == "run":
        spec = spec.with_overrides(seed=opts.seed, copies=opts.copies)
        args, total = _run_command(source, spec, opts)
    else:
        test = _job_dataset(svc, body.test) if body.test else None
        args, total = _eval_command(source, test, opts), None
    if datasets.modality_of(source) != spec.modality:
        raise ApiError(422, f"{body.dataset} is a {datasets.modality_of(source)} dataset; the spec is a "
                            f"{spec.modality} pipeline")
    request = {"kind": body.kind, "dataset": body.dataset, "test": body.test,
               "options": opts.model_dump(exclude_none=True)}
    rec = svc.jobs.create(body.kind, body.dataset, args, {"pipeline.yaml": dump_spec(spec)}, total, request)
    return public(rec)


def _job_dataset(svc: Service, ref: str) -> Path:
    """A job's input, confined as every read of the service is: the dataset under its root, and for an
    annotated folder its layout files too (the job's CLI then confines every read to that folder)."""
    path = dataset_path(svc, ref)
    if path.is_dir():
        annotated_layout(path)
    return path


def _create_search(svc: Service, body: JobRequest) -> dict:
    if body.spec is not None:
        raise ApiError(422, "spec: a search job takes a space (space or space_file), not a spec")
    opts = validated(SearchOptions, body.options, "options.")
    try:
        seconds = parse_budget(opts.budget, svc.limits.max_search_seconds)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    try:
        prepared = prepare_space(svc.roots, body.space, body.space_file)
    except SpecError as exc:
        raise spec_error(exc, "invalid search space: ") from None
    except SpaceRefused as exc:
        raise ApiError(exc.status, str(exc)) from None
    try:
        for candidate in prepared.space.candidates(opts.seed):
            check_endpoints(candidate.spec)
    except SpecError as exc:
        raise spec_error(exc, "invalid search space: ") from None
    source = _job_dataset(svc, body.dataset)
    test = _job_dataset(svc, body.test) if body.test else None
    for ref, path in ((body.dataset, source), (body.test, test)):
        if path is not None and datasets.modality_of(path) != prepared.space.modality:
            raise ApiError(422, f"{ref} is a {datasets.modality_of(path)} dataset; the space is for "
                                f"{prepared.space.modality}")
    total = planned_evaluations(prepared.space, opts.seed, opts.rungs, opts.eta)
    if total == 0:
        raise ApiError(422, "invalid search space: it yields no candidates")
    request = {"kind": "search", "dataset": body.dataset, "test": body.test, "space_file": body.space_file,
               "options": {**opts.model_dump(exclude_none=True), "budget": seconds}}
    rec = svc.jobs.create("search", body.dataset, search_command(source, test, opts, seconds), prepared.files,
                          total, request)
    return public(rec)


@router.get("/v1/jobs", tags=["jobs"])
def list_jobs(svc: Service = Depends(service)) -> dict:
    return {"jobs": [public(r) for r in svc.jobs.store.all()]}


@router.get("/v1/jobs/{job_id}", tags=["jobs"], summary="Status, counts, progress and summary")
def get_job(job_id: str, svc: Service = Depends(service)) -> dict:
    return public(svc.jobs.get(job_id))


@router.delete("/v1/jobs/{job_id}", tags=["jobs"], status_code=202,
               summary="Cancel (SIGINT, as Ctrl-C): the run stops and stays resumable")
def cancel_job(job_id: str, svc: Service = Depends(service)) -> dict:
    return public(svc.jobs.cancel(job_id))


@router.post("/v1/jobs/{job_id}/resume", tags=["jobs"], summary="Resume a cancelled or interrupted job")
def resume_job(job_id: str, svc: Service = Depends(service)) -> dict:
    return public(svc.jobs.resume(job_id))


@router.get("/v1/jobs/{job_id}/events", tags=["jobs"], summary="Progress as server-sent events until the end")
async def job_events(job_id: str, request: Request, svc: Service = Depends(service)) -> StreamingResponse:
    manager = svc.jobs
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


@router.get("/v1/jobs/{job_id}/outputs", tags=["jobs"], summary="The outputs a run wrote (manifest records)")
def job_outputs(job_id: str, offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500),
                svc: Service = Depends(service)) -> dict:
    from augment.io.manifest import MANIFEST, read_jsonl

    rec = svc.jobs.get(job_id)
    if rec["kind"] != "run":
        raise ApiError(400, "only run jobs have outputs; an eval job has report/report.html")
    records = list(read_jsonl(svc.jobs.job_dir(job_id) / "output" / MANIFEST))
    keep = ("output", "source", "copy", "row", "seed", "ops", "sha256")
    return {"total": len(records), "offset": offset,
            "outputs": [{k: r.get(k) for k in keep} for r in records[offset:offset + limit]]}


@router.get("/v1/jobs/{job_id}/leaderboard", tags=["jobs"],
            summary="A search's leaderboard (leaderboard.json once done; the evaluations so far before)")
def job_leaderboard(job_id: str, svc: Service = Depends(service)) -> dict:
    from augment.search.search import TRIALS

    rec = svc.jobs.get(job_id)
    if rec["kind"] != "search":
        raise ApiError(400, f"job {job_id} is a {rec['kind']} job; only search jobs have a leaderboard")
    out = svc.jobs.job_dir(job_id) / SEARCH_OUT
    board = out / "leaderboard.json"
    if board.is_file() and rec["status"] == "complete":
        doc = json.loads(_scrub(svc, board.read_text("utf-8"), svc.jobs.job_dir(job_id)))
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


def _scrub(svc: Service, text: str, job_folder: Path) -> str:
    """Paths of the server's machine in a search's outputs -> job-relative paths and ROOT/ names."""
    pairs = [(str(job_folder) + "/", "")] + [(str(path), name) for name, path in svc.roots.items()]
    for local, shown in sorted(pairs, key=lambda p: -len(p[0])):
        text = text.replace(json.dumps(local)[1:-1], json.dumps(shown)[1:-1])
    return text


@router.get("/v1/jobs/{job_id}/files/{rel:path}", tags=["jobs"],
            summary="A file of a job: output/<file>, report/report.html, stderr.log, ...")
def job_file(job_id: str, rel: str, svc: Service = Depends(service)) -> Response:
    svc.jobs.get(job_id)
    folder = svc.jobs.job_dir(job_id)
    try:
        target = resolve_within(folder, safe_relative(rel).as_posix())  # real path: no symlink leaves the job
    except UnsafePathError as exc:
        raise ApiError(403, f"{rel}: {exc}") from None
    if not target.is_file():
        raise ApiError(404, f"{rel}: no such file in job {job_id}")
    media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    headers = {"x-content-type-options": "nosniff"}
    if media == "text/html":  # the eval report: self-contained, shown in the studio's iframe
        headers["content-security-policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    elif not media.startswith("image/"):
        media = "text/plain; charset=utf-8"
    return Response(read_bytes_within(folder, target), media_type=media, headers=headers)


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


__all__ = ["router"]
