"""Ownership of an OUTPUT: one run at a time writes into it.

A local folder is owned through ``OUTPUT/.augment-lock``, held with ``fcntl.flock`` for the whole run. The kernel
drops a flock when its process dies (however it dies), so a lock left by a killed run is simply free: the next
run takes it and overwrites the holder details. The file holds the owner (run id, pid, host, start time) so that
a refused run can say who holds OUTPUT. It is removed when the run ends; a run that finds the file replaced
under it (another run released and removed it between our open and our flock) opens it again.

An fsspec URL cannot be flocked, so a lease object ``.augment-lock.json`` names the owner and an expiry; the
owning run renews it from a background thread every third of its term (``AUGMENT_LEASE_SECONDS``, default 60 s).
A lease past its expiry belongs to a dead run and is taken over. Object stores offer no atomic
create-if-absent through fsspec, so a run writes its lease, waits a moment and reads it back: two runs starting
within that moment are told apart by who wrote last, and every renewal checks the lease still names this run
(a run that lost it stops with a one-line error instead of writing on).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path

LOCK_NAME = ".augment-lock"
LEASE_NAME = ".augment-lock.json"


class OutputBusyError(RuntimeError):
    """OUTPUT is owned by another live run; the message is one line naming the holder."""


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}-{secrets.token_hex(4)}"


def owner_record(run_id: str, started: float | None = None) -> dict:
    started = time.time() if started is None else started
    return {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)), "started_epoch": started}


def describe_holder(where: str, holder: dict | None) -> str:
    if not holder:
        return f"OUTPUT {where} is in use by another augment run (holder unknown); wait for it or use another OUTPUT"
    return (f"OUTPUT {where} is in use by another augment run (pid {holder.get('pid')} on {holder.get('host')}, "
            f"started {holder.get('started')}, run {holder.get('run_id')}); wait for it to finish or use another "
            "OUTPUT")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


class FolderLock:
    """``fcntl.flock`` on ``root/.augment-lock`` for the life of a run."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = Path(root) / LOCK_NAME
        self.run_id = run_id
        self.owner = owner_record(run_id)
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_json_fd(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise OutputBusyError(describe_holder(str(self.path.parent), holder)) from None
                raise
            try:  # the holder we waited on may have removed the file: lock the file that is there now
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(self.owner) + "\n").encode("utf-8"), 0)
        self._fd = fd
        return self

    def check(self) -> None:
        """Nothing to renew: the kernel holds a flock for as long as this process lives."""

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # under the lock: a waiting run re-opens (see acquire)
        except OSError:
            pass
        os.close(self._fd)  # closing the last descriptor drops the flock
        self._fd = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_json_fd(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 65536, 0)
        value = json.loads(data.decode("utf-8"))
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def lease_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get("AUGMENT_LEASE_SECONDS", "60")))
    except ValueError:
        return 60.0


class StoreLease:
    """A lease object with an expiry in an output store (fsspec URL), renewed by a daemon thread."""

    def __init__(self, store, run_id: str, seconds: float | None = None, settle: float = 0.2) -> None:
        self.store = store
        self.run_id = run_id
        self.seconds = seconds if seconds is not None else lease_seconds()
        self.settle = settle
        self.owner = owner_record(run_id)
        self.lost: str | None = None  # set by the renewer when another run holds the lease now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> dict | None:
        try:
            value = json.loads(self.store.read_bytes(LEASE_NAME))
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return {}  # unreadable: treated as expired
        return value if isinstance(value, dict) else {}

    def _write(self) -> None:
        lease = dict(self.owner, expires_epoch=time.time() + self.seconds)
        self.store.write_bytes(LEASE_NAME, (json.dumps(lease) + "\n").encode("utf-8"))

    def _held_by_other(self, lease: dict | None) -> bool:
        if not lease or lease.get("run_id") == self.run_id:
            return False
        try:
            return float(lease.get("expires_epoch", 0)) > time.time()
        except (TypeError, ValueError):
            return False

    def acquire(self) -> "StoreLease":
        current = self._read()
        if self._held_by_other(current):
            raise OutputBusyError(describe_holder(self.store.location, current))
        self._write()
        time.sleep(self.settle)
        current = self._read()
        if current is not None and current.get("run_id") != self.run_id:
            raise OutputBusyError(describe_holder(self.store.location, current))
        self._thread = threading.Thread(target=self._renew, name="augment-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                current = self._read()
                if current is not None and current.get("run_id") not in (None, self.run_id):
                    self.lost = describe_holder(self.store.location, current).replace(
                        "is in use by", "was taken over by", 1)
                    return
                self._write()
            except Exception:  # a failed renewal is retried; the lease term leaves room for two misses
                continue

    def check(self) -> None:
        if self.lost:
            raise OutputBusyError(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            current = self._read()
            if current is not None and current.get("run_id") == self.run_id:
                self.store.remove(LEASE_NAME)
        except Exception:
            pass  # an unremoved lease expires by itself


__all__ = ["LOCK_NAME", "LEASE_NAME", "OutputBusyError", "new_run_id", "owner_record", "describe_holder", "pid_alive", "FolderLock", "lease_seconds", "StoreLease"]
