"""mkdocs hooks: pages generated at build time from the code, so they cannot drift from it.

``<!-- augment:ops -->`` becomes the op reference (the registry, as ``augment ops`` prints it) and
``<!-- augment:openapi -->`` the service's endpoints (from the FastAPI app's OpenAPI schema, also served as
``openapi.json`` in the site).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

_OPENAPI: dict | None = None


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def ops_reference() -> str:
    from augment.ops.describe import _bounds_text, describe_ops

    out = []
    for modality in ("image", "text"):
        out.append(f"## {modality.capitalize()} ops\n")
        for op in describe_ops(modality):
            out.append(f"### `{op['op']}`\n\n{op['summary']}\n")
            if not op["params"]:
                out.append("No parameters.\n")
                continue
            out.append("| parameter | type | bounds | default | meaning |\n|---|---|---|---|---|")
            for p in op["params"]:
                bounds = _bounds_text(p["bounds"]) if p.get("bounds") else ""
                out.append(f"| `{p['name']}` | {_cell(p['type'])} | {_cell(bounds)} | `{_cell(repr(p['default']))}` | "
                           f"{_cell(p.get('description', ''))} |")
            out.append("")
    return "\n".join(out)


def openapi() -> dict:
    global _OPENAPI
    if _OPENAPI is None:
        from augment.serve.app import create_app
        from augment.serve.config import ServeConfig

        with tempfile.TemporaryDirectory() as tmp:
            _OPENAPI = create_app(ServeConfig(jobs_root=Path(tmp) / "jobs")).openapi()
    return _OPENAPI


def api_reference() -> str:
    schema = openapi()
    out = [f"Version {schema['info'].get('version', '')}; the schema itself: [openapi.json](openapi.json).\n"]
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            out.append(f"### `{method.upper()} {path}`\n")
            if op.get("summary"):
                out.append(f"**{op['summary']}**\n")
            if op.get("description"):
                out.append(op["description"].strip() + "\n")
            params = op.get("parameters") or []
            if params:
                out.append("| parameter | in | required | type |\n|---|---|---|---|")
                for p in params:
                    kind = p.get("schema", {}).get("type", "") or "any"
                    out.append(f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | {kind} |")
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            if body:
                out.append("Request body: " + ", ".join(f"`{t}`" for t in body) + "\n")
            codes = ", ".join(f"`{code}` {_cell(r.get('description', ''))}" for code, r in op.get("responses", {}).items())
            if codes:
                out.append(f"Responses: {codes}\n")
    return "\n".join(out)


def results_sections(prefix: str) -> str:
    """The sections of benchmarks/results.md whose heading starts with ``prefix``, one level down."""
    text = (Path(__file__).resolve().parents[1] / "benchmarks" / "results.md").read_text(encoding="utf-8")
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            keep = line[3:].startswith(prefix)
        if keep:
            out.append("#" + line if line.startswith("#") else line)
    if not out:
        raise ValueError(f"benchmarks/results.md has no section starting with {prefix!r}")
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:
    for match in re.finditer(r"<!-- augment:results (.+?) -->", markdown):
        markdown = markdown.replace(match.group(0), results_sections(match.group(1).strip()))
    if "<!-- augment:ops -->" in markdown:
        markdown = markdown.replace("<!-- augment:ops -->", ops_reference())
    if "<!-- augment:openapi -->" in markdown:
        markdown = markdown.replace("<!-- augment:openapi -->", api_reference())
    return markdown


def on_files(files, config):
    from mkdocs.structure.files import File

    files.append(File.generated(config, "openapi.json", content=json.dumps(openapi(), indent=2)))
    return files
