"""The process-pool engine reports where its workers' time went (the summary's ``scheduling`` block), and its
outputs do not depend on the number of workers or on how the work was chunked (tapering chunks included)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PIPELINES, REPO
from augment.run.engine_base import BusyMeter
from augment.run.job import ChunkResult

FLIP_ZOOM = PIPELINES / "flip_zoom_noise.yaml"


def _result(worker: str, start: float, seconds: float, outputs: int, cpu: float = 0.0) -> ChunkResult:
    return ChunkResult(records=[{}] * outputs, worker=worker, started_at=start, finished_at=start + seconds,
                       work_seconds=seconds, cpu_seconds=cpu, items=outputs)


def test_busy_meter_splits_idle_worker_time_into_startup_gaps_and_tail():
    meter = BusyMeter(workers=3)
    meter.started = t0 = time.time() - 10  # the run started 10 s ago (report() measures up to now)
    # worker a: starts 1 s late, busy 2 s, waits 1 s, busy 1 s, done at t0+5; worker b: busy 4 s from t0+0.5
    meter.add(_result("a", t0 + 1, 2, 10, cpu=1.5))
    meter.add(_result("b", t0 + 0.5, 4, 20, cpu=3.5))
    meter.add(_result("a", t0 + 4, 1, 10, cpu=1.0))
    report = meter.report()
    wall = report["wall_seconds"]
    assert 10 <= wall < 60 and report["threads"] == 3 and report["chunks"] == 3 and report["outputs"] == 40
    assert report["worker_seconds"] == 7.0
    idle = report["idle_seconds"]
    # a third worker that never ran a chunk counts as start-up for the whole run
    assert idle["startup"] == pytest.approx(1 + 0.5 + wall, abs=0.01)
    assert idle["gaps"] == pytest.approx(1.0, abs=0.01)  # a's second chunk started 1 s after its first ended
    assert idle["tail"] == pytest.approx((wall - 5) + (wall - 4.5), abs=0.01)  # after each one's last chunk
    assert report["busy_fraction"] == pytest.approx(7.0 / (3 * wall), abs=0.001)
    assert report["worker_cpu_ms_per_output"] == pytest.approx(1000 * 6.0 / 40)
    by_outputs = sorted(w["outputs"] for w in report["workers"])
    assert by_outputs == [20, 20]
    assert report["main_cpu_ms_per_output"] is not None and report["main_cpu_seconds"] >= 0


def test_busy_meter_ignores_the_results_made_for_items_that_killed_their_worker():
    from augment.run.engine_base import died_result
    from augment.run.job import ImageTask

    meter = BusyMeter(workers=1)
    meter.started = t0 = time.time() - 2
    meter.add(_result("a", t0 + 0.5, 1.0, 6, cpu=0.9))
    meter.add(died_result(ImageTask("x.jpg", (0,)), "the process exited abnormally"))
    report = meter.report()
    assert report["chunks"] == 2 and report["outputs"] == 6 and len(report["workers"]) == 1
    idle = report["idle_seconds"]
    assert 0 <= idle["tail"] <= report["wall_seconds"] and idle["startup"] == pytest.approx(0.5, abs=0.01)


def test_busy_meter_of_a_run_without_outputs_reports_no_rates():
    report = BusyMeter(workers=2).report()
    assert report["outputs"] == 0 and report["overhead_ms_per_output"] is None
    assert report["main_cpu_ms_per_output"] is None and report["busy_fraction"] == 0.0


def _cli_run(src: Path, out: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(FLIP_ZOOM), str(src), str(out), "-q",
                           *extra], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in ("run.json", "errors.jsonl")}


@pytest.mark.slow
def test_one_and_two_workers_write_the_same_bytes_and_report_their_busy_time(digits_folder, tmp_path):
    summaries = {}
    for workers in ("1", "2"):
        summaries[workers] = _cli_run(digits_folder, tmp_path / f"w{workers}", "--workers", workers)
    one, two = _files(tmp_path / "w1"), _files(tmp_path / "w2")
    assert one == two and len([k for k in one if "__aug" in k]) > 100  # outputs and manifest, byte for byte
    for workers, summary in summaries.items():
        sched = summary["scheduling"]
        assert sched["outputs"] == summary["written"] > 0
        assert sched["threads"] == int(workers)
        assert 0 < sched["busy_fraction"] <= 1
        assert sum(w["outputs"] for w in sched["workers"]) == summary["written"]
        assert 1 <= len(sched["workers"]) <= int(workers)
        assert all(w["cpu_seconds"] > 0 and 0 <= w["first_chunk_at"] <= w["last_chunk_done_at"]
                   for w in sched["workers"])
        assert set(sched["idle_seconds"]) == {"startup", "gaps", "tail"}
        assert sched["main_cpu_ms_per_output"] >= 0 and sched["worker_cpu_ms_per_output"] > 0
