"""How a run fails: ``Stop`` ends it with a ``Failure`` of a kind, and ``step_error`` turns an
exception raised in a step or in validation into one a student can act on."""

from __future__ import annotations

import traceback

import torch

from runtime.recipes.base import RecipeError

__all__ = ["Stop", "step_error"]


class Stop(Exception):
    """Ends the run with a Failure event of ``kind``."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        super().__init__(message)
        self.kind, self.detail = kind, detail


def _oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def step_error(e: Exception, what: str, step: int, device: torch.device,
               batch_size: int) -> Stop:
    """``what``: the step or part that failed ("the gan step", "validation")."""
    detail = traceback.format_exc()
    if _oom(e):
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return Stop("oom", f"out of memory on {device} at step {step + 1} with batch size "
                           f"{batch_size}; try a smaller batch (e.g. {max(1, batch_size // 2)})"
                           " or a smaller network", detail)
    if isinstance(e, RecipeError):  # the recipe's own words: the user can act on them
        return Stop("recipe", f"{what} at step {step + 1}: {e}", detail)
    return Stop("recipe", f"{what} failed at step {step + 1}: {type(e).__name__}: {e}", detail)
