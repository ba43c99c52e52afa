"""Text datasets in the expander: reading rows into chunk tasks, and joining the parts into the output file."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

from augment.io.store import LocalStore, OutputStore, matching
from augment.io.text_formats import (
    RowError,
    TextFormat,
    TextFormatError,
    detect_format,
    format_row,
    read_text_dataset,
    write_header,
)
from augment.run.text_job import PARTS_DIR, TextTask, row_seed

CHUNK_ROWS = 128


def chunk_rows(pipe) -> int:
    """Rows per chunk: at least an op's batch size, so back-translation pays its process start-up once a batch."""
    sizes = [getattr(leaf.params, "batch_size", 0) for leaf in pipe.leaves() if leaf.op.batch_text is not None]
    return max([CHUNK_ROWS, *sizes])


def resolve_text_format(path: Path, options: dict | None) -> TextFormat:
    from augment.run.expander import RunError

    try:
        return detect_format(path, **(options or {}))
    except TextFormatError as exc:
        raise RunError(f"{path}: {exc}") from None


def text_chunks(pipe, opts, fmt: TextFormat, done: set, errors, counts: dict) -> Iterator[list]:
    """Stream the input into one-task chunks, skipping chunks that a resumed run already finished.

    ``counts`` gets "rows" and "problems" as reading goes; bad rows go to the error log with their line.
    """
    source = opts.input.name
    copies = pipe.spec.copies

    def chunk_done(rows) -> bool:
        for row in rows:
            wanted = [(source, row.index, k) for k in range(copies)]
            if opts.include_originals:
                wanted.append((source, row.index, None))
            if not all(w in done for w in wanted):
                return False
        return True

    rows, chunk, size = [], 0, chunk_rows(pipe)
    for item in read_text_dataset(opts.input, fmt):
        if isinstance(item, RowError):
            errors.write({"source": source, "row": item.index, "line": item.line, "error": item.reason})
            counts["problems"] += 1
            continue
        counts["rows"] += 1
        rows.append(item)
        if len(rows) == size:
            if not chunk_done(rows):
                yield [TextTask(source, chunk, tuple(rows), copies, opts.include_originals)]
            rows, chunk = [], chunk + 1
    if rows and not chunk_done(rows):
        yield [TextTask(source, chunk, tuple(rows), copies, opts.include_originals)]


def assemble_text_output(opts, fmt: TextFormat, store: OutputStore | None = None) -> tuple[int, int]:
    """Join the part files in chunk order, behind the header, into OUTPUT/<input file name> (one atomic write,
    to the folder or to the store of a URL OUTPUT)."""
    store = store if store is not None else LocalStore(Path(opts.output))
    parts = matching(store.list(PARTS_DIR), "chunk-*.part")
    body = b"".join(store.read_bytes(rel) for rel in parts)
    store.write_bytes(opts.input.name, write_header(fmt).encode("utf-8") + body, fsync=True)
    return len(parts), len(body)


def replay_text_record(pipe, run: dict, rec: dict) -> bytes:
    """The serialised output row of a text record, recomputed from the source row and the recorded seed."""
    from augment.replay import ReplayError

    fmt = TextFormat(**run["text_format"])
    path = Path(run["input"])
    for item in read_text_dataset(path, fmt):
        if not isinstance(item, RowError) and item.index == rec["row"]:
            if rec.get("copy") is None:
                return format_row(item, fmt).encode("utf-8")
            seed = row_seed(pipe.spec.seed, rec["source"], item.index, rec["copy"], rec.get("attempt", 0))
            assert seed == rec["seed"]
            out = pipe.run(item.text, seed=seed).output
            return format_row(dataclasses.replace(item, text=out), fmt).encode("utf-8")
    raise ReplayError(f"row {rec['row']} not found in {path}")
