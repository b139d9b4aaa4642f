"""The AI-generated label every export carries: container tags and the JSON sidecar."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from engine.export.sources import SourceInfo
from engine.export.spec import TimelineSpec
from engine.fsutil import sha256_file

AI_LABEL = "AI-generated"
AI_STATEMENT = (
    "AI-generated: this media was made with ID-LoRA Studio by a generative AI model "
    "(ID-LoRA on LTX-2); the people and voices in it are synthetic."
)
#: IPTC digital source type for media made by a trained model.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SIDECAR_SCHEMA = "idlora-studio/export"
SIDECAR_VERSION = 1


def app_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("idlora-studio")
    except metadata.PackageNotFoundError:
        return "unknown"


def export_metadata(title: str) -> dict[str, str]:
    """Container tags every export carries (the AI-generated label)."""
    return {
        "title": title,
        "comment": AI_STATEMENT,
        "description": AI_STATEMENT,
        "ai_generated": "true",
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "software": f"ID-LoRA Studio {app_version()}",
    }


def sidecar_path_for(out_path: Path | str) -> Path:
    """``video.mp4`` -> ``video.mp4.json`` (so a take's MP4 and WAV sidecars never clash)."""
    p = Path(out_path)
    return p.with_name(p.name + ".json")


def build_sidecar(
    spec: TimelineSpec,
    fmt: str,
    out_path: Path,
    settings: dict[str, Any],
    infos: dict[Path, SourceInfo],
    file_sha: str,
    size: int,
    credentials: dict[str, Any],
) -> dict[str, Any]:
    clips = []
    hashes: dict[Path, str] = {}
    for c in spec.clips:
        vp = Path(c.video_path)
        if vp not in hashes:
            hashes[vp] = sha256_file(vp)
        clips.append(
            {
                "source": vp.name,
                "source_sha256": hashes[vp],
                "audio_source": Path(c.audio_path).name if c.audio_path else None,
                "label": c.label,
                "in_frame": c.in_frame,
                "out_frame": c.out_frame,
                "position_frames": c.position_frames,
                "source_fps": infos[vp].fps,
                "recipe": c.recipe,
            }
        )
    return {
        "schema": SIDECAR_SCHEMA,
        "schema_version": SIDECAR_VERSION,
        "ai_generated": True,
        "label": AI_LABEL,
        "statement": AI_STATEMENT,
        "digital_source_type": DIGITAL_SOURCE_TYPE,
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "software": {"name": "ID-LoRA Studio", "version": app_version()},
        "output": {"file": out_path.name, "format": fmt, "sha256": file_sha, "size_bytes": size},
        "export": settings,
        "timeline": {
            "title": spec.title,
            "fps": spec.fps,
            "width": spec.width,
            "height": spec.height,
            "sample_rate": spec.sample_rate,
            "duration_frames": spec.duration_frames,
            "clips": clips,
        },
        "content_credentials": credentials,
    }
