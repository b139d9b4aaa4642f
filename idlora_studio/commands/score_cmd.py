"""``idlora-studio score MEDIA --voice CLIP``: how much a take's voice sounds like a reference.

MEDIA is a take id (a number), a video file (its audio stream is scored) or an audio file.
CLIP is the reference voice clip; for a take id it may be left out, and the take's own
reference clip is used and the score stored with the take (filling in takes made before
scoring existed).

The number is the cosine similarity of speaker embeddings from Resemblyzer's GE2E encoder
(:mod:`engine.voice.similarity`): 0 to 1, higher is more alike; it is not the ECAPA score of
the ID-LoRA paper. Exit codes: 0 scored, 1 unreadable input or unknown take, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "score",
        help="voice match of a take, video or audio file against a reference clip",
        description=(
            "Score how much the voice in MEDIA sounds like the voice in CLIP: cosine "
            "similarity (0-1) of Resemblyzer GE2E speaker embeddings. Same-speaker pairs "
            "typically score above ~0.85, different speakers lower (see the README)."
        ),
    )
    p.add_argument("media", metavar="MEDIA", help="take id, video (MP4/MOV/MKV) or audio file")
    p.add_argument(
        "--voice",
        type=Path,
        metavar="CLIP",
        help="reference voice clip (default for a take id: the clip it was generated from)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_score)


def _take_media(take_id: int, voice: Path | None) -> tuple[Path, Path, Any]:
    """(media, reference, store callback or None) for a take id."""
    from idlora_studio.library.jobs_repo import TakeNotFoundError, TakesRepository
    from idlora_studio.library.repository import Library
    from idlora_studio.paths import Paths

    lib = Library.open(Paths.from_env())
    try:
        takes = TakesRepository.from_library(lib)
        try:
            take = takes.get_take(take_id)
        except TakeNotFoundError:
            raise LookupError(f"take {take_id} does not exist in the library") from None
        media = take.audio_path or take.video_path
        if voice is not None:
            return media, voice, None
        ref = reference_clip_of(lib, take)
        if ref is None:
            raise LookupError(
                f"take {take_id} has no reference voice clip left in the library; "
                "give one with --voice CLIP"
            )
        return media, ref, take.id
    finally:
        lib.close()


def reference_clip_of(lib: Any, take: Any) -> Path | None:
    """The voice clip a take was generated from, if it is still on disk."""
    with_voice = take.request.voice if take.recipe.get("request") else None
    if with_voice is not None and Path(with_voice).is_file():
        return Path(with_voice)
    if take.identity_id is not None and take.clip_id is not None:
        try:
            detail = lib.get_identity(take.identity_id)
        except Exception:  # noqa: BLE001 - the identity may be gone
            return None
        for clip in detail.clips:
            if clip.id == take.clip_id and clip.path.is_file():
                return clip.path
    return None


def run_score(args: argparse.Namespace) -> int:
    from engine.api import MediaError
    from engine.voice import similarity as sim

    store_take: int | None = None
    try:
        if args.media.isdigit() and not Path(args.media).exists():
            media, reference, store_take = _take_media(int(args.media), args.voice)
            label = f"take {args.media}"
        else:
            if args.voice is None:
                print(
                    "idlora-studio score: error: --voice CLIP is needed for a file", file=sys.stderr
                )
                return 2
            media, reference, label = Path(args.media), args.voice, args.media
        take_emb = sim.embed_file(media)
        ref_emb = sim.embed_file(reference)
    except (MediaError, LookupError, sim.VoiceScoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    score = sim.similarity(take_emb, ref_emb)
    if store_take is not None:
        from idlora_studio.library.jobs_repo import TakesRepository
        from idlora_studio.library.repository import Library
        from idlora_studio.paths import Paths

        with Library.open(Paths.from_env()) as lib:
            TakesRepository.from_library(lib).set_voice_match(store_take, score, sim.MODEL_ID)
    if args.json:
        print(
            json.dumps(
                {
                    "media": label,
                    "voice": str(reference),
                    "voice_match": round(score, 4),
                    "model": sim.MODEL_ID,
                    "media_speech_s": round(take_emb.speech_s, 2),
                    "voice_speech_s": round(ref_emb.speech_s, 2),
                    "stored": store_take is not None,
                }
            )
        )
        return 0
    print(f"voice match {score:.2f}  {label} vs {reference.name}")
    speech = f"{take_emb.speech_s:.1f} s of speech in {label}"
    if take_emb.speech_s == 0.0:
        speech = f"no speech detected in {label}: its whole audio was compared"
    print(f"  {sim.MODEL_LABEL}, cosine of speaker embeddings (0-1); {speech}")
    if store_take is not None:
        print(f"  stored with take {store_take}")
    return 0
