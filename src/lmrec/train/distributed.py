"""Data-parallel training across processes (``torchrun``), on CPU (gloo) or GPU (nccl).

Each process holds the whole model and the whole data set; every global batch is split
across the processes (``idx[rank::world]``) and DDP averages their gradients. The loop scales
each process's mean loss by ``n_local · world / n_global`` (positions with a target), so the
averaged gradient equals the single-process gradient of the same global batch exactly.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> bool:
    """Join the process group ``torchrun`` describes in the environment; False when alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return True


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(value: float) -> float:
    """Sum of ``value`` over processes (itself when alone)."""
    if rank_and_world()[1] == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def broadcast(value: float, src: int = 0) -> float:
    """``value`` of process ``src`` on every process."""
    if rank_and_world()[1] == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.broadcast(t, src)
    return float(t.item())


def wrap(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` wrapped in DistributedDataParallel when running in a group, else ``net``."""
    if rank_and_world()[1] == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(net)


def finish() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
