"""The op listing printed by ``augment ops``, generated from the registry and the param schemas."""

from __future__ import annotations

from typing import Any

from augment.ops.catalog import registry

__all__ = ["describe_ops", "format_ops", "describe_library", "format_library"]


def _type_text(prop: dict, defs: dict) -> str:
    """A schema's type in words, whatever its nesting: a nested model's keys, a union's members with their
    bounds and choices, a list's items (a plugin's params may use any of them)."""
    if "$ref" in prop:
        sub = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
        return "{" + ", ".join(f"{n}: {_type_text(p, defs)}" for n, p in sub.get("properties", {}).items()) + "}"
    if "enum" in prop:
        return "one of " + ", ".join(map(str, prop["enum"]))
    if "const" in prop:
        return repr(prop["const"])
    if "anyOf" in prop:
        return " or ".join(_type_text(p, defs) for p in prop["anyOf"])
    if "prefixItems" in prop:
        text = "[" + ", ".join(_type_text(p, defs) for p in prop["prefixItems"]) + "]"
        return f"{text} range" if prop.get("range") else text
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        return f"list of {_type_text(prop['items'], defs)}"
    bounds = {k: prop[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in prop}
    return prop.get("type", "any") + (f" ({_bounds_text(bounds)})" if bounds else "")


def _field_info(name: str, prop: dict, required: bool, defs: dict | None = None) -> dict:
    info: dict[str, Any] = {"name": name}
    defs = defs or {}
    if "prefixItems" in prop and not prop.get("range"):  # a fixed-length tuple (a region, a colour, a grid)
        info["type"] = "[" + ", ".join(p.get("type", "any") for p in prop["prefixItems"]) + "]"
        bounds = {}
    elif prop.get("range"):
        item = (prop.get("prefixItems") or [prop.get("items", {})])[0]
        info["type"] = f"[{item.get('type', 'number')}, {item.get('type', 'number')}] range or a fixed {item.get('type', 'number')}"
        bounds = {k: item[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in item}
    elif "enum" in prop:
        info["type"] = "one of " + ", ".join(map(str, prop["enum"]))
        bounds = {}
    elif "anyOf" in prop or "$ref" in prop or (prop.get("type") == "array" and "items" in prop):
        info["type"] = _type_text(prop, defs)
        bounds = {}
    else:
        info["type"] = prop.get("type", "any")
        bounds = {k: prop[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in prop}
    if bounds:
        info["bounds"] = bounds
    info["default"] = "required" if required else prop.get("default")
    if prop.get("description"):
        info["description"] = prop["description"]
    return info


def describe_ops(modality: str | None = None, batched: frozenset[str] | None = None) -> list[dict]:
    """The listing; with ``batched`` (the ops with a batched tensor kernel, ``augment.compile.batch.BATCHED_OPS``)
    each image op says whether ``pipe.batch`` runs it in one pass or per sample."""
    listing = []
    for op in registry().ops(modality):
        schema = op.params.model_json_schema()
        required = set(schema.get("required", []))
        params = [_field_info(n, p, n in required, schema.get("$defs")) for n, p in schema.get("properties", {}).items()]
        for info in params:  # a default_factory's value is not in the schema
            field = op.params.model_fields.get(info["name"])
            if info["default"] is None and field is not None and field.default_factory is not None:
                info["default"] = _plain(field.get_default(call_default_factory=True))
        entry = {"op": op.name, "modality": op.modality, "summary": op.summary, "params": params}
        if batched is not None and op.modality == "image":
            entry["tensor_batch"] = "batched" if op.name in batched else "per sample"
        listing.append(entry)
    return listing


def _plain(value: Any) -> Any:
    """A default as JSON would show it (the listing is also printed with --json)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _bounds_text(bounds: dict) -> str:
    sym = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    return ", ".join(f"{sym[k]} {v}" for k, v in bounds.items())


def format_ops(listing: list[dict]) -> str:
    lines = []
    for op in listing:
        batch = f"; tensor batches: {op['tensor_batch']}" if op.get("tensor_batch") else ""
        lines.append(f"{op['op']}  ({op['modality']}{batch}) - {op['summary']}")
        if not op["params"]:
            lines.append("    (no parameters)")
        for p in op["params"]:
            extra = f"; {_bounds_text(p['bounds'])}" if p.get("bounds") else ""
            desc = f"  - {p['description']}" if p.get("description") else ""
            lines.append(f"    {p['name']}: {p['type']}{extra}; default {p['default']!r}{desc}")
        lines.append("")
    return "\n".join(lines)


def describe_library(library: str | None = None, schema: bool = False) -> list[dict]:
    """Every transform of ``library`` (both libraries when None) with whether it can be named in a spec
    (``op: albumentations.CLAHE``): the usable ones with their keywords as parameters (from the constructor
    signature, typed by the library's own schema where it has one), how they treat annotations and tensor batches;
    the others with the reason (the tested lists). ``schema`` adds each usable one's JSON schema."""
    from augment.ops.library_ops import qualification_table, resolve, torchvision_table

    out = []
    for lib in ([library] if library else ["albumentations", "torchvision"]):
        table = qualification_table()["transforms"] if lib == "albumentations" else torchvision_table()
        for name, entry in sorted(table.items()):
            item: dict[str, Any] = {"op": f"{lib}.{name}", "library": lib, "usable": bool(entry["qualifies"])}
            if entry["qualifies"]:
                op = resolve(f"{lib}.{name}")
                op_schema = op.params.model_json_schema()
                required = set(op_schema.get("required", []))
                item["summary"] = op.summary
                item["keywords"] = list(op_schema["properties"])
                item["params"] = [_field_info(n, p, n in required) for n, p in op_schema["properties"].items()]
                item["annotations"] = op.annotations if op.annotations in ("pixel", "geometric") else "refused"
                if item["annotations"] == "refused":
                    item["annotations_reason"] = op.annotations
                item["tensor_batch"] = "per sample"
                if schema:
                    item["schema"] = op_schema
            else:
                item["reason"] = entry["reason"]
            out.append(item)
    return out


def format_library(listing: list[dict]) -> str:
    lines = []
    for item in listing:
        if item["usable"]:
            lines.append(f"{item['op']} - {item['summary']}")
            lines.append(f"    keywords: {', '.join(item['keywords']) or 'none'}")
        else:
            lines.append(f"{item['op']} (not usable by name) - {item['reason']}")
    return "\n".join(lines) + "\n"
