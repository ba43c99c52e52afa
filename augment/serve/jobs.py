"""Jobs: ``augment run``, ``augment eval`` and ``augment search`` as subprocesses of the real CLI, recorded in SQLite.

A job is the CLI command a user would type, so a job's output is exactly what the CLI writes and a cancelled run
resumes the way the CLI resumes: cancel sends SIGINT (the CLI stops, keeps its manifest and exits 130), resume runs
the same command into the same OUTPUT. Job records live in ``JOBS_ROOT/jobs.sqlite3``; a server that restarts
lists them, and marks the ones that were running as interrupted (resumable).

Progress of a run: the lines of OUTPUT/manifest.jsonl (one record per file written, flushed as written) against
the outputs expected from the dataset (items x (copies + originals)). Progress of an eval: the ``done/total`` runs
its progress bar prints to stderr. Progress of a search: the evaluations in OUT/trials.jsonl (one line each,
flushed as made; what a rerun resumes from) against the evaluations successive halving plans.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from augment.io.manifest import MANIFEST
from augment.serve.config import ServeConfigError
from augment.search.search import TRIALS

SEARCH_OUT = "search"  # a search job's --out, in its folder

TERMINAL = {"complete", "failed", "cancelled", "interrupted"}
RESUMABLE = {"failed", "cancelled", "interrupted"}
_COLUMNS = ("id", "kind", "status", "dataset", "created", "started", "finished", "command", "pid", "returncode",
            "total", "done", "summary", "error", "request")
_JSON_COLUMNS = {"command", "summary", "request"}
_TQDM = re.compile(r"(\d+)/(\d+) \[")


class JobError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class JobStoreError(ServeConfigError):
    """The job database cannot be opened (corrupt, not a database, not writable); one line for the user."""


class JobStore:
    """Job records in SQLite (stdlib), one short connection per operation so any thread may call it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            with self._connect() as db:
                # WAL: readers (status polls) never block the writer (progress updates), and a kill mid-write
                # leaves the database consistent
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("""CREATE TABLE IF NOT EXISTS jobs (
                    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, dataset TEXT, created REAL,
                    started REAL, finished REAL, command TEXT, pid INTEGER, returncode INTEGER, total INTEGER,
                    done INTEGER, summary TEXT, error TEXT, request TEXT)""")
                db.execute("SELECT id, kind, status, dataset, created, started, finished, command, pid, returncode, "
                           "total, done, summary, error, request FROM jobs LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise JobStoreError(f"{path}: cannot use the job database ({exc}); move it aside (the server then "
                                "starts an empty one) or give another --jobs-root") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA busy_timeout = 30000")  # wait for another writer instead of failing at once
        db.row_factory = sqlite3.Row
        return db

    def insert(self, record: dict) -> None:
        row = {k: (json.dumps(record.get(k)) if k in _JSON_COLUMNS else record.get(k)) for k in _COLUMNS}
        with self._lock, self._connect() as db:
            db.execute(f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                       [row[k] for k in _COLUMNS])

    def update(self, job_id: str, **fields) -> None:
        if not fields:
            return
        values = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        with self._lock, self._connect() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?", [*values, job_id])

    def get(self, job_id: str) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", [job_id]).fetchone()
        return _decode(row) if row else None

    def all(self, limit: int = 200) -> list[dict]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC LIMIT ?", [limit]).fetchall()
        return [_decode(r) for r in rows]


def _decode(row: sqlite3.Row) -> dict:
    d = dict(row)
    for k in _JSON_COLUMNS:
        d[k] = json.loads(d[k]) if d.get(k) else None
    return d


def public(record: dict) -> dict:
    """A job as clients see it: no local command line or process id."""
    total, done = record.get("total"), record.get("done") or 0
    progress = min(1.0, done / total) if total else (1.0 if record["status"] == "complete" else None)
    return {
        "id": record["id"], "kind": record["kind"], "status": record["status"], "dataset": record["dataset"],
        "created": record["created"], "started": record["started"], "finished": record["finished"],
        "counts": {"done": done, "total": total}, "progress": progress, "summary": record.get("summary"),
        "error": record.get("error"), "resumable": record["status"] in RESUMABLE,
        "options": (record.get("request") or {}).get("options"),
    }


def _die_with_parent() -> None:
    """In the child, before exec: get SIGINT when the server dies, so a killed server leaves no run going on
    unrecorded (the run stops as on Ctrl-C and stays resumable). Linux only; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class JobManager:
    def __init__(self, jobs_root: Path, python: str | None = None, max_running: int = 2) -> None:
        self.root = jobs_root
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(jobs_root / "jobs.sqlite3")
        self.python = python or sys.executable
        self.max_running = max_running
        self._procs: dict[str, subprocess.Popen] = {}
        # jobs holding one of the max_running slots: taken under the lock by the same check that counts them,
        # released when the job's process has ended (or failed to start), so concurrent requests cannot overrun it
        self._slots: set[str] = set()
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._recover()

    # -- lifecycle -------------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Jobs a previous server left running: their process died with it (or is stopped now): resumable."""
        for rec in self.store.all(limit=10_000):
            if rec["status"] in ("running", "queued", "cancelling"):
                pid = rec.get("pid")
                if pid and _is_our_process(pid, self.job_dir(rec["id"])):
                    _stop_orphan(pid, self.job_dir(rec["id"]))  # a resume must never run beside it
                # the counts from what the job wrote, not from the last poll before the server died: the job
                # kept writing until it stopped (its Ctrl-C path flushes the records of finished items)
                self.store.update(rec["id"], status="interrupted", finished=time.time(), pid=None,
                                  error="the server stopped while the job ran; resume it to finish",
                                  **self._counts(rec))

    def shutdown(self, wait: float = 15.0) -> None:
        """Stop running jobs as Ctrl-C would (they stay resumable) and record them as interrupted."""
        with self._lock:
            procs = dict(self._procs)
        for proc in procs.values():
            _signal(proc, signal.SIGINT)
        deadline = time.monotonic() + wait
        for job_id, proc in procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL, group=True)
            rec = self.store.get(job_id)
            self.store.update(job_id, status="interrupted", finished=time.time(), pid=None,
                              error="the server stopped while the job ran; resume it to finish",
                              **(self._counts(rec) if rec else {}))

    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def _counted_file(self, rec: dict) -> Path | None:
        folder = self.job_dir(rec["id"])
        return {"run": folder / "output" / MANIFEST, "search": folder / SEARCH_OUT / TRIALS}.get(rec["kind"])

    def _counts(self, rec: dict) -> dict:
        """``done`` recounted from the job's manifest (run) or trials (search): complete lines, as the progress
        polls count them."""
        path = self._counted_file(rec)
        if path is None:
            return {}
        done = _ManifestCounter(path).count()
        return {"done": min(done, rec["total"]) if rec.get("total") else done}

    # -- operations ------------------------------------------------------------------------------------------
    def create(self, kind: str, dataset: str, command_args: list[str], files: dict[str, str], total: int | None,
               request: dict) -> dict:
        """Start a job: ``files`` (job-relative path -> text, e.g. pipeline.yaml) are written to its folder first."""
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        self._take_slot(job_id)
        try:
            folder = self.job_dir(job_id)
            folder.mkdir(parents=True)
            for rel, text in files.items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_text(text, encoding="utf-8")
            record = {"id": job_id, "kind": kind, "status": "queued", "dataset": dataset, "created": time.time(),
                      "command": command_args, "total": total, "done": 0, "request": request}
            self.store.insert(record)
        except BaseException:
            self._free_slot(job_id)
            raise
        self._start(job_id)
        return self.store.get(job_id)

    def _take_slot(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._slots:
                raise JobError(f"job {job_id} is already starting", 409)
            if len(self._slots) >= self.max_running:
                raise JobError(f"{len(self._slots)} jobs are running, the most this server runs at once; wait "
                               "for one to finish or cancel one", 429)
            self._slots.add(job_id)

    def _free_slot(self, job_id: str) -> None:
        with self._lock:
            self._slots.discard(job_id)

    def resume(self, job_id: str) -> dict:
        rec = self._get(job_id)
        if rec["status"] not in RESUMABLE:
            raise JobError(f"job {job_id} is {rec['status']}; only a cancelled, interrupted or failed job resumes", 409)
        self._take_slot(job_id)
        self.store.update(job_id, status="queued", error=None, finished=None, returncode=None)
        self._start(job_id)
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> dict:
        rec = self._get(job_id)
        with self._lock:  # under the lock: the watcher records the outcome only after it removed the process
            proc = self._procs.get(job_id)
            if proc is not None:
                self._cancelled.add(job_id)
                self.store.update(job_id, status="cancelling")  # until the process has stopped
        if proc is None:
            if rec["status"] in TERMINAL:
                return rec
            self.store.update(job_id, status="cancelled", finished=time.time(), **self._counts(rec))
            return self.store.get(job_id)
        _signal(proc, signal.SIGINT)  # the CLI's Ctrl-C path: manifest kept, exit 130, resumable

        def escalate() -> None:
            for sig, delay in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
                try:
                    proc.wait(delay)
                    return
                except subprocess.TimeoutExpired:
                    _signal(proc, sig, group=True)

        threading.Thread(target=escalate, daemon=True).start()
        return self.store.get(job_id)

    def get(self, job_id: str) -> dict:
        return self._get(job_id)

    def _get(self, job_id: str) -> dict:
        rec = self.store.get(job_id) if re.fullmatch(r"[0-9A-Za-z-]{1,64}", job_id or "") else None
        if rec is None:
            raise JobError(f"no job {job_id!r}", 404)
        return rec

    # -- running ---------------------------------------------------------------------------------------------
    def _start(self, job_id: str) -> None:
        """Start the job's process from the thread that then watches it: the parent-death signal is tied to
        the thread that forked (not the process), so it must be one that lives exactly as long as the job."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                proc = self._spawn(job_id)
            except BaseException as exc:  # e.g. the interpreter cannot be started
                self._free_slot(job_id)
                failure.append(exc)
                started.set()
                return
            started.set()
            try:
                self._watch(job_id, proc)
            finally:
                self._free_slot(job_id)

        threading.Thread(target=run, daemon=True, name=f"job-{job_id}").start()
        started.wait()
        if failure:
            self.store.update(job_id, status="failed", finished=time.time(), error=f"cannot start: {failure[0]}")

    def _spawn(self, job_id: str) -> subprocess.Popen:
        rec = self.store.get(job_id)
        folder = self.job_dir(job_id)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # the job imports the same augment as this server, wherever the server was started from
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        with open(folder / "stdout.log", "ab") as out, open(folder / "stderr.log", "ab") as err:
            proc = subprocess.Popen([self.python, "-m", "augment.cli", *rec["command"]], cwd=folder, stdout=out,
                                    stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        with self._lock:
            self._procs[job_id] = proc
        self.store.update(job_id, status="running", pid=proc.pid, started=time.time())
        return proc

    def _watch(self, job_id: str, proc: subprocess.Popen) -> None:
        rec = self.store.get(job_id)
        folder = self.job_dir(job_id)
        counted = self._counted_file(rec)
        counter = _ManifestCounter(counted) if counted is not None else None
        while True:
            try:
                code = proc.wait(0.3)
            except subprocess.TimeoutExpired:
                code = None
            progress = self._progress(rec, folder, counter)
            if progress:
                self.store.update(job_id, **progress)
            if code is not None:
                break
        with self._lock:
            self._procs.pop(job_id, None)
            self._slots.discard(job_id)  # the process has ended: its slot is free before its status says so
            cancelled = job_id in self._cancelled
            self._cancelled.discard(job_id)
        # the counts once more after the process ended (what its Ctrl-C path flushed last), then the outcome
        fields = {**self._counts(rec), **self._outcome(rec, folder, code, cancelled)}
        self.store.update(job_id, pid=None, returncode=code, finished=time.time(), **fields)

    def _progress(self, rec: dict, folder: Path, counter) -> dict:
        if counter is not None:
            done = counter.count()
            return {"done": min(done, rec["total"]) if rec.get("total") else done}
        match = None
        try:
            with open(folder / "stderr.log", "rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - 4096))
                tail = fh.read().decode("utf-8", "replace")
            for match in _TQDM.finditer(tail):
                pass
        except OSError:
            return {}
        return {"done": int(match.group(1)), "total": int(match.group(2))} if match else {}

    def _outcome(self, rec: dict, folder: Path, code: int, cancelled: bool) -> dict:
        summary = _last_json(folder / "stdout.log")
        if code == 0:
            if rec["kind"] == "eval":
                summary = _eval_summary(folder / "report")
            elif rec["kind"] == "search":
                evaluations = _ManifestCounter(folder / SEARCH_OUT / TRIALS).count()
                return {"status": "complete", "summary": _search_summary(summary), "error": None,
                        "done": evaluations, "total": evaluations}
            fields = {"status": "complete", "summary": summary, "error": None}
            if rec["kind"] == "run" and summary:
                fields["done"] = fields["total"] = summary.get("written", 0) + summary.get("resumed_skipped", 0)
            return fields
        if cancelled:
            return {"status": "cancelled", "error": "cancelled; resume it to finish"}
        if code in (130, -signal.SIGINT):
            return {"status": "interrupted", "error": "interrupted; resume it to finish"}
        return {"status": "failed", "error": _last_error(folder / "stderr.log") or f"the command exited with {code}"}


class _ManifestCounter:
    """Counts manifest lines incrementally (reads only what was appended since the last call)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines, self.inode = path, 0, 0, None

    def count(self) -> int:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self.lines
        if st.st_ino != self.inode or st.st_size < self.offset:  # rewritten (sorted) at the end of the run
            self.offset, self.lines, self.inode = 0, 0, st.st_ino
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a torn last line is counted once complete
        self.lines += data.count(b"\n", 0, end)
        self.offset += end
        return self.lines


def _signal(proc: subprocess.Popen, sig: int, group: bool = False) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)  # the job's own session: its worker processes too
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_orphan(pid: int, folder: Path, wait: float = 20.0) -> None:
    """A job process that outlived its server (no parent-death signal on this system): Ctrl-C, then kill."""
    for sig, delay in ((signal.SIGINT, wait), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig) if sig == signal.SIGKILL else os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            if not _is_our_process(pid, folder):
                return
            time.sleep(0.1)


def _is_our_process(pid: int, folder: Path) -> bool:
    try:
        return Path(f"/proc/{pid}/cwd").resolve() == folder.resolve()
    except OSError:
        return False


def _last_json(path: Path) -> dict | None:
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _last_error(path: Path) -> str | None:
    try:
        lines = [ln.strip() for ln in path.read_text("utf-8", "replace").replace("\r", "\n").splitlines()]
    except OSError:
        return None
    errors = [ln for ln in lines if ln.startswith("error:")]
    pick = errors[-1] if errors else next((ln for ln in reversed(lines) if ln), None)
    return pick[:500] if pick else None


def _search_summary(printed: dict | None) -> dict:
    """What the search printed (its winner, why it stopped, the test-set verdicts) with the job-relative paths of
    its outputs (GET /v1/jobs/ID/files/PATH), not the server's."""
    keep = {k: v for k, v in (printed or {}).items() if k in ("stopped", "winner", "test")}
    return {**keep, "best_yaml": f"{SEARCH_OUT}/best.yaml", "leaderboard": f"{SEARCH_OUT}/leaderboard.json",
            "report_html": f"{SEARCH_OUT}/report.html", "trials": f"{SEARCH_OUT}/{TRIALS}"}


def _eval_summary(report: Path) -> dict | None:
    try:
        doc = json.loads((report / "report.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return {"summary": doc.get("summary"), "report_html": "report/report.html", "report_json": "report/report.json"}


__all__ = ["TERMINAL", "RESUMABLE", "JobError", "JobStoreError", "JobStore", "public", "JobManager"]
