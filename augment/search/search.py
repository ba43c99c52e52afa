"""``augment search``: successive halving over a space of pipelines, then one honest measurement.

Why successive halving by hand and not Optuna: the candidates are a finite list drawn up front from the space
(deterministic for the seed), and each evaluation is an ``augment eval`` run keyed by (candidate, rung). With no
sampler state, a killed search resumes by skipping the (candidate, rung) pairs already in ``trials.jsonl`` and
gives exactly the result an uninterrupted run gives; Optuna's TPE state would be rebuilt from its database on
restart and its RUNNING trials need cleaning up, for no gain on a space of a few dozen candidates. Random draws
plus successive halving is the core of Hyperband (Li et al., 2018), which matches tuned Bayesian search at small
budgets.

Protocol::

    outer split  no --test: a stratified fraction of TRAIN is held out BEFORE anything else (written to
                 OUT/data/test, the rest to OUT/data/train); the search only ever reads OUT/data/train
    rung r       every surviving candidate is evaluated by the eval machinery on stratified K-fold
                 cross-validation of the search data (Nadeau-Bengio corrected paired t): rung 0 on a subset of
                 each fold's pool with one CV repetition, later rungs on the full pool with more repetitions;
                 all candidates of a rung share the eval seed (common random numbers)
    halving      the best 1/eta by mean accuracy gain over the baseline go on to the next rung
    winner       the best candidate of the highest rung reached
    final        winner and best preset are measured once on the untouched test set (``augment eval`` with
                 --test), with the verdict, interval and minimum detectable effect
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from augment.io.paths import resolve_within
from augment.search.importance import op_importance  # noqa: F401 (re-exported)
from augment.search.space import Candidate, SearchSpace, load_space
from augment.seeding import derive_seed

TRIALS = "trials.jsonl"
STATE = "search.json"
FORMAT_VERSION = 1


class SearchError(ValueError):
    """A search that cannot start or continue (the CLI prints the message and exits 1 or 2)."""


@dataclass
class SearchConfig:
    train: Path
    space: Path
    out: Path
    test: Path | None = None
    budget: float | None = None  # seconds of search (the final measurement comes on top)
    model: str = "auto"
    model_options: dict = field(default_factory=dict)
    seed: int = 0
    folds: int = 3
    eta: int = 3
    rungs: int = 3
    first_rung_fraction: float = 0.5  # share of each fold's pool trained on at rung 0
    test_fraction: float = 0.2
    final_repeats: int = 5
    text_column: str | None = None
    label_column: str | None = None
    timeout: float | None = None
    quiet: bool = False

    def identity(self) -> dict:
        """What must match for a rerun to continue a search (everything that changes a result)."""
        return {"train": str(Path(self.train).resolve()), "test": str(Path(self.test).resolve()) if self.test else None,
                "model": self.model, "model_options": self.model_options, "seed": self.seed, "folds": self.folds,
                "eta": self.eta, "rungs": self.rungs, "first_rung_fraction": self.first_rung_fraction,
                "test_fraction": self.test_fraction, "text_column": self.text_column,
                "label_column": self.label_column}


@dataclass
class Rung:
    index: int
    cv_repeats: int
    train_fraction: float

    def describe(self) -> str:
        size = "full pool" if self.train_fraction >= 1 else f"{self.train_fraction:.0%} of each pool"
        return f"rung {self.index}: {self.cv_repeats} x CV, {size}"


def schedule(config: SearchConfig) -> list[Rung]:
    """Cheap first (a subset, one CV repetition), then the full pool with more repetitions for survivors."""
    rungs = [Rung(0, 1, config.first_rung_fraction)]
    for r in range(1, config.rungs):
        rungs.append(Rung(r, r, 1.0))
    return rungs


# --------------------------------------------------------------------------------------------- data


def _log(config: SearchConfig, msg: str) -> None:
    if not config.quiet:
        print(msg, file=sys.stderr, flush=True)  # stdout is for the JSON summary


def prepare_data(config: SearchConfig, modality: str) -> tuple[Path, Path | None, dict]:
    """(search data path, test data path, split info). Without --test, a stratified outer fold is held out
    before the search starts and written out, so every later step reads only the files it may read."""
    from augment.evaluate.data import load_dataset, stratified_split

    if config.test is not None:
        return Path(config.train), Path(config.test), {"kind": "given", "train": str(config.train),
                                                       "test": str(config.test)}
    data_dir = Path(config.out) / "data"
    info_path = data_dir / "split.json"
    if info_path.exists():  # a resumed search reuses its outer split
        info = json.loads(info_path.read_text())
        return Path(info["search_train"]), Path(info["test"]), info
    full = load_dataset(config.train, config.text_column, config.label_column)
    if full.modality != modality:
        raise SearchError(f"the space is for {modality} but {config.train} holds {full.modality} data")
    seed = derive_seed(config.seed, "search/outer", 0)
    rest, held = stratified_split(full.labels, config.test_fraction, seed)
    tmp = data_dir.with_name("data.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    paths = {}
    for name, idx in (("train", rest), ("test", held)):
        part = full.subset(idx)
        if modality == "image":
            root = tmp / name
            for rel in part.ids:
                dst = root / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(resolve_within(config.train, rel), dst)  # never a file outside the data
            paths[name] = root
        else:
            file = tmp / f"{name}.jsonl"
            with file.open("w", encoding="utf-8") as fh:
                for text, label in zip(part.items, part.labels):
                    fh.write(json.dumps({"text": text, "label": full.classes[int(label)]}, ensure_ascii=False) + "\n")
            paths[name] = file
    info = {"kind": f"stratified outer hold-out of TRAIN ({config.test_fraction:.0%}), taken before the search",
            "seed": seed, "source": str(config.train), "n_search": int(len(rest)), "n_test": int(len(held)),
            "search_train": str(data_dir / paths["train"].relative_to(tmp)),
            "test": str(data_dir / paths["test"].relative_to(tmp))}
    (tmp / "split.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(data_dir, ignore_errors=True)
    tmp.rename(data_dir)
    return Path(info["search_train"]), Path(info["test"]), info


# --------------------------------------------------------------------------------------------- evaluation


def _rung_model(config: SearchConfig, modality: str, rung: int) -> str:
    """The model of a rung: image rungs before the last screen with the cheap calibrated ``fast-conv`` (unless
    a custom model or model options are given); the last rung and the final measurement use the chosen model."""
    if modality == "image" and rung < config.rungs - 1 and ":" not in config.model and not config.model_options:
        return "fast-conv"
    return config.model


def _eval_config(config: SearchConfig, train: Path, copies: int, seed: int, model: str | None = None, **kw):
    from augment.evaluate import EvalConfig

    return EvalConfig(train=train, copies=[copies], seed=seed, model=model or config.model,
                      model_options=config.model_options, timeout=config.timeout, quiet=True,
                      text_column=None if config.test is None else config.text_column,
                      label_column=None if config.test is None else config.label_column, n_samples=0, **kw)


def _uninterrupted(result):
    """The evaluation loop turns Ctrl-C/SIGTERM into a partial result (its report keeps what finished); a search
    must stop there instead, its finished evaluations on disk, or a cancelled search would carry on to the end
    with the interrupted evaluation recorded as if it were whole."""
    if result.protocol.get("status") == "interrupted":
        from augment.run.errors import RunTerminated

        raise RunTerminated() if result.protocol.get("interrupted_by") == "SIGTERM" else KeyboardInterrupt()
    return result


def evaluate_candidate(config: SearchConfig, cand: Candidate, rung: Rung, train: Path, n_pool: int) -> dict:
    """One eval run of a candidate at a rung, on cross-validation of the search data only."""
    from augment.compile.pipeline import Pipeline
    from augment.evaluate import PipelineAugmenter, run_evaluation

    size: Any = "full" if rung.train_fraction >= 1 else max(2 * config.folds, int(n_pool * rung.train_fraction))
    augmenter = PipelineAugmenter(Pipeline(cand.spec))
    cfg = _eval_config(config, train, cand.copies, derive_seed(config.seed, f"search/rung{rung.index}", 0),
                       model=_rung_model(config, augmenter.modality, rung.index),
                       cv=config.folds, cv_repeats=rung.cv_repeats, train_sizes=[size])
    t0 = time.perf_counter()
    result = _uninterrupted(run_evaluation(cfg, progress=False, augmenter=augmenter))
    s = result.summary[0]
    d = s["decision"]
    return {"candidate": cand.id, "rung": rung.index, "gain": d["mean"], "ci": d["ci"], "verdict": s["verdict"],
            "runs": d["n"], "mde": d["mde"], "baseline": s["metrics"]["accuracy"]["baseline"]["mean"],
            "augmented": s["metrics"]["accuracy"]["augmented"]["mean"], "size": s["n"],
            "seconds": round(time.perf_counter() - t0, 3), "model": result.model.get("name")}


def measure_on_test(config: SearchConfig, cand: Candidate, train: Path, test: Path) -> dict:
    """The one look at the untouched test set: the eval protocol with --test, paired repeats, its verdict."""
    from augment.compile.pipeline import Pipeline
    from augment.evaluate import PipelineAugmenter, run_evaluation

    cfg = _eval_config(config, train, cand.copies, derive_seed(config.seed, "search/final", 0), test=test,
                       train_sizes=["full"], repeats=config.final_repeats)
    result = _uninterrupted(run_evaluation(cfg, progress=False, augmenter=PipelineAugmenter(Pipeline(cand.spec))))
    s = result.summary[0]
    d = s["decision"]
    return {"candidate": cand.id, "gain": d["mean"], "ci": d["ci"], "verdict": s["verdict"], "mde": d["mde"],
            "runs": d["n"], "baseline": s["metrics"]["accuracy"]["baseline"]["mean"],
            "augmented": s["metrics"]["accuracy"]["augmented"]["mean"], "sentence": s["sentence"],
            "n_train": result.data["train_pool"]["n"], "n_test": result.data["test"]["n"]}


# --------------------------------------------------------------------------------------------- state


def _space_hash(cands: list[Candidate]) -> str:
    blob = json.dumps([[c.id, c.copies, c.spec.to_dict()] for c in cands], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_trials(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # the line a kill cut short; that evaluation simply runs again
            continue
    return out


def _append(path: Path, record: dict) -> None:
    import os

    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def rank(cands: list[Candidate], trials: list[dict]) -> list[dict]:
    """Candidates best first: highest rung reached, then mean gain there, then id (a stable tie-break)."""
    by_id = {c.id: c for c in cands}
    best: dict[str, dict] = {}
    for t in trials:
        if t["candidate"] in by_id and (t["candidate"] not in best or t["rung"] >= best[t["candidate"]]["rung"]):
            best[t["candidate"]] = t
    first = {t["candidate"]: t["gain"] for t in trials if t["rung"] == 0}
    rows = []
    for cid, t in best.items():
        c = by_id[cid]
        rows.append({**t, "rung0_gain": first.get(cid), "kind": c.kind, "name": c.spec.name, "copies": c.copies,
                     "ops": c.ops(),
                     "spec": c.spec.to_dict()})
    rows.sort(key=lambda r: (-r["rung"], -r["gain"], r["candidate"]))
    for i, r in enumerate(rows):
        r["rank"] = i + 1
    return rows


# --------------------------------------------------------------------------------------------- the search


@dataclass
class SearchResult:
    out: Path
    leaderboard: list[dict]
    winner: dict | None
    final: dict
    stopped: str
    info: dict


def run_search(config: SearchConfig, space: SearchSpace | None = None,
               on_trial: Callable[[dict], None] | None = None) -> SearchResult:
    from augment.evaluate.data import load_dataset

    t_start = time.perf_counter()
    space = space or load_space(config.space)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    cands = space.candidates(seed=config.seed)
    if not cands:
        raise SearchError(f"{config.space}: the space yields no candidates")
    state_path = out / STATE
    state = {"format": "augment-search", "format_version": FORMAT_VERSION, "config": config.identity(),
             "space": space.name, "candidates": _space_hash(cands)}
    if state_path.exists():
        old = json.loads(state_path.read_text())
        if old.get("config") != state["config"] or old.get("candidates") != state["candidates"]:
            changed = sorted(k for k in state["config"] if old.get("config", {}).get(k) != state["config"][k])
            what = ", ".join(changed) if changed else "the space's candidates"
            raise SearchError(f"{out} holds a search with different settings ({what}); use a new --out or delete it")
    else:
        state_path.write_text(json.dumps(state, indent=1))

    search_train, test, split = prepare_data(config, space.modality)
    data = load_dataset(search_train, None if config.test is None else config.text_column,
                        None if config.test is None else config.label_column)
    if data.modality != space.modality:
        raise SearchError(f"the space is for {space.modality} but {config.train} holds {data.modality} data")
    n_pool = len(data) - math.ceil(len(data) / config.folds)
    trials_path = out / TRIALS
    trials = _read_trials(trials_path)
    done = {(t["candidate"], t["rung"]) for t in trials}
    resumed = len(trials)
    if resumed:
        _log(config, f"resuming: {resumed} evaluations already in {trials_path}")
    deadline = None if config.budget is None else t_start + config.budget
    stopped = "completed every rung"
    alive = list(cands)
    by_id = {c.id: c for c in cands}
    rungs = schedule(config)
    seconds: dict[int, list[float]] = {}
    for rung in rungs:
        for cand in alive:
            if (cand.id, rung.index) in done:
                continue
            # a first evaluation at a rung is guessed from the rung before (later rungs cost about twice as much)
            past = seconds.get(rung.index) or [2.0 * x for x in seconds.get(rung.index - 1, [])]
            est = float(np.mean(past)) if past else 0.0
            if deadline is not None and time.perf_counter() + est > deadline:
                stopped = f"budget of {config.budget:g} s reached during rung {rung.index}"
                break
            _log(config, f"{rung.describe()}: {cand.id} ({cand.kind}, copies={cand.copies}, "
                         f"{'+'.join(cand.ops()) or 'no ops'})")
            rec = evaluate_candidate(config, cand, rung, search_train, n_pool)
            _append(trials_path, rec)
            trials.append(rec)
            done.add((cand.id, rung.index))
            seconds.setdefault(rung.index, []).append(rec["seconds"])
            if on_trial is not None:
                on_trial(rec)
        else:
            here = sorted((t for t in trials if t["rung"] == rung.index and t["candidate"] in {c.id for c in alive}),
                          key=lambda t: (-t["gain"], t["candidate"]))
            keep = max(1, math.ceil(len(here) / config.eta))
            alive = [by_id[t["candidate"]] for t in here[:keep]]
            if len(alive) <= 1 and rung.index < len(rungs) - 1:
                stopped = f"one candidate left after rung {rung.index}"
                break
            continue
        break

    board = rank(cands, trials)
    winner = board[0] if board else None
    final: dict = {}
    if winner is not None:
        _log(config, f"measuring the winner {winner['candidate']} once on the held-out test set")
        final["winner"] = measure_on_test(config, by_id[winner["candidate"]], search_train, test)
        presets = [r for r in board if r["kind"] == "preset"]
        if presets and presets[0]["candidate"] != winner["candidate"]:
            _log(config, f"measuring the best preset {presets[0]['candidate']} on the held-out test set")
            final["best_preset"] = measure_on_test(config, by_id[presets[0]["candidate"]], search_train, test)
    # the search picks the best candidate even when every one did worse than no augmentation: say so
    beat = winner is not None and winner["gain"] > 0
    if winner is not None and not beat:
        _log(config, f"no candidate beat the baseline on the selection folds (best gain {100 * winner['gain']:+.1f} "
                     "points): best.yaml is the least harmful candidate, not a recommendation")
    info = {"beat_baseline": beat, "space": space.name, "modality": space.modality, "candidates": len(cands), "split": split,
            "rungs": [r.describe() for r in rungs], "eta": config.eta, "folds": config.folds,
            "resumed_evaluations": resumed, "stopped": stopped, "seed": config.seed,
            "wall_seconds": round(time.perf_counter() - t_start, 1), "model": config.model,
            "search_data": str(search_train), "test_data": str(test), "n_search": len(data)}
    result = SearchResult(out, board, winner, final, stopped, info)
    from augment.search.output import write_outputs

    write_outputs(result, space, by_id)
    return result


__all__ = [
    "TRIALS",
    "STATE",
    "FORMAT_VERSION",
    "SearchError",
    "SearchConfig",
    "Rung",
    "schedule",
    "prepare_data",
    "evaluate_candidate",
    "measure_on_test",
    "rank",
    "op_importance",
    "SearchResult",
    "run_search",
]
