"""torch.distributed set-up when launched by torchrun (RANK / WORLD_SIZE / LOCAL_RANK in the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistContext:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_gather_floats(ctx: DistContext, value: float) -> list[float]:
    if not ctx.enabled:
        return [value]
    t = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    out = [torch.zeros_like(t) for _ in range(ctx.world_size)]
    dist.all_gather(out, t)
    return [float(o.item()) for o in out]


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def average_buffers(ctx: DistContext, model: torch.nn.Module) -> None:
    """Average batch-norm running statistics over ranks: DDP syncs gradients, not buffers, so without
    this each rank would validate and save its own slightly different model."""
    if not ctx.enabled:
        return
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf.div_(ctx.world_size)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0
