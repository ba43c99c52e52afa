"""cProfile every process of an ``augment run`` (not a test): where the expander's CPU goes.

    .venv/bin/python benchmarks/profile_run.py run SPEC INPUT OUTPUT --workers 2 -q     # augment run, profiled
    .venv/bin/python benchmarks/profile_run.py plain INPUT OUTPUT COPIES               # bench_images' plain loop
    .venv/bin/python benchmarks/profile_run.py report [DIR]                            # the table of the .prof files
    .venv/bin/python benchmarks/profile_run.py pair SPEC INPUT OUTPUT [ROUNDS]         # per-item CPU: 1 vs 2 at once
    .venv/bin/python benchmarks/profile_run.py stages SPEC INPUT OUTPUT [EVERY]        # per-stage CPU, ours vs plain

``report`` starts with the run's own busy report (the summary's ``scheduling`` block, kept as scheduling.json):
per worker, busy and CPU seconds and when its first and last chunks ran; the workers' idle time split into
start-up (before the first chunk: forkserver imports, worker start, pipeline build), gaps (waiting for work)
and tail (after the last chunk while others finish); the main process's CPU per output.

Profiles go to ``benchmarks/out/profile/`` (gitignored; ``$PROFILE_DIR`` overrides): ``main.prof`` (the CLI's
thread), ``manager.prof`` (the process pool's result thread in the main process), ``worker-<pid>.prof`` (each
pool worker, from its initializer to its exit) and ``plain.prof``; each ``.json`` beside it holds the process's
CPU seconds (``os.times``) at the dump, so time before the profiler started (interpreter start-up) shows too.

How workers are reached without touching the package: the local engine's forkserver preloads ``__main__`` (this
script, imported as ``__mp_main__``), and the pool's initializer is looked up in ``augment.run.engines`` when the
pool starts; this script swaps in ``profiled_init``, which starts a profiler, calls the real initializer and
registers a multiprocessing finalizer that dumps the profile when the worker exits (workers leave with
``os._exit``, so ``atexit`` would never run).
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import time
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE_DIR = Path(os.environ.get("PROFILE_DIR") or ROOT / "benchmarks" / "out" / "profile")


def _dump(prof: cProfile.Profile, name: str) -> None:
    prof.disable()
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    prof.dump_stats(PROFILE_DIR / f"{name}.prof")
    t = os.times()
    (PROFILE_DIR / f"{name}.json").write_text(json.dumps({"user": t.user, "system": t.system, "pid": os.getpid()}))


def profiled_init(*args) -> None:
    """The pool initializer, profiled: the profile runs until the worker exits."""
    from multiprocessing import util

    prof = cProfile.Profile(time.thread_time)
    util.Finalize(None, _dump, args=(prof, f"worker-{os.getpid()}"), exitpriority=100)
    prof.enable()
    from augment.run.worker import init_pool_worker

    init_pool_worker(*args)


def _profile_manager_thread() -> None:
    """Profile the pool's manager thread (it receives and unpickles every chunk's result) into manager.prof."""
    from concurrent.futures import process

    original = process._ExecutorManagerThread.run

    def run(self):
        prof = cProfile.Profile(time.thread_time)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()
            PROFILE_DIR.mkdir(parents=True, exist_ok=True)
            n = len(list(PROFILE_DIR.glob("manager*.prof")))
            prof.dump_stats(PROFILE_DIR / f"manager{n or ''}.prof")

    process._ExecutorManagerThread.run = run


def profile_run(argv: list[str]) -> None:
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    import augment.run.engines as engines  # imports profiled: the CLI pays them too

    engines.init_pool_worker = profiled_init
    _profile_manager_thread()
    sys.argv = ["augment", *argv]
    from augment.cli import main

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main()
    except SystemExit as exc:
        if exc.code:
            raise
    finally:
        _dump(prof, "main")
        print(out.getvalue(), end="")
        _save_scheduling(out.getvalue())


def _save_scheduling(stdout: str) -> None:
    """Keep the run summary's ``scheduling`` block (the engine's own busy report: per worker busy and CPU
    seconds, start-up / gaps / tail idle, the main process's CPU per output) beside the profiles."""
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                block = json.loads(line).get("scheduling")
            except ValueError:
                continue
            if block:
                PROFILE_DIR.mkdir(parents=True, exist_ok=True)
                (PROFILE_DIR / "scheduling.json").write_text(json.dumps(block, indent=1))


def profile_plain(src: str, out: str, copies: str) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    prof = cProfile.Profile(time.thread_time)
    prof.enable()
    from bench_images import plain_loop

    n = plain_loop(Path(src), Path(out), int(copies))
    _dump(prof, "plain")
    print(f"{n} outputs")


# ------------------------------------------------------------------ contention between workers


def _pair_worker(args) -> dict:
    """One process's share of a pair run: ``process_chunk`` over its tasks (the worker's real per-item path:
    read, hash, decode, op, encode, atomic write, record), timed with its own CPU clocks."""
    spec_path, src, out, tasks, threads = args
    from augment.compile.pipeline import Pipeline
    from augment.run.job import JobConfig, process_chunk
    from augment.run.worker import init_worker
    from augment.spec import load_spec

    init_worker(threads)
    pipe = Pipeline(load_spec(spec_path))
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=os.path.abspath(src), output_root=os.path.abspath(out))
    process_chunk(config, tasks[:2])  # warm: imports and the first pipeline build are start-up, not per item
    before, wall = os.times(), time.perf_counter()
    result = process_chunk(config, tasks[2:])
    after = os.times()
    return {"outputs": len(result.records), "wall": time.perf_counter() - wall, "user": after.user - before.user,
            "system": after.system - before.system, "errors": len(result.errors)}


def pair(spec_path: str, src: str, out: str, rounds: str = "2") -> None:
    """Is a worker's per-item CPU the same when two workers run at once? The sorted sources split in two
    interleaved halves ([0::2], [1::2]); each half run alone, then both at once, ``rounds`` times, every run in
    a fresh forkserver process writing into its own empty folder. CPU seconds per output (user and system)
    compare across the two; wall times only on a quiet machine."""
    import multiprocessing as mp
    import shutil

    from augment.io.image_folder import scan_image_folder
    from augment.run.job import ImageTask
    from augment.spec import load_spec

    copies = load_spec(spec_path).copies
    images = scan_image_folder(Path(src)).images
    halves = [[ImageTask(rel, tuple(range(copies))) for rel in images[k::2]] for k in (0, 1)]
    ctx = mp.get_context("forkserver")

    def once(which: list[int], threads: int) -> list[dict]:
        shutil.rmtree(out, ignore_errors=True)
        args = [(spec_path, src, out, halves[k], threads) for k in which]
        with ctx.Pool(len(which)) as pool:
            return pool.map(_pair_worker, args)

    print(f"load average before: {os.getloadavg()}; {len(images)} sources x {copies} copies")
    for r in range(int(rounds)):
        alone = [once([k], 1)[0] for k in (0, 1)]
        together = once([0, 1], 1)
        for label, runs in (("alone", alone), ("together", together)):
            n = sum(x["outputs"] for x in runs)
            print(f"round {r} {label:8s}: " + "; ".join(
                f"half {k}: wall {x['wall']:.2f} s, user {x['user']:.2f}, sys {x['system']:.2f}"
                for k, x in enumerate(runs))
                + f" | CPU per output {1000 * sum(x['user'] + x['system'] for x in runs) / n:.3f} ms "
                  f"(sys {1000 * sum(x['system'] for x in runs) / n:.3f})", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    print(f"load average after: {os.getloadavg()}")


# ------------------------------------------------------------------ per-stage CPU, unprofiled


def stages(spec_path: str, src: str, out: str, every: str = "3") -> None:
    """CPU per output of each stage of a worker's item (``job.py``'s own calls) beside the plain loop's, in one
    process, interleaved item by item, without a profiler: read the gap between ours and the plain loop by
    stage. Every ``every``-th source; two rounds, the second reported (the first warms caches and imports)."""
    import io as _io
    import shutil

    import albumentations as A
    import numpy as np
    from PIL import Image

    from augment.compile.pipeline import Pipeline
    from augment.io.fingerprint import fingerprint_of
    from augment.io.image_folder import scan_image_folder
    from augment.io.images import decode_image, encode_image
    from augment.run.job import ChunkResult, JobConfig, image_copy, output_name, store_for, write_output
    from augment.run.job_base import output_record
    from augment.run.worker import init_worker
    from augment.spec import load_spec

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_images import QUALITY, ZOOM

    init_worker(1)
    pipe = Pipeline(load_spec(spec_path))
    copies = pipe.spec.copies
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash=pipe.spec_hash, input_root=os.path.abspath(src), output_root=os.path.abspath(out))
    plain = A.Compose([A.HorizontalFlip(p=0.5), A.Affine(scale=ZOOM, p=1.0)], seed=7)
    rels = scan_image_folder(Path(src)).images[:: int(every)]
    blobs = [(Path(src) / rel).read_bytes() for rel in rels]
    totals: dict[str, float] = {}

    def clock(name, fn):
        start = time.process_time()
        value = fn()
        totals[name] = totals.get(name, 0.0) + time.process_time() - start
        return value

    for _round in range(2):
        totals.clear()
        shutil.rmtree(out, ignore_errors=True)
        result = ChunkResult()
        for rel, data in zip(rels, blobs):
            img = clock("plain: decode (PIL open + convert)", lambda: np.asarray(Image.open(_io.BytesIO(data)).convert("RGB")))
            arr, _info = clock("ours: decode (decode_image)", lambda: decode_image(data))
            fp = clock("ours: source fingerprint", lambda: fingerprint_of(data, os.stat(Path(src) / rel)))
            for k in range(copies):
                aug = clock("plain: op (A.Compose)", lambda: plain(image=img)["image"])

                def plain_encode():
                    buf = _io.BytesIO()
                    Image.fromarray(aug).save(buf, "JPEG", quality=QUALITY)
                    return buf.getvalue()

                encoded = clock("plain: encode (fromarray + save)", plain_encode)
                target = Path(out) / "plain" / output_name(rel, k)
                target.parent.mkdir(parents=True, exist_ok=True)
                clock("plain: write (write_bytes)", lambda: target.write_bytes(encoded))
                seed, res = clock("ours: seed + op (image_copy)", lambda: image_copy(pipe, config, rel, k, arr, result))
                encoded = clock("ours: encode (encode_image)", lambda: encode_image(res.output, "JPEG", 95))
                name = output_name(rel, k)
                clock("ours: hash + record (output_record)",
                      lambda: output_record(config, rel, name, k, seed, res.applied, encoded, fp))
                clock("ours: write (atomic, write_output)", lambda: write_output(store_for(config), name, encoded))
    shutil.rmtree(out, ignore_errors=True)
    n = len(rels) * copies
    print(f"{len(rels)} sources x {copies} copies; CPU us per output (load {os.getloadavg()[0]:.1f}):")
    for name in sorted(totals):
        print(f"  {name:40s} {1e6 * totals[name] / n:8.1f}")
    for side in ("plain", "ours"):
        print(f"  {side + ' total':40s} {1e6 * sum(v for k, v in totals.items() if k.startswith(side)) / n:8.1f}")


# ------------------------------------------------------------------ the table


def _report_scheduling(folder: Path) -> None:
    """Where the workers' wall time went, from the run's own busy report (unaffected by the profiler's clock
    only in its proportions: every process was slowed alike)."""
    path = folder / "scheduling.json"
    if not path.exists():
        return
    s = json.loads(path.read_text())
    slots = s["wall_seconds"] * s["threads"]
    idle = s["idle_seconds"]
    print(f"== engine busy report: {s['outputs']} outputs in {s['chunks']} chunks, {s['threads']} workers x "
          f"{s['wall_seconds']:.2f} s wall = {slots:.2f} worker-s")
    print(f"   busy {s['worker_seconds']:.2f} ({s['busy_fraction']:.1%}); idle: start-up {idle['startup']:.2f}, "
          f"gaps {idle['gaps']:.2f}, tail {idle['tail']:.2f}; main CPU {s['main_cpu_seconds']:.2f} s "
          f"({s['main_cpu_ms_per_output']} ms/output), workers {s['worker_cpu_ms_per_output']} CPU ms/output")
    for i, w in enumerate(s["workers"]):
        print(f"   worker {i}: {w['chunks']} chunks, {w['outputs']} outputs, busy {w['busy_seconds']:.2f} s, "
              f"CPU {w['cpu_seconds']:.2f} s, first chunk at {w['first_chunk_at']:.2f} s, "
              f"last done at {w['last_chunk_done_at']:.2f} s")

# (component, [(file substring, function name)]): cumulative seconds of those functions (outermost calls only:
# cProfile's cumulative time already excludes recursive re-entries). Components are disjoint by construction
# except "imports", which is reported separately from the per-item work (imports happen before the first item).
COMPONENTS = [
    ("imports (all import statements)", [("<frozen importlib._bootstrap>", "_find_and_load")]),
    ("hash source (fingerprint_of)", [("augment/io/fingerprint.py", "fingerprint_of")]),
    ("decode (decode_image)", [("augment/io/images.py", "decode_image")]),
    ("op (Pipeline.run)", [("augment/compile/pipeline.py", "run")]),
    ("seed derivation (derive_seed)", [("augment/seeding.py", "derive_seed")]),
    ("encode (encode_image)", [("augment/io/images.py", "encode_image")]),
    ("hash output + record (output_record)", [("augment/run/job_base.py", "output_record")]),
    ("write: temp file + rename (atomic_write_bytes)", [("augment/io/atomic.py", "atomic_write_bytes")]),
    ("  of which os.replace", [("~", "<built-in method posix.replace>")]),
    ("write_output total (LocalStore.write_bytes: checks + atomic)", [("augment/io/store.py", "write_bytes")]),
    ("  decode: ICC transform (to_srgb)", [("augment/io/images.py", "to_srgb")]),
    ("  decode: EXIF transpose", [("PIL/ImageOps.py", "exif_transpose")]),
    ("  op: first-call backend import (backend_albumentations <module>)",
     [("augment/compile/backend_albumentations.py", "<module>")]),
    ("  imports: huggingface_hub (pulled in by albumentations)", [("huggingface_hub/__init__.py", "<module>")]),
    ("  imports: torch", [("torch/__init__.py", "<module>")]),
    ("  imports: albumentations", [("albumentations/__init__.py", "<module>")]),
    ("  imports: augment.cli", [("augment/cli.py", "<module>")]),
    ("worker total (process_chunk)", [("augment/run/job.py", "process_chunk")]),
    ("main: engine loop (LocalEngine.run)", [("augment/run/engines.py", "run")]),
    ("manager thread: result handling", [("concurrent/futures/process.py", "run")]),
    ("fsync (os.fsync)", [("~", "<built-in method posix.fsync>")]),
    ("worker IPC: unpickle tasks / pickle results", [("concurrent/futures/process.py", "_sendback_result"),
                                                    ("~", "<method 'get' of '_multiprocessing.SemLock' objects>")]),
    ("main: manifest per-record writes (_collect)", [("augment/run/expander.py", "_collect")]),
    ("main: finalize_manifest", [("augment/io/manifest.py", "finalize_manifest")]),
    ("main: planning (_scan_images/_image_plan/_source_changes)", [("augment/run/expander.py", "_scan_images"),
                                                                   ("augment/run/expander.py", "_image_plan"),
                                                                   ("augment/run/expander.py", "_source_changes"),
                                                                   ("augment/run/expander.py", "_done_outputs")]),
    ("main: waiting on workers (wait)", [("concurrent/futures/_base.py", "wait")]),
    ("main: library_versions (importlib.metadata)", [("augment/run/expander.py", "library_versions")]),
    ("plain: decode (PIL open+convert)", [("PIL/Image.py", "convert"), ("PIL/Image.py", "open")]),
    ("plain: op (A.Compose.__call__)", [("albumentations/core/composition.py", "__call__")]),
    ("plain: encode (Image.save)", [("PIL/Image.py", "save")]),
    ("plain: write (Path.write_bytes)", [("pathlib.py", "write_bytes")]),
    ("plain: read (Path.read_bytes)", [("pathlib.py", "read_bytes")]),
]


def _cum(stats, file_part: str, func: str) -> float:
    total = 0.0
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if name == func and file_part in filename:
            total += ct
    return total


def report(directory: str | None = None) -> None:
    import pstats

    folder = Path(directory) if directory else PROFILE_DIR
    _report_scheduling(folder)
    for prof_path in sorted(folder.glob("*.prof")):
        stats = pstats.Stats(str(prof_path))
        meta_path = prof_path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        print(f"== {prof_path.name}: profiled {stats.total_tt:.2f} s; os.times cpu "
              f"{meta.get('user', 0) + meta.get('system', 0):.2f} s (user {meta.get('user', 0):.2f} sys "
              f"{meta.get('system', 0):.2f})")
        for label, keys in COMPONENTS:
            seconds = sum(_cum(stats, f, n) for f, n in keys)
            if seconds >= 0.005:
                print(f"   {label:60s} {seconds:8.2f} s")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "plain", "report", "pair", "stages"):
        sys.exit(__doc__)
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "run":
        profile_run(["run", *rest])
    elif mode == "plain":
        profile_plain(*rest)
    elif mode == "pair":
        pair(*rest)
    elif mode == "stages":
        stages(*rest)
    else:
        report(*rest)
