"""Per-op importance over a leaderboard: below ``search`` and ``output``, which both use it."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["op_importance"]


def op_importance(rows: list[dict], top: int | None = None) -> list[dict]:
    """How often each op appears in the top candidates compared with all evaluated candidates."""
    if not rows:
        return []
    top = top or max(3, math.ceil(len(rows) / 4))
    head = rows[:top]
    ops = sorted({o for r in rows for o in r["ops"]})
    out = []
    for op in ops:
        in_top = sum(op in r["ops"] for r in head) / len(head)
        overall = sum(op in r["ops"] for r in rows) / len(rows)
        # rung 0 is the one rung every candidate ran, on the same folds and seeds: a like-for-like comparison
        with_op = [r["rung0_gain"] for r in rows if op in r["ops"] and r.get("rung0_gain") is not None]
        without = [r["rung0_gain"] for r in rows if op not in r["ops"] and r.get("rung0_gain") is not None]
        out.append({"op": op, "share_of_top": round(in_top, 3), "share_overall": round(overall, 3),
                    "lift": round(in_top - overall, 3),
                    "mean_gain_with": float(np.mean(with_op)) if with_op else None,
                    "mean_gain_without": float(np.mean(without)) if without else None})
    out.sort(key=lambda r: -r["lift"])
    return out
