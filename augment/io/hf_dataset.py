"""Reading and writing Hugging Face datasets: a folder written by ``save_to_disk`` (a ``Dataset`` or a
``DatasetDict``), or Parquet files (one file, or a folder of them). Used by ``augment run`` when INPUT is one of
these; the output is written in the same kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["HF_KINDS", "hf_input_kind", "load_parts", "load_part", "part_fingerprint", "image_columns", "text_column_of",
           "save_part", "HFInputError"]

HF_KINDS = ("dataset", "dataset_dict", "parquet")
TEXT_NAMES = ("text", "sentence", "content", "review", "document")


class HFInputError(ValueError):
    """INPUT looks like a Hugging Face dataset or Parquet data but cannot be used; one line for the user."""


def hf_input_kind(path: Path) -> str | None:
    """``dataset`` / ``dataset_dict`` (save_to_disk folders), ``parquet`` (a file or a folder of them), or None."""
    if path.is_file():
        return "parquet" if path.suffix.lower() == ".parquet" else None
    if not path.is_dir():
        return None
    if (path / "dataset_dict.json").is_file():
        return "dataset_dict"
    if (path / "state.json").is_file() and (path / "dataset_info.json").is_file():
        return "dataset"
    # Parquet at the top or one folder down (data/train.parquet, train/00000.parquet); no walk of a large
    # image tree just to find out it is one.
    if any(path.glob("*.parquet")) or any(path.glob("*/*.parquet")):
        return "parquet"
    return None


def load_parts(path: Path, kind: str, only: str | None = None) -> list[tuple[str, Any]]:
    """(name, Dataset) pairs: one per split of a DatasetDict, one per Parquet file (its relative path); with
    ``only``, Parquet files other than that one are not read."""
    import datasets

    try:
        if kind == "dataset":
            return [("", datasets.load_from_disk(str(path)))]
        if kind == "dataset_dict":
            dd = datasets.load_from_disk(str(path))
            return [(split, dd[split]) for split in sorted(dd)]
        files = [path] if path.is_file() else sorted([*path.glob("*.parquet"), *path.glob("*/*.parquet")])
        named = [(f.name if path.is_file() else f.relative_to(path).as_posix(), f) for f in files]
        return [(name, _read_parquet(f)) for name, f in named if only is None or name == only]
    except HFInputError:
        raise
    except Exception as exc:  # corrupt files, a foreign folder layout: one line naming the input
        raise HFInputError(f"cannot read {path} as a Hugging Face dataset ({kind}): {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _read_parquet(path: Path):
    import datasets
    import pyarrow.parquet as pq

    # Read in memory: from_parquet would write a cache next to INPUT, and inputs are never modified.
    table = pq.read_table(path)
    ds = datasets.Dataset(table)
    for name, feature in ds.features.items():  # plain Parquet images ({bytes, path} structs) become images
        if isinstance(feature, dict) and set(feature) == {"bytes", "path"}:
            ds = ds.cast_column(name, datasets.Image())
    return ds


def image_columns(ds) -> list[str]:
    import datasets

    return [name for name, f in ds.features.items() if isinstance(f, datasets.Image)]


def text_column_of(ds, requested: str | None) -> str:
    import datasets

    strings = [n for n, f in ds.features.items()
               if isinstance(f, datasets.Value) and f.dtype in ("string", "large_string")]
    if requested:
        if requested not in ds.column_names:
            raise HFInputError(f"--text-column {requested!r} is not a column; columns: {', '.join(ds.column_names)}")
        if requested not in strings:
            feature = ds.features[requested]
            kind = feature.dtype if isinstance(feature, datasets.Value) else type(feature).__name__
            raise HFInputError(f"--text-column {requested!r} is a {kind} column, not text; string columns: "
                               f"{', '.join(strings) or 'none'}")
        return requested
    named = [n for n in strings if n.lower() in TEXT_NAMES]
    if len(named) == 1 or len(strings) == 1:
        return (named or strings)[0]
    raise HFInputError(f"cannot tell which column holds the text (string columns: {', '.join(strings) or 'none'}); "
                       "name it with --text-column")


def save_part(ds, kind: str, target: Path) -> None:
    """Write one part in the kind it came from (``target`` is a folder for datasets, a file for Parquet)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        ds.to_parquet(str(target))
    else:
        ds.save_to_disk(str(target))


def _part_files(path: Path, kind: str, name: str) -> list[Path]:
    if kind == "parquet":
        return [path if path.is_file() else path.joinpath(*name.split("/"))]
    folder = path / name if kind == "dataset_dict" else path
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def part_fingerprint(path: Path, kind: str, name: str) -> str:
    """What tells a part's data changed: the names, sizes and mtime_ns of its files (an Arrow split folder with
    its state.json, or the Parquet file). Like make and rsync, a change that keeps all three is not noticed."""
    import hashlib
    import json

    stats = []
    for f in _part_files(Path(path), kind, name):
        st = f.stat()
        stats.append([f.name, st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()[:16]


def load_part(path: Path, kind: str, name: str):
    """One part of ``load_parts`` (what a worker process opens for itself)."""
    for part_name, ds in load_parts(Path(path), kind, only=name):
        if part_name == name:
            return ds
    raise HFInputError(f"{path} has no part {name!r} any more")
