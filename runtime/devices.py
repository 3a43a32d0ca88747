"""Where training runs (CUDA, then Apple MPS, then CPU), seeding, mixed precision, and the
weights' layout in memory."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from builder.training import DEVICES

__all__ = ["DEVICES", "DeviceError", "Device", "choices", "select_device", "seed_everything",
           "autocast", "make_scaler", "amp_supported", "use_fast_layout"]


class DeviceError(RuntimeError):
    """The requested device does not exist on this machine."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def select_device(choice: str = "auto", local_rank: int | None = None) -> torch.device:
    """``auto``: CUDA if present, else MPS, else CPU.  ``local_rank`` picks the GPU of a
    torchrun process."""
    choice = (choice or "auto").lower()
    if choice.startswith("cuda:"):
        choice, local_rank = "cuda", int(choice.split(":", 1)[1])
    if choice not in DEVICES:
        raise DeviceError(f"device must be one of {', '.join(DEVICES)}; received {choice!r}")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was asked for, but this machine (or this torch build) has "
                              "no CUDA GPU; use --device cpu or auto")
        return torch.device("cuda", local_rank or 0)
    if choice == "mps" and not _mps_available():
        raise DeviceError("Apple MPS was asked for, but it is not available here; use "
                          "--device cpu or auto")
    return torch.device(choice)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too


def amp_supported(device: torch.device) -> bool:
    """Mixed precision (float16 autocast with loss scaling) is used on CUDA only: on CPU it is
    slower than float32, and MPS autocast is still partial."""
    return device.type == "cuda"


#: Whether convolutions train channels-last on the CPU (benchmarks switch it off to compare).
CHANNELS_LAST_ON_CPU = True


def use_fast_layout(module: torch.nn.Module, device: torch.device) -> None:
    """Put ``module``'s 4-D weights channels-last on the CPU, where oneDNN's convolutions
    are native to that layout: each convolution then keeps it for its output, with no
    conversion before or after (a 32×32 U-Net's training step: 12–17% faster on two cores,
    ``tests/bench/bench_layout.py``).
    Only the layout in memory changes: values, names and saved weights stay the same."""
    if CHANNELS_LAST_ON_CPU and device.type == "cpu":
        module.to(memory_format=torch.channels_last)


def autocast(device: torch.device, enabled: bool):
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


def make_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler | None:
    """A GradScaler when float16 autocast is on (None otherwise, so steps skip it cheaply)."""
    return torch.amp.GradScaler(device.type) if enabled else None


@dataclass(frozen=True)
class Device:
    key: str  # auto, cpu, cuda, mps
    label: str
    available: bool


def choices() -> list[Device]:
    """The device choices with what this machine has, e.g. "CUDA — NVIDIA H100 (80 GB)"."""
    cuda = torch.cuda.is_available()
    cuda_name = ""
    if cuda:
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        cuda_name = f"{props.name} ({props.total_memory / 2**30:.0f} GB)" + (
            f" × {count}" if count > 1 else "")
    mps = _mps_available()
    best = "CUDA" if cuda else "Apple MPS" if mps else "CPU"
    return [
        Device("auto", f"Automatic — {best} on this machine", True),
        Device("cpu", f"CPU ({os.cpu_count() or 1} cores)", True),
        Device("cuda", f"CUDA — {cuda_name}" if cuda else "CUDA — not available here", cuda),
        Device("mps", "Apple MPS (Metal)" if mps else "Apple MPS — not available here", mps),
    ]
