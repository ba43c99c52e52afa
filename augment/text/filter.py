"""Label-preservation filter for text copies: drop a copy that drifted too far from its source or whose label a
classifier trained on the originals now reads differently.

Three checks, each optional (spec block ``filter:``, see README "Text"):

- ``length_ratio``: words in the copy / words in the source must lie in ``[low, high]``;
- ``min_similarity``: cosine of the character 3-5-gram TF-IDF vectors of copy and source (the vectoriser is fit
  on the originals) must be at least this;
- ``label_confidence``: a TF-IDF + logistic-regression model (the tfidf-logreg benchmark model's recipe) trained
  on the originals must not predict another label than the source's with at least this probability.
  Cross-fitted: rows are split into ``folds`` by row index, and a copy of a row in fold ``f`` is judged by the
  model trained on the other folds, so no model ever judges copies of its own training rows. A row whose
  source the model already gets wrong is not judged on labels (the model knows nothing useful about it).

Deterministic: the folds come from row indices and the solver is deterministic, so a rerun or a resume
makes the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FilterRules", "LabelFilter"]


@dataclass(frozen=True)
class FilterRules:
    label_confidence: float | None = 0.9
    folds: int = 5
    min_similarity: float | None = None
    length_ratio: tuple[float, float] | None = None

    @classmethod
    def from_spec(cls, rules: dict) -> "FilterRules":
        """The rules of a spec's ``filter:`` block (already validated by the spec schema)."""
        ratio = rules.get("length_ratio")
        return cls(label_confidence=rules.get("label_confidence"), folds=rules.get("folds", 5),
                   min_similarity=rules.get("min_similarity"), length_ratio=tuple(ratio) if ratio else None)


class LabelFilter:
    """Judges copies of the rows it was fit on (``judge_many``); build once per run and process."""

    def __init__(self, indices: list[int], texts: list[str], labels: list[str | None], rules: FilterRules):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.rules = rules
        self.label_of = dict(zip(indices, labels))
        self.folds = max(2, rules.folds)
        self._char = None
        if rules.min_similarity is not None and texts:
            self._char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1)
            self._char.fit(texts)
        self._models: dict[int, object] = {}
        self._source_ok: dict[int, bool] = {}
        self.trained_on: dict[int, frozenset[int]] = {}  # fold -> row indices its model was fit on
        if rules.label_confidence is not None:
            self._fit_label_models(indices, texts, labels)

    def _fit_label_models(self, indices: list[int], texts: list[str], labels: list[str | None]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        rows = [(i, t, y) for i, t, y in zip(indices, texts, labels) if y is not None]
        for fold in range(self.folds):
            train = [(t, y) for i, t, y in rows if self.fold(i) != fold]
            held = [(i, t, y) for i, t, y in rows if self.fold(i) == fold]
            if len({y for _, y in train}) < 2 or not held:
                continue  # one class (or nothing) to learn from: this fold's copies are not judged on labels
            model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                                  LogisticRegression(max_iter=1000))
            model.fit([t for t, _ in train], [y for _, y in train])
            self._models[fold] = model
            self.trained_on[fold] = frozenset(i for i, _, _ in rows if self.fold(i) != fold)
            predicted = model.predict([t for _, t, _ in held])
            self._source_ok.update({i: p == y for (i, _, y), p in zip(held, predicted)})

    def fold(self, index: int) -> int:
        """The fold of a row: its copies are judged by the model fit without it. A hash of the index (its high
        bits after a Fibonacci multiply), not ``index % folds``, which would put every other row of an
        alternating-label file into one fold."""
        return (((index * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32) % self.folds

    def judge_many(self, items: list[tuple[int, str, str]]) -> list[str | None]:
        """For (row index, source text, copy text) items: None to keep the copy, else the reason it is
        rejected ("length", "similarity" or "label")."""
        out: list[str | None] = [None] * len(items)
        rules = self.rules
        if rules.length_ratio is not None:
            low, high = rules.length_ratio
            for j, (_, source, copy) in enumerate(items):
                ratio = len(copy.split()) / max(1, len(source.split()))
                if not low <= ratio <= high:
                    out[j] = "length"
        if self._char is not None:
            todo = [j for j in range(len(items)) if out[j] is None]
            if todo:
                a = self._char.transform([items[j][1] for j in todo])
                b = self._char.transform([items[j][2] for j in todo])
                # rows are L2-normalised: the row-wise dot product is the cosine
                sims = np.asarray(a.multiply(b).sum(axis=1)).ravel()
                for j, sim in zip(todo, sims):
                    if sim < rules.min_similarity:
                        out[j] = "similarity"
        if self._models:
            by_fold: dict[int, list[int]] = {}
            for j, (index, _, _) in enumerate(items):
                fold = self.fold(index)
                if out[j] is None and fold in self._models and self._source_ok.get(index):
                    by_fold.setdefault(fold, []).append(j)
            for fold, js in by_fold.items():
                model = self._models[fold]
                proba = model.predict_proba([items[j][2] for j in js])
                classes = list(model.classes_)
                for j, p in zip(js, proba):
                    best = int(np.argmax(p))
                    if classes[best] != self.label_of[items[j][0]] and p[best] >= rules.label_confidence:
                        out[j] = "label"
        return out
