"""One all-gather for every loss, with the backward pass the paper's footnote 1 asks for.

Under DDP each rank computes the loss on the *global* batch (all ranks' embeddings), so
the loss value is identical on every rank.  The gradient that reaches rank r's local
embeddings must then be the sum over ranks of d(loss_rank)/d(z_r); DDP's gradient
averaging divides that sum by the world size and yields exactly the gradient of the
global loss.  A gather whose backward returns only the local slice (no all-reduce)
leaves DDP dividing the true gradient by the world size: the bug the paper fixed.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist

GatherGradient = Literal["summed", "divided"]
"""``summed``: the correct backward (footnote 1's fix).  ``divided``: the bug itself, for
ablations only: the backward skips the cross-rank sum, so after DDP's averaging every
gradient is the true one divided by the world size."""


def world_size() -> int:
    """Number of ranks in the default process group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default process group (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _GatherWithSummedGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad_global: torch.Tensor) -> torch.Tensor:
        grad_global = grad_global.contiguous()
        dist.all_reduce(grad_global, op=dist.ReduceOp.SUM)
        n_local = grad_global.shape[0] // dist.get_world_size()
        start = dist.get_rank() * n_local
        return grad_global[start:start + n_local]


class _GatherWithLocalGradient(_GatherWithSummedGradient):
    @staticmethod
    def backward(ctx, grad_global: torch.Tensor) -> torch.Tensor:
        n_local = grad_global.shape[0] // dist.get_world_size()
        start = dist.get_rank() * n_local
        return grad_global[start:start + n_local]


def gather_batch(local: torch.Tensor, gradient: GatherGradient = "summed") -> torch.Tensor:
    """Concatenate every rank's (N_local, D) batch into the (N_global, D) batch, rank order.

    With ``gradient="summed"`` the backward all-reduces (sums) the incoming gradient across
    ranks and returns this rank's slice (paper footnote 1).  ``"divided"`` returns the slice
    without the sum: the footnote's bug, which leaves DDP dividing every gradient by the
    world size.  Identity when not distributed.  Every rank must pass a batch of the same shape.
    """
    if world_size() == 1:
        return local
    if gradient == "divided":
        return _GatherWithLocalGradient.apply(local)
    return _GatherWithSummedGradient.apply(local)
