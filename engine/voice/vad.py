"""Where the speech is: Silero VAD (the ``silero-vad`` package, whose TorchScript model ships
inside the wheel, so nothing is downloaded and it runs offline on the CPU torch).

The model takes 16 kHz mono in 512-sample chunks (32 ms) and gives a speech probability per
chunk; the package's own segmenter (:func:`silero_vad.get_speech_timestamps_from_probs`, with
hysteresis, minimum speech and minimum silence) turns them into segments. Audio at any rate
is resampled to 16 kHz first (:func:`engine.audio_frontend.resample`).

Two ways in:

* :func:`detect_speech` for a whole clip (import, recording check, scoring);
* :class:`StreamingVad` for live input (the recorder's guidance), fed blocks as they come.

Importing ``silero_vad`` calls ``torch.set_num_threads(1)``; the loader here restores the
previous setting so generation keeps its threads. The small models here do run on one
thread (:func:`single_thread`): with two, every tiny LSTM step pays OpenMP's hand-off and on a
busy two-core machine a 10 s clip took 8 s instead of 0.3 s. With torch's OpenMP backend the
setting belongs to the calling thread, so a generation running on another thread keeps its own.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

VAD_RATE = 16_000
CHUNK = 512  # samples per model step at 16 kHz (the model's fixed window)
CHUNK_S = CHUNK / VAD_RATE  # 32 ms
THRESHOLD = 0.5  # speech probability that starts speech (the package's default)
MIN_SPEECH_S = 0.25  # shorter bursts are not speech
MIN_SILENCE_S = 0.10  # a pause must last this long to end a segment
#: Name stored with results so a reader knows which detector found the speech.
MODEL_NAME = "silero-vad"

_lock = threading.Lock()
_shared: Any = None


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread in this thread for the block, then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _new_model() -> Any:
    """A fresh Silero VAD TorchScript model from the package data (no network)."""
    import torch

    threads = torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            # the package locates its model with importlib.resources.path and loads it with
            # torch.jit.load; both warn of deprecation, neither is ours to change
            warnings.simplefilter("ignore", DeprecationWarning)
            from silero_vad import load_silero_vad

            return load_silero_vad(onnx=False)
    finally:
        torch.set_num_threads(threads)


def preload() -> None:
    """Load the shared VAD model now (a worker thread's warm-up: loading it holds Python's GIL
    for up to a second, which stalls a GUI thread)."""
    with _lock:
        _shared_model()


def _shared_model() -> Any:
    global _shared
    if _shared is None:
        _shared = _new_model()
    return _shared


@dataclass(frozen=True)
class SpeechActivity:
    """Speech found in a clip: per-chunk probabilities and the segments, in seconds."""

    probabilities: np.ndarray  # float32, one per CHUNK_S of audio
    segments: tuple[tuple[float, float], ...]
    duration_s: float

    @property
    def speech_s(self) -> float:
        """Seconds inside speech segments."""
        return float(sum(b - a for a, b in self.segments))

    @property
    def first_s(self) -> float | None:
        return self.segments[0][0] if self.segments else None

    @property
    def last_s(self) -> float | None:
        return self.segments[-1][1] if self.segments else None

    def mask(self, hop_s: float, n: int | None = None) -> np.ndarray:
        """Boolean speech mask on a grid of ``hop_s`` frames (``n`` of them; default: the
        whole clip). Frame *i* covers ``[i*hop_s, (i+1)*hop_s)``; it is speech when its centre
        lies inside a segment."""
        if n is None:
            n = max(1, int(np.ceil(self.duration_s / hop_s)))
        centres = (np.arange(n) + 0.5) * hop_s
        out = np.zeros(n, dtype=bool)
        for a, b in self.segments:
            out |= (centres >= a) & (centres < b)
        return out

    def pauses(self, min_s: float) -> list[tuple[float, float]]:
        """Gaps of at least ``min_s`` between consecutive segments."""
        return [
            (a1, b0)
            for (_, a1), (b0, _) in zip(self.segments[:-1], self.segments[1:], strict=True)
            if b0 - a1 >= min_s
        ]


def to_vad_rate(mono: np.ndarray, sr: int) -> np.ndarray:
    """``mono`` (samples,) as float32 at 16 kHz."""
    x = np.ascontiguousarray(np.asarray(mono, dtype=np.float32).reshape(-1))
    if sr == VAD_RATE or x.size == 0:
        return x
    import torch

    from engine.audio_frontend import resample

    return resample(torch.from_numpy(x), int(sr), VAD_RATE).numpy().astype(np.float32)


def _probabilities(model: Any, x16: np.ndarray) -> np.ndarray:
    """Speech probability of each 512-sample chunk (the last one zero-padded)."""
    import torch

    n = len(x16)
    n_chunks = -(-n // CHUNK)
    if n_chunks == 0:
        return np.zeros(0, dtype=np.float32)
    padded = np.zeros(n_chunks * CHUNK, dtype=np.float32)
    padded[:n] = x16
    chunks = torch.from_numpy(padded).reshape(n_chunks, CHUNK)
    out = np.empty(n_chunks, dtype=np.float32)
    model.reset_states()
    with torch.inference_mode(), single_thread():
        for i in range(n_chunks):
            out[i] = float(model(chunks[i], VAD_RATE))
    model.reset_states()
    return out


def segments_from_probabilities(
    probs: np.ndarray,
    n_samples_16k: int,
    *,
    threshold: float = THRESHOLD,
    min_speech_s: float = MIN_SPEECH_S,
    min_silence_s: float = MIN_SILENCE_S,
) -> tuple[tuple[float, float], ...]:
    """Silero's segmenter over chunk probabilities; segments in seconds (unpadded)."""
    from silero_vad import get_speech_timestamps_from_probs

    found = get_speech_timestamps_from_probs(
        [float(p) for p in probs],
        sampling_rate=VAD_RATE,
        threshold=threshold,
        min_speech_duration_ms=int(round(min_speech_s * 1000)),
        min_silence_duration_ms=int(round(min_silence_s * 1000)),
        speech_pad_ms=0,
        return_seconds=False,
        audio_length_samples=int(n_samples_16k),
    )
    return tuple((s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in found)


EDGE_HOP_S = 0.005  # energy frames for edge refinement (10 ms long, every 5 ms)
EDGE_SEARCH_S = 0.15  # how far an edge may move
EDGE_BELOW_PEAK_DB = 55.0


def frame_levels_db(mono: np.ndarray, sr: int, hop_s: float) -> tuple[np.ndarray, int]:
    """RMS level in dBFS (floored near -120) of frames two hops long, every ``hop_s``
    seconds, and the hop in samples."""
    hop = max(1, int(round(sr * hop_s)))
    n_frames = max(1, len(mono) // hop)
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(mono, dtype=np.float64) ** 2)])
    starts = np.arange(n_frames) * hop
    ends = np.minimum(starts + 2 * hop, len(mono))
    power = (csum[ends] - csum[starts]) / np.maximum(ends - starts, 1)
    return 10.0 * np.log10(power + 1e-12), hop


def refine_edges(
    mono: np.ndarray, sr: int, segments: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    """Move segment edges to where the signal level really rises and falls.

    The model decides per 32 ms chunk and its recurrent state lags: starts come up to a chunk
    or two late (a soft onset such as /h/ or /s/), ends one to three chunks late. Within
    :data:`EDGE_SEARCH_S` of each edge, the edge moves to the outermost 5 ms frame still within
    :data:`EDGE_BELOW_PEAK_DB` of the segment's loud frames and clearly above the clip's
    quietest frames. Energy here only places an edge the model found; it never adds or
    removes speech.
    """
    if not segments:
        return segments
    level, hop = frame_levels_db(mono, sr, EDGE_HOP_S)
    hop_s = hop / sr
    floor = float(np.percentile(level, 5))
    out: list[tuple[float, float]] = []
    search = int(round(EDGE_SEARCH_S / hop_s))
    for a, b in segments:
        i0, i1 = int(a / hop_s), min(len(level), max(int(a / hop_s) + 1, int(np.ceil(b / hop_s))))
        peak = float(np.percentile(level[i0:i1], 95))
        thr = max(peak - EDGE_BELOW_PEAK_DB, floor + 10.0)
        loud = level > thr
        # start: earliest loud frame reached from the model's start by stepping back through
        # loud frames; or, if the model started in quiet, the first loud frame after it
        s = i0
        if loud[min(s, len(loud) - 1)]:
            lo = max(0, s - search)
            while s > lo and loud[s - 1]:
                s -= 1
        else:
            ahead = np.flatnonzero(loud[s : min(len(loud), s + search)])
            s = s + int(ahead[0]) if ahead.size else s
        # end: the last loud frame at or before the model's end (within the search)
        e = i1 - 1
        lo = max(s, e - search)
        back = np.flatnonzero(loud[lo : e + 1])
        e = lo + int(back[-1]) if back.size else e
        if loud[min(e, len(loud) - 1)]:
            hi = min(len(loud) - 1, i1 - 1 + search)
            while e < hi and loud[e + 1]:
                e += 1
        start_s = s * hop_s
        end_s = min(len(mono) / sr, e * hop_s + 2 * hop_s)
        if end_s > start_s:
            out.append((start_s, end_s))
    return tuple(out)


def detect_speech(
    mono: np.ndarray,
    sr: int,
    *,
    threshold: float = THRESHOLD,
    min_speech_s: float = MIN_SPEECH_S,
    min_silence_s: float = MIN_SILENCE_S,
    pad_s: float = 0.0,
) -> SpeechActivity:
    """Find the speech in ``mono`` (samples,) at ``sr`` Hz with Silero VAD.

    Segments are unpadded by default (``pad_s`` widens them, as the package's
    ``speech_pad_ms`` does); callers add their own margins. Thread-safe (one shared model
    behind a lock); about 0.1 s per 10 s of audio on one CPU core.
    """
    x16 = to_vad_rate(mono, sr)
    with _lock:
        probs = _probabilities(_shared_model(), x16)
    segments = segments_from_probabilities(
        probs,
        len(x16),
        threshold=threshold,
        min_speech_s=min_speech_s,
        min_silence_s=min_silence_s,
    )
    segments = refine_edges(np.asarray(mono, dtype=np.float64).reshape(-1), sr, segments)
    if pad_s > 0:
        end = len(mono) / sr
        segments = tuple((max(0.0, a - pad_s), min(end, b + pad_s)) for a, b in segments)
    return SpeechActivity(probabilities=probs, segments=segments, duration_s=len(mono) / sr)


class StreamingVad:
    """Speech detection on live input: :meth:`feed` blocks at ``sr`` as they arrive.

    Keeps its own model (the model is stateful across chunks) and a streaming resampler
    (ffmpeg's swresample through PyAV, which carries its filter state between blocks).
    Not thread-safe: use it from one thread.
    """

    def __init__(self, sr: int, *, threshold: float = THRESHOLD) -> None:
        import av

        self.sr = int(sr)
        self.threshold = threshold
        self._model = _new_model()
        self._model.reset_states()
        self._resampler = (
            None
            if self.sr == VAD_RATE
            else av.AudioResampler(format="flt", layout="mono", rate=VAD_RATE)
        )
        self._pending = np.zeros(0, dtype=np.float32)
        self._pts = 0
        self.probabilities: list[float] = []

    def _resample(self, block: np.ndarray) -> np.ndarray:
        if self._resampler is None:
            return block
        import av

        frame = av.AudioFrame.from_ndarray(block[None, :], format="flt", layout="mono")
        frame.sample_rate = self.sr
        frame.pts = self._pts
        self._pts += len(block)
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def feed(self, block: np.ndarray) -> list[float]:
        """Feed mono (or (frames, channels), averaged) samples; returns the probabilities of
        the chunks completed by this block."""
        import torch

        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.size == 0:
            return []
        self._pending = np.concatenate([self._pending, self._resample(np.ascontiguousarray(x))])
        n = len(self._pending) // CHUNK
        new: list[float] = []
        if n:
            chunks = torch.from_numpy(self._pending[: n * CHUNK].copy()).reshape(n, CHUNK)
            self._pending = self._pending[n * CHUNK :]
            with torch.inference_mode(), single_thread():
                for i in range(n):
                    new.append(float(self._model(chunks[i], VAD_RATE)))
            self.probabilities.extend(new)
        return new

    @property
    def speech_s(self) -> float:
        """Seconds of speech so far (chunks at or above the threshold)."""
        return sum(1 for p in self.probabilities if p >= self.threshold) * CHUNK_S

    def speaking(self, recent_s: float = 0.3) -> bool:
        """Whether speech was heard in the last ``recent_s`` seconds."""
        k = max(1, int(round(recent_s / CHUNK_S)))
        return any(p >= self.threshold for p in self.probabilities[-k:])

    def silence_s(self) -> float:
        """Seconds since the last speech chunk (all of it when no speech yet)."""
        for i, p in enumerate(reversed(self.probabilities)):
            if p >= self.threshold:
                return i * CHUNK_S
        return len(self.probabilities) * CHUNK_S
