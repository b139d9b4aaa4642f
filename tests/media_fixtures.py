"""Real media files for tests, made on the fly: tones, speech, every container, images, bad files.

Everything here writes a real file that real decoders read (PyAV/ffmpeg, Pillow, espeak-ng);
nothing is mocked. Helpers return the path they wrote so they chain:
``encode_audio(speech_wav(tmp / "s.wav", "hello"), tmp / "s.mp3")``.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from PIL import Image

# ----------------------------------------------------------------------------- audio


def _write_pcm16(path: Path, samples: np.ndarray, sr: int) -> Path:
    """Write float samples (channels, n) or (n,) as a 16-bit PCM WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(samples, dtype=np.float64)
    if data.ndim == 1:
        data = data[None, :]
    sf.write(str(path), np.clip(data, -1.0, 1.0).T, sr, subtype="PCM_16")
    return path


def tone_signal(
    freq: float = 440.0,
    seconds: float = 3.0,
    sr: int = 48000,
    channels: int = 1,
    amplitude: float = 0.5,
    lead_silence: float = 0.5,
    tail_silence: float = 0.5,
) -> np.ndarray:
    """A sine tone with digital silence before and after, shape (channels, samples), float64.

    ``amplitude`` above 1.0 gives a hard-clipped tone (values clamped to [-1, 1]).
    """
    t = np.arange(int(round(seconds * sr))) / sr
    tone = np.clip(amplitude * np.sin(2 * np.pi * freq * t), -1.0, 1.0)
    lead = np.zeros(int(round(lead_silence * sr)))
    tail = np.zeros(int(round(tail_silence * sr)))
    mono = np.concatenate([lead, tone, tail])
    return np.repeat(mono[None, :], channels, axis=0)


def tone_wav(
    path: Path,
    freq: float = 440.0,
    seconds: float = 3.0,
    sr: int = 48000,
    channels: int = 1,
    amplitude: float = 0.5,
    lead_silence: float = 0.5,
    tail_silence: float = 0.5,
) -> Path:
    """A 16-bit WAV of :func:`tone_signal`."""
    return _write_pcm16(
        path, tone_signal(freq, seconds, sr, channels, amplitude, lead_silence, tail_silence), sr
    )


def silence_wav(path: Path, seconds: float = 3.0, sr: int = 48000, channels: int = 1) -> Path:
    """Digital silence."""
    return _write_pcm16(path, np.zeros((channels, int(round(seconds * sr)))), sr)


def noise_signal(seconds: float, sr: int, rms: float, seed: int = 0) -> np.ndarray:
    """White Gaussian noise of the given RMS, shape (samples,)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(int(round(seconds * sr))) * rms


def write_wav(path: Path, samples: np.ndarray, sr: int) -> Path:
    """Any float signal (channels, n) or (n,) as a 16-bit WAV (clipped to [-1, 1])."""
    return _write_pcm16(path, samples, sr)


def speech_wav(
    path: Path,
    text: str = "Hello there, this is a short test of my voice for the studio.",
    *,
    voice: str = "en",
    speed: int = 150,
    lead_silence: float = 0.0,
    tail_silence: float = 0.0,
    noise_rms: float = 0.0,
) -> Path:
    """Real synthetic speech from espeak-ng (22050 Hz mono), optionally padded and noised."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(path.stem + ".espeak.wav")
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    data, sr = sf.read(str(raw), dtype="float64", always_2d=True)
    raw.unlink()
    mono = data[:, 0]
    mono = np.concatenate(
        [np.zeros(int(lead_silence * sr)), mono, np.zeros(int(tail_silence * sr))]
    )
    if noise_rms > 0:
        mono = mono + noise_signal(len(mono) / sr, sr, noise_rms)[: len(mono)]
    return _write_pcm16(path, mono, sr)


# encoder, container format, sample rate the encoder is given (None: keep), channels forced
_ENCODERS: dict[str, tuple[str, str, int | None, int | None]] = {
    ".mp3": ("libmp3lame", "mp3", None, None),
    ".m4a": ("aac", "ipod", None, None),
    ".aac": ("aac", "adts", None, None),
    ".flac": ("flac", "flac", None, None),
    # ffmpeg's own Vorbis encoder only does stereo; mono is upmixed at -3 dB per channel
    ".ogg": ("vorbis", "ogg", None, 2),
    ".opus": ("libopus", "opus", 48000, None),
    ".mp4": ("aac", "mp4", None, None),
    ".mov": ("aac", "mov", None, None),
    ".mkv": ("aac", "matroska", None, None),
    ".wav": ("pcm_s16le", "wav", None, None),
}


def encode_audio(
    src_wav: Path, dst_path: Path, *, with_video: bool | None = None, bitrate: int = 128_000
) -> Path:
    """Re-encode ``src_wav`` into the format named by ``dst_path``'s suffix, through PyAV.

    Supported: .mp3 (LAME), .m4a (AAC), .aac (ADTS), .flac, .ogg (Vorbis), .opus, .mp4/.mov
    (AAC plus a small MPEG-4 video stream, so the audio is not the only stream), .mkv, .wav.
    """
    dst_path = Path(dst_path)
    suffix = dst_path.suffix.lower()
    codec_name, fmt, force_rate, force_channels = _ENCODERS[suffix]
    if with_video is None:
        with_video = suffix in (".mp4", ".mov")
    dst_path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src_wav)) as src:
        in_stream = src.streams.audio[0]
        rate = force_rate or in_stream.codec_context.sample_rate
        channels = force_channels or in_stream.codec_context.channels
        layout = "mono" if channels == 1 else "stereo"
        with av.open(str(dst_path), "w", format=fmt) as out:
            stream = out.add_stream(codec_name, rate=rate, layout=layout)
            enc = stream.codec_context
            if codec_name == "vorbis":
                enc.options = {"strict": "experimental"}
            if codec_name not in ("flac", "pcm_s16le"):
                enc.bit_rate = bitrate
            fmt_name = enc.format.name if enc.format is not None else "fltp"
            resampler = av.AudioResampler(format=fmt_name, layout=layout, rate=rate)
            vstream = None
            if with_video:
                vstream = out.add_stream("mpeg4", rate=25)
                vstream.width = 64
                vstream.height = 64
                vstream.pix_fmt = "yuv420p"
            total_s = 0.0
            for frame in src.decode(in_stream):
                frame.pts = None
                for rf in resampler.resample(frame):
                    for packet in stream.encode(rf):
                        out.mux(packet)
                total_s += frame.samples / frame.sample_rate
            for rf in resampler.resample(None):
                for packet in stream.encode(rf):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
            if vstream is not None:
                n_frames = max(1, int(total_s * 25))
                img = np.full((64, 64, 3), 128, dtype=np.uint8)
                for i in range(n_frames):
                    vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                    vf.pts = i
                    vf.time_base = Fraction(1, 25)
                    for packet in vstream.encode(vf):
                        out.mux(packet)
                for packet in vstream.encode(None):
                    out.mux(packet)
    return dst_path


def truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a file cut off mid-way)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * fraction))])
    return Path(dst)


def text_file(path: Path, text: str = "This is not audio, just some text.\n" * 20) -> Path:
    """A text file under a media name (e.g. ``clip.wav``)."""
    Path(path).write_text(text)
    return Path(path)


def empty_file(path: Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def hour_long_wav_header(path: Path, *, sr: int = 8000, claimed_s: float = 3600.0) -> Path:
    """A WAV whose header declares ``claimed_s`` seconds of 16-bit mono, holding only 1 s of it.

    Decoders take the duration from the header, so this is "an hour of audio" in 9 kB.
    """
    data_bytes = int(claimed_s * sr) * 2
    header = b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", data_bytes)
    t = np.arange(sr) / sr
    body = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    Path(path).write_bytes(header + body)
    return Path(path)


def bogus_size_wav(src: Path, dst: Path, size: int = 0x7FFFFFFF) -> Path:
    """A copy of the PCM WAV ``src`` whose RIFF and ``data`` sizes hold ``size`` (the
    placeholder streaming writers leave when they cannot seek back to fill them in).

    With 22050 Hz mono 16-bit audio (espeak-ng's output) 0x7FFFFFFF reads as 13 h 31 min.
    """
    data = bytearray(Path(src).read_bytes())
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    data[4:8] = struct.pack("<I", size)
    pos = 12
    while pos + 8 <= len(data):
        kind, length = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if kind == b"data":
            data[pos + 4 : pos + 8] = struct.pack("<I", size)
            break
        pos += 8 + length + (length % 2)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def espeak_boundaries(path: Path, level: float = 1e-3) -> tuple[float, float]:
    """(first, last) time in seconds where a clean synthetic clip's samples exceed ``level``
    (-60 dBFS): where the speech really is, known by construction."""
    data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    idx = np.flatnonzero(np.abs(data).max(axis=1) > level)
    return idx[0] / sr, (idx[-1] + 1) / sr


def hour_long_flac(path: Path, *, sr: int = 8000, seconds: float = 3600.0) -> Path:
    """A real hour of 8 kHz mono FLAC (silence with a short tone every minute); ~1 s to make."""
    minute = np.zeros(sr * 60, dtype=np.int16)
    t = np.arange(sr // 2) / sr
    minute[: sr // 2] = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    with sf.SoundFile(
        str(path), "w", samplerate=sr, channels=1, subtype="PCM_16", format="FLAC"
    ) as f:
        for _ in range(int(seconds // 60)):
            f.write(minute)
    return Path(path)


# ----------------------------------------------------------------------------- images


def face_array() -> np.ndarray:
    """A real photograph of one person (scikit-image's public-domain astronaut), uint8 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def face_image(path: Path, *, quality: int = 92) -> Path:
    """The astronaut photo as JPEG (or PNG if the suffix says so)."""
    img = Image.fromarray(face_array())
    if Path(path).suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, quality=quality)
    else:
        img.save(path)
    return Path(path)


def two_faces_image(path: Path) -> Path:
    """Two copies of the astronaut side by side: two faces."""
    arr = face_array()
    Image.fromarray(np.concatenate([arr, arr[:, ::-1]], axis=1)).save(path)
    return Path(path)


def group_photo(
    path: Path,
    size: tuple[int, int] = (1600, 1200),
    face_widths: tuple[int, ...] = (160, 140, 70),
    background: str = "chelsea",
) -> Path:
    """A group photo composed of real photographs: head-and-shoulders cut-outs of the
    astronaut (faces about ``face_widths`` pixels wide, the middle one mirrored) standing
    in a row, at slightly different heights, before a real photo (``skimage.data``'s
    ``background``) scaled to ``size``. Returns the file (format from the suffix)."""
    from skimage import data

    w, h = size
    canvas = Image.fromarray(getattr(data, background)()).convert("RGB").resize((w, h))
    head = Image.fromarray(face_array()).crop((120, 10, 330, 260))  # face ~100 px wide
    x = int(w * 0.12)
    for i, face in enumerate(face_widths):
        person = head.resize((head.width * face // 100, head.height * face // 100))
        if i % 2:
            person = person.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        canvas.paste(person, (x, int(h * 0.3) + (i % 2) * int(h * 0.05)))
        x += person.width + int(w * 0.08)
    if Path(path).suffix.lower() in (".jpg", ".jpeg"):
        canvas.save(path, quality=92)
    else:
        canvas.save(path)
    return Path(path)


def no_face_image(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A gradient with a few flat shapes: no face anywhere."""
    w, h = size
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    arr = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
    arr[h // 4 : h // 2, w // 5 : w // 3] = (200, 30, 30)
    arr[h // 2 : 3 * h // 4, w // 2 : 3 * w // 4] = (30, 200, 60)
    Image.fromarray(arr).save(path)
    return Path(path)


def exif_rotated_jpeg(path: Path, size: tuple[int, int] = (200, 100)) -> Path:
    """A JPEG stored ``size`` (w, h) with EXIF orientation 6 (display rotated 90 degrees CW).

    The left half is red and the right half blue as stored; displayed, red is on top.
    """
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2 :] = (0, 0, 255)
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(path, quality=95, exif=exif.tobytes())
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, side: int = 30000) -> Path:
    """A valid ``side`` x ``side`` 1-bit PNG of zeros (~110 kB on disk; 900 Mpx decoded)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = bytes(1 + (side + 7) // 8)
    comp = zlib.compressobj(9)
    chunks = []
    rows_per_block = 1000
    block = row * rows_per_block
    for start in range(0, side, rows_per_block):
        n = min(rows_per_block, side - start)
        chunks.append(comp.compress(block if n == rows_per_block else row * n))
    chunks.append(comp.flush())
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    data += _png_chunk(b"IDAT", b"".join(chunks)) + _png_chunk(b"IEND", b"")
    Path(path).write_bytes(data)
    return Path(path)


def tiny_image(path: Path, size: tuple[int, int] = (40, 30)) -> Path:
    Image.new("RGB", size, (120, 80, 60)).save(path)
    return Path(path)
