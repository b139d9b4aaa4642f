"""Sequence parallel: one pass's video tokens split across ranks, through diffusers' own
context parallelism (Ulysses all-to-all or ring attention, ``diffusers.hooks.context_parallel``
and ``diffusers.models.attention_dispatch``).

What diffusers 0.42.1 ships for LTX-2 does not run the ID-LoRA passes as they are
(``LTX2VideoTransformer3DModel._cp_plan``; checked on the tiny model with 2 gloo ranks):

* it expects 3-D RoPE tables, but LTX-2 checkpoints use ``rope_type="split"`` whose tables are
  ``(B, heads, T, D/2)``: diffusers logs "Expected input tensor to have 3 dimensions, but got 4
  dimensions, split will not be applied" and the first attention fails ("The size of tensor a
  (6) must match the size of tensor b (12)");
* the per-token video ``timestep`` (first frame at 0, the image conditioning) is not split, so
  the AdaLN tables keep the whole sequence while the tokens are split;
* the audio->video cross-attention RoPE (``cross_attn_rope``) is not split;
* text masks reach the attention as ``(B, heads, 1, L)``; under Ulysses each rank holds
  heads/world of them and SDPA fails ("output with shape [1, 1, 22, 16] doesn't match the
  broadcast shape [1, 2, 22, 16]").

So :func:`ltx2_cp_plan` gives diffusers a plan of our own (``enable_parallelism(cp_plan=...)``,
diffusers' documented extension point): video tokens, their per-token timesteps, both video RoPE
tables and the text are split along the sequence; ``proj_out`` gathers the video. The **audio
stream is left whole on every rank** (it is ~6% of the tokens, its length -- reference plus
target, 247 at 5 s -- rarely divides, and keeping it whole keeps the reference tokens with their
negative RoPE times exactly as one GPU has them). Audio attention still goes through the
Ulysses/ring exchange (every processor has the parallel config); a key repeated on every rank
leaves softmax attention unchanged, so the result is exact. Text masks that are all ones (what
LTX-2's connectors with learnable registers produce) are dropped -- adding a zero bias -- and
any other mask is refused with a message.

diffusers' ``enable_parallelism`` builds its device mesh with ``rank % device_count()``, which
divides by zero on a CPU-only torch (no accelerator). On the CPU (the gloo tests) the same steps
are done here with a CPU mesh -- the mesh, ``ParallelConfig.setup``, the processors' parallel
config and ``apply_context_parallel`` with the plan -- so the hooks and attention code are
diffusers' own either way. Ring attention needs an attention backend that returns the
log-sum-exp (cuDNN or flash on a GPU); diffusers' native SDPA backend does not, so on the CPU
only Ulysses runs. Token counts that do not divide by the world size use diffusers' "anything"
variants on NCCL; gloo cannot gather unequal pieces, so on the CPU they are refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.api import InvalidRequestError
from engine.distributed.context import DistContext
from engine.distributed.passes import PassResults, StateSync
from engine.pipeline.guidance import PassSpec

if TYPE_CHECKING:
    from engine.pipeline.denoise import DenoiseState

ATTENTION_KINDS = ("ulysses", "ring")


def ltx2_cp_plan(transformer: Any) -> dict[str, Any]:
    """The context-parallel plan for an LTX-2 / LTX-2.3 transformer (see the module docstring)."""
    from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

    split_rope = transformer.config.get("rope_type", "interleaved") == "split"
    # split RoPE tables are (B, heads, T, D/2); interleaved ones (B, T, D)
    rope_dim, rope_ndim = (2, 4) if split_rope else (1, 3)

    def rope() -> dict[int, Any]:
        return {
            i: ContextParallelInput(split_dim=rope_dim, expected_dims=rope_ndim, split_output=True)
            for i in (0, 1)
        }

    return {
        "": {
            "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3),
            "encoder_hidden_states": ContextParallelInput(split_dim=1, expected_dims=3),
            # per-token (B, Nv) timesteps; a (B,) timestep has 1 dim and is left whole
            "timestep": ContextParallelInput(split_dim=1, expected_dims=2),
        },
        "rope": rope(),
        "cross_attn_rope": rope(),
        "proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    }


class SequenceParallel:
    """Context parallelism switched on for one transformer on one group.

    ``attention``: ``"ulysses"`` (all-to-all of heads; any device) or ``"ring"`` (K/V passed
    around; CUDA with cuDNN or flash attention). Token counts that do not divide by the world
    size use diffusers' "anything" variants, chosen per pass by :meth:`prepare`.
    """

    def __init__(self, transformer: Any, ctx: DistContext, attention: str = "ulysses") -> None:
        if attention not in ATTENTION_KINDS:
            raise InvalidRequestError(
                f"sequence-parallel attention {attention!r} is not one of {', '.join(ATTENTION_KINDS)}"
            )
        self.transformer = transformer
        self.ctx = ctx
        self.attention = attention
        self.config: Any = None
        if ctx.world_size > 1:
            self.config = self._enable()

    def _enable(self) -> Any:
        import torch
        from diffusers.models._modeling_parallel import ContextParallelConfig, ParallelConfig

        ctx, tr = self.ctx, self.transformer
        on_cuda = ctx.device.startswith("cuda")
        if self.attention == "ring":
            if not on_cuda:
                raise InvalidRequestError(
                    "ring attention needs a CUDA GPU: it needs an attention kernel that returns "
                    "the log-sum-exp (cuDNN or flash), which diffusers' CPU attention does not; "
                    "use Ulysses on the CPU"
                )
            tr.set_attention_backend("_native_cudnn")
            cp = ContextParallelConfig(ring_degree=ctx.world_size)
        else:
            cp = ContextParallelConfig(ulysses_degree=ctx.world_size)
        plan = ltx2_cp_plan(tr)
        if on_cuda:
            tr.enable_parallelism(config=cp, cp_plan=plan)
            return tr._parallel_config
        # CPU: diffusers' own steps with a CPU mesh (enable_parallelism divides by the number
        # of accelerators, which is 0 here)
        from diffusers.hooks.context_parallel import apply_context_parallel
        from torch.distributed.device_mesh import init_device_mesh

        config = ParallelConfig(context_parallel_config=cp)
        mesh = init_device_mesh("cpu", cp.mesh_shape, mesh_dim_names=cp.mesh_dim_names)
        config.setup(ctx.rank, ctx.world_size, torch.device("cpu"), mesh=mesh)
        tr._parallel_config = config
        for module in tr.modules():
            processor = getattr(module, "processor", None)
            if processor is not None and hasattr(processor, "_parallel_config"):
                processor._parallel_config = config
        apply_context_parallel(tr, cp, plan)
        return config

    def prepare(self, num_video_tokens: int, num_text_tokens: int) -> None:
        """Choose even splits or diffusers' "anything" variant for this pass's token counts
        (every rank computes the same choice from the same shapes).

        Uneven splits need an all-gather of unequal pieces, which NCCL has and gloo does not
        (``ProcessGroupGloo::allgather: invalid tensor size``): on gloo they are refused with
        the sizes named.
        """
        if self.config is None:
            return
        cp = self.config.context_parallel_config
        w = self.ctx.world_size
        uneven_tokens = bool(num_video_tokens % w or num_text_tokens % w)
        heads = {int(m.heads) for m in self.transformer.modules() if hasattr(m, "heads")}
        uneven_heads = any(h % w for h in heads)
        if (uneven_tokens or uneven_heads) and self.ctx.backend == "gloo":
            raise InvalidRequestError(
                f"sequence parallel on {w} CPU processes needs token counts that divide by {w} "
                f"(this take has {num_video_tokens} video and {num_text_tokens} text tokens, "
                f"heads {sorted(heads)}); gloo cannot gather unequal pieces"
            )
        if self.attention == "ring":
            cp.ring_anything = uneven_tokens
        else:
            cp.ulysses_anything = uneven_tokens or uneven_heads


class _WholeMaskDropped:
    """The transformer as ``run_pass`` calls it, with all-ones text masks left out (a zero
    additive bias; under Ulysses a mask would reach SDPA with the wrong head count)."""

    def __init__(self, transformer: Any, sp: SequenceParallel) -> None:
        self._tr = transformer
        self._sp = sp

    @property
    def dtype(self) -> Any:
        return self._tr.dtype

    def __call__(self, **kwargs: Any) -> Any:
        import torch

        for key in ("encoder_attention_mask", "audio_encoder_attention_mask"):
            mask = kwargs.get(key)
            if mask is None:
                continue
            if not bool(torch.all(mask == 1)):
                raise InvalidRequestError(
                    "sequence parallel needs text embeddings without padding (LTX-2's text "
                    "connectors with learnable registers give that); this prompt's mask pads"
                )
            kwargs[key] = None
        self._sp.prepare(kwargs["hidden_states"].shape[1], kwargs["encoder_hidden_states"].shape[1])
        return self._tr(**kwargs)


class SequenceParallelExecutor:
    """A pass executor: every pass through ``transformer.forward`` with the context-parallel
    hooks on (the batched fast executor calls the blocks itself, around ``forward``, so it is
    not used here). Returns the full x0 estimates on every rank."""

    name = "sequence"

    def __init__(self, sp: SequenceParallel) -> None:
        self.sp = sp
        self._synced = StateSync(sp.ctx)

    def __call__(
        self,
        transformer: Any,
        specs: list[PassSpec],
        state: DenoiseState,
        sigma: float,
        use_cross_timestep: bool,
    ) -> PassResults:
        from engine.pipeline.denoise import run_passes

        self._synced(state)
        wrapped = _WholeMaskDropped(transformer, self.sp)
        return run_passes(wrapped, specs, state, sigma, use_cross_timestep)


__all__ = ["SequenceParallel", "SequenceParallelExecutor", "ltx2_cp_plan"]
