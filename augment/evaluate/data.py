"""Labelled data for evaluation: loading, exact-duplicate detection, stratified subsets and splits.

Everything is read through ``augment.io``, the layer ``augment run`` uses, so both commands accept the same data
and skip the same bad items (reported, never raised):

* an image folder ``<root>/<class>/<file>`` (read with :func:`augment.io.images.read_image`: EXIF orientation,
  decompression-bomb guard; converted to RGB ``HxWx3 uint8``);
* a labelled text file in any format of :mod:`augment.io.text_formats` (TSV with or without a header, CSV,
  JSONL; ``text_column``/``label_column``).

Every example carries an id that names it stably (``<class>/<file>`` for images, ``line:<n>`` for text). The
augmentation seed of a copy is derived from that id, so a copy does not depend on which other examples were
drawn. Exact duplicates are found by a content hash: SHA-256 of the decoded pixels (shape included) for
images, so a re-encoded identical picture still matches; SHA-256 of the text with surrounding whitespace
stripped for text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Sequence

import numpy as np

from augment.io.image_folder import scan_image_folder
from augment.io.images import ImageReadError, read_image
from augment.io.text_formats import RowError, detect_format, read_text_dataset

__all__ = [
    "Modality",
    "IMAGE_SUFFIXES",
    "content_hash",
    "LabelledData",
    "load_image_folder",
    "load_tsv",
    "load_dataset",
    "align_classes",
    "stratified_subset",
    "stratified_split",
    "overlap_indices",
]

Modality = Literal["image", "text"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


def _natural_key(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def content_hash(item: Any) -> str:
    """SHA-256 of an example's content: decoded pixels (with shape and dtype) or stripped text."""
    h = hashlib.sha256()
    if isinstance(item, str):
        h.update(b"text\0")
        h.update(item.strip().encode("utf-8"))
    else:
        arr = np.ascontiguousarray(item)
        h.update(b"array\0")
        h.update(str(arr.dtype).encode())
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


@dataclass
class LabelledData:
    """Examples in memory: ``items[i]`` has class ``classes[labels[i]]`` and id ``ids[i]``."""

    modality: Modality
    items: list[Any]
    labels: np.ndarray  # int64 indices into classes
    classes: list[str]
    ids: list[str]
    source: str = ""
    _hashes: list[str] | None = field(default=None, repr=False)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id or path, one-line reason)
    text_format: str | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if not (len(self.items) == len(self.labels) == len(self.ids)):
            raise ValueError("items, labels and ids must have the same length")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def hashes(self) -> list[str]:
        if self._hashes is None:
            self._hashes = [content_hash(x) for x in self.items]
        return self._hashes

    def subset(self, indices: Sequence[int] | np.ndarray) -> "LabelledData":
        idx = [int(i) for i in indices]
        hashes = None if self._hashes is None else [self._hashes[i] for i in idx]
        return LabelledData(
            modality=self.modality,
            items=[self.items[i] for i in idx],
            labels=self.labels[idx] if idx else np.zeros(0, dtype=np.int64),
            classes=self.classes,
            ids=[self.ids[i] for i in idx],
            source=self.source,
            _hashes=hashes,
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}

    def with_classes(self, classes: list[str]) -> "LabelledData":
        """Re-index labels onto a larger class list (e.g. the union of train and test classes)."""
        pos = {c: i for i, c in enumerate(classes)}
        missing = [c for c in self.classes if c not in pos]
        if missing:
            raise ValueError(f"classes {missing} missing from the target class list")
        mapping = np.array([pos[c] for c in self.classes], dtype=np.int64)
        labels = mapping[self.labels] if len(self.labels) else self.labels
        return LabelledData(self.modality, self.items, labels, list(classes), self.ids, self.source, self._hashes,
                            self.skipped, self.text_format)


# --------------------------------------------------------------------------------------------- loading


def load_image_folder(root: str | Path) -> LabelledData:
    """Load ``root/<class>/<file>`` images through the io layer that ``augment run`` uses (symlink confinement,
    EXIF orientation, the decompression-bomb guard) as RGB ``uint8`` arrays; classes in natural sort order.
    Unusable files (corrupt, not an image, outside any class folder) are skipped and listed in ``skipped``."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory")
    scan = scan_image_folder(root)
    skipped: list[tuple[str, str]] = [(rel, why) for rel, why in scan.problems
                                      if not PurePosixPath(rel).name.startswith(".")]
    by_class: dict[str, list[str]] = {}
    for rel in scan.images:
        parts = rel.split("/")
        if len(parts) < 2:
            skipped.append((rel, "not inside a class folder (expected <root>/<class>/<image>); skipped"))
            continue
        if any(p.startswith(".") for p in parts):
            continue
        by_class.setdefault(parts[0], []).append(rel)
    class_names = sorted(by_class, key=_natural_key)
    if not class_names:
        raise ValueError(f"{root}: no class folders with images (expected <root>/<class>/<image>)")
    items, labels, ids = [], [], []
    for ci, cname in enumerate(class_names):
        for rel in sorted(by_class[cname], key=lambda r: _natural_key(r[len(cname) + 1:])):
            try:
                arr, _ = read_image(root / rel, root=root)
            except ImageReadError as exc:
                skipped.append((rel, str(exc)))
                continue
            items.append(_as_rgb(arr))
            labels.append(ci)
            ids.append(rel)
    if not items:
        raise ValueError(f"{root}: no readable image files ({len(skipped)} skipped, e.g. "
                         f"{skipped[0][0]}: {skipped[0][1]})" if skipped else f"{root}: no image files found")
    return LabelledData("image", items, np.array(labels), class_names, ids, source=str(root), skipped=skipped)


def _as_rgb(arr: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 from the io layer's L / RGB / RGBA arrays (the benchmark models and hashes expect RGB)."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(arr, 3, axis=2))
    if arr.shape[2] == 4:
        return np.ascontiguousarray(arr[:, :, :3])
    return np.ascontiguousarray(arr[:, :, :3])


def load_text(path: str | Path, text_column: str | None = None, label_column: str | None = None) -> LabelledData:
    """Load a labelled text dataset through the io layer (every format ``augment run`` reads: header-less
    ``label<TAB>text`` TSV, CSV/TSV with a header, JSONL; ``text_column``/``label_column`` as for run). Rows
    that cannot be read are skipped and listed in ``skipped``; a format without labels is an error."""
    path = Path(path)
    fmt = detect_format(path, text_column=text_column, label_column=label_column)
    if fmt.label_column is None and fmt.kind == "txt":
        raise ValueError(f"{path}: a .txt file has no labels; eval needs labelled data (TSV label<TAB>text, "
                         "CSV/TSV with a header and --label-column, or JSONL)")
    texts, raw_labels, ids, skipped = [], [], [], []
    for row in read_text_dataset(path, fmt):
        if isinstance(row, RowError):
            skipped.append((f"line:{row.line}", row.reason))
            continue
        label = (row.label or "").strip()
        if not label:
            skipped.append((f"line:{row.line}", "empty label"))
            continue
        texts.append(row.text)
        raw_labels.append(label)
        ids.append(f"line:{row.line}")
    if not texts:
        raise ValueError(f"{path}: no usable examples ({fmt.describe()}; {len(skipped)} rows skipped)")
    classes = sorted(set(raw_labels), key=_natural_key)
    pos = {c: i for i, c in enumerate(classes)}
    return LabelledData("text", texts, np.array([pos[c] for c in raw_labels]), classes, ids, source=str(path),
                        skipped=skipped, text_format=fmt.describe())


def load_tsv(path: str | Path) -> LabelledData:
    """A header-less ``label<TAB>text`` file (kept for callers of the old API): :func:`load_text`."""
    return load_text(path)


def load_dataset(path: str | Path, text_column: str | None = None, label_column: str | None = None
                 ) -> LabelledData:
    """An image folder (a directory) or a text dataset in any format the io layer reads (a file)."""
    path = Path(path)
    if path.is_dir():
        if text_column or label_column:
            raise ValueError(f"{path} is an image folder; --text-column/--label-column apply to text files")
        return load_image_folder(path)
    if path.is_file():
        return load_text(path, text_column, label_column)
    raise FileNotFoundError(f"{path}: no such file or directory")


def class_mismatch(train: LabelledData, test: LabelledData) -> dict:
    """Classes present in only one of train/test, with their example counts."""
    tc, sc = train.class_counts(), test.class_counts()
    return {"only_in_train": {c: n for c, n in tc.items() if n and not sc.get(c)},
            "only_in_test": {c: n for c, n in sc.items() if n and not tc.get(c)}}


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint test folds covering every index once, stratified: each class's members are shuffled (from
    ``seed``) and dealt round-robin, continuing where the previous class stopped so fold sizes differ by at most
    one. A class with fewer than ``k`` members is absent from some folds."""
    labels = np.asarray(labels)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if k > len(labels):
        raise ValueError(f"cannot make {k} folds from {len(labels)} examples")
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        members = rng.permutation(np.flatnonzero(labels == c))
        for j, i in enumerate(members):
            folds[(start + j) % k].append(int(i))
        start = (start + len(members)) % k
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


def align_classes(a: LabelledData, b: LabelledData) -> tuple[LabelledData, LabelledData]:
    """Put two datasets on one class list (union, natural order)."""
    if a.classes == b.classes:
        return a, b
    classes = sorted(set(a.classes) | set(b.classes), key=_natural_key)
    return a.with_classes(classes), b.with_classes(classes)


# --------------------------------------------------------------------------------------------- sampling


def _allocate(class_sizes: np.ndarray, n: int) -> np.ndarray:
    """Per-class counts summing to n, proportional to class_sizes (largest remainder), never more than a class
    has, and at least one from every non-empty class when n allows it (taken from the largest allocations)."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    total = int(sizes.sum())
    if n > total:
        raise ValueError(f"cannot draw {n} examples from {total}")
    quota = sizes * (n / total) if total else np.zeros(len(sizes))
    alloc = np.minimum(np.floor(quota).astype(np.int64), sizes)
    order = np.argsort(-(quota - np.floor(quota)), kind="stable")  # largest remainder first, ties by index
    while int(alloc.sum()) < n:
        for c in order:
            if int(alloc.sum()) == n:
                break
            if alloc[c] < sizes[c]:
                alloc[c] += 1
    nonempty = sizes > 0
    if n >= int(nonempty.sum()):
        for c in np.flatnonzero(nonempty & (alloc == 0)):
            donor = int(np.argmax(alloc))  # first of the largest allocations
            alloc[donor] -= 1
            alloc[c] += 1
    return alloc


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a stratified random subset of size n (sorted), reproducible from seed."""
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_classes)
    return _draw_per_class(labels, _allocate(sizes, n), seed)


def _draw_per_class(labels: np.ndarray, alloc: np.ndarray, seed: int) -> np.ndarray:
    """Sorted indices: ``alloc[c]`` members of each class c, drawn without replacement from ``seed``."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(len(alloc)):
        members = np.flatnonzero(labels == c)
        if alloc[c]:
            chosen.append(rng.choice(members, size=int(alloc[c]), replace=False))
    out = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    return np.sort(out.astype(np.int64))


def stratified_split(labels: np.ndarray, fraction: float, seed: int, min_rest_per_class: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held_out) with ``round(fraction * n)`` held out, stratified; every class
    keeps at least ``min_rest_per_class`` examples in the rest where it has that many."""
    labels = np.asarray(labels)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), got {fraction}")
    n = len(labels)
    n_out = min(max(1, int(round(fraction * n))), n - 1)
    n_classes = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=n_classes)
    available = np.maximum(sizes - min_rest_per_class, 0)
    n_out = min(n_out, int(available.sum()))
    if n_out <= 0:
        raise ValueError(f"too few examples ({n}) to hold any out")
    held_idx = _draw_per_class(labels, _allocate(available, n_out), seed)
    mask = np.ones(n, dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


def overlap_indices(train_hashes: Sequence[str], test_hashes: Sequence[str]) -> np.ndarray:
    """Indices of training examples whose content exactly equals some test example."""
    test_set = set(test_hashes)
    return np.array([i for i, h in enumerate(train_hashes) if h in test_set], dtype=np.int64)
