"""MP4 writing through PyAV: decode what was written and check it."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

from engine.api import DiskFullError, InvalidRequestError, MediaError
from engine.media import video as V


def _colour_frames(n: int, h: int = 64, w: int = 96) -> np.ndarray:
    """Solid, clearly different colours per frame."""
    rng = np.random.default_rng(n)
    colours = rng.integers(16, 240, size=(n, 3), dtype=np.uint8)
    return np.broadcast_to(colours[:, None, None, :], (n, h, w, 3)).copy()


def _tone(seconds: float, rate: int, channels: int = 2, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    mono = (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(mono[None], channels, axis=0)


@pytest.mark.parametrize(
    ("num_frames", "fps", "rate", "audio_factor"),
    [
        (9, 25.0, 24_000, 1.7),  # audio too long -> trimmed
        (17, 25.0, 48_000, 0.5),  # audio too short -> padded
        (121, 25.0, 24_000, 1.0),
        (121, 25.0, 48_000, 0.8),
        (33, 24.0, 16_000, 1.2),
    ],
)
def test_round_trip_sizes_codecs_and_equal_durations(
    tmp_path: Path, num_frames: int, fps: float, rate: int, audio_factor: float
) -> None:
    frames = _colour_frames(num_frames)
    audio = _tone(num_frames / fps * audio_factor, rate)
    out = tmp_path / "clip.mp4"
    V.write_mp4(out, frames, fps, audio, rate, metadata={"title": "take 1"})

    info = V.probe_media(out)
    assert (info.width, info.height) == (96, 64)
    assert info.num_frames == num_frames
    assert info.fps == pytest.approx(fps)
    assert info.video_codec == "h264"
    assert info.audio_codec == "aac"
    assert info.audio_channels == 2
    video_s = num_frames / fps
    assert info.video_duration_s == pytest.approx(video_s, abs=1e-3)
    # The container's audio duration is exact (edit list); raw decoding may add AAC padding.
    assert info.audio_duration_s == pytest.approx(video_s, abs=1e-3)

    decoded_frames, decoded_fps = V.read_video(out)
    assert decoded_frames.shape == (num_frames, 64, 96, 3)
    assert decoded_fps == pytest.approx(fps)

    samples, decoded_rate = V.read_audio_track(out)
    assert samples.shape[0] == 2
    assert abs(samples.shape[1] / decoded_rate - video_s) <= 0.04


def test_audio_content_and_padding_survive(tmp_path: Path) -> None:
    fps, n_frames, rate = 25.0, 50, 24_000  # 2.0 s of video
    audio = _tone(1.0, rate, hz=1000.0)  # 1 s of tone -> 1 s of silence appended
    out = tmp_path / "tone.mp4"
    V.write_mp4(out, _colour_frames(n_frames, 32, 32), fps, audio, rate)
    samples, decoded_rate = V.read_audio_track(out)
    first = samples[0, int(0.1 * decoded_rate) : int(0.9 * decoded_rate)]
    second = samples[0, int(1.1 * decoded_rate) : int(1.9 * decoded_rate)]
    rms_first = float(np.sqrt(np.mean(first**2)))
    assert rms_first == pytest.approx(0.4 / np.sqrt(2), rel=0.1)
    assert float(np.sqrt(np.mean(second**2))) < 0.01
    spectrum = np.abs(np.fft.rfft(first))
    peak_hz = np.argmax(spectrum) * decoded_rate / len(first)
    assert abs(peak_hz - 1000.0) < 5.0


def test_pixels_decode_close_to_written(tmp_path: Path) -> None:
    frames = _colour_frames(12)
    out = tmp_path / "px.mp4"
    V.write_mp4(out, frames, 25.0, None, 24_000, crf=18)
    decoded, _ = V.read_video(out)
    assert decoded.shape == frames.shape
    for written, got in zip(frames, decoded, strict=True):
        mse = np.mean((written.astype(np.float64) - got.astype(np.float64)) ** 2)
        psnr = 10 * np.log10(255.0**2 / max(mse, 1e-9))
        assert psnr > 35.0
    # Frames stay distinct and in order: each decoded frame is nearest to its own colour.
    means = decoded.reshape(12, -1, 3).mean(axis=1)
    targets = frames[:, 0, 0, :].astype(np.float64)
    nearest = np.argmin(((means[:, None, :] - targets[None]) ** 2).sum(-1), axis=1)
    assert nearest.tolist() == list(range(12))
    info = V.probe_media(out)
    assert info.audio_codec is None and info.audio_duration_s == 0.0


def test_odd_dimensions_are_padded_to_even(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    V.write_mp4(out, _colour_frames(3, 33, 45), 25.0, _tone(0.2, 24_000, channels=1), 24_000)
    info = V.probe_media(out)
    assert (info.width, info.height) == (46, 34)
    assert info.audio_channels == 1


def test_metadata_standard_and_custom_keys(tmp_path: Path) -> None:
    out = tmp_path / "meta.mp4"
    meta = {
        "title": "Ada says hello",
        "comment": "AI-generated with ID-LoRA Studio",
        "ai_generated": "true",
        "idlora_recipe_sha256": "ab" * 32,
    }
    V.write_mp4(out, _colour_frames(5), 25.0, _tone(0.2, 48_000), 48_000, metadata=meta)
    got = V.probe_media(out).metadata
    for key, value in meta.items():
        assert got.get(key) == value


def test_overwrite_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "a.mp4"
    V.write_mp4(out, _colour_frames(5), 25.0, None, 24_000)
    V.write_mp4(out, _colour_frames(9), 25.0, None, 24_000)
    assert V.probe_media(out).num_frames == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


class _FillingFile:
    """A real file that reports ENOSPC after a few kilobytes, like a full disk."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "w+b")  # noqa: SIM115
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > 4096:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._fh.write(data)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._fh, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_disk_full_raises_disk_full_error_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(V, "_open_output_file", _FillingFile)
    out = tmp_path / "full.mp4"
    noise = np.random.default_rng(0).integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(DiskFullError, match="full.mp4"):
        V.write_mp4(out, noise, 25.0, _tone(0.36, 24_000), 24_000)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_from_ffmpeg_oserror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(V, "_encode", fail)
    with pytest.raises(DiskFullError):
        V.write_mp4(tmp_path / "x.mp4", _colour_frames(2), 25.0, None, 24_000)
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(V, "_encode", fail)
    with pytest.raises(PermissionError):
        V.write_mp4(tmp_path / "x.mp4", _colour_frames(2), 25.0, None, 24_000)
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError):
        V.write_mp4(tmp_path / "x.mp4", np.zeros((2, 8, 8), np.uint8), 25.0, None, 24_000)
    with pytest.raises(InvalidRequestError):
        V.write_mp4(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32), 25.0, None, 24_000)
    with pytest.raises(InvalidRequestError):
        V.write_mp4(tmp_path / "x.mp4", _colour_frames(2), 0.0, None, 24_000)
    with pytest.raises(InvalidRequestError):
        V.write_mp4(
            tmp_path / "x.mp4", _colour_frames(2), 25.0, np.zeros((3, 100), np.float32), 24_000
        )
    assert list(tmp_path.iterdir()) == []


def test_reading_garbage_is_a_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(MediaError, match="bad.mp4"):
        V.probe_media(bad)
    with pytest.raises(MediaError, match="not found"):
        V.read_video(tmp_path / "missing.mp4")


def test_mov_prores_pcm_for_editors(tmp_path: Path) -> None:
    frames = _colour_frames(17)
    out = tmp_path / "edit.mov"
    V.write_mov(out, frames, 25.0, _tone(0.5, 24_000), 24_000, metadata={"ai_generated": "true"})
    info = V.probe_media(out)
    assert (info.video_codec, info.audio_codec) == ("prores", "pcm_s16le")
    assert (info.width, info.height, info.num_frames) == (96, 64, 17)
    assert info.metadata.get("ai_generated") == "true"
    samples, rate = V.read_audio_track(out)
    assert samples.shape[1] == round(17 / 25 * rate)  # PCM: exact, no priming or padding
    decoded, fps = V.read_video(out)
    assert fps == pytest.approx(25.0)
    mse = np.mean((decoded.astype(np.float64) - frames.astype(np.float64)) ** 2)
    assert 10 * np.log10(255.0**2 / max(mse, 1e-9)) > 35.0
