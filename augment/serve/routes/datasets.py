"""Datasets under the data roots: the listing, samples of one, one image file."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, Depends, Query, Response

from augment.serve import datasets
from augment.serve.annotations import sample_annotations
from augment.serve.deps import ApiError, Service, annotated_layout, dataset_path, service

router = APIRouter()


@router.get("/v1/datasets", tags=["datasets"], summary="Image folders and text files under the data roots")
def list_datasets(svc: Service = Depends(service)) -> dict:
    skipped: list[str] = []
    found = datasets.list_datasets(svc.roots, skipped=skipped)
    out = {"roots": sorted(svc.roots), "datasets": found}
    if skipped:
        out["skipped"] = {"count": len(skipped), "reason": datasets.NOT_UTF8}
    return out


@router.get("/v1/datasets/samples", tags=["datasets"], summary="Items of a dataset, spread over it")
def samples(dataset: str, n: int = Query(8, ge=1), svc: Service = Depends(service)) -> dict:
    n = min(n, svc.limits.max_samples)
    path = dataset_path(svc, dataset)
    modality = datasets.modality_of(path)
    layout = annotated_layout(path) if modality == "image" else None
    skipped = 0
    if layout is not None:  # an annotated dataset: its images with their annotations, as the run reads them
        names, total, skipped = datasets.sample_annotated(path, layout, n)
        items = [{"name": name, **sample_annotations(path, layout, name)} for name in names]
    elif modality == "image":
        names, total, skipped = datasets.sample_images(path, n)
        items = [{"name": name} for name in names]
    else:
        items, total = datasets.sample_texts(path, n)
    out = {"dataset": dataset, "modality": modality, "total": total, "items": items,
           "annotations": layout.format if layout is not None else None}
    if skipped:
        out["skipped"] = {"count": skipped, "reason": datasets.NOT_UTF8}
    return out


@router.get("/v1/datasets/image", tags=["datasets"], summary="One image file of a dataset")
def dataset_image(dataset: str, name: str, svc: Service = Depends(service)) -> Response:
    folder = dataset_path(svc, dataset)
    if not folder.is_dir():
        raise ApiError(422, f"{dataset} is not an image folder")
    data = datasets.read_image_file(folder, name, svc.limits.max_request_bytes)
    return Response(data, media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                    headers={"x-content-type-options": "nosniff", "cache-control": "max-age=60"})


__all__ = ["router"]
