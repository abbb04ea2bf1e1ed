"""Which torch device a model runs on: "auto" picks CUDA, then Apple's MPS, else the CPU.

`check_device_name` validates the spelling alone (no torch import, so the command line can refuse
`--device gpu` at parse time and stay fast); `resolve_device` imports torch, resolves "auto" and
refuses a device this machine does not have with one line, instead of a CUDA traceback deep inside
a model's first forward pass.
"""

from __future__ import annotations

import re

from condsim.errors import ModelLoadError

#: what --device accepts (besides "cuda:N")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_DEVICE_HINT = 'use "auto" (CUDA, then MPS, else the CPU), "cpu", "cuda", "cuda:N" or "mps"'


def check_device_name(device: str) -> str:
    """`device` normalised (stripped, lower case) if it is one of `DEVICE_CHOICES` or "cuda:N"."""
    name = device.strip().lower() if isinstance(device, str) else ""
    if not _DEVICE_PATTERN.match(name):
        raise ModelLoadError(f"unknown device {device!r}", hint=_DEVICE_HINT)
    return name


def resolve_device(device: str) -> str:
    """The torch device string to load a model on: "auto" resolved, an unavailable device refused."""
    name = check_device_name(device)
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"device {name!r} requested, but CUDA is not available on this machine",
                hint="use --device cpu (or auto), or install a CUDA build of torch",
            )
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"device {name!r} requested, but this machine has {torch.cuda.device_count()} CUDA device(s)",
                hint=f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}, or --device auto",
            )
    if name == "mps" and not _mps_available(torch):
        raise ModelLoadError(
            "device 'mps' requested, but Apple's MPS backend is not available on this machine",
            hint="use --device cpu (or auto)",
        )
    return name


def _mps_available(torch: object) -> bool:
    backends = getattr(torch, "backends", None)
    mps = getattr(backends, "mps", None)
    return bool(mps is not None and mps.is_available())
