"""Scale-out on one machine: several GPUs working on one take, or one take per GPU.

Built on PyTorch distributed (NCCL on GPUs, gloo on the CPU for tests) and on diffusers' own
context parallelism; nothing here imports Qt, and importing the package imports no torch.

* :mod:`.context`   the process group of one take (rank, world size, device, backend).
* :mod:`.passes`    pass parallel: the guidance passes of a step split across ranks, the x0
                    estimates gathered (exact by construction).
* :mod:`.sequence`  sequence parallel: diffusers' Ulysses / ring attention with a context-parallel
                    plan that covers what LTX-2 needs (per-token timesteps, split RoPE, a<->v
                    cross-attention RoPE), the audio stream and the text kept whole on each rank.
* :mod:`.group`     ``GroupGenerator``: one process per GPU running the same request in
                    lockstep; it answers like ``IDLoRAGenerator`` so the Studio and the CLI use it
                    unchanged.
* :mod:`.strategy`  which mode to use for the GPUs present.
"""

from __future__ import annotations

PARALLEL_MODES = ("passes", "sequence", "jobs")
