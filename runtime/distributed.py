"""Several processes, one model: DistributedDataParallel under ``torchrun``.

``torchrun --nproc_per_node=N -m app train FILE`` starts N copies of the same command; each
reads its rank from the environment, joins the process group (NCCL between GPUs, gloo on
CPU), trains on its own shard of the training data with gradients averaged by DDP, and only
rank 0 writes files.  Nothing here is home-made distribution: it is torch.distributed as is.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Subset

from runtime.data.core import TensorData
from runtime.data.splits import Splits

__all__ = ["Dist", "from_env", "init", "shutdown", "shard", "wrap", "any_rank",
           "weight_spread"]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist | None:
    """The torchrun environment of this process, or None when it runs alone."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(info: Dist, device: torch.device) -> None:
    """Join the process group (once); NCCL for CUDA devices, gloo otherwise."""
    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world)


def shutdown(together: bool = True) -> None:
    """Leave the group; ``together`` waits for every rank first, since a rank that tears
    its group down while another still writes files can abort in gloo's destructor
    ("terminate called without an active exception").  After a failure, a rank does not
    wait: the others may never arrive, and torchrun ends them anyway."""
    if dist.is_initialized():
        try:
            if together:
                dist.barrier()
        finally:
            # DDP reducers still holding gloo work objects must go while the interpreter is
            # whole: freed during finalisation they abort the process (SIGABRT).
            gc.collect()
            dist.destroy_process_group()


def shard(splits: Splits, info: Dist) -> Splits:
    """This rank's share of the training part: every world-th sample, all shards the same
    length so every rank takes the same number of steps (DDP's collectives must line up)."""
    n = len(splits.train) // info.world * info.world
    index = torch.arange(info.rank, n, info.world)
    train = splits.train
    train = train.subset(index) if isinstance(train, TensorData) else Subset(train, index.tolist())
    return splits.with_parts(train)


def wrap(module: nn.Module, device: torch.device, outputs: int) -> nn.Module:
    """DDP around ``module``.  A network with several outputs may leave some parameters
    without a gradient (an unused head), which DDP must be told to expect."""
    ids = [device.index] if device.type == "cuda" else None
    if not any(p.requires_grad for p in module.parameters()):
        return module  # nothing to synchronise
    return nn.parallel.DistributedDataParallel(module, device_ids=ids,
                                               find_unused_parameters=outputs > 1)


def any_rank(flags: list[bool], device: torch.device) -> list[bool]:
    """Each flag true on every rank when it is true on any: ranks must stop together (on a
    NaN, on Ctrl+C), or one waits forever in a collective the others never reach."""
    t = torch.tensor([1 if f else 0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def weight_spread(modules: list[nn.Module], device: torch.device) -> float:
    """The largest difference between any weight on this rank and the same weight on rank 0
    (0.0 when DDP kept the replicas identical), maximised over ranks."""
    flat = torch.cat([p.detach().reshape(-1).float() for m in modules for p in m.parameters()]
                     or [torch.zeros(1)]).to(device)
    reference = flat.clone()
    dist.broadcast(reference, src=0)
    spread = (flat - reference).abs().max().reshape(1)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    return float(spread.item())
