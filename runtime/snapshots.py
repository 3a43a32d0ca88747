"""The last good state of a run: a checkpoint folder in the run folder, or in memory when
the run has none (a GUI experiment), so a NaN can always be rolled back.

A snapshot is taken only when every weight is finite, so "the last good one" is never
overwritten by a broken one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from torch import nn

from runtime.checkpoint import load_checkpoint, save_checkpoint, weights_finite

__all__ = ["Snapshots"]


class Snapshots:
    def __init__(self, run_dir: Path | None, writer: bool = True):
        self.folder = run_dir / "checkpoint" if run_dir is not None else None
        self.writer = writer  # under DDP only rank 0 writes; the others keep memory copies
        self.step = -1  # the step of the last snapshot
        self._memory: dict[str, Any] | None = None

    def take(self, networks: dict[str, nn.Module], state: dict[str, Any],
             meta: dict[str, Any]) -> Path | None:
        """Snapshot if the weights are sound; returns the folder written (None otherwise)."""
        if not weights_finite(networks):
            return None
        self.step = int(meta["step"])
        if self.folder is None or not self.writer:
            self._memory = {"nets": {k: copy.deepcopy(m.state_dict())
                                     for k, m in networks.items()},
                            "state": copy.deepcopy(state), "meta": dict(meta)}
            return None
        return save_checkpoint(self.folder, networks, state, meta)

    def restore(self, networks: dict[str, nn.Module]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load the last snapshot's weights into ``networks``; returns (state, meta)."""
        if self._memory is not None:
            for name, weights in self._memory["nets"].items():
                networks[name].load_state_dict(weights)
            return self._memory["state"], self._memory["meta"]
        return load_checkpoint(self.folder, networks)
