"""What a search leaves in its output folder: best.yaml, leaderboard.json and report.html.

The HTML page loads nothing from anywhere: sample grids are PNGs inlined as base64 data URIs.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from augment.io.atomic import atomic_write_bytes
from augment.spec import dump_spec, parse_spec

OPTIMISM = ("The selection-fold gains are optimistic: the winner is the candidate that looked best on these very "
            "folds, so part of its lead is luck (the winner's curse). Only the test-set number below, measured once "
            "on data the search never read, is an honest estimate of what the chosen pipeline gives.")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def _ci(ci: Any) -> str:
    return "n/a" if not ci else f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def write_outputs(result, space, by_id: dict) -> dict[str, Path]:
    out = Path(result.out)
    paths = {}
    if result.winner is not None:
        spec = by_id[result.winner["candidate"]].spec
        data = spec.to_dict()
        data["copies"] = by_id[result.winner["candidate"]].copies
        data["name"] = f"{space.name}-best"
        caveat = "" if result.info.get("beat_baseline") else "no candidate beat the baseline on the selection folds; "
        data["description"] = (f"{caveat}chosen by augment search ({result.winner['candidate']}); test gain "
                               f"{_pct(result.final['winner']['gain'])} points, {result.final['winner']['verdict']}")
        best = parse_spec(data)  # validated: best.yaml is a normal spec
        paths["best"] = out / "best.yaml"
        atomic_write_bytes(paths["best"], dump_spec(best).encode("utf-8"))
    board = {"format": "augment-search-leaderboard", "format_version": 1, "info": result.info,
             "note": OPTIMISM, "winner": result.winner["candidate"] if result.winner else None,
             "test": result.final, "candidates": result.leaderboard,
             "op_importance": _importance(result.leaderboard)}
    paths["leaderboard"] = out / "leaderboard.json"
    atomic_write_bytes(paths["leaderboard"], (json.dumps(board, indent=1, default=float) + "\n").encode("utf-8"))
    paths["report"] = out / "report.html"
    atomic_write_bytes(paths["report"], _html(result, board, space, by_id).encode("utf-8"))
    return paths


def _importance(rows):
    from augment.search.importance import op_importance

    return op_importance(rows)


def _sample_items(path: str, n: int = 6) -> list:
    from augment.evaluate.data import load_dataset

    loaded = load_dataset(path)
    idx = np.linspace(0, len(loaded) - 1, min(n, len(loaded))).astype(int)
    return [loaded.items[i] for i in idx]


def _samples(cand, items: list) -> str:
    """A grid (images: original, then three augmented copies per row) or a table (text) of augmented examples."""
    from augment.compile.pipeline import Pipeline

    pipe = Pipeline(cand.spec)
    if cand.spec.modality == "text":
        outs = pipe.batch(items, list(range(len(items))))
        rows = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in zip(items, outs))
        return f"<table><tr><th>original</th><th>augmented</th></tr>{rows}</table>"
    from PIL import Image

    size = 64
    tiles = []
    for i, x in enumerate(items):
        row = [x] + [pipe(x, seed=1000 * i + k) for k in range(3)]
        tiles.append(np.concatenate([np.asarray(Image.fromarray(t).resize((size, size))) for t in row], axis=1))
    grid = np.concatenate(tiles, axis=0)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="original, then three augmented copies, per row" src="{uri}">'


def _final_rows(final: dict) -> str:
    rows = []
    for role, f in final.items():
        rows.append(f"<tr><td>{html.escape(role.replace('_', ' '))}</td><td>{html.escape(f['candidate'])}</td>"
                    f"<td>{100 * f['baseline']:.1f}%</td><td>{100 * f['augmented']:.1f}%</td>"
                    f"<td>{_pct(f['gain'])}</td><td>{_ci(f['ci'])}</td><td>{_pct(f['mde']) if f['mde'] else 'n/a'}</td>"
                    f"<td><b>{html.escape(f['verdict'])}</b></td><td>{f['runs']}</td></tr>")
    return "".join(rows)


def _html(result, board: dict, space, by_id: dict) -> str:
    info = result.info
    cand_rows = "".join(
        f"<tr><td>{r['rank']}</td><td>{html.escape(r['candidate'])}</td><td>{r['kind']}</td>"
        f"<td>{html.escape(' + '.join(r['ops']))}</td><td>{r['copies']}</td><td>{r['rung']}</td>"
        f"<td>{_pct(r['gain'])}</td><td>{_ci(r['ci'])}</td><td>{html.escape(r['verdict'])}</td><td>{r['runs']}</td></tr>"
        for r in result.leaderboard)
    imp_rows = "".join(
        f"<tr><td>{html.escape(r['op'])}</td><td>{100 * r['share_of_top']:.0f}%</td>"
        f"<td>{100 * r['share_overall']:.0f}%</td><td>{100 * r['lift']:+.0f}</td>"
        f"<td>{_pct(r['mean_gain_with'])}</td><td>{_pct(r['mean_gain_without'])}</td></tr>"
        for r in board["op_importance"])
    grids = []
    try:
        items = _sample_items(info["search_data"]) if result.leaderboard else []
    except Exception:  # noqa: BLE001 - samples must never cost the report
        items = []
    for r in result.leaderboard[:3]:
        try:
            body = _samples(by_id[r["candidate"]], items)
        except Exception as exc:  # noqa: BLE001 - a sample grid must never cost the report
            body = f"<p>(samples unavailable: {html.escape(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)})</p>"
        spec = html.escape(json.dumps(r["spec"]["steps"]))
        grids.append(f"<h3>#{r['rank']} {html.escape(r['candidate'])}</h3><p><code>{spec}</code></p>{body}")
    split = info["split"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>augment search: {html.escape(info['space'])}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}.warn{{background:#fff4d6;padding:8px}}</style></head><body>
<h1>augment search: {html.escape(info['space'])}</h1>
<p>{info['candidates']} candidates, model {html.escape(str(info['model']))}, {info['folds']}-fold cross-validation of
{info['n_search']} search examples; successive halving (keep 1/{info['eta']}): {html.escape('; '.join(info['rungs']))}.
Stopped: {html.escape(info['stopped'])}. Test data: {html.escape(split['kind'])}. Wall time {info['wall_seconds']} s.</p>
<h2>Test set: one measurement on data the search never saw</h2>
<table><tr><th>role</th><th>candidate</th><th>baseline acc</th><th>augmented acc</th><th>gain (points)</th>
<th>interval</th><th>min. detectable effect</th><th>verdict</th><th>runs</th></tr>{_final_rows(result.final)}</table>
<p class="warn">{html.escape(OPTIMISM)}</p>{'' if info.get('beat_baseline') else
'<p class="warn"><b>No candidate beat the baseline on the selection folds</b>: the winner is the least harmful '
'candidate, not a recommendation to augment.</p>'}
<h2>Leaderboard (selection folds)</h2>
<p>Gain: mean accuracy difference (augmented minus baseline, points) on the cross-validation folds of the rung
shown; interval: Nadeau-Bengio corrected paired t from the eval machinery.</p>
<table><tr><th>#</th><th>id</th><th>kind</th><th>ops</th><th>copies</th><th>rung</th><th>gain</th><th>interval</th>
<th>verdict</th><th>runs</th></tr>{cand_rows}</table>
<h2>Per-op importance</h2>
<p>Share of the top candidates that contain the op, against its share among all evaluated candidates; mean rung-0
gain of candidates with and without it.</p>
<table><tr><th>op</th><th>in top</th><th>overall</th><th>lift</th><th>gain with</th><th>gain without</th></tr>{imp_rows}</table>
<h2>Samples of the top three</h2>{''.join(grids)}
</body></html>
"""


__all__ = ["OPTIMISM", "write_outputs"]
