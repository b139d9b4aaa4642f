"""The best reference window of a voice clip: the ~5 s ID-LoRA was trained on.

A window is scored on a 10 ms grid from what Silero VAD found (:mod:`engine.voice.vad`):

* +1 for every frame of speech (most speech wins);
* -:data:`PAUSE_COST_S` worth of frames for every pause of :data:`PAUSE_S` or more that lies
  wholly inside the window (fewest pauses: a gap between sentences costs its own length, as
  non-speech, and this much more, so a window inside one continuous stretch beats one
  spanning two; silence at a window's edge costs only its length, so a window never prefers
  to start in dead air over holding a short gap);
* -4 for every frame with clipping (no clipping, unless every window clips).

Among equally good positions the middle one is taken, so the window sits inside a long
stretch rather than against its edge.

:func:`best_window` is the stable entry point (samples in, seconds out) used by the library's
clip checks and the engine's default reference window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.voice.vad import SpeechActivity, detect_speech

WINDOW_S = 5.0  # reference length ID-LoRA was trained on
HOP_S = 0.010
PAUSE_S = 0.30  # a gap between speech segments at least this long is a pause
PAUSE_COST_S = 0.25  # each pause inside the window costs its own length and this much more
CLIP_WEIGHT = 4.0


def choose_window(
    speech: np.ndarray,
    pauses: Sequence[tuple[float, float]] = (),
    clipped: np.ndarray | None = None,
    *,
    hop_s: float = HOP_S,
    window_s: float = WINDOW_S,
) -> tuple[float, float]:
    """The best ``window_s`` stretch of a clip given per-frame ``speech`` (bool, ``hop_s``
    frames), the ``pauses`` (start, end) in seconds and per-frame ``clipped`` flags.

    Returns (start_s, end_s); the whole clip when it is not longer than the window.
    """
    n = len(speech)
    total_s = n * hop_s
    w = int(round(window_s / hop_s))
    if w >= n:
        return 0.0, total_s
    score = np.asarray(speech, dtype=np.float64).copy()
    if clipped is not None:
        score -= CLIP_WEIGHT * np.asarray(clipped[:n], dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(score)])
    sums = csum[w:] - csum[:-w]  # sums[s] = score of the window starting at frame s
    if pauses:
        # A pause [a, b) lies inside the window starting at s when s <= a and b <= s + w.
        cost = np.zeros(len(sums) + 1)
        per_pause = PAUSE_COST_S / hop_s
        for a, b in pauses:
            lo = max(0, int(np.ceil(b / hop_s)) - w)
            hi = min(len(sums) - 1, int(np.floor(a / hop_s)))
            if lo <= hi:
                cost[lo] += per_pause
                cost[hi + 1] -= per_pause
        sums = sums - np.cumsum(cost)[:-1]
    best = np.flatnonzero(sums >= sums.max() - 1e-9)
    start = int(best[len(best) // 2])  # the middle of the best positions
    return start * hop_s, (start + w) * hop_s


def window_from_activity(
    activity: SpeechActivity,
    clipped: np.ndarray | None = None,
    *,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
) -> tuple[float, float]:
    """:func:`choose_window` on the segments of a :class:`SpeechActivity`."""
    n = max(1, int(round(activity.duration_s / hop_s)))
    start, end = choose_window(
        activity.mask(hop_s, n),
        activity.pauses(PAUSE_S),
        clipped,
        hop_s=hop_s,
        window_s=window_s,
    )
    return start, min(end, activity.duration_s)


CLIP_LEVEL = 0.999
CLIP_RUN = 3  # consecutive samples at full scale that count as a clip


def clipped_runs(
    samples: np.ndarray, level: float = CLIP_LEVEL, run: int = CLIP_RUN
) -> list[tuple[int, int]]:
    """(start, end) sample ranges where any channel stays at ``|x| >= level`` for ``run``+
    samples (``samples``: (channels, n) or (n,))."""
    x = np.asarray(samples)
    hot = (np.abs(x if x.ndim == 2 else x[None, :]) >= level).any(axis=0)
    if not hot.any():
        return []
    edges = np.diff(np.concatenate([[0], hot.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= run]


def clipped_frames(samples: np.ndarray, sr: int, hop_s: float = HOP_S) -> np.ndarray:
    """Per-``hop_s`` frame flags of :func:`clipped_runs`."""
    x = np.asarray(samples)
    n_samples = x.shape[-1]
    out = np.zeros(max(1, int(round(n_samples / sr / hop_s))), dtype=bool)
    for a, b in clipped_runs(x):
        out[int(a / sr / hop_s) : int(b / sr / hop_s) + 1] = True
    return out


def best_window(
    samples: np.ndarray,
    sr: int,
    *,
    window_s: float = WINDOW_S,
    activity: SpeechActivity | None = None,
) -> tuple[float, float]:
    """The best ``window_s`` reference window of ``samples`` ((channels, n) or (n,)) at ``sr``:
    most speech, fewest pauses, no clipping. Returns (start_s, end_s) within the clip.

    ``activity`` reuses a :func:`engine.voice.vad.detect_speech` result for these samples.
    """
    x = np.asarray(samples, dtype=np.float32)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    if activity is None:
        activity = detect_speech(mono, sr)
    return window_from_activity(activity, clipped_frames(x, sr), window_s=window_s)
