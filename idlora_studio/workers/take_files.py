"""The files of a finished take, written the same way wherever the take was made.

:func:`render_take` turns a :class:`~engine.api.GenerationResult` into the MP4 (H.264 + AAC),
WAV and JPEG thumbnail of a take, builds its recipe and scores its voice against the reference
clip. The Studio's local worker and the render farm's cluster tasks both call it, so a take made
on the farm carries exactly what a local take does. Qt-free (it runs on cluster nodes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

THUMBNAIL_LONG_SIDE = 320
VIDEO_NAME, AUDIO_NAME, THUMB_NAME = "take.mp4", "take.wav", "take.jpg"


@dataclass(frozen=True)
class RenderedTake:
    """A take's files in a folder, its recipe and its voice match (None: not scored)."""

    video: Path
    audio: Path
    thumbnail: Path
    recipe: dict[str, Any]
    voice_match: float | None
    voice_match_model: str | None


def write_thumbnail(frames: Any, path: Path) -> None:
    """The middle frame as a JPEG, long side :data:`THUMBNAIL_LONG_SIDE`."""
    from PIL import Image

    frame = frames[frames.shape[0] // 2]
    im = Image.fromarray(frame)
    im.thumbnail((THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE))
    im.save(path, format="JPEG", quality=85)


def voice_match_of(audio: Any, sample_rate: int, reference: Path | None) -> float | None:
    """The take's speaker similarity to its reference clip, or None when there is no
    reference or it cannot be scored. Scoring never fails a take: the take is what the user
    waited for; a missing score is shown as such."""
    if reference is None:
        return None
    from engine.voice import similarity

    try:
        ref = similarity.embed_file(reference)
        return similarity.similarity(similarity.embed_voice(audio, sample_rate), ref)
    except Exception:  # noqa: BLE001 - logged; the take is stored without a score
        log.warning("voice match of a take against %s failed", reference, exc_info=True)
        return None


def lora_info_of(model_info: dict[str, Any]) -> dict[str, Any] | None:
    """The LoRA identity a recipe records, from a generator's ``model_info``."""
    if not model_info.get("lora"):
        return None
    return {
        "path": model_info.get("lora"),
        "sha256": model_info.get("lora_sha256"),
        "strength": model_info.get("lora_strength"),
    }


def render_take(
    request: Any, result: Any, model_info: dict[str, Any], folder: Path
) -> RenderedTake:
    """Write the take's MP4, WAV and thumbnail into ``folder``, build its recipe, score it."""
    from engine.media.audio import write_wav
    from engine.media.video import write_mp4
    from engine.recipe import build_recipe
    from engine.voice import similarity

    folder = Path(folder)
    mp4, wav, jpg = folder / VIDEO_NAME, folder / AUDIO_NAME, folder / THUMB_NAME
    write_mp4(
        mp4,
        result.frames,
        result.fps,
        result.audio,
        result.sample_rate,
        metadata={"comment": "AI-generated with ID-LoRA Studio"},
    )
    write_wav(wav, result.audio, result.sample_rate)
    write_thumbnail(result.frames, jpg)
    recipe = build_recipe(
        request, result, model_info=model_info, lora_info=lora_info_of(model_info), output=mp4
    )
    score = voice_match_of(result.audio, result.sample_rate, request.voice)
    return RenderedTake(
        mp4, wav, jpg, recipe, score, similarity.MODEL_ID if score is not None else None
    )


def generate_take(
    generator: Any,
    request: Any,
    folder: Path,
    *,
    progress: Callable[[Any], None] | None = None,
    cancel: Any = None,
) -> RenderedTake:
    """Generate ``request`` and render the take into ``folder``: a generator that renders
    where it runs (:class:`~idlora_studio.workers.engine_process.ProcessGenerator`) does both itself; any
    other runs ``generate`` here and :func:`render_take` after it. ``progress`` also gets
    the ``write`` stage as the files start to be written."""
    own = getattr(generator, "generate_take", None)
    if own is not None:
        return own(request, folder, progress=progress, cancel=cancel)
    from engine.api import ProgressInfo

    last: list[Any] = []

    def relay(p: Any) -> None:
        last[:] = [p]
        if progress is not None:
            progress(p)

    result = generator.generate(request, progress=relay, cancel=cancel)
    if progress is not None:
        done = last[0] if last else None
        step, total = (done.total, done.total) if done is not None else (0, 0)
        elapsed = done.elapsed_s if done is not None else 0.0
        progress(ProgressInfo(step, total, elapsed, 0.0, stage="write"))
    return render_take(request, result, generator.model_info(), folder)


__all__ = [
    "RenderedTake",
    "generate_take",
    "lora_info_of",
    "render_take",
    "voice_match_of",
    "write_thumbnail",
]
