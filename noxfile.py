"""The fast part of the test suite on every supported Python (3.10-3.13), each in a fresh virtual environment with
the core install plus the test tools: `nox` (all), `nox -s fast-3.12` (one). A Python that is not installed is
skipped with a message. pyenv's versions are found without activating them (the shims answer only for the active
version, so PYENV_VERSION is set to all of them here).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
# core features only (no torch, no serve): what every supported Python must pass quickly (test_pipeline.py
# imports torch at module level, so it runs on 3.11 only)
FAST_TESTS = [
    "tests/test_spec.py",
    "tests/test_image_ops.py",
    "tests/test_presets.py",
    "tests/test_text_eda.py",
    "tests/test_import_graph.py",
    "tests/test_extras.py",
]
# not here: test_api_surface.py (its snapshot is of 3.11's signature rendering: 3.12 writes `Annotated[...]` where
# 3.11 wrote `typing.Annotated[...]`, and it imports augment.serve.app, which needs the serve extra)

nox.options.error_on_missing_interpreters = False  # a missing Python is skipped, with nox's message
nox.options.sessions = ["fast"]


def _expose_pyenv_versions() -> None:
    if "PYENV_VERSION" in os.environ or shutil.which("pyenv") is None:
        return
    versions = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True).stdout.split()
    if versions:
        os.environ["PYENV_VERSION"] = ":".join(versions)


_expose_pyenv_versions()


@nox.session(python=PYTHONS)
def fast(session: nox.Session) -> None:
    """Core install (non-editable: no torch, so the torchvision backend's cases are left out) + test tools, then
    the fast tests. `nox -s fast -- --torch` installs the [torch] extra too and runs those cases."""
    with_torch = "--torch" in session.posargs
    args = [a for a in session.posargs if a != "--torch"]
    session.install(".[torch]" if with_torch else ".", "pytest>=8.0", "pytest-timeout>=2.2", "hypothesis>=6.100",
                    "psutil>=5.9")
    select = [] if with_torch else ["-k", "not torchvision and not backends_agree and not backends_draw"]
    # `pytest`, not `python -m pytest`: the checkout must not shadow the installed package
    session.run("pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", *select, *FAST_TESTS, *args)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly."""
    session.install(".[docs,serve]")
    session.run("mkdocs", "build", "--strict", "--site-dir", os.path.join(session.create_tmp(), "site"))
