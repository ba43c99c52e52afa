"""report.json and a self-contained report.html.

The HTML page loads nothing from anywhere: plots are matplotlib (Agg) PNGs inlined as base64 data URIs, image
samples likewise, CSS is inline, and there is no script. Every piece of data inserted into the page (class
names, ids, texts, paths, op names) goes through :func:`html.escape`.
"""

from __future__ import annotations

import difflib
import html
import json
import time
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from augment.io.atomic import atomic_write_bytes

from .image_model import preprocess_images
from .protocol import EvalResult
from .report_parts import (clean as _clean, escape as e, figure as _figure, fmt_ci as _fmt_ci,
                           fmt_mean_std as _fmt_ms, fmt_points as _fmt_points, json_block as _json_block, png_data_uri as _png_data_uri,
                           thumbnail_uri as _thumbnail_uri, verdict_class as _verdict_class, what_ran)

__all__ = [
    "report_json",
    "plot_accuracy",
    "plot_difference",
    "plot_per_class",
    "highlight_changes",
    "render_html",
    "write_report",
    "format_summary",
]

_COLOURS = ["#59636e", "#0969da", "#bf3989", "#9a6700", "#1a7f37", "#8250df"]


# --------------------------------------------------------------------------------------------- json


def report_json(result: EvalResult) -> str:
    return json.dumps(_clean(result.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)


# --------------------------------------------------------------------------------------------- plots


def _size_ticks(result: EvalResult) -> tuple[list[str], list[str]]:
    done = {s["size"] for s in result.summary}  # a size stopped before its first run has nothing to plot
    sizes = [s for s in result.protocol["sizes"] if s["label"] in done]
    return [s["label"] for s in sizes], [f"all ({s['n']})" if s["label"] == "full" else str(s["n"]) for s in sizes]


def _size_axis(ax, x, ticks, ylabel: str, title: str, legend: bool) -> None:
    """The training-size x axis and labels shared by the accuracy and difference plots."""
    ax.set_xticks(x, ticks)
    ax.set_xlim(-0.5, len(x) - 0.5)
    ax.set_xlabel("training examples")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)


def plot_accuracy(result: EvalResult) -> str:
    labels, ticks = _size_ticks(result)
    x = np.arange(len(labels))
    arms = [a["name"] for a in result.protocol["arms"]]
    fig = _figure(9.5, 3.6)
    for col, metric, title in ((0, "accuracy", "Accuracy"), (1, "macro_f1", "Macro-F1")):
        ax = fig.add_subplot(1, 2, col + 1)
        width = 0.6 / max(1, len(arms))
        for j, arm in enumerate(arms):
            means, stds = [], []
            for lab in labels:
                if arm == "baseline":
                    row = next(s for s in result.summary if s["size"] == lab)
                    m = row["metrics"].get(metric, {}).get("baseline")
                else:
                    row = next(s for s in result.summary if s["size"] == lab and s["arm"] == arm)
                    m = row["metrics"].get(metric, {}).get("augmented")
                means.append(100 * m["mean"] if m else np.nan)
                stds.append(100 * m["std"] if m else 0.0)
            off = (j - (len(arms) - 1) / 2) * width
            ax.errorbar(x + off, means, yerr=stds, marker="o", capsize=4, linewidth=1.6,
                        color=_COLOURS[j % len(_COLOURS)], label=arm if arm != "baseline" else "baseline (no aug.)")
        _size_axis(ax, x, ticks, f"{title} (%)", f"{title} on the held-out set (mean ± std over repeats)",
                   legend=col == 0)
    fig.tight_layout()
    return _png_data_uri(fig)


def plot_difference(result: EvalResult) -> str:
    labels, ticks = _size_ticks(result)
    x = np.arange(len(labels))
    arms = [a["name"] for a in result.protocol["arms"][1:]]
    fig = _figure(9.5, 3.4)
    for col, metric, title in ((0, "accuracy", "accuracy"), (1, "macro_f1", "macro-F1")):
        ax = fig.add_subplot(1, 2, col + 1)
        ax.axhline(0, color="#000", linewidth=0.8)
        extent = [1.0]
        for j, arm in enumerate(arms):
            off = (j - (len(arms) - 1) / 2) * min(0.15, 0.7 / max(1, len(arms)))
            for i, lab in enumerate(labels):
                row = next((s for s in result.summary if s["size"] == lab and s["arm"] == arm), None)
                m = row["metrics"].get(metric) if row else None
                if not m:
                    continue
                mean = 100 * m["diff_mean"]
                colour = _COLOURS[(j + 1) % len(_COLOURS)]
                extent.append(abs(mean))
                if m.get("ci"):
                    lo, hi = (100 * v for v in m["ci"])
                    extent += [abs(lo), abs(hi)]
                    ax.errorbar([x[i] + off], [mean], yerr=[[mean - lo], [hi - mean]], marker="o", capsize=5,
                                color=colour, linewidth=2, label=arm if i == 0 else None)
                else:
                    ax.plot([x[i] + off], [mean], marker="o", color=colour, label=arm if i == 0 else None)
                if m.get("bootstrap_ci"):
                    blo, bhi = (100 * v for v in m["bootstrap_ci"])
                    ax.plot([x[i] + off + 0.04] * 2, [blo, bhi], color=colour, linewidth=0.8, linestyle=":")
        lim = min(1.25 * max(extent), 105.0)  # a difference of accuracies lies within ±100 points
        ax.set_ylim(-lim, lim)
        _size_axis(ax, x, ticks, "arm − baseline (points)",
                   f"Paired difference in {title}: verdict interval (bar), bootstrap (dotted)", legend=col == 0)
    fig.tight_layout()
    return _png_data_uri(fig)


def plot_learning_curves(result: EvalResult) -> str | None:
    """Held-out accuracy (solid) and training loss (dashed, right axis) per epoch, per arm, largest size."""
    rows = [s for s in result.summary if s["size"] == result.summary[-1]["size"]] if result.summary else []
    if not rows or not rows[0]["generalization"]["baseline"]["learning_curve"]:
        return None
    fig = _figure(9.5, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    ax2 = ax.twinx()
    curves = [("baseline", rows[0]["generalization"]["baseline"]["learning_curve"])]
    curves += [(s["arm"], s["generalization"]["augmented"]["learning_curve"]) for s in rows]
    for j, (name, curve) in enumerate(curves):
        colour = _COLOURS[j % len(_COLOURS)]
        pts = [(p["epoch"], 100 * p["held_out_accuracy"]) for p in curve if "held_out_accuracy" in p]
        if pts:
            ax.plot(*zip(*pts), marker=".", color=colour, label=name)
        ax2.plot([p["epoch"] for p in curve], [p["train_loss"] for p in curve], color=colour, linestyle="--",
                 linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out accuracy (%)")
    ax2.set_ylabel("training loss (dashed)")
    ax.set_title("Learning curves (mean over runs, largest training size)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png_data_uri(fig)


def plot_per_class(result: EvalResult, arm: str) -> str | None:
    rows = [p for p in result.per_class if p["arm"] == arm]
    if not rows:
        return None
    classes = [c["class"] for c in rows[0]["classes"]]
    x = np.arange(len(classes))
    fig = _figure(min(2.0 + 0.55 * len(classes) * max(1, len(rows)) / 2, 14), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(rows)
    for j, p in enumerate(rows):
        diffs = np.array([100 * c["diff_recall"] for c in p["classes"]])
        cis = [c.get("diff_recall_ci") for c in p["classes"]]
        err = np.array([[d - 100 * ci[0], 100 * ci[1] - d] if ci else [0.0, 0.0] for d, ci in zip(diffs, cis)]).T
        label = f"all ({p['n']})" if p["size"] == "full" else str(p["n"])
        ax.bar(x + (j - (len(rows) - 1) / 2) * width, diffs, width=width, label=f"{label} examples",
               color=_COLOURS[(j + 1) % len(_COLOURS)], yerr=err, capsize=2, error_kw={"linewidth": 0.7})
    ax.axhline(0, color="#000", linewidth=0.8)
    ax.set_xticks(x, [c if len(c) <= 14 else c[:13] + "…" for c in classes], rotation=45 if len(classes) > 6 else 0,
                  ha="right" if len(classes) > 6 else "center")
    ax.set_ylabel("recall change (points)")
    ax.set_title(f"Per-class recall change, {arm} vs baseline (mean over runs, unadjusted per-class intervals)",
                 fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png_data_uri(fig)


# --------------------------------------------------------------------------------------------- samples


def _at_model_size(arr: np.ndarray, size: int | None) -> np.ndarray:
    """The image as the benchmark model sees it (resized to its input size), for the report."""
    if not size:
        return arr
    x = preprocess_images([arr], size)[0]
    return np.clip((x.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def _image_grid(samples: list[dict], model_size: int | None = None) -> str:
    n = max(len(s["copies"]) for s in samples)
    head = "".join(f"<th>copy {i + 1}</th>" for i in range(n))
    if model_size:
        head += f"<th>copy 1 at {model_size}×{model_size} (model input)</th>"
    rows = []
    for s in samples:
        cells = [f'<td><img class="sample-original" src="{_thumbnail_uri(s["original"])}" '
                 f'alt="original {e(s["id"])}"><div class="cap">{e(s["label"])}<br>{e(s["id"])}</div></td>']
        for c, copy in enumerate(s["copies"]):
            ops = s.get("ops", [None] * n)[c]
            same = np.array_equal(np.asarray(copy), np.asarray(s["original"]))
            cap = "(unchanged)" if same or ops == [] else (e(", ".join(ops)) if ops else "")
            cells.append(f'<td><img class="sample-copy" src="{_thumbnail_uri(copy)}" alt="copy {c + 1}">'
                         f'<div class="cap">{cap}</div></td>')
        if model_size and s["copies"]:
            cells.append(f'<td><img class="sample-model" src="{_thumbnail_uri(_at_model_size(s["copies"][0], model_size))}" '
                         f'alt="copy 1 as the model sees it"><div class="cap">{model_size} px</div></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="grid" id="sample-grid"><tr><th>original</th>{head}</tr>' + "".join(rows) + "</table>")


def inline_changes(original: str, augmented: str) -> str:
    """HTML of the augmented text with every change visible in place: deleted words (also the old place of a
    swapped word) in <del>, inserted or replacing words in <mark>."""
    a, b = original.split(), augmented.split()
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(e(" ".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(f"<del>{e(' '.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<mark>{e(' '.join(b[j1:j2]))}</mark>")
    return " ".join(p for p in out if p)


def highlight_changes(original: str, augmented: str) -> tuple[str, str]:
    """HTML for (original, augmented): removed/replaced words in <del>, inserted/replacing words in <mark>."""
    a, b = original.split(), augmented.split()
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    left, right = [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            left.append(e(" ".join(a[i1:i2])))
            right.append(e(" ".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(f"<del>{e(' '.join(a[i1:i2]))}</del>")
        if j2 > j1:
            right.append(f"<mark>{e(' '.join(b[j1:j2]))}</mark>")
    return " ".join(p for p in left if p), " ".join(p for p in right if p)


def _text_list(samples: list[dict]) -> str:
    items = []
    for s in samples:
        copies = []
        for c, text in enumerate(s["copies"]):
            ops = s.get("ops", [None] * len(s["copies"]))[c]
            op_note = f' <span class="ops">[{e(", ".join(ops) if ops else "no op applied")}]</span>' if ops is not None else ""
            if text.split() == s["original"].split():
                copies.append(f'<li class="unchanged"><em>(unchanged)</em> {e(text)}{op_note}</li>')
                continue
            copies.append(f"<li>{inline_changes(s['original'], text) or '<em>(empty)</em>'}{op_note}</li>")
        items.append(f'<li><div class="orig"><strong>{e(s["label"])}</strong> · {e(s["id"])}: {e(s["original"])}</div>'
                     f"<ol>{''.join(copies)}</ol></li>")
    return f'<ul class="texts" id="sample-texts">{"".join(items)}</ul>'


# --------------------------------------------------------------------------------------------- page


def _signed(v: float) -> str:
    cls = "pos" if v > 0 else "neg" if v < 0 else ""
    return f'<span class="{cls}">{_fmt_points(v)}</span>'


def _summary_table(result: EvalResult) -> str:
    rows = []
    for s in result.summary:
        acc = s["metrics"]["accuracy"]
        f1 = s["metrics"].get("macro_f1")
        size = f"all ({s['n']})" if s["size"] == "full" else str(s["n"])
        mde = f"±{100 * acc['mde']:.1f}" if acc.get("mde") is not None else "–"
        rows.append(
            f'<tr><td>{e(size)}</td><td class="l">{e(s["arm"])}</td><td>{s["repeats"]}</td>'
            f"<td>{_fmt_ms(acc['baseline'])}</td><td>{_fmt_ms(acc['augmented'])}</td>"
            f"<td>{_signed(acc['diff_mean'])}</td><td>{_fmt_ci(acc['ci'])}</td><td>{mde}</td>"
            f"<td>{_fmt_ci(acc.get('bootstrap_ci'))}</td>"
            + (f"<td>{_fmt_ms(f1['baseline'])}</td><td>{_fmt_ms(f1['augmented'])}</td><td>{_signed(f1['diff_mean'])}</td>"
               f"<td>{_fmt_ci(f1['ci'])}</td>" if f1 else "<td>–</td>" * 4)
            + f'<td class="l"><span class="badge {_verdict_class(s["verdict"])}">{e(s["verdict"])}</span></td></tr>')
    return ('<div class="scroll"><table id="summary-table"><tr><th>training examples</th><th class="l">arm</th>'
            "<th>runs</th><th>baseline acc. %</th><th>arm acc. %</th><th>Δ acc.</th><th>verdict interval</th>"
            "<th>MDE (80% power)</th><th>bootstrap CI</th>"
            "<th>baseline F1 %</th><th>arm F1 %</th><th>Δ F1</th><th>F1 interval</th>"
            '<th class="l">verdict</th></tr>' + "".join(rows) + "</table></div>")


def _variance_table(result: EvalResult) -> str:
    rows = []
    for s in result.summary:
        v = s.get("variance") or {}
        g = s.get("generalization") or {}

        def pts(x):
            return "–" if x is None else f"{100 * x:.1f}"

        def gap(side):
            d = g.get(side) or {}
            return (f"{pts(d.get('train_accuracy'))} / {pts(d.get('held_out_accuracy'))} "
                    f"(gap {pts(d.get('gap'))})")
        corr = v.get("correlation")
        removed = v.get("variance_removed_by_pairing")
        size = f"all ({s['n']})" if s["size"] == "full" else str(s["n"])
        rows.append(f'<tr><td>{e(size)}</td><td class="l">{e(s["arm"])}</td><td>{pts(v.get("baseline_sd"))}</td>'
                    f'<td>{pts(v.get("augmented_sd"))}</td><td>{pts(v.get("difference_sd"))}</td>'
                    f'<td>{"–" if corr is None else f"{corr:.2f}"}</td>'
                    f'<td>{"–" if removed is None else f"{100 * removed:.0f}%"}</td>'
                    f"<td>{gap('baseline')}</td><td>{gap('augmented')}</td></tr>")
    return ('<div class="scroll"><table id="variance-table"><tr><th>training examples</th><th class="l">arm</th>'
            "<th>baseline sd (points)</th><th>arm sd</th><th>difference sd</th><th>correlation</th>"
            "<th>variance removed by pairing</th><th>baseline train / held-out acc. %</th>"
            "<th>arm train / held-out acc. %</th></tr>" + "".join(rows) + "</table></div>")


def _per_class_table(result: EvalResult, arm: str) -> str:
    rows = [p for p in result.per_class if p["arm"] == arm]
    if not rows:
        return ""
    classes = [c["class"] for c in rows[0]["classes"]]
    head = "".join(f"<th>{e('all (%d)' % p['n'] if p['size'] == 'full' else p['n'])}: recall base → arm "
                   "(change, interval)</th>" for p in rows)
    body = []
    for ci, cname in enumerate(classes):
        cells = []
        for p in rows:
            c = p["classes"][ci]
            if c.get("interval_withheld"):
                cells.append(f"<td>{c['baseline_correct']:g} → {c['augmented_correct']:g} of {c['support']} correct "
                             "(too few test items for an interval)</td>")
                continue
            cells.append(f"<td>{100 * c['baseline_recall']:.1f} → {100 * c['augmented_recall']:.1f} "
                         f"({_signed(c['diff_recall'])}, {_fmt_ci(c.get('diff_recall_ci'))})</td>")
        body.append(f'<tr><td class="l">{e(cname)}</td><td>{rows[0]["classes"][ci]["support"]}</td>{"".join(cells)}</tr>')
    return (f'<table class="per-class"><tr><th class="l">class</th><th>test support</th>{head}</tr>'
            + "".join(body) + "</table>")


def _runs_table(result: EvalResult) -> str:
    rows = []
    for r in result.runs:
        m = r["metrics"]
        info = r.get("model_info", {})
        acc = f"{100 * m['accuracy']:.2f}" if "accuracy" in m else "–"
        f1 = f"{100 * m['macro_f1']:.2f}" if "macro_f1" in m else "–"
        rows.append(
            f"<tr><td>{e(r['size'])}</td><td>{r['repeat']}</td><td>{e(r['arm'])}</td><td>{r['n_train']}</td>"
            f"<td>{r['n_val']}</td><td>{r['n_copies_unchanged_dropped']}</td><td>{acc}</td><td>{f1}</td>"
            f"<td>{e(info.get('epochs_run', '–'))}</td><td>{e(info.get('best_epoch', '–'))}</td>"
            f"<td>{r['timings']['train_predict_seconds']:.2f}</td>"
            f"<td>{'yes' if r.get('reused_baseline') else ''}</td></tr>")
    return ("<div class=\"scroll\"><table id=\"runs-table\"><tr><th>size</th><th>repeat</th><th>arm</th><th>train n</th><th>val n</th>"
            "<th>unchanged copies dropped</th><th>acc. %</th><th>macro-F1 %</th><th>epochs</th><th>best epoch</th>"
            "<th>seconds</th><th>reused baseline</th></tr>" + "".join(rows) + "</table></div>")


def render_html(result: EvalResult) -> str:
    name = result.pipeline.get("name") or "pipeline"
    title = f"augment eval — {name}"
    d = result.data
    ov = d["overlap"]
    model = result.model
    st = result.protocol["statistics"]
    input_note = (f' · model input <strong>{model["image_size"]}×{model["image_size"]} px</strong> '
                  f'({e(model.get("image_size_rule", ""))})' if model.get("image_size") else "")
    budget = (model.get("regularisation") or {}).get("budget") if isinstance(model.get("regularisation"), dict) else None
    mismatch = d.get("class_mismatch") or {}
    skipped = d.get("skipped") or {}
    warn = []
    if mismatch.get("only_in_train") or mismatch.get("only_in_test"):
        warn.append("Classes present in only one of train/test: "
                    + "; ".join(f"only in {w}: " + ", ".join(f"{e(c)} ({n})" for c, n in mismatch[k].items())
                                for w, k in (("train", "only_in_train"), ("test", "only_in_test")) if mismatch.get(k)))
    n_skipped = skipped.get("train_count", 0) + skipped.get("test_count", 0)
    if n_skipped:
        warn.append(f"{n_skipped} unreadable items were skipped (listed in report.json under data.skipped).")
    parts = [
        f"<h1>{e(title)}</h1>",
        f'<p class="sub">{e(result.modality)} data · model <strong>{e(model.get("name"))}</strong>{input_note} · '
        f'{len(result.classes)} classes · training pool {d["train_pool"]["n"]} · held-out {d["test"]["n"]} · '
        f'{e(result.protocol.get("design", ""))} · '
        f'spec hash <code>{e(result.pipeline.get("spec_hash") or "–")}</code> · '
        f'{result.timings["wall_seconds"]:.0f} s</p>'
        + (f'<p class="sub" id="budget">Training budget: {e(budget)}.</p>' if budget else "")
        + "".join(f'<p class="sub what-ran">{e(line)}.</p>' for line in what_ran(result))
        + "".join(f'<p class="note warn">{w}</p>' for w in warn),
        "<h2>Verdicts</h2>",
        '<ul class="verdicts" id="verdicts">'
        + "".join(f'<li class="{_verdict_class(s["verdict"])}">{e(s["sentence"])}</li>' for s in result.summary)
        + "</ul>",
        f'<p class="note" id="rule">Rule: {e(st["test"])} at α = {st["alpha"]:g}; {e(st["sequential"])}. '
        f'{e(st["verdict_rule"])}. "No detectable effect" is not proof of no effect: it states the smallest '
        "change this run could have detected with 80% power.</p>",
        "<h2>Accuracy versus training-set size</h2>",
        f'<figure><img class="plot" id="plot-accuracy" src="{plot_accuracy(result)}" '
        'alt="accuracy and macro-F1 versus training-set size"><figcaption>Error bars: standard deviation over '
        "repeats (different training subsets, same held-out set).</figcaption></figure>",
        "<h2>Difference with its interval</h2>",
        f'<figure><img class="plot" id="plot-difference" src="{plot_difference(result)}" '
        'alt="paired difference with confidence interval"><figcaption>Solid bars: the verdict\'s interval '
        "(paired t over runs at the nominal level of the sequential rule); dotted lines: two-level paired "
        "bootstrap (descriptive).</figcaption></figure>",
        _summary_table(result),
        "<h2>Where the noise is, and the generalization gap</h2>",
        '<p class="note">Standard deviations over runs, in accuracy points. Pairing (common random numbers) '
        "removes the noise the arms share; the verdict uses the difference's spread. Train accuracy is measured "
        "on the original training examples at the end of training.</p>",
        _variance_table(result),
    ]
    curves = plot_learning_curves(result)
    if curves:
        parts.append(f'<figure><img class="plot" id="plot-curves" src="{curves}" alt="learning curves"></figure>')
    parts.append("<h2>Per-class changes</h2>")
    for arm in [a["name"] for a in result.protocol["arms"][1:]]:
        uri = plot_per_class(result, arm)
        if uri:
            parts.append(f'<figure><img class="plot plot-per-class" src="{uri}" '
                         f'alt="per-class recall change, {e(arm)}"></figure>')
            parts.append(_per_class_table(result, arm))
    if not result.per_class:
        parts.append('<p class="note">The model reported only aggregate scores: no per-class breakdown.</p>')
    parts.append("<h2>Augmented samples</h2>")
    if result.samples:
        if result.modality == "image":
            parts.append('<p class="note">Training examples (left) beside augmented copies; captions name the ops '
                         "applied.</p>")
            parts.append(_image_grid(result.samples, model.get("image_size")))
        else:
            parts.append('<p class="note">Training sentences with augmented copies; <mark>highlighted</mark> words '
                         "are inserted or replacing, <del>struck</del> words deleted, replaced or moved.</p>")
            parts.append(_text_list(result.samples))
    else:
        parts.append('<p class="note">No samples requested.</p>')
    split = d["split"]
    split_text = (f"given test set {e(split['test'])}" if split["kind"] == "given" else
                  e(split["kind"]) if "fraction" not in split else
                  f"held out {split['fraction']:.0%} of {e(split['train'])} once (stratified, seed {split['seed']})")
    reg = model.get("regularisation")
    parts += [
        "<h2>Protocol</h2>",
        "<ul>",
        f"<li>Held-out set: {split_text}; {d['test']['n']} examples.</li>",
        f"<li>Train/test overlap found in the input (exact content hash): {ov['train_examples_equal_to_test']} "
        f"training examples equal a held-out example; all were dropped from training. Duplicates within the "
        f"training pool: {ov['duplicates_within_training_pool']}.</li>",
        f"<li>Budget rule: {e(result.protocol['budget_rule'])}.</li>",
        f"<li>Validation / early stopping: {e(result.protocol['validation'])}.</li>",
        f"<li>Augmented copies identical to their source dropped: "
        f"{'yes' if result.protocol['drop_unchanged_copies'] else 'no'}; copies equal to a held-out example "
        "are always dropped.</li>",
        f"<li>Model: {e(model.get('kind', model.get('name')))}.</li>",
        "</ul>",
        "<details><summary>Regularisation and model settings</summary>" + _json_block(
            {"model": model, "regularisation": reg}) + "</details>",
        "<details><summary>Every run</summary>" + _runs_table(result) + "</details>",
        "<details><summary>Pipeline spec</summary>" + _json_block(result.pipeline) + "</details>",
        "<details><summary>Configuration, seeds and versions</summary>" + _json_block(
            {"config": result.config, "protocol": result.protocol, "versions": result.versions,
             "timings": result.timings}) + "</details>",
    ]
    template = Template(resources.files("augment.evaluate").joinpath("templates/report.html").read_text("utf-8"))
    return template.substitute(title=e(title), body="\n".join(parts))


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (created if needed); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "html": out / "report.html"}
    t = time.perf_counter()
    page = render_html(result)
    if isinstance(result.timings, dict) and result.timings.get("phases"):  # the JSON, written last, says it
        result.timings["report_seconds"] = round(time.perf_counter() - t, 3)
    atomic_write_bytes(paths["json"], report_json(result).encode("utf-8"))
    atomic_write_bytes(paths["html"], page.encode("utf-8"))
    if isinstance(result.timings, dict) and result.timings.get("phases"):
        result.timings["report_seconds"] = round(time.perf_counter() - t, 3)
    return paths


def format_summary(result: EvalResult) -> str:
    """A plain-text table of the verdicts (for the CLI)."""
    lines = [f"{'size':>10} {'arm':>16} {'runs':>4} {'baseline acc':>13} {'arm acc':>13} {'diff':>6} "
             f"{'interval':>15} {'MDE':>6}  verdict"]
    caveats = []
    for s in result.summary:
        acc = s["metrics"]["accuracy"]
        size = f"all({s['n']})" if s["size"] == "full" else str(s["n"])
        mde = f"±{100 * acc['mde']:.1f}" if acc.get("mde") is not None else "–"
        mark = ""
        if s.get("test_set_caveat") and acc.get("bootstrap_ci") is not None:
            mark = "*"
            lo, hi = acc["bootstrap_ci"]
            caveats.append(f"{size} {s['arm']}: {100 * lo:+.1f} to {100 * hi:+.1f}")
        lines.append(f"{size:>10} {s['arm']:>16} {s['repeats']:>4} {_fmt_ms(acc['baseline']):>13} "
                     f"{_fmt_ms(acc['augmented']):>13} {100 * acc['diff_mean']:>+6.1f} {_fmt_ci(acc['ci']):>15} "
                     f"{mde:>6}  {s['verdict']}{mark}")
    if caveats:  # the verdict's interval is over training runs on this test set; the CLI must not hide that
        test_n = ((result.data or {}).get("test") or {}).get("n")
        lines.append(f"* on this test set{f' of {test_n} examples' if test_n else ''} only: with its own sampling "
                     f"error (bootstrap over runs and test examples: {'; '.join(caveats)} points) a new test set "
                     "of the same size may not show it; a larger --test would tell")
    st = result.protocol["statistics"]
    lines.append(f"rule: {st['test']}, alpha {st['alpha']:g}; {st['sequential']}")
    lines += [f"{line[0].lower()}{line[1:]}" for line in what_ran(result)]
    return "\n".join(lines)
