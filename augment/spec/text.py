"""A spec file's text into plain data, defensively: specs come from other people. YAML is read with a safe loader
that also refuses aliases (no "billion laughs") and repeated keys, and files are capped in size. Nothing here
knows the op set, so reading a spec costs little: ``augment run`` reads it first, to start its workers' process
while this one builds the ops."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from augment.spec.errors import SpecError, SpecIssue

__all__ = ["MAX_SPEC_BYTES", "read_text", "parse_text"]

MAX_SPEC_BYTES = 1_000_000


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that rejects anchors/aliases: a spec has no use for them and they enable expansion bombs."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in a spec", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        # A repeated key would silently keep the last value: a pasted-over key must be an error, not a no-op.
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep)


# YAML 1.1 (PyYAML) reads `1e-3` and `1e308` as strings; YAML 1.2 and JSON read them as numbers. Strict types
# would then refuse a number the user meant as one, so floats without a dot resolve as floats here.
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_text(path: Path) -> str:
    """A spec file's text; ``SpecError`` when it is over ``MAX_SPEC_BYTES``, unreadable or not UTF-8."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError([SpecIssue("", f"cannot read spec: {exc.strerror or exc}")], str(path)) from None
    if size > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue("", f"spec is {size} bytes; the limit is {MAX_SPEC_BYTES}")], str(path))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([SpecIssue("", f"spec is not UTF-8 text ({exc.reason} at byte {exc.start})")], str(path))
    except OSError as exc:
        raise SpecError([SpecIssue("", f"cannot read spec: {exc.strerror or exc}")], str(path)) from None


def parse_text(text: str, source: str | None = None) -> Any:
    """Parse YAML or JSON text (JSON is YAML) into plain data, safely."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise SpecError([SpecIssue("", f"spec is larger than {MAX_SPEC_BYTES} bytes")], source)
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError([SpecIssue("", f"invalid YAML: {where}{problem}")], source) from None
    except RecursionError:
        raise SpecError([SpecIssue("", "invalid YAML: nested too deeply")], source) from None
