"""Shared pieces for library tests: an open library and real, small checked imports.

``image_import``/``voice_import`` build real encoded media (a PNG from Pillow, a WAV from
soundfile) wrapped in the checked-import dataclasses, for tests of the storage core that
should not depend on the speed of the face and loudness checks.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from idlora_studio.library.media_types import FaceBox, ImageImport, VoiceImport


def image_import(seed: int, size: tuple[int, int] = (64, 48), name: str = "") -> ImageImport:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    thumb = io.BytesIO()
    Image.fromarray(arr).resize((16, 12)).save(thumb, format="JPEG")
    return ImageImport(
        source=Path(name or f"img{seed}.png"),
        data=buf.getvalue(),
        extension=".png",
        width=size[0],
        height=size[1],
        thumbnail=thumb.getvalue(),
        faces=(FaceBox(1, 2, 10, 12),),
        suggested_crop=(0, 0, 48, 48),
        warnings=("test warning",) if seed % 2 else (),
    )


def voice_import(seed: int, seconds: float = 0.5, sr: int = 16000, name: str = "") -> VoiceImport:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * (200 + seed) * t) + 0.01 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV", subtype="PCM_16")
    peaks = tuple(float(v) for v in np.linspace(0, 1, 40))
    return VoiceImport(
        source=Path(name or f"clip{seed}.wav"),
        wav=buf.getvalue(),
        sample_rate=sr,
        channels=1,
        duration_s=seconds,
        source_duration_s=seconds + 0.2,
        loudness_lufs=-20.0,
        gain_db=-3.0,
        trimmed_range=(0.1, 0.1 + seconds),
        best_window=(0.0, seconds),
        clipping=False,
        noisy=bool(seed % 2),
        noise_floor_db=-60.0,
        peaks=peaks,
        warnings=("clip warning",) if seed % 2 else (),
    )


def media_files(paths) -> set[str]:  # noqa: ANN001
    """Names of hash files present in the store."""
    root = paths.media_dir
    return {p.name for p in root.glob("??/*") if len(p.name) == 64}


@pytest.fixture
def lib(paths) -> Iterator:  # noqa: ANN001
    from idlora_studio.library import Library

    library = Library.open(paths)
    try:
        yield library
    finally:
        library.close()
