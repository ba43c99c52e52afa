"""``POST /v1/augment``: images (uploaded or from a dataset, with their annotations) and texts, augmented with the
same bytes and drawn values as ``augment run``."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from augment.io.paths import UnsafePathError, safe_relative
from augment.serve import datasets
from augment.serve.annotations import AnnotatedImage, augment_annotated
from augment.serve.deps import (ApiError, Service, annotated_layout, body_doc, check_json, dataset_path, json_body,
                                service, spec_error, validated)
from augment.serve.items import ImageItem, ItemError, TextItem, augment_image, augment_texts
from augment.serve.models import AugmentRequest
from augment.serve.specs import compiled, parse_any
from augment.spec import SpecError
from augment.text.llm_client import EndpointUnreachableError

router = APIRouter()
ITEM_KEYS = {"image", "text", "name", "source", "row", "dataset", "annotations"}


@router.post("/v1/augment", tags=["augment"], openapi_extra=body_doc(AugmentRequest, multipart=True),
             summary="Augment images or texts: the same bytes and drawn values as `augment run`")
async def augment(request: Request, response: Response, svc: Service = Depends(service)) -> dict:
    body = await _augment_body(request, svc)
    return await run_in_threadpool(_augment, svc, body, response)


def _augment(svc: Service, body: AugmentRequest, response: Response | None = None) -> dict:
    started = time.perf_counter()
    result = _augment_items(svc, body)
    if response is not None:  # the library's share of the request, for clients and the benchmark
        response.headers["server-timing"] = f"augment;dur={1000 * (time.perf_counter() - started):.3f}"
    return result


def _augment_items(svc: Service, body: AugmentRequest) -> dict:
    limits = svc.limits
    try:
        spec = parse_any(body.spec, seed=body.seed)
    except SpecError as exc:
        raise spec_error(exc) from None
    pipe = compiled(spec)
    if spec.modality == "image":
        try:
            pipe.check_writes_images()  # the service returns image files, as augment run writes them
        except ValueError as exc:
            raise ApiError(422, f"spec: {exc}") from None
    copies = _copies(body.copies, spec.copies)
    if len(body.items) > limits.max_items:
        raise ApiError(413, f"{len(body.items)} items; a request takes at most {limits.max_items}")
    if len(body.items) * len(copies) > limits.max_outputs:
        raise ApiError(413, f"{len(body.items)} items x {len(copies)} copies = {len(body.items) * len(copies)} "
                            f"outputs; a request makes at most {limits.max_outputs}")
    items = [_item(svc, i, raw, spec.modality, body.items) for i, raw in enumerate(body.items)]
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
        try:
            per_item = augment_texts(pipe, items, copies)
        except EndpointUnreachableError as exc:  # llm_paraphrase: its chat server, not this request, is at fault
            raise ApiError(502, str(exc)) from None
        results = [{"source": it.source, "row": it.row, "text": it.text, "outputs": outs}
                   for it, outs in zip(items, per_item)]
    return {"spec_hash": pipe.spec_hash, "seed": spec.seed, "modality": spec.modality, "copies": copies,
            "items": results}


def _item(svc: Service, i: int, raw: dict, modality: str, all_items: list):
    where = f"items[{i}]"
    unknown = sorted(set(raw) - ITEM_KEYS)
    if unknown:
        raise ApiError(422, f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(ITEM_KEYS))}")
    if modality == "image":
        if "text" in raw or "row" in raw:
            raise ApiError(422, f"{where}: this is an image pipeline; give image (base64) or dataset + name")
        name = raw.get("name")
        folder = layout = None
        if "dataset" in raw:
            if not isinstance(name, str):
                raise ApiError(422, f"{where}: a dataset item needs name (the image's path in the dataset)")
            folder = dataset_path(svc, raw["dataset"])
            if not folder.is_dir():
                raise ApiError(422, f"{where}: {raw['dataset']} is not an image folder")
            data = datasets.read_image_file(folder, name, svc.limits.max_request_bytes)
            layout = annotated_layout(folder)
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
        path = dataset_path(svc, raw["dataset"])
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


async def _augment_body(request: Request, svc: Service) -> AugmentRequest:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        raw = await _multipart(request, svc)
    else:
        raw = await json_body(request)
    return validated(AugmentRequest, raw)


async def _multipart(request: Request, svc: Service) -> dict:
    """``curl -F spec=@pipe.yaml -F image=@a.jpg -F image=@b.jpg -F seed=3 -F copies=2``."""
    limits = svc.limits
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
            parsed = json.loads(text)
        except RecursionError:
            raise ApiError(400, f"annotations[{i}]: JSON nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise ApiError(422, f"annotations[{i}]: not JSON ({exc})") from None
        check_json(parsed)
        annotations.append(parsed)
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


__all__ = ["router"]
