"""The seam between samplers and the transformer: guided x0 for a state at one sigma.

Every sampler (Euler, res2s; any stage of any preset) obtains its denoised estimate through
:class:`GuidedDenoiser` and nothing else. It does three things, always in this order:

1. ``specs(state, step)``: the pass specs this step needs (``guidance.build_pass_specs``: the
   conditional pass, then one per active guidance, the identity pass only inside its window);
2. ``executor(transformer, specs, state, sigma, use_cross_timestep)``: runs the passes and
   returns ``{name: (video_x0, audio_x0)}`` in float32 -- by default
   ``engine.pipeline.executor.make_executor()`` (the fast executor: passes batched as lanes,
   exact), or :func:`engine.pipeline.denoise.run_passes` (one pass after another at batch 1,
   as the reference); any callable with this signature can replace it;
3. ``guidance.combine_x0``: the guided x0, with the reference audio tokens dropped.

Keeping the executor a plain argument is what lets a faster executor plug in without touching
the samplers, and lets tests count the passes each step runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.pipeline.guidance import GuidanceScales, PassSpec, build_pass_specs, combine_x0
from engine.pipeline.stg import STGMode, install_stg_processors

if TYPE_CHECKING:
    import torch

    from engine.pipeline.denoise import DenoiseState

#: ``{pass name: (video x0 (B, Nv, C), audio x0 (B, Na, D))}``
PassResults = dict[str, "tuple[torch.Tensor, torch.Tensor]"]
#: ``executor(transformer, specs, state, sigma, use_cross_timestep) -> PassResults``
PassExecutor = Callable[[Any, list[PassSpec], "DenoiseState", float, bool], PassResults]
#: What a sampler calls: ``x0_fn(state, sigma, step) -> (video x0, target audio x0)``
X0Fn = Callable[["DenoiseState", float, int], "tuple[torch.Tensor, torch.Tensor]"]


class GuidedDenoiser:
    """Guided x0 estimates for one stage: ``denoiser(state, sigma, step)``.

    Args:
        transformer: the LTX-2 transformer (LoRA adapters already set for this stage).
        scales: guidance strengths, CFG-star switch and identity window.
        use_cross_timestep: the a<->v cross-attention modulation of the model generation.
        executor: the pass executor (default: ``make_executor()``, the fast one; its caches
            live as long as this denoiser).
        total_steps: the stage's step count, for the identity window (None: whole schedule).
        stg_mode: how the STG pass perturbs self-attention (``engine.pipeline.stg``); None
            follows the model generation (``denoise.default_stg_mode``).

    Returns from ``__call__``: float32 ``(video_x0 (B, Nv, C), audio_x0 (B, Nt, D))``, the
    audio holding the target tokens only.
    """

    def __init__(
        self,
        transformer: Any,
        scales: GuidanceScales,
        *,
        use_cross_timestep: bool,
        executor: PassExecutor | None = None,
        total_steps: int | None = None,
        stg_mode: STGMode | str | None = None,
    ) -> None:
        from engine.pipeline.denoise import default_stg_mode
        from engine.pipeline.executor import make_executor

        self.transformer = transformer
        self.scales = scales
        self.use_cross_timestep = use_cross_timestep
        self.executor: PassExecutor = executor or make_executor()
        self.total_steps = total_steps
        if scales.stg_on:  # the STG block perturbs self-attention as its generation's code does
            mode = default_stg_mode(transformer) if stg_mode is None else STGMode(stg_mode)
            install_stg_processors(transformer, [scales.stg_block], mode)

    def specs(self, state: DenoiseState, step: int | None) -> list[PassSpec]:
        """The pass specs step ``step`` runs (P first)."""
        return build_pass_specs(
            self.scales,
            has_reference=state.num_reference > 0,
            step=step,
            total=self.total_steps,
        )

    def __call__(
        self, state: DenoiseState, sigma: float, step: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        specs = self.specs(state, step)
        x0 = self.executor(self.transformer, specs, state, float(sigma), self.use_cross_timestep)
        video_x0, audio_x0 = combine_x0(x0, self.scales, state.num_reference)
        return video_x0, audio_x0[:, state.num_reference :]
