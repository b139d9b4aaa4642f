"""Audio front end: log-mel layout, values against an independent numpy STFT, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import audio_frontend as af
from engine.api import InvalidRequestError


def _tone(freq: float, sr: int, seconds: float, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    return (amp * torch.sin(2 * torch.pi * freq * t)).float()


def _numpy_log_mel(x: np.ndarray) -> np.ndarray:
    """Independent reference: explicit framing + numpy rFFT, same Slaney bank. x: (N,) at 16 kHz."""
    half = af.N_FFT // 2
    padded = np.pad(x.astype(np.float64), (half, half), mode="reflect")
    n_frames = 1 + (len(padded) - af.N_FFT) // af.HOP_LENGTH
    n = np.arange(af.N_FFT)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / af.N_FFT)  # periodic Hann
    frames = np.stack(
        [padded[i * af.HOP_LENGTH : i * af.HOP_LENGTH + af.N_FFT] * window for i in range(n_frames)]
    )
    mag = np.abs(np.fft.rfft(frames, axis=1))  # (T, 513)
    mel = mag @ af.mel_filters_numpy()  # (T, 64)
    return np.log(np.maximum(mel, 1e-5))


@pytest.mark.parametrize("n", [513, 16000, 16159, 16160, 33333])
def test_frame_count_follows_centred_hop(n: int) -> None:
    mel = af.waveform_to_mel(torch.randn(1, n) * 0.1, 16000)
    assert mel.shape == (1, 2, 1 + n // 160, 64)
    assert af.mel_frames(n) == 1 + n // 160


def test_matches_independent_numpy_stft() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8000, generator=g) * 0.3 + _tone(440.0, 16000, 0.5)[None]
    mel = af.waveform_to_mel(x, 16000)
    ref = _numpy_log_mel(x[0].numpy())
    assert mel.dtype == torch.float32
    np.testing.assert_allclose(mel[0, 0].numpy(), ref, atol=1e-4, rtol=0)
    np.testing.assert_allclose(mel[0, 1].numpy(), ref, atol=1e-4, rtol=0)


def test_magnitude_not_power_and_log_floor() -> None:
    # Doubling the amplitude adds log(2) where the signal dominates (magnitude spectrum);
    # a power spectrum would add log(4).
    x = _tone(1000.0, 16000, 0.25)[None]
    m1 = af.waveform_to_mel(x, 16000)
    m2 = af.waveform_to_mel(2 * x, 16000)
    peak = int(m1[0, 0, 10].argmax())
    assert float(m2[0, 0, 10, peak] - m1[0, 0, 10, peak]) == pytest.approx(np.log(2.0), abs=1e-4)
    silent = af.waveform_to_mel(torch.zeros(1, 4000), 16000)
    assert torch.allclose(silent, torch.full_like(silent, float(np.log(1e-5))))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0, 6500.0])
def test_tone_peaks_in_the_mel_bin_of_its_frequency(freq: float) -> None:
    mel = af.waveform_to_mel(_tone(freq, 16000, 0.5)[None], 16000)
    spectrum = mel[0, 0, 10:-10].mean(dim=0)  # avoid edge frames
    fb = af.mel_filters_numpy()
    fft_bin = int(round(freq / (16000 / af.N_FFT)))
    expected = int(np.argmax(fb[fft_bin]))  # the filter with most weight at the tone's FFT bin
    assert int(spectrum.argmax()) == expected


def test_mono_duplicated_stereo_kept_batch_layout() -> None:
    left = _tone(500.0, 16000, 0.3)
    right = _tone(2500.0, 16000, 0.3)
    mono = af.waveform_to_mel(left[None], 16000)
    assert mono.shape[:2] == (1, 2)
    assert torch.equal(mono[0, 0], mono[0, 1])

    stereo = af.waveform_to_mel(torch.stack([left, right])[None], 16000)
    assert not torch.allclose(stereo[0, 0], stereo[0, 1])
    assert torch.allclose(stereo[0, 0], mono[0, 0], atol=1e-5)
    assert torch.allclose(stereo[0, 1], af.waveform_to_mel(right[None], 16000)[0, 0], atol=1e-5)

    batch = af.waveform_to_mel(torch.stack([left[None], right[None]]), 16000)  # (2, 1, N)
    assert batch.shape == (2, 2, 1 + len(left) // 160, 64)
    assert torch.allclose(batch[1, 0], stereo[0, 1], atol=1e-5)


def test_more_than_two_channels_are_downmixed() -> None:
    x = torch.randn(3, 4000)
    mel = af.waveform_to_mel(x, 16000)
    ref = af.waveform_to_mel(x.mean(0, keepdim=True), 16000)
    assert torch.allclose(mel, ref, atol=1e-5)


def _peak_hz(x: torch.Tensor, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x.double().numpy() * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


@pytest.mark.parametrize("sr", [48000, 44100, 8000])
def test_resampling_keeps_tone_frequency(sr: int) -> None:
    x = _tone(1000.0, sr, 1.0)
    y = af.resample(x[None], sr, 16000)[0]
    assert y.shape[-1] == 16000
    assert _peak_hz(y, 16000) == pytest.approx(1000.0, abs=1.0)
    # amplitude preserved in the passband (away from the edges)
    assert float(y[2000:-2000].abs().max()) == pytest.approx(0.5, rel=0.01)


def test_resampling_removes_content_above_new_nyquist() -> None:
    x = _tone(12000.0, 48000, 0.5)  # above 8 kHz: must be filtered, not aliased to 4 kHz
    y = af.resample(x[None], 48000, 16000)[0]
    assert float(y[1000:-1000].abs().max()) < 0.01


def test_mel_of_48k_input_equals_mel_of_resampled() -> None:
    x = _tone(1000.0, 48000, 0.5)[None]
    mel = af.waveform_to_mel(x, 48000)
    assert mel.shape == (1, 2, 1 + 8000 // 160, 64)
    ref = af.waveform_to_mel(af.resample(x, 48000, 16000), 16000)
    assert torch.allclose(mel, ref)
    # and it's the same (up to resampling error) as the tone generated at 16 kHz
    direct = af.waveform_to_mel(_tone(1000.0, 16000, 0.5)[None], 16000)
    peak = int(direct[0, 0, 20].argmax())
    assert abs(float(mel[0, 0, 20:-20, peak].mean() - direct[0, 0, 20:-20, peak].mean())) < 0.01


def test_rejects_bad_input() -> None:
    with pytest.raises(InvalidRequestError):
        af.waveform_to_mel(torch.zeros(1, 100), 16000)
    with pytest.raises(InvalidRequestError):
        af.waveform_to_mel(torch.zeros(16000, dtype=torch.int16), 16000)
    with pytest.raises(InvalidRequestError):
        af.waveform_to_mel(torch.zeros(16000), 16000)


@pytest.mark.parametrize("n", [513, 1000, 16000, 16480, 80000])
def test_audio_latent_frames_matches_real_audio_vae(n: int) -> None:
    from diffusers import AutoencoderKLLTX2Audio

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Audio(
        base_channels=16, latent_channels=4, ch_mult=(1, 2, 4), num_res_blocks=1, output_channels=2
    ).eval()
    mel = af.waveform_to_mel(torch.randn(1, n) * 0.1, 16000)
    with torch.no_grad():
        z = vae.encode(mel).latent_dist.mode()
    assert z.shape[2] == af.audio_latent_frames(n)
    assert z.shape[3] == 64 // 4


def test_latent_rate_is_25_per_second() -> None:
    assert af.AUDIO_LATENTS_PER_SECOND == 25.0
    assert af.audio_latent_frames(80000) == 126  # 5 s: 501 mel frames -> ceil(501/4)
    assert af.audio_latent_frames(16000 * 4) == 101
