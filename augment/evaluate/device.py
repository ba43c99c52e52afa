"""``--device auto|cpu|cuda[:N]|mps``: where the torch benchmark models train.

Determinism: on the CPU a fit is bit-identical for a given thread count. On CUDA the models run under
``torch.use_deterministic_algorithms(True)`` with ``torch.backends.cudnn.benchmark = False`` and
``torch.backends.cudnn.deterministic = True``, and ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` is set when absent (cuBLAS
needs it for deterministic matrix products): results are then identical run to run on the same device and
software, though not equal to the CPU's. Each fit moves its training and test tensors to the device once.
"""

from __future__ import annotations

import glob
import os
import re
import sys

__all__ = ["resolve_device", "cuda_available", "prepare_device"]

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _no_gpu_device_files() -> bool:
    """True on a Linux machine that has no NVIDIA or AMD (ROCm) GPU device node: torch would find no CUDA
    device there, and importing torch only to be told so cost seconds before the first fit of a CPU model."""
    if not sys.platform.startswith("linux"):
        return False
    return not (glob.glob("/dev/nvidia*") or os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/kfd")
                or os.path.exists("/dev/dxg"))  # dxg: WSL's GPU


def cuda_available() -> bool:
    if _no_gpu_device_files():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA install is no GPU
        return False


def _mps_available() -> bool:
    if sys.platform != "darwin":  # Apple's GPU backend exists on macOS only
        return False
    try:
        import torch

        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    except Exception:
        return False


def resolve_device(spec: str | None) -> str:
    """The torch device string for ``spec``; a one-line ``ValueError`` for a malformed or absent device."""
    spec = (spec or "auto").strip().lower()
    if not _PATTERN.match(spec):
        raise ValueError(f"--device {spec!r}: use auto, cpu, cuda, cuda:N or mps")
    if spec == "cpu":  # no torch import needed
        return spec
    if spec == "auto":
        if cuda_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if spec.startswith("cuda"):
        if not cuda_available():
            raise ValueError(f"--device {spec}: torch sees no CUDA GPU on this machine; use --device cpu or auto")
        import torch

        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                             f"(0..{torch.cuda.device_count() - 1})")
    if spec == "mps" and not _mps_available():
        raise ValueError("--device mps: torch sees no Apple GPU (MPS) here; use --device cpu or auto")
    return spec


def prepare_device(device: str) -> None:
    """The settings a deterministic fit on ``device`` needs (module docstring)."""
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        import torch

        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
