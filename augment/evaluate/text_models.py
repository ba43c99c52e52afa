"""Text benchmark models: a fastText-style bag of n-grams and a small CNN over learned word embeddings (the family
of models the EDA paper used), both trained from scratch in torch, and TF-IDF + logistic regression from
scikit-learn.

Both tokenise the same way: lower-case, ``\\w+`` words and single punctuation marks. No pretrained
embeddings: every model learns from the arm's own training examples only (so an augmentation that brings in
new words, e.g. synonyms, also brings them into the vocabulary, which is part of its effect).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import ModelOutput, TrainSet
from .training import TrainOptions, accuracy_of, deterministic, predict, regularisation_summary, train_classifier

__all__ = ["tokenize", "ngrams", "NgramOptions", "NgramModel", "TfidfOptions", "TfidfLogRegModel"]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def ngrams(tokens: list[str], n_max: int) -> list[str]:
    feats = list(tokens)
    for n in range(2, n_max + 1):
        feats.extend(" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return feats


class NgramOptions(TrainOptions):
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-5, ge=0)
    dropout: float = Field(0.4, ge=0, lt=1)
    patience: int = Field(8, ge=1)
    monitor: Literal["loss", "accuracy"] = "accuracy"  # steadier than loss on small validation slices
    max_epochs: int = Field(40, ge=1)
    dim: int = Field(64, ge=2, le=1024)
    ngram: int = Field(2, ge=1, le=3)
    min_count: int = Field(1, ge=1)
    max_vocab: int = Field(200_000, ge=100)


class NgramModel:
    """fastText-style classifier: mean of learned word/n-gram embeddings -> dropout -> linear."""

    name = "ngram"

    def __init__(self, options: NgramOptions | None = None, threads: int = 1) -> None:
        self.options = options or NgramOptions()
        self.threads = threads

    @property
    def needs_validation(self) -> bool:
        return self.options.early_stopping

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "kind": f"fastText-style bag of 1..{o.ngram}-grams, {o.dim}-d embeddings learned from scratch",
            "options": o.model_dump(),
            "optimizer": f"AdamW lr={o.lr}",
            "regularisation": regularisation_summary(o),
            "deterministic": {"torch.use_deterministic_algorithms": True, "threads": self.threads},
        }

    def _vocab(self, texts: Sequence[str]) -> dict[str, int]:
        o = self.options
        counts = Counter(f for t in texts for f in set(ngrams(tokenize(t), o.ngram)))
        kept = sorted((f for f, c in counts.items() if c >= o.min_count), key=lambda f: (-counts[f], f))
        return {f: i + 1 for i, f in enumerate(kept[: o.max_vocab])}  # 0: unknown

    def _encode(self, texts: Sequence[str], vocab: dict[str, int]) -> list[np.ndarray]:
        n = self.options.ngram
        return [np.array([vocab.get(f, 0) for f in ngrams(tokenize(t), n)] or [0], dtype=np.int64) for t in texts]

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        import torch
        import torch.nn as nn

        o = self.options
        vocab = self._vocab(train.items)
        enc_train = self._encode(train.items, vocab)
        enc_val = self._encode(train.val_items, vocab)
        enc_test = self._encode(test_items, vocab)

        def bag(encoded: list[np.ndarray], idx: np.ndarray) -> tuple:
            parts = [encoded[i] for i in idx]
            offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
            return torch.from_numpy(np.concatenate(parts)), torch.from_numpy(offsets.astype(np.int64))

        class Net(nn.Module):
            def __init__(self, n_vocab: int, n_classes: int) -> None:
                super().__init__()
                self.emb = nn.EmbeddingBag(n_vocab, o.dim, mode="mean", padding_idx=0)
                self.drop = nn.Dropout(o.dropout)
                self.out = nn.Linear(o.dim, n_classes)
                # fastText's initialisation: small input vectors, zero output layer. N(0, 1) embeddings give
                # every rare word a large random direction that the classifier then overfits.
                nn.init.uniform_(self.emb.weight, -1.0 / o.dim, 1.0 / o.dim)
                with torch.no_grad():
                    self.emb.weight[0].zero_()
                nn.init.zeros_(self.out.weight)
                nn.init.zeros_(self.out.bias)

            def forward(self, flat, offsets):
                return self.out(self.drop(self.emb(flat, offsets)))

        with deterministic(seed, self.threads):
            net = Net(len(vocab) + 1, len(train.classes))
            val_inputs = bag(enc_val, np.arange(len(enc_val))) if enc_val else None
            info = _train_and_score(net, train, enc_train, enc_test, bag, val_inputs, o, seed, test_labels)
        info["vocabulary"] = len(vocab)
        return ModelOutput(predictions=info.pop("predictions"), info=info)


def _train_and_score(net, train: TrainSet, enc_train, enc_test, batch, val_inputs, o, seed: int,
                     test_labels: np.ndarray | None) -> dict:
    """Shared by the torch text models: train, predict the test set, and measure the generalization gap."""
    test_batch = lambda idx: batch(enc_test, idx)  # noqa: E731
    curve = None
    if test_labels is not None:
        curve = lambda: accuracy_of(net, len(enc_test), test_batch, test_labels)  # noqa: E731
    info = train_classifier(net, len(enc_train), lambda idx: batch(enc_train, idx), train.labels, val_inputs,
                            train.val_labels, o, seed, train.epoch_size, train.base_size, held_out_accuracy=curve)
    info["predictions"] = predict(net, len(enc_test), test_batch)
    copy = np.zeros(len(enc_train), dtype=bool) if train.is_copy is None else np.asarray(train.is_copy, dtype=bool)
    originals = np.flatnonzero(~copy)
    info["train_accuracy"] = accuracy_of(net, len(originals), lambda idx: batch(enc_train, originals[idx]),
                                         train.labels[originals])
    return info


class TextCNNOptions(TrainOptions):
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    dropout: float = Field(0.5, ge=0, lt=1)
    max_epochs: int = Field(20, ge=1)
    dim: int = Field(64, ge=2, le=512)
    filters: int = Field(32, ge=1, le=512)  # feature maps per window width
    widths: str = Field("3,4,5", pattern=r"^\s*[1-9](\s*,\s*[1-9])*\s*$")  # window widths in words
    max_len: int = Field(64, ge=4, le=1024)  # words kept per sentence
    min_count: int = Field(1, ge=1)
    max_vocab: int = Field(50_000, ge=100)


class TextCNNModel:
    """Kim (2014)-style CNN: learned word embeddings -> 1-d convolutions of several widths -> max over time ->
    dropout -> linear. Embeddings are learned from the arm's own training set (no pretrained vectors)."""

    name = "textcnn"

    def __init__(self, options: TextCNNOptions | None = None, threads: int = 1) -> None:
        self.options = options or TextCNNOptions()
        self.threads = threads

    @property
    def needs_validation(self) -> bool:
        return self.options.early_stopping

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "kind": f"CNN over {o.dim}-d word embeddings learned from scratch, widths {o.widths} x {o.filters} maps, "
                    "max over time",
            "options": o.model_dump(),
            "optimizer": f"AdamW lr={o.lr}",
            "regularisation": regularisation_summary(o),
            "deterministic": {"torch.use_deterministic_algorithms": True, "threads": self.threads},
        }

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        import torch
        import torch.nn as nn

        o = self.options
        widths = [int(w) for w in o.widths.split(",")]
        counts = Counter(w for t in train.items for w in set(tokenize(t)))
        kept = sorted((w for w, c in counts.items() if c >= o.min_count), key=lambda w: (-counts[w], w))
        vocab = {w: i + 2 for i, w in enumerate(kept[: o.max_vocab])}  # 0: padding, 1: unknown
        length = max(widths)

        def encode(texts: Sequence[str]) -> np.ndarray:
            out = np.zeros((len(texts), o.max_len), dtype=np.int64)
            for i, t in enumerate(texts):
                ids = [vocab.get(w, 1) for w in tokenize(t)][: o.max_len]
                out[i, : len(ids)] = ids
            width = max(length, int((out > 0).sum(axis=1).max(initial=0)))
            return out[:, :width]

        enc_train, enc_val, enc_test = encode(train.items), encode(train.val_items), encode(list(test_items))

        def batch(encoded: np.ndarray, idx: np.ndarray) -> tuple:
            rows = encoded[np.asarray(idx)]
            used = max(length, int((rows > 0).sum(axis=1).max(initial=0)))
            return (torch.from_numpy(np.ascontiguousarray(rows[:, :used])),)

        class Net(nn.Module):
            def __init__(self, n_vocab: int, n_classes: int) -> None:
                super().__init__()
                self.emb = nn.Embedding(n_vocab, o.dim, padding_idx=0)
                self.convs = nn.ModuleList(nn.Conv1d(o.dim, o.filters, w) for w in widths)
                self.drop = nn.Dropout(o.dropout)
                self.out = nn.Linear(o.filters * len(widths), n_classes)

            def forward(self, tokens):
                x = self.emb(tokens).transpose(1, 2)
                pooled = [torch.relu(conv(x)).amax(dim=2) for conv in self.convs]
                return self.out(self.drop(torch.cat(pooled, dim=1)))

        with deterministic(seed, self.threads):
            net = Net(len(vocab) + 2, len(train.classes))
            val_inputs = batch(enc_val, np.arange(len(enc_val))) if len(enc_val) else None
            info = _train_and_score(net, train, enc_train, enc_test, batch, val_inputs, o, seed, test_labels)
        info["vocabulary"] = len(vocab)
        return ModelOutput(predictions=info.pop("predictions"), info=info)


class TfidfOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ngram: int = Field(2, ge=1, le=3)
    C: float = Field(1.0, gt=0)
    sublinear_tf: bool = True
    min_df: int = Field(1, ge=1)
    max_iter: int = Field(2000, ge=10)


class TfidfLogRegModel:
    """TF-IDF over word 1..n-grams + L2-regularised logistic regression (lbfgs). Convex, so it needs no
    early stopping and no validation slice: it trains on the whole training subset."""

    name = "tfidf-logreg"
    needs_validation = False

    def __init__(self, options: TfidfOptions | None = None) -> None:
        self.options = options or TfidfOptions()

    def describe(self) -> dict[str, Any]:
        o = self.options
        return {
            "name": self.name,
            "kind": f"TF-IDF (1..{o.ngram}-grams, sublinear_tf={o.sublinear_tf}) + logistic regression",
            "options": o.model_dump(),
            "regularisation": {"l2": True, "C": o.C, "early_stopping": None,
                               "note": "convex model trained to convergence; no validation slice"},
        }

    def fit_predict(self, train: TrainSet, test_items: Sequence[Any], *, seed: int,
                    test_labels: np.ndarray | None = None) -> ModelOutput:
        import time

        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        o = self.options
        t0 = time.perf_counter()
        items = list(train.items) + list(train.val_items)  # no slice is carved for this model; be safe anyway
        labels = np.concatenate([train.labels, train.val_labels]).astype(np.int64)
        vec = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False,
                              ngram_range=(1, o.ngram), sublinear_tf=o.sublinear_tf, min_df=o.min_df)
        # the vocabulary and idf from the distinct texts: a copy identical to its source adds no word and does
        # not move the idf (otherwise kept duplicates would change every feature's weight, not the data)
        distinct: dict[str, int] = {}
        rows = np.array([distinct.setdefault(t, len(distinct)) for t in items], dtype=np.int64)
        x = vec.fit_transform(list(distinct))[rows]  # each distinct text tokenised once
        if len(np.unique(labels)) < 2:  # degenerate subset: predict the only class
            preds = np.full(len(test_items), int(labels[0]), dtype=np.int64)
            return ModelOutput(predictions=preds, info={"note": "single class in training data"})
        # the "steps" budget (``epoch_size``: the baseline's size) gives every arm the same amount of training:
        # for a convex model, the same total example weight against the same L2 penalty (C), so an arm's copies
        # share their originals' weight instead of weakening the regularisation
        weight = 1.0 if not train.epoch_size else float(train.epoch_size) / max(1, len(items))
        clf = LogisticRegression(C=o.C, max_iter=o.max_iter, random_state=seed % 2**32)
        clf.fit(x, labels, sample_weight=np.full(len(items), weight))
        preds = clf.predict(vec.transform(list(test_items))).astype(np.int64)
        return ModelOutput(predictions=preds, info={"vocabulary": len(vec.vocabulary_),
                                                    "example_weight": round(weight, 6),
                                                    "iterations": int(np.max(clf.n_iter_)),
                                                    "train_seconds": round(time.perf_counter() - t0, 4)})
