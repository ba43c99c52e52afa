"""No unchanged or duplicate copies by default (issue 12 item 2), through the real CLI: a copy equal to its source
or to another copy of the same source is drawn again from derived seeds, then dropped and counted; images
where no op fired likewise; ``--keep-unchanged`` writes everything as before. Also the once-per-run note for
text an English-only op cannot change (issue 10: Chinese text)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from test_expander import augment_cli, manifest

from augment.io.text_formats import RowError, detect_format, read_text_dataset

TEXTS = ["the movie was good and the actors were great fun to watch", "ok", "a b", "我很喜欢这部电影",
         "the plot is dull but the music is lovely", "wow", "good movie", "great film", "fine actors"]


def _spec(tmp_path, body: str):
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nname: t\n" + body, encoding="utf-8")
    return path


def _rows(path):
    return [r for r in read_text_dataset(path, detect_format(path)) if not isinstance(r, RowError)]


def test_text_copies_equal_to_their_source_or_each_other_are_redrawn_then_dropped(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("".join(f"1\t{t}\n" for t in TEXTS), encoding="utf-8")
    spec = _spec(tmp_path, "modality: text\nseed: 3\ncopies: 4\nsteps:\n  - op: eda\n")
    out = tmp_path / "out"
    proc = augment_cli("run", spec, src, out, "--engine", "serial")
    summary = json.loads(proc.stdout)
    dropped = summary["dropped_unchanged"] + summary["dropped_duplicate"]
    assert summary["written"] + dropped == 4 * len(TEXTS) and dropped > 0 and summary["redrawn"] > 0
    written, recs = _rows(out / "in.tsv"), manifest(out)
    assert len(written) == len(recs) == summary["written"]
    seen: dict[int, set] = {}
    for rec, row in zip(recs, written):
        assert row.text not in seen.setdefault(rec["row"], {TEXTS[rec["row"]]}), (rec, row.text)
        seen[rec["row"]].add(row.text)
    assert all(r["row"] != 3 for r in recs)  # the Chinese row: every copy equal to it, all dropped
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert counts["dropped_unchanged"] == summary["dropped_unchanged"] and counts["redrawn"] == summary["redrawn"]
    # said once per run, not once per row or chunk
    assert proc.stderr.count("note: eda: has no resources for non-Latin-script text") == 1
    # a redrawn copy replays byte for byte from its recorded attempt
    redrawn = [r for r in recs if r.get("attempt")]
    assert redrawn
    rec = redrawn[0]
    replay = augment_cli("replay", out, "in.tsv", "--row", rec["row"], "--copy", rec["copy"])
    assert json.loads(replay.stdout)["identical"] is True
    # --keep-unchanged: the old behaviour, every copy written
    kept = json.loads(augment_cli("run", spec, src, tmp_path / "kept", "--engine", "serial",
                                  "--keep-unchanged").stdout)
    assert kept["written"] == 4 * len(TEXTS) and kept["dropped_unchanged"] == kept["dropped_duplicate"] == 0


def test_image_copies_where_no_op_fired_are_redrawn_then_dropped(tmp_path):
    src = tmp_path / "in" / "cls"
    src.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)).save(src / f"i{i}.png")
    # fires on ~10% of draws: most copies need a redraw, some still fire on none of five draws
    spec = _spec(tmp_path, "modality: image\nseed: 5\ncopies: 6\nsteps:\n  - op: horizontal_flip\n    p: 0.1\n")
    out = tmp_path / "out"
    summary = json.loads(augment_cli("run", spec, tmp_path / "in", out, "--engine", "serial").stdout)
    assert summary["written"] + summary["dropped_unchanged"] == 36
    assert summary["dropped_unchanged"] > 0 and summary["redrawn"] > 0
    recs = [r for r in manifest(out) if r["copy"] is not None]
    assert len(recs) == summary["written"] and all(r["ops"] for r in recs)
    rec = next(r for r in recs)
    replay = augment_cli("replay", out, rec["output"])
    assert json.loads(replay.stdout)["identical"] is True
    kept = json.loads(augment_cli("run", spec, tmp_path / "in", tmp_path / "kept", "--engine", "serial",
                                  "--keep-unchanged").stdout)
    assert kept["written"] == 36 and kept["dropped_unchanged"] == 0
