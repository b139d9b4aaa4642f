"""RoPE positions (time intervals in seconds) for video and audio tokens (method.md, "Positions").

Coordinates are ``[start, end)`` intervals, laid out as diffusers' LTX-2 transformer expects:
video ``(B, 3, N_video, 2)`` (time in seconds, then height and width in pixels), audio
``(B, 1, N_audio, 2)`` (time in seconds).

The reference voice tokens get *negative* times: the intervals computed for the reference clip
are shifted so that the last one ends ``REFERENCE_GAP_S`` (0.04 s) before zero, keeping their
internal spacing. diffusers' ``prepare_audio_coords`` clips negative times to 0, so the audio
coordinates are always built here and passed explicitly.

Precision: bfloat16 positions, as the LoRA was trained
------------------------------------------------------
By default (``dtype="bfloat16"``) every coordinate tensor is bfloat16, built the way the
ID-LoRA trainer built them, because that is what the LoRA learned. Evidence (public ID-LoRA
code, LTX-2 and LTX-2.3 trainers alike):

* ``ltx-trainer`` ``training_strategies/base_strategy.py``: ``_get_video_positions`` casts the
  pixel coordinates ``.to(dtype)`` and then divides the time axis by the fps (in that dtype);
  ``_get_audio_positions`` returns the audio bounds ``.to(dtype)``.
* ``training_strategies/audio_ref_only_ic.py`` (``prepare_training_inputs``): ``dtype`` is
  the dtype of the cached video latents, and ``scripts/process_videos.py`` encodes them with a
  bfloat16 VAE and stores them as produced, so ``dtype`` is bfloat16. The reference positions
  (``_get_negative_audio_positions``) are the bfloat16 audio bounds minus
  ``positions[..., -1, 1].max().item()`` minus ``time_per_latent`` (0.04 s), each operation
  rounding to bfloat16. Target audio and video positions are bfloat16 too.
* The transformer computes the RoPE phases from those tensors: the interval midpoint, the
  division by the maximum position and ``* 2 - 1`` happen in the positions' dtype before the
  float32 frequencies multiply them (``ltx-core`` ``rope.py``; diffusers'
  ``LTX2AudioVideoRotaryPosEmbed`` does the same operations in the same order, so bfloat16
  coordinates reproduce it).

bfloat16 keeps 8 significant bits: at 4 s a time position is rounded to 1/64 s, a large part
of the 0.04 s audio latent spacing, so the choice is visible, not a rounding detail. The
public *inference* scripts agree for video and reference positions (bfloat16 ``.to(dtype)``,
same shift) but leave the target audio positions in float32 (``AudioLatentTools`` does not
cast them; concatenating them with the bfloat16 reference promotes to float32). The engine
follows the trainer there as well. ``dtype="float32"`` computes the same formulas in float32:
the exact positions, for tests and comparisons.

The latent state between steps is *not* rounded to bfloat16 (the public scripts keep it in
the model dtype): the trainer has no state between steps to learn from, and it fed the model
bfloat16-rounded inputs, which the engine also does by casting the float32 state to the
transformer's dtype at every pass. Euler steps and guidance stay float32 (method.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

VIDEO_TEMPORAL_SCALE = 8  # pixel frames per latent frame (first latent frame: 1 frame)
VIDEO_SPATIAL_SCALE = 32
AUDIO_HOP = 160  # samples per mel frame
AUDIO_SAMPLE_RATE = 16000
AUDIO_MEL_HOP_S = AUDIO_HOP / AUDIO_SAMPLE_RATE  # 0.01 s per mel frame
AUDIO_TEMPORAL_SCALE = 4  # mel frames per audio latent
AUDIO_LATENT_S = AUDIO_MEL_HOP_S * AUDIO_TEMPORAL_SCALE  # 0.04 s
REFERENCE_GAP_S = AUDIO_HOP * AUDIO_TEMPORAL_SCALE / AUDIO_SAMPLE_RATE  # one latent: 0.04 s
CAUSAL_OFFSET = 1
#: What the ID-LoRA trainer used (see the module docstring); "float32" is exact.
DEFAULT_POSITION_DTYPE = "bfloat16"


def _dtype(dtype: torch.dtype | str) -> torch.dtype:
    import torch

    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        resolved = getattr(torch, str(dtype), None)
    if resolved not in (torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"position dtype must be bfloat16, float32 or float64, got {dtype!r}")
    return resolved


def video_coords(
    batch: int,
    latent_frames: int,
    latent_height: int,
    latent_width: int,
    fps: float,
    *,
    device: torch.device | str | None = None,
    temporal_scale: int = VIDEO_TEMPORAL_SCALE,
    spatial_scale: int = VIDEO_SPATIAL_SCALE,
    dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
) -> torch.Tensor:
    """Video token intervals ``(B, 3, F*H*W, 2)`` in (frame, height, width) token order.

    Latent frame k covers pixel frames ``[max(8k-7, 0), 8k+1)`` i.e. seconds
    ``[(8k-7)/fps, (8k+1)/fps)``, frame 0 ``[0, 1/fps)``; a token at latent row h covers
    pixels ``[32h, 32(h+1))`` (same for width). Times are divided in float32 and then cast to
    ``dtype`` (pixel frame and pixel numbers are exact in bfloat16, so this equals the
    trainer's cast-then-divide).
    """
    import torch

    f = torch.arange(latent_frames, dtype=torch.float32, device=device)
    t_start = (f * temporal_scale + CAUSAL_OFFSET - temporal_scale).clamp(min=0) / fps
    t_end = ((f + 1) * temporal_scale + CAUSAL_OFFSET - temporal_scale).clamp(min=0) / fps
    h = torch.arange(latent_height, dtype=torch.float32, device=device) * spatial_scale
    w = torch.arange(latent_width, dtype=torch.float32, device=device) * spatial_scale
    gs, gh, gw = torch.meshgrid(t_start, h, w, indexing="ij")
    ge = torch.meshgrid(t_end, h, w, indexing="ij")[0]
    gh, gw = gh.reshape(-1), gw.reshape(-1)
    starts = torch.stack([gs.reshape(-1), gh, gw], dim=0)  # (3, N)
    ends = torch.stack([ge.reshape(-1), gh + spatial_scale, gw + spatial_scale], dim=0)
    coords = torch.stack([starts, ends], dim=-1).to(_dtype(dtype))  # (3, N, 2)
    return coords.unsqueeze(0).expand(batch, -1, -1, -1).contiguous()


def audio_intervals(
    num_latents: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
) -> torch.Tensor:
    """Intervals ``(N, 2)`` of audio latents starting at time 0, in ``dtype``.

    Token i covers mel frames ``[max(4i-3, 0), 4i+1)``, i.e. seconds
    ``[max(4i-3, 0) * 0.01, (4i+1) * 0.01)``; computed as mel frame * 160 / 16000 in float32
    (as the audio patchifier does), then cast.
    """
    import torch

    i = torch.arange(num_latents, dtype=torch.float32, device=device)
    start = (i * AUDIO_TEMPORAL_SCALE + CAUSAL_OFFSET - AUDIO_TEMPORAL_SCALE).clamp(min=0)
    end = ((i + 1) * AUDIO_TEMPORAL_SCALE + CAUSAL_OFFSET - AUDIO_TEMPORAL_SCALE).clamp(min=0)
    seconds = torch.stack([start, end], dim=-1) * AUDIO_HOP / AUDIO_SAMPLE_RATE
    return seconds.to(_dtype(dtype))


def reference_audio_intervals(
    num_reference: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
) -> torch.Tensor:
    """Intervals ``(N_ref, 2)`` of the reference tokens, shifted to negative time, in ``dtype``.

    The reference clip's own intervals are shifted by ``-(end of its last interval + 0.04 s)``:
    the last reference interval ends 0.04 s before zero; spacing is unchanged. As in the
    trainer, the shift is applied in ``dtype``: first the end of the clip, then the gap.
    """
    iv = audio_intervals(num_reference, device=device, dtype=dtype)
    if num_reference == 0:
        return iv
    end_of_clip = float(iv[-1, 1].item())
    return iv - end_of_clip - REFERENCE_GAP_S


def audio_coords(
    batch: int,
    num_reference: int,
    num_target: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
) -> torch.Tensor:
    """Audio coordinates ``(B, 1, N_ref + N_target, 2)``: reference (negative) then target (>= 0)."""
    import torch

    iv = torch.cat(
        [
            reference_audio_intervals(num_reference, device=device, dtype=dtype),
            audio_intervals(num_target, device=device, dtype=dtype),
        ],
        dim=0,
    )
    return iv[None, None].expand(batch, 1, -1, -1).contiguous()
