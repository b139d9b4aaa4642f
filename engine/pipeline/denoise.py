"""Denoising state and transformer passes (method.md, "Sampling").

``DenoiseState`` holds one stage's packed latents, masks, positions and prompt embeddings;
``run_pass`` runs the transformer once for a ``PassSpec`` and returns x0 estimates;
``run_passes`` is the reference *pass executor* (every pass in turn, batch 1). Samplers never
call these directly: they ask :class:`engine.pipeline.guided.GuidedDenoiser` for guided x0,
which calls an executor (this one, or a faster one with the same signature).

``denoise`` is the one-stage Euler loop kept as a short entry point (tests, the GPU
benchmark); the samplers themselves live in :mod:`engine.pipeline.samplers`.

Kept free of the VAEs and the text encoder so that the same code runs inside
``IDLoRAPipeline`` and in the full-size GPU benchmark (random embeddings, no Gemma).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.pipeline.guidance import GuidanceScales, PassSpec
from engine.pipeline.stg import STGMode

if TYPE_CHECKING:
    import torch

TIMESTEP_SCALE = 1000.0  # diffusers' LTX-2 transformer takes sigma * 1000 as "timestep"


@dataclass
class TextEmbeds:
    """Connector outputs for one prompt: video/audio embeddings (B, L, *) and mask (B, L)."""

    video: torch.Tensor
    audio: torch.Tensor
    mask: torch.Tensor

    def row(self, i: int) -> TextEmbeds:
        """The embeddings of prompt ``i`` of a batch, as a batch of one."""
        return TextEmbeds(self.video[i : i + 1], self.audio[i : i + 1], self.mask[i : i + 1])


@dataclass
class DenoiseState:
    """Everything the loop needs; latents are packed token sequences in float32.

    ``video`` (B, Nv, C) noisy state; ``video_clean`` (B, Nv, C) values of the clean tokens and
    ``video_mask`` (B, Nv) 1 = denoised, 0 = clean (first frame); ``audio_ref`` (B, Nr, D)
    clean reference tokens (Nr may be 0); ``audio`` (B, Nt, D) noisy target audio.
    ``audio_mask`` (B, Nt) / ``audio_clean`` (B, Nt, D): the same for target audio (None: every
    target token is denoised; stage 2 of the two-stage presets freezes them all with mask 0).
    ``video_coords`` (B, 3, Nv, 2); ``audio_coords`` (B, 1, Nr + Nt, 2).
    """

    video: torch.Tensor
    video_clean: torch.Tensor
    video_mask: torch.Tensor
    audio_ref: torch.Tensor
    audio: torch.Tensor
    video_coords: torch.Tensor
    audio_coords: torch.Tensor
    positive: TextEmbeds
    negative: TextEmbeds | None
    latent_frames: int
    latent_height: int
    latent_width: int
    fps: float
    audio_mask: torch.Tensor | None = None
    audio_clean: torch.Tensor | None = None

    @property
    def num_reference(self) -> int:
        return int(self.audio_ref.shape[1])

    def target_audio_mask(self) -> torch.Tensor:
        """(B, Nt) float mask of the target audio tokens (1 = denoised)."""
        import torch

        if self.audio_mask is not None:
            return self.audio_mask
        return torch.ones(self.audio.shape[:2], device=self.audio.device, dtype=torch.float32)


@dataclass
class StepReport:
    """What the loop tells its ``on_step`` callback after each step (0-based ``index``)."""

    index: int
    total: int
    elapsed_s: float
    video_x0: torch.Tensor
    audio_x0: torch.Tensor


def model_generation(transformer: Any) -> str:
    """``"ltx2.3"`` or ``"ltx2"``: the one place that tells the two model generations apart.

    LTX-2.3 is recognised from its transformer config (gated attention, prompt AdaLN, no
    caption projection). Everything that differs by generation in the sampler follows from
    this: :func:`default_use_cross_timestep` and :func:`default_stg_mode`.
    """
    cfg = transformer.config
    is23 = bool(
        cfg.get("cross_attn_mod", False)
        or cfg.get("audio_cross_attn_mod", False)
        or cfg.get("gated_attn", False)
        or not cfg.get("use_prompt_embeddings", True)
    )
    return "ltx2.3" if is23 else "ltx2"


def default_use_cross_timestep(transformer: Any) -> bool:
    """LTX-2.3 checkpoints modulate a<->v cross-attention with the other modality's sigma.

    LTX-2.0 (the ID-LoRA LTX-2 checkpoints' training code) uses each modality's own per-token
    timesteps.
    """
    return model_generation(transformer) == "ltx2.3"


def default_stg_mode(transformer: Any) -> STGMode:
    """How the STG pass perturbs self-attention: LTX-2 drops it, LTX-2.3 passes the values.

    See ``engine.pipeline.stg`` for what each public code base computes.
    """
    return STGMode.VALUE if model_generation(transformer) == "ltx2.3" else STGMode.DROP


@dataclass
class PassInputs:
    """The transformer inputs of one pass (``kwargs`` for ``transformer(**kwargs)``) and what
    turns its velocity into x0: the float32 latents and per-token sigmas it was given."""

    kwargs: dict[str, Any]
    video: torch.Tensor  # (B, Nv, C) float32
    audio: torch.Tensor  # (B, Na, D) float32, with the reference tokens when the pass has them
    video_sigma: torch.Tensor  # (B, Nv) float32, 0 on clean tokens
    audio_sigma: torch.Tensor  # (B, Na) float32, 0 on reference tokens
    # the per-token masks the sigmas are ``sigma *`` of (1 = denoised, 0 = clean)
    video_mask: torch.Tensor | None = None  # (B, Nv)
    audio_mask: torch.Tensor | None = None  # (B, Na)


def pass_inputs(
    transformer: Any,
    spec: PassSpec,
    state: DenoiseState,
    sigma: float,
    use_cross_timestep: bool,
) -> PassInputs:
    """Build one pass's transformer inputs (every executor builds them here).

    Audio of a pass without the reference holds the target tokens only.
    """
    import torch

    dtype = transformer.dtype
    batch = state.video.shape[0]
    device = state.video.device
    text = state.positive if spec.prompt == "positive" else state.negative
    if text is None:
        raise ValueError(f"pass {spec.name!r} needs negative prompt embeddings")

    t = sigma * TIMESTEP_SCALE
    video_sigma_tok = sigma * state.video_mask  # (B, Nv): 0 on clean tokens
    nr = state.num_reference if spec.with_reference else 0
    if spec.with_reference and nr:
        audio_in = torch.cat([state.audio_ref, state.audio], dim=1)
        coords = state.audio_coords
    else:
        audio_in = state.audio
        coords = state.audio_coords[:, :, state.num_reference :]
    audio_mask = torch.ones(audio_in.shape[:2], device=device, dtype=torch.float32)
    audio_mask[:, :nr] = 0.0  # reference tokens are clean: timestep 0 at every step
    if state.audio_mask is not None:  # frozen target tokens (mask 0) are clean too
        audio_mask[:, nr:] = state.audio_mask
    audio_sigma_tok = sigma * audio_mask
    scalar_t = torch.full((batch,), t, device=device, dtype=torch.float32)

    kwargs = dict(
        hidden_states=state.video.to(dtype),
        audio_hidden_states=audio_in.to(dtype),
        encoder_hidden_states=text.video,
        audio_encoder_hidden_states=text.audio,
        timestep=video_sigma_tok * TIMESTEP_SCALE,
        audio_timestep=audio_sigma_tok * TIMESTEP_SCALE,
        sigma=scalar_t,
        audio_sigma=scalar_t,
        encoder_attention_mask=text.mask,
        audio_encoder_attention_mask=text.mask,
        num_frames=state.latent_frames,
        height=state.latent_height,
        width=state.latent_width,
        fps=state.fps,
        audio_num_frames=audio_in.shape[1],
        video_coords=state.video_coords,
        audio_coords=coords,
        use_cross_timestep=use_cross_timestep,
        return_dict=False,
    )
    return PassInputs(
        kwargs,
        state.video,
        audio_in,
        video_sigma_tok,
        audio_sigma_tok,
        state.video_mask,
        audio_mask,
    )


def velocity_to_x0(
    inputs: PassInputs, v_video: torch.Tensor, v_audio: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """x0 = x - sigma_token * v, in float32."""
    x0_video = inputs.video - inputs.video_sigma.unsqueeze(-1) * v_video.float()
    x0_audio = inputs.audio.float() - inputs.audio_sigma.unsqueeze(-1) * v_audio.float()
    return x0_video, x0_audio


def run_pass(
    transformer: Any,
    spec: PassSpec,
    state: DenoiseState,
    sigma: float,
    use_cross_timestep: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one transformer pass; returns float32 x0 estimates (video, audio).

    Audio of a pass without the reference holds the target tokens only.
    """
    inputs = pass_inputs(transformer, spec, state, sigma, use_cross_timestep)
    v_video, v_audio = transformer(**inputs.kwargs, **spec.kwargs)
    return velocity_to_x0(inputs, v_video, v_audio)


def run_passes(
    transformer: Any,
    specs: list[PassSpec],
    state: DenoiseState,
    sigma: float,
    use_cross_timestep: bool,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Execute every pass spec of one step (sequentially, batch 1 per pass, as the reference)."""
    return {s.name: run_pass(transformer, s, state, sigma, use_cross_timestep) for s in specs}


def denoise(
    transformer: Any,
    state: DenoiseState,
    sigmas: list[float],
    scales: GuidanceScales,
    *,
    use_cross_timestep: bool,
    on_step: Callable[[StepReport], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
    pass_runner: Callable[..., dict[str, tuple[torch.Tensor, torch.Tensor]]] | None = None,
    stg_mode: STGMode | str | None = None,
) -> DenoiseState:
    """The one-stage Euler loop over ``sigmas`` (``len(sigmas) - 1`` steps); the final state.

    ``pass_runner``: the pass executor (default ``engine.pipeline.executor.make_executor()``,
    the fast one; its caches are dropped when the loop ends). ``check_cancel`` is called before
    each step (it raises to stop); ``on_step`` after each. ``stg_mode``: how the STG pass
    perturbs self-attention; None follows the model generation (:func:`default_stg_mode`).
    """
    from engine.pipeline.executor import make_executor
    from engine.pipeline.guided import GuidedDenoiser
    from engine.pipeline.samplers.euler import euler_sample

    runner = pass_runner if pass_runner is not None else make_executor()
    denoiser = GuidedDenoiser(
        transformer,
        scales,
        use_cross_timestep=use_cross_timestep,
        executor=runner,
        total_steps=len(sigmas) - 1,
        stg_mode=stg_mode,
    )
    try:
        return euler_sample(denoiser, state, sigmas, on_step=on_step, check_cancel=check_cancel)
    finally:
        if hasattr(runner, "reset"):
            runner.reset()  # free cached keys/values (also on cancel) before decoding
