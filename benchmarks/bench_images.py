"""Image expansion speed and memory, every contender measured side by side in one run (not a test).

    .venv/bin/python benchmarks/bench_images.py [--dataset ../shared/datasets/images/sign_digits] [--copies 5]

Work for every contender: JPEG in -> horizontal flip (p=0.5) + zoom -> JPEG out (quality 95), same files, same
number of outputs. Each contender runs as a fresh process and is timed from outside, start-up and imports
included (albumentations imports torch, ~2.5 s, paid once per process), so throughput = outputs / wall seconds.
Timed runs are unobserved, round-robin over the contenders of a comparison, best of ``TIMED_REPEATS``
(``--repeats``), each with its exact process-tree CPU; one more run of the same command gives peak memory.

- ``plain``: one process, a loop of PIL decode -> ``A.Compose([A.HorizontalFlip(), A.Affine(scale=...)])`` ->
  PIL encode -> write; the floor our per-item overhead (seeding, manifest, atomic writes) is measured against.
- ``augmentor``: ``Augmentor.Pipeline(...).flip_left_right(0.5).zoom(...)``, ``.sample(n, multi_threaded=True)``
  (Augmentor's zoom only zooms in, so its range is [1.0, 1.15]).
- ``ours``: ``augment run`` (the CLI) with the local engine at 1 and 2 workers, and the Dask engine on a 2-worker
  LocalCluster (cluster start-up included).
- Larger images: the same on 512x512 JPEGs generated here. Memory: peak RSS summed over the whole process tree
  (psutil, sampled every 20 ms) for 1x and 10x the files.
- CPU: the whole process tree's, exactly (``tree_cpu.py``); and for the plain loop and one worker, each job on its
  first image alone, which gives its fixed CPU (imports, start-up) and its CPU per output net of it.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "images" / "sign_digits"
ZOOM = (0.85, 1.15)
QUALITY = 95

SPEC = """\
version: 1
name: bench-flip-zoom
modality: image
backend: albumentations
seed: 7
copies: {copies}
steps:
  - op: horizontal_flip
    p: 0.5
  - op: zoom
    params:
      scale: [{lo}, {hi}]
"""


# ---------------------------------------------------------------- contenders run in their own process


def plain_loop(src: Path, out: Path, copies: int) -> int:
    import albumentations as A
    import numpy as np
    from PIL import Image

    transform = A.Compose([A.HorizontalFlip(p=0.5), A.Affine(scale=ZOOM, p=1.0)], seed=7)
    written = 0
    for path in sorted(p for p in src.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")):
        rel = path.relative_to(src)
        (out / rel.parent).mkdir(parents=True, exist_ok=True)
        image = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("RGB"))
        for k in range(copies):
            augmented = transform(image=image)["image"]
            buf = io.BytesIO()
            Image.fromarray(augmented).save(buf, "JPEG", quality=QUALITY)
            (out / rel.parent / f"{rel.stem}__aug{k}{rel.suffix}").write_bytes(buf.getvalue())
            written += 1
    return written


def augmentor_run(src: Path, out: Path, n: int) -> int:
    import Augmentor

    for sub in [src, *(p for p in src.rglob("*") if p.is_dir())]:  # Augmentor writes per class, never mkdirs
        (out / sub.relative_to(src)).mkdir(parents=True, exist_ok=True)
    pipe = Augmentor.Pipeline(str(src), output_directory=str(out), save_format="JPEG")
    pipe.flip_left_right(probability=0.5)
    pipe.zoom(probability=1.0, min_factor=1.0, max_factor=ZOOM[1])
    pipe.sample(n, multi_threaded=True)
    return n


# ---------------------------------------------------------------- measuring


def timed_run(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` unobserved: wall seconds, the CPU seconds of it and every process it started (exact: this
    process is their subreaper and waits for each, ``tree_cpu.py``; nothing polls while it runs), and the 1-minute
    load average before it started. Nothing else runs meanwhile; an observer polling /proc every 20 ms takes a
    good part of a core from a 2-worker run on a 2-core machine (it made 2 workers look no faster than 1 in
    earlier results)."""
    from tree_cpu import become_subreaper, children_cpu, reap_all

    become_subreaper()
    reap_all()
    cpu_before = children_cpu()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log, "wb") as fh:
        code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    seconds = time.perf_counter() - start
    reap_all()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}); see {log}:\n{log.read_text()[-2000:]}")
    return {"seconds": seconds, "cpu_seconds": children_cpu() - cpu_before, "load_before": load}


def observed_run(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` again under observation: CPU seconds of it and all its descendants, exactly (this process is
    their subreaper and waits for every one: ``tree_cpu.py``), and their peak summed RSS (psutil, sampled every
    20 ms). Its wall time is not the one reported. ``cpu_main_seconds`` is the CPU of ``cmd``'s own process alone
    (the rest ran in its workers and helpers); ``cpu_sampled_seconds`` the sum psutil saw (earlier sessions'
    figure: it misses each process's last 20 ms)."""
    import psutil

    from tree_cpu import become_subreaper, children_cpu, reap_all

    become_subreaper()
    reap_all()
    cpu_before = children_cpu()
    cpu_by_pid: dict[tuple[int, float], float] = {}
    cpu_main = 0.0
    start = time.perf_counter()
    with open(log, "wb") as fh:
        proc = psutil.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        peak = 0
        while proc.poll() is None:
            total = 0
            try:
                tree = [proc, *proc.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    with p.oneshot():
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        cpu_by_pid[(p.pid, p.create_time())] = times.user + times.system
                        if p.pid == proc.pid:
                            cpu_main = times.user + times.system
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    pass
            peak = max(peak, total)
            time.sleep(0.02)
    reap_all()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}:\n{log.read_text()[-2000:]}")
    return {"cpu_seconds": children_cpu() - cpu_before, "cpu_sampled_seconds": sum(cpu_by_pid.values()),
            "cpu_main_seconds": cpu_main, "peak_rss_mb": peak / 2**20, "observed_seconds": time.perf_counter() - start}


TIMED_REPEATS = 3  # this VM's wall times vary by +-30% run to run (``--repeats`` sets it)


@dataclass(frozen=True)
class Job:
    cmd: list[str]
    out: Path
    log: Path


def measure_all(jobs: dict[str, Job]) -> dict[str, dict]:
    """Time every job unobserved, round-robin ``TIMED_REPEATS`` times (a slow spell of the machine then hits
    every contender, not the one that happened to run during it), keep each job's best wall time and list
    them all with each round's CPU; then run each once more under observation for memory. ``out`` is emptied
    between runs. ``rounds`` keeps each round's wall and CPU, for ratios paired within a round."""
    runs: dict[str, list[dict]] = {name: [] for name in jobs}
    outputs: dict[str, int] = {}
    for _ in range(TIMED_REPEATS):
        for name, job in jobs.items():
            runs[name].append(timed_run(job.cmd, job.log))
            outputs[name] = count_outputs(job.out)
            shutil.rmtree(job.out)
    results = {}
    for name, job in jobs.items():
        res = dict(min(runs[name], key=lambda r: r["seconds"]))
        res["all_seconds"] = [round(r["seconds"], 3) for r in runs[name]]
        res["all_cpu_seconds"] = [round(r["cpu_seconds"], 3) for r in runs[name]]
        res["rounds"] = runs[name]
        res["outputs"] = outputs[name]
        observed = observed_run(job.cmd, job.log.with_suffix(".observed.log"))
        res["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in runs[name])
        res["observed_cpu_seconds"] = observed.pop("cpu_seconds")
        res.update(observed)
        res["scheduling"] = scheduling_of(job.log.with_suffix(".observed.log"))
        shutil.rmtree(job.out, ignore_errors=True)
        results[name] = res
    return results


def paired(m: dict, num: str, den: str) -> list[float]:
    """``num``'s rate over ``den``'s, round by round (the two ran minutes apart, under the same spell of the
    machine): the spread of these is what one ratio is worth on this machine."""
    return [(m[num]["outputs"] / a["seconds"]) / (m[den]["outputs"] / b["seconds"])
            for a, b in zip(m[num]["rounds"], m[den]["rounds"])]


def full_cores_bound(m: dict, ours: str, peer: str, cores: int) -> float:
    """The ratio ``ours`` would reach against ``peer`` if its measured CPU (median of its rounds) kept all
    ``cores`` busy from start to end: above this, the run needs less CPU, not better scheduling."""
    best_ours_seconds = m[ours]["cpu_seconds"] / cores
    return statistics.median(b["seconds"] for b in m[peer]["rounds"]) / best_ours_seconds


def count_outputs(out: Path) -> int:
    return sum(1 for p in out.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg"))


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.py = sys.executable
        self.runs = 0

    def _out(self, label: str) -> Path:
        self.runs += 1
        out = self.work / f"out{self.runs}_{label}"
        return out

    def _job(self, cmd: list[str], out: Path) -> Job:
        return Job(cmd, out, self.work / f"{out.name}.log")

    def ours(self, src: Path, spec: Path, workers: int, engine: str = "local", label: str = "") -> Job:
        out = self._out(label or f"ours_{engine}{workers}")
        return self._job([self.py, "-m", "augment.cli", "run", str(spec), str(src), str(out), "--workers",
                          str(workers), "--engine", engine, "-q"], out)

    def plain(self, src: Path, copies: int) -> Job:
        out = self._out("plain")
        return self._job([self.py, __file__, "_plain", str(src), str(out), str(copies)], out)

    def augmentor(self, src: Path, n: int) -> Job:
        out = self._out("augmentor")
        return self._job([self.py, __file__, "_augmentor", str(src), str(out), str(n)], out)


def rate(res: dict) -> float:
    return res["outputs"] / res["seconds"]


def cpu_rate(res: dict) -> float:
    """Outputs per CPU-second: robust to other load on the machine, blind to parallel speed-up."""
    return res["outputs"] / res["cpu_seconds"]


def write_spec(path: Path, copies: int) -> Path:
    path.write_text(SPEC.format(copies=copies, lo=ZOOM[0], hi=ZOOM[1]))
    return path


def make_large_images(dst: Path, count: int, size: int = 512) -> Path:
    """Photo-like 512x512 JPEGs (smooth gradients, shapes and noise, so they compress like photos)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(count):
        cls = dst / f"class{i % 4}"
        cls.mkdir(parents=True, exist_ok=True)
        base = np.stack([xx * rng.uniform(80, 255), yy * rng.uniform(80, 255), (xx + yy) * rng.uniform(40, 127)], -1)
        base += rng.normal(0, 8, base.shape)
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(6):
            x0, y0 = rng.integers(0, size - 64, 2)
            w, h = rng.integers(32, 200, 2)
            draw.ellipse([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.save(cls / f"img{i:04d}.jpg", quality=90)
    return dst


def one_image_input(src: Path, dst: Path) -> Path:
    """A copy of ``src``'s first image (first class folder) alone, in the same layout."""
    first = sorted(p for p in src.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[0]
    target = dst / first.relative_to(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(first, target)
    return dst


def replicate(src: Path, dst: Path, times: int) -> Path:
    """``times`` copies of ``src`` side by side (hard links where possible)."""
    for k in range(times):
        for path in src.rglob("*"):
            if path.is_file():
                target = dst / f"rep{k}" / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copyfile(path, target)
    return dst


def scheduling_of(log: Path) -> dict | None:
    """The ``scheduling`` block of an ``augment run`` summary in ``log`` (the engine's busy report), or None."""
    import json

    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line).get("scheduling")
            except ValueError:
                return None
    return None


def fmt_rate(res: dict) -> str:
    text = (f"{rate(res):8.0f} img/s  ({res['outputs']} outputs in {res['seconds']:.2f} s wall "
            f"(best of {', '.join(f'{t:.2f}' for t in res['all_seconds'])}), "
            f"CPU s {', '.join(f'{c:.2f}' for c in res['all_cpu_seconds'])}, peak RSS {res['peak_rss_mb']:.0f} MB, load before {res['load_before']:.1f})")
    sched = res.get("scheduling")
    if sched:  # where the observed run's worker time went (docs/expanding.md, "Where the workers' time went")
        idle = sched.get("idle_seconds") or {}
        text += (f"\n  {'':<28} observed run: workers busy {sched.get('busy_fraction')}, idle worker-s start-up "
                 f"{idle.get('startup')} / gaps {idle.get('gaps')} / tail {idle.get('tail')}; CPU ms/output workers "
                 f"{sched.get('worker_cpu_ms_per_output')}, main {sched.get('main_cpu_ms_per_output')}")
    return text


def run(dataset: Path, copies: int, large_count: int, large_copies: int, work: Path | None = None,
        only: tuple[str, ...] = ("sign_digits", "large", "memory")) -> dict:
    """Run every comparison (or those in ``only``); returns the measurements and the ratios (printed as they
    come)."""
    tmp = Path(tempfile.mkdtemp(prefix="augbench-", dir=work))
    bench = Bench(tmp)
    results: dict = {"dataset": str(dataset), "copies": copies, "measurements": {}, "ratios": {}}
    m, r = results["measurements"], results["ratios"]
    n_files = sum(1 for p in dataset.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    results["files"] = n_files

    def record(jobs: dict[str, Job]) -> None:
        for name, res in measure_all(jobs).items():
            m[name] = res
            print(f"  {name:<28} {fmt_rate(res)}", flush=True)

    def marginal(prefix: str, src: Path, spec: Path, n_copies: int) -> None:
        """The same jobs on the first image alone: their fixed CPU (start-up, imports), and the CPU per output
        net of it, (full - one) / (outputs - copies), which is what a larger dataset pays per output."""
        one = one_image_input(src, tmp / f"{prefix}one")
        for name, job in (("plain_loop", bench.plain(one, n_copies)), ("ours_local_w1", bench.ours(one, spec, 1))):
            fixed = min(observed_run(job.cmd, job.log)["cpu_seconds"] for _ in range(TIMED_REPEATS))
            shutil.rmtree(job.out, ignore_errors=True)
            full = m[prefix + name]
            m[prefix + name]["fixed_cpu_seconds"] = fixed
            m[prefix + name]["marginal_cpu_ms"] = 1e3 * (full["cpu_seconds"] - fixed) / (full["outputs"] - n_copies)
            print(f"  {prefix + name:<28} fixed {fixed:.2f} CPU-s; net of it "
                  f"{m[prefix + name]['marginal_cpu_ms']:.2f} CPU-ms per output", flush=True)
        r[prefix + "marginal_cpu_w1_vs_plain"] = (m[prefix + "plain_loop"]["marginal_cpu_ms"]
                                                  / m[prefix + "ours_local_w1"]["marginal_cpu_ms"])

    try:
        if "sign_digits" in only:
            spec = write_spec(tmp / "spec.yaml", copies)
            print(f"sign_digits: {n_files} JPEGs x {copies} copies", flush=True)
            record({
                "plain_loop": bench.plain(dataset, copies),
                "ours_local_w1": bench.ours(dataset, spec, 1),
                "ours_local_w2": bench.ours(dataset, spec, 2),
                "augmentor": bench.augmentor(dataset, n_files * copies),
                "ours_dask_w2": bench.ours(dataset, spec, 2, engine="dask"),
            })
            r["w1_vs_plain"] = rate(m["ours_local_w1"]) / rate(m["plain_loop"])
            r["w2_vs_plain"] = rate(m["ours_local_w2"]) / rate(m["plain_loop"])
            r["w2_vs_augmentor"] = rate(m["ours_local_w2"]) / rate(m["augmentor"])
            r["dask_vs_local_w2"] = rate(m["ours_dask_w2"]) / rate(m["ours_local_w2"])
            r["cpu_w1_vs_plain"] = cpu_rate(m["ours_local_w1"]) / cpu_rate(m["plain_loop"])
            r["cpu_w1_vs_augmentor"] = cpu_rate(m["ours_local_w1"]) / cpu_rate(m["augmentor"])
            cores = os.cpu_count() or 1
            r["w2_vs_augmentor_full_cores_bound"] = full_cores_bound(m, "ours_local_w2", "augmentor", cores)
            r["w2_vs_plain_full_cores_bound"] = full_cores_bound(m, "ours_local_w2", "plain_loop", cores)
            results["paired"] = {"w2_vs_plain": paired(m, "ours_local_w2", "plain_loop"),
                                 "w2_vs_augmentor": paired(m, "ours_local_w2", "augmentor"),
                                 "dask_vs_local_w2": paired(m, "ours_dask_w2", "ours_local_w2")}
            marginal("", dataset, spec, copies)

        if "large" in only:
            large = make_large_images(tmp / "large", large_count)
            large_spec = write_spec(tmp / "large_spec.yaml", large_copies)
            print(f"512x512: {large_count} JPEGs x {large_copies} copies", flush=True)
            record({
                "large_plain_loop": bench.plain(large, large_copies),
                "large_ours_local_w1": bench.ours(large, large_spec, 1),
                "large_ours_local_w2": bench.ours(large, large_spec, 2),
                "large_augmentor": bench.augmentor(large, large_count * large_copies),
            })
            r["large_w1_vs_plain"] = rate(m["large_ours_local_w1"]) / rate(m["large_plain_loop"])
            r["large_w2_vs_plain"] = rate(m["large_ours_local_w2"]) / rate(m["large_plain_loop"])
            r["large_w2_vs_augmentor"] = rate(m["large_ours_local_w2"]) / rate(m["large_augmentor"])
            r["large_cpu_w1_vs_plain"] = cpu_rate(m["large_ours_local_w1"]) / cpu_rate(m["large_plain_loop"])
            cores = os.cpu_count() or 1
            r["large_w2_vs_augmentor_full_cores_bound"] = full_cores_bound(m, "large_ours_local_w2", "large_augmentor",
                                                                           cores)
            results.setdefault("paired", {}).update(
                large_w2_vs_plain=paired(m, "large_ours_local_w2", "large_plain_loop"),
                large_w2_vs_augmentor=paired(m, "large_ours_local_w2", "large_augmentor"))
            marginal("large_", large, large_spec, large_copies)

        if "memory" in only:
            print("memory: 1x and 10x the files, local engine, 2 workers, 1 copy", flush=True)
            one_spec = write_spec(tmp / "one_spec.yaml", 1)
            ten = replicate(dataset, tmp / "ten", 10)
            record({
                "memory_1x": bench.ours(dataset, one_spec, 2, label="mem1x"),
                "memory_10x": bench.ours(ten, one_spec, 2, label="mem10x"),
            })
            r["memory_10x_vs_1x"] = m["memory_10x"]["peak_rss_mb"] / m["memory_1x"]["peak_rss_mb"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


TARGETS = {  # ratio name -> (minimum or maximum, bound): issue 25's targets
    "w2_vs_plain": (">=", 1.7),
    "w2_vs_augmentor": (">=", 1.2),
    "dask_vs_local_w2": (">=", 0.95),
    "cpu_w1_vs_plain": (">=", 1.0),  # outputs per CPU second: CPU per output <= the plain loop's
    "large_w2_vs_plain": (">=", 1.7),
    "large_w2_vs_augmentor": (">=", 1.2),
    "large_cpu_w1_vs_plain": (">=", 1.0),
    "marginal_cpu_w1_vs_plain": (">=", 1.0),  # the same, net of each side's fixed start-up CPU
    "large_marginal_cpu_w1_vs_plain": (">=", 1.0),
    "memory_10x_vs_1x": ("<=", 1.2),
}


def verdict(name: str, value: float) -> str:
    if name not in TARGETS:
        return ""
    op, bound = TARGETS[name]
    ok = value >= bound if op == ">=" else value <= bound
    return f"target {op} {bound}: {'met' if ok else 'MISSED'}"


def compile_package() -> None:
    """Write augment's bytecode first, as installing a package does (``make bytecode``): the contenders import
    libraries whose bytecode pip wrote at install, and an editable augment under ``PYTHONDONTWRITEBYTECODE``
    compiled its ~100 modules again in every process of every run (~0.3 s of CPU each)."""
    import compileall

    root = Path(__file__).resolve().parents[1]
    compileall.compile_dir(str(root / "augment"), quiet=1)
    print(f"augment's bytecode written (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")


def main(argv: list[str] | None = None) -> dict:
    global TIMED_REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--copies", type=int, default=3, help="copies per sign_digits image (default 3)")
    parser.add_argument("--large-count", type=int, default=200, help="512x512 images to generate")
    parser.add_argument("--large-copies", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=["sign_digits", "large", "memory"],
                        default=["sign_digits", "large", "memory"], help="comparisons to run (default: all)")
    parser.add_argument("--repeats", type=int, default=TIMED_REPEATS, help="timed rounds per comparison (default 3)")
    args = parser.parse_args(argv)
    TIMED_REPEATS = max(1, args.repeats)
    if not args.dataset.is_dir():
        sys.exit(f"dataset {args.dataset} not found")
    compile_package()
    results = run(args.dataset, args.copies, args.large_count, args.large_copies, only=tuple(args.only))
    print("ratios (rates of each side's best wall time; CPU: median of the rounds):")
    for name, value in results["ratios"].items():
        print(f"  {name:<24} {value:6.2f}x  {verdict(name, value)}")
    if results.get("paired"):
        print("paired within each round (median; the rounds):")
        for name, values in results["paired"].items():
            print(f"  {name:<24} {statistics.median(values):6.2f}x  ({', '.join(f'{v:.2f}' for v in values)})")
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_plain":
        plain_loop(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_augmentor":
        augmentor_run(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
