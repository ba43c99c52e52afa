"""A typed ``augment.Compose`` pickled in one process loads and runs in a fresh one: what a spawn or forkserver
DataLoader worker does with the transform of its dataset (the default start method on macOS and Windows, and on
Linux from Python 3.14)."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import augment
from augment import ops

REPO = Path(__file__).resolve().parents[1]

IMG = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)

# the fresh process: no import of augment.ops (or of anything that loads its typed classes) before unpickling
LOAD = r"""
import pickle, sys
import numpy as np
pipes, image = pickle.load(sys.stdin.buffer)
out = [(repr(p), p(image, seed=3).tobytes(), repr(p.run(image, seed=3).ops)) for p in pipes]
sys.stdout.buffer.write(pickle.dumps(out))
"""


def _image_ops_with_defaults() -> list:
    made = []
    for name in ops.__all__:
        cls = getattr(ops, name)
        if not (isinstance(cls, type) and issubclass(cls, ops.Op) and cls is not ops.Op):
            continue
        try:
            op = cls()
        except Exception:  # noqa: BLE001 - classes with required parameters
            continue
        if op.modality == "image" and op.op_name not in ("mosaic", "copy_paste", "mixup", "cutmix"):
            made.append(op)
    return made


def test_every_typed_image_op_unpickles_and_runs_the_same_in_a_fresh_process():
    built = _image_ops_with_defaults()
    assert len(built) > 40
    pipes = [augment.Compose([op], seed=1) for op in built]
    pipes.append(augment.Compose([augment.OneOf([ops.HorizontalFlip(), ops.Rotate()]),
                                  augment.SomeOf([ops.GaussianNoise(), ops.GaussianBlur(), ops.Zoom()], n=(1, 2))], seed=2))
    pipes = [p for p in pipes if _runs(p)]
    here = [(repr(p), p(IMG, seed=3).tobytes(), repr(p.run(IMG, seed=3).ops)) for p in pipes]
    out = subprocess.run([sys.executable, "-c", LOAD], input=pickle.dumps((pipes, IMG)), capture_output=True,
                         cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    there = pickle.loads(out.stdout)
    assert [r for r, _, _ in there] == [r for r, _, _ in here]
    assert [b for _, b, _ in there] == [b for _, b, _ in here]
    assert [o for _, _, o in there] == [o for _, _, o in here]  # the typed drawn values (AugmentResult.ops)


def _runs(pipe) -> bool:
    try:
        pipe(IMG, seed=3)
    except ValueError:  # an op that needs annotations or another input size alone
        return False
    return True


@pytest.mark.slow
def test_a_forkserver_dataloader_worker_runs_a_typed_compose():
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(_Flipped(), batch_size=2, num_workers=1, multiprocessing_context="forkserver")
    got = torch.cat(list(loader))
    want = torch.stack([torch.from_numpy(_Flipped.PIPE(IMG, seed=i)) for i in range(4)])
    assert torch.equal(got, want)


class _Flipped:
    PIPE = augment.Compose([ops.HorizontalFlip(p=0.5), ops.Rotate(degrees=(-10, 10))], seed=4)

    def __len__(self):
        return 4

    def __getitem__(self, i):
        import torch

        return torch.from_numpy(self.PIPE(IMG, seed=i))


@pytest.mark.parametrize("make,bad,meant", [
    (lambda: augment.Compose([ops.HorizontalFlip()], sed=1), "sed", "seed"),
    (lambda: augment.OneOf([ops.HorizontalFlip()], weight=[1.0]), "weight", "weights"),
    (lambda: augment.SomeOf([ops.HorizontalFlip()], nn=1), "nn", "n"),
])
def test_a_misspelled_group_or_compose_keyword_says_which_was_meant(make, bad, meant):
    with pytest.raises(TypeError, match=rf"unexpected keyword argument '{bad}' \(did you mean '{meant}'\?\)"):
        make()
