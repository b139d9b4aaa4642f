"""Checking and preparing a voice clip for the library (import or recording).

:func:`check_voice_clip` decodes any common audio file, finds the speech with Silero VAD
(:mod:`engine.voice.vad`, a neural detector shipped in the ``silero-vad`` package), refuses
clips without enough speech to be a reference, trims the silence around the speech, measures
and normalises the loudness (ITU-R BS.1770 through ``pyloudnorm``), flags clipping and
background noise, and suggests the best ~5 s window (:func:`engine.voice.windows.best_window`:
most speech, fewest pauses, no clipping), the length of reference ID-LoRA was trained on.
Files that cannot be used raise :class:`ImportRejected` naming the problem; usable files with
problems carry warnings as sentences.

Energy measures stay where they are the right tool: the loudest sample (digital silence),
full-scale runs (clipping) and the level of the non-speech frames (noise floor).

No Qt; torch runs the VAD on the CPU; safe in a worker thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.api import MediaError
from engine.media.audio import decode_audio, encode_wav_bytes, integrated_loudness, probe_audio
from engine.voice.vad import SpeechActivity, detect_speech, frame_levels_db
from engine.voice.windows import WINDOW_S, clipped_frames, clipped_runs, window_from_activity
from engine.voice.windows import best_window as best_window  # the stable public entry
from idlora_studio.library.media_types import ImportRejected, VoiceImport

MIN_RATE = 16_000
MAX_RATE = 48_000
FALLBACK_RATE = 48_000
HOP_S = 0.010  # energy analysis hop; frames are two hops (20 ms) long
MARGIN_S = 0.15  # silence kept before the first and after the last speech
#: Generation refuses references shorter than this (engine.generate), so imports do too.
MIN_CLIP_S = 2.0
SHORT_S = MIN_CLIP_S  # the name other modules used before the refusal existed
#: Less speech than this in a clip is too little to carry a voice.
MIN_SPEECH_S = 1.5
FEW_SPEECH_S = 3.0  # under this: a warning that more speech gives a better voice
LONG_S = 15.0
PEAK_CEILING_DB = -1.0
N_PEAKS = 400
SILENT_PEAK_DB = -60.0  # a file whose loudest sample is below this is silent
MIN_TRUNCATED_S = 1.0  # a truncated file with less than this left is unusable


def frame_energy_db(mono: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """RMS level in dBFS of 20 ms frames every 10 ms, and the hop in samples."""
    return frame_levels_db(mono, sr, HOP_S)


def noise_and_voice_levels(
    mono: np.ndarray, sr: int, activity: SpeechActivity
) -> tuple[float, float]:
    """(noise floor, voice level) in dBFS: the 10th percentile of the frame levels outside
    speech (of all frames when there is too little outside speech) and the median level of
    the speech frames."""
    energy, hop = frame_energy_db(mono, sr)
    speech = activity.mask(hop / sr, len(energy))
    quiet = energy[~speech] if (~speech).sum() >= 20 else energy
    floor = float(np.percentile(quiet, 10))
    voice = float(np.median(energy[speech])) if speech.any() else floor
    return floor, voice


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


def _shifted(activity: SpeechActivity, start_s: float, end_s: float) -> SpeechActivity:
    """The activity of the part ``[start_s, end_s)`` of a clip, in that part's time."""
    segs = tuple(
        (max(a, start_s) - start_s, min(b, end_s) - start_s)
        for a, b in activity.segments
        if b > start_s and a < end_s
    )
    return SpeechActivity(activity.probabilities, segs, end_s - start_s)


def _no_speech_problem(mono: np.ndarray, sr: int) -> str:
    floor, _ = noise_and_voice_levels(mono, sr, SpeechActivity(np.zeros(0), (), len(mono) / sr))
    energy, _ = frame_energy_db(mono, sr)
    level = float(np.percentile(energy, 90))
    if level - floor < 6.0:
        what = f"steady noise or a hum at about {level:.0f} dBFS"
    else:
        what = f"sounds that are not speech (loudest parts about {level:.0f} dBFS)"
    return f"no speech was found: the clip holds only {what}. Record or choose a clip of someone speaking"


def check_voice_clip(
    path: Path, *, target_lufs: float = -23.0, max_source_s: float = 600.0
) -> VoiceImport:
    """Decode, analyse and prepare a voice clip; raise :class:`ImportRejected` if unusable.

    The clip keeps its sample rate when it is between 16 and 48 kHz (otherwise it is
    resampled to 48 kHz) and its channels when there are at most two (more are mixed to
    mono). Sources longer than ``max_source_s`` are refused before they are decoded in full.
    Refused: silence, no speech, less than :data:`MIN_SPEECH_S` of speech, less than
    :data:`MIN_CLIP_S` of audio left after trimming (generation could not use it).
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
        raise ImportRejected(path, exc.problem) from None
    sr = decoded.sample_rate
    x = decoded.samples.astype(np.float64)
    if not np.isfinite(x).all():
        raise ImportRejected(path, "the audio holds invalid (NaN or infinite) sample values")
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

    # 2. silence, then speech (Silero VAD)
    peak = float(np.abs(x).max()) if x.size else 0.0
    if _db(peak) < SILENT_PEAK_DB:
        level = "digital silence" if peak == 0 else f"its loudest sample is {_db(peak):.0f} dBFS"
        raise ImportRejected(path, f"the clip is silent ({level}): no voice found")
    if source_duration < MIN_CLIP_S:
        raise ImportRejected(
            path,
            f"the clip is only {source_duration:.1f} s long; a reference needs at least "
            f"{MIN_CLIP_S:.0f} s of speech (about {WINDOW_S:.0f} s is best)",
        )
    mono = x.mean(axis=0)
    activity = detect_speech(mono, sr)
    if not activity.segments:
        raise ImportRejected(path, _no_speech_problem(mono, sr))
    if activity.speech_s < MIN_SPEECH_S:
        raise ImportRejected(
            path,
            f"too little speech: only {activity.speech_s:.1f} s of the "
            f"{source_duration:.1f} s is speech; a reference needs at least "
            f"{MIN_SPEECH_S:.1f} s (about {WINDOW_S:.0f} s of clear speech is best)",
        )

    # 3. trim leading/trailing non-speech, keeping margins
    start = max(0, int(round((activity.segments[0][0] - MARGIN_S) * sr)))
    end = min(x.shape[1], int(round((activity.segments[-1][1] + MARGIN_S) * sr)))
    kept = x[:, start:end]
    duration = kept.shape[1] / sr
    if duration < MIN_CLIP_S:
        raise ImportRejected(
            path,
            f"only {duration:.1f} s is left after trimming the silence around the speech; a "
            f"reference needs at least {MIN_CLIP_S:.0f} s (about {WINDOW_S:.0f} s is best)",
        )
    kept_activity = _shifted(activity, start / sr, end / sr)

    # 4. clipping (in the kept part), noise floor (energy outside speech)
    runs = clipped_runs(kept)
    clipping = bool(runs)
    noise_floor, voice_level = noise_and_voice_levels(mono, sr, activity)
    snr = voice_level - noise_floor
    noisy = noise_floor > -50.0 and snr < 30.0

    # 5. loudness normalisation, never past -1 dBFS peaks
    loudness = integrated_loudness(x, sr)
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

    # 6. best window in the processed clip
    w0, w1 = window_from_activity(kept_activity, clipped_frames(kept, sr))

    # 7. warnings, in the order a user should fix them
    speech_s = kept_activity.speech_s
    if speech_s < FEW_SPEECH_S:
        warnings.append(
            f"The clip has only {speech_s:.1f} s of speech; ID-LoRA works best with about "
            f"{WINDOW_S:.0f} s of clear speech."
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
        speech_s=float(speech_s),
    )
