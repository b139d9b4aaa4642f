"""Export a timeline (or one take): the steps from request to finished, labelled file."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api import Cancelled, CancelToken, DiskFullError, InvalidRequestError, MediaError
from engine.export import credentials as _c2pa
from engine.export import encode
from engine.export.credentials import SigningCredentials
from engine.export.encode import CRF, PRORES_PROFILE, estimate_bytes
from engine.export.labels import (
    DIGITAL_SOURCE_TYPE,
    build_sidecar,
    export_metadata,
    sidecar_path_for,
)
from engine.export.progress import Progress, check_cancel
from engine.export.render import Renderer
from engine.export.sources import SourceInfo, probe
from engine.export.spec import (
    FORMATS,
    QUALITIES,
    ClipSpec,
    ExportResult,
    TimelineSpec,
    check_spec,
    even,
    plan,
)
from engine.fsutil import (
    FailOnceWriter,
    atomic_path,
    disk_full,
    is_disk_full,
    require_free,
    sha256_file,
    temp_prefix,
)
from engine.limits import RENDER
from engine.text import dumps_json

log = logging.getLogger(__name__)

_SAFETY_BYTES = 4 << 20


def export_timeline(
    spec: TimelineSpec,
    out_path: Path | str,
    fmt: str | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    quality: str = "high",
    frame_index: int | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    credentials: SigningCredentials | None = None,
    content_credentials: bool = True,
) -> ExportResult:
    """Render ``spec`` to ``out_path`` as ``fmt`` ("mp4", "mov", "wav" or "png").

    ``fmt`` None takes it from the file name (default MP4). ``width``/``height`` override the
    timeline's size (rounded down to even numbers; sources of another shape are letterboxed).
    ``quality``: "high" | "medium" | "small" (H.264 CRF 18/23/28; ProRes 422 HQ/422/LT).
    ``frame_index``: the timeline frame a PNG shows (default 0). ``progress`` receives a
    monotonic fraction ending at 1.0; ``cancel`` stops the export (:class:`Cancelled`), and
    the partial file is removed. ``credentials`` sign the C2PA manifest (a per-process
    identity when None); ``content_credentials=False`` skips it.

    Raises :class:`InvalidRequestError` (bad spec or settings), :class:`MediaError` (a source
    cannot be read), :class:`DiskFullError` (not enough space; nothing is left behind).
    """
    out_path = Path(out_path)
    # 1. check the request and probe the sources
    if fmt is None:
        fmt = out_path.suffix.lower().lstrip(".") or "mp4"
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InvalidRequestError(
            f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}."
        )
    if quality not in QUALITIES:
        raise InvalidRequestError(
            f"Unknown quality {quality!r}; use one of {', '.join(QUALITIES)}."
        )
    check_spec(spec)
    for asked, name in ((width, "width"), (height, "height")):
        if asked is not None:  # the value typed, before it is made even
            RENDER[name].check(asked, f"the output {name}")
    out_w = even(width if width is not None else spec.width)
    out_h = even(height if height is not None else spec.height)
    RENDER["width"].check(out_w, "the output width")
    RENDER["height"].check(out_h, "the output height")
    total = spec.duration_frames
    if fmt == "png":
        frame_index = 0 if frame_index is None else int(frame_index)
        if not 0 <= frame_index < total:
            raise InvalidRequestError(
                f"Frame {frame_index} is outside the timeline (0 to {total - 1})."
            )
    infos: dict[Path, SourceInfo] = {}
    for n, c in enumerate(spec.clips, 1):
        vp = Path(c.video_path)
        if vp not in infos:
            infos[vp] = probe(vp)
        info = infos[vp]
        available = math.floor(info.frames / info.fps * spec.fps + 1e-6)
        if c.out_frame > available:
            raise InvalidRequestError(
                f"Clip {n} ({vp.name}) ends at frame {c.out_frame}, but the file has only "
                f"{available} frames."
            )
        if c.audio_path is not None and not Path(c.audio_path).is_file():
            raise MediaError(Path(c.audio_path), "the file does not exist")
    prog = Progress(progress)
    check_cancel(cancel)

    # 2. plan; 3. free space
    segments = plan(spec)
    sign = content_credentials and _c2pa.c2pa_available()
    estimate = estimate_bytes(fmt, out_w, out_h, total, spec.fps, spec.sample_rate, quality)
    needed = estimate * (2 if sign else 1) + _SAFETY_BYTES
    out_path.parent.mkdir(parents=True, exist_ok=True)
    require_free(out_path.parent, needed, out_path.name)

    title = spec.title or out_path.stem
    metadata = export_metadata(title)
    pix_fmt = {"mp4": "yuv420p", "mov": "yuv422p10le"}.get(fmt, "rgb24")
    renderer = Renderer(spec, infos, out_w, out_h, pix_fmt)
    settings: dict[str, Any] = {
        "format": fmt,
        "width": out_w if fmt != "wav" else None,
        "height": out_h if fmt != "wav" else None,
        "fps": spec.fps,
        "sample_rate": spec.sample_rate,
        "quality": quality,
        "frames": 1 if fmt == "png" else total,
        "duration_s": total / spec.fps if fmt != "png" else 0.0,
        "frame_index": frame_index,
    }
    if fmt == "mp4":
        settings.update(video_codec="h264", crf=CRF[quality], audio_codec="aac")
    elif fmt == "mov":
        settings.update(
            video_codec="prores", prores_profile=PRORES_PROFILE[quality], audio_codec="pcm_s16le"
        )
    elif fmt == "wav":
        settings.update(audio_codec="pcm_s16le")

    span = 0.95 if sign else 0.99
    sidecar_path = sidecar_path_for(out_path)
    signed = False
    suffix = "." + fmt
    try:
        with atomic_path(out_path, suffix=suffix) as tmp:
            # 4. stream the media into a temp file beside the target
            encoded = tmp
            if sign:
                own = temp_prefix()  # ".tmp-<pid>-": the next start can tell whose it is
                encoded = tmp.with_name(f"{own}enc-{tmp.name[len(own) :]}")
            try:
                with FailOnceWriter(encode.open_output_file(encoded)) as fh:
                    if fmt == "png":
                        assert frame_index is not None
                        rgb = renderer.rgb_frame(frame_index)
                        check_cancel(cancel)
                        encode.write_png(fh, rgb, metadata, {"frame_index": str(frame_index)})
                    else:
                        encode.encode_av(
                            fh,
                            fmt,
                            renderer,
                            segments,
                            total,
                            quality,
                            metadata,
                            prog,
                            span,
                            cancel,
                        )
                check_cancel(cancel)
                prog(span)
                # 5. Content Credentials
                cc: dict[str, Any] = {"embedded": False}
                too_big = sign and encoded.stat().st_size > _c2pa.C2PA_MAX_BYTES
                if too_big:
                    os.replace(encoded, tmp)
                    cc["reason"] = (
                        f"not embedded: the file is larger than {_c2pa.C2PA_MAX_BYTES >> 20} MB, "
                        "more than the signer can hold in memory"
                    )
                elif sign:
                    try:
                        _c2pa.embed_c2pa(
                            encoded, tmp, fmt, title, credentials or _c2pa.default_credentials()
                        )
                        signed = True
                        cc = {
                            "embedded": True,
                            "standard": "C2PA",
                            "digital_source_type": DIGITAL_SOURCE_TYPE,
                            "trusted_signer": False,
                        }
                    except Exception as exc:  # noqa: BLE001 - keep the unsigned export
                        if is_disk_full(exc):
                            raise
                        log.warning("Content Credentials could not be embedded: %s", exc)
                        os.replace(encoded, tmp)
                        cc = {"embedded": False, "reason": f"signing failed: {exc}"}
                elif content_credentials:
                    cc["reason"] = "c2pa-python is not installed"
                else:
                    cc["reason"] = "switched off"
            finally:
                if encoded != tmp:
                    encoded.unlink(missing_ok=True)
            check_cancel(cancel)
            prog(0.995)
            # 6. sidecar, then the final rename (by atomic_path)
            size = tmp.stat().st_size
            file_sha = sha256_file(tmp)
            side = build_sidecar(spec, fmt, out_path, settings, infos, file_sha, size, cc)
            with atomic_path(sidecar_path) as side_tmp:
                side_tmp.write_text(
                    dumps_json(side, indent=2, default=str) + "\n", encoding="utf-8"
                )
    except (DiskFullError, Cancelled):
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            with contextlib.suppress(OSError):
                if not out_path.exists():
                    sidecar_path.unlink(missing_ok=True)
            raise disk_full(out_path.parent, needed, out_path.name) from exc
        raise
    prog(1.0, force=True)
    return ExportResult(
        path=out_path,
        sidecar_path=sidecar_path,
        duration_s=settings["duration_s"],
        frames=settings["frames"],
        format=fmt,
        sha256=file_sha,
        content_credentials=signed,
    )


def single_take_spec(
    video_path: Path | str,
    *,
    recipe: dict[str, Any] | None = None,
    audio_path: Path | str | None = None,
    title: str = "",
) -> TimelineSpec:
    """A timeline of one whole clip at its own size and frame rate (single-take export)."""
    info = probe(Path(video_path))
    return TimelineSpec(
        fps=info.fps,
        width=even(info.width),
        height=even(info.height),
        clips=(
            ClipSpec(
                video_path=Path(video_path),
                in_frame=0,
                out_frame=info.frames,
                position_frames=0,
                recipe=recipe,
                audio_path=Path(audio_path) if audio_path else None,
            ),
        ),
        title=title,
    )
