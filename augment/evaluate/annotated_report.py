"""report.json and a self-contained report.html for ``augment eval`` on detection and segmentation data.

Same rules as :mod:`.report`: nothing is loaded from anywhere (plots and samples are inlined PNGs), and every
piece of data put into the page goes through :func:`html.escape`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from string import Template

from augment.io.atomic import atomic_write_bytes

from .annotated_protocol import METRIC_NAMES, AnnotatedEvalResult
from .report_parts import (clean as _clean, escape as e, figure as _figure, fmt_ci as _fmt_ci, fmt_mde as _mde,
                           fmt_mean_std as _fmt_ms, json_block as _json_block, png_data_uri as _png_data_uri,
                           thumbnail_uri as _thumbnail_uri, verdict_class as _verdict_class, what_ran)

__all__ = ["annotated_report_json", "render_annotated_html", "write_annotated_report", "format_annotated_summary"]


def annotated_report_json(result: AnnotatedEvalResult) -> str:
    return json.dumps(_clean(result.to_dict()), indent=2, ensure_ascii=False, allow_nan=False)


def _size(s: dict) -> str:
    return f"all ({s['n']})" if s["size"] == "full" else str(s["n"])


def plot_runs(result: AnnotatedEvalResult) -> str:
    """Per metric: every run's paired difference (dots) and the verdict's interval (bar), per size and arm."""
    metrics = list(result.summary[0]["metrics"]) if result.summary else []
    fig = _figure(4.2 * max(1, len(metrics)), 3.2)
    for col, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), col + 1)
        ax.axhline(0, color="#000", linewidth=0.8)
        labels = []
        for j, s in enumerate(result.summary):
            c = s["metrics"][metric]
            ax.plot([j] * len(c["diffs"]), [100 * d for d in c["diffs"]], "o", color="#59636e", alpha=0.6)
            if c.get("ci"):
                lo, hi = (100 * v for v in c["ci"])
                mean = 100 * c["diff_mean"]
                ax.errorbar([j + 0.12], [mean], yerr=[[mean - lo], [hi - mean]], marker="s", capsize=5,
                            color="#0969da", linewidth=2)
            labels.append(f"{_size(s)}\n{s['arm']}")
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_ylabel("arm − baseline (points)")
        ax.set_title(f"{METRIC_NAMES[metric]}: runs (dots), verdict interval (bar)", fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png_data_uri(fig)


def _summary_table(result: AnnotatedEvalResult) -> str:
    metrics = list(result.summary[0]["metrics"]) if result.summary else []
    head = "".join(f"<th>baseline {e(METRIC_NAMES[m])}</th><th>arm</th><th>Δ (points)</th><th>interval</th>"
                   f"<th>MDE</th>" for m in metrics)
    rows = []
    for s in result.summary:
        cells = "".join(f"<td>{_fmt_ms(c['baseline'])}</td><td>{_fmt_ms(c['augmented'])}</td>"
                        f"<td>{100 * c['diff_mean']:+.1f}</td><td>{_fmt_ci(c['ci'])}</td><td>{_mde(c)}</td>"
                        for c in (s["metrics"][m] for m in metrics))
        rows.append(f'<tr><td>{e(_size(s))}</td><td class="l">{e(s["arm"])}</td><td>{s["repeats"]}</td>{cells}'
                    f'<td class="l"><span class="badge {_verdict_class(s["verdict"])}">{e(s["verdict"])}</span>'
                    "</td></tr>")
    return ('<div class="scroll"><table id="summary-table"><tr><th>training images</th><th class="l">arm</th>'
            f'<th>runs</th>{head}<th class="l">verdict</th></tr>' + "".join(rows) + "</table></div>")


def _runs_table(result: AnnotatedEvalResult) -> str:
    metrics = list(result.summary[0]["metrics"]) if result.summary else []
    rows = []
    for r in result.runs:
        vals = "".join(f"<td>{100 * r['metrics'][m]:.2f}</td>" for m in metrics)
        rows.append(f"<tr><td>{e(r['size'])}</td><td>{r['repeat']}</td><td>{e(r['arm'])}</td><td>{r['n_train']}</td>"
                    f"<td>{r['n_copies_unchanged_dropped']}</td>{vals}"
                    f"<td>{r['timings']['train_predict_seconds']:.1f}</td>"
                    f"<td>{'yes' if r.get('reused_baseline') else ''}</td></tr>")
    head = "".join(f"<th>{e(METRIC_NAMES[m])} %</th>" for m in metrics)
    return ('<div class="scroll"><table id="runs-table"><tr><th>size</th><th>run</th><th>arm</th><th>train n</th>'
            f"<th>unchanged copies dropped</th>{head}<th>seconds</th><th>reused baseline</th></tr>"
            + "".join(rows) + "</table></div>")


def _sample_grid(result: AnnotatedEvalResult) -> str:
    from augment.preview_annotations import draw_targets

    if not result.samples:
        return '<p class="note">No samples requested.</p>'
    n = max(len(s["copies"]) for s in result.samples)
    rows = []
    for s in result.samples:
        image, targets = s["original"]
        cells = [f'<td><img class="sample-original" src="{_thumbnail_uri(draw_targets(image, targets), 160)}" '
                 f'alt="original {e(s["id"])}"><div class="cap">{e(s["id"])}</div></td>']
        for (out, moved), ops in zip(s["copies"], s["ops"]):
            cells.append(f'<td><img class="sample-copy" src="{_thumbnail_uri(draw_targets(out, moved), 160)}" '
                         f'alt="augmented copy"><div class="cap">{e(", ".join(ops)) or "(unchanged)"}</div></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>copy {i + 1}</th>" for i in range(n))
    return (f'<table class="grid" id="sample-grid"><tr><th>original</th>{head}</tr>' + "".join(rows) + "</table>")


def render_annotated_html(result: AnnotatedEvalResult) -> str:
    name = result.pipeline.get("name") or "pipeline"
    title = f"augment eval — {name} ({result.task})"
    d, st, model = result.data, result.protocol["statistics"], result.model
    skipped = d["skipped"].get("train_count", 0) + d["skipped"].get("test_count", 0)
    mismatch = d["class_mismatch"]
    warn = []
    if skipped:
        warn.append(f"{skipped} unreadable images or bad annotations were skipped (report.json: data.skipped).")
    if mismatch["only_in_train"] or mismatch["only_in_test"]:
        warn.append("Classes present in only one of train/test: " + "; ".join(
            f"only in {w}: {', '.join(mismatch[k])}" for w, k in (("train", "only_in_train"), ("test", "only_in_test"))
            if mismatch[k]))
    objects = (f" · {d['train_pool']['objects']} / {d['test']['objects']} objects"
               if d["train_pool"].get("objects") is not None else "")
    parts = [
        f"<h1>{e(title)}</h1>",
        f'<p class="sub">{e(d["format"])} {e(result.task)} data · model <strong>{e(model["name"])}</strong>'
        + (f' at {model["image_size"]}×{model["image_size"]} px' if model.get("image_size") else "")
        + f' · {len(result.classes)} classes · training pool '
        f'{d["train_pool"]["n"]} · held-out {d["test"]["n"]}{objects} · {e(result.protocol["design"])} · spec hash '
        f'<code>{e(result.pipeline.get("spec_hash") or "–")}</code> · {result.timings["wall_seconds"]:.0f} s</p>'
        + "".join(f'<p class="note warn">{e(w)}</p>' for w in warn),
        "<h2>Verdicts</h2>",
        '<ul class="verdicts" id="verdicts">'
        + "".join(f'<li class="{_verdict_class(s["verdict"])}">{e(s["sentence"])}</li>' for s in result.summary)
        + "</ul>",
        f'<p class="note" id="rule">Rule: {e(st["test"])} on {e(METRIC_NAMES[st["metric"]])} at α = {st["alpha"]:g}; '
        f'{e(st["sequential"])}. {e(st["verdict_rule"])}. "No detectable effect" is not proof of no effect: it '
        "states the smallest change this run could have detected with 80% power.</p>",
        "<h2>Paired differences with their interval</h2>",
        f'<figure><img class="plot" id="plot-runs" src="{plot_runs(result)}" alt="paired differences per run">'
        "</figure>",
        _summary_table(result),
        "<h2>Augmented samples</h2>",
        '<p class="note">Training images (left) with their annotations, beside augmented copies with the moved '
        "annotations; captions name the ops applied.</p>",
        _sample_grid(result),
        "<h2>Protocol</h2>",
        f"<ul><li>Budget: {e(result.protocol['budget_rule'])}.</li>"
        f"<li>{e(result.protocol['common_random_numbers'])}.</li>"
        f"<li>Train/test overlap (exact pixel hash): {d['overlap']['train_images_equal_to_test']} training images "
        "equal a held-out image; all were dropped from training.</li>"
        f"<li>Model: {e(model['kind'])}</li></ul>",
        "<details><summary>Every run</summary>" + _runs_table(result) + "</details>",
        "<details><summary>Pipeline spec</summary>" + _json_block(result.pipeline) + "</details>",
        "<details><summary>Configuration, seeds and versions</summary>" + _json_block(
            {"config": result.config, "model": model, "protocol": result.protocol, "versions": result.versions,
             "timings": result.timings}) + "</details>",
    ]
    template = Template(resources.files("augment.evaluate").joinpath("templates/report.html").read_text("utf-8"))
    return template.substitute(title=e(title), body="\n".join(parts))


def write_annotated_report(result: AnnotatedEvalResult, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "html": out / "report.html"}
    atomic_write_bytes(paths["json"], annotated_report_json(result).encode("utf-8"))
    atomic_write_bytes(paths["html"], render_annotated_html(result).encode("utf-8"))
    return paths


def format_annotated_summary(result: AnnotatedEvalResult) -> str:
    """A plain-text table of the verdicts (for the CLI)."""
    metric = result.protocol["statistics"]["metric"]
    name = METRIC_NAMES[metric]
    lines = [f"{'size':>10} {'arm':>10} {'runs':>4} {'baseline ' + name:>16} {'arm':>13} {'diff':>6} "
             f"{'interval':>15} {'MDE':>6}  verdict"]
    for s in result.summary:
        c = s["metrics"][metric]
        size = f"all({s['n']})" if s["size"] == "full" else str(s["n"])
        lines.append(f"{size:>10} {s['arm']:>10} {s['repeats']:>4} {_fmt_ms(c['baseline']):>16} "
                     f"{_fmt_ms(c['augmented']):>13} {100 * c['diff_mean']:>+6.1f} {_fmt_ci(c['ci']):>15} "
                     f"{_mde(c):>6}  {s['verdict']}")
    st = result.protocol["statistics"]
    lines.append(f"rule: {st['test']} on {name}, alpha {st['alpha']:g}; {st['sequential']}")
    lines += [f"{line[0].lower()}{line[1:]}" for line in what_ran(result)]
    return "\n".join(lines)
