"""Distributed setup for training: which process this is (`Dist`), the device it trains on, the two
collectives the loop needs (a sum over ranks, a gather of Python objects), a barrier and teardown.

One process per device. Started by `torchrun` (RANK and WORLD_SIZE set), a process joins the process
group (nccl on GPUs, gloo on CPUs); started alone it is rank 0 of 1, and every helper here is a no-op,
so the loop (train/loop.py) calls them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    """This process's place in the run: rank, world size, local rank (its GPU on the node), and
    whether a process group exists (False for a single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup(run_device: str) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun (RANK/WORLD_SIZE set): nccl on GPUs, gloo on CPUs."""
    want_cuda = run_device.startswith("cuda") or (run_device == "auto" and torch.cuda.is_available())
    if run_device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"run.device: {run_device} asked for, but no CUDA device is available")
    d = Dist()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        d = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)), True)
        if not dist.is_initialized():
            if want_cuda:
                torch.cuda.set_device(d.local_rank)
            dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    if want_cuda:
        device = torch.device(f"cuda:{d.local_rank}" if d.enabled or run_device in ("auto", "cuda") else run_device)
    else:
        device = torch.device("cpu")
    return d, device


def all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    """Sum `t` over the ranks, in place; returns it."""
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather(obj: object, d: Dist) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not d.enabled:
        return [obj]
    out: list = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(d: Dist) -> None:
    """Wait for every rank (after rank 0 wrote something the others may read)."""
    if d.enabled:
        dist.barrier()


def teardown(d: Dist) -> None:
    """Leave the process group (before returning from, or raising out of, a run)."""
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
