"""Turning user files into checked imports, before anything is written.

The library checks every file of an import first (decode, limits, face check, loudness) and
only then writes media and rows, so a rejected file leaves nothing behind. The real checks
live in ``image_checks`` / ``audio_checks``; this module adds the cheap file-level checks
(missing, folder, empty, unreadable) with messages that name the file, and the waveform-peak
encoding the database uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .media_types import ImageImport, ImportRejected, VoiceImport

PEAK_BUCKETS = 400
MAX_DOCUMENT_BYTES = 200 * 1024 * 1024


def precheck_file(path: Path | str) -> Path:
    """Fail early, naming the file, if ``path`` is not a readable, non-empty regular file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportRejected(p, "file does not exist")
    if p.is_dir():
        raise ImportRejected(p, "is a folder, not a file")
    if not p.is_file():
        raise ImportRejected(p, "is not a regular file")
    if p.stat().st_size == 0:
        raise ImportRejected(p, "file is empty (0 bytes)")
    if not os.access(p, os.R_OK):
        raise ImportRejected(p, "file cannot be read (permission denied)")
    return p


def check_image_file(path: Path | str) -> ImageImport:
    """Run the image checks on ``path``; raises :class:`ImportRejected`."""
    p = precheck_file(path)
    from .image_checks import check_image

    return check_image(p)


def check_voice_file(path: Path | str) -> VoiceImport:
    """Run the voice-clip checks on ``path``; raises :class:`ImportRejected`."""
    p = precheck_file(path)
    from .audio_checks import check_voice_clip

    return check_voice_clip(p)


def suggested_voice_window(path: Path | str) -> tuple[float, float]:
    """The reference window the library suggests for a voice file, in seconds *of that file*.

    The same analysis as an import (:func:`check_voice_file`: silence trimmed, best ~5 s
    window); the window found in the trimmed clip is shifted back by the trimmed lead.
    Raises :class:`ImportRejected` for a file the library would refuse.
    """
    checked = check_voice_file(path)
    lead = checked.trimmed_range[0]
    return lead + checked.best_window[0], lead + checked.best_window[1]


def check_document(path: Path | str) -> Path:
    """A consent document: any readable non-empty file up to :data:`MAX_DOCUMENT_BYTES`."""
    p = precheck_file(path)
    if p.stat().st_size > MAX_DOCUMENT_BYTES:
        raise ImportRejected(p, f"consent document is larger than {MAX_DOCUMENT_BYTES >> 20} MB")
    return p


def encode_peaks(peaks: Sequence[float]) -> bytes:
    """Peaks in [0, 1] to one byte each (the resolution a waveform drawing needs)."""
    return bytes(min(255, max(0, round(float(v) * 255))) for v in peaks)


def decode_peaks(blob: bytes | None) -> tuple[float, ...]:
    if not blob:
        return ()
    return tuple(b / 255.0 for b in blob)


def compute_peaks(wav_path: Path, buckets: int = PEAK_BUCKETS) -> tuple[float, ...]:
    """Peak absolute amplitude of ``buckets`` equal slices of an audio file (all channels)."""
    import numpy as np
    import soundfile as sf

    data, _sr = sf.read(str(wav_path), dtype="float32", always_2d=True)
    mono = np.abs(data).max(axis=1) if data.size else np.zeros(0, np.float32)
    if mono.size == 0:
        return ()
    n = min(buckets, mono.size)
    edges = np.linspace(0, mono.size, n + 1).astype(np.int64)
    out = np.maximum.reduceat(mono, edges[:-1])
    return tuple(float(min(1.0, v)) for v in out)
