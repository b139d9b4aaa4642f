"""Pass parallel: the guidance passes of one step run on different ranks.

Each step of ID-LoRA sampling runs up to five transformer passes on the same state (the
conditional pass P, negative, identity, STG, modality; ``engine.pipeline.guidance``). They are
independent, so rank ``r`` runs only the passes :func:`assign_passes` gives it -- through any
pass executor (the sequential reference, or the batched fast executor as lanes) -- and the x0
estimates are gathered so that every rank holds all of them. Every rank then does the same
guidance arithmetic and the same sampler update on the same numbers, so the ranks never drift
apart and the result is the one-GPU result: exact by construction (each x0 is computed by
exactly one rank from the same inputs; the gather adds zeros, which is exact).

The gather is one ``all_reduce(SUM)`` of a flat float32 buffer holding every pass's estimate at
a fixed offset (the owner writes its slots, everybody else leaves zeros): one collective per
step on NCCL or gloo, for any number of ranks.

:class:`PassParallelExecutor` plugs into the sampler seam
(``engine.pipeline.guided.GuidedDenoiser(executor=...)``) like any executor, so it composes
with every sampler (Euler, res2s) and every stage of every preset.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from engine.distributed.context import DistContext
from engine.pipeline.guidance import COND, STG, PassSpec

if TYPE_CHECKING:
    import torch

    from engine.pipeline.denoise import DenoiseState

PassResults = dict[str, "tuple[torch.Tensor, torch.Tensor]"]

#: Relative cost of a pass when the inner executor forks STG from the conditional lane at its
#: perturbed block (the fast executor): only the blocks after the fork are extra.
STG_FORK_COST = 0.4


def default_inner_executor(**options: Any) -> Callable[..., PassResults]:
    """The engine's default pass executor (the one a single GPU uses: the batched fast one
    unless ``$IDLORA_EXECUTOR`` says otherwise); ``options`` as ``make_executor`` takes them
    (the memory profile's, ``pipe.executor_options``)."""
    from engine.pipeline.executor import make_executor

    return make_executor(**options)


def assign_passes(
    names: Sequence[str], world_size: int, *, stg_fork: bool = True
) -> list[list[str]]:
    """Which passes each rank runs: a list of ``world_size`` lists of pass names.

    Deterministic (every rank computes the same split). The conditional pass and the STG pass
    stay together on rank 0 when ``stg_fork`` (the fast executor runs STG as a fork of P, so
    apart they would cost a whole pass more); the other passes go, in order, to the least
    loaded rank. A rank may get nothing when there are more ranks than passes.
    """
    if world_size < 1:
        raise ValueError(f"world size must be >= 1, got {world_size}")
    shares: list[list[str]] = [[] for _ in range(world_size)]
    load = [0.0] * world_size
    rest = list(names)
    if stg_fork and COND in rest and STG in rest:
        shares[0] += [COND, STG]
        load[0] = 1.0 + STG_FORK_COST
        rest = [n for n in rest if n not in (COND, STG)]
    for name in rest:
        r = min(range(world_size), key=lambda i: (load[i], i))
        shares[r].append(name)
        load[r] += 1.0
    return shares


def _shapes(spec: PassSpec, state: DenoiseState) -> tuple[tuple[int, ...], tuple[int, ...]]:
    b, nv, c = state.video.shape
    na = state.audio.shape[1] + (state.num_reference if spec.with_reference else 0)
    return (b, nv, c), (b, na, state.audio.shape[2])


class PassParallelExecutor:
    """A pass executor that runs this rank's share of the passes and gathers the rest.

    Args:
        ctx: this rank's process group.
        inner: the executor for this rank's share (default :func:`default_inner_executor`).
        stg_fork: keep P and STG on one rank (see :func:`assign_passes`); default True when the
            inner executor is the fast one.
        always_gather: gather through the collective even with one rank (a check of the
            NCCL/gloo path on one GPU); otherwise one rank simply runs the inner executor.

    The first call for a new :class:`DenoiseState` broadcasts its tensors from rank 0, so the
    ranks start from the same numbers even if their text encoders or VAEs rounded differently.
    """

    name = "passes"

    def __init__(
        self,
        ctx: DistContext,
        inner: Callable[..., PassResults] | None = None,
        *,
        stg_fork: bool | None = None,
        always_gather: bool = False,
    ) -> None:
        self.ctx = ctx
        self.inner = inner if inner is not None else default_inner_executor()
        if stg_fork is None:
            stg_fork = getattr(self.inner, "name", "") == "fast"
        self.stg_fork = stg_fork
        self.always_gather = always_gather
        self._synced = StateSync(ctx, force=always_gather)
        self.last_share: list[str] = []

    def reset(self) -> None:
        """Drop the inner executor's caches (the sampler calls this when a stage ends)."""
        if hasattr(self.inner, "reset"):
            self.inner.reset()

    def __call__(
        self,
        transformer: Any,
        specs: list[PassSpec],
        state: DenoiseState,
        sigma: float,
        use_cross_timestep: bool,
    ) -> PassResults:
        import torch
        import torch.distributed as dist

        if self.ctx.world_size == 1 and not self.always_gather:
            return self.inner(transformer, specs, state, sigma, use_cross_timestep)
        self._synced(state)
        shares = assign_passes([s.name for s in specs], self.ctx.world_size, stg_fork=self.stg_fork)
        mine = [s for s in specs if s.name in shares[self.ctx.rank]]
        self.last_share = [s.name for s in mine]
        own = self.inner(transformer, mine, state, sigma, use_cross_timestep) if mine else {}

        # one flat buffer, every pass at a fixed offset; owners write, the rest stay zero
        layout: list[tuple[str, tuple[int, ...], tuple[int, ...], int]] = []
        offset = 0
        for spec in specs:
            vs, as_ = _shapes(spec, state)
            layout.append((spec.name, vs, as_, offset))
            offset += _numel(vs) + _numel(as_)
        buf = torch.zeros(offset, dtype=torch.float32, device=state.video.device)
        for name, vs, as_, off in layout:
            if name in own:
                v, a = own[name]
                buf[off : off + _numel(vs)] = v.reshape(-1).to(torch.float32)
                buf[off + _numel(vs) : off + _numel(vs) + _numel(as_)] = a.reshape(-1).float()
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        out: PassResults = {}
        for name, vs, as_, off in layout:
            nv = _numel(vs)
            out[name] = (
                buf[off : off + nv].view(vs),
                buf[off + nv : off + nv + _numel(as_)].view(as_),
            )
        return out


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


class StateSync:
    """Calls :func:`sync_state` the first time it sees a state object (a new stage's state is a
    new object; the sampler then changes the same object step after step)."""

    def __init__(self, ctx: DistContext, *, force: bool = False) -> None:
        self.ctx = ctx
        self.force = force
        self._last: weakref.ref[Any] | None = None

    def __call__(self, state: DenoiseState) -> None:
        if self._last is not None and self._last() is state:
            return
        sync_state(state, self.ctx, force=self.force)
        self._last = weakref.ref(state)


def sync_state(state: DenoiseState, ctx: DistContext, *, force: bool = False) -> None:
    """Broadcast every tensor of ``state`` (latents, masks, positions, prompt embeddings) from
    rank 0 into the other ranks' tensors, in place. Same shapes on every rank are assumed (the
    ranks built the state from the same request)."""
    import torch
    import torch.distributed as dist

    if ctx.world_size == 1 and not force:
        return
    tensors: list[torch.Tensor] = []
    for value in vars(state).values():
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif value is not None and hasattr(value, "video") and hasattr(value, "mask"):
            tensors += [value.video, value.audio, value.mask]
    for t in tensors:
        if not t.numel():
            continue
        if t.is_contiguous():
            dist.broadcast(t, src=0)
        else:  # e.g. packed latents are transposed views: broadcast a copy, write it back
            tmp = t.contiguous()
            dist.broadcast(tmp, src=0)
            t.copy_(tmp)


__all__ = [
    "PassParallelExecutor",
    "StateSync",
    "assign_passes",
    "default_inner_executor",
    "sync_state",
]
