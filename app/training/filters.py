"""First-layer filters of a CNN, read from the run's latest checkpoint (no Qt, no torch).

The trainer writes a checkpoint at every epoch's end; reading one tensor of it with
safetensors is a memory map, so the GUI thread never touches the live weights of the
training thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.document import Network

__all__ = ["CONV_BLOCKS", "first_conv", "read_filters"]

CONV_BLOCKS = ("Conv2d",)


def _order(net: Network) -> list[str]:
    """Node ids from the inputs on (Kahn's order; ties keep the document's order)."""
    indegree = {n: 0 for n in net.nodes}
    for e in net.edges:
        if e.dst in indegree and e.src in indegree:
            indegree[e.dst] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    out = []
    while ready:
        n = ready.pop(0)
        out.append(n)
        for e in net.edges:
            if e.src == n and e.dst in indegree:
                indegree[e.dst] -= 1
                if indegree[e.dst] == 0:
                    ready.append(e.dst)
    return out + [n for n in net.nodes if n not in out]


def _pictured(params: dict) -> bool:
    """A kernel wider than 1×1: a 1×1 filter is one pixel per channel, nothing to look at."""
    kernel = params.get("kernel", 3)
    return any(k > 1 for k in (kernel if isinstance(kernel, (list, tuple)) else [kernel]))


def first_conv(net: Network) -> str | None:
    """The id of the convolution closest to the input whose filters make a picture, if the
    network has one."""
    return next((n for n in _order(net) if net.nodes[n].block in CONV_BLOCKS
                 and _pictured(net.nodes[n].params)), None)


def read_filters(folder: str | Path, network: str, node: str) -> np.ndarray | None:
    """``node``'s weight [out, in, k, k] from ``folder/<network>.safetensors``; None when the
    file is missing, being replaced, or has no such tensor."""
    from safetensors import safe_open

    path = Path(folder) / f"{network}.safetensors"
    try:
        with safe_open(str(path), framework="numpy") as f:
            key = f"{node}.weight"
            return np.array(f.get_tensor(key)) if key in f.keys() else None
    except Exception:  # noqa: BLE001 - a checkpoint mid-rename: the next epoch brings another
        return None
