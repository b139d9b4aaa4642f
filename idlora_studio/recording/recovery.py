"""Find takes a crash left behind in the recordings folder and turn them back into WAVs.

A take is a JSON sidecar plus either raw float32 data (still recording when the process
died) or a finished WAV that was never saved to the library. Both are offered back; the
duration of raw data comes from its size on disk (everything written, fsynced or not).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.fsutil import TMP_PREFIX
from idlora_studio.recording.capture import (
    RAW_SUFFIX,
    SIDECAR_SUFFIX,
    WAV_SUFFIX,
    active_raw_paths,
    raw_to_wav,
    write_sidecar,
)


@dataclass(frozen=True)
class UnfinishedRecording:
    """A take left in the recordings folder. ``path`` is the raw data or the finished WAV."""

    path: Path
    sidecar: Path
    duration_s: float
    started_at: datetime | None
    identity_id: int | None
    samplerate: int
    channels: int
    finished: bool  # True: a complete WAV that was never saved

    @property
    def label(self) -> str:
        when = self.started_at.astimezone().strftime("%Y-%m-%d %H:%M") if self.started_at else "?"
        kind = "finished, not saved" if self.finished else "interrupted"
        return f"{when} - {self.duration_s:.1f} s ({kind})"


def _recordings_dir(paths_or_dir: Any) -> Path:
    return Path(getattr(paths_or_dir, "recordings_dir", paths_or_dir))


def _read_meta(sidecar: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def find_unfinished_recordings(paths_or_dir: Any) -> list[UnfinishedRecording]:
    """Takes in ``paths.recordings_dir`` (or a folder) that were not saved, oldest first.

    Takes still being written by a :class:`Recorder` in this process are skipped. Leftovers
    holding no audio (empty raw data, orphan temp files) are removed.
    """
    folder = _recordings_dir(paths_or_dir)
    if not folder.is_dir():
        return []
    active = active_raw_paths()
    found: list[UnfinishedRecording] = []
    for tmp in folder.glob(f"{TMP_PREFIX}*"):
        tmp.unlink(missing_ok=True)
    for sidecar in sorted(folder.glob(f"rec-*{SIDECAR_SUFFIX}")):
        meta = _read_meta(sidecar)
        raw = sidecar.with_suffix(RAW_SUFFIX)
        wav = sidecar.with_suffix(WAV_SUFFIX)
        if raw in active:
            continue
        if meta is None:
            continue  # unreadable metadata: leave the files alone for a person to look at
        try:
            rate = int(meta.get("samplerate", 0))
            channels = int(meta.get("channels", 0))
        except (TypeError, ValueError):
            continue
        if rate <= 0 or channels <= 0:
            continue
        identity = meta.get("identity_id")
        identity_id = identity if isinstance(identity, int) else None
        started = _parse_time(meta.get("started_at"))
        if raw.exists():
            frames = raw.stat().st_size // (4 * channels)
            if frames == 0:
                raw.unlink(missing_ok=True)
                sidecar.unlink(missing_ok=True)
                continue
            found.append(
                UnfinishedRecording(
                    raw, sidecar, frames / rate, started, identity_id, rate, channels, False
                )
            )
        elif wav.exists():
            try:
                import soundfile as sf

                info = sf.info(str(wav))
                duration = float(info.frames) / float(info.samplerate)
            except Exception:  # noqa: BLE001 - a damaged WAV is still offered
                duration = float(meta.get("frames", 0)) / rate
            found.append(
                UnfinishedRecording(
                    wav, sidecar, duration, started, identity_id, rate, channels, True
                )
            )
        else:
            sidecar.unlink(missing_ok=True)  # nothing was ever captured
    return found


def recover(rec: UnfinishedRecording) -> Path:
    """Make ``rec`` a valid WAV (idempotent); returns the WAV's path.

    The sidecar is kept, marked finished, until :func:`discard` (after the WAV was saved
    to the library or the user threw it away).
    """
    if rec.finished:
        return rec.path
    wav = rec.path.with_suffix(WAV_SUFFIX)
    frames = raw_to_wav(rec.path, wav, rec.samplerate, rec.channels)
    meta = _read_meta(rec.sidecar) or {}
    meta.update(state="finished", frames=frames, wav=wav.name, recovered=True)
    write_sidecar(rec.sidecar, meta)
    os.unlink(rec.path)
    return wav


def discard(rec: UnfinishedRecording | Path) -> None:
    """Delete a take's files (raw data, WAV, sidecar). Accepts a take or any of its paths."""
    base = rec.sidecar if isinstance(rec, UnfinishedRecording) else Path(rec)
    for suffix in (RAW_SUFFIX, WAV_SUFFIX, SIDECAR_SUFFIX):
        base.with_suffix(suffix).unlink(missing_ok=True)
