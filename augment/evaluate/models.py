"""The benchmark-model interface and the closed list of built-in models.

A benchmark model is trained from scratch on one arm's training examples and predicts the held-out set. The
protocol gives every arm of a run the same model seed, the same validation slice (when the model asks for
one) and the same budget rule; the model reports what it did (epochs run, regularisation used) so that
report.json can record it.

Built-in names (``--model``):

* ``cnn`` — small CNN for images (:mod:`augment.evaluate.image_model`);
* ``ngram`` — fastText-style bag of word uni+bigrams trained from scratch in torch
  (:mod:`augment.evaluate.text_models`);
* ``textcnn`` — CNN over learned word embeddings (Kim 2014);
* ``tfidf-logreg`` — TF-IDF + L2 logistic regression (scikit-learn);
* ``auto`` — ``cnn`` for images, ``ngram`` for text;
* ``module:function`` — bring your own (:mod:`augment.evaluate.custom`).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, get_args, get_origin

from pydantic import ValidationError

from augment.spec.errors import did_you_mean, show

from .base import BenchmarkModel, Budget, ModelOutput, TrainSet
from .custom import CustomModel
from .image_model import CNNOptions, SmallCNNModel
from .text_models import NgramModel, NgramOptions, TextCNNModel, TextCNNOptions, TfidfLogRegModel, TfidfOptions

__all__ = ["BUILTIN_MODELS", "BenchmarkModel", "Budget", "ModelOutput", "TrainSet", "describe_models",
           "format_models", "make_model"]

# name -> (modality, options schema, factory, what it is good for); ``augment models`` is generated from this
_REGISTRY: dict[str, tuple[str, type, Any, str]] = {
    "cnn": ("image", CNNOptions, lambda o, t: SmallCNNModel(o, threads=t),
            "small CNN (3 conv stages, global average pooling); input size picked from the data (native up to "
            "64 px, 64 or 96 px for photos). The default for images: fast on CPU, sensitive to geometry and "
            "colour augmentations."),
    "ngram": ("text", NgramOptions, lambda o, t: NgramModel(o, threads=t),
              "fastText-style bag of word 1-2-grams with learned embeddings. The default for text: fast, "
              "order-insensitive beyond bigrams."),
    "textcnn": ("text", TextCNNOptions, lambda o, t: TextCNNModel(o, threads=t),
                "CNN over learned word embeddings (Kim 2014; the model family of the EDA paper). Slower than "
                "ngram; sees word order within 3-5 word windows."),
    "tfidf-logreg": ("text", TfidfOptions, lambda o, t: TfidfLogRegModel(o),
                     "TF-IDF + L2 logistic regression (scikit-learn). Convex, no training noise: the fastest and "
                     "steadiest text baseline; a strong check on what ngram reports."),
}
BUILTIN_MODELS = ("auto", *_REGISTRY)


def make_model(name: str, modality: str, options: Mapping[str, Any] | None = None, threads: int = 1,
               timeout: float | None = None) -> BenchmarkModel:
    """Build a benchmark model by name (see module docstring). Unknown names and options are errors.
    ``timeout``: seconds per call of a custom model (run in a child process)."""
    options = dict(options or {})
    if ":" in name:
        if options:
            raise ValueError(f"model options {sorted(options)} do not apply to a custom model ({name})")
        return CustomModel(name, timeout=timeout)
    if name == "auto":
        name = "cnn" if modality == "image" else "ngram"
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BUILTIN_MODELS)} or module:function "
                         "(see `augment models`)")
    model_modality, schema, factory, _ = _REGISTRY[name]
    if model_modality != modality:
        raise ValueError(f"model {name!r} is for {model_modality} data, but the data is {modality}")
    return factory(_options(schema, name, options), threads)


def describe_models() -> list[dict]:
    """Every built-in model with its modality, use and options (type, default, bounds), for ``augment models``."""
    out = []
    for name, (modality, schema, _, use) in _REGISTRY.items():
        opts = []
        for key, f in schema.model_fields.items():
            bounds = [f"{type(m).__name__.lower()} {getattr(m, type(m).__name__.lower(), '')}".strip()
                      for m in f.metadata if type(m).__name__ in ("Ge", "Gt", "Le", "Lt")]
            if get_origin(f.annotation) is Literal:
                ann = "|".join(map(str, get_args(f.annotation)))
            else:
                ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
            opts.append({"name": key, "type": ann, "default": f.default,
                         "bounds": ", ".join(b.replace("ge ", ">= ").replace("gt ", "> ").replace("le ", "<= ")
                                             .replace("lt ", "< ") for b in bounds)})
        out.append({"name": name, "modality": modality, "use": use, "options": opts,
                    "default_for": "image" if name == "cnn" else "text" if name == "ngram" else None})
    return out


def format_models(listing: list[dict]) -> str:
    lines = ["Built-in benchmark models for `augment eval --model NAME` (auto: cnn for images, ngram for text).",
             "Options: --model-option KEY=VALUE (repeatable). Your own: --model module:function (see README).", ""]
    for m in listing:
        lines.append(f"{m['name']}  [{m['modality']}]" + (f"  (default for {m['default_for']})"
                                                           if m["default_for"] else ""))
        lines.append(f"    {m['use']}")
        for o in m["options"]:
            default = "picked from the data" if o["default"] is None else o["default"]
            lines.append(f"    {o['name']:<15} {o['type']:<22} default {default}"
                         + (f"  ({o['bounds']})" if o["bounds"] else ""))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _options(schema: type, model: str, options: Mapping[str, Any]):
    """``schema(**options)`` with one-line errors that name the option and what the model accepts."""
    try:
        return schema(**options)
    except ValidationError as exc:
        allowed = ", ".join(sorted(schema.model_fields))
        problems = []
        for error in exc.errors():
            key = ".".join(map(str, error["loc"]))
            if error["type"] == "extra_forbidden":
                hint = did_you_mean(key, schema.model_fields)
                problems.append(f"model option {key!r} is not an option of {model}{hint}; allowed: {allowed}")
            else:
                problems.append(f"model option {key}={show(error.get('input'))}: {error['msg']}")
        raise ValueError("; ".join(problems)) from None
