"""Library transforms (``albumentations.X``, ``torchvision.X``) through a real ``augment serve``: listed in
``/v1/ops?library=...`` with their keywords as parameters (so the studio and clients can build them), the others
with why not, and usable in ``/v1/augment`` with the bytes the CLI writes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from serve_support import REPO, Server


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    assert srv.stop() == 0


def test_v1_ops_lists_library_transforms_as_the_cli_does(server):
    both = server.get("/v1/ops?library=all&schema=true")
    assert both.status == 200, both.body
    listing = {item["op"]: item for item in both.json()}
    clahe = listing["albumentations.CLAHE"]
    assert clahe["usable"] and clahe["annotations"] == "pixel"
    params = {p["name"]: p for p in clahe["params"]}
    assert params["clip_limit"]["default"] == 4.0 and params["tile_grid_size"]["default"] == [8, 8]
    assert clahe["schema"]["properties"]["tile_grid_size"]["default"] == [8, 8]
    assert "p" not in clahe["schema"]["properties"] and not clahe["schema"].get("required")
    rotation = listing["torchvision.RandomRotation"]  # no InitSchema: typed from the constructor signature
    assert rotation["usable"] and rotation["schema"]["required"] == ["degrees"]
    assert {p["name"]: p["default"] for p in rotation["params"]}["expand"] is False
    assert listing["albumentations.Lambda"]["reason"].startswith("runs arbitrary Python functions")
    assert "per-pixel displacement" in listing["torchvision.ElasticTransform"]["reason"]
    assert listing["torchvision.AutoAugment"]["usable"] is False
    # every transform of both libraries is listed, usable or with a reason
    assert all(i["usable"] or i["reason"] for i in listing.values())
    assert sum(i["library"] == "torchvision" for i in listing.values()) >= 45
    for library in ("albumentations", "torchvision"):
        cli = subprocess.run([sys.executable, "-m", "augment.cli", "ops", "--library", library, "--json"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
        assert cli.returncode == 0, cli.stderr
        assert server.get(f"/v1/ops?library={library}").json() == json.loads(cli.stdout)
    assert server.get("/v1/ops?library=kornia").status == 422


def test_listed_library_transforms_run_in_v1_augment_with_the_cli_bytes(server, tmp_path):
    rng = np.random.default_rng(5)
    src = tmp_path / "in"
    (src / "a").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(src / "a" / "x.png")
    listing = {i["op"]: i for i in server.get("/v1/ops?library=all").json()}
    steps = [{"op": "albumentations.CLAHE", "params": {"clip_limit": [1, 3]}},
             {"op": "torchvision.RandomRotation", "params": {"degrees": 20}},
             {"op": "torchvision.ColorJitter", "params": {"brightness": 0.3}}]
    assert all(listing[s["op"]]["usable"] for s in steps)
    spec = {"name": "lib", "modality": "image", "steps": steps}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "augment.cli", "run", str(tmp_path / "spec.json"), str(src), str(out),
                          "--seed", "4", "--copies", "2", "--engine", "serial", "-q"], cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    cli = {json.loads(line)["output"]: json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()}
    image = base64.b64encode((src / "a" / "x.png").read_bytes()).decode()
    reply = server.post("/v1/augment", {"spec": spec, "seed": 4, "copies": 2,
                                        "items": [{"name": "a/x.png", "image": image}]})
    assert reply.status == 200, reply.body
    outputs = reply.json()["items"][0]["outputs"]
    assert len(outputs) == 2
    for o in outputs:
        rec = cli[f"a/x__aug{o['copy']}.png"]
        assert o["sha256"] == rec["sha256"] and o["ops"] == rec["ops"]
    refused = server.post("/v1/augment", {"spec": {**spec, "steps": [{"op": "torchvision.AutoAugment"}]},
                                          "items": [{"name": "a/x.png", "image": image}]})
    assert refused.status == 422 and "draws inside forward" in refused.body.decode()
