"""Request bodies of the service (pydantic, unknown keys refused so a typo is an error, not a silent default)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SEED = Field(None, ge=0, lt=2**63, description="pipeline seed (overrides the spec's, as `augment run --seed`)")


class _Strict(BaseModel):
    # strict: JSON types as they are (a boolean is not a number, "3" is not 3) on every request model, so that
    # "budget": true or "copies": true is a 422 naming the key, never 1
    model_config = ConfigDict(extra="forbid", strict=True)


class ValidateRequest(_Strict):
    spec: dict | str = Field(..., description="the spec: a mapping, or YAML/JSON text")


class AugmentRequest(_Strict):
    spec: dict | str = Field(..., description="the spec: a mapping, or YAML/JSON text")
    seed: int | None = SEED
    copies: int | list[int] | None = Field(
        None, description="a count (copy indices 0..n-1) or a list of copy indices; default: the spec's copies")
    quality: int = Field(95, ge=1, le=100, description="JPEG/WebP quality, as `augment run --quality`")
    items: list[dict[str, Any]] = Field(..., min_length=1, description=(
        "each one of: {image: base64, name?: 'cls/file.jpg'} | {text: str, source?: 'file.tsv', row?: int} | "
        "{dataset: 'ROOT/folder', name: 'cls/file.jpg'} | {dataset: 'ROOT/file.tsv', row: int}. "
        "name/source/row are the item's identity in a dataset: they key its seed exactly as `augment run` does"))


class RunOptions(_Strict):
    copies: int | None = Field(None, ge=1, le=10000)
    seed: int | None = SEED
    include_originals: bool = False
    workers: int = Field(1, ge=1, le=64)
    engine: Literal["local", "serial"] = "local"
    quality: int = Field(95, ge=1, le=100)
    text_column: str | None = Field(None, max_length=200)
    label_column: str | None = Field(None, max_length=200)


class EvalOptions(_Strict):
    train_sizes: str = Field("full", max_length=200, pattern=r"^[0-9a-z, ]+$")
    copies: str = Field("1,4", max_length=200, pattern=r"^[0-9, ]+$")
    repeats: int = Field(3, ge=1, le=100)
    # built-in models only: module:function would import code named by a client
    model: Literal["auto", "cnn", "ngram", "tfidf-logreg"] = "auto"
    seed: int = Field(0, ge=0, lt=2**63)
    budget: Literal["epochs", "steps"] = "epochs"
    model_options: dict[str, int | float | str | bool] = Field(default_factory=dict, max_length=50)
    threads: int = Field(1, ge=1, le=64)


class SearchOptions(_Strict):
    budget: str | float | None = Field(None, description=(
        "wall-clock limit of the search: seconds or a duration such as 90s, 30m, 1h; default and most: the "
        "server's --max-search-budget (the final test measurement comes on top)"))
    model: Literal["auto", "cnn", "ngram", "tfidf-logreg"] = "auto"  # built-in models only, as for eval
    model_options: dict[str, int | float | str | bool] = Field(default_factory=dict, max_length=50)
    seed: int = Field(0, ge=0, lt=2**63)
    folds: int = Field(3, ge=2, le=20)
    rungs: int = Field(3, ge=1, le=6)
    eta: int = Field(3, ge=2, le=10)
    final_repeats: int = Field(5, ge=2, le=100)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    text_column: str | None = Field(None, max_length=200)
    label_column: str | None = Field(None, max_length=200)


class JobRequest(_Strict):
    kind: Literal["run", "eval", "search"]
    spec: dict | str | None = Field(None, description="run, eval: the pipeline spec (a mapping or YAML/JSON text)")
    space: dict | str | None = Field(None, description=(
        "search: the search space inline (a mapping or YAML text; its pipelines[].file entries name ROOT/path "
        "spec files under the data roots)"))
    space_file: str | None = Field(None, description=(
        "search: ROOT/path of a space file under a data root (its pipelines[].file entries are relative to it "
        "and must stay under that root)"))
    dataset: str = Field(..., description="ROOT/path of the input (run) or training data (eval, search)")
    test: str | None = Field(None, description="eval, search: ROOT/path of held-out data")
    options: dict[str, Any] = Field(default_factory=dict,
                                    description="RunOptions, EvalOptions or SearchOptions, by kind")


__all__ = ["SEED", "ValidateRequest", "AugmentRequest", "RunOptions", "EvalOptions", "SearchOptions", "JobRequest"]
