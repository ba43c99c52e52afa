"""Shard files: many outputs in one object, for corpora where creating a file per output is the largest cost.

- WebDataset (``tar_shard``): a tar of samples; each sample is ``<key>.<ext>`` (the encoded image, byte for byte
  what a folder run writes) and ``<key>.json`` (source, output name, copy, seed, label). Keys are the output
  names without their extension, with dots replaced by ``_`` (WebDataset splits a member name at the first dot
  of its last path part). Headers are fixed (mtime 0, uid/gid 0, mode 0644), so the same samples give the same
  bytes.
- Parquet (``parquet_shard``): one row per output with ``key``, ``source``, ``copy``, ``seed``, ``label`` and the
  image as ``{bytes, path}`` (the Hugging Face ``Image`` layout, declared in the schema metadata, so
  ``datasets.Dataset.from_parquet`` decodes it), or the text row's columns.

Both take the samples in order and return bytes: the caller writes them as one atomic object. A run streams a shard
instead: ``tar_members`` gives the bytes of some samples' members (no end-of-archive), which are appended in order
and closed with ``tar_end``; ``ParquetShardWriter`` appends samples as row groups. A tar built from fragments is
byte for byte ``tar_shard`` of the same samples.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

__all__ = ["OUTPUT_FORMATS", "SHARD_SUFFIX", "Sample", "sample_key", "shard_name", "tar_shard", "parquet_shard",
           "read_sample", "text_parquet_name", "text_parquet_part", "join_text_parquet", "tar_members", "tar_end",
           "ParquetShardWriter"]

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


def _header(name: str, size: int) -> bytes:
    """The tar header ``tarfile`` writes (PAX format) for a regular file with our fixed fields. Names that fit a
    plain ustar header (ASCII, at most 100 bytes) are packed here directly: ``tarfile``'s general path costs about
    50 us a member, as much as writing a small output as a file; other names go through ``tarfile``."""
    if size < 8 ** 11 and len(name) <= 100 and name.isascii() and "\0" not in name:
        head = (name.encode("ascii").ljust(100, b"\0") + b"0000644\0" + b"0000000\0" + b"0000000\0"
                + b"%011o\0" % size + b"00000000000\0")
        tail = b"0" + b"\0" * 100 + b"ustar\x0000"  # type, linkname, magic; the rest (owner names, device) is NUL
        chksum = sum(head) + sum(tail) + 8 * 32
        return (head + b"%06o\0 " % chksum + tail).ljust(tarfile.BLOCKSIZE, b"\0")
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _member(name: str, data: bytes) -> bytes:
    pad = -len(data) % tarfile.BLOCKSIZE
    return _header(name, len(data)) + data + b"\0" * pad


def tar_members(samples: list[Sample]) -> bytes:
    """The tar members of ``samples`` (data and json of each, in order), without the end of the archive."""
    parts = []
    for s in samples:
        key = sample_key(s.output)
        if s.data is not None:
            ext = PurePosixPath(s.output).suffix.lstrip(".").lower() or "bin"
            parts.append(_member(f"{key}.{ext}", s.data))
        else:
            parts.append(_member(f"{key}.txt", (s.text or "").encode("utf-8")))
        meta = {"output": s.output, **s.meta}
        parts.append(_member(f"{key}.json", json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")))
    return b"".join(parts)


def tar_end(size: int) -> bytes:
    """What closes a tar of ``size`` bytes of members: two zero blocks, then zeros up to a whole record, as
    ``tarfile`` writes on close."""
    size += 2 * tarfile.BLOCKSIZE
    return b"\0" * (2 * tarfile.BLOCKSIZE + (-size % tarfile.RECORDSIZE))


def tar_shard(samples: list[Sample]) -> bytes:
    members = tar_members(samples)
    return members + tar_end(len(members))


def _image_schema():
    import pyarrow as pa

    fields = [("key", pa.string()), ("output", pa.string()), ("source", pa.string()), ("copy", pa.int64()),
              ("seed", pa.int64()), ("label", pa.string()),
              ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]))]
    # what `datasets` writes for an Image column: it then decodes the column to PIL images
    features = {name: {"_type": "Image"} if name == "image" else {"dtype": "int64" if t == pa.int64() else "string",
                                                                   "_type": "Value"} for name, t in fields}
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


def _image_columns(samples: list[Sample]) -> dict[str, list]:
    return {"key": [sample_key(s.output) for s in samples], "output": [s.output for s in samples],
            **{k: [s.meta.get(k) for s in samples] for k in ("source", "copy", "seed", "label")},
            "image": [{"bytes": s.data, "path": PurePosixPath(s.output).name} for s in samples]}


class ParquetShardWriter:
    """An image Parquet shard written as samples arrive, into ``sink`` (a path or a binary file), in row groups of
    ``rows_per_group`` samples: the bytes depend on the samples only, not on how they were handed in, and memory
    holds at most one row group."""

    def __init__(self, sink, rows_per_group: int = 256) -> None:
        import pyarrow.parquet as pq

        self.schema = _image_schema()
        self.rows_per_group = max(1, rows_per_group)
        self._pending: list[Sample] = []
        # Encoded images do not compress: zstd over them costs CPU for nothing.
        self._writer = pq.ParquetWriter(sink, self.schema, compression="none")

    def write(self, samples: list[Sample]) -> None:
        self._pending += samples
        while len(self._pending) >= self.rows_per_group:
            self._flush(self._pending[:self.rows_per_group])
            self._pending = self._pending[self.rows_per_group:]

    def _flush(self, samples: list[Sample]) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.table(_image_columns(samples), schema=self.schema))

    def close(self) -> None:
        if self._pending:
            self._flush(self._pending)
            self._pending = []
        self._writer.close()


def parquet_shard(samples: list[Sample]) -> bytes:
    """One Parquet shard of ``samples`` (images: ``ParquetShardWriter`` with one row group; text rows: their
    columns)."""
    if samples and samples[0].data is not None:
        buf = io.BytesIO()
        writer = ParquetShardWriter(buf)
        writer.write(samples)
        writer.close()
        return buf.getvalue()
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list] = {"key": [sample_key(s.output) for s in samples], "output": [s.output for s in samples]}
    meta_keys: list[str] = []
    for s in samples:
        meta_keys += [k for k in s.meta if k not in meta_keys]
    for k in meta_keys:
        columns[k] = [s.meta.get(k) for s in samples]
    columns["text"] = [s.text for s in samples]
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf, compression="zstd")
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
