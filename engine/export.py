"""Export a timeline (or one take) to MP4, MOV/ProRes, WAV or PNG, labelled as AI-generated.

A :class:`TimelineSpec` is one video track of clips (frames ``[in_frame, out_frame)`` of a
source file placed at ``position_frames``); gaps are black with silence. Where clips overlap,
the one listed later wins. :func:`export_timeline` renders it:

1. check the request and probe every source (frame rate, size, length, audio);
2. plan *segments* -- runs of output frames that come from one clip or from a gap;
3. check the free disk against an estimate of the output size (:class:`DiskFullError`);
4. stream: decode each segment's frames with PyAV (frame-accurate by timestamp, seeking for
   late in-points), scale them to the output size (letterboxed when the shape differs) and
   encode them, pushing after every frame exactly the audio samples that belong to it --
   the audio is cut at the same frame boundaries as the video, so A/V sync survives trims,
   reorders and gaps. Nothing holds more than one clip's audio and one frame at a time;
5. embed a Content Credentials (C2PA) manifest where ``c2pa-python`` is installed;
6. write the JSON sidecar (``<out>.json``: recipes, settings, the AI-generated statement) and
   rename the finished file into place (:func:`engine.fsutil.atomic_path`).

Every export says it is AI-generated in its own metadata: MP4/MOV container tags
(``comment``, ``description`` and the custom ``ai_generated``/``digital_source_type`` keys),
WAV ``LIST/INFO`` (``ICMT``, ``INAM``) and PNG ``tEXt`` chunks.

Cancel (:class:`~engine.api.CancelToken`) and errors remove the partial file; progress is
monotonic and ends at exactly 1.0. Qt-free and torch-free.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.api import Cancelled, CancelToken, DiskFullError, InvalidRequestError, MediaError
from engine.fsutil import TMP_PREFIX, atomic_path, free_bytes, is_disk_full, sha256_file
from engine.media.video import fps_fraction, h264_encoder, open_input

log = logging.getLogger(__name__)

FORMATS = ("mp4", "mov", "wav", "png")
QUALITIES = ("high", "medium", "small")

AI_LABEL = "AI-generated"
AI_STATEMENT = (
    "AI-generated: this media was made with ID-LoRA Studio by a generative AI model "
    "(ID-LoRA on LTX-2); the people and voices in it are synthetic."
)
#: IPTC digital source type for media made by a trained model.
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
SIDECAR_SCHEMA = "idlora-studio/export"
SIDECAR_VERSION = 1

AAC_BITRATE = 192_000
_CRF = {"high": 18, "medium": 23, "small": 28}
_X264_PRESET = {"high": "medium", "medium": "fast", "small": "fast"}
# prores_ks profiles: 3 = 422 HQ, 2 = 422, 1 = 422 LT.
_PRORES_PROFILE = {"high": 3, "medium": 2, "small": 1}
# Bits per pixel used for the free-space estimate (generous upper bounds).
_BPP_H264 = {"high": 0.5, "medium": 0.25, "small": 0.12}
_BPP_PRORES = {"high": 4.0, "medium": 2.7, "small": 1.9}
_SAFETY_BYTES = 4 << 20
#: c2pa-python holds about twice the file in memory while it signs: larger exports (long
#: ProRes) are not signed, and their sidecar says why.
C2PA_MAX_BYTES = 300 << 20


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ClipSpec:
    """One clip on the track.

    ``in_frame``/``out_frame`` (exclusive) count frames of the clip at the *timeline's* frame
    rate (for the usual case of a take made at the timeline's rate: the take's own frame
    numbers); the clip covers ``out_frame - in_frame`` timeline frames from
    ``position_frames``. ``audio_path`` takes the sound from a separate file (e.g. a take's
    WAV) instead of the video's audio track. ``recipe`` goes into the export's sidecar.
    """

    video_path: Path
    in_frame: int
    out_frame: int
    position_frames: int
    recipe: dict[str, Any] | None = None
    audio_path: Path | None = None
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "video_path", Path(self.video_path))
        if self.audio_path is not None:
            object.__setattr__(self, "audio_path", Path(self.audio_path))
        for name in ("in_frame", "out_frame", "position_frames"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def length_frames(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def end_frames(self) -> int:
        return self.position_frames + self.length_frames


@dataclass(frozen=True)
class TimelineSpec:
    """A single-track timeline: output frame rate, size, audio rate and clips."""

    fps: float
    width: int
    height: int
    sample_rate: int = 48_000
    clips: tuple[ClipSpec, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "clips", tuple(self.clips))

    @property
    def duration_frames(self) -> int:
        return max((c.end_frames for c in self.clips), default=0)

    @property
    def duration_s(self) -> float:
        return self.duration_frames / self.fps if self.fps > 0 else 0.0


@dataclass(frozen=True)
class ExportResult:
    """A finished export. ``content_credentials``: a C2PA manifest is embedded in the file."""

    path: Path
    sidecar_path: Path
    duration_s: float
    frames: int
    format: str = "mp4"
    sha256: str = ""
    content_credentials: bool = False


@dataclass(frozen=True)
class SigningCredentials:
    """A PEM certificate chain (signer first) and its PEM private key, for C2PA signing."""

    cert_chain_pem: bytes
    private_key_pem: bytes
    alg: str = "es256"


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _SourceInfo:
    path: Path
    fps: float
    width: int
    height: int
    frames: int  # 0 when unknown
    duration_s: float
    has_audio: bool


def _probe(path: Path) -> _SourceInfo:
    container = open_input(path)
    try:
        if not container.streams.video:
            raise MediaError(path, "has no video track")
        vs = container.streams.video[0]
        fps = float(vs.average_rate or vs.base_rate or 0)
        if fps <= 0:
            raise MediaError(path, "has no usable frame rate")
        frames = int(vs.frames or 0)
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps
        if frames == 0:
            frames = round(duration * fps)
        return _SourceInfo(
            path=path,
            fps=fps,
            width=int(vs.codec_context.width),
            height=int(vs.codec_context.height),
            frames=frames,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


class _VideoReader:
    """Decodes one source sequentially and hands out frames by source index.

    Indices come from timestamps (``round((pts - start) * time_base * fps)``), so a file
    with a dropped or duplicated frame still maps each index to the right picture. Asking
    for a late index first seeks to the key frame before it.
    """

    _SEEK_AFTER_S = 1.0

    def __init__(self, info: _SourceInfo) -> None:
        self.info = info
        self._container = open_input(info.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._origin = self._stream.start_time or 0
        self._tb = self._stream.time_base
        self._iter: Iterator[Any] | None = None
        self._current: Any = None
        self._current_index = -1
        self._next: Any = None
        self._next_index = -1
        self._count = 0

    def close(self) -> None:
        self._container.close()

    def _index_of(self, frame: Any) -> int:
        if frame.pts is None or self._tb is None:
            return self._count
        return round(float((frame.pts - self._origin) * self._tb) * self.info.fps)

    def _pull(self) -> bool:
        import av

        assert self._iter is not None
        try:
            frame = next(self._iter)
        except StopIteration:
            return False
        except av.FFmpegError as exc:
            raise MediaError(self.info.path, f"video could not be decoded ({exc})") from exc
        self._next, self._next_index = frame, self._index_of(frame)
        self._count += 1
        return True

    def get(self, index: int) -> Any:
        """The decoded frame showing source frame ``index`` (the last one at the end)."""
        if self._iter is None:
            if index / self.info.fps > self._SEEK_AFTER_S and self._tb is not None:
                target = self._origin + int((index - 0.5) / self.info.fps / self._tb)
                with contextlib.suppress(Exception):  # unseekable: decode from the start
                    self._container.seek(max(target, self._origin), stream=self._stream)
            self._iter = iter(self._container.decode(self._stream))
            if not self._pull():
                raise MediaError(self.info.path, "has no decodable video frames")
        # Advance while the next decoded frame is still at or before the wanted index.
        while self._next is not None and self._next_index <= index:
            self._current, self._current_index = self._next, self._next_index
            self._next = None
            if not self._pull():
                break
        if self._current is None:  # the first decoded frame is after `index`
            return self._next
        return self._current


def _load_clip_audio(clip: ClipSpec, info: _SourceInfo, rate: int) -> np.ndarray:
    """The clip's whole sound as float32 (2, N) at ``rate``; sample 0 = the first frame."""
    import av

    path = clip.audio_path or clip.video_path
    if clip.audio_path is None and not info.has_audio:
        return np.zeros((2, 0), np.float32)
    container = open_input(path)
    try:
        if not container.streams.audio:
            if clip.audio_path is not None:
                raise MediaError(path, "has no audio track")
            return np.zeros((2, 0), np.float32)
        stream = container.streams.audio[0]
        origin_s = 0.0
        if clip.audio_path is None and container.streams.video:
            vs = container.streams.video[0]
            if vs.start_time is not None and vs.time_base is not None:
                origin_s = float(vs.start_time * vs.time_base)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        chunks: list[np.ndarray] = []
        first_s: float | None = None
        try:
            for frame in container.decode(stream):
                if first_s is None:
                    first_s = float(frame.time) if frame.time is not None else origin_s
                frame.pts = None
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        except av.FFmpegError as exc:
            raise MediaError(path, f"audio could not be decoded ({exc})") from exc
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    finally:
        container.close()
    audio = (
        np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
        if chunks
        else np.zeros((2, 0), np.float32)
    )
    # Align the first decoded sample with the first video frame.
    shift = round(((first_s or origin_s) - origin_s) * rate)
    if shift > 0:
        audio = np.pad(audio, ((0, 0), (shift, 0)))
    elif shift < 0:
        audio = audio[:, -shift:]
    return np.ascontiguousarray(audio)


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Segment:
    start: int  # first output frame
    end: int  # exclusive
    clip: int | None  # index into spec.clips, None = gap


def _plan(spec: TimelineSpec) -> list[_Segment]:
    total = spec.duration_frames
    owner = np.full(total, -1, dtype=np.int64)
    for i, c in enumerate(spec.clips):
        owner[c.position_frames : c.end_frames] = i
    segments: list[_Segment] = []
    start = 0
    for t in range(1, total + 1):
        if t == total or owner[t] != owner[start]:
            idx = int(owner[start])
            segments.append(_Segment(start, t, None if idx < 0 else idx))
            start = t
    return segments


def _check_spec(spec: TimelineSpec) -> None:
    fps_fraction(spec.fps)
    if spec.width < 2 or spec.height < 2:
        raise InvalidRequestError(f"The output size {spec.width}x{spec.height} is too small.")
    if spec.sample_rate < 8000 or spec.sample_rate > 192_000:
        raise InvalidRequestError(f"The audio rate {spec.sample_rate} Hz is not supported.")
    if not spec.clips:
        raise InvalidRequestError("The timeline is empty: there is nothing to export.")
    for n, c in enumerate(spec.clips, 1):
        if c.in_frame < 0 or c.out_frame <= c.in_frame or c.position_frames < 0:
            raise InvalidRequestError(
                f"Clip {n} ({Path(c.video_path).name}) has an invalid range: in {c.in_frame}, "
                f"out {c.out_frame}, position {c.position_frames}."
            )


def _even(v: int) -> int:
    return max(2, int(v) - int(v) % 2)


def _fit(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """Largest even size with the source's shape inside the output, and its offset."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w = min(dst_w, _even(round(src_w * scale)))
    h = min(dst_h, _even(round(src_h * scale)))
    return w, h, (dst_w - w) // 2 // 2 * 2, (dst_h - h) // 2 // 2 * 2


# ----------------------------------------------------------------------------- rendering


class _Renderer:
    """Turns the plan into output video frames and audio samples, one frame at a time."""

    def __init__(
        self,
        spec: TimelineSpec,
        infos: dict[Path, _SourceInfo],
        width: int,
        height: int,
        pix_fmt: str,
    ) -> None:
        self.spec = spec
        self.infos = infos
        self.width, self.height = width, height
        self.pix_fmt = pix_fmt
        self.rate = fps_fraction(spec.fps)
        self.sr = spec.sample_rate
        self._black: Any = None
        self._audio_cache: dict[Path | tuple[Path, Path], np.ndarray] = {}

    # -- time
    def sample_at(self, frame: int) -> int:
        """First audio sample of output frame ``frame`` (exact for whole-number rates)."""
        return round(Fraction(frame) * self.sr / self.rate)

    def source_index(self, clip: ClipSpec, local: int) -> int:
        info = self.infos[Path(clip.video_path)]
        t = (clip.in_frame + local) / float(self.rate)
        return int(math.floor(t * info.fps + 1e-6))

    # -- video
    def black(self) -> Any:
        import av

        if self._black is None:
            arr = np.zeros((self.height, self.width, 3), np.uint8)
            self._black = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(
                format=self.pix_fmt
            )
        return self._black

    def convert(self, frame: Any, info: _SourceInfo) -> Any:
        """Scale a decoded frame to the output size and pixel format (letterboxed)."""
        import av

        w, h, x, y = _fit(frame.width, frame.height, self.width, self.height)
        if (w, h) == (self.width, self.height):
            return frame.reformat(width=w, height=h, format=self.pix_fmt)
        canvas = np.zeros((self.height, self.width, 3), np.uint8)
        canvas[y : y + h, x : x + w] = frame.to_ndarray(width=w, height=h, format="rgb24")
        return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format=self.pix_fmt)

    def video_frames(self, seg: _Segment) -> Iterator[Any]:
        """Output frames of ``seg`` in the output pixel format (``pts`` not set)."""
        if seg.clip is None:
            for _ in range(seg.start, seg.end):
                yield self.black()
            return
        clip = self.spec.clips[seg.clip]
        info = self.infos[Path(clip.video_path)]
        reader = _VideoReader(info)
        try:
            for t in range(seg.start, seg.end):
                frame = reader.get(self.source_index(clip, t - clip.position_frames))
                yield self.convert(frame, info)
        finally:
            reader.close()

    def rgb_frame(self, t: int) -> np.ndarray:
        """Output frame ``t`` as uint8 RGB (H, W, 3), for PNG export."""
        for seg in _plan(self.spec):
            if seg.start <= t < seg.end:
                if seg.clip is None:
                    return np.zeros((self.height, self.width, 3), np.uint8)
                clip = self.spec.clips[seg.clip]
                info = self.infos[Path(clip.video_path)]
                reader = _VideoReader(info)
                try:
                    frame = reader.get(self.source_index(clip, t - clip.position_frames))
                    w, h, x, y = _fit(frame.width, frame.height, self.width, self.height)
                    canvas = np.zeros((self.height, self.width, 3), np.uint8)
                    canvas[y : y + h, x : x + w] = frame.to_ndarray(
                        width=w, height=h, format="rgb24"
                    )
                    return canvas
                finally:
                    reader.close()
        raise InvalidRequestError(f"Frame {t} is outside the timeline.")

    # -- audio
    def _clip_audio(self, clip: ClipSpec) -> np.ndarray:
        key: Path | tuple[Path, Path] = Path(clip.video_path)
        if clip.audio_path is not None:
            key = (Path(clip.video_path), Path(clip.audio_path))
        audio = self._audio_cache.get(key)
        if audio is None:
            audio = _load_clip_audio(clip, self.infos[Path(clip.video_path)], self.sr)
            self._audio_cache.clear()  # keep one clip's sound at a time
            self._audio_cache[key] = audio
        return audio

    def audio(self, seg: _Segment, frame_from: int, frame_to: int) -> np.ndarray:
        """Samples of output frames ``[frame_from, frame_to)`` inside ``seg``, (2, n)."""
        n0, n1 = self.sample_at(frame_from), self.sample_at(frame_to)
        if seg.clip is None or n1 <= n0:
            return np.zeros((2, max(0, n1 - n0)), np.float32)
        clip = self.spec.clips[seg.clip]
        src = self._clip_audio(clip)
        # The clip's frame `in_frame` starts at this source sample; the output segment that
        # starts at frame `position` starts at sample_at(position): both cut on frames.
        src0 = self.sample_at(clip.in_frame) + (n0 - self.sample_at(clip.position_frames))
        out = src[:, max(0, src0) : max(0, src0 + (n1 - n0))]
        if out.shape[1] < n1 - n0:
            out = np.pad(out, ((0, 0), (0, n1 - n0 - out.shape[1])))
        return out


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


# ----------------------------------------------------------------------------- progress


class _Progress:
    """Monotonic, throttled progress in [0, 1]."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.value = 0.0

    def __call__(self, value: float, *, force: bool = False) -> None:
        value = min(1.0, max(self.value, value))
        if self.callback is None:
            self.value = value
            return
        if force or value - self.value >= 0.002 or (value == 1.0 and self.value < 1.0):
            self.value = value
            self.callback(value)


def _check_cancel(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled("export cancelled")


# ----------------------------------------------------------------------------- metadata


def _app_version() -> str:
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
        "software": f"ID-LoRA Studio {_app_version()}",
    }


def sidecar_path_for(out_path: Path | str) -> Path:
    """``video.mp4`` -> ``video.mp4.json`` (so a take's MP4 and WAV sidecars never clash)."""
    p = Path(out_path)
    return p.with_name(p.name + ".json")


# ----------------------------------------------------------------------------- C2PA

_ephemeral_lock = threading.Lock()
_ephemeral: SigningCredentials | None = None


def c2pa_available() -> bool:
    """True when ``c2pa-python`` and ``cryptography`` import (the manifest can be signed)."""
    try:
        import c2pa  # noqa: F401
        import cryptography  # noqa: F401
    except Exception:  # noqa: BLE001 - missing or broken native library
        return False
    return True


def make_signing_credentials(common_name: str = "ID-LoRA Studio") -> SigningCredentials:
    """A new local signing identity: a self-signed root and an ES256 signer certificate.

    The manifest it signs validates (its hashes and signature are checked) but is not
    *trusted*: no public trust list knows this root. That is what an offline desktop can do.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ID-LoRA Studio (local)"),
            ]
        )

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(name(f"{common_name} local root"))
        .issuer_name(name(f"{common_name} local root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningCredentials(
        cert_chain_pem=cert.public_bytes(pem) + root.public_bytes(pem),
        private_key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def load_or_create_credentials(folder: Path | str) -> SigningCredentials | None:
    """The installation's signing identity in ``folder`` (created on first use, key 0600).

    None when C2PA signing is unavailable (``c2pa-python``/``cryptography`` missing).
    """
    if not c2pa_available():
        return None
    folder = Path(folder)
    cert_path, key_path = folder / "c2pa-signer-chain.pem", folder / "c2pa-signer-key.pem"
    if cert_path.is_file() and key_path.is_file():
        return SigningCredentials(cert_path.read_bytes(), key_path.read_bytes())
    creds = make_signing_credentials()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(key_path) as tmp:
        os.chmod(tmp, 0o600)
        tmp.write_bytes(creds.private_key_pem)
    with atomic_path(cert_path) as tmp:
        tmp.write_bytes(creds.cert_chain_pem)
    return creds


def _default_credentials() -> SigningCredentials:
    """A per-process signing identity for callers that pass none."""
    global _ephemeral
    with _ephemeral_lock:
        if _ephemeral is None:
            _ephemeral = make_signing_credentials()
        return _ephemeral


_MIME = {"mp4": "video/mp4", "mov": "video/quicktime", "wav": "audio/wav", "png": "image/png"}


def _c2pa_manifest(title: str, fmt: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "ID-LoRA Studio", "version": _app_version()}],
        "title": title,
        "format": _MIME[fmt],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": "ID-LoRA Studio", "version": _app_version()},
                        }
                    ]
                },
            }
        ],
    }


def _embed_c2pa(source: Path, dest: Path, fmt: str, title: str, creds: SigningCredentials) -> None:
    """Sign ``source`` into ``dest`` with an embedded manifest (raises on failure)."""
    import c2pa

    info = c2pa.C2paSignerInfo(creds.alg, creds.cert_chain_pem, creds.private_key_pem, None)
    with c2pa.Signer.from_info(info) as signer, c2pa.Builder(_c2pa_manifest(title, fmt)) as b:
        with open(source, "rb") as src, _open_output_file(dest) as dst:
            b.sign(signer, _MIME[fmt], src, dst)
            dst.flush()


def read_content_credentials(path: Path | str) -> dict[str, Any] | None:
    """The active C2PA manifest of a file and its validation state, or None if it has none."""
    if not c2pa_available():
        return None
    import c2pa

    try:
        with c2pa.Reader(str(path)) as reader:
            manifest = reader.get_active_manifest()
            state = reader.get_validation_state()
    except Exception:  # noqa: BLE001 - no manifest / unreadable
        return None
    if manifest is None:
        return None
    return {"manifest": manifest, "validation_state": state}


# ----------------------------------------------------------------------------- writing


def _open_output_file(path: Path) -> IO[bytes]:
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


def _encode_av(
    fh: IO[bytes],
    fmt: str,
    renderer: _Renderer,
    segments: list[_Segment],
    total: int,
    quality: str,
    metadata: dict[str, str],
    progress: _Progress,
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
                        "crf": str(_CRF[quality]),
                        "preset": _X264_PRESET[quality],
                    }
                else:
                    vstream.bit_rate = max(
                        1_000_000, int(renderer.width * renderer.height * float(renderer.rate) / 4)
                    )
            else:
                vstream = container.add_stream("prores_ks", rate=renderer.rate)
                vstream.pix_fmt = "yuv422p10le"
                vstream.options = {"profile": str(_PRORES_PROFILE[quality]), "vendor": "apl0"}
            vstream.width, vstream.height = renderer.width, renderer.height
            vstream.thread_type = "AUTO"
        acodec = {"mp4": "aac", "mov": "pcm_s16le", "wav": "pcm_s16le"}[fmt]
        astream = container.add_stream(acodec, rate=renderer.sr, layout="stereo")
        if fmt == "mp4":
            astream.bit_rate = AAC_BITRATE
        sink = _AudioSink(container, astream, renderer.sr)

        done = 0
        for seg in segments:
            _check_cancel(cancel)
            if vstream is None:  # audio only: push the segment in one-second blocks
                step = max(1, round(float(renderer.rate)))
                for t in range(seg.start, seg.end, step):
                    _check_cancel(cancel)
                    sink.push(renderer.audio(seg, t, min(seg.end, t + step)))
                    done = min(seg.end, t + step)
                    progress(span * done / total)
                continue
            for t, frame in zip(range(seg.start, seg.end), renderer.video_frames(seg), strict=True):
                _check_cancel(cancel)
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


def _write_png(
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


def _sidecar(
    spec: TimelineSpec,
    fmt: str,
    out_path: Path,
    settings: dict[str, Any],
    infos: dict[Path, _SourceInfo],
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
        "software": {"name": "ID-LoRA Studio", "version": _app_version()},
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
    _check_spec(spec)
    out_w = _even(width if width is not None else spec.width)
    out_h = _even(height if height is not None else spec.height)
    if (width is not None and width < 2) or (height is not None and height < 2):
        raise InvalidRequestError(f"The output size {width}x{height} is too small.")
    total = spec.duration_frames
    if fmt == "png":
        frame_index = 0 if frame_index is None else int(frame_index)
        if not 0 <= frame_index < total:
            raise InvalidRequestError(
                f"Frame {frame_index} is outside the timeline (0 to {total - 1})."
            )
    infos: dict[Path, _SourceInfo] = {}
    for n, c in enumerate(spec.clips, 1):
        vp = Path(c.video_path)
        if vp not in infos:
            infos[vp] = _probe(vp)
        info = infos[vp]
        available = math.floor(info.frames / info.fps * spec.fps + 1e-6)
        if c.out_frame > available:
            raise InvalidRequestError(
                f"Clip {n} ({vp.name}) ends at frame {c.out_frame}, but the file has only "
                f"{available} frames."
            )
        if c.audio_path is not None and not Path(c.audio_path).is_file():
            raise MediaError(Path(c.audio_path), "the file does not exist")
    prog = _Progress(progress)
    _check_cancel(cancel)

    # 2. plan; 3. free space
    segments = _plan(spec)
    sign = content_credentials and c2pa_available()
    estimate = estimate_bytes(fmt, out_w, out_h, total, spec.fps, spec.sample_rate, quality)
    needed = estimate * (2 if sign else 1) + _SAFETY_BYTES
    out_path.parent.mkdir(parents=True, exist_ok=True)
    free = free_bytes(out_path.parent)
    if free < needed:
        raise DiskFullError(
            f"Not enough free disk space for {out_path.name}: about {needed / 1e6:.0f} MB are "
            f"needed and {free / 1e6:.0f} MB are free."
        )

    title = spec.title or out_path.stem
    metadata = export_metadata(title)
    pix_fmt = {"mp4": "yuv420p", "mov": "yuv422p10le"}.get(fmt, "rgb24")
    renderer = _Renderer(spec, infos, out_w, out_h, pix_fmt)
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
        settings.update(video_codec="h264", crf=_CRF[quality], audio_codec="aac")
    elif fmt == "mov":
        settings.update(
            video_codec="prores", prores_profile=_PRORES_PROFILE[quality], audio_codec="pcm_s16le"
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
                encoded = tmp.with_name(f"{TMP_PREFIX}enc-{tmp.name[len(TMP_PREFIX) :]}")
            try:
                with _open_output_file(encoded) as fh:
                    if fmt == "png":
                        assert frame_index is not None
                        rgb = renderer.rgb_frame(frame_index)
                        _check_cancel(cancel)
                        _write_png(fh, rgb, metadata, {"frame_index": str(frame_index)})
                    else:
                        _encode_av(
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
                _check_cancel(cancel)
                prog(span)
                # 5. Content Credentials
                cc: dict[str, Any] = {"embedded": False}
                too_big = sign and encoded.stat().st_size > C2PA_MAX_BYTES
                if too_big:
                    os.replace(encoded, tmp)
                    cc["reason"] = (
                        f"not embedded: the file is larger than {C2PA_MAX_BYTES >> 20} MB, "
                        "more than the signer can hold in memory"
                    )
                elif sign:
                    try:
                        _embed_c2pa(encoded, tmp, fmt, title, credentials or _default_credentials())
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
            _check_cancel(cancel)
            prog(0.995)
            # 6. sidecar, then the final rename (by atomic_path)
            os.chmod(tmp, 0o644)  # a file to share, not a private temp file (mkstemp: 0600)
            size = tmp.stat().st_size
            file_sha = sha256_file(tmp)
            side = _sidecar(spec, fmt, out_path, settings, infos, file_sha, size, cc)
            with atomic_path(sidecar_path) as side_tmp:
                os.chmod(side_tmp, 0o644)
                side_tmp.write_text(
                    json.dumps(side, indent=2, ensure_ascii=False, default=str) + "\n",
                    encoding="utf-8",
                )
    except (DiskFullError, Cancelled):
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            with contextlib.suppress(OSError):
                if not out_path.exists():
                    sidecar_path.unlink(missing_ok=True)
            raise DiskFullError(
                f"The disk is full: {out_path.name} could not be written "
                f"({free_bytes(out_path.parent) / 1e6:.0f} MB free)."
            ) from exc
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
    info = _probe(Path(video_path))
    return TimelineSpec(
        fps=info.fps,
        width=_even(info.width),
        height=_even(info.height),
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


__all__ = [
    "AI_LABEL",
    "AI_STATEMENT",
    "DIGITAL_SOURCE_TYPE",
    "FORMATS",
    "QUALITIES",
    "ClipSpec",
    "ExportResult",
    "SigningCredentials",
    "TimelineSpec",
    "c2pa_available",
    "estimate_bytes",
    "export_metadata",
    "export_timeline",
    "load_or_create_credentials",
    "make_signing_credentials",
    "read_content_credentials",
    "sidecar_path_for",
    "single_take_spec",
]
