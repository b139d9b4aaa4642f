"""Write and read finished clips: H.264 + AAC in MP4 through PyAV (FFmpeg).

``write_mp4`` is what the engine, the CLI and the Studio's export use for a take. It makes the
audio track exactly as long as the video (``num_frames / fps``): the waveform is resampled to
48 kHz, padded with silence or trimmed to the exact sample count, and the MP4 edit list hides
the AAC encoder's priming samples, so players start audio and video together and a decoder that
ignores the end trim still sees at most one AAC frame (1024 samples, 21 ms) more than the video.

Every write goes through :func:`engine.fsutil.atomic_path`: the final name only ever holds a
complete file. A full disk raises :class:`engine.api.DiskFullError` and leaves no temp file.

``read_video``, ``read_audio_track`` and ``probe_media`` decode what was written, for tests and
for the Studio's library and player.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from engine.api import DiskFullError, InvalidRequestError, MediaError
from engine.fsutil import FailOnceWriter, atomic_path, disk_full, is_disk_full
from engine.text import storable

#: Sample rate of the AAC track (the usual rate for video; 24 kHz input is upsampled so the
#: trailing AAC padding stays under one 0.04 s audio latent).
AAC_SAMPLE_RATE = 48_000
AAC_BITRATE = 192_000

#: Container keys every MP4 muxer writes natively; others need ``use_metadata_tags``.
_STANDARD_MP4_KEYS = frozenset(
    {
        "title",
        "comment",
        "description",
        "artist",
        "album",
        "album_artist",
        "composer",
        "copyright",
        "date",
        "genre",
        "encoder",
        "synopsis",
        "show",
        "episode_id",
        "network",
        "lyrics",
        "grouping",
        "keywords",
    }
)

# H.264 encoders in order of preference when the wheel lacks libx264.
_H264_ENCODERS = ("libx264", "h264", "h264_nvenc", "h264_qsv", "h264_amf", "h264_v4l2m2m")


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, as decoded by FFmpeg.

    Durations are in seconds; the audio fields are ``None``/0 when there is no audio track.
    ``audio_duration_s`` is the container's (edit-list-trimmed) duration of the audio track.
    """

    width: int
    height: int
    num_frames: int
    fps: float
    video_codec: str | None
    audio_codec: str | None
    audio_rate: int
    audio_channels: int
    video_duration_s: float
    audio_duration_s: float
    metadata: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers


def h264_encoder() -> str:
    import av

    available = av.codecs_available
    for name in _H264_ENCODERS:
        if name not in available:
            continue
        try:
            av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - not an encoder in this build
            continue
        return name
    raise MediaError("output.mp4", "this FFmpeg build has no H.264 encoder")


def fps_fraction(fps: float) -> Fraction:
    if not math.isfinite(fps) or fps <= 0:
        raise InvalidRequestError(f"The frame rate must be a positive number, not {fps}.")
    return Fraction(fps).limit_denominator(10_000)


def _even_frames(frames: np.ndarray) -> np.ndarray:
    """Pad odd width/height by one replicated pixel (yuv420p needs even dimensions)."""
    _, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise InvalidRequestError(
            f"Video frames must have shape (frames, height, width, 3), got {frames.shape}."
        )
    if frames.dtype != np.uint8:
        raise InvalidRequestError(f"Video frames must be uint8, got {frames.dtype}.")
    return np.ascontiguousarray(frames)


def _check_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[0] not in (1, 2):
        raise InvalidRequestError(
            f"Audio must have shape (channels, samples) with 1 or 2 channels, got {audio.shape}."
        )
    if sample_rate <= 0:
        raise InvalidRequestError(f"The audio sample rate must be positive, not {sample_rate}.")
    return np.clip(np.nan_to_num(audio), -1.0, 1.0)


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample float32 (C, N) with FFmpeg's swresample; returns float32 (C, ~N*out/in)."""
    if rate_in == rate_out or audio.shape[1] == 0:
        return audio
    import av

    layout = "mono" if audio.shape[0] == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate_out)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio), format="fltp", layout=layout)
    frame.sample_rate = rate_in
    frame.pts = 0
    chunks = [f.to_ndarray() for f in resampler.resample(frame)]
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    if not chunks:
        return np.zeros((audio.shape[0], 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def fit_audio(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Pad ``audio`` (C, N) with silence or trim it to exactly ``num_samples`` samples."""
    n = audio.shape[1]
    if n >= num_samples:
        return np.ascontiguousarray(audio[:, :num_samples])
    return np.pad(audio, ((0, 0), (0, num_samples - n)))


def _open_output_file(path: Path) -> IO[bytes]:
    """Open the temp file the muxer writes through (a seam tests use to simulate a full disk)."""
    return open(path, "w+b")  # noqa: SIM115 - closed by the caller


# ----------------------------------------------------------------------------- write


@dataclass(frozen=True)
class _Format:
    """How one kind of file is encoded."""

    container: str
    suffix: str
    video_codec: str
    pix_fmt: str
    video_options: dict[str, str]
    audio_codec: str
    audio_bit_rate: int | None
    options: dict[str, str]


def write_mp4(
    path: Path | str,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None,
    sample_rate: int,
    *,
    crf: int = 18,
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode ``frames`` and ``audio`` to an MP4 (H.264 yuv420p + AAC) at ``path``, atomically.

    ``frames``: uint8 (F, H, W, 3) RGB; odd sizes are padded by one edge pixel. ``audio``:
    float32 (C, N) in [-1, 1] at ``sample_rate`` with C in {1, 2}, or None for no audio track.
    The audio is resampled to 48 kHz and padded/trimmed to exactly ``F / fps`` seconds.
    ``metadata`` goes into the container (title, comment, ...; other keys are written as
    MP4 metadata tags). Raises :class:`DiskFullError` when the disk fills (no file is left),
    :class:`InvalidRequestError` for malformed inputs.
    """
    encoder = h264_encoder()
    if encoder == "libx264":
        video_options = {"crf": str(int(crf)), "preset": "medium"}
    else:
        video_options = {}
    fmt = _Format(
        container="mp4",
        suffix=".mp4",
        video_codec=encoder,
        pix_fmt="yuv420p",
        video_options=video_options,
        audio_codec="aac",
        audio_bit_rate=AAC_BITRATE,
        options={"movflags": "+faststart"},
    )
    _write(Path(path), frames, fps, audio, sample_rate, fmt, metadata)


def write_mov(
    path: Path | str,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None,
    sample_rate: int,
    *,
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode a QuickTime MOV for editors: ProRes 422 HQ (10-bit 4:2:2) + 16-bit PCM at 48 kHz.

    Same inputs, duration fitting, atomic write and disk-full handling as :func:`write_mp4`.
    PCM has no priming, so the decoded audio is exactly ``F / fps`` seconds long.
    """
    fmt = _Format(
        container="mov",
        suffix=".mov",
        video_codec="prores_ks",
        pix_fmt="yuv422p10le",
        video_options={"profile": "3", "vendor": "apl0"},
        audio_codec="pcm_s16le",
        audio_bit_rate=None,
        options={"movflags": "+faststart"},
    )
    _write(Path(path), frames, fps, audio, sample_rate, fmt, metadata)


def _write(
    path: Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None,
    sample_rate: int,
    fmt: _Format,
    metadata: dict[str, str] | None,
) -> None:
    frames = _even_frames(_check_frames(frames))
    rate = fps_fraction(fps)
    if audio is not None:
        audio = _check_audio(audio, sample_rate)
        num_samples = round(frames.shape[0] * AAC_SAMPLE_RATE / float(rate))
        audio = fit_audio(_resample(audio, sample_rate, AAC_SAMPLE_RATE), num_samples)
    meta = {storable(str(k)): storable(str(v)) for k, v in (metadata or {}).items()}
    try:
        with atomic_path(path, suffix=fmt.suffix) as tmp:
            _encode(tmp, frames, rate, audio, fmt, meta)
    except DiskFullError:
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            raise disk_full(path.parent, _size_estimate(frames, rate), path.name) from exc
        raise


def _size_estimate(frames: np.ndarray, rate: Fraction) -> int:
    """A generous size of the encoded file (0.5 bit per pixel, 48 kHz 16-bit stereo)."""
    n, h, w, _ = frames.shape
    return int(n * h * w * 0.5 / 8 + n / float(rate) * AAC_SAMPLE_RATE * 4) + (1 << 16)


def _encode(
    tmp: Path,
    frames: np.ndarray,
    rate: Fraction,
    audio: np.ndarray | None,
    fmt: _Format,
    metadata: dict[str, str],
) -> None:
    import av

    options = dict(fmt.options)
    if any(k not in _STANDARD_MP4_KEYS for k in metadata):
        options["movflags"] = options.get("movflags", "") + "+use_metadata_tags"
    with FailOnceWriter(_open_output_file(tmp)) as fh:
        container = av.open(fh, "w", format=fmt.container, options=options)
        try:
            for key, value in metadata.items():
                container.metadata[key] = value
            _, h, w, _ = frames.shape
            vstream = container.add_stream(fmt.video_codec, rate=rate)
            vstream.width = w
            vstream.height = h
            vstream.pix_fmt = fmt.pix_fmt
            if not fmt.video_options and fmt.video_codec.startswith("h264"):
                vstream.bit_rate = max(1_000_000, int(w * h * float(rate) * 0.15))
            vstream.options = dict(fmt.video_options)
            astream = None
            layout = "mono"
            if audio is not None:
                layout = "mono" if audio.shape[0] == 1 else "stereo"
                astream = container.add_stream(fmt.audio_codec, rate=AAC_SAMPLE_RATE, layout=layout)
                if fmt.audio_bit_rate:
                    astream.bit_rate = fmt.audio_bit_rate

            for i, frame in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts = i
                container.mux(vstream.encode(vf))
            container.mux(vstream.encode(None))

            if astream is not None and audio is not None:
                size = astream.codec_context.frame_size or 1024
                for start in range(0, audio.shape[1], size):
                    chunk = np.ascontiguousarray(audio[:, start : start + size])
                    af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
                    af.sample_rate = AAC_SAMPLE_RATE
                    af.pts = start
                    container.mux(astream.encode(af))
                container.mux(astream.encode(None))
        finally:
            container.close()
        fh.flush()


# ----------------------------------------------------------------------------- read


def open_input(path: Path):  # noqa: ANN202 - av container
    """Open a media file for reading with PyAV; :class:`MediaError` names it if that fails."""
    import av

    if not path.is_file():
        raise MediaError(path, "file not found (it may have been moved or deleted)")
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(path, f"cannot be read as media ({exc})") from exc


def read_video(path: Path | str) -> tuple[np.ndarray, float]:
    """Decode every video frame: returns uint8 RGB (F, H, W, 3) and the frame rate."""
    import av

    path = Path(path)
    container = open_input(path)
    try:
        if not container.streams.video:
            raise MediaError(path, "has no video track")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.base_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except av.FFmpegError as exc:
        raise MediaError(path, f"video could not be decoded ({exc})") from exc
    finally:
        container.close()
    if not frames:
        raise MediaError(path, "has no decodable video frames")
    return np.stack(frames), fps


def read_audio_track(path: Path | str) -> tuple[np.ndarray, int]:
    """Decode the first audio track as float32 (C, N) in [-1, 1] and its sample rate.

    Returns every sample the decoder produces (encoder priming is skipped via the edit list;
    the final AAC frame's padding is not trimmed, so N may exceed the track by < 1024).
    """
    import av

    path = Path(path)
    container = open_input(path)
    try:
        if not container.streams.audio:
            raise MediaError(path, "has no audio track")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        chunks = []
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if frame.format.is_planar:
                chunks.append(arr.reshape(len(frame.layout.channels), -1))
            else:
                chunks.append(arr.reshape(-1, len(frame.layout.channels)).T)
    except av.FFmpegError as exc:
        raise MediaError(path, f"audio could not be decoded ({exc})") from exc
    finally:
        container.close()
    if not chunks:
        return np.zeros((1, 0), np.float32), rate
    data = np.concatenate(chunks, axis=1)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    return data.astype(np.float32, copy=False), rate


def probe_media(path: Path | str) -> MediaInfo:
    """Describe a media file: size, frame count, rate, codecs, durations and metadata."""
    import av

    path = Path(path)
    container = open_input(path)
    try:
        metadata = {str(k): str(v) for k, v in container.metadata.items()}
        width = height = num_frames = 0
        fps = video_duration = audio_duration = 0.0
        video_codec = audio_codec = None
        audio_rate = audio_channels = 0
        if container.streams.video:
            vs = container.streams.video[0]
            width, height = vs.codec_context.width, vs.codec_context.height
            fps = float(vs.average_rate or vs.base_rate or 0)
            video_codec = vs.codec_context.name
            num_frames = int(vs.frames or 0)
            if num_frames == 0:
                num_frames = sum(1 for _ in container.demux(vs) if _.size)
            if vs.duration is not None and vs.time_base is not None:
                video_duration = float(vs.duration * vs.time_base)
            elif fps:
                video_duration = num_frames / fps
        if container.streams.audio:
            aus = container.streams.audio[0]
            audio_codec = aus.codec_context.name
            audio_rate = int(aus.codec_context.sample_rate)
            audio_channels = int(aus.codec_context.channels)
            if aus.duration is not None and aus.time_base is not None:
                audio_duration = float(aus.duration * aus.time_base)
    except av.FFmpegError as exc:
        raise MediaError(path, f"cannot be read as media ({exc})") from exc
    finally:
        container.close()
    if audio_codec is not None and audio_duration == 0.0:
        data, rate = read_audio_track(path)
        audio_duration = data.shape[1] / rate if rate else 0.0
    return MediaInfo(
        width=width,
        height=height,
        num_frames=num_frames,
        fps=fps,
        video_codec=video_codec,
        audio_codec=audio_codec,
        audio_rate=audio_rate,
        audio_channels=audio_channels,
        video_duration_s=video_duration,
        audio_duration_s=audio_duration,
        metadata=metadata,
    )
