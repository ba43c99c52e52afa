"""CPU per output of the write path (``LocalStore.write_bytes``: checks, temporary file, rename), against the
same code of another tree, and the cost of ``--durable`` (fsync of each file and of its folder entry).

    .venv/bin/python benchmarks/bench_write_path.py [--base /tmp/base_tree] [--n 300] [--rounds 12]

One process, rounds interleaved over the variants (a busy spell of a shared disk then hits each of them);
each round writes ``n`` files of ``size`` bytes into 10 class folders of a fresh folder; reported: the median
over rounds of process CPU µs per file (creating a file is mostly kernel time, which process time includes)
and wall µs per file (fsync waits on the disk, which CPU time does not show). ``--base``: the other tree's
``io/atomic.py`` and ``io/store.py`` are loaded beside ours (``git archive REV | tar -x -C DIR``). State the
load average and the disk with the numbers: on a shared machine the disk dominates the wall times.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load(path: Path, name: str, replace: tuple[str, str] | None = None):
    source = path.read_text()
    if replace:
        source = source.replace(*replace)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    sys.modules[name] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def base_store(tree: Path):
    _load(tree / "augment/io/atomic.py", "_base_atomic")
    return _load(tree / "augment/io/store.py", "_base_store",
                 ("from augment.io.atomic import", "from _base_atomic import")).LocalStore


def one_round(store_class, n: int, data: bytes, fsync: bool, where: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        store = store_class(tmp)
        kw = {"fsync": True} if fsync else {}
        for i in range(10):
            store.write_bytes(f"c{i}/warm.jpg", data, **kw)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            store.write_bytes(f"c{i % 10}/img{i}.jpg", data, **kw)
        return 1e6 * (time.process_time() - cpu) / n, 1e6 * (time.perf_counter() - wall) / n


def main(argv: list[str] | None = None) -> None:
    from augment.io.store import LocalStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--size", type=int, default=4000, help="bytes per file (sign_digits outputs: ~4 kB)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--no-durable", action="store_true", help="skip the --durable variant")
    parser.add_argument("--dir", default=None, help="where the files go (default: the system's temporary folder)")
    args = parser.parse_args(argv)
    where = args.dir or tempfile.gettempdir()
    data = os.urandom(args.size)
    variants = [("new", LocalStore, False)] + ([] if args.no_durable else [("new --durable", LocalStore, True)])
    if args.base:
        variants.insert(0, ("base", base_store(args.base.resolve()), False))
    print(f"load before: {os.getloadavg()}")
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in variants}
    for _ in range(args.rounds):
        for label, store_class, fsync in variants:
            runs[label].append(one_round(store_class, args.n, data, fsync, where))
    for label, res in runs.items():
        cpu = statistics.median(r[0] for r in res)
        wall = statistics.median(r[1] for r in res)
        print(f"{label}: median of {len(res)} rounds: {cpu:.1f} CPU µs/file, {wall:.1f} wall µs/file")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
