"""Audio decoding, probing and WAV writing without Qt or torch.

Every common container and codec (WAV, MP3, M4A/AAC, FLAC, Ogg Vorbis, Opus, the audio
stream of MP4/MOV/MKV) is decoded through PyAV, which bundles ffmpeg. Resampling uses
ffmpeg's swresample through :class:`av.AudioResampler`. Samples come back as float32 arrays
shaped ``(channels, samples)`` in [-1, 1].

Every problem with an input file is raised as :class:`engine.api.MediaError` whose text
names the file and says what is wrong with it in words a user understands.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import numpy as np

from engine.api import MediaError
from engine.fsutil import atomic_write_bytes

# Decoded audio that falls short of the duration the file declares by more than this
# fraction (and this many seconds) counts as truncated.
_TRUNCATION_FRACTION = 0.9
_TRUNCATION_MIN_S = 0.25


@dataclass(frozen=True)
class AudioInfo:
    """What a file's headers say about its first audio stream.

    ``duration_s`` is the declared duration (None when the container does not say).
    """

    duration_s: float | None
    sample_rate: int
    channels: int
    codec: str
    container: str


@dataclass(frozen=True)
class DecodedAudio:
    """The result of :func:`decode_audio`: samples plus what was learned while decoding."""

    samples: np.ndarray  # float32 (channels, n) in [-1, 1]
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    declared_duration_s: float | None
    decoded_duration_s: float  # at the source rate, before resampling
    truncated: bool
    codec: str
    container: str


# ----------------------------------------------------------------------------- helpers


def _check_file(path: Path) -> None:
    if not path.exists():
        raise MediaError(path, "the file does not exist (it may have been moved or deleted)")
    if not path.is_file():
        raise MediaError(path, "this is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise MediaError(path, "the file is empty (0 bytes)")


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), "r")
    except av.error.InvalidDataError:
        raise MediaError(
            path, "this is not an audio file, or it is damaged: no known audio format was found"
        ) from None
    except av.error.EOFError:
        raise MediaError(path, "the file is truncated: it ends before its headers do") from None
    except av.error.PermissionError:
        raise MediaError(path, "the file cannot be read (permission denied)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(path, f"the file cannot be opened as media ({exc})") from None


def _audio_stream(path: Path, container: av.container.InputContainer) -> av.AudioStream:
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams})
        what = f" (it has only {', '.join(kinds)})" if kinds else ""
        raise MediaError(path, f"the file contains no audio stream{what}")
    return container.streams.audio[0]


def _declared_duration(
    stream: av.AudioStream, container: av.container.InputContainer
) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


# A RIFF size field holding one of these (or more) is a placeholder that streaming writers
# leave when they cannot seek back: the size is unknown, not a claim about the content.
_RIFF_PLACEHOLDER = 0x7FFFF000


@dataclass(frozen=True)
class _RiffSizes:
    declared_s: float | None  # what the data chunk claims (None: a placeholder)
    present_s: float  # what the bytes after the data chunk header can hold


def _riff_sizes(path: Path) -> _RiffSizes | None:
    """What a RIFF/WAVE file's ``data`` chunk claims, and what the file really holds.

    ffmpeg takes the claim (clamped to the file) as the duration; a file written by a
    streaming recorder carries placeholder sizes (0, 0x7FFFFFFF, 0xFFFFFFFF), which say
    nothing, and a plausible claim larger than the file means the file was cut off.
    """
    try:
        file_size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            riff_size = struct.unpack("<I", head[4:8])[0]
            byte_rate = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if kind == b"fmt ":
                    fmt = fh.read(size)
                    if len(fmt) < 16:
                        return None
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    if size % 2:
                        fh.seek(1, 1)
                elif kind == b"data":
                    if not byte_rate:
                        return None
                    present = max(0, file_size - fh.tell()) / byte_rate
                    placeholder = (
                        size == 0 or size >= _RIFF_PLACEHOLDER or riff_size >= _RIFF_PLACEHOLDER
                    )
                    return _RiffSizes(None if placeholder else size / byte_rate, present)
                else:
                    fh.seek(size + (size % 2), 1)
    except OSError:
        return None


def _is_lossless_pcm_container(container: av.container.InputContainer) -> bool:
    return container.format.name in ("wav", "w64", "aiff")


# ----------------------------------------------------------------------------- public API


def probe_audio(path: Path | str) -> AudioInfo:
    """Read the headers of ``path`` (no decoding) and describe its first audio stream."""
    path = Path(path)
    _check_file(path)
    with _open(path) as container:
        stream = _audio_stream(path, container)
        ctx = stream.codec_context
        duration = _declared_duration(stream, container)
        riff = _riff_sizes(path) if _is_lossless_pcm_container(container) else None
        if riff is not None:
            # what the file holds: a header may claim more (cut off) or hold a placeholder
            declared = riff.declared_s if riff.declared_s is not None else riff.present_s
            duration = min(declared, riff.present_s)
        return AudioInfo(
            duration_s=duration,
            sample_rate=int(ctx.sample_rate or 0),
            channels=int(ctx.channels or 0),
            codec=ctx.name,
            container=container.format.name,
        )


def decode_audio(
    path: Path | str,
    *,
    target_sr: int | None = None,
    mono: bool = False,
    max_duration_s: float | None = None,
    allow_truncated: bool = False,
) -> DecodedAudio:
    """Decode the first audio stream of ``path``; see :func:`load_audio` for the arguments.

    With ``allow_truncated`` a file that ends early (or whose last packets are damaged) gives
    the audio that could be decoded and ``truncated=True`` instead of an error. Nothing
    decodable at all is always an error.
    """
    path = Path(path)
    _check_file(path)
    limit_text = (
        f"the limit is {_fmt_duration(max_duration_s)}" if max_duration_s is not None else ""
    )
    with _open(path) as container:
        stream = _audio_stream(path, container)
        ctx = stream.codec_context
        src_sr = int(ctx.sample_rate or 0)
        declared = _declared_duration(stream, container)
        # The length to hold against the limit: the header's claim, except in a WAV, whose
        # content is judged by the bytes it holds (a placeholder or a cut-off file can claim
        # hours for seconds of audio).
        claimed = declared
        riff = _riff_sizes(path) if _is_lossless_pcm_container(container) else None
        if riff is not None:
            declared = riff.declared_s  # None for placeholders: nothing to be truncated from
            claimed = min(riff.declared_s or riff.present_s, riff.present_s)
        if max_duration_s is not None and claimed is not None and claimed > max_duration_s + 0.5:
            raise MediaError(
                path,
                f"the audio is {_fmt_duration(claimed)} long, too long to use ({limit_text})",
            )
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="fltp", rate=target_sr)
        chunks: list[np.ndarray] = []
        decoded_src_samples = 0
        broken = False
        bad_packets = 0

        def take(frames: list[av.AudioFrame]) -> None:
            for rf in frames:
                arr = rf.to_ndarray()
                if arr.ndim == 1:
                    arr = arr[None, :]
                chunks.append(arr.astype(np.float32, copy=False))

        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.error.InvalidDataError, av.error.EOFError):
                    # A damaged packet: note it and keep what the rest of the file gives.
                    broken = True
                    bad_packets += 1
                    if bad_packets > 50:
                        break
                    continue
                for frame in frames:
                    src_sr = frame.sample_rate or src_sr
                    decoded_src_samples += frame.samples
                    frame.pts = None
                    take(resampler.resample(frame))
                if (
                    max_duration_s is not None
                    and src_sr
                    and decoded_src_samples / src_sr > max_duration_s + 0.5
                ):
                    raise MediaError(
                        path,
                        "the audio is longer than "
                        f"{_fmt_duration(max_duration_s)}, too long to use ({limit_text})",
                    )
        except (av.error.InvalidDataError, av.error.EOFError):
            broken = True
        except av.error.FFmpegError as exc:
            if not chunks:
                raise MediaError(path, f"the audio data cannot be decoded ({exc})") from None
            broken = True
        take(resampler.resample(None))

        if not chunks or decoded_src_samples == 0:
            raise MediaError(
                path, "no audio could be decoded: the data is damaged or the file is truncated"
            )
        samples = np.concatenate(chunks, axis=1)
        decoded_s = decoded_src_samples / src_sr if src_sr else 0.0
        truncated = broken or (
            declared is not None
            and decoded_s < declared * _TRUNCATION_FRACTION
            and declared - decoded_s > _TRUNCATION_MIN_S
        )
        if truncated and not allow_truncated:
            if declared is not None and decoded_s < declared:
                detail = (
                    f"only {_fmt_duration(decoded_s)} of the declared "
                    f"{_fmt_duration(declared)} could be decoded"
                )
            else:
                detail = f"decoding stopped after {_fmt_duration(decoded_s)} on damaged data"
            raise MediaError(path, f"the file is truncated or damaged: {detail}")
        if not np.isfinite(samples).all():
            bad = int(np.size(samples) - np.count_nonzero(np.isfinite(samples)))
            raise MediaError(
                path,
                f"{bad} of its samples are not numbers (NaN or infinity); it cannot be used",
            )
        np.clip(samples, -1.0, 1.0, out=samples)
        source_channels = samples.shape[0]
        if mono and samples.shape[0] > 1:
            samples = samples.mean(axis=0, keepdims=True)
        return DecodedAudio(
            samples=np.ascontiguousarray(samples, dtype=np.float32),
            sample_rate=int(target_sr or src_sr),
            source_sample_rate=src_sr,
            source_channels=source_channels,
            declared_duration_s=declared,
            decoded_duration_s=decoded_s,
            truncated=bool(truncated),
            codec=ctx.name,
            container=container.format.name,
        )


def load_audio(
    path: Path | str,
    *,
    target_sr: int | None = None,
    mono: bool = False,
    max_duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 ``(channels, samples)`` in [-1, 1] and its sample rate.

    ``target_sr`` resamples (ffmpeg's swresample); None keeps the file's rate. ``mono``
    averages the channels. ``max_duration_s`` rejects longer audio: from the header when it
    declares a duration, otherwise while decoding (it stops as soon as the limit is passed).
    Raises :class:`MediaError` for a missing, empty, non-media, audio-less, truncated or
    damaged file, or one that is too long.
    """
    res = decode_audio(path, target_sr=target_sr, mono=mono, max_duration_s=max_duration_s)
    return res.samples, res.sample_rate


def _as_channels_first(samples: np.ndarray) -> np.ndarray:
    arr = np.asarray(samples)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"audio must be (samples,) or (channels, samples), got {arr.shape}")
    return arr


def encode_wav_bytes(samples: np.ndarray, sr: int, *, float32: bool = False) -> bytes:
    """Encode ``(channels, samples)`` or ``(samples,)`` float audio as a WAV file's bytes.

    16-bit PCM by default (values clipped to [-1, 1], rounded); ``float32=True`` writes
    IEEE float samples unchanged.
    """
    arr = _as_channels_first(samples)
    channels = arr.shape[0]
    if float32:
        body = np.ascontiguousarray(arr.T, dtype="<f4").tobytes()
        fmt_tag, width = 3, 4
    else:
        ints = np.round(np.clip(arr.astype(np.float64), -1.0, 1.0) * 32767.0).astype("<i2")
        body = np.ascontiguousarray(ints.T).tobytes()
        fmt_tag, width = 1, 2
    buf = io.BytesIO()
    fmt = struct.pack(
        "<HHIIHH", fmt_tag, channels, sr, sr * channels * width, channels * width, width * 8
    )
    buf.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE")
    buf.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
    buf.write(b"data" + struct.pack("<I", len(body)) + body)
    return buf.getvalue()


def write_wav(path: Path | str, samples: np.ndarray, sr: int, *, float32: bool = False) -> Path:
    """Write a WAV file atomically (temp file, fsync, rename); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, encode_wav_bytes(samples, sr, float32=float32))
    return path


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown length"
    if seconds >= 3600:
        h, rem = divmod(int(round(seconds)), 3600)
        m = rem // 60
        return f"{h} h {m:02d} min" if m else f"{h} h"
    if seconds >= 120:
        m, s = divmod(int(round(seconds)), 60)
        return f"{m} min {s:02d} s" if s else f"{m} min"
    return f"{seconds:.1f} s"


# ----------------------------------------------------------------------------- loudness


def integrated_loudness(samples: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS per ITU-R BS.1770-4, measured by ``pyloudnorm`` (the
    reference implementation people check against: K-weighting, 400 ms blocks with 75 %
    overlap, absolute gate at -70 LUFS, relative gate at -10 LU; channel weights 1.0 for the
    first three channels). Audio shorter than one 400 ms block is measured as one block.
    Returns ``-inf`` for silence or audio too quiet to pass the gates."""
    import pyloudnorm

    x = _as_channels_first(samples).astype(np.float64)
    n = x.shape[1]
    if n == 0 or not np.any(x):
        return float("-inf")
    meter = pyloudnorm.Meter(int(sr), block_size=min(0.4, n / sr))
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(meter.integrated_loudness(x.T))
    return value if np.isfinite(value) else float("-inf")
