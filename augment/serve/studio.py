"""The studio page and the offline API docs page, rendered on the server (no template engine, no CDN)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from string import Template

from augment._version import __version__
from augment.serve.config import ServeConfig

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _json_for_script(value) -> str:
    """JSON safe inside <script type="application/json">: no '</' can close the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_studio(config: ServeConfig) -> str:
    from augment.serve.datasets import list_datasets

    found = list_datasets(config.data_roots)
    options = "\n".join(
        f'<option value="{html.escape(d["dataset"])}" data-modality="{d["modality"]}">'
        f'{html.escape(d["dataset"])} ({d["modality"]}{", " + d["annotations"] if d.get("annotations") else ""})'
        f'</option>' for d in found)
    boot = {"version": __version__, "roots": sorted(config.data_roots), "limits": {
        "max_items": config.limits.max_items, "max_outputs": config.limits.max_outputs}}
    page = Template((TEMPLATES / "studio.html").read_text("utf-8"))
    return page.substitute(version=html.escape(__version__), dataset_options=options or
                           '<option value="">no datasets: start the server with --data-root</option>',
                           boot=_json_for_script(boot))


def render_docs(openapi: dict) -> str:
    """Every endpoint with its parameters and body schema, from the OpenAPI document (also at /openapi.json)."""
    rows = []
    for path, methods in openapi.get("paths", {}).items():
        for method, op in methods.items():
            params = "".join(
                f"<li><code>{html.escape(p['name'])}</code> ({html.escape(p.get('in', ''))}"
                f"{', required' if p.get('required') else ''}) {html.escape(p.get('description', ''))}</li>"
                for p in op.get("parameters", []))
            body = op.get("requestBody", {}).get("content", {})
            bodies = "".join(
                f"<details><summary>{html.escape(ct)}</summary><pre>{html.escape(json.dumps(c.get('schema', {}), indent=2))}"
                f"</pre></details>" for ct, c in body.items())
            rows.append(f"<section><h2><span class=m>{method.upper()}</span> <code>{html.escape(path)}</code></h2>"
                        f"<p>{html.escape(op.get('summary', ''))}</p>{'<ul>' + params + '</ul>' if params else ''}"
                        f"{bodies}</section>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>augment API {html.escape(__version__)}"
            f"</title><link rel=stylesheet href=/static/studio.css></head><body class=docs><h1>augment API</h1>"
            f"<p>{html.escape(openapi.get('info', {}).get('description', ''))} Machine-readable: "
            f"<a href=/openapi.json>/openapi.json</a>. Errors are one line of JSON: "
            f"<code>{{\"error\": \"...\", \"status\": 422}}</code>.</p>{''.join(rows)}</body></html>")


__all__ = ["TEMPLATES", "render_studio", "render_docs"]
