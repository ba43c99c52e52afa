"""What a run may have written into a folder OUTPUT, and whether the run still owns it.

The manifest lists what a run finished; a chunk whose result never reached the run's process (the run
interrupted, terminated or killed mid-chunk, a worker that died) may still have written some of its files.
So every write of a run's workers is journalled first: ``JournalledStore.write_bytes`` appends the output's name
to ``OUTPUT/.augment-journal/<run id>.<host>.<pid>.txt`` as a JSON string (one ``write`` per output, no fsync: a killed process
loses nothing the kernel has) and only then writes the file. ``--overwrite`` removes every journalled name
besides the manifest's, and a run that completes removes the journalled names its manifest does not list, then
the journal. Only names an augment run was about to write are ever removed.

The same folder holds ``<run id>.live`` while the run owns OUTPUT. A worker checks it (one ``stat``) before each
write and stops when it is gone: a task of a stopped run on a Dask cluster the run does not own (whose threads
cannot be killed) writes nothing more once the run has released OUTPUT. A run removes it before releasing its
lock, and removes the markers of earlier runs when it starts (a killed run could not remove its own).

URL OUTPUTs (object stores) keep neither: their writes are single PUTs listed once the chunk returns.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

from augment.io.paths import UnsafePathError
from augment.io.store import LocalStore, OutputWriteError

JOURNAL_DIR = ".augment-journal"
LIVE = ".live"

__all__ = ["JOURNAL_DIR", "begin", "end", "journalled", "clear", "remove_journalled", "JournalledStore"]


def _dir(root: Path | str) -> Path:
    return Path(root) / JOURNAL_DIR


def begin(root: Path, run_id: str) -> None:
    """Mark ``run_id`` as the owner of OUTPUT for its workers; earlier runs' markers go (their tasks stop)."""
    folder = _dir(root)
    folder.mkdir(exist_ok=True)
    for entry in os.scandir(folder):
        if entry.name.endswith(LIVE):
            _unlink(entry.path)
    (folder / f"{run_id}{LIVE}").touch()


def end(root: Path, run_id: str) -> None:
    """The run no longer owns OUTPUT: its workers write nothing more (called before the lock is released)."""
    _unlink(str(_dir(root) / f"{run_id}{LIVE}"))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:  # gone already, or OUTPUT no longer writable: nothing this run can do about it
        pass


def journalled(root: Path) -> set[str]:
    """Every name any run's workers were about to write since the journal was last cleared."""
    names: set[str] = set()
    folder = _dir(root)
    if folder.is_symlink() or not folder.is_dir():  # a journal is a plain folder augment made, never a link
        return names
    for entry in os.scandir(folder):
        if entry.name.endswith(".txt") and entry.is_file(follow_symlinks=False):
            with open(entry.path, encoding="utf-8", errors="surrogateescape") as fh:
                for line in fh:
                    try:  # one JSON string a line: a name may hold a newline; a killed writer's last line is cut
                        name = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(name, str) and name:
                        names.add(name)
    return names


def clear(root: Path) -> None:
    shutil.rmtree(_dir(root), ignore_errors=True)


def remove_journalled(store, root: Path, keep: set[str]) -> int:
    """Remove the journalled names not in ``keep`` (through ``store.remove``: confined to OUTPUT); how many."""
    removed = 0
    for name in journalled(root) - keep:
        try:
            if store.exists(name):
                store.remove(name)
                removed += 1
        except (UnsafePathError, ValueError, OSError):
            continue
    return removed


class JournalledStore(LocalStore):
    """A worker's view of a folder OUTPUT owned by run ``run_id``: each write is journalled, then made, and
    refused once the run no longer owns OUTPUT."""

    def __init__(self, root: Path | str, run_id: str) -> None:
        super().__init__(root)
        self.run_id = run_id
        folder = os.path.join(self.location, JOURNAL_DIR)
        self._live = os.path.join(folder, f"{run_id}{LIVE}")
        self._journal = os.path.join(folder, f"{run_id}.{platform.node()}.")  # + the writing process's pid
        self._fd: int | None = None
        self._pid = os.getpid()

    def write_bytes(self, rel: str, data: bytes, fsync: bool = False, _retry: bool = True) -> None:
        if not _retry:  # LocalStore's own second try of this write: journalled and checked already
            return super().write_bytes(rel, data, fsync, _retry=False)
        try:
            os.stat(self._live)
        except FileNotFoundError:
            raise OutputWriteError(f"run {self.run_id} no longer owns OUTPUT (it stopped); {rel} not written") from None
        try:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(f"{self._journal}{os.getpid()}.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
                self._pid = os.getpid()
            os.write(self._fd, (json.dumps(rel) + "\n").encode("utf-8"))  # a name may hold a newline
        except OSError as exc:
            raise OutputWriteError(f"cannot write to OUTPUT's journal: {exc.strerror or exc}") from None
        super().write_bytes(rel, data, fsync=fsync)
