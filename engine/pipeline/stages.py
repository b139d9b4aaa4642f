"""Stages of the presets and the transition between them (method.md, "Sampling", two-stage).

* :func:`run_sampler`: one stage's denoising with its sampler (Euler or res2s).
* :func:`upsample_video_latents`: stage-1 video latents -> 2x latents through the spatial
  latent upsampler, which works on *un-normalised* latents (normalise afterwards).
* :func:`stage2_state`: the state stage 2 starts from -- the upsampled video blended with fresh
  noise from the same generator at ``sigma_0`` (0.909375), the first frame re-encoded at the
  new size as clean tokens (mask 0), the stage-1 target audio frozen (mask 0, timestep 0) and
  no reference tokens.
* :func:`tiled_decoding`: the VAE decode of the 2x output in overlapping tiles.

Kept apart from ``IDLoRAPipeline`` so that each step can be tested (and benchmarked) alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.pipeline.denoise import DenoiseState, StepReport, TextEmbeds
from engine.pipeline.guided import X0Fn

if TYPE_CHECKING:
    import torch


def run_sampler(
    sampler: str,
    x0_fn: X0Fn,
    state: DenoiseState,
    sigmas: list[float],
    *,
    on_step: Callable[[StepReport], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> DenoiseState:
    """Denoise ``state`` over ``sigmas`` with ``sampler`` ("euler" or "res2s")."""
    if sampler == "euler":
        from engine.pipeline.samplers.euler import euler_sample

        return euler_sample(x0_fn, state, sigmas, on_step=on_step, check_cancel=check_cancel)
    if sampler == "res2s":
        from engine.pipeline.samplers.res2s import res2s_sample

        return res2s_sample(x0_fn, state, sigmas, on_step=on_step, check_cancel=check_cancel)
    raise ValueError(f"unknown sampler {sampler!r}")


def upsample_video_latents(
    upsampler: Any,
    latents: torch.Tensor,
    normalise: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device | str,
) -> torch.Tensor:
    """Un-normalised (B, C, F, h, w) latents -> normalised (B, C, F, 2h, 2w), float32.

    The upsampler sees the VAE's own latent space (un-normalised with its per-channel
    statistics), as the public ``upsample_video`` does; ``normalise`` maps the result back.
    ``device`` is the pipeline's execution device (offload hooks bring the weights there).
    """
    import torch

    dtype = getattr(upsampler, "dtype", None) or next(upsampler.parameters()).dtype
    with torch.no_grad():
        up = upsampler(latents.to(device=device, dtype=dtype))
    return normalise(up.float())


def blend_noise(clean: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """``noise * sigma + clean * (1 - sigma)``: a latent noised to ``sigma`` on the flow line."""
    return noise * sigma + clean * (1.0 - sigma)


@dataclass
class Stage2Inputs:
    """What stage 2 starts from (packed tokens, normalised, float32).

    ``video`` (1, Nv2, C): upsampled stage-1 video; ``first_frame`` (1, h2*w2, C) or None: the
    first frame encoded at the new size; ``audio`` (1, Nt, D): stage-1 target audio.
    """

    video: torch.Tensor
    first_frame: torch.Tensor | None
    audio: torch.Tensor
    latent_frames: int
    latent_height: int
    latent_width: int


def stage2_state(
    inputs: Stage2Inputs,
    *,
    sigma0: float,
    video_noise: torch.Tensor,
    positive: TextEmbeds,
    fps: float,
    position_dtype: Any = None,
) -> DenoiseState:
    """The initial stage-2 state (see the module docstring).

    ``video_noise`` (1, Nv2, C) is drawn by the caller from the generation's generator (after
    stage 1's draws), so the same seed gives the same take. ``position_dtype``: the RoPE
    coordinates' dtype (None: ``positions.DEFAULT_POSITION_DTYPE``, as stage 1).
    """
    import torch

    from engine.pipeline.positions import DEFAULT_POSITION_DTYPE, audio_coords, video_coords

    pdt = DEFAULT_POSITION_DTYPE if position_dtype is None else position_dtype

    lf, lh, lw = inputs.latent_frames, inputs.latent_height, inputs.latent_width
    device = inputs.video.device
    video = blend_noise(inputs.video, video_noise, sigma0)
    mask = torch.ones((1, lf * lh * lw), device=device)
    clean = torch.zeros_like(video)
    if inputs.first_frame is not None:
        n = inputs.first_frame.shape[1]
        mask[:, :n] = 0.0
        clean[:, :n] = inputs.first_frame
        video[:, :n] = inputs.first_frame
    audio = inputs.audio.clone()
    nt = audio.shape[1]
    return DenoiseState(
        video=video,
        video_clean=clean,
        video_mask=mask,
        audio_ref=torch.zeros((1, 0, audio.shape[2]), device=device),
        audio=audio,
        video_coords=video_coords(1, lf, lh, lw, fps, device=device, dtype=pdt),
        audio_coords=audio_coords(1, 0, nt, device=device, dtype=pdt),
        positive=positive,
        negative=None,
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
        fps=fps,
        audio_mask=torch.zeros((1, nt), device=device),
        audio_clean=audio.clone(),
    )


@dataclass(frozen=True)
class DecodeTiling:
    """Tiles of the VAE decode: the public ``TilingConfig.default()`` sizes (512 px tiles with
    64 px overlap; 64-frame tiles with 24 frames overlap)."""

    tile_px: int = 512
    overlap_px: int = 64
    tile_frames: int = 64
    overlap_frames: int = 24


@contextlib.contextmanager
def tiled_decoding(vae: Any, tiling: DecodeTiling | None) -> Iterator[None]:
    """Decode with diffusers' spatial tiles and temporal (frame-wise) tiles while inside.

    The VAE's previous tiling settings are restored on exit; ``None`` changes nothing.
    """
    if tiling is None:
        yield
        return
    names = (
        "use_tiling",
        "use_framewise_decoding",
        "tile_sample_min_height",
        "tile_sample_min_width",
        "tile_sample_min_num_frames",
        "tile_sample_stride_height",
        "tile_sample_stride_width",
        "tile_sample_stride_num_frames",
    )
    saved = {n: getattr(vae, n) for n in names}
    try:
        vae.use_tiling = True
        vae.use_framewise_decoding = True
        vae.tile_sample_min_height = vae.tile_sample_min_width = tiling.tile_px
        vae.tile_sample_stride_height = vae.tile_sample_stride_width = (
            tiling.tile_px - tiling.overlap_px
        )
        vae.tile_sample_min_num_frames = tiling.tile_frames
        vae.tile_sample_stride_num_frames = tiling.tile_frames - tiling.overlap_frames
        yield
    finally:
        for n, v in saved.items():
            setattr(vae, n, v)
