"""Every file read in the package goes through the confinement primitive (``augment.io.paths``), or is on the
allow-list below with the reason it is not user data.

The scan is static (``ast``) over every module of ``augment``: a new ``open(``, ``.read_bytes()``,
``Image.open(path)``, ``np.load``, ``pq.read_table(path)``... that bypasses ``resolve_within`` / ``open_within`` /
``read_bytes_within`` fails this test until it is routed through them or listed here with a reason. A read is
confined when it calls the primitive, or opens a path the primitive just returned (``open(resolve_within(...))``);
reads of bytes already in memory (``io.BytesIO``) open no file. The whole package is scanned, not only what the
service imports: the CLI and the service's job processes run the same readers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "augment"

# Reads that are not user data (or not under a data root): (module, function, call kind) -> why.
ALLOWED: dict[tuple[str, str, str], str] = {
    # OUTPUT and the service's own folders: written by augment, confined on write (io.paths.confined, OutputStore)
    ("io/store.py", "read_bytes", ".read_bytes"): "OutputStore: paths made by store._path, confined to OUTPUT",
    ("io/manifest.py", "read_jsonl", "open"): "manifest/errors of OUTPUT or of a job folder (written by augment)",
    ("io/manifest.py", "_file_run", "open"): "OUTPUT's manifest spill files",
    ("io/manifest.py", "read_run_record", ".read_text"): "OUTPUT's run.json",
    ("io/lock.py", "pid_alive", "open"): "/proc/PID/stat of the lock's owner, not a data file",
    ("cli.py", "_command_start", "open"): "/proc/self/stat: when this process started (the eval's time budget)",
    ("io/lock.py", "acquire", "os.open"): "OUTPUT's lock file (created by augment)",
    ("io/journal.py", "journalled", "open"): "OUTPUT's write journal (augment's workers write it; the names read "
                                             "back are removed only through the confined OUTPUT store)",
    ("io/journal.py", "write_bytes", "os.open"): "appends to OUTPUT's write journal (O_WRONLY: a write)",
    ("io/fingerprint.py", "file_sha256", "open"): "hashes OUTPUT files and spec files augment wrote or was given",
    ("run/expander.py", "publish", ".read_bytes"): "a staged OUTPUT file (local staging for a URL OUTPUT)",
    ("run/shard_job.py", "publish", ".read_bytes"): "a shard augment wrote in its staging folder",
    ("run/hf_expand.py", "_copy", "shutil.copy2"): "an output part augment wrote in OUTPUT's scratch folder",
    ("run/hf_expand.py", "_previous_outputs", ".read_text"): "OUTPUT's manifest and errors of a previous run",
    ("serve/jobs.py", "_progress", "open"): "the job's own stderr.log, written by the job process",
    ("serve/jobs.py", "count", "open"): "the job's own manifest, written by the job process",
    ("serve/jobs.py", "_last_json", ".read_text"): "the job's own log, written by the job process",
    ("serve/jobs.py", "_last_error", ".read_text"): "the job's own log, written by the job process",
    ("serve/jobs.py", "_eval_summary", ".read_text"): "the job's own report.json, written by the job process",
    ("serve/routes/jobs.py", "job_leaderboard", ".read_text"): "a search job's own outputs in its job folder",
    ("search/search.py", "prepare_data", ".read_text"): "search's own cache info in its OUTPUT",
    ("search/search.py", "_read_trials", ".read_text"): "search's own trials.jsonl in its OUTPUT",
    ("search/search.py", "run_search", ".read_text"): "search's own state.json in its OUTPUT",
    # package data and library resources (shipped with augment or a dependency, never named by a client)
    ("serve/studio.py", "render_studio", ".read_text"): "package template",
    ("evaluate/report.py", "render_html", ".read_text"): "package template",
    ("evaluate/annotated_report.py", "render_annotated_html", ".read_text"): "package template",
    ("text/eda.py", "stop_words", ".read_text"): "package data file",
    ("text/wordnet.py", "offensive_words", ".read_text"): "package data file",
    ("text/chars.py", "keyboard_map", ".read_text"): "nlpaug's data file (a dependency's resource)",
    ("text/chars.py", "ocr_map", ".read_text"): "nlpaug's data file (a dependency's resource)",
    ("text/wordnet.py", "read", ".read_bytes"): "the WordNet database (nltk data folder or package cache)",
    ("text/wordnet.py", "read", "zipfile.ZipFile"): "the WordNet database zip (nltk data)",
    ("text/wordnet.py", "is_complete", "zipfile.ZipFile"): "the WordNet database zip (nltk data)",
    ("text/wordnet.py", "_read", "np.load"): "augment's own WordNet index cache (allow_pickle=False)",
    ("ops/_typed_gen.py", "main", ".read_text"): "developer tool: the generated module in the source tree",
    ("compile/library_qualify.py", "main", ".read_text"): "developer tool: the package's qualification table",
    ("ops/library_ops.py", "qualification_table", ".read_text"): "package data file (albumentations_transforms.json)",
    ("text/spelling.py", "misspellings", ".read_text"): "nlpaug's data file (a dependency's resource)",
    ("evaluate/loop.py", "read", ".read_text"): "eval's own fits.jsonl journal in its --out folder",
    ("io/atomic.py", "atomic_write_bytes", "os.open"): "creates (O_EXCL) the temporary of a file augment writes",
    ("io/atomic.py", "_fsync_folder", "os.open"): "opens a folder augment wrote into, only to fsync it (--durable)",
    ("text/llm_cache.py", "get", ".read_text"): "llm_paraphrase's answer cache (hash-named files) in OUTPUT or "
                                                "the user's cache; the service refuses a client's cache_dir",
    # files the local user names on the command line (the CLI's own arguments, never a client's)
    ("spec/text.py", "read_text", ".read_text"): "the spec/space file: a CLI argument, or for the service a path "
                                                  "serve.search_jobs._confined resolved inside a data root",
    ("io/text_reader.py", "__enter__", "open"): "INPUT itself (a text dataset file): a CLI argument, or for the "
                                                "service a dataset serve.datasets.resolve confined to a data root",
    ("io/hf_dataset.py", "_read_parquet", "pq.read_table"): "INPUT's own Parquet files (the CLI argument or a "
                                                            "dataset serve.datasets.resolve confined)",
    ("preview.py", "preview_file", "read_image"): "`augment preview IMAGE`: the CLI user's own file",
    ("preview_annotations.py", "read_preview_targets", ".read_bytes"): "`augment preview --annotations FILE`: "
                                                                        "the CLI user's own file",
    ("preview_annotations.py", "read_preview_targets", ".read_text"): "data.yaml beside the CLI user's "
                                                                       "--annotations file",
}

MODULE_READS = {("Image", "open"), ("cv2", "imread"), ("np", "load"), ("numpy", "load"), ("np", "fromfile"),
                ("json", "load"), ("ET", "parse"), ("ET", "iterparse"), ("pq", "read_table"),
                ("pq", "ParquetFile"), ("torch", "load"), ("os", "open"), ("io", "open"), ("tarfile", "open"),
                ("gzip", "open"), ("zipfile", "ZipFile"), ("shutil", "copyfile"), ("shutil", "copy"),
                ("shutil", "copy2"), ("shutil", "copyfileobj")}
MODULES = {module for module, _ in MODULE_READS} | {"webbrowser"}  # ``X.open`` of these is not Path.open
CONFINING = {"resolve_within", "resolve_within_any", "_confined"}  # calls that return a confined real path
WRITE_MODES = set("wax+")


def _mode(call: ast.Call) -> str | None:
    args = call.args[1:2] or [k.value for k in call.keywords if k.arg == "mode"]
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    if args and isinstance(args[0], ast.IfExp):  # "w" if truncate else "a"
        return "w"
    return None


def _callee(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return None


def _in_memory(call: ast.Call) -> bool:
    first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "fileobj"), None)
    return _callee(first) == "BytesIO"


def _kind(call: ast.Call) -> str | None:
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        return "open"
    if isinstance(f, ast.Name) and f.id == "read_image" and not any(k.arg == "root" for k in call.keywords) \
            and len(call.args) < 2:  # io.images.read_image(path, root=...): confined to root when given one
        return "read_image"
    if not isinstance(f, ast.Attribute):
        return None
    if f.attr == "read_bytes" and not call.args:  # Path.read_bytes(); store.read_bytes(rel) is OutputStore's
        return ".read_bytes"
    if f.attr == "read_text":
        return ".read_text"
    if isinstance(f.value, ast.Name) and (f.value.id, f.attr) in MODULE_READS:
        return f"{f.value.id}.{f.attr}"
    if f.attr == "open" and not (isinstance(f.value, ast.Name) and f.value.id in MODULES):  # path.open()
        return ".open"
    return None


def read_sites(package: Path = PACKAGE) -> list[tuple[str, str, str, int, str]]:
    """(module, enclosing function, kind, line, source) of every file read that is not confined by construction."""
    sites = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        owner: dict[int, str] = {}  # node -> the innermost function holding it (ast.walk visits outer ones first)
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(fn):
                    owner[id(sub)] = fn.name
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            kind = _kind(node)
            if kind is None:
                continue
            target = node.func.value if kind.startswith(".") else (node.args[0] if node.args else None)
            mode = _mode(node) if kind in ("open", ".open", "os.open") else None
            if kind == ".open":
                mode = next((a.value for a in node.args[:1] if isinstance(a, ast.Constant)), mode)
            if mode is not None and set(mode) & WRITE_MODES and kind != "os.open":
                continue  # writes: confined by io.paths.confined / the output store, tested elsewhere
            if _in_memory(node) or _callee(target) in CONFINING:
                continue
            sites.append((rel, owner.get(id(node), "<module>"), kind, node.lineno, ast.unparse(node)[:100]))
    return sites


def test_every_file_read_goes_through_the_confinement_primitive():
    sites = read_sites()
    bypass = [f"augment/{m}:{line} in {fn}(): {src}" for m, fn, kind, line, src in sites if (m, fn, kind) not in ALLOWED]
    assert not bypass, ("reads that bypass augment.io.paths (route them through resolve_within / open_within / "
                        "read_bytes_within, or allow-list them with the reason they are not user data):\n  "
                        + "\n  ".join(bypass))


def test_the_allow_list_has_no_stale_entries():
    found = {(m, fn, kind) for m, fn, kind, _, _ in read_sites()}
    stale = sorted(set(ALLOWED) - found)
    assert not stale, f"allow-list entries that match no read any more (remove them): {stale}"


@pytest.mark.parametrize("source, flagged", [
    ("def f(p):\n    return open(p, 'rb').read()\n", True),
    ("def f(p):\n    return p.read_bytes()\n", True),
    ("def f(p):\n    return Image.open(p)\n", True),
    ("def f(d):\n    return Image.open(io.BytesIO(d))\n", False),
    ("def f(r, p):\n    return open(resolve_within(r, p), 'rb')\n", False),
    ("def f(p):\n    return open(p, 'w')\n", False),
    ("def f(p):\n    return pq.read_table(p)\n", True),
    ("def f(p):\n    return ET.parse(p)\n", True),
    ("def f(p):\n    with p.open('rb') as fh:\n        return fh.read()\n", True),
    ("def f(p):\n    with p.open('w') as fh:\n        fh.write('x')\n", False),
    ("def f(p):\n    return read_image(p)\n", True),
    ("def f(r, p):\n    return read_image(p, root=r)\n", False),
])
def test_the_scan_flags_direct_reads_and_passes_confined_ones(tmp_path, source, flagged):
    (tmp_path / "mod.py").write_text(source)
    assert bool(read_sites(tmp_path)) is flagged


def test_read_image_takes_a_path_relative_to_the_current_folder_inside_its_root(tmp_path, monkeypatch):
    """``read_image(root/rel, root=root)`` with a relative root (``augment eval --train samples/digits``): the path
    is read from the current folder, not joined to the root a second time (root/root/rel); a symlink out of the
    root is still refused."""
    import numpy as np
    from PIL import Image

    from augment.io.images import ImageReadError, read_image

    (tmp_path / "data" / "a").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(tmp_path / "data" / "a" / "x.png")
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "secret.png")
    (tmp_path / "data" / "a" / "leak.png").symlink_to(tmp_path / "secret.png")
    monkeypatch.chdir(tmp_path)
    assert read_image("data/a/x.png", root="data")[0].shape == (4, 5, 3)
    with pytest.raises(ImageReadError, match="outside"):
        read_image("data/a/leak.png", root="data")
