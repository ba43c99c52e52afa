"""Shard files: many outputs in one object, for corpora where creating a file per output is the largest cost.

- WebDataset (``tar_shard``): a tar of samples; each sample is ``<key>.<ext>`` (the encoded image, byte for byte
  what a folder run writes) and ``<key>.json`` (source, output name, copy, seed, label). Keys are the output
  names without their extension, with dots replaced by ``_`` (WebDataset splits a member name at the first dot
  of its last path part). Headers are fixed (mtime 0, uid/gid 0, mode 0644), so the same samples give the same
  bytes.
- Parquet (``parquet_shard``): one row per output with ``key``, ``source``, ``copy``, ``seed``, ``label`` and the
  image as ``{bytes, path}`` (the Hugging Face ``Image`` layout, declared in the schema metadata, so
  ``datasets.Dataset.from_parquet`` decodes it), or the text row's columns.

Both take the samples in order and return bytes: the caller writes them as one atomic object.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = ["OUTPUT_FORMATS", "SHARD_SUFFIX", "Sample", "sample_key", "shard_name", "tar_shard", "parquet_shard",
           "read_sample", "text_parquet_name", "text_parquet_part", "join_text_parquet"]

OUTPUT_FORMATS = ("folder", "webdataset", "parquet")
SHARD_SUFFIX = {"webdataset": ".tar", "parquet": ".parquet"}


@dataclass(frozen=True)
class Sample:
    """One output: its name in a folder run, its encoded bytes (images) or text, and what the manifest says."""

    output: str
    data: bytes | None = None  # encoded image
    text: str | None = None  # text rows
    meta: dict = field(default_factory=dict)  # source, copy, seed, label, and text rows' other columns


def sample_key(output: str) -> str:
    pure = PurePosixPath(output)
    stem = str(pure.with_suffix("")) if pure.suffix else output
    parent, _, name = stem.rpartition("/")
    name = name.replace(".", "_")
    return f"{parent}/{name}" if parent else name


def shard_name(fmt: str, index: int) -> str:
    return f"shard-{index:06d}{SHARD_SUFFIX[fmt]}"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def tar_shard(samples: list[Sample]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for s in samples:
            key = sample_key(s.output)
            if s.data is not None:
                ext = PurePosixPath(s.output).suffix.lstrip(".").lower() or "bin"
                _add(tar, f"{key}.{ext}", s.data)
            else:
                _add(tar, f"{key}.txt", (s.text or "").encode("utf-8"))
            meta = {"output": s.output, **s.meta}
            _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return buf.getvalue()


def parquet_shard(samples: list[Sample]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = bool(samples) and samples[0].data is not None
    columns: dict[str, list] = {"key": [sample_key(s.output) for s in samples], "output": [s.output for s in samples]}
    meta_keys: list[str] = []
    for s in samples:
        meta_keys += [k for k in s.meta if k not in meta_keys]
    for k in meta_keys:
        columns[k] = [s.meta.get(k) for s in samples]
    if images:
        columns["image"] = [{"bytes": s.data, "path": PurePosixPath(s.output).name} for s in samples]
    else:
        columns["text"] = [s.text for s in samples]
    table = pa.table(columns)
    if images:  # what `datasets` writes for an Image column: it then decodes the column to PIL images
        features: dict[str, dict] = {}
        for name in columns:
            t = table.schema.field(name).type
            features[name] = {"_type": "Image"} if name == "image" else {"dtype": str(t), "_type": "Value"}
        table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    buf = io.BytesIO()
    # Encoded images do not compress: zstd over them cost CPU for nothing; text columns do.
    pq.write_table(table, buf, compression="none" if images else "zstd")
    return buf.getvalue()


def read_sample(shard: bytes, fmt: str, output: str) -> bytes | None:
    """The encoded bytes of the sample named ``output`` (its folder-run name) in a shard, or None if absent."""
    if fmt == "webdataset":
        key = sample_key(output)
        with tarfile.open(fileobj=io.BytesIO(shard), mode="r:") as tar:
            for member in tar.getmembers():
                name = member.name
                if name.startswith(key + ".") and not name.endswith(".json") and "." not in name[len(key) + 1:]:
                    fh = tar.extractfile(member)
                    return fh.read() if fh is not None else None
        return None
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(shard), columns=["output", "image"])
    for name, image in zip(table.column("output").to_pylist(), table.column("image").to_pylist()):
        if name == output:
            return image["bytes"]
    return None


def text_parquet_name(source: str) -> str:
    return f"{PurePosixPath(source).stem}.parquet"


def text_parquet_part(emitted: list[tuple]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    extra_keys: list[str] = []
    for row, _, _ in emitted:
        extra_keys += [k for k in row.extra if k not in extra_keys and k not in ("text", "label")]
    columns: dict[str, list] = {
        "text": [row.text for row, _, _ in emitted],
        "label": [row.label for row, _, _ in emitted],
    }
    for key in extra_keys:
        columns[key] = [_plain(row.extra.get(key)) for row, _, _ in emitted]
    columns["source_row"] = [row.index for row, _, _ in emitted]
    columns["copy"] = [copy for _, copy, _ in emitted]
    columns["seed"] = [seed for _, _, seed in emitted]
    schema = pa.schema([(k, pa.string()) for k in ("text", "label", *extra_keys)]
                       + [("source_row", pa.int64()), ("copy", pa.int64()), ("seed", pa.int64())])
    buf = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), buf, compression="zstd")
    return buf.getvalue()


def _plain(value) -> str | None:
    import json

    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def join_text_parquet(parts: list[bytes]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(p)) for p in parts]
    table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()
