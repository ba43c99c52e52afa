"""Your own ops: the ImageOp / TextOp API, explicit registration (entry points, register_op, --plugin), and a
plugin op through everything a built-in op gets: validation, listing, run, replay, eval, serve, annotations.

The installed plugin is examples/plugin (``pip install -e examples/plugin``, done by ``make``); the local one is
a module written into tmp_path and named with ``--plugin``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import augment
from augment.compile.targets import Targets
from augment.ops import plugins
from augment.ops.catalog import registry
from augment.ops.params import FloatRange, uniform
from serve_support import REPO, Server

pytest.importorskip("augment_stain", reason="the example plugin is not installed: pip install -e examples/plugin")

from augment_stain import ShoutWord, StainJitter, Translate  # noqa: E402

LOCAL_PLUGIN = textwrap.dedent('''
    """A local plugin module, registered with --plugin localops."""
    import numpy as np
    import augment


    class Invert(augment.ImageOp):
        """Invert the image against a drawn level."""

        name = "invert"
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {"level": int(rng.integers(128, 256))}

        def apply(self, image, drawn):
            return np.clip(drawn["level"] - image.astype(np.int16), 0, 255).astype(np.uint8)
''')


@pytest.fixture(autouse=True)
def _scoped_registry():
    with plugins.scoped():  # registrations made by a test do not leak into the next one
        yield


def _image(h=40, w=48, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def _cli(*args, env=None, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "augment.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture
def local_plugin(tmp_path):
    folder = tmp_path / "plugin_src"
    folder.mkdir()
    (folder / "localops.py").write_text(LOCAL_PLUGIN)
    return {"PYTHONPATH": os.pathsep.join([str(REPO), str(folder)])}


@pytest.fixture
def rgb_folder(tmp_path):
    root = tmp_path / "in"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(_image(seed=10 * i + len(cls) + ord(cls))).save(root / cls / f"{i}.png")
    return root


# --- the Python API ----------------------------------------------------------------------------------------------


def test_installed_plugin_is_found_by_name_through_its_entry_point():
    op = registry().get("augment_stain.stain_jitter")  # not registered yet in this process: found by entry point
    assert op.origin == {"distribution": "augment-stain", "version": "0.1.0", "module": "augment_stain"}
    assert op.annotations == "pixel" and registry().get("augment_stain.translate").annotations == "geometric"
    assert "augment_stain.stain_jitter" in registry().names("image")
    assert "augment_stain.shout_word" in registry().names("text")


def test_typed_class_in_compose_runs_replays_and_is_the_same_on_both_backends():
    image = _image()
    outs = {}
    for backend in ("albumentations", "torchvision"):
        pipe = augment.Compose([StainJitter(scale=(-0.3, 0.3), p=0.9), augment.ops.HorizontalFlip(p=0.5),
                                Translate(max_shift=(-5, 5))], seed=4, backend=backend)
        res = pipe.run(image, seed=11)
        assert [a["op"] for a in res.applied][0] == "augment_stain.stain_jitter"
        assert res.applied[0]["provider"] == "augment-stain 0.1.0"
        json.dumps(res.applied)  # the record is plain JSON
        assert np.array_equal(pipe.replay(image, json.loads(json.dumps(res.applied))), res.output)
        assert np.array_equal(pipe.run(image, seed=11).output, res.output)  # same seed, same bytes
        assert res.ops[0].values.scale == res.applied[0]["params"]["scale"]  # typed drawn values
        outs[backend] = res.output
        assert Compose_roundtrip(pipe)
    assert np.array_equal(outs["albumentations"], outs["torchvision"])
    assert not np.array_equal(image, outs["albumentations"])


def Compose_roundtrip(pipe) -> bool:
    again = augment.Compose.from_yaml(pipe.to_yaml())
    return again.spec_hash == pipe.spec_hash and isinstance(again.transforms[0], StainJitter)


def test_params_are_strict_and_errors_name_the_key():
    with pytest.raises(augment.SpecError) as err:
        augment.parse_spec({"modality": "image", "steps": [
            {"op": "augment_stain.stain_jitter", "params": {"scale": "0.1"}},
            {"op": "augment_stain.translate", "params": {"max_shfit": 2}}]})
    text = str(err.value)
    assert "steps[0].params.scale" in text
    assert "steps[1].params.max_shfit: unknown key 'max_shfit' (did you mean 'max_shift'?)" in text
    with pytest.raises(augment.ops.OpParamError, match="scale"):
        StainJitter(scale=(0.5, 0.1))
    with pytest.raises(augment.SpecError, match="no plugin provides op 'nopkg.nothing'.*--plugin MODULE"):
        augment.parse_spec({"modality": "image", "steps": [{"op": "nopkg.nothing"}]})


def test_nested_and_union_params_are_validated_and_listed_as_written():
    # a nested model's unknown key listed the outer model's keys, a union value gave one error per member (one
    # at pydantic's own "amount.int"), and `augment ops` showed a nested model as "any", a default_factory as
    # None and a union's range without its bounds
    from typing import Literal, Optional, Union

    from pydantic import BaseModel, ConfigDict, Field

    from augment.ops.describe import describe_ops, format_ops

    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
        gain: float = 1.0
        mode: Literal["add", "mul"] = "add"

    class NestedParams(augment.OpParams):
        inner: Inner = Inner()
        amount: Union[int, FloatRange(ge=0, le=50)] = 5
        choice: Optional[Literal["r", "g", "b"]] = None
        weights: list[float] = Field(default_factory=lambda: [1.0, 2.0])

    class Nested(augment.ImageOp):
        """Nested params."""

        name = "nested"
        namespace = "mylab"
        Params = NestedParams
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {}

        def apply(self, image, drawn):
            return image

    augment.register_op(Nested)

    def issues(params):
        with pytest.raises(augment.SpecError) as err:
            augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.nested", "params": params}]})
        return str(err.value).strip().splitlines()

    assert issues({"inner": {"gain": 2.0, "mod": "mul"}}) == [
        "steps[0].params.inner.mod: unknown key 'mod' (did you mean 'mode'?); allowed keys: gain, mode"]
    union = issues({"amount": [1, 99]})
    assert len(union) == 1 and union[0].startswith("steps[0].params.amount[1]: ") and "50" in union[0]
    assert issues({"amount": "lots"})[0].startswith("steps[0].params.amount: ")
    entry = next(op for op in describe_ops("image") if op["op"] == "mylab.nested")
    shown = {p["name"]: p for p in entry["params"]}
    assert shown["inner"]["type"] == "{gain: number, mode: one of add, mul}"
    assert shown["amount"]["type"] == "integer or [number (>= 0, <= 50), number (>= 0, <= 50)] range"
    assert shown["choice"]["type"] == "one of r, g, b or null"
    assert shown["weights"]["type"] == "list of number" and shown["weights"]["default"] == [1.0, 2.0]
    assert "weights: list of number; default [1.0, 2.0]" in format_ops([entry])


def test_register_op_explicitly_and_a_clash_names_both():
    class GainParams(augment.OpParams):
        gain: FloatRange(ge=0, le=4) = (0.5, 1.5)

    class Gain(augment.ImageOp):
        """Multiply pixel values."""
        name = "gain"
        namespace = "mylab"
        Params = GainParams
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {"gain": uniform(rng, params.gain)}

        def apply(self, image, drawn):
            return np.clip(image * drawn["gain"], 0, 255).astype(np.uint8)

    assert augment.register_op(Gain) == "mylab.gain"
    assert augment.register_op(Gain) == "mylab.gain"  # the same class again: nothing happens

    class Other(Gain):
        name = "gain"

    with pytest.raises(augment.PluginError, match=r"registered twice: by .*Gain and by .*Other"):
        augment.register_op(Other)
    pipe = augment.Pipeline(augment.parse_spec(
        {"modality": "image", "steps": [{"op": "mylab.gain", "params": {"gain": [2, 2]}}]}))
    assert np.array_equal(pipe(np.full((4, 4, 3), 50, np.uint8), seed=0), np.full((4, 4, 3), 100, np.uint8))
    assert "mylab.gain" in [o["op"] for o in __import__("augment.ops.describe", fromlist=["x"]).describe_ops()]


def test_the_installed_packages_are_read_once_per_process_however_many_ops_register(monkeypatch):
    # importlib reads every installed distribution's RECORD for this map (~0.5 s of CPU); once per registered op
    # it cost every CLI process about a second with the example plugin's three ops installed
    calls = []
    real = plugins.md.packages_distributions
    monkeypatch.setattr(plugins.md, "packages_distributions", lambda: calls.append(1) or real())
    monkeypatch.setattr(plugins, "_DISTRIBUTIONS", {})
    origins = [plugins.origin_of(m) for m in ("augment_stain.ops", "augment_stain", "numpy.random", "no_such")]
    assert len(calls) == 1
    assert origins[0]["distribution"] == origins[1]["distribution"] == "augment-stain"
    assert origins[3] == {"distribution": None, "version": None, "module": "no_such"}

    # an entry point names its distribution: loading the installed plugins needs no map at all
    calls.clear()
    monkeypatch.setattr(plugins._STORE, "classes", {})
    monkeypatch.setattr(plugins._STORE, "ops", {})
    monkeypatch.setattr(plugins._STORE, "entry_points_done", False)
    assert "augment_stain.stain_jitter" in plugins.load_entry_points()
    assert calls == []
    assert plugins._STORE.ops["augment_stain.stain_jitter"].origin["distribution"] == "augment-stain"


def test_badly_made_ops_fail_with_one_line():
    class NoName(augment.ImageOp):
        pixel_only = True

    with pytest.raises(augment.PluginError, match="set name ="):
        augment.register_op(NoName)

    class Reserved(augment.ImageOp):
        name = "clahe"
        namespace = "albumentations"

    with pytest.raises(augment.PluginError, match="reserved"):
        augment.register_op(Reserved)

    class NotJson(augment.ImageOp):
        name = "not_json"
        namespace = "mylab"
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {"noise": rng.normal(size=3)}  # an array: not what a manifest can hold

        def apply(self, image, drawn):
            return image

    augment.register_op(NotJson)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.not_json"}]}))
    with pytest.raises(ValueError, match=r"mylab.not_json: sample\(\) must return JSON values.*tolist"):
        pipe(_image(), seed=0)

    class BadOut(NotJson):
        name = "bad_out"

        def sample(self, params, rng, ctx):
            return {}

        def apply(self, image, drawn):
            return image.astype(np.float32)

    augment.register_op(BadOut)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.bad_out"}]}))
    with pytest.raises(ValueError, match="must return an HxW or HxWxC uint8 array, got float32"):
        pipe(_image(), seed=0)


def test_plugin_modules_as_people_write_them(tmp_path, monkeypatch):
    # a package whose __init__ re-exports its ops module, and a module whose ops share a base class of their own:
    # both were refused ("defines no augment ops" / "set name = ..."); an import error's message is one line
    pkg = tmp_path / "labops"
    pkg.mkdir()
    (pkg / "ops.py").write_text(textwrap.dedent('''
        import numpy as np
        import augment


        class _Shifting(augment.ImageOp):
            pixel_only = True

            def sample(self, params, rng, ctx):
                return {"v": int(rng.integers(1, 9))}


        class Up(_Shifting):
            name = "up"

            def apply(self, image, drawn):
                return np.clip(image.astype(np.int16) + drawn["v"], 0, 255).astype(np.uint8)


        class Down(_Shifting):
            name = "down"

            def apply(self, image, drawn):
                return np.clip(image.astype(np.int16) - drawn["v"], 0, 255).astype(np.uint8)
    '''))
    (pkg / "__init__.py").write_text("from labops.ops import Down, Up\n")
    (tmp_path / "brokenops.py").write_text("raise RuntimeError('first line\\nsecond line')\n")
    (tmp_path / "lonelybase.py").write_text("import augment\n\n\nclass Forgot(augment.ImageOp):\n"
                                            "    pixel_only = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sorted(plugins.load_module("labops")) == ["labops.down", "labops.up"]
    with plugins.scoped():
        assert sorted(plugins.load_module("labops.ops")) == ["labops.down", "labops.up"]
    with pytest.raises(augment.PluginError) as err:
        plugins.load_module("brokenops")
    assert str(err.value) == "--plugin brokenops: importing it failed: RuntimeError: first line"
    with pytest.raises(augment.PluginError, match="set name ="):  # an op that forgot its name is still told so
        plugins.load_module("lonelybase")


def test_annotations_pixel_only_unchanged_geometric_hooks_move_them_and_undeclared_is_refused():
    image = _image(40, 48)
    boxes = np.array([[10.0, 8.0, 20.0, 18.0]])
    keypoints = np.array([[[12.0, 9.0, 2.0]]])
    mask = np.zeros((1, 40, 48), np.uint8)
    mask[0, 8:18, 10:20] = 1
    targets = Targets(boxes=boxes, labels=("cell",), masks=mask, keypoints=keypoints)
    pipe = augment.Compose([StainJitter(), Translate(max_shift=(3, 3))], seed=0)
    out_image, out, applied, report = pipe.run_targets(image, targets, seed=5)
    assert applied[1]["params"] == {"dx": 3, "dy": 3}
    assert np.allclose(out.boxes, boxes + 3) and np.allclose(out.keypoints[..., :2], keypoints[..., :2] + 3)
    assert out.masks[0, 11:21, 13:23].all() and out.masks.sum() == mask.sum()
    assert report.kept == {"cell": 1}
    replay_image, replay_targets, _ = pipe.replay_targets(image, targets, json.loads(json.dumps(applied)))
    assert np.array_equal(replay_image, out_image) and np.allclose(replay_targets.boxes, out.boxes)

    class Undeclared(augment.ImageOp):
        name = "undeclared"
        namespace = "mylab"

        def sample(self, params, rng, ctx):
            return {}

        def apply(self, image, drawn):
            return image[::-1].copy()

    augment.register_op(Undeclared)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.undeclared"}]}))
    assert pipe(image, seed=0).shape == image.shape  # plain images are fine
    with pytest.raises(ValueError, match=r"^steps\[0\]: op mylab.undeclared declares neither pixel_only"):
        pipe.run_targets(image, targets, seed=0)


@pytest.mark.parametrize("failure", ["KeyError", "TypeError", "ufunc", "RuntimeError", "multiline"])
def test_a_plugin_op_failing_on_a_recorded_draw_is_one_line_naming_the_step(failure):
    # another release of the plugin (a drawn value renamed) or a hand-edited record: the op's own code fails in
    # its own way, and replay printed its traceback
    class Picky(augment.ImageOp):
        name = "picky"
        namespace = "mylab"
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {"level": int(rng.integers(0, 50))}

        def apply(self, image, drawn):
            if failure == "KeyError":
                return image + drawn["renamed"]
            if failure == "TypeError":
                return image + len(drawn["level"])
            if failure == "ufunc":
                return np.add(image, drawn["level"]).astype(np.uint8)
            if failure == "multiline":
                raise ValueError("first line\nsecond line")
            raise RuntimeError("boom")

    augment.register_op(Picky)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.picky"}]}))
    record = [{"op": "mylab.picky", "path": "steps[0]", "params": {"level": "x" if failure == "ufunc" else 3}}]
    targets = Targets(boxes=np.array([[1.0, 1.0, 5.0, 5.0]]), labels=("a",))
    for replay in (lambda: pipe.replay(_image(), record), lambda: pipe.replay_targets(_image(), targets, record)):
        with pytest.raises(augment.ops.drawn.DrawnValueError) as err:
            replay()
        message = str(err.value)
        assert message.startswith("ops[0] (mylab.picky at steps[0]): the recorded values could not be applied (")
        assert "\n" not in message


def test_the_drawn_values_recorded_are_those_sampled_whatever_apply_and_the_hooks_do_with_them():
    # an op that consumed its drawn values in apply() (popped a list) emptied the manifest's record: replay then
    # applied nothing and differed
    class Consuming(augment.ImageOp):
        name = "consuming"
        namespace = "mylab"

        def sample(self, params, rng, ctx):
            return {"offsets": [int(v) for v in rng.integers(1, 4, 3)]}

        def apply(self, image, drawn):
            total = 0
            while drawn["offsets"]:
                total += drawn["offsets"].pop()
            drawn["extra"] = total
            return np.roll(image, total, axis=1)

        def map_points(self, points, drawn, hw):
            total = 0
            while drawn["offsets"]:
                total += drawn["offsets"].pop()
            out = points.copy()
            out[:, 0] = (out[:, 0] + total) % hw[1]
            return out

    augment.register_op(Consuming)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.consuming"}]}))
    image = _image()
    result = pipe.run(image, seed=4)
    drawn = result.applied[0]["params"]
    assert set(drawn) == {"offsets"} and len(drawn["offsets"]) == 3
    assert np.array_equal(result.output, np.roll(image, sum(drawn["offsets"]), axis=1))
    assert np.array_equal(pipe.replay(image, json.loads(json.dumps(result.applied))), result.output)
    targets = Targets(boxes=np.array([[1.0, 1.0, 5.0, 5.0]]), labels=("a",))
    _, moved, applied, _ = pipe.run_targets(image, targets, seed=4)
    assert applied[0]["params"] == drawn
    assert np.allclose(moved.boxes[0, [0, 2]], np.array([1.0, 5.0]) + sum(drawn["offsets"]))


@pytest.mark.parametrize("flaw", ["output_size", "mask_dtype", "mask_shape", "nan_points", "bad_size"])
def test_geometric_hooks_that_disagree_with_the_image_are_an_error_not_moved_annotations(flaw):
    # a plugin's hooks are its author's code: a rotation without output_size clipped boxes to the old canvas, a
    # float mask came back as other classes, a mask of another shape was written beside the image, NaN points
    # dropped every object; each silently
    class Turn(augment.ImageOp):
        name = "turn"
        namespace = "mylab"

        def sample(self, params, rng, ctx):
            return {}

        def apply(self, image, drawn):
            return np.ascontiguousarray(np.rot90(image))

        def map_points(self, xy, drawn, image_hw):
            out = np.stack([xy[:, 1], image_hw[1] - xy[:, 0]], axis=1)
            return out * np.nan if flaw == "nan_points" else out

        def map_mask(self, mask, drawn):
            out = np.ascontiguousarray(np.rot90(mask))
            if flaw == "mask_dtype":
                return out.astype(np.float64)
            return out[:-1] if flaw == "mask_shape" else out

        def output_size(self, drawn, image_hw):
            if flaw == "output_size":
                return image_hw  # forgot that the image turns
            return "tall" if flaw == "bad_size" else (image_hw[1], image_hw[0])

    augment.register_op(Turn)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.turn"}]}))
    semantic = np.zeros((40, 48), np.uint8)
    semantic[5:15, 6:20] = 2
    targets = Targets(boxes=np.array([[6.0, 5.0, 20.0, 15.0]]), labels=("a",), semantic=semantic, ignore_index=255)
    with pytest.raises(ValueError, match=r"op mylab\.turn: (output_size|map_mask|map_points)"):
        pipe.run_targets(_image(40, 48), targets, seed=0)


@pytest.mark.parametrize("straight", [True, False])
def test_a_plugin_map_that_keeps_lines_straight_keeps_polygon_vertices(straight):
    # a plugin flip turned a 4-point rectangle into 40 points in COCO output (densified for a map that might bend)
    class Mirror(augment.ImageOp):
        name = "mirror"
        namespace = "mylab"
        straight_lines = straight

        def sample(self, params, rng, ctx):
            return {}

        def apply(self, image, drawn):
            return np.ascontiguousarray(image[:, ::-1])

        def map_points(self, xy, drawn, image_hw):
            return np.stack([image_hw[1] - xy[:, 0], xy[:, 1]], axis=1)

    augment.register_op(Mirror)
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.mirror"}]}))
    square = np.array([[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0]])
    targets = Targets(boxes=np.array([[10.0, 10.0, 20.0, 20.0]]), labels=("a",), polygons=[[square]])
    _, out, _, _ = pipe.run_targets(_image(40, 48), targets, seed=0)
    polygon = np.asarray(out.polygons[0][0])
    assert np.allclose(out.boxes, [[28.0, 10.0, 38.0, 20.0]])
    assert (len(polygon) == 4) is straight and len(polygon) >= 4
    assert np.allclose(polygon.min(axis=0), [28.0, 10.0]) and np.allclose(polygon.max(axis=0), [38.0, 20.0])


def test_a_plugins_geometric_op_gives_unseen_mask_pixels_the_ignore_index():
    # the example Translate fills what it shifts in with 0, which is a class: those pixels are unseen, as with
    # the built-in ops, and take the ignore index; boxes are unaffected by the check
    semantic = np.ones((40, 48), np.uint8)
    semantic[10:20, 10:20] = 3
    targets = Targets(boxes=np.array([[10.0, 10.0, 20.0, 20.0]]), labels=("a",), semantic=semantic,
                      ignore_index=255)
    pipe = augment.Compose([Translate(max_shift=(3, 3))], seed=0)
    image, out, applied, _ = pipe.run_targets(_image(40, 48), targets, seed=5)
    assert applied[0]["params"] == {"dx": 3, "dy": 3}
    moved = out.semantic[..., 0] if out.semantic.ndim == 3 else out.semantic
    assert (moved[:3] == 255).all() and (moved[:, :3] == 255).all()
    assert (moved[3:, 3:] == semantic[:-3, :-3]).all()
    assert 0 not in moved


def test_text_plugin_op_runs_and_replays_from_its_seed():
    pipe = augment.Compose([ShoutWord(words=2)], seed=1)
    res = pipe.run("the quick brown fox jumps", seed=3)
    assert res.output != "the quick brown fox jumps" and sum(w.isupper() for w in res.output.split()) == 2
    assert res.applied[0]["changes"] and res.applied[0]["provider"] == "augment-stain 0.1.0"
    assert pipe.replay("the quick brown fox jumps", res) == res.output


def test_a_pickled_pipeline_brings_its_plugin_modules(tmp_path, local_plugin, monkeypatch):
    monkeypatch.syspath_prepend(local_plugin["PYTHONPATH"].split(os.pathsep)[1])
    assert plugins.load_module("localops") == ["localops.invert"]
    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "localops.invert"}]}))
    state = pipe.__getstate__()
    assert state["plugins"] == ["localops"]
    with plugins.scoped():
        plugins._STORE.ops.pop("localops.invert")
        plugins._STORE.classes.pop("localops.invert")
        plugins._STORE.modules.remove("localops")
        plugins._STORE.generation += 1
        again = augment.Pipeline.__new__(augment.Pipeline)
        again.__setstate__(state)  # what a worker does: registers the module, then compiles
        assert np.array_equal(again(_image(), seed=2), pipe(_image(), seed=2))


CODE_ONLY_PLUGIN = textwrap.dedent('''
    """Ops registered in code only: importing this module registers nothing."""
    import numpy as np
    import augment


    class Lift(augment.ImageOp):
        name = "lift"
        namespace = "codeonly"
        pixel_only = True

        def sample(self, params, rng, ctx):
            return {"v": int(rng.integers(1, 60))}

        def apply(self, image, drawn):
            return np.clip(image.astype(np.int16) + drawn["v"], 0, 255).astype(np.uint8)
''')


@pytest.mark.parametrize("build", ["compose", "pipeline", "module"])
def test_a_pipeline_with_plugin_ops_unpickles_in_a_fresh_interpreter(tmp_path, local_plugin, monkeypatch, build):
    # what a spawn DataLoader worker (macOS, Windows; Linux from Python 3.14) or forkserver does: a Compose dropped
    # its plugin modules, and an op registered in code (register_op, a typed op in a Compose) was known nowhere
    import pickle

    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "codeonly.py").write_text(CODE_ONLY_PLUGIN)
    paths = [str(tmp_path / "mods"), local_plugin["PYTHONPATH"].split(os.pathsep)[1]]
    for path in paths:
        monkeypatch.syspath_prepend(path)
    import codeonly

    if build == "module":  # --plugin / $AUGMENT_PLUGINS
        plugins.load_module("localops")
        pipe = augment.Compose([augment.ops.op_class("localops.invert")()], seed=1)
    else:
        augment.register_op(codeonly.Lift)
        pipe = (augment.Compose([codeonly.Lift()], seed=1) if build == "compose" else
                augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "codeonly.lift"}]})))
    image = _image()
    code = ("import pickle, sys; pipe, image = pickle.loads(sys.stdin.buffer.read()); "
            "sys.stdout.buffer.write(pickle.dumps(pipe(image, seed=3)))")
    proc = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((pipe, image)), capture_output=True,
                          timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *paths])})
    assert proc.returncode == 0, proc.stderr.decode()[-1500:]
    assert np.array_equal(pickle.loads(proc.stdout), pipe(image, seed=3))


# --- the CLI, the service, eval ----------------------------------------------------------------------------------


SPEC = """\
modality: image
seed: 5
copies: 2
steps:
  - op: augment_stain.stain_jitter
    params: {scale: [-0.3, 0.3]}
  - op: localops.invert
    p: 0.5
  - op: augment_stain.translate
    p: 0.7
"""


def test_cli_run_replay_ops_with_an_installed_and_a_local_plugin(tmp_path, rgb_folder, local_plugin):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    listing = _cli("ops", "--modality", "image", "--json", "--plugin", "localops", env=local_plugin)
    assert listing.returncode == 0, listing.stderr
    names = [o["op"] for o in json.loads(listing.stdout)]
    assert {"augment_stain.stain_jitter", "augment_stain.translate", "localops.invert"} <= set(names)
    missing = _cli("validate", spec, env=local_plugin)
    assert missing.returncode == 2 and "steps[1].op: no plugin provides op 'localops.invert'" in missing.stderr
    preview = _cli("preview", spec, rgb_folder / "a" / "0.png", "-o", tmp_path / "preview.png", "--plugin", "localops",
                   env=local_plugin)
    assert preview.returncode == 0 and (tmp_path / "preview.png").is_file(), preview.stderr
    bad = _cli("validate", spec, "--plugin", "no_such_module_xyz")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "no_such_module_xyz" in bad.stderr
    from_env = _cli("validate", spec, env={"AUGMENT_PLUGINS": "no_such_module_xyz"})  # no --plugin was typed
    assert from_env.returncode == 2 and len(from_env.stderr.strip().splitlines()) == 1
    assert from_env.stderr.startswith("error: $AUGMENT_PLUGINS: no_such_module_xyz: cannot import it"), from_env.stderr
    out = tmp_path / "out"
    run = _cli("run", spec, rgb_folder, out, "--workers", "2", "-q", env={**local_plugin, "AUGMENT_PLUGINS": "localops"})
    assert run.returncode == 0, run.stderr
    record = json.loads((out / "run.json").read_text())
    assert record["plugins"]["augment_stain.stain_jitter"] == {"distribution": "augment-stain", "version": "0.1.0",
                                                               "module": "augment_stain"}
    assert record["plugins"]["localops.invert"]["module"] == "localops"
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert any(op["op"] == "localops.invert" for rec in manifest for op in rec["ops"])
    assert all(op["provider"] for rec in manifest for op in rec["ops"])
    rec = next(r for r in manifest if any(op["op"] == "localops.invert" for op in r["ops"]))
    replay = _cli("replay", out, rec["output"], "--plugin", "localops", env=local_plugin)
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["identical"] is True and "warning" not in replay.stderr
    gone = _cli("replay", out, rec["output"], env=local_plugin)  # the local plugin not named this time
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1
    assert "op 'localops.invert' from localops, which is not available here" in gone.stderr
    record["plugins"]["augment_stain.stain_jitter"]["version"] = "0.0.9"
    (out / "run.json").write_text(json.dumps(record))
    other = _cli("replay", out, rec["output"], "--plugin", "localops", env=local_plugin)
    assert other.returncode == 0 and "warning: op augment_stain.stain_jitter: the run used augment-stain 0.0.9, " \
                                      "this is augment-stain 0.1.0" in other.stderr
    # a record the plugin's own code cannot apply (hand-edited here): one line, not the plugin's traceback
    lines = (out / "manifest.jsonl").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if json.loads(line)["output"] == rec["output"])
    edited = json.loads(lines[at])
    next(op for op in edited["ops"] if op["op"] == "localops.invert")["params"]["level"] = "x"
    lines[at] = json.dumps(edited)
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    broken = _cli("replay", out, rec["output"], "--plugin", "localops", env=local_plugin)
    assert broken.returncode == 1 and len(broken.stderr.strip().splitlines()) == 1, broken.stderr
    assert "localops.invert at steps[1]): the recorded values could not be applied" in broken.stderr


def test_a_resume_under_another_plugin_or_library_version_says_so_and_keeps_the_earlier_versions(tmp_path, rgb_folder):
    # outputs made by two releases of a plugin were mixed in one OUTPUT without a word, and run.json named only the
    # last one
    from augment.run.expander import RunOptions, expand

    pipe = augment.Compose([StainJitter()], seed=3, copies=1)
    out = tmp_path / "out"
    expand(pipe, RunOptions(input=rgb_folder, output=out, engine="serial"))
    record = json.loads((out / "run.json").read_text())
    record["plugins"]["augment_stain.stain_jitter"]["version"] = "0.0.1"
    record["versions"]["numpy"] = "1.0.0"
    (out / "run.json").write_text(json.dumps(record))
    more = augment.Compose([StainJitter()], seed=3, copies=2)
    summary = expand(more, RunOptions(input=rgb_folder, output=out, engine="serial"))
    notes = [n for n in summary.notes if n.startswith("the outputs already in OUTPUT were made with")]
    assert len(notes) == 1 and "augment-stain 0.0.1 for augment_stain.stain_jitter (now 0.1.0)" in notes[0]
    assert "numpy 1.0.0 (now " in notes[0]
    earlier = json.loads((out / "run.json").read_text())["earlier"]
    assert earlier[0]["plugins"]["augment_stain.stain_jitter"]["version"] == "0.0.1"
    again = expand(more, RunOptions(input=rgb_folder, output=out, engine="serial"))  # nothing new: no note, kept
    assert not any(n.startswith("the outputs already") for n in again.notes)
    assert json.loads((out / "run.json").read_text())["earlier"] == earlier


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_run_with_plugin_flag_reaches_the_workers(tmp_path, rgb_folder, local_plugin, engine):
    # --plugin alone (no $AUGMENT_PLUGINS): the workers were forked from a forkserver the CLI started before it
    # read --plugin, and failed every chunk with a traceback; they import the run's plugin modules themselves
    if engine == "dask":
        pytest.importorskip("distributed")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out, ref = tmp_path / "out", tmp_path / "ref"
    run = _cli("run", spec, rgb_folder, out, "--workers", "2", "--engine", engine, "-q", "--plugin", "localops",
               env=local_plugin)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["written"] == 8
    serial = _cli("run", spec, rgb_folder, ref, "--engine", "serial", "-q", "--plugin", "localops", env=local_plugin)
    assert serial.returncode == 0, serial.stderr
    assert {p.name: p.read_bytes() for p in out.rglob("*__aug*")} == {p.name: p.read_bytes() for p in ref.rglob("*__aug*")}


def test_a_worker_that_cannot_compile_the_pipeline_stops_the_chunk_with_one_line(rgb_folder, tmp_path):
    from augment.run.job import ImageTask, JobConfig, process_chunk

    pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "horizontal_flip"}]}))
    config = JobConfig(spec=pipe.spec.to_dict(), spec_hash="not-cached-" + pipe.spec_hash, input_root=str(rgb_folder),
                       output_root=str(tmp_path / "out"), plugins=("no_such_plugin_module_xyz",))
    result = process_chunk(config, [ImageTask("a/0.png", (0,))])
    assert result.fatal is not None and "\n" not in result.fatal
    assert "no_such_plugin_module_xyz" in result.fatal and "install the same augment version" in result.fatal
    assert not result.records and not result.errors


def test_spec_errors_cross_process_boundaries_whole():
    import pickle

    from augment.spec.errors import SpecIssue

    err = augment.SpecError([SpecIssue("steps[0].op", "unknown op 'x'"), SpecIssue("seed", "not an int")], "a.yaml")
    back = pickle.loads(pickle.dumps(err))
    assert back.issues == err.issues and str(back) == str(err) and back.source == "a.yaml"


def test_cli_eval_with_a_plugin_op(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text("modality: image\nsteps:\n  - op: augment_stain.stain_jitter\n")
    proc = _cli("eval", spec, "--train", tmp_path / "d", "--train-sizes", "full", "--copies", "1", "--repeats", "2",
                "--model-option", "max_epochs=1", "--model-option", "min_steps=2", "--model-option", "width=4",
                "--out", tmp_path / "r", "-q")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert json.loads((tmp_path / "r" / "report.json").read_text())["pipeline"]


FAILING_TEXT_PLUGIN = textwrap.dedent('''
    import augment


    class Boom(augment.TextOp):
        """Fails on every text."""

        name = "boom"

        def apply(self, text, rng):
            raise RuntimeError("text boom")
''')


def test_cli_eval_with_a_plugin_op_that_fails_is_one_line(tmp_path):
    # a RuntimeError from a text op's apply() went through eval as a 60-line traceback (ValueErrors were one line)
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "boomops.py").write_text(FAILING_TEXT_PLUGIN)
    data = tmp_path / "reviews.tsv"
    data.write_text("".join(f"{i % 2}\treview number {i} was {'good' if i % 2 else 'bad'}\n" for i in range(40)))
    spec = tmp_path / "spec.yaml"
    spec.write_text("modality: text\nsteps:\n  - op: boomops.boom\n")
    proc = _cli("eval", spec, "--train", data, "--train-sizes", "full", "--copies", "1", "--repeats", "2",
                "--jobs", "1", "--model", "tfidf-logreg", "--plugin", "boomops", "--out", tmp_path / "r", "-q",
                env={"PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path / "mods")])})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "error: op boomops.boom: apply() raised RuntimeError: text boom"
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error")]) == 1


@pytest.mark.parametrize("where", ["sample", "apply", "map_points", "map_mask", "output_size", "text"])
def test_whatever_an_ops_own_code_raises_is_one_line_naming_the_op(where):
    class Raising(augment.ImageOp):
        name = "raising"
        namespace = "mylab"

        def sample(self, params, rng, ctx):
            if where == "sample":
                return {}["missing"]
            return {}

        def apply(self, image, drawn):
            if where == "apply":
                return image // 0 if False else 1 / 0
            return image

        def map_points(self, xy, drawn, image_hw):
            if where == "map_points":
                raise RuntimeError("lost\nin two lines")
            return xy

        def map_mask(self, mask, drawn):
            if where == "map_mask":
                raise IndexError("no such index")
            return mask

        def output_size(self, drawn, image_hw):
            if where == "output_size":
                raise AttributeError("no size")
            return image_hw

    class Shout(augment.TextOp):
        name = "raising_text"
        namespace = "mylab"

        def apply(self, text, rng):
            raise LookupError("no words")

    augment.register_op(Raising)
    augment.register_op(Shout)
    if where == "text":
        pipe = augment.Pipeline(augment.parse_spec({"modality": "text", "steps": [{"op": "mylab.raising_text"}]}))
        call = lambda: pipe.run("some words here", seed=0)  # noqa: E731
    else:
        pipe = augment.Pipeline(augment.parse_spec({"modality": "image", "steps": [{"op": "mylab.raising"}]}))
        mask = np.zeros((40, 48), np.uint8)
        targets = Targets(boxes=np.array([[1.0, 1.0, 5.0, 5.0]]), labels=("a",), semantic=mask, ignore_index=255)
        call = lambda: pipe.run_targets(_image(), targets, seed=0)  # noqa: E731
    with pytest.raises(ValueError) as err:
        call()
    assert isinstance(err.value, plugins.PluginOpFailed)
    assert str(err.value).startswith(f"op mylab.{'raising_text' if where == 'text' else 'raising'}: ")
    assert "\n" not in str(err.value)


def test_serve_lists_and_applies_plugin_ops_as_the_cli_does(tmp_path, rgb_folder, local_plugin):
    import base64

    spec_text = SPEC
    (tmp_path / "spec.yaml").write_text(spec_text)
    out = tmp_path / "out"
    run = _cli("run", tmp_path / "spec.yaml", rgb_folder, out, "--engine", "serial", "-q", "--plugin", "localops",
               env=local_plugin)
    assert run.returncode == 0, run.stderr
    cli = {json.loads(line)["output"]: json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()}
    srv = Server("--plugin", "localops", env=local_plugin)
    try:
        listed = srv.get("/v1/ops?modality=image&schema=true").json()
        by_name = {o["op"]: o for o in listed}
        assert "localops.invert" in by_name and "augment_stain.stain_jitter" in by_name
        assert by_name["augment_stain.stain_jitter"]["schema"]["properties"]["scale"]  # studio controls
        image = rgb_folder / "a" / "0.png"
        reply = srv.post("/v1/augment", {"spec": spec_text, "copies": 2, "items": [
            {"name": "a/0.png", "image": base64.b64encode(image.read_bytes()).decode()}]})
        assert reply.status == 200, reply.body
        for o in reply.json()["items"][0]["outputs"]:
            rec = cli[f"a/0__aug{o['copy']}.png"]
            assert o["sha256"] == rec["sha256"] and o["ops"] == rec["ops"]
    finally:
        srv.stop()


def test_search_spaces_take_plugin_and_library_ops():
    from augment.search.space import parse_space

    sp = parse_space({"name": "s", "modality": "image", "candidates": 4, "ops": [
        {"op": "augment_stain.stain_jitter", "p": [0.2, 0.8],
         "params": {"scale": {"choices": [[-0.1, 0.1], [-0.3, 0.3]]}}},
        {"op": "albumentations.CLAHE", "params": {"clip_limit": [1, 3]}},
        {"op": "augment_stain.translate", "params": {"max_shift": {"choices": [[-2, 2], [-6, 6]]}}}]})
    cands = sp.candidates(seed=0)
    assert cands
    used = {s.op for c in cands for s in c.spec.steps if hasattr(s, "op")}
    assert used & {"augment_stain.stain_jitter", "augment_stain.translate", "albumentations.CLAHE"}
    for c in cands:
        augment.Pipeline(c.spec)(_image(), seed=1)
    with pytest.raises(augment.SpecError, match=r"ops\[0\].params.scal: unknown key 'scal' \(did you mean 'scale'"):
        parse_space({"name": "s", "modality": "image", "ops": [
            {"op": "augment_stain.stain_jitter", "params": {"scal": {"choices": [0.1]}}}]})
