"""Data-parallel training across processes with ``torchrun`` (lesson 20).

``torchrun --nproc_per_node=N -m llmcourse train ...`` starts N copies of the same command and
tells each its ``RANK`` and ``WORLD_SIZE`` through environment variables. Each process keeps a full
model, trains on its share of every batch, and ``DistributedDataParallel`` averages the gradients
so that every copy takes the same step. CPU processes talk over ``gloo``, GPUs over ``nccl``.

Without those variables everything here is a no-op (one process, rank 0):

>>> info = setup_distributed("cpu")
>>> info.world_size, info.rank, info.is_main
(1, 0, True)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup_distributed(device: str | torch.device = "cpu") -> DistInfo:
    """Join the process group when started by ``torchrun`` (gloo on CPU, nccl on CUDA).

    On CUDA, each process on a machine needs a GPU of its own (:func:`check_gpus_for`); with
    more processes than GPUs this raises a ``ValueError`` before joining, in every process alike.

    On CPU the cores are shared: each of ``LOCAL_WORLD_SIZE`` processes gets
    ``cores // LOCAL_WORLD_SIZE`` intra-op threads (at least one), so they do not oversubscribe.
    """
    if not launched_by_torchrun():
        return DistInfo()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    device = torch.device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        check_gpus_for(local_world)
        torch.cuda.set_device(local_rank)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world)


def check_gpus_for(processes: int) -> None:
    """Each process on a machine drives its own GPU: refuse, before any work, to start more
    processes than the machine has GPUs (process ``k`` would ask for ``cuda:k`` and stop in
    CUDA's "invalid device ordinal" halfway through setting up)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if processes > gpus:
        raise ValueError(
            f"torchrun started {processes} processes on this machine but it has {gpus} GPU(s), and "
            f"each process needs its own: use --nproc_per_node={max(gpus, 1)}, or add --device cpu to "
            f"train {processes} processes on the CPU."
        )


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """Each process drives its own GPU (``cuda:LOCAL_RANK``); CPU stays CPU."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def cleanup_distributed() -> None:
    """Leave the process group: wait for every process to get here first, so that none tears
    down its connections while another still talks to it."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def end_torchrun_process(code: int) -> None:
    """End a process started by ``torchrun`` at once (``os._exit``), after flushing its output.

    Why: in torch 2.13, wrapping a model in DistributedDataParallel keeps the gloo process group
    alive after ``destroy_process_group`` (its worker threads stay up until the process ends).
    When Python then shuts down, a worker thread that is still releasing the last all-reduce
    asks for the GIL and the C++ runtime aborts the process (``terminate called without an
    active exception``, SIGABRT): about 1 in 25 two-process runs on a busy machine. The
    results are already written, so skipping the interpreter's shutdown loses nothing.
    Returns (does nothing) in a process not started by torchrun.
    """
    if not launched_by_torchrun():
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def all_reduce_mean(values: list[float], info: DistInfo, device) -> list[float]:
    """Average a few numbers over all processes (identity with one process)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return (t / info.world_size).tolist()


def all_reduce_max(value: float, info: DistInfo, device) -> float:
    """The largest of one number over all processes, so that every process decides alike
    (for example whether the time budget is used up)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
