"""The documentation site builds strictly, and every Python and shell example in it runs, so the docs cannot drift.

Examples are the fenced blocks of ``docs/*.md``:

- ```` ```python ````: executed in order, in one namespace per page (like a doctest session);
- ```` ```console ````: lines starting with ``$ `` are commands (``\\`` continues a line), the other lines are the
  output shown to the reader and are not compared; each block runs in bash with ``set -e``.

A page runs in a scratch folder that holds ``pipelines/`` and ``samples/`` of the repository (and ``../shared``
when present), with ``augment`` on PATH running this checkout. Markers, in an HTML comment just above a block:

- ``<!-- docs-test: skip REASON -->``: not run (a REASON is required: what it needs that a test cannot have);
- ``<!-- docs-test: exit N -->``: the console block's last command must exit with N;
- ``<!-- docs-test: python ... -->`` (a comment holding code): hidden set-up, run where it stands.

Any other fence that looks like a shell (``sh``, ``bash``, ``shell``) is refused: write ``console`` (run) or
``text`` (a synopsis, not an example).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SHARED = REPO.parent / "shared"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
_MARK = re.compile(r"<!--\s*docs-test:\s*(?P<kind>skip|exit|python)(?P<rest>.*?)-->\s*$", re.S)


@dataclass
class Block:
    page: str
    line: int
    kind: str  # python | console | setup
    code: str
    skip: str | None = None
    expect: int = 0


def _marker_before(text: str, start: int):
    """The docs-test comment that ends right above ``start`` (blank lines allowed), if any."""
    before = text[:start].rstrip()
    if not before.endswith("-->"):
        return None
    opened = before.rfind("<!--")
    return _MARK.fullmatch(before[opened:].strip()) if opened >= 0 else None


def page_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    events: list[tuple[int, Block]] = []
    for m in re.finditer(r"<!--\s*docs-test:\s*python\n(?P<code>.*?)-->", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        events.append((m.start(), Block(path.name, line, "setup", textwrap.dedent(m.group("code")))))
    for m in _FENCE.finditer(text):
        info = m.group("info").strip().split()[0] if m.group("info").strip() else ""
        line = text.count("\n", 0, m.start()) + 1
        if info in ("sh", "bash", "shell", "shell-session", "zsh"):
            raise AssertionError(f"{path.name}:{line}: a ```{info} block: write ```console (run by the tests) or "
                                 "```text (a synopsis)")
        if info not in ("python", "console"):
            continue
        block = Block(path.name, line, info, textwrap.dedent(m.group("body")))
        mark = _marker_before(text, m.start())
        if mark and mark.group("kind") == "skip":
            block.skip = mark.group("rest").strip()
            assert block.skip, f"{path.name}:{line}: docs-test: skip needs a reason"
        elif mark and mark.group("kind") == "exit":
            block.expect = int(mark.group("rest").strip())
        events.append((m.start(), block))
    return [b for _, b in sorted(events, key=lambda e: e[0])]


def console_script(code: str) -> str:
    commands, current = [], ""
    for raw in code.splitlines():
        if current:
            current += "\n" + raw
        elif raw.startswith("$ "):
            current = raw[2:]
        else:
            continue  # output shown to the reader
        if not current.endswith("\\"):
            commands.append(current)
            current = ""
    assert not current, "a command ends with a line continuation"
    return "\n".join(commands)


def _pages() -> list[Path]:
    return sorted(DOCS.glob("**/*.md"))


def _runnable_pages() -> list[str]:
    return [p.name for p in _pages() if any(b.kind in ("python", "console") and not b.skip for b in page_blocks(p))]


_DRIVER = r"""
import json, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__docs__"}
for b in blocks:
    where = f"{b['page']}:{b['line']}"
    if b["kind"] in ("python", "setup"):
        try:
            exec(compile(b["code"], where, "exec"), ns)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"FAILED: the python block at {where}")
    else:
        script = ("set -eo pipefail\n" if b["expect"] == 0 else "") + b["script"]
        res = subprocess.run(["bash", "-c", script])
        if res.returncode != b["expect"]:
            sys.exit(f"FAILED: the console block at {where} exited {res.returncode}, expected {b['expect']}")
print("all blocks ran")
"""


def test_every_example_is_run_or_skipped_with_a_reason():
    blocks = [b for p in _pages() for b in page_blocks(p) if b.kind in ("python", "console")]
    assert len(blocks) >= 10
    skipped = [b for b in blocks if b.skip]
    assert all(len(b.skip) > 10 for b in skipped), [(b.page, b.line) for b in skipped if len(b.skip) <= 10]
    assert len(skipped) < len(blocks) / 2, "most examples must run"


def test_console_scripts_join_continuations_and_drop_output():
    assert console_script("$ echo a \\\n    b\nshown output\n$ true\n") == "echo a \\\n    b\ntrue"


@pytest.mark.slow
@pytest.mark.parametrize("page", _runnable_pages())
def test_the_examples_of_a_page_run(page, tmp_path):
    blocks = page_blocks(DOCS / page)
    if not SHARED.is_dir() and any("../shared" in b.code for b in blocks if not b.skip):
        pytest.skip(f"{page} reads ../shared datasets, not present at {SHARED}")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("pipelines", "samples"):
        (work / name).symlink_to(REPO / name)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "augment"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m augment.cli \"$@\"\n")
    shim.chmod(0o755)
    (bindir / "python").symlink_to(sys.executable)
    (bindir / "python3").symlink_to(sys.executable)
    payload = []
    for b in blocks:
        if b.skip:
            continue
        payload.append({"page": b.page, "line": b.line, "kind": b.kind, "code": b.code, "expect": b.expect,
                        "script": console_script(b.code) if b.kind == "console" else ""})
    (tmp_path / "blocks.json").write_text(json.dumps(payload))
    (tmp_path / "driver.py").write_text(_DRIVER)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO),
               MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(tmp_path / "blocks.json")], cwd=work,
                         env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    ops_page = (site / "ops" / "index.html").read_text(encoding="utf-8")
    assert "horizontal_flip" in ops_page and "synonym_replace" in ops_page
    schema = json.loads((site / "openapi.json").read_text())
    assert "/v1/health" in schema["paths"] and "/v1/health" in (site / "api" / "index.html").read_text()
