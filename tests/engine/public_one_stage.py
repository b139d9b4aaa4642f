"""An independent re-implementation of the public ID-LoRA one-stage sampling loop, for tests.

Written for the regression fixture (``make_regression_fixture.py``) from the public ID-LoRA
code -- ``scripts/inference_one_stage.py`` and ``ID-LoRA-2.3/scripts/inference_one_stage.py``
(the denoising function and state set-up), ``ltx-core``'s ``LTX2Scheduler``, guiders
(``CFGGuider``, ``STGGuider``), ``X0Model`` / ``to_denoised``, ``EulerDiffusionStep``,
``post_process_latent``, the patchifiers' position grids, and the trainer's
``audio_ref_only_ic`` strategy for the position precision -- on the *diffusers* transformer of
the tiny model. It shares no code with ``engine.pipeline``: its own schedule, positions, state
layout, guidance bookkeeping and Euler step; and the perturbations are forward hooks that
overwrite attention outputs, as the public blocks compute them:

* STG, LTX-2 (``ltx-core`` ``BasicAVTransformerBlock``): ``x + attn(..) * gate * 0``, i.e. the
  STG block's video and audio self-attention output is replaced by zeros;
* STG, LTX-2.3 (``ID-LoRA-2.3`` ``Attention`` with ``all_perturbed``): the self-attention output
  is ``to_out(gate_heads * to_v(x))`` (value passthrough);
* AV-bimodal guidance (``SKIP_A2V_CROSS_ATTN`` + ``SKIP_V2A_CROSS_ATTN`` in every block): the
  audio<->video cross-attention outputs are replaced by zeros.

Everything runs at batch 1, one pass after another, as the public loop does. Text embeddings
reach the transformer without a padding mask (the public ``modality_from_latent_state`` sets
``context_mask=None``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

VIDEO_SCALE = (8, 32, 32)  # VAE time / height / width compression
MEL_HOP, SAMPLE_RATE, AUDIO_DOWNSAMPLE = 160, 16000, 4


# ----------------------------------------------------------------------------- schedule
def public_sigmas(steps: int, terminal: float = 0.1) -> torch.Tensor:
    """LTX2Scheduler without a latent: the shift of a 4,096-token latent, then the stretch."""
    base, top, lo_tokens, hi_tokens = 0.95, 2.05, 1024, 4096
    slope = (top - base) / (hi_tokens - lo_tokens)
    shift = math.exp(hi_tokens * slope + (base - slope * lo_tokens))
    grid = torch.linspace(1.0, 0.0, steps + 1)
    out = torch.zeros_like(grid)
    nz = grid != 0
    out[nz] = shift / (shift + (1.0 / grid[nz] - 1.0))
    one_minus = 1.0 - out[nz]
    out[nz] = 1.0 - one_minus * (1.0 - terminal) / one_minus[-1]
    return out.to(torch.float32)


# ----------------------------------------------------------------------------- positions
def video_positions(lf: int, lh: int, lw: int, fps: float, dtype: torch.dtype) -> torch.Tensor:
    """(1, 3, lf*lh*lw, 2) pixel-space [start, end) bounds, time in seconds, causal frame 0."""
    axes = torch.meshgrid(torch.arange(lf), torch.arange(lh), torch.arange(lw), indexing="ij")
    idx = torch.stack([a.reshape(-1) for a in axes])  # (3, N), f-major token order
    scale = torch.tensor(VIDEO_SCALE)[:, None]
    bounds = torch.stack([idx * scale, (idx + 1) * scale], dim=-1)  # (3, N, 2)
    bounds[0] = (bounds[0] + 1 - VIDEO_SCALE[0]).clamp(min=0)
    bounds = bounds.float()
    bounds[0] = bounds[0] / fps
    return bounds.to(dtype)[None]


def audio_positions(n: int, dtype: torch.dtype) -> torch.Tensor:
    """(1, 1, n, 2) [start, end) seconds of audio latents: mel frames [4i-3, 4i+1), 10 ms each."""
    i = torch.arange(n, dtype=torch.float32)
    first = (i * AUDIO_DOWNSAMPLE + 1 - AUDIO_DOWNSAMPLE).clamp(min=0)
    last = ((i + 1) * AUDIO_DOWNSAMPLE + 1 - AUDIO_DOWNSAMPLE).clamp(min=0)
    secs = torch.stack([first, last], dim=-1) * MEL_HOP / SAMPLE_RATE
    return secs.to(dtype)[None, None]


def reference_positions(n: int, dtype: torch.dtype) -> torch.Tensor:
    """The reference clip's own bounds moved before zero, one latent (0.04 s) of gap, in dtype."""
    pos = audio_positions(n, dtype)
    end_of_clip = pos[:, :, -1, 1].max().item()
    gap = MEL_HOP * AUDIO_DOWNSAMPLE / SAMPLE_RATE
    return pos - end_of_clip - gap


# ----------------------------------------------------------------------------- state
@dataclass
class Tokens:
    """One modality's packed tokens: latent (1, N, C), clean (1, N, C), mask (1, N, 1), positions."""

    latent: torch.Tensor
    clean: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor

    def part(self, start: int) -> Tokens:
        return Tokens(
            self.latent[:, start:],
            self.clean[:, start:],
            self.mask[:, start:],
            self.positions[:, :, start:],
        )


@dataclass
class Conditioning:
    """Encoded inputs: prompt/negative embeddings, first-frame and reference-voice tokens."""

    video_ctx: torch.Tensor
    audio_ctx: torch.Tensor
    video_ctx_neg: torch.Tensor
    audio_ctx_neg: torch.Tensor
    first_frame: torch.Tensor  # (1, lh*lw, C) normalised latent tokens
    reference: torch.Tensor  # (1, Nr, D) normalised packed reference audio tokens


# ----------------------------------------------------------------------------- perturbations
def _value_passthrough(attn: Any, x: torch.Tensor) -> torch.Tensor:
    out = attn.to_v(x)
    if getattr(attn, "to_gate_logits", None) is not None:
        gates = 2.0 * torch.sigmoid(attn.to_gate_logits(x))
        out = (out.unflatten(-1, (attn.heads, -1)) * gates[..., None]).flatten(-2)
    return attn.to_out[1](attn.to_out[0](out))


@contextlib.contextmanager
def _hooks(modules: list[Any], replace: Any) -> Iterator[None]:
    handles = [
        m.register_forward_hook(lambda mod, a, kw, out: replace(mod, kw, out), with_kwargs=True)
        for m in modules
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def stg_perturbation(transformer: Any, blocks: list[int], generation: str) -> Any:
    mods = []
    for b in blocks:
        mods += [
            transformer.transformer_blocks[b].attn1,
            transformer.transformer_blocks[b].audio_attn1,
        ]
    if generation == "ltx2":
        return _hooks(mods, lambda m, kw, out: torch.zeros_like(out))
    return _hooks(mods, lambda m, kw, out: _value_passthrough(m, kw["hidden_states"]))


def modality_isolation(transformer: Any) -> Any:
    mods = []
    for block in transformer.transformer_blocks:
        mods += [block.audio_to_video_attn, block.video_to_audio_attn]
    return _hooks(mods, lambda m, kw, out: torch.zeros_like(out))


# ----------------------------------------------------------------------------- the loop
def _x0(
    transformer: Any,
    video: Tokens,
    audio: Tokens,
    sigma: float,
    v_ctx: torch.Tensor,
    a_ctx: torch.Tensor,
    dims: tuple[int, int, int],
    fps: float,
    generation: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One X0Model call: velocity from the transformer, x0 = x - v * (mask * sigma)."""
    v_t = video.mask[..., 0] * sigma  # per-token timesteps, 0 on clean tokens
    a_t = audio.mask[..., 0] * sigma
    scaled = torch.full((1,), sigma * 1000.0)
    vel_v, vel_a = transformer(
        hidden_states=video.latent,
        audio_hidden_states=audio.latent,
        encoder_hidden_states=v_ctx,
        audio_encoder_hidden_states=a_ctx,
        timestep=v_t * 1000.0,
        audio_timestep=a_t * 1000.0,
        sigma=scaled,
        audio_sigma=scaled,
        encoder_attention_mask=None,
        audio_encoder_attention_mask=None,
        num_frames=dims[0],
        height=dims[1],
        width=dims[2],
        fps=fps,
        audio_num_frames=audio.latent.shape[1],
        video_coords=video.positions,
        audio_coords=audio.positions,
        use_cross_timestep=generation == "ltx2.3",
        return_dict=False,
    )
    return (
        video.latent - vel_v * v_t[..., None],
        audio.latent - vel_a * a_t[..., None],
    )


@torch.no_grad()
def public_one_stage(
    transformer: Any,
    cond: Conditioning,
    video_noise: torch.Tensor,
    audio_noise: torch.Tensor,
    *,
    generation: str,
    latent_dims: tuple[int, int, int],
    fps: float,
    steps: int,
    video_cfg: float = 3.0,
    audio_cfg: float = 7.0,
    identity: float = 3.0,
    stg: float = 1.0,
    stg_blocks: tuple[int, ...] = (29,),
    bimodal: float = 3.0,
    position_dtype: torch.dtype = torch.bfloat16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Final (video (1, Nv, C), target audio (1, Nt, D)) tokens of one generation, float32.

    ``video_noise`` (1, Nv, C) and ``audio_noise`` (1, Nt, D) are the initial noise of the
    denoised tokens (the public loop draws them from its generator; here they are given).
    """
    lf, lh, lw = latent_dims
    n_first = cond.first_frame.shape[1]
    nr = cond.reference.shape[1]
    nt = audio_noise.shape[1]

    # video state: first latent frame clean (mask 0), the rest noise
    v_clean = torch.zeros_like(video_noise)
    v_clean[:, :n_first] = cond.first_frame
    v_mask = torch.ones(1, video_noise.shape[1], 1)
    v_mask[:, :n_first] = 0.0
    video = Tokens(
        video_noise * v_mask + v_clean * (1 - v_mask),
        v_clean,
        v_mask,
        video_positions(lf, lh, lw, fps, position_dtype),
    )
    # audio state: [reference (clean, mask 0, negative times), target (noise)]
    a_clean = torch.cat([cond.reference, torch.zeros_like(audio_noise)], dim=1)
    a_mask = torch.cat([torch.zeros(1, nr, 1), torch.ones(1, nt, 1)], dim=1)
    a_noise = torch.cat([torch.zeros_like(cond.reference), audio_noise], dim=1)
    audio = Tokens(
        a_noise * a_mask + a_clean * (1 - a_mask),
        a_clean,
        a_mask,
        torch.cat(
            [reference_positions(nr, position_dtype), audio_positions(nt, position_dtype)], 2
        ),
    )

    sigmas = public_sigmas(steps)
    args = (latent_dims, fps, generation)
    for k in range(steps):
        sigma = float(sigmas[k])
        p_v, p_a = _x0(transformer, video, audio, sigma, cond.video_ctx, cond.audio_ctx, *args)
        d_v, d_a = torch.zeros_like(p_v), torch.zeros_like(p_a)
        if video_cfg != 1.0 or audio_cfg != 1.0:
            n_v, n_a = _x0(
                transformer, video, audio, sigma, cond.video_ctx_neg, cond.audio_ctx_neg, *args
            )
            d_v = d_v + (video_cfg - 1) * (p_v - n_v)
            d_a = d_a + (audio_cfg - 1) * (p_a - n_a)
        if identity > 0 and nr > 0:
            _, r_a = _x0(
                transformer, video, audio.part(nr), sigma, cond.video_ctx, cond.audio_ctx, *args
            )
            d_a[:, nr:] = d_a[:, nr:] + identity * (p_a[:, nr:] - r_a)
        if stg != 0.0:
            with stg_perturbation(transformer, list(stg_blocks), generation):
                s_v, s_a = _x0(
                    transformer, video, audio, sigma, cond.video_ctx, cond.audio_ctx, *args
                )
            d_v = d_v + stg * (p_v - s_v)
            d_a = d_a + stg * (p_a - s_a)
        if bimodal != 1.0:
            with modality_isolation(transformer):
                b_v, b_a = _x0(
                    transformer, video, audio, sigma, cond.video_ctx, cond.audio_ctx, *args
                )
            d_v = d_v + (bimodal - 1) * (p_v - b_v)
            d_a = d_a + (bimodal - 1) * (p_a - b_a)
        # guided x0, clean tokens forced to their clean values, Euler step in float32
        next_sigma = float(sigmas[k + 1])
        for state, x0 in ((video, p_v + d_v), (audio, p_a + d_a)):
            x0 = x0 * state.mask + state.clean * (1 - state.mask)
            velocity = (state.latent - x0) / sigma
            state.latent = state.latent + velocity * (next_sigma - sigma)
    return video.latent, audio.latent[:, nr:]


# ----------------------------------------------------------------------------- the fixture case
VARIANTS = ("ltx2", "ltx2.3")
#: fixture case -> (model generation, position dtype): the trainer's bfloat16 positions for
#: both generations, and LTX-2 with exact float32 positions (the engine's test option).
CASES = {
    "ltx2": ("ltx2", torch.bfloat16),
    "ltx2.3": ("ltx2.3", torch.bfloat16),
    "ltx2-exact": ("ltx2", torch.float32),
}
HEIGHT = WIDTH = 64
NUM_FRAMES = 9
FPS = 25.0
LATENT_DIMS = (2, 2, 2)  # (9 - 1) / 8 + 1 frames of 64 / 32 x 64 / 32
STEPS = 4
STG_BLOCK = 0  # the first of the tiny model's two blocks: the perturbation crosses block 1 too
PROMPT = "[VISUAL]: a woman speaks to the camera [SPEECH]: hello there [SOUNDS]: a calm voice"
NEGATIVE = "blurry, distorted voice, robotic voice, echo"
SEED = 20260310


@dataclass
class Inputs:
    image: torch.Tensor  # (3, H, W) in [-1, 1]
    wave: torch.Tensor  # (2, N) at 16 kHz
    video_noise: torch.Tensor  # (1, Nv, C)
    audio_noise: torch.Tensor  # (1, Nt, D)

    def checksum(self) -> float:
        return float(sum(t.double().abs().sum() for t in vars(self).values()))


def regression_inputs(pipe: Any) -> Inputs:
    """The fixed inputs of the regression case (seeded CPU draws; shapes from ``pipe``)."""
    g = torch.Generator().manual_seed(SEED)
    coarse = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    image = torch.nn.functional.interpolate(coarse, size=(HEIGHT, WIDTH), mode="bilinear")[0]
    image = (image + 0.1 * torch.randn(image.shape, generator=g)).clamp(-1, 1)
    t = torch.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    pitch = 140 + 30 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / SAMPLE_RATE
    voice = sum(torch.sin(k * phase) / k for k in range(1, 6)) * (
        0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t)
    )
    wave = 0.2 * voice + 0.01 * torch.randn(t.shape, generator=g)
    wave = torch.stack([wave, 0.9 * wave])
    nv = LATENT_DIMS[0] * LATENT_DIMS[1] * LATENT_DIMS[2]
    nt = round(NUM_FRAMES / FPS * 25)
    tr = pipe.transformer.config
    video_noise = torch.randn(1, nv, tr.in_channels, generator=g)
    audio_noise = torch.randn(1, nt, tr.audio_in_channels, generator=g)
    return Inputs(image.contiguous(), wave.contiguous(), video_noise, audio_noise)


def encode_conditioning(pipe: Any, inputs: Inputs) -> Conditioning:
    """Encode prompt, first frame and reference voice with the tiny model's components.

    Text goes through the pipeline's Gemma + connectors helper and the mel spectrogram through
    ``engine.audio_frontend`` (both tested on their own); the VAE encodes, the normalisation
    with the VAEs' latent statistics and the packing are written out here.
    """
    from engine.audio_frontend import waveform_to_mel

    pos, neg = pipe.encode_text([PROMPT]), pipe.encode_text([NEGATIVE])
    vae = pipe.vae
    lat = vae.encode(inputs.image[None, :, None].to(vae.dtype)).latent_dist.mode().float()
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).float()
    std = vae.latents_std.view(1, -1, 1, 1, 1).float()
    lat = (lat - mean) * float(vae.config.scaling_factor) / std
    first = lat.permute(0, 2, 3, 4, 1).reshape(1, -1, lat.shape[1])  # b (f h w) c
    avae = pipe.audio_vae
    mel = waveform_to_mel(inputs.wave[None], SAMPLE_RATE).to(avae.dtype)
    alat = avae.encode(mel).latent_dist.mode().float()  # (1, C, T, M)
    tokens = alat.permute(0, 2, 1, 3).reshape(1, alat.shape[2], -1)  # b t (c m)
    tokens = (tokens - avae.latents_mean.float()) / avae.latents_std.float()
    return Conditioning(pos.video, pos.audio, neg.video, neg.audio, first, tokens)


def weights_checksum(module: Any) -> float:
    return float(sum(p.detach().double().abs().sum() for p in module.parameters()))
