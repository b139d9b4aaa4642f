"""How alike two voices sound: cosine similarity of speaker embeddings.

The embeddings come from Resemblyzer's speaker encoder (the ``resemblyzer`` package ships its
trained weights, ``pretrained.pt``, 17 MB, inside the wheel: nothing is downloaded). It is the
GE2E model of Wan et al. (2018, "Generalized End-to-End Loss for Speaker Verification"): a
3-layer LSTM over 40-band mel frames of 16 kHz audio, 1.6 s partial utterances averaged into
one 256-d unit vector. Its output passes a ReLU, so every similarity lies in [0, 1] and
unrelated voices rarely score below ~0.5: read the number against the same-speaker and
different-speaker figures in the README, not as a probability.

This is **not** the ECAPA-TDNN speaker similarity the ID-LoRA paper reports (0.477 on its hard
split): that model's weights are not shipped in a pip package. The two scales differ.

Before embedding, each clip is mixed to mono, resampled to 16 kHz, reduced to its speech
(Silero VAD segments; the whole clip when no speech is found) and raised to -30 dBFS RMS
(never lowered), as Resemblyzer's own preprocessing does (it uses webrtcvad for the speech).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.voice.vad import VAD_RATE, detect_speech, single_thread, to_vad_rate

#: Stored beside every score (``takes.voice_match_model``).
MODEL_ID = "resemblyzer-ge2e"
MODEL_LABEL = "Resemblyzer GE2E speaker encoder"
#: The sentence tooltips and reports use to say what the number is.
EXPLANATION = (
    "Voice match: cosine similarity (0 to 1) between speaker embeddings of this audio and the "
    "reference clip, from Resemblyzer's GE2E speaker encoder (shipped with the app, runs "
    "offline). Higher means more alike; unrelated voices rarely score below 0.5. On espeak-ng "
    "test voices, same-voice pairs scored 0.87-0.95 and different voices 0.61-0.81 (README). "
    "It is not the ECAPA similarity the ID-LoRA paper reports."
)
SPEECH_PAD_S = 0.05
NORM_TARGET_DBFS = -30.0

_lock = threading.Lock()
_encoder: Any = None


class VoiceScoreError(ValueError):
    """Audio that cannot be scored (nothing decodable, or no samples)."""


def preload() -> None:
    """Load the shared speaker encoder now (a worker thread's warm-up: loading it holds
    Python's GIL for up to a second, which stalls a GUI thread)."""
    with _lock:
        _get_encoder()


def _get_encoder() -> Any:
    global _encoder
    if _encoder is None:
        import torch

        threads = torch.get_num_threads()
        try:
            with warnings.catch_warnings():
                # resemblyzer imports webrtcvad, which asks pkg_resources for its version
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                from resemblyzer import VoiceEncoder

            _encoder = VoiceEncoder(device="cpu", verbose=False)
            _encoder.eval()
        finally:
            torch.set_num_threads(threads)
    return _encoder


@dataclass(frozen=True)
class VoiceEmbedding:
    """A speaker embedding and how much speech it was made from."""

    vector: np.ndarray  # float32 (256,), unit length
    speech_s: float  # seconds of speech found (0.0: no speech, the whole clip was used)
    duration_s: float


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    return x.reshape(-1)


def embed_voice(samples: np.ndarray, sr: int) -> VoiceEmbedding:
    """The speaker embedding of ``samples`` ((channels, n) or (n,)) at ``sr`` Hz."""
    mono = _mono(samples)
    if mono.size == 0 or not np.isfinite(mono).all():
        raise VoiceScoreError("the audio is empty or holds non-finite samples")
    activity = detect_speech(mono, sr, pad_s=SPEECH_PAD_S)
    x16 = to_vad_rate(mono, sr)
    if activity.segments:
        parts = [x16[int(a * VAD_RATE) : int(np.ceil(b * VAD_RATE))] for a, b in activity.segments]
        speech = np.concatenate(parts)
    else:
        speech = x16
    if speech.size < VAD_RATE // 10:  # under 0.1 s: pad so the encoder has one frame window
        speech = np.pad(speech, (0, VAD_RATE // 10 - speech.size))
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
    if rms > 0:
        gain = 10.0 ** ((NORM_TARGET_DBFS - 20.0 * np.log10(rms)) / 20.0)
        if gain > 1.0:
            speech = speech * np.float32(gain)
    import torch

    with _lock:
        encoder = _get_encoder()
        with torch.inference_mode(), single_thread():
            vec = encoder.embed_utterance(speech.astype(np.float32))
    vec = np.asarray(vec, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    if norm > 0:
        vec = vec / norm
    return VoiceEmbedding(vector=vec, speech_s=activity.speech_s, duration_s=len(mono) / sr)


def similarity(a: VoiceEmbedding | np.ndarray, b: VoiceEmbedding | np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    va = a.vector if isinstance(a, VoiceEmbedding) else np.asarray(a, dtype=np.float32)
    vb = b.vector if isinstance(b, VoiceEmbedding) else np.asarray(b, dtype=np.float32)
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(np.dot(va, vb) / denom) if denom > 0 else 0.0


def voice_match(samples: np.ndarray, sr: int, reference: np.ndarray, reference_sr: int) -> float:
    """Similarity of the voice in ``samples`` to the voice in ``reference``."""
    return similarity(embed_voice(samples, sr), embed_voice(reference, reference_sr))


def embed_file(path: Path | str, *, max_duration_s: float = 600.0) -> VoiceEmbedding:
    """Decode the first audio stream of an audio or video file and embed its voice.

    Raises :class:`engine.api.MediaError` (naming the file) when it cannot be decoded.
    """
    from engine.media.audio import decode_audio

    decoded = decode_audio(path, mono=True, max_duration_s=max_duration_s)
    return embed_voice(decoded.samples, decoded.sample_rate)


def voice_match_files(media: Path | str, reference: Path | str) -> float:
    """Similarity of the voice in ``media`` (audio or video file) to ``reference``."""
    return similarity(embed_file(media), embed_file(reference))
