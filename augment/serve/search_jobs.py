"""Search jobs: the space a client sends, checked and confined, and the ``augment search`` command that runs it.

A space comes inline (a mapping or YAML text) or as a file under a data root. Its ``pipelines[].file`` entries
would make the search read spec files wherever they point, so they are resolved here first, under the same rules as
datasets: in a space file they are relative to its folder and must stay under its data root; inline they are
``ROOT/path`` names. Each one is copied (as its canonical YAML) into the job's folder and the space written there
points at the copies, so the job reads nothing the client could not name, and a resumed search reads the very
specs it started with. The space is then validated exactly as ``augment search`` validates it (key-path errors).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from augment.io.paths import OutsideRootError, is_within, resolve_within_any
from augment.search.space import SearchSpace, parse_space
from augment.serve.jobs import SEARCH_OUT as OUT
from augment.spec import SpecError, dump_spec, load_spec
from augment.spec.errors import SpecIssue
from augment.spec.text import parse_text, read_text

SPACE = "space.yaml"  # the space as the job's command reads it (relative to the job's folder)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$")


class SpaceRefused(ValueError):
    """A space that names a file the client may not read; ``status`` is the HTTP status (403/404)."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PreparedSpace:
    space: SearchSpace  # validated, as the search will see it
    files: dict[str, str] = field(default_factory=dict)  # job-relative path -> text to write there


def parse_budget(value: Any, limit: float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"30m"``, ``"1.5h"``; at most ``limit`` (the server's cap)."""
    if value is None:
        return float(limit)
    if isinstance(value, bool):
        raise ValueError("options.budget: a number of seconds or a duration such as 90s, 30m, 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"options.budget: {str(value)[:40]!r} is not a duration such as 90s, 30m or 1h")
        seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError("options.budget: must be a positive duration")
    if seconds > limit:
        raise ValueError(f"options.budget: {seconds:g} s is over this server's limit of {limit:g} s "
                         "(--max-search-budget)")
    return seconds


def prepare_space(roots: dict[str, Path], inline: Any, space_file: str | None) -> PreparedSpace:
    """The validated space and the files its job needs; ``SpecError`` (422) lists every problem by key path."""
    from augment.serve import datasets

    if (inline is None) == (space_file is None):
        raise SpecError([SpecIssue("space", "a search job takes the space inline (space) or as ROOT/path of a "
                                            "space file under a data root (space_file), one of the two")])
    if space_file is not None:
        path = datasets.resolve(roots, space_file)
        if not path.is_file():
            raise SpecError([SpecIssue("space_file", f"{space_file} is not a file")])
        root = roots[space_file.strip("/").partition("/")[0]]
        data = parse_text(read_text(_confined(roots, path, "space_file")), space_file)

        def locate(ref: str, where: str) -> Path:
            # relative to the space file, ".." included (a space beside its specs), but never out of its root
            pure = PurePosixPath(ref)
            if "\x00" in ref or not ref or pure.is_absolute() or ref.startswith("\\") or ref[1:2] == ":":
                raise SpaceRefused(f"{where}: {ref[:80]!r} must be a path relative to the space file")
            target = Path(os.path.normpath(path.parent.joinpath(*pure.parts)))
            if not is_within(target, root):
                raise SpaceRefused(f"{where}: {ref} resolves outside the data root (symlinks leaving it are "
                                   "refused)")
            return target
    else:
        data = parse_text(inline, "space") if isinstance(inline, str) else inline

        def locate(ref: str, where: str) -> Path:
            try:
                return datasets.resolve(roots, ref, must_exist=False)
            except datasets.DatasetError as exc:
                raise SpaceRefused(f"{where}: {exc}", exc.status if exc.status in (403, 404) else 403) from None

    prepared = PreparedSpace(space=None)  # type: ignore[arg-type]
    checked, written = _localise(data, locate, prepared.files, roots)
    try:
        prepared.space = parse_space(checked, source=None, base=None)
    except SpecError as exc:  # messages name the client's file names, never the server's paths
        refs = _file_refs(checked, written, data)
        raise SpecError([SpecIssue(i.path, _replace_all(i.message, refs)) for i in exc.issues]) from None
    prepared.files[SPACE] = yaml.safe_dump(written, sort_keys=False, allow_unicode=True)
    return prepared


def _confined(roots: dict[str, Path], path: Path, where: str) -> Path:
    """The real path of a space or spec file, refused unless it lies inside a data root (symlinks resolved)."""
    try:
        return resolve_within_any(roots.values(), path)
    except OutsideRootError as exc:
        raise SpaceRefused(f"{where}: {exc} (symlinks leaving a root are refused)") from None


def _localise(data: Any, locate, files: dict[str, str], roots: dict[str, Path]) -> tuple[Any, Any]:
    """(the space with each ``file`` made the absolute path it was confined to, for validating now; the space
    with each ``file`` pointing at its copy in the job's folder, for the job)."""
    if not isinstance(data, dict) or not isinstance(data.get("pipelines"), list):
        return data, data
    issues: list[SpecIssue] = []
    checked, written = [], []
    for i, entry in enumerate(data["pipelines"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            checked.append(entry)
            written.append(entry)
            continue
        where = f"pipelines[{i}].file"
        target = locate(entry["file"], where)
        try:
            spec = load_spec(_confined(roots, target, where))  # read as the real path, inside a root
        except SpecError as exc:
            issues.extend(SpecIssue(where, f"{entry['file']}: {issue.message}") for issue in exc.issues)
            checked.append(entry)
            written.append(entry)
            continue
        copy = f"space-files/p{i}.yaml"
        files[copy] = dump_spec(spec)
        checked.append({**entry, "file": str(target)})
        written.append({**entry, "file": copy})
    if issues:
        raise SpecError(issues)
    return {**data, "pipelines": checked}, {**data, "pipelines": written}


def _file_refs(checked: Any, written: Any, original: Any) -> dict[str, str]:
    if not isinstance(checked, dict) or not isinstance(checked.get("pipelines"), list):
        return {}
    return {c["file"]: o["file"] for c, o in zip(checked["pipelines"], original["pipelines"])
            if isinstance(c, dict) and isinstance(c.get("file"), str) and c is not o}


def _replace_all(text: str, refs: dict[str, str]) -> str:
    for path, ref in sorted(refs.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, ref)
    return text


def planned_evaluations(space: SearchSpace, seed: int, rungs: int, eta: int) -> int:
    """Evaluations a search makes when it runs every rung (successive halving as ``run_search`` does it); a
    budget can stop it earlier. The final test measurement is not counted."""
    alive = len(space.candidates(seed=seed))
    total = 0
    for r in range(rungs):
        total += alive
        keep = max(1, math.ceil(alive / eta))
        if keep <= 1 or r == rungs - 1:
            break
        alive = keep
    return total


def search_command(train: Path, test: Path | None, opts, seconds: float) -> list[str]:
    args = ["search", "--train", str(train), "--space", SPACE, "--out", OUT, "--budget", f"{seconds:g}s",
            "--model", opts.model, "--seed", str(opts.seed), "--folds", str(opts.folds), "--rungs", str(opts.rungs),
            "--eta", str(opts.eta), "--final-repeats", str(opts.final_repeats),
            "--test-fraction", repr(float(opts.test_fraction))]
    if test is not None:
        args += ["--test", str(test)]
    for flag, value in (("--text-column", opts.text_column), ("--label-column", opts.label_column)):
        if value:
            args += [flag, value]
    for key, value in opts.model_options.items():
        args += ["--model-option", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return args


__all__ = ["SPACE", "OUT", "SpaceRefused", "PreparedSpace", "parse_budget", "prepare_space", "planned_evaluations",
           "search_command"]
