"""The pieces both evaluation reports (classification and annotated) are built from: JSON cleaning, HTML
escaping, figures and thumbnails as data URIs, number formats, and what an evaluation actually ran."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .planning import time_line

__all__ = ["escape", "clean", "json_block", "figure", "png_data_uri", "thumbnail_uri", "fmt_mean_std", "fmt_ci",
           "fmt_mde", "fmt_points", "verdict_class", "what_ran"]


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure(width: float, height: float):
    # The Figure API alone: no pyplot, no matplotlib.use(), so a user's pyplot backend is never touched;
    # savefig renders through Agg for PNG whatever backend pyplot uses.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def thumbnail_uri(arr: np.ndarray, max_side: int = 128) -> str:
    from PIL import Image

    a = np.asarray(arr)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    im = Image.fromarray(np.ascontiguousarray(a))
    if im.mode not in ("RGB", "RGBA", "L"):
        im = im.convert("RGB")
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fmt_mean_std(m: dict) -> str:
    return f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f}"


def fmt_ci(ci) -> str:
    if not ci:
        return "–"
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def json_block(obj: Any) -> str:
    return f"<pre>{escape(json.dumps(clean(obj), indent=2, ensure_ascii=False))}</pre>"


def verdict_class(v: str) -> str:
    return {"helps": "helps", "hurts": "hurts", "equivalent": "equivalent"}.get(v, "none")


def what_ran(result: Any) -> list[str]:
    """What the evaluation actually did, from its runs (not from the options): the status, the epochs each size
    trained (a small set's epochs are scaled up to reach the minimum number of steps), the notes of the plan."""
    proto = result.protocol
    lines = []
    status = proto.get("status")
    if status and status != "complete":
        lines.append(f"Status: {status}" + (" (the verdicts use the runs that finished)" if status != "complete"
                                            else ""))
    epochs: dict[str, set] = {}
    for r in result.runs:
        ran = (r.get("model_info") or {}).get("epochs_run")
        if ran is not None:
            epochs.setdefault(r["size"], set()).add(int(ran))
    if epochs:
        def span(v: set) -> str:
            return str(min(v)) if len(v) == 1 else f"{min(v)}-{max(v)}"
        lines.append("Trained: " + "; ".join(f"size {lab}: {span(v)} epochs per fit" for lab, v in epochs.items()))
    plan = proto.get("epochs") or {}
    if plan.get("planned") is not None and "pilot_seconds" in plan:
        lines.append(f"Planned: {plan['planned']} of {plan['configured']} epochs against the time budget "
                     f"({plan['why']})")
    elif plan.get("planned") is not None and plan["planned"] != plan.get("configured"):
        lines.append(f"Planned: {plan['planned']} of {plan['configured']} epochs ({plan['why']})")
    stopping = proto.get("stopping") or {}
    if stopping:
        lines.append("Runs: " + "; ".join(f"size {lab}: {s['runs']} ({s['reason']})" for lab, s in stopping.items())
                     + (f"; {proto['jobs']} worker process{'es' if proto.get('jobs', 1) > 1 else ''}"
                        if proto.get("jobs") else ""))
        # one line per size the time budget cut short, and why (the largest size has the budget first)
        lines += [f"Cut short for time: size {lab} after {s['runs']} run{'' if s['runs'] == 1 else 's'}: {s['why']}"
                  for lab, s in stopping.items() if s.get("why")]
    fits = proto.get("fits") or {}
    if fits.get("from_journal"):
        lines.append(f"Resumed: {fits['from_journal']} fits taken from the journal, {fits['trained']} trained now")
    lines += [f"Note: {n}" for n in proto.get("notes") or []]
    timings = getattr(result, "timings", None)
    spent = time_line(timings) if isinstance(timings, dict) else None
    if spent:
        lines.append(f"Time: {spent}")
    return lines


def fmt_points(x: float) -> str:
    """A difference of two fractions in signed percentage points: 0.021 -> "+2.1"."""
    return f"{100 * x:+.1f}"


def fmt_mde(c: dict) -> str:
    return f"±{100 * c['mde']:.1f}" if c.get("mde") is not None else "–"
