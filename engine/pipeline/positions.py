"""RoPE positions (time intervals in seconds) for video and audio tokens (method.md, "Positions").

Coordinates are ``[start, end)`` intervals, laid out as diffusers' LTX-2 transformer expects:
video ``(B, 3, N_video, 2)`` (time in seconds, then height and width in pixels), audio
``(B, 1, N_audio, 2)`` (time in seconds).

The reference voice tokens get *negative* times: the intervals computed for the reference clip
are shifted so that the last one ends ``REFERENCE_GAP_S`` (0.04 s) before zero, keeping their
internal spacing. diffusers' ``prepare_audio_coords`` clips negative times to 0, so the audio
coordinates are always built here and passed explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

VIDEO_TEMPORAL_SCALE = 8  # pixel frames per latent frame (first latent frame: 1 frame)
VIDEO_SPATIAL_SCALE = 32
AUDIO_MEL_HOP_S = 160 / 16000  # 0.01 s per mel frame
AUDIO_TEMPORAL_SCALE = 4  # mel frames per audio latent
AUDIO_LATENT_S = AUDIO_MEL_HOP_S * AUDIO_TEMPORAL_SCALE  # 0.04 s
REFERENCE_GAP_S = 0.04
CAUSAL_OFFSET = 1


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
) -> torch.Tensor:
    """Video token intervals ``(B, 3, F*H*W, 2)`` in (frame, height, width) token order.

    Latent frame k covers pixel frames ``[max(8k-7, 0), 8k+1)`` i.e. seconds
    ``[(8k-7)/fps, (8k+1)/fps)``, frame 0 ``[0, 1/fps)``; a token at latent row h covers
    pixels ``[32h, 32(h+1))`` (same for width).
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
    coords = torch.stack([starts, ends], dim=-1)  # (3, N, 2)
    return coords.unsqueeze(0).expand(batch, -1, -1, -1).contiguous()


def audio_intervals(num_latents: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Intervals ``(N, 2)`` of audio latents starting at time 0.

    Token i covers mel frames ``[max(4i-3, 0), 4i+1)``, i.e. seconds
    ``[max(4i-3, 0) * 0.01, (4i+1) * 0.01)``.
    """
    import torch

    i = torch.arange(num_latents, dtype=torch.float64, device=device)
    start = (i * AUDIO_TEMPORAL_SCALE + CAUSAL_OFFSET - AUDIO_TEMPORAL_SCALE).clamp(min=0)
    end = ((i + 1) * AUDIO_TEMPORAL_SCALE + CAUSAL_OFFSET - AUDIO_TEMPORAL_SCALE).clamp(min=0)
    return (torch.stack([start, end], dim=-1) * AUDIO_MEL_HOP_S).to(torch.float32)


def reference_audio_intervals(
    num_reference: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Intervals ``(N_ref, 2)`` of the reference tokens, shifted to negative time.

    The reference clip's own intervals are shifted by ``-(end of its last interval + 0.04 s)``:
    the last reference interval ends 0.04 s before zero; spacing is unchanged.
    """
    import torch

    if num_reference == 0:
        return torch.zeros((0, 2), dtype=torch.float32, device=device)
    iv = audio_intervals(num_reference, device=device).to(torch.float64)
    shift = iv[-1, 1] + REFERENCE_GAP_S
    return (iv - shift).to(torch.float32)


def audio_coords(
    batch: int,
    num_reference: int,
    num_target: int,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Audio coordinates ``(B, 1, N_ref + N_target, 2)``: reference (negative) then target (>= 0)."""
    import torch

    iv = torch.cat(
        [
            reference_audio_intervals(num_reference, device=device),
            audio_intervals(num_target, device=device),
        ],
        dim=0,
    )
    return iv[None, None].expand(batch, 1, -1, -1).contiguous()
