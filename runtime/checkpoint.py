"""Checkpoints: weights as safetensors, optimizer state as a plain torch state dict.

A checkpoint is a folder: ``<network>.safetensors`` per network, ``state.pt`` (optimizers,
schedules, loss scaler, RNG; written with ``torch.save`` and read back with
``weights_only=True``, so loading never runs pickled code) and ``meta.json`` (step, epoch,
why it was saved).  It is written into a temporary folder and renamed into place; the
previous checkpoint is removed only after the new one is complete, so a crash or a full disk
never leaves the run without a good checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

__all__ = ["CheckpointError", "checkpoint_exists", "save_weights", "load_weights",
           "save_checkpoint", "load_checkpoint", "read_meta", "weights_finite"]


class CheckpointError(RuntimeError):
    """A checkpoint or weights file could not be read, or does not fit the networks."""


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory or are not contiguous; copies are cheap
    # next to a training run and make any module savable.
    return {k: v.detach().to("cpu", copy=True).contiguous()
            for k, v in module.state_dict().items()}


def save_weights(module: nn.Module, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(_state(module), str(tmp))
    os.replace(tmp, path)
    return path


def load_weights(module: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a safetensors (or ``torch.save`` state dict) file into ``module``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file: say which
        raise CheckpointError(f"{path} is not a readable weights file ({e})") from None
    device = next((p.device for p in module.state_dict().values()), torch.device("cpu"))
    try:
        module.load_state_dict({k: v.to(device) for k, v in state.items()})
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise CheckpointError(f"{path.name} does not fit this network: {first}") from None
    return module


def weights_finite(modules: dict[str, nn.Module]) -> bool:
    """True when no parameter holds NaN or ±inf (one host sync for all networks)."""
    checks = [torch.isfinite(p).all() for m in modules.values() for p in m.parameters()]
    return bool(torch.stack(checks).all()) if checks else True


def _slots(folder: Path) -> tuple[Path, Path]:
    return folder.with_name(f".{folder.name}.tmp"), folder.with_name(f"{folder.name}.prev")


def save_checkpoint(folder: str | os.PathLike, networks: dict[str, nn.Module],
                    state: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write a complete checkpoint to ``folder`` atomically (networks by network name)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp, prev = _slots(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, module in networks.items():
        save_weights(module, tmp / f"{name}.safetensors")
    torch.save(state, tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({**meta, "time": time.time()}, indent=2))
    if folder.exists():
        shutil.rmtree(prev, ignore_errors=True)
        os.replace(folder, prev)  # between these two renames, prev is the good checkpoint
    os.replace(tmp, folder)
    shutil.rmtree(prev, ignore_errors=True)
    return folder


def _complete(folder: Path) -> Path:
    if not (folder / "meta.json").is_file() and (_slots(folder)[1] / "meta.json").is_file():
        folder = _slots(folder)[1]  # a save was interrupted between its two renames
    if not (folder / "meta.json").is_file():
        raise CheckpointError(f"{folder} holds no checkpoint (meta.json is missing)")
    return folder


def checkpoint_exists(folder: str | os.PathLike) -> bool:
    """A complete checkpoint is at ``folder`` (or beside it, when a save was cut short
    between its two renames)."""
    try:
        _complete(Path(folder))
    except CheckpointError:
        return False
    return True


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's meta.json alone (step, epoch, stage…), before any network is built."""
    folder = _complete(Path(folder))
    try:
        return json.loads((folder / "meta.json").read_text())
    except Exception as e:
        raise CheckpointError(f"{folder}: meta.json is unreadable ({e})") from None


def load_checkpoint(folder: str | os.PathLike, networks: dict[str, nn.Module]
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load weights into ``networks`` (by network name); returns (state, meta)."""
    folder = _complete(Path(folder))
    for name, module in networks.items():
        load_weights(module, folder / f"{name}.safetensors")
    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        meta = json.loads((folder / "meta.json").read_text())
    except Exception as e:
        raise CheckpointError(f"{folder}: the training state is unreadable ({e})") from None
    return state, meta
