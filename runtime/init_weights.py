"""Start a network from saved weights ("init"): transfer learning, fine-tuning, a second run
from where a first one ended.

The source is a Layerloom run folder (``<network>.safetensors`` in it, or in its checkpoint),
a ``.safetensors`` file, or a ``.pt``/``.pth`` state dict read with ``weights_only=True`` (no
pickled code runs).  Tensors are matched by name — a compiled network's state-dict keys start
with the node name (``conv1.weight``) — and a tensor whose shape differs is skipped, not
forced.  The report says what matched, what was skipped and why, what in the network is new
(keeps its fresh initialisation) and what in the file went unused: never silent.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from builder.names import user_path
from runtime.events import WeightsLoaded, summarise_keys

__all__ = ["InitError", "weights_file", "read_weights", "load_init"]

# Wrappers that prefix every key of a saved state dict: DDP, torch.compile.
_PREFIXES = ("module.", "_orig_mod.")


class InitError(ValueError):
    """The weights to start from cannot be read, or nothing in them fits the network."""


def weights_file(path: Path, network: str, lone: bool = True) -> Path:
    """The weights of ``network`` at ``path``: the file itself, or ``<network>.safetensors``
    in a run folder (or in its checkpoint, for a run still going or stopped hard); with
    ``lone``, a folder's only ``.safetensors`` file whatever its name."""
    if not path.exists():
        raise InitError(f"{path} does not exist")
    if path.is_file():
        return path
    for candidate in (path / f"{network}.safetensors",
                      path / "checkpoint" / f"{network}.safetensors"):
        if candidate.is_file():
            return candidate
    found = sorted(p.name for p in path.glob("*.safetensors"))
    if lone and len(found) == 1:
        return path / found[0]
    raise InitError(f"{path} holds no weights for network {network!r} (expected "
                    f"{network}.safetensors)" + (f"; it has {', '.join(found)}" if found else ""))


def read_weights(path: str | Path, network: str) -> tuple[dict[str, Tensor], Path]:
    """The state dict to start ``network`` from, and the file it came from."""
    file = weights_file(Path(path).expanduser(), network)
    try:
        if file.suffix == ".safetensors":
            state = load_file(str(file))
        elif file.suffix in (".pt", ".pth"):
            state = torch.load(file, map_location="cpu", weights_only=True)
        else:
            raise InitError(f"{file.name}: expected a .safetensors, .pt or .pth file")
    except InitError:
        raise
    except Exception as e:  # corrupt, foreign, or pickled code that weights_only refuses
        raise InitError(f"{file} is not a readable weights file ({e})") from None
    for key in ("state_dict", "model"):  # checkpoints that wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InitError(f"{file} does not hold a state dict of tensors")
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out, file


def load_init(module: nn.Module, path: str | Path, network: str) -> WeightsLoaded:
    """Copy every tensor of the file that fits ``module`` by name and shape into it."""
    state, file = read_weights(path, network)
    own = module.state_dict()
    matched, skipped = [], {}
    for key, target in own.items():
        if key not in state:
            continue
        have = state[key]
        if tuple(have.shape) != tuple(target.shape):
            skipped[key] = f"shape {list(have.shape)} in the file, {list(target.shape)} here"
        else:
            matched.append(key)
    if not matched:
        raise InitError(f"nothing in {file} fits network {network!r} by name and shape "
                        f"(the file has {summarise_keys(list(state))}; the network has "
                        f"{summarise_keys(list(own))})")
    with torch.no_grad():
        for key in matched:
            own[key].copy_(state[key])
    def shown(key: str) -> str:  # the user's node ids, not mangled attribute names
        return user_path(module, key)

    return WeightsLoaded(network, str(file), [shown(k) for k in matched],
                         {shown(k): why for k, why in skipped.items()},
                         [shown(k) for k in own if k not in state],
                         [k for k in state if k not in own])
