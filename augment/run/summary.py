"""The summary a run prints and returns: below the expander so every kind of run (folders, Hugging Face
datasets) fills the same one."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunSummary"]


@dataclass
class RunSummary:
    status: str
    output: str
    items: int = 0
    written: int = 0
    resumed_skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_examples: list[dict] = field(default_factory=list)
    outputs_in_manifest: int = 0
    skipped_hidden: int = 0  # dot-files, Thumbs.db, desktop.ini...: not errors
    skipped_non_data: int = 0  # README*, LICENSE*, notes (*.md, *.txt): counted apart, not errors
    skipped_non_data_examples: list[str] = field(default_factory=list)
    skipped_earlier_outputs: list[str] = field(default_factory=list)  # sub-folders holding an earlier OUTPUT
    sources_changed: int = 0  # changed since their outputs were made: redone
    changed_examples: list[str] = field(default_factory=list)
    sources_removed: int = 0  # gone from INPUT: their outputs were removed
    removed_examples: list[str] = field(default_factory=list)
    redrawn: int = 0  # copies drawn again because they equalled their source or another copy
    dropped_unchanged: int = 0  # copies still identical to their source after the redraws: not written
    dropped_duplicate: int = 0  # copies still identical to another copy of the same source: not written
    dropped_filtered: int = 0  # text copies the spec's filter: rejected on every draw: not written
    filter_rejections: dict[str, int] = field(default_factory=dict)  # "op:reason" -> rejected draws
    notes: list[str] = field(default_factory=list)  # one line each: what this run did besides the plain work
    scheduling: dict | None = None  # process-pool and Dask runs: chunks, where the workers' time went (BusyMeter)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        if d["scheduling"] is None:
            del d["scheduling"]
        d["outputs_per_second"] = round(self.written / self.seconds, 1) if self.seconds > 0 else None
        d["seconds"] = round(self.seconds, 3)
        return d
