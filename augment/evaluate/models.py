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
* ``fast-conv`` — softmax regression over fixed random conv features (:mod:`augment.evaluate.fast_model`);
* ``auto`` — for images ``cnn`` when a GPU trains it (or when CNN options are given), else ``fast-conv``, which
  fits many more runs into a CPU's time budget (the report says which ran and why); for text ``tfidf-logreg``
  under a time budget (ngram's fits take minutes on a few thousand sentences with their copies), else ``ngram``;
* ``module:function`` — bring your own (:mod:`augment.evaluate.custom`).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, get_args, get_origin

from pydantic import ValidationError

from augment.spec.errors import did_you_mean, show

from .base import BenchmarkModel, Budget, ModelOutput, TrainSet
from .custom import CustomModel
from .fast_model import FastConvModel, FastConvOptions
from .image_model import CNNOptions, SmallCNNModel
from .text_models import NgramModel, NgramOptions, TextCNNModel, TextCNNOptions, TfidfLogRegModel, TfidfOptions

__all__ = ["BUILTIN_MODELS", "BenchmarkModel", "Budget", "ModelOutput", "TrainSet", "describe_models",
           "format_models", "make_model"]

# name -> (modality, options schema, factory, what it is good for); ``augment models`` is generated from this
_REGISTRY: dict[str, tuple[str, type, Any, str]] = {
    "fast-conv": ("image", FastConvOptions, lambda o, t, d: FastConvModel(o),
                  "softmax regression over fixed random 5x5 conv features at 32x32 (numpy, one thread); "
                  "calibrated to see flips and crops. The default for images on a CPU: a fit takes seconds."),
    "cnn": ("image", CNNOptions, lambda o, t, d: SmallCNNModel(o, threads=t, device=d),
            "small CNN (3 conv stages, global average pooling); input size picked from the data (native up to "
            "64 px, 64 or 96 px for photos). The default for images: fast on CPU, sensitive to geometry and "
            "colour augmentations."),
    "ngram": ("text", NgramOptions, lambda o, t, d: NgramModel(o, threads=t),
              "fastText-style bag of word 1-2-grams with learned embeddings. The default for text: fast, "
              "order-insensitive beyond bigrams."),
    "textcnn": ("text", TextCNNOptions, lambda o, t, d: TextCNNModel(o, threads=t),
                "CNN over learned word embeddings (Kim 2014; the model family of the EDA paper). Slower than "
                "ngram; sees word order within 3-5 word windows."),
    "tfidf-logreg": ("text", TfidfOptions, lambda o, t, d: TfidfLogRegModel(o),
                     "TF-IDF + L2 logistic regression (scikit-learn). Convex, no training noise: the fastest and "
                     "steadiest text baseline, and the default for text under a time budget: a fit takes "
                     "seconds."),
}
BUILTIN_MODELS = ("auto", *_REGISTRY)


def choose_model(name: str, modality: str, options: Mapping[str, Any] | None = None,
                 device: str = "cpu", time_budget: float | None = None) -> tuple[str, str]:
    """(built-in model name, why) for ``name`` ("auto" picks by modality, device, options and whether the
    evaluation runs against a time budget)."""
    if name != "auto":
        return name, "chosen with --model"
    if modality != "image":
        if options and set(options) - set(TfidfOptions.model_fields):
            return "ngram", "auto: the model options given are ngram's"
        if time_budget is None:
            return "ngram", "auto: the default text model without a time budget"
        # measured on 2000 SST-2 sentences with 4 copies each (2 cores at load 6): ngram at a quarter of its
        # epochs 220 s a fit (AdamW updates its whole n-gram table, which grows with the data, every step),
        # tfidf-logreg 6 s; a 3-minute budget holds no run of the largest size with the first
        return "tfidf-logreg", ("auto: under a time budget the ngram model's fits take minutes once the copies grow "
                                "its n-gram table, so few runs fit; TF-IDF + logistic regression fits in seconds "
                                "(calibrated: see `augment models`). --model ngram trains ngram")
    if str(device).startswith(("cuda", "mps")):
        return "cnn", f"auto: a GPU ({device}) trains the CNN"
    if options and set(options) - set(FastConvOptions.model_fields):
        return "cnn", "auto: the model options given are the CNN's"
    return "fast-conv", ("auto: on a CPU the CNN's fits take tens of seconds each, so few runs fit a time budget; "
                         "fast conv features fit in seconds (calibrated: see `augment models`). --model cnn trains "
                         "the CNN")


def make_model(name: str, modality: str, options: Mapping[str, Any] | None = None, threads: int = 1,
               timeout: float | None = None, device: str = "cpu", time_budget: float | None = None) -> BenchmarkModel:
    """Build a benchmark model by name (see module docstring). Unknown names and options are errors.
    ``timeout``: seconds per call of a custom model (run in a child process); ``device``: where torch models
    train (a resolved torch device string, see :mod:`.device`); ``time_budget``: the evaluation's (``auto``
    picks a cheaper text model under one)."""
    options = dict(options or {})
    if ":" in name:
        if options:
            raise ValueError(f"model options {sorted(options)} do not apply to a custom model ({name})")
        return CustomModel(name, timeout=timeout)
    name, why = choose_model(name, modality, options, device, time_budget)
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BUILTIN_MODELS)} or module:function "
                         "(see `augment models`)")
    model_modality, schema, factory, _ = _REGISTRY[name]
    if model_modality != modality:
        raise ValueError(f"model {name!r} is for {model_modality} data, but the data is {modality}")
    model = factory(_options(schema, name, options), threads, device)
    model.chosen_because = why
    return model


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
                    "default_for": ("image on a CPU" if name == "fast-conv" else "image on a GPU" if name == "cnn"
                                     else "text without a time budget" if name == "ngram"
                                     else "text under a time budget" if name == "tfidf-logreg" else None)})
    return out


def format_models(listing: list[dict]) -> str:
    lines = ["Built-in benchmark models for `augment eval --model NAME` (auto: fast-conv for images on a CPU, cnn "
             "on a GPU; for text tfidf-logreg under a time budget, else ngram).",
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
