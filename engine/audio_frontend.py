"""Waveform -> log-mel front end for LTX-2's audio VAE (method.md, "Latent spaces").

Diffusers 0.42 ships the audio VAE but no waveform front end, and torchaudio has no build for
the CPU torch used in CI, so this module does it with torch alone:

1. channels: mono is duplicated to 2 channels, stereo kept, more than 2 averaged to mono and
   duplicated;
2. resampling to 16 kHz with a polyphase windowed-sinc (Hann) low-pass resampler;
3. STFT: n_fft 1024, Hann window 1024 (periodic), hop 160, centred reflect padding;
4. magnitude spectrum (not power) projected onto 64 Slaney-scale, Slaney-normalised mel filters
   over 0-8 kHz (``transformers.audio_utils.mel_filter_bank``);
5. ``log(clamp(mel, 1e-5))``, laid out (batch, 2, time, 64) as the audio VAE encoder expects.

``audio_latent_frames`` gives how many audio latent frames the VAE makes from a clip.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from engine.api import InvalidRequestError

if TYPE_CHECKING:  # torch is imported lazily so that ``import engine`` stays light
    import torch

SAMPLE_RATE = 16_000
N_FFT = 1024
WIN_LENGTH = 1024
HOP_LENGTH = 160
N_MELS = 64
F_MIN = 0.0
F_MAX = 8_000.0
LOG_FLOOR = 1e-5
AUDIO_CHANNELS = 2
# The audio VAE encoder has three resolution levels, i.e. two causal stride-2 downsamples in time.
AUDIO_VAE_TIME_DOWNSAMPLES = 2
AUDIO_LATENTS_PER_SECOND = SAMPLE_RATE / HOP_LENGTH / 2**AUDIO_VAE_TIME_DOWNSAMPLES  # 25.0

# Resampler quality: zero crossings of the sinc on each side, and the low-pass roll-off.
_RESAMPLE_ZERO_CROSSINGS = 16
_RESAMPLE_ROLLOFF = 0.945


# ----------------------------------------------------------------------------- frame counts


def mel_frames(num_samples_16k: int) -> int:
    """Number of mel frames for a 16 kHz clip of ``num_samples_16k`` samples (centred STFT)."""
    return 1 + int(num_samples_16k) // HOP_LENGTH


def audio_latent_frames(num_samples_16k: int) -> int:
    """Number of audio latent frames the LTX-2 audio VAE encoder gives for a 16 kHz clip.

    The mel spectrogram has ``T = 1 + N // 160`` frames. Each of the encoder's two time
    downsamples is a 3-tap stride-2 convolution after causal padding of 2 frames at the start
    (``causality_axis="height"``), so it maps ``T -> (T - 1) // 2 + 1 = ceil(T / 2)``. In total
    ``L = ceil(ceil(T / 2) / 2) = ceil(T / 4)``: ~25 latents per second, 0.04 s each.
    """
    t = mel_frames(num_samples_16k)
    for _ in range(AUDIO_VAE_TIME_DOWNSAMPLES):
        t = (t - 1) // 2 + 1
    return t


# ----------------------------------------------------------------------------- channels


def to_stereo(waveform: torch.Tensor) -> torch.Tensor:
    """(B, C, N) -> (B, 2, N): mono duplicated, stereo kept, >2 channels averaged then duplicated."""
    channels = waveform.shape[1]
    if channels == AUDIO_CHANNELS:
        return waveform
    if channels < 1:
        raise InvalidRequestError("audio has no channels")
    mono = waveform if channels == 1 else waveform.mean(dim=1, keepdim=True)
    return mono.expand(-1, AUDIO_CHANNELS, -1).contiguous()


# ----------------------------------------------------------------------------- resampling


@lru_cache(maxsize=16)
def _polyphase_kernels(orig: int, new: int) -> tuple[np.ndarray, int]:
    """Windowed-sinc kernels, one per output phase: (new, K) float64, and the left padding.

    Output sample ``j`` sits at input time ``j * orig / new``. With ``j = q * new + p`` its value
    is ``sum_k x_pad[q * orig + k] * kernel[p, k]`` where ``x_pad`` is the input padded by
    ``pad`` samples on the left, i.e. a strided conv1d with ``new`` output channels.
    """
    # Low-pass cutoff as a fraction of the *input* sample rate (0.5 = input Nyquist).
    cutoff = 0.5 * min(1.0, new / orig) * _RESAMPLE_ROLLOFF
    half_width = _RESAMPLE_ZERO_CROSSINGS / (2.0 * cutoff)  # in input samples
    pad = int(math.ceil(half_width))
    taps = 2 * pad + orig
    k = np.arange(taps, dtype=np.float64)
    phase = np.arange(new, dtype=np.float64)[:, None] * orig / new
    t = k[None, :] - pad - phase  # input-sample offset of tap k for phase p
    window = np.where(np.abs(t) <= half_width, 0.5 * (1.0 + np.cos(np.pi * t / half_width)), 0.0)
    kernels = 2.0 * cutoff * np.sinc(2.0 * cutoff * t) * window
    return kernels, pad


def resample(waveform: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Resample (..., N) audio from ``orig_sr`` to ``new_sr`` (band-limited, windowed sinc).

    Output length is ``ceil(N * new_sr / orig_sr)``. Works on any device; computes in the
    input's floating dtype (float32 at least).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    if orig_sr <= 0 or new_sr <= 0:
        raise InvalidRequestError(f"invalid sample rates {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return waveform
    g = math.gcd(int(orig_sr), int(new_sr))
    orig, new = int(orig_sr) // g, int(new_sr) // g
    kernels_np, pad = _polyphase_kernels(orig, new)

    shape = waveform.shape
    n = shape[-1]
    dtype = waveform.dtype if waveform.dtype in (torch.float32, torch.float64) else torch.float32
    x = waveform.reshape(-1, 1, n).to(dtype)
    kernels = torch.from_numpy(kernels_np).to(device=x.device, dtype=dtype)[:, None, :]
    taps = kernels.shape[-1]

    n_out = -(-n * new // orig)
    q = -(-n_out // new)  # conv output positions needed
    total = (q - 1) * orig + taps
    right = max(total - n - pad, 0)
    x = F.pad(x, (pad, right))
    y = F.conv1d(x, kernels, stride=orig)  # (M, new, q)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)[:, :n_out]
    return y.reshape(*shape[:-1], n_out)


# ----------------------------------------------------------------------------- mel


def mel_filters_numpy() -> np.ndarray:
    """The (513, 64) Slaney mel filter bank (float64) used by :func:`waveform_to_mel`."""
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=N_MELS,
        min_frequency=F_MIN,
        max_frequency=F_MAX,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )


@lru_cache(maxsize=1)
def _mel_filters_cpu() -> np.ndarray:
    return mel_filters_numpy()


_FILTER_CACHE: dict[tuple[str, str], torch.Tensor] = {}
_WINDOW_CACHE: dict[tuple[str, str], torch.Tensor] = {}


def _mel_filters(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    import torch

    key = (str(device), str(dtype))
    fb = _FILTER_CACHE.get(key)
    if fb is None:
        fb = torch.from_numpy(_mel_filters_cpu()).to(device=device, dtype=dtype)
        _FILTER_CACHE[key] = fb
    return fb


def _hann(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    import torch

    key = (str(device), str(dtype))
    w = _WINDOW_CACHE.get(key)
    if w is None:
        w = torch.hann_window(WIN_LENGTH, periodic=True, device=device, dtype=dtype)
        _WINDOW_CACHE[key] = w
    return w


def prepare_waveform(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """(B, C, N) or (C, N) audio at any rate -> float (B, 2, N') at 16 kHz."""
    import torch

    if not torch.is_floating_point(waveform):
        raise InvalidRequestError(f"waveform must be floating point, got {waveform.dtype}")
    if waveform.ndim == 2:
        waveform = waveform[None]
    if waveform.ndim != 3:
        raise InvalidRequestError(
            f"waveform must be (batch, channels, samples) or (channels, samples), got {tuple(waveform.shape)}"
        )
    if waveform.dtype not in (torch.float32, torch.float64):
        waveform = waveform.float()
    waveform = to_stereo(waveform)
    return resample(waveform, int(sample_rate), SAMPLE_RATE)


def waveform_to_mel(waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Log-mel spectrogram for the LTX-2 audio VAE encoder.

    Args:
        waveform: float (B, C, N) or (C, N) in [-1, 1], any channel count, at ``sample_rate``.
        sample_rate: the waveform's rate in Hz; resampled to 16 kHz when different.

    Returns:
        float32 (or float64 for float64 input) tensor (B, 2, T, 64) on the waveform's device,
        ``T = 1 + N16 // 160`` where ``N16`` is the sample count at 16 kHz.
    """
    import torch

    x = prepare_waveform(waveform, sample_rate)
    batch, channels, n = x.shape
    if n <= N_FFT // 2:
        raise InvalidRequestError(
            f"audio too short: {n} samples at 16 kHz; at least {N_FFT // 2 + 1} are needed"
        )
    spec = torch.stft(
        x.reshape(batch * channels, n),
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        win_length=WIN_LENGTH,
        window=_hann(x.device, x.dtype),
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    ).abs()  # (B*2, 513, T) magnitude
    mel = torch.matmul(spec.transpose(1, 2), _mel_filters(x.device, x.dtype))  # (B*2, T, 64)
    mel = torch.log(torch.clamp(mel, min=LOG_FLOOR))
    return mel.reshape(batch, channels, mel.shape[1], N_MELS)
