"""Compiling specs into callable pipelines, and the backends that apply image ops."""

from augment.compile.pipeline import AugmentResult, ImageInputError, Pipeline, load_pipeline

__all__ = ["AugmentResult", "ImageInputError", "Pipeline", "load_pipeline"]
