"""Encoding: MP4 (H.264 + AAC), MOV (ProRes + PCM), WAV and PNG writers, and size estimates."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.api import CancelToken
from engine.export.labels import DIGITAL_SOURCE_TYPE
from engine.export.progress import Progress, check_cancel
from engine.export.render import Renderer
from engine.export.spec import Segment
from engine.media.video import h264_encoder

AAC_BITRATE = 192_000
CRF = {"high": 18, "medium": 23, "small": 28}
_X264_PRESET = {"high": "medium", "medium": "fast", "small": "fast"}
# prores_ks profiles: 3 = 422 HQ, 2 = 422, 1 = 422 LT.
PRORES_PROFILE = {"high": 3, "medium": 2, "small": 1}
# Bits per pixel used for the free-space estimate (generous upper bounds).
_BPP_H264 = {"high": 0.5, "medium": 0.25, "small": 0.12}
_BPP_PRORES = {"high": 4.0, "medium": 2.7, "small": 1.9}
_SAFETY_BYTES = 4 << 20


class _AudioSink:
    """Feeds float32 (2, n) blocks to an audio encoder in frames of its preferred size."""

    def __init__(self, container: Any, stream: Any, sample_rate: int) -> None:
        self.container = container
        self.stream = stream
        self.sr = sample_rate
        self.size = stream.codec_context.frame_size or 4096
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._pts = 0

    def push(self, block: np.ndarray) -> None:
        if block.shape[1] == 0:
            return
        self._pending.append(block)
        self._pending_n += block.shape[1]
        if self._pending_n >= self.size:
            data = np.concatenate(self._pending, axis=1)
            full = data.shape[1] // self.size * self.size
            for start in range(0, full, self.size):
                self._encode(data[:, start : start + self.size])
            rest = data[:, full:]
            self._pending = [rest] if rest.shape[1] else []
            self._pending_n = rest.shape[1]

    def _encode(self, chunk: np.ndarray) -> None:
        import av

        af = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(np.clip(chunk, -1.0, 1.0), dtype=np.float32),
            format="fltp",
            layout="stereo",
        )
        af.sample_rate = self.sr
        af.pts = self._pts
        self._pts += chunk.shape[1]
        self.container.mux(self.stream.encode(af))

    def close(self) -> None:
        if self._pending_n:
            self._encode(np.concatenate(self._pending, axis=1))
            self._pending, self._pending_n = [], 0
        self.container.mux(self.stream.encode(None))


def open_output_file(path: Path) -> IO[bytes]:
    """Open a temp file the encoder writes through (a seam tests use to fill the disk)."""
    return open(path, "w+b")  # noqa: SIM115 - closed by the caller


def estimate_bytes(
    fmt: str, width: int, height: int, frames: int, fps: float, sample_rate: int, quality: str
) -> int:
    """A generous estimate of an export's size, for the free-space check."""
    seconds = frames / fps
    pcm = int(seconds * sample_rate * 2 * 2)
    if fmt == "png":
        return width * height * 3 + 65_536
    if fmt == "wav":
        return pcm + 65_536
    pixels = width * height * frames
    if fmt == "mov":
        return int(pixels * _BPP_PRORES[quality] / 8) + pcm + 65_536
    return int(pixels * _BPP_H264[quality] / 8) + int(seconds * AAC_BITRATE / 8) + 65_536


def encode_av(
    fh: IO[bytes],
    fmt: str,
    renderer: Renderer,
    segments: list[Segment],
    total: int,
    quality: str,
    metadata: dict[str, str],
    progress: Progress,
    span: float,
    cancel: CancelToken | None,
) -> None:
    import av

    options: dict[str, str] = {}
    if fmt in ("mp4", "mov"):
        options["movflags"] = "+faststart+use_metadata_tags"
    container = av.open(fh, "w", format=fmt if fmt != "wav" else "wav", options=options)
    try:
        for key, value in metadata.items():
            container.metadata[key] = value
        vstream = None
        if fmt in ("mp4", "mov"):
            if fmt == "mp4":
                encoder = h264_encoder()
                vstream = container.add_stream(encoder, rate=renderer.rate)
                vstream.pix_fmt = "yuv420p"
                if encoder == "libx264":
                    vstream.options = {
                        "crf": str(CRF[quality]),
                        "preset": _X264_PRESET[quality],
                    }
                else:
                    vstream.bit_rate = max(
                        1_000_000, int(renderer.width * renderer.height * float(renderer.rate) / 4)
                    )
            else:
                vstream = container.add_stream("prores_ks", rate=renderer.rate)
                vstream.pix_fmt = "yuv422p10le"
                vstream.options = {"profile": str(PRORES_PROFILE[quality]), "vendor": "apl0"}
            vstream.width, vstream.height = renderer.width, renderer.height
            vstream.thread_type = "AUTO"
        acodec = {"mp4": "aac", "mov": "pcm_s16le", "wav": "pcm_s16le"}[fmt]
        astream = container.add_stream(acodec, rate=renderer.sr, layout="stereo")
        if fmt == "mp4":
            astream.bit_rate = AAC_BITRATE
        sink = _AudioSink(container, astream, renderer.sr)

        done = 0
        for seg in segments:
            check_cancel(cancel)
            if vstream is None:  # audio only: push the segment in one-second blocks
                step = max(1, round(float(renderer.rate)))
                for t in range(seg.start, seg.end, step):
                    check_cancel(cancel)
                    sink.push(renderer.audio(seg, t, min(seg.end, t + step)))
                    done = min(seg.end, t + step)
                    progress(span * done / total)
                continue
            for t, frame in zip(range(seg.start, seg.end), renderer.video_frames(seg), strict=True):
                check_cancel(cancel)
                frame.pts = t
                frame.time_base = Fraction(1) / renderer.rate
                container.mux(vstream.encode(frame))
                sink.push(renderer.audio(seg, t, t + 1))
                done = t + 1
                progress(span * done / total)
        if vstream is not None:
            container.mux(vstream.encode(None))
        sink.close()
    finally:
        container.close()
    fh.flush()


def write_png(
    fh: IO[bytes], rgb: np.ndarray, metadata: dict[str, str], extra: dict[str, str]
) -> None:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", metadata["title"])
    info.add_text("Description", metadata["description"])
    info.add_text("Comment", metadata["comment"])
    info.add_text("Software", metadata["software"])
    info.add_text("ai_generated", "true")
    info.add_text("digital_source_type", DIGITAL_SOURCE_TYPE)
    for k, v in extra.items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", pnginfo=info, compress_level=6)
    fh.write(buf.getvalue())
    fh.flush()
