"""Quality of the text ops' copies on SST-2 sentences: what a careful user would throw away.

    .venv/bin/python benchmarks/bench_text_quality.py [--limit 1000] [--copies 4] [--skip-backtranslation]

Per op, over ``--copies`` copies of each sentence drawn as ``augment run`` draws them (same seeds, and the same
redraw-then-drop of copies equal to their source or to another copy when the code has it):

- unchanged %: copies written that equal their source; "4+ cw" the same over sentences of 4 or more content
  words (the target is <= 2%); raw %: op outputs equal to their source before any redraw;
- duplicate %: copies written that equal an earlier copy of the same source;
- dropped %: copies the run would not write (redrawn without success; 0 for code without redraws);
- caps %: replacements/insertions that bring a capital into a lower-case sentence (target <= 1%);
- zipf<3 %: replacements/insertions with a word rarer than Zipf 3 in wordfreq (target <= 1%);
- filter rejects %: written copies the label-preservation filter would reject (n/a for code without it);
- probe hits: outputs of a probe set of common words with sexual senses (know, come, love, screw, bang, lay,
  ...) that gain one of those senses' words (target 0).

Two more tables (issue 12):

- ``--multiword``: synonym replacement with multi-word synonyms allowed (``max_words`` 3): the share of copies
  that got a multi-word replacement, and ``--show N`` random ones (sentence, word, phrase) to check by hand;
- ``--pivots spa,cat,glg,epo,hbs``: per Apertium pivot, one round trip of each sentence: % identical to the
  source, % rejected by the op's guard (per reason), % kept. ``--stratified`` draws the sentences as a seeded
  stratified sample instead of the file's first lines (SST-2's train.tsv is sorted by label).

Run it with ``PYTHONPATH`` pointing at another checkout (e.g. an export of main) to get the "before" numbers:
it only uses APIs both versions have (spec -> Pipeline -> run_batch).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
DEFAULT_TSV = HERE.parent.parent / "shared" / "datasets" / "text" / "sst2" / "train.tsv"

OPS = {
    "synonym_replace": {"op": "synonym_replace", "params": {"rate": 0.1}},
    "random_insert": {"op": "random_insert", "params": {"rate": 0.1}},
    "random_swap": {"op": "random_swap", "params": {"rate": 0.1}},
    "random_delete": {"op": "random_delete", "params": {"rate": 0.1}},
    "eda": {"op": "eda"},
    "keyboard_typo": {"op": "keyboard_typo"},
    "char_swap": {"op": "char_swap"},
    "back_translate": {"op": "back_translate"},
}
WORD_CHOICE_OPS = {"synonym_replace", "random_insert", "eda"}

PROBES = ["i know him well", "best known for the role", "come here now", "they came home late", "i loved it",
          "she loves the film", "screw the lid on", "bang the drum", "lay the book down", "they laid it there",
          "the ball game", "a blow to the head", "we made it", "he had a good time", "i get it", "sleep well",
          "the jazz band", "a bed of roses", "do it again", "the score was high"]
# words of the sexual senses those probes have in WordNet; ambiguous ones (know, love, lay, ball, score, bang)
# are left out so that a legitimate synonym is never counted
SEXUAL = {"bonk", "bonked", "bonks", "screw", "screwed", "screws", "bed", "bedded", "hump", "humped", "jazz",
          "jazzed", "fuck", "fucked", "fucks", "eff", "effed", "sleep together", "slept together",
          "roll in the hay", "rolled in the hay", "make love", "made love", "makes love", "get laid", "got laid",
          "have sex", "had sex", "has sex", "have it off", "had it off", "have it away", "lie with", "lay with",
          "cum", "ejaculate", "ejaculated", "seed", "seeded", "make out", "made out", "have intercourse",
          "had intercourse", "be intimate", "sleep with", "slept with", "get it on", "got it on", "nookie",
          "shag", "shagged", "have a go at it"}


def read_rows(path: Path, limit: int, stratified: bool = False, seed: int = 0) -> list[tuple[str, str]]:
    """(label, sentence) pairs: the first ``limit``, or a seeded sample with the file's label shares."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            label, text = line.split("\t", 1)
            out.append((label, text.strip()))
        if len(out) == limit and not stratified:
            break
    if not stratified or limit >= len(out):
        return out[:limit]
    import numpy as np

    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, (label, _) in enumerate(out):
        by_label.setdefault(label, []).append(i)
    picked: list[int] = []
    for label, members in sorted(by_label.items()):
        k = round(limit * len(members) / len(out))
        picked += rng.choice(members, size=min(k, len(members)), replace=False).tolist()
    return [out[i] for i in sorted(picked)]


def label_filter(sentences: list[str], labels: list[str]):
    """The label-preservation filter at the settings the README suggests, fit on these sentences; None for
    code without one."""
    try:
        from augment.text.filter import FilterRules, LabelFilter
    except ImportError:
        return None
    return LabelFilter(list(range(len(sentences))), sentences, labels,
                       FilterRules(label_confidence=0.9, folds=5, min_similarity=0.3, length_ratio=(0.5, 2.0)))


def _pipeline(step: dict):
    from augment.compile.pipeline import Pipeline
    from augment.spec import parse_spec

    return Pipeline(parse_spec({"version": 1, "name": "q", "modality": "text", "seed": 7, "copies": 1,
                                "steps": [step]}))


def draw_copies(pipe, sentences: list[str], copies: int) -> tuple[list[list], list[list], int]:
    """(raw op results per sentence, written results per sentence, dropped count), as ``augment run`` draws."""
    from augment.run import text_job

    seeds = [[text_job.row_seed(pipe.spec.seed, "q.tsv", i, k) for k in range(copies)]
             for i in range(len(sentences))]
    flat = pipe.run_batch([s for s in sentences for _ in range(copies)], [x for row in seeds for x in row])
    raw = [flat[i * copies:(i + 1) * copies] for i in range(len(sentences))]
    if not hasattr(text_job, "_distinct_copies"):  # code without redraws writes every copy
        return raw, raw, 0
    from augment.io.text_formats import TextRow

    rows = tuple(TextRow(index=i, line=i + 1, text=s, label="1") for i, s in enumerate(sentences))
    task = text_job.TextTask("q.tsv", 0, rows, copies, False)
    result = SimpleNamespace(redrawn=0, dropped_unchanged=0, dropped_duplicate=0, dropped_filtered=0,
                             filter_rejections={})
    by_row = text_job._distinct_copies(pipe, SimpleNamespace(keep_unchanged=False), task, result)
    written = [[res for _, _, res, err in by_row.get(i, []) if err is None] for i in range(len(sentences))]
    return raw, written, result.dropped_unchanged + result.dropped_duplicate


def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return min(zipf_frequency(w, "en") for w in word.split()) if word.split() else 8.0


def _step(name: str) -> dict:
    step = dict(OPS[name])
    if name == "back_translate":  # several pivots where the code has them: copies then differ
        from augment.ops.text_ops import BackTranslateParams

        if "pivots" in BackTranslateParams.model_fields:
            step["params"] = {"pivots": ["spa", "cat"]}
    return step


def measure(name: str, sentences: list[str], copies: int, content: list[int], flt=None) -> dict:
    pipe = _pipeline(_step(name))
    start = time.perf_counter()
    raw, written, dropped = draw_copies(pipe, sentences, copies)
    seconds = time.perf_counter() - start
    n = len(sentences) * copies
    m = {"op": name, "seconds": seconds}
    m["raw_unchanged"] = sum(r.output == s for s, rs in zip(sentences, raw) for r in rs) / n
    n_written = sum(len(w) for w in written)
    m["unchanged"] = sum(r.output == s for s, ws in zip(sentences, written) for r in ws) / max(1, n_written)
    long = [i for i, c in enumerate(content) if c >= 4]
    m["unchanged_4cw"] = sum(r.output == sentences[i] for i in long for r in written[i]) / max(
        1, sum(len(written[i]) for i in long))
    dup = 0
    for ws in written:
        seen = set()
        for r in ws:
            dup += r.output in seen
            seen.add(r.output)
    m["duplicate"] = dup / max(1, n_written)
    m["dropped"] = dropped / n
    if flt is not None:
        items = [(i, sentences[i], r.output) for i, ws in enumerate(written) for r in ws]
        verdicts = flt.judge_many(items)
        m["filtered"] = sum(v is not None for v in verdicts) / max(1, len(items))
        m["filtered_label"] = sum(v == "label" for v in verdicts) / max(1, len(items))
    if name in WORD_CHOICE_OPS:
        words = [c for ws in written for r in ws for step in r.applied for c in step.get("changes", [])
                 if c.get("action") in ("substitute", "insert") and c.get("after")]
        m["replacements"] = len(words)
        m["caps"] = sum(c["after"] != c["after"].lower() for c in words) / max(1, len(words))
        m["zipf3"] = sum(_zipf(c["after"].lower()) < 3.0 for c in words) / max(1, len(words))
        hits = 0
        for seed in range(25):
            outs = pipe.run_batch(PROBES, [seed * 1000 + i for i in range(len(PROBES))])
            for src, out in zip(PROBES, outs):
                for c in (c for step in out.applied for c in step.get("changes", [])):
                    after = (c.get("after") or "").lower()
                    if after and after in SEXUAL and after not in src.split():
                        hits += 1
        m["probe_hits"] = hits
    return m


def measure_multiword(sentences: list[str], copies: int, max_words: int, show: int, seed: int = 0) -> str:
    """Share of written copies of synonym replacement (rate 0.1, multi-word synonyms of up to ``max_words``
    words allowed) that hold a multi-word replacement, and ``show`` random ones."""
    import random

    pipe = _pipeline({"op": "synonym_replace", "params": {"rate": 0.1, "max_words": max_words}})
    start = time.perf_counter()
    _, written, dropped = draw_copies(pipe, sentences, copies)
    seconds = time.perf_counter() - start
    found, n_copies, n_replacements, n_multi = [], 0, 0, 0
    for i, ws in enumerate(written):
        for r in ws:
            n_copies += 1
            subs = [c for step in r.applied for c in step.get("changes", []) if c.get("action") == "substitute"]
            n_replacements += len(subs)
            multi = [c for c in subs if " " in c["after"]]
            n_multi += len(multi)
            if multi:
                found.append((i, r.output, multi))
    lines = [f"synonym_replace, rate 0.1, max_words {max_words}: {n_copies} copies written ({dropped} dropped), "
             f"{len(found)} with a multi-word replacement ({100 * len(found) / max(1, n_copies):.1f}%); "
             f"{n_multi} of {n_replacements} replacements are multi-word ({100 * n_multi / max(1, n_replacements):.1f}%); "
             f"{seconds:.1f} s"]
    for i, out, multi in random.Random(seed).sample(found, min(show, len(found))):
        pairs = ", ".join(f"{c['before']} -> {c['after']}" for c in multi)
        lines.append(f"- [{pairs}] {sentences[i]}  =>  {out}")
    return "\n".join(lines)


def measure_pivots(sentences: list[str], pivots: list[str]) -> str:
    """Per Apertium pivot, one round trip of every sentence through the op (guard on, its defaults)."""
    from collections import Counter

    lines = ["| pivot | identical % | guard rejects % | by reason | kept % | s |", "|---|---:|---:|---|---:|---:|"]
    for pivot in pivots:
        pipe = _pipeline({"op": "back_translate", "params": {"pivot": pivot}})
        start = time.perf_counter()
        results = pipe.run_batch(sentences, list(range(len(sentences))))
        seconds = time.perf_counter() - start
        reasons: Counter = Counter()
        identical = kept = 0
        for r in results:
            changes = [c for step in r.applied for c in step.get("changes", [])]
            if not changes:
                identical += 1
            elif changes[0].get("action") == "rejected":
                reasons[changes[0].get("reason")] += 1
            else:
                kept += 1
        n = max(1, len(sentences))
        by = ", ".join(f"{k} {100 * v / n:.1f}" for k, v in reasons.most_common())
        lines.append(f"| {pivot} | {100 * identical / n:.1f} | {100 * sum(reasons.values()) / n:.1f} | {by or '-'} "
                     f"| {100 * kept / n:.1f} | {seconds:.1f} |")
    return "\n".join(lines)


def content_counts(sentences: list[str]) -> list[int]:
    from augment.text.eda import is_stop_word, stop_words
    from augment.text.tokens import WORD_RE

    stops = stop_words()
    return [sum(not is_stop_word(w, stops) for w in WORD_RE.split(s)[1::2]) for s in sentences]


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def report(results: list[dict]) -> str:
    lines = ["| op | unchanged % | unchanged % (4+ cw) | raw unchanged % | duplicate % | dropped % | caps % "
             "| zipf<3 % | probe hits | filter rejects % (label) | s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in results:
        lines.append(f"| {m['op']} | {_pct(m['unchanged'])} | {_pct(m['unchanged_4cw'])} | {_pct(m['raw_unchanged'])} "
                     f"| {_pct(m['duplicate'])} | {_pct(m['dropped'])} | {_pct(m.get('caps'))} "
                     f"| {_pct(m.get('zipf3'))} | {m.get('probe_hits', 'n/a')} "
                     f"| {_pct(m.get('filtered'))} ({_pct(m.get('filtered_label'))}) | {m['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of: " + ", ".join(OPS))
    parser.add_argument("--skip-backtranslation", action="store_true")
    parser.add_argument("--stratified", action="store_true", help="a seeded stratified sample of --limit rows")
    parser.add_argument("--multiword", action="store_true", help="only the multi-word synonym table")
    parser.add_argument("--max-words", type=int, default=3)
    parser.add_argument("--show", type=int, default=30, help="--multiword: random examples to print")
    parser.add_argument("--pivots", default="", help="only the per-pivot back-translation table, e.g. "
                        "spa,cat,glg,epo,hbs")
    args = parser.parse_args()
    own_cache = "AUGMENT_CACHE_DIR" not in os.environ
    if own_cache:  # never leave a benchmark index in the user's cache
        os.environ["AUGMENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-augment-cache-")
    try:
        import augment

        rows = read_rows(args.tsv, args.limit, args.stratified)
        sentences, labels = [t for _, t in rows], [y for y, _ in rows]
        if args.multiword or args.pivots:
            print(f"{len(sentences)} sentences ({'stratified sample' if args.stratified else 'first lines'}) "
                  f"from {args.tsv}; augment from {Path(augment.__file__).parent.parent}")
            if args.multiword:
                print(measure_multiword(sentences, args.copies, args.max_words, args.show))
            if args.pivots:
                print(measure_pivots(sentences, [p for p in args.pivots.split(",") if p]))
            return
        content = content_counts(sentences)
        flt = label_filter(sentences, labels)
        ops = [o for o in args.ops.split(",") if o and not (args.skip_backtranslation and o == "back_translate")]
        if "back_translate" in ops and shutil.which("apertium") is None:
            ops.remove("back_translate")
        print(f"{len(sentences)} sentences x {args.copies} copies from {args.tsv}; augment from "
              f"{Path(augment.__file__).parent.parent}; {sum(c >= 4 for c in content)} sentences of 4+ content "
              f"words")
        print(report([measure(name, sentences, args.copies, content, flt) for name in ops]))
        if flt is not None:
            print("filter rejects: copies written that the label-preservation filter (label_confidence 0.9, "
                  "5 folds, min_similarity 0.3, length_ratio [0.5, 2]) would reject; (label): by label flip")
    finally:
        if own_cache:
            shutil.rmtree(os.environ["AUGMENT_CACHE_DIR"], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
