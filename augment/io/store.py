"""Where outputs go: a local folder (``LocalStore``) or any fsspec URL (``FsspecStore``: s3://, gs://, memory://...).

A store writes whole objects under one root, each write atomic (a reader or a resumed run sees the whole object
or none), and every relative name is confined to the root with ``safe_relative``. Stores are rebuilt in worker
processes from their location and options (``open_store``), never shipped open.

Locations (``output_location``): a plain path and ``file://``/``local://`` URLs mean a local folder, with today's
behaviour (temporary file + rename, symlink confinement, disk full -> ``OutputWriteError``). Any other
``scheme://`` URL goes through fsspec. Object stores (S3, GCS, Azure, memory) make a single PUT atomic; on other
fsspec backends (sftp, ftp, webdav...) an object is written under a temporary name and moved into place.

Storage options (``storage_options_for``), merged in this order, later wins:

1. ``$AUGMENT_STORAGE_OPTIONS``: a JSON object of fsspec storage options, e.g.
   ``{"client_kwargs": {"region_name": "eu-west-1"}, "requester_pays": true}``.
2. the options passed in code (``RunOptions.storage_options``).
3. for ``s3://``: when no endpoint is set yet, ``$AWS_ENDPOINT_URL_S3`` or ``$AWS_ENDPOINT_URL`` becomes s3fs's
   ``endpoint_url`` (MinIO, Ceph, moto, R2...).

fsspec's own ``$FSSPEC_<PROTOCOL>_<OPTION>`` variables (e.g. ``FSSPEC_S3_ENDPOINT_URL``) apply as usual in every
process. The resolved options travel to worker processes (and Dask workers) in ``JobConfig``; credentials do
not: s3fs reads them in each process from the usual places (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE``, instance roles), so cluster workers need their own.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import secrets
from pathlib import Path
from typing import Protocol

from augment.io.atomic import TMP_MARK, atomic_write_bytes, remove_stale_temporaries
from augment.io.paths import UnsafePathError, confined, safe_relative

__all__ = [
    "OutputStore",
    "LocalStore",
    "FsspecStore",
    "OutputWriteError",
    "is_url",
    "output_location",
    "open_store",
    "storage_options_for",
    "join_location",
    "matching",
]

# Protocols whose single-object write is atomic (the object appears whole on completion, or not at all).
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})
LOCAL_PROTOCOLS = ("file", "local")


class OutputWriteError(RuntimeError):
    """Writing to OUTPUT failed (disk full, permissions, unreachable store): the run stops, nothing half-written
    is left behind."""


class OutputStore(Protocol):
    location: str  # the folder or URL, as given

    def write_bytes(self, rel: str, data: bytes, fsync: bool = False) -> None: ...
    def read_bytes(self, rel: str) -> bytes: ...
    def exists(self, rel: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def remove(self, rel: str) -> None: ...
    def remove_tree(self, prefix: str) -> None: ...
    def top_level(self) -> list[str]: ...
    def remove_stale_temporaries(self) -> int: ...


def is_url(location) -> bool:
    """``scheme://...`` with a scheme of two letters or more (``C:\\`` is a Windows drive, not a URL)."""
    if not isinstance(location, str):
        return False
    scheme, sep, _ = location.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()


def output_location(location: str | Path) -> Path | str:
    """A local ``Path`` for plain paths and ``file://`` URLs; the URL string (no trailing slash) otherwise."""
    if isinstance(location, Path) or not is_url(location):
        return Path(location)
    scheme, _, rest = location.partition("://")
    if scheme.lower() in LOCAL_PROTOCOLS:
        return Path(rest)
    return location.rstrip("/")


def join_location(location: str | Path, rel: str) -> str:
    return f"{str(location).rstrip('/')}/{rel}"


def storage_options_for(url: str, explicit: dict | None = None) -> dict:
    """The fsspec storage options of ``url`` (see the module notes for the sources and their order)."""
    options: dict = {}
    raw = os.environ.get("AUGMENT_STORAGE_OPTIONS")
    if raw:
        try:
            from_env = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"$AUGMENT_STORAGE_OPTIONS is not valid JSON: {exc}") from None
        if not isinstance(from_env, dict):
            raise ValueError("$AUGMENT_STORAGE_OPTIONS must be a JSON object of fsspec storage options")
        options.update(from_env)
    options.update(explicit or {})
    protocol = url.partition("://")[0].lower()
    if protocol in ("s3", "s3a"):
        has_endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get("endpoint_url")
        env_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if not has_endpoint and env_endpoint:
            options["endpoint_url"] = env_endpoint
    return options


class LocalStore:
    """A local folder: temporary file + rename, confinement through symlinks, disk problems -> OutputWriteError."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self._prefix = os.path.join(self.location, "")
        # Folders already checked to resolve inside OUTPUT and created. Thousands of outputs share a folder:
        # resolving every component of every path again cost more than encoding the image.
        self._ready: set[str] = set()

    def __reduce__(self):
        return (LocalStore, (self.root,))

    def _path(self, rel: str) -> Path:
        return self.root.joinpath(*safe_relative(rel).parts)

    def write_bytes(self, rel: str, data: bytes, fsync: bool = False, _retry: bool = True) -> None:
        """Write ``rel`` atomically (temporary file + rename); ``fsync``: durable once this returns."""
        folder, sep, name = rel.rpartition("/")
        try:
            if folder in self._ready and (folder or not sep) and _plain_name(name, folder):
                # the folder was confined and created already; only the last part is new, and it was checked
                path = self._prefix + (rel if os.sep == "/" else rel.replace("/", os.sep))
            else:
                path = confined(self.root, rel)
        except UnsafePathError as exc:  # e.g. a folder of OUTPUT replaced by a symlink to elsewhere: stop the run
            raise OutputWriteError(f"refusing to write {rel!r}: {exc}") from None
        try:
            if folder not in self._ready:
                path.parent.mkdir(parents=True, exist_ok=True)
                confined(self.root, rel)  # again, now that the folder exists: it must still resolve inside
                self._ready.add(folder)
            try:
                atomic_write_bytes(path, data, fsync=fsync)
            except FileNotFoundError:  # the folder went away since it was checked (e.g. --overwrite): redo it once
                self._ready.discard(folder)
                if not _retry:
                    raise
                return self.write_bytes(rel, data, fsync, _retry=False)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
                raise OutputWriteError(f"cannot write {rel}: {exc.strerror}") from None
            raise

    def read_bytes(self, rel: str) -> bytes:
        return self._path(rel).read_bytes()

    def exists(self, rel: str) -> bool:
        return self._path(rel).is_file()

    def list(self, prefix: str = "") -> list[str]:
        base = self._path(prefix) if prefix else self.root
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                found.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(found)

    def remove(self, rel: str) -> None:
        self._path(rel).unlink(missing_ok=True)

    def remove_tree(self, prefix: str) -> None:
        import shutil

        path = self._path(prefix)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)

    def top_level(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []

    def remove_stale_temporaries(self) -> int:
        return remove_stale_temporaries(self.root)


def _plain_name(name: str, folder: str) -> bool:
    """Whether the last part of a relative path is an ordinary file name, so that joining it to a folder already
    confined stays inside (what ``safe_relative`` would accept, checked without building path objects)."""
    if not name or name in (".", "..") or "\x00" in name or (os.sep != "/" and os.sep in name):
        return False
    return bool(folder) or not (name.startswith("\\") or name[1:2] == ":")


class FsspecStore:
    """Any fsspec URL. Holds only the URL and options when pickled; the filesystem opens on first use."""

    def __init__(self, url: str, options: dict | None = None) -> None:
        self.location = url.rstrip("/")
        self.options = dict(options or {})
        self.protocol = self.location.partition("://")[0].lower()
        self._fs = None
        self._root = ""

    def __reduce__(self):
        return (FsspecStore, (self.location, self.options))

    @property
    def fs(self):
        if self._fs is None:
            from fsspec.core import url_to_fs

            self._fs, root = url_to_fs(self.location, **self.options)
            self._root = root.rstrip("/")
        return self._fs

    def _path(self, rel: str) -> str:
        self.fs  # opening the filesystem sets the root
        return f"{self._root}/{safe_relative(rel).as_posix()}"

    def _base(self, prefix: str) -> str:
        """The root itself for "", else a confined folder under it (listing and removing trees)."""
        self.fs
        return self._path(prefix) if prefix else self._root

    def _rel(self, path: str) -> str:
        return path[len(self._root) + 1:] if path.startswith(self._root + "/") else path

    def write_bytes(self, rel: str, data: bytes, fsync: bool = False) -> None:
        try:
            path = self._path(rel)
        except UnsafePathError as exc:
            raise OutputWriteError(f"refusing to write {rel!r}: {exc}") from None
        try:
            if self.protocol in ATOMIC_PUT_PROTOCOLS:
                self.fs.pipe_file(path, data)
            else:  # no atomic PUT: write aside, then move into place
                parent, _, name = path.rpartition("/")
                tmp = f"{parent}/.{name[:80]}.{os.getpid()}.{secrets.token_hex(4)}{TMP_MARK}"
                self.fs.makedirs(parent, exist_ok=True)
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, path)
        except Exception as exc:  # network, credentials, missing bucket, quota: a problem of OUTPUT, not the item
            raise OutputWriteError(f"cannot write {join_location(self.location, rel)}: "
                                   f"{type(exc).__name__}: {exc}") from None

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self._path(rel))

    def exists(self, rel: str) -> bool:
        path = self._path(rel)
        self.fs.invalidate_cache(path)  # other processes write here: never trust a cached listing
        return self.fs.isfile(path)

    def list(self, prefix: str = "") -> list[str]:
        base = self._base(prefix)
        self.fs.invalidate_cache(base)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        return sorted(self._rel(p.rstrip("/")) for p in found)

    def remove(self, rel: str) -> None:
        try:
            self.fs.rm_file(self._path(rel))
        except FileNotFoundError:
            pass

    def remove_tree(self, prefix: str) -> None:
        paths = [self._path(rel) for rel in self.list(prefix)]
        if paths:
            self.fs.rm(paths)

    def top_level(self) -> list[str]:
        fs = self.fs
        fs.invalidate_cache(self._root)
        try:
            return sorted(p.rstrip("/").rpartition("/")[2] for p in fs.ls(self._root, detail=False))
        except FileNotFoundError:
            return []

    def remove_stale_temporaries(self) -> int:
        if self.protocol in ATOMIC_PUT_PROTOCOLS:
            return 0
        stale = [rel for rel in self.list() if rel.endswith(TMP_MARK)]
        for rel in stale:
            self.remove(rel)
        return len(stale)


def open_store(location: str | Path, options: dict | None = None) -> LocalStore | FsspecStore:
    where = output_location(location)
    if isinstance(where, Path):
        return LocalStore(where)
    return FsspecStore(where, options)


def matching(names: list[str], pattern: str) -> list[str]:
    """The names whose last part matches the glob ``pattern``, sorted."""
    return sorted(n for n in names if fnmatch.fnmatchcase(n.rpartition("/")[2], pattern))
