"""Renders ``augment/ops/typed.py`` from the registry: one class per op, its keyword arguments and types taken
from the op's parameter schema, and one ``...Drawn`` named tuple per image op, its fields taken from what the
op's sampler returns. ``python -m augment.ops._typed_gen`` writes the file; a test checks that rendering again gives the
same text, so the typed API can never drift from the registry.
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from augment.ops.catalog import builtin_registry
from augment.ops.registry import ImageContext, OpDef

__all__ = ["render", "class_name", "drawn_fields"]

_NAMES = {"hsv": "HSV", "eda": "EDA", "clahe": "CLAHE", "fancy_pca": "FancyPCA", "rgb_shift": "RGBShift",
          "iso_noise": "ISONoise", "bbox_safe_random_crop": "BBoxSafeRandomCrop"}
_SCALAR = {"integer": "int", "number": "float", "boolean": "bool", "string": "str", "null": "None"}


def class_name(op: str) -> str:
    return _NAMES.get(op) or "".join(part.capitalize() for part in op.split("_"))


def _hint(prop: dict) -> tuple[str, str]:
    """(argument type, attribute type) of one JSON-schema property."""
    if prop.get("range"):
        item = _SCALAR[(prop.get("prefixItems") or [prop.get("items", {})])[0].get("type", "number")]
        return f"{item} | tuple[{item}, {item}]", f"tuple[{item}, {item}]"
    if "enum" in prop:
        lit = "Literal[" + ", ".join(repr(v) for v in prop["enum"]) + "]"
        return lit, lit
    if "anyOf" in prop:
        parts = [_hint(p) for p in prop["anyOf"]]
        return " | ".join(a for a, _ in parts), " | ".join(b for _, b in parts)
    if prop.get("type") == "array" and "prefixItems" in prop:
        inner = ", ".join(_hint(p)[1] for p in prop["prefixItems"])
        return f"tuple[{inner}]", f"tuple[{inner}]"
    if prop.get("type") in _SCALAR:
        t = _SCALAR[prop["type"]]
        return t, t
    return "Any", "Any"


def _value_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, list):
        inner = sorted({_value_type(x) for x in v})
        return f"list[{inner[0] if len(inner) == 1 else ' | '.join(inner)}]" if inner else "list[Any]"
    return type(v).__name__


def _sample_params(op: OpDef):
    required = {n: 8 for n, f in op.params.model_fields.items() if f.is_required()}  # crop: height/width
    return op.params(**required)


def drawn_fields(op: OpDef, seeds: int = 8) -> dict[str, str]:
    """The fields an image op's sampler returns and their types, from draws with the default parameters."""
    fields: dict[str, set[str]] = {}
    for seed in range(seeds):
        drawn = op.sample(_sample_params(op), np.random.default_rng(seed), ImageContext(40, 50, 3))
        for key, value in drawn.items():
            fields.setdefault(key, set()).add(_value_type(value))
    return {k: " | ".join(sorted(v)) for k, v in fields.items()}


def _render_op(op: OpDef) -> list[str]:
    name = class_name(op.name)
    schema = op.params.model_json_schema()
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    lines: list[str] = []
    drawn = f"{name}Drawn" if op.modality == "image" else "NoValues"
    if op.modality == "image":
        fields = drawn_fields(op)
        lines += ["", "", f"class {name}Drawn(NamedTuple):",
                  f'    """Values drawn by ``{op.name}`` for one output."""', ""]
        lines += [f"    {k}: {t}" for k, t in fields.items()] or ["    pass"]
    doc = [f'    """{op.summary[0].upper()}{op.summary[1:]} (``{op.name}``, {op.modality}).']
    for pname, prop in props.items():
        field = op.params.model_fields[pname]
        bits = [b for b in (prop.get("description"),) if b]
        bounds = {k: prop[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in prop}
        if prop.get("range"):
            item = (prop.get("prefixItems") or [prop.get("items", {})])[0]
            bounds = {k: item[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in item}
        sym = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        if bounds:
            bits.append(", ".join(f"{sym[k]} {v}" for k, v in bounds.items()))
        default = "required" if field.is_required() else f"default {field.default!r}"
        doc += textwrap.wrap(f"{pname}: {'; '.join(bits + [default])}", 112, initial_indent=" " * 8,
                             subsequent_indent=" " * 12, break_on_hyphens=False)
    doc.append("        p: probability that the op runs")
    doc.append('    """')
    lines += ["", "", "@_register", f"class {name}(Op):", doc[0], "", "    Args:", *doc[1:]]
    lines += ["", f'    op_name: ClassVar[str] = "{op.name}"', f'    modality: ClassVar[str] = "{op.modality}"',
              f"    drawn_type: ClassVar[type] = {drawn}"]
    args, attrs = [], []
    for pname, prop in props.items():
        arg_t, attr_t = _hint(prop)
        attrs.append(f"    {pname}: {attr_t}")
        if pname in required:
            args.append(f"{pname}: {arg_t}")
        else:
            args.append(f"{pname}: {arg_t} = {op.params.model_fields[pname].default!r}")
    lines += attrs
    signature = ", ".join(["self", "*", *args, "p: float = 1.0"])
    lines.append("")
    if len(f"    def __init__({signature}) -> None:") <= 120:
        lines.append(f"    def __init__({signature}) -> None:")
    else:
        lines.append("    def __init__(")
        lines += [f"        {a}," for a in ["self", "*", *args, "p: float = 1.0"]]
        lines.append("    ) -> None:")
    call = ", ".join([f"{n}={n}" for n in props] + ["p=p"])
    if len(f"        super().__init__({call})") <= 120:
        lines.append(f"        super().__init__({call})")
    else:
        lines += ["        super().__init__(", *[f"            {n}={n}," for n in [*props, "p"]], "        )"]
    return lines


def render() -> str:
    # built-in ops only: plugin ops are typed by their own classes, library transforms by op_class(name)
    ops = builtin_registry().ops("image") + builtin_registry().ops("text")
    names = [class_name(op.name) for op in ops]
    drawn = [f"{class_name(op.name)}Drawn" for op in ops if op.modality == "image"]
    out = [
        '"""Typed ops, one class per registry op. GENERATED by python -m augment.ops._typed_gen from the registry: do not',
        "edit by hand (tests/test_api_typed.py fails when this file and the registry disagree).",
        "",
        ">>> from augment import ops",
        ">>> ops.Zoom(scale=(0.9, 1.1), p=0.5)",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any, ClassVar, Literal, NamedTuple",
        "",
        "from augment.ops._typed_base import Op, _register",
        "",
        "__all__ = [",
        *[f'    "{n}",' for n in ["NoValues", *names, *drawn]],
        "]",
        "",
        "",
        "class NoValues(NamedTuple):",
        '    """An op that draws no values (text ops record their changes instead)."""',
    ]
    for op in ops:
        out += _render_op(op)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """``python -m augment.ops._typed_gen`` writes augment/ops/typed.py; ``--check`` exits 1 if it is stale."""
    from pathlib import Path

    target = Path(__file__).with_name("typed.py")
    text = render()
    if "--check" in argv:
        stale = not target.is_file() or target.read_text(encoding="utf-8") != text
        print(f"{target} is {'stale: run python -m augment.ops._typed_gen' if stale else 'up to date'}")
        return 1 if stale else 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
