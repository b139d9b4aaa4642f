"""Checking and preparing a voice clip for the library (import or recording).

:func:`check_voice_clip` decodes any common audio file, measures its loudness (ITU-R
BS.1770), finds the voice by an energy-based voice-activity detector, trims the silence
around it, normalises the loudness, flags clipping and background noise, and suggests the
best ~5 s window: the length of reference ID-LoRA was trained on. Files that cannot be used
raise :class:`ImportRejected`; usable files with problems carry warnings as sentences.

Pure numpy on top of :mod:`engine.media.audio` (PyAV): no Qt, no torch, safe in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.api import MediaError
from engine.media.audio import decode_audio, encode_wav_bytes, integrated_loudness, probe_audio
from idlora_studio.library.media_types import ImportRejected, VoiceImport

MIN_RATE = 16_000
MAX_RATE = 48_000
FALLBACK_RATE = 48_000
HOP_S = 0.010  # analysis hop; frames are two hops (20 ms) long
MARGIN_S = 0.15  # silence kept before the first and after the last voiced frame
HANGOVER_S = 0.20  # voice activity held this long after speech (bridges short pauses)
WINDOW_S = 5.0  # reference length ID-LoRA was trained on
SHORT_S = 2.0
LONG_S = 15.0
PEAK_CEILING_DB = -1.0
CLIP_LEVEL = 0.999
CLIP_RUN = 3  # consecutive samples at full scale that count as a clip
N_PEAKS = 400
SILENT_PEAK_DB = -60.0  # a file whose loudest sample is below this is silent
STATIONARY_DB = 12.0  # less dynamics than this: no pauses to detect
MIN_TRUNCATED_S = 1.0  # a truncated file with less than this left is unusable


@dataclass(frozen=True)
class VoiceActivity:
    """Frame-level analysis of a clip (frames every :data:`HOP_S`)."""

    energy_db: np.ndarray  # per-frame RMS level, dBFS (floored at -120)
    voiced: np.ndarray  # bool, raw detector output
    voiced_held: np.ndarray  # bool, with hangover
    threshold_db: float
    noise_floor_db: float
    voice_level_db: float
    hop: int  # samples per hop


def frame_energy_db(mono: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """RMS level in dBFS of 20 ms frames every 10 ms, and the hop in samples."""
    hop = max(1, int(round(sr * HOP_S)))
    n = len(mono)
    n_frames = max(1, n // hop)
    csum = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    starts = np.arange(n_frames) * hop
    ends = np.minimum(starts + 2 * hop, n)
    lengths = np.maximum(ends - starts, 1)
    power = (csum[ends] - csum[starts]) / lengths
    return 10.0 * np.log10(power + 1e-12), hop


def detect_voice(mono: np.ndarray, sr: int) -> VoiceActivity:
    """Energy-based voice-activity detection with an adaptive threshold and hangover.

    The noise floor is the 10th percentile of frame levels, the voice level the 95th. A
    frame is voiced when it rises clearly above the floor (half the dynamic range, at most
    10 dB) and above -55 dBFS. A signal without a clearly quieter part (under 12 dB between
    floor and voice) has no pauses to find: it is voiced wherever it is above -50 dBFS.
    """
    energy, hop = frame_energy_db(mono, sr)
    floor = float(np.percentile(energy, 10))
    loud = float(np.percentile(energy, 95))
    dyn = loud - floor
    if dyn < STATIONARY_DB:
        threshold = -50.0
    else:
        threshold = max(-55.0, floor + min(10.0, dyn / 2.0))
    voiced = energy > threshold
    hang = int(round(HANGOVER_S / HOP_S))
    held = voiced.copy()
    if voiced.any() and hang > 0:
        idx = np.flatnonzero(voiced)
        # each voiced frame keeps the next ``hang`` frames voiced
        marks = np.zeros(len(voiced) + 1, dtype=np.int64)
        marks[idx] += 1
        np.add.at(marks, np.minimum(idx + hang + 1, len(voiced)), -1)
        held = np.cumsum(marks[:-1]) > 0
    voice_level = float(np.median(energy[voiced])) if voiced.any() else floor
    return VoiceActivity(
        energy_db=energy,
        voiced=voiced,
        voiced_held=held,
        threshold_db=float(threshold),
        noise_floor_db=floor,
        voice_level_db=voice_level,
        hop=hop,
    )


def clipped_runs(
    samples: np.ndarray, level: float = CLIP_LEVEL, run: int = CLIP_RUN
) -> list[tuple[int, int]]:
    """(start, end) sample ranges where any channel stays at ``|x| >= level`` for ``run``+ samples."""
    hot = (np.abs(samples) >= level).any(axis=0)
    if not hot.any():
        return []
    edges = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= run]


def best_window(
    voiced_held: np.ndarray, clipped_frames: np.ndarray, hop_s: float, window_s: float = WINDOW_S
) -> tuple[float, float]:
    """The ``window_s`` stretch with the most voice activity and no clipping, in seconds.

    Among equally good positions the middle one is taken, so the window sits inside a long
    voiced stretch rather than against its edge.
    """
    n = len(voiced_held)
    total_s = n * hop_s
    w = int(round(window_s / hop_s))
    if w >= n:
        return 0.0, total_s
    score = voiced_held.astype(np.float64) - 4.0 * clipped_frames.astype(np.float64)
    csum = np.concatenate([[0.0], np.cumsum(score)])
    sums = csum[w:] - csum[:-w]
    best = np.flatnonzero(sums >= sums.max() - 1e-9)
    # the run of best positions containing the median one
    start = int(best[len(best) // 2])
    return start * hop_s, (start + w) * hop_s


def waveform_peaks(samples: np.ndarray, n: int = N_PEAKS) -> tuple[float, ...]:
    """``n`` bucket maxima of |x| (over channels) in [0, 1], for drawing a waveform."""
    mag = np.abs(samples).max(axis=0) if samples.ndim == 2 else np.abs(samples)
    if len(mag) == 0:
        return ()
    edges = np.linspace(0, len(mag), n + 1).astype(np.int64)
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        out.append(float(mag[a:b].max()) if b > a else (out[-1] if out else 0.0))
    return tuple(min(1.0, v) for v in out)


def _db(x: float) -> float:
    return 20.0 * np.log10(max(x, 1e-12))


def _reject(path: Path, exc: MediaError) -> ImportRejected:
    return ImportRejected(path, exc.problem)


def check_voice_clip(
    path: Path, *, target_lufs: float = -23.0, max_source_s: float = 600.0
) -> VoiceImport:
    """Decode, analyse and prepare a voice clip; raise :class:`ImportRejected` if unusable.

    The clip keeps its sample rate when it is between 16 and 48 kHz (otherwise it is
    resampled to 48 kHz) and its channels when there are at most two (more are mixed to
    mono). Sources longer than ``max_source_s`` are refused before they are decoded in full.
    """
    path = Path(path)
    # 1. decode (rejects missing, empty, non-audio, damaged and too-long files)
    try:
        info = probe_audio(path)
        target_sr = None if MIN_RATE <= info.sample_rate <= MAX_RATE else FALLBACK_RATE
        decoded = decode_audio(
            path, target_sr=target_sr, max_duration_s=max_source_s, allow_truncated=True
        )
    except MediaError as exc:
        raise _reject(path, exc) from None
    sr = decoded.sample_rate
    x = decoded.samples.astype(np.float64)
    if x.shape[0] > 2:
        x = x.mean(axis=0, keepdims=True)
    channels = x.shape[0]
    source_duration = x.shape[1] / sr
    warnings: list[str] = []
    if decoded.truncated:
        declared = decoded.declared_duration_s
        of = f" of the declared {declared:.1f} s" if declared and declared > source_duration else ""
        if source_duration < MIN_TRUNCATED_S:
            raise ImportRejected(
                path,
                f"the file is truncated: only {source_duration:.1f} s{of} could be decoded, "
                "too little to use",
            )
        warnings.append(
            f"The file seems truncated or damaged: only {source_duration:.1f} s{of} could be "
            "decoded."
        )

    # 2. silence and voice activity
    peak = float(np.abs(x).max()) if x.size else 0.0
    if _db(peak) < SILENT_PEAK_DB:
        level = "digital silence" if peak == 0 else f"its loudest sample is {_db(peak):.0f} dBFS"
        raise ImportRejected(path, f"the clip is silent ({level}): no voice found")
    mono = x.mean(axis=0)
    vad = detect_voice(mono, sr)
    if not vad.voiced.any():
        raise ImportRejected(
            path, "no voice activity was found: the clip is silent or holds only faint noise"
        )
    loudness = integrated_loudness(x, sr)

    # 3. trim leading/trailing silence, keeping margins
    hop = vad.hop
    margin = int(round(MARGIN_S * sr))
    voiced_idx = np.flatnonzero(vad.voiced)
    start = max(0, int(voiced_idx[0]) * hop - margin)
    end = min(x.shape[1], (int(voiced_idx[-1]) + 2) * hop + margin)
    kept = x[:, start:end]

    # 4. clipping (in the kept part), noise
    runs = clipped_runs(kept)
    clipping = bool(runs)
    noise_floor = vad.noise_floor_db
    snr = vad.voice_level_db - noise_floor
    noisy = noise_floor > -50.0 and snr < 30.0

    # 5. loudness normalisation, never past -1 dBFS peaks
    kept_peak = float(np.abs(kept).max())
    gain_db = 0.0
    if np.isfinite(loudness):
        gain_db = target_lufs - loudness
        ceiling = PEAK_CEILING_DB - _db(kept_peak)
        if gain_db > ceiling:
            if target_lufs - (loudness + ceiling) > 1.0:
                warnings.append(
                    f"The clip could only be raised to {loudness + ceiling:.1f} LUFS (target "
                    f"{target_lufs:.0f} LUFS) without its peaks going over {PEAK_CEILING_DB:.0f} dBFS."
                )
            gain_db = ceiling
    processed = np.clip(kept * 10.0 ** (gain_db / 20.0), -1.0, 1.0)
    duration = processed.shape[1] / sr

    # 6. best window in the processed clip (frame grid of the source, shifted by the trim)
    f0 = start // hop
    f1 = max(f0 + 1, -(-end // hop))
    held = vad.voiced_held[f0:f1]
    clipped_frames = np.zeros(len(held), dtype=bool)
    for a, b in runs:
        clipped_frames[a // hop : b // hop + 1] = True
    w0, w1 = best_window(held, clipped_frames, hop / sr)
    w0 = max(0.0, min(w0 - (start - f0 * hop) / sr, duration))
    w1 = max(w0, min(w1 - (start - f0 * hop) / sr, duration))

    # 7. warnings, in the order a user should fix them
    if duration < SHORT_S:
        warnings.append(
            f"The clip has only {duration:.1f} s of audio after trimming silence; ID-LoRA works "
            f"best with about {WINDOW_S:.0f} s of clear speech."
        )
    elif duration > LONG_S:
        warnings.append(
            f"The clip is {duration:.1f} s long; ID-LoRA was trained on ~{WINDOW_S:.0f} s "
            f"references, the suggested window is {w0:.1f}-{w1:.1f} s."
        )
    if clipping:
        clipped_s = sum(b - a for a, b in runs) / sr
        warnings.append(
            f"The recording clips: it hits full scale in {len(runs)} place"
            f"{'s' if len(runs) != 1 else ''} ({clipped_s:.2f} s in all), so the voice will "
            "sound distorted. Record again with a lower input level."
        )
    if noisy:
        warnings.append(
            f"The background noise is high (noise floor {noise_floor:.0f} dBFS, only "
            f"{max(snr, 0.0):.0f} dB below the voice); a quieter room or a closer microphone "
            "gives a cleaner voice."
        )

    return VoiceImport(
        source=path,
        wav=encode_wav_bytes(processed.astype(np.float32), sr),
        sample_rate=sr,
        channels=channels,
        duration_s=duration,
        source_duration_s=source_duration,
        loudness_lufs=float(loudness),
        gain_db=float(gain_db),
        trimmed_range=(start / sr, end / sr),
        best_window=(float(w0), float(w1)),
        clipping=clipping,
        noisy=noisy,
        noise_floor_db=float(noise_floor),
        peaks=waveform_peaks(processed),
        warnings=tuple(warnings),
    )
