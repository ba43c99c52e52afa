"""The text unit of work: augment one chunk of dataset rows into a part file.

A chunk's rows are augmented together (``Pipeline.run_batch``), so ops with a batch form — back-translation —
see the whole chunk in one call. The chunk's output rows (each original first when kept, then its copies) are
serialised in the input's format and written atomically as one part file; the parts are joined in chunk order
when the run completes, so the output does not depend on how many workers there were.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from augment.io.store import LocalStore
from augment.io.text_formats import TextFormat, TextRow, UnrepresentableRowError, format_row
from augment.run.job_base import (
    ChunkResult,
    JobConfig,
    pipeline_for,
    store_for,
    write_output,
)
from augment.seeding import derive_seed
from augment.text.llm_cache import run_cache
from augment.text.llm_client import EndpointUnreachableError

__all__ = ["PARTS_DIR", "TextTask", "row_seed", "process_text_task", "distinct_copies"]

PARTS_DIR = ".augment-parts"


@dataclass(frozen=True)
class TextTask:
    source: str  # the dataset file's name (the key its rows' seeds derive from)
    chunk: int
    rows: tuple[TextRow, ...]
    copies: int
    original: bool

    @property
    def part(self) -> str:
        return f"{PARTS_DIR}/chunk-{self.chunk:07d}.part"


# How many times a copy identical to its source or to an earlier copy of the same row is drawn again (from
# derived seeds, so the result is as deterministic as the first draw) before it is dropped and counted.
MAX_REDRAWS = 4


def row_seed(spec_seed: int, source: str, row_index: int, copy: int, attempt: int = 0) -> int:
    """The seed of copy ``copy`` of a row; ``attempt`` > 0 for a redraw (recorded in the manifest)."""
    key = f"{source}#{row_index}" if attempt == 0 else f"{source}#{row_index}#redraw{attempt}"
    return derive_seed(spec_seed, key, copy)


def _run_all(pipe, task: TextTask, jobs: list[tuple], attempt: int) -> list[tuple]:
    """(result, error) per (row, copy) job: one batch call, or one call per row when the batch fails (one bad
    row must not sink its chunk)."""
    seeds = [row_seed(pipe.spec.seed, task.source, row.index, k, attempt) for row, k in jobs]
    try:
        return [(res, None) for res in pipe.run_batch([row.text for row, _ in jobs], seeds,
                                                      labels=[row.label for row, _ in jobs])]
    except EndpointUnreachableError:
        raise  # every row would fail the same way: the run stops, resumably
    except Exception:
        pass
    out = []
    for (row, _), seed in zip(jobs, seeds):
        try:
            out.append((pipe.run(row.text, seed=seed, label=row.label), None))
        except EndpointUnreachableError:
            raise
        except Exception as exc:
            out.append((None, f"augmentation failed: {type(exc).__name__}: {exc}"))
    return out


_FILTERS: dict[tuple, object] = {}


def filter_for(config):
    """The label-preservation filter of a run (``filter:`` in the spec), fit once per process on the input's
    rows; None without one."""
    rules = (getattr(config, "spec", None) or {}).get("filter")
    if not rules:
        return None
    from pathlib import Path

    from augment.io.text_formats import RowError, read_text_dataset
    from augment.text.filter import FilterRules, LabelFilter

    key = (config.spec_hash, config.input_root)
    hit = _FILTERS.get(key)
    if hit is None:
        rows = [r for r in read_text_dataset(Path(config.input_root), TextFormat(**config.text_format))
                if not isinstance(r, RowError)]
        hit = LabelFilter([r.index for r in rows], [r.text for r in rows], [r.label for r in rows],
                          FilterRules.from_spec(rules))
        _FILTERS.clear()  # one run per process at a time: do not keep another input's models
        _FILTERS[key] = hit
    return hit


def _op_names(res) -> str:
    return "+".join(step["op"] for step in res.applied) or "none"


def _distinct_copies(pipe, config, task: TextTask, result) -> dict[int, list]:
    """row index -> [(copy, attempt, result, error)] with copies identical to their source or to another kept
    copy of the row redrawn up to ``MAX_REDRAWS`` times, then dropped (counted in ``result``); kept as they
    are with ``config.keep_unchanged``. Redraws go in rounds, one batch call per round, so back-translation
    pays its start-up once a round rather than once a row."""
    jobs = [(row, k) for row in task.rows for k in range(task.copies)]
    first = _run_all(pipe, task, jobs, 0)
    _count_guard_rejections(first, result)
    state = {job: (0, res, err) for job, (res, err) in zip(jobs, first)}
    keep_all = getattr(config, "keep_unchanged", False)
    flt = filter_for(config)
    seen = {row.index: {row.text} for row in task.rows}
    kept: dict[tuple[int, int], tuple] = {}
    pending = jobs
    for attempt in range(MAX_REDRAWS + 1):
        if attempt:
            redone = _run_all(pipe, task, pending, attempt)
            _count_guard_rejections(redone, result)
            state.update({job: (attempt, res, err) for job, (res, err) in zip(pending, redone)})
        again = []
        verdicts = _judge(flt, pending, state, result)
        for (row, k), verdict in zip(pending, verdicts):
            at, res, err = state[(row, k)]
            if verdict is not None and attempt == MAX_REDRAWS:
                result.dropped_filtered += 1
                continue
            if verdict is None and (err is not None or keep_all or res.output not in seen[row.index]):
                kept[(row.index, k)] = (k, at, res, err)
                if err is None:
                    seen[row.index].add(res.output)
            else:
                again.append((row, k))
        pending = again
        if not pending:
            break
    for row, k in pending:
        if (row.index, k) in kept or state[(row, k)][2] is not None:
            continue
        if state[(row, k)][1].output == row.text:
            result.dropped_unchanged += 1
        else:
            result.dropped_duplicate += 1
    result.redrawn += sum(1 for _, at, _, _ in kept.values() if at)
    by_row: dict[int, list] = {}
    for row, k in jobs:
        if (row.index, k) in kept:
            by_row.setdefault(row.index, []).append(kept[(row.index, k)])
    return by_row


def _count_guard_rejections(outcomes: list[tuple], result) -> None:
    """Count, per ``op:reason`` in ``result.filter_rejections``, the outputs an op's own guard refused
    (back-translation, llm_paraphrase: a change with action "rejected"; llm_paraphrase lists each attempt,
    also the refused attempts before a kept answer)."""
    for res, err in outcomes:
        if err is not None:
            continue
        for step in res.applied:
            for change in step.get("changes") or ():
                if change.get("action") == "rejected":
                    refused = change.get("attempts") or [change]
                else:  # a kept output may follow refused attempts
                    refused = change.get("rejected_attempts") or ()
                for tried in refused:
                    key = f"{step['op']}:{tried.get('reason')}"
                    result.filter_rejections[key] = result.filter_rejections.get(key, 0) + 1


# ops whose resources (WordNet, the stop-word list) are English only
ENGLISH_ONLY_OPS = frozenset({"synonym_replace", "random_insert", "eda", "antonym_replace"})


def is_non_latin(text: str) -> bool:
    """True when most letters of ``text`` are outside the Latin script (Chinese, Cyrillic, Arabic, ...)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(1 for c in letters if ord(c) > 0x24F) * 2 > len(letters)


def language_notes(pipe, rows) -> list[str]:
    """One note per English-only op of the pipeline when some of ``rows`` are not in a Latin script: such
    rows get no replacement from it (said once per run instead of silently writing unchanged copies)."""
    ops = sorted({leaf.op.name for leaf in pipe.leaves()} & ENGLISH_ONLY_OPS)
    if not ops or not any(is_non_latin(row.text) for row in rows):
        return []
    return [f"{op}: has no resources for non-Latin-script text (its word lists are English); such rows are "
            f"left as they are by it, and copies equal to their source are counted in dropped_unchanged"
            for op in ops]


def _judge(flt, pending: list, state: dict, result) -> list:
    """The filter's verdict (None = keep) on each pending copy whose op succeeded; rejections are counted per
    op and reason in ``result.filter_rejections``."""
    if flt is None:
        return [None] * len(pending)
    judged = [j for j, job in enumerate(pending) if state[job][2] is None]
    verdicts: list = [None] * len(pending)
    found = flt.judge_many([(pending[j][0].index, pending[j][0].text, state[pending[j]][1].output) for j in judged])
    for j, verdict in zip(judged, found):
        verdicts[j] = verdict
        if verdict is not None:
            key = f"{_op_names(state[pending[j]][1])}:{verdict}"
            result.filter_rejections[key] = result.filter_rejections.get(key, 0) + 1
    return verdicts


def process_text_task(config: JobConfig, task: TextTask, result: ChunkResult) -> None:
    pipe = pipeline_for(config)
    result.notes.extend(n for n in language_notes(pipe, task.rows) if n not in result.notes)
    # LLM answers are cached inside a local OUTPUT, so the run folder resumes and replays without the server
    store = store_for(config)
    with run_cache(store.root if isinstance(store, LocalStore) else None):
        by_row = _distinct_copies(pipe, config, task, result)
    fmt = TextFormat(**config.text_format)  # once per chunk: building it validates the format
    pieces: list[str] = []
    records: list[dict] = []  # reported only once the part file is safely written
    emitted: list[tuple] = []  # (output row, copy, seed): what a Parquet part holds
    for row in task.rows:
        if task.original:
            _emit(config, fmt, task, row, None, None, row, pieces, records, result, emitted=emitted)
        for k, attempt, res, err in by_row.get(row.index, []):
            if err is not None:
                result.errors.append({"source": task.source, "row": row.index, "line": row.line, "error": err})
                continue
            seed = row_seed(pipe.spec.seed, task.source, row.index, k, attempt)
            _emit(config, fmt, task, row, k, seed, dataclasses.replace(row, text=res.output), pieces, records, result,
                  res.applied, attempt, emitted=emitted)
    if getattr(config, "output_format", "folder") == "parquet":  # the part is a Parquet table of the rows
        from augment.io.shards import text_parquet_part, text_parquet_name

        write_output(store_for(config), task.part, text_parquet_part(emitted), config.durable)
        for rec in records:
            rec["output"] = text_parquet_name(task.source)
    else:
        write_output(store_for(config), task.part, "".join(pieces).encode("utf-8"), config.durable)
    result.records.extend(records)


def _emit(config, fmt, task, row, copy, seed, out_row, pieces, records, result, ops=(), attempt=0,
          emitted=None) -> None:
    try:
        text = format_row(out_row, fmt)
    except UnrepresentableRowError as exc:
        result.errors.append({"source": task.source, "row": row.index, "line": row.line, "copy": copy,
                              "error": f"cannot write row: {exc}"})
        return
    pieces.append(text)
    if emitted is not None:
        emitted.append((out_row, copy, seed))
    records.append({
        "source": task.source, "row": row.index, "line": row.line, "copy": copy, "seed": seed,
        "pipeline_hash": config.pipeline_hash or config.spec_hash, "ops": list(ops), "output": task.source, "part": task.part,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        **({"attempt": attempt} if attempt else {}),
    })


# The per-row rule of a run (redraws and drops of unchanged and duplicate copies), for callers that augment rows
# the way `augment run` does (the HTTP service).
distinct_copies = _distinct_copies
