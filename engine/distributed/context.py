"""The process group one take runs on: rank, world size, device and backend.

``DistContext`` is what the parallel executors need. It is made either by the group launcher
(:mod:`engine.distributed.group`, one spawned process per GPU) or from ``torchrun``'s
environment (:func:`from_env`, used by the GPU benchmark). The backend follows the device:
NCCL for CUDA, gloo for the CPU (the tests run two CPU processes on gloo).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

#: How long a collective may wait for the other ranks before the group gives up (a rank that
#: died mid-step would otherwise hang the others forever).
COLLECTIVE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class DistContext:
    """One rank's view of its group. ``device`` is this rank's torch device string."""

    rank: int
    world_size: int
    device: str
    backend: str

    @property
    def is_leader(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.world_size > 1:
            dist.barrier()


def backend_for(device: str) -> str:
    """``"nccl"`` for a CUDA device, ``"gloo"`` otherwise."""
    return "nccl" if str(device).startswith("cuda") else "gloo"


def free_port() -> int:
    """A free TCP port on the loopback interface (for the group's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init_group(
    rank: int,
    world_size: int,
    device: str,
    init_method: str,
    timeout_s: float = COLLECTIVE_TIMEOUT_S,
) -> DistContext:
    """Join the process group (``init_method`` e.g. ``tcp://127.0.0.1:PORT``) and pin the device."""
    import torch
    import torch.distributed as dist

    backend = backend_for(device)
    kwargs: dict[str, Any] = {}
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
        kwargs["device_id"] = torch.device(device)
    dist.init_process_group(
        backend,
        init_method=init_method,
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
        **kwargs,
    )
    return DistContext(rank, world_size, device, backend)


def from_env(device_type: str | None = None) -> DistContext:
    """Join the group ``torchrun`` describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT``); rank ``r`` uses ``cuda:LOCAL_RANK`` when CUDA is there."""
    import torch

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    kind = device_type or ("cuda" if torch.cuda.is_available() else "cpu")
    device = f"cuda:{local}" if kind == "cuda" else "cpu"
    return init_group(rank, world, device, "env://")


def destroy() -> None:
    """Leave the process group (no-op when none was joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def parse_gpus(text: str | None) -> list[int] | None:
    """``"0,1"`` -> ``[0, 1]``; None or ``""`` -> None (all GPUs). Raises ``ValueError`` with
    the value in the message for anything else (negative, repeated or non-numeric ids)."""
    if text is None or not str(text).strip():
        return None
    ids: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part.isdigit():
            raise ValueError(f"GPU list {text!r}: {part!r} is not a GPU number (e.g. 0,1)")
        if int(part) in ids:
            raise ValueError(f"GPU list {text!r} names GPU {part} twice")
        ids.append(int(part))
    return ids
