"""Timeline export: every format decoded back, A/V sync through trims and reorders, labels,
sidecars, Content Credentials, progress, cancel and full disks.

Source clips are real MP4s from :func:`engine.media.video.write_mp4`. Each frame carries its
identity in a pattern that survives H.264: the top half holds eight bars (bits 0-5: frame
index, bit 6 always on, bit 7 off), the bottom half a clip level (A bright, B mid grey).
A "flash" frame is all white (bit 7 on) and has a click (a 2 ms burst) in the audio at the
same instant, so sync is measured on the decoded export.
"""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.export as E
import engine.export.credentials as export_c2pa
import engine.export.encode as export_encode
from engine.api import Cancelled, CancelToken, DiskFullError, InvalidRequestError, MediaError
from engine.export import ClipSpec, TimelineSpec, export_timeline
from engine.fsutil import sha256_file
from engine.media.video import probe_media, read_audio_track, read_video, write_mp4

FPS = 25
SR = 48_000
W, H = 64, 48
LEVEL = {"A": 240, "B": 128}


def _frame(index: int, clip: str, flash: bool) -> np.ndarray:
    f = np.zeros((H, W, 3), np.uint8)
    if flash:
        f[:] = 255
        return f
    bits = index | (1 << 6)
    for b in range(8):
        if bits >> b & 1:
            f[: H // 2, b * 8 : b * 8 + 8] = 255
    f[H // 2 :] = LEVEL[clip]
    return f


def _decode_frame(f: np.ndarray) -> tuple[str, int | None]:
    """('flash', None), ('gap', None) or (clip name, index) from a decoded frame."""
    h, w = f.shape[:2]
    grey = f.astype(np.float32).mean(axis=2)
    top, bottom = grey[: h // 2], grey[h // 2 :]
    bar_w = w // 8
    bits = [top[2:-2, b * bar_w + 2 : (b + 1) * bar_w - 2].mean() > 128 for b in range(8)]
    if bits[7]:
        return "flash", None
    if not bits[6]:
        assert grey.max() < 40, "expected a black gap frame"
        return "gap", None
    level = bottom[2:-2, 2:-2].mean()
    clip = min(LEVEL, key=lambda k: abs(LEVEL[k] - level))
    return clip, sum(1 << b for b in range(6) if bits[b])


def _make_clip(path: Path, clip: str, frames: int, flashes: tuple[int, ...]) -> Path:
    video = np.stack([_frame(i, clip, i in flashes) for i in range(frames)])
    audio = np.zeros((1, frames * SR // FPS), np.float32)
    for i in flashes:
        s = i * SR // FPS
        audio[0, s : s + 96] = 0.9  # a 2 ms burst at the flash frame's start
    write_mp4(path, video, FPS, audio, SR)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export-src")
    return {
        "A": _make_clip(d / "a.mp4", "A", 50, (10, 30)),
        "B": _make_clip(d / "b.mp4", "B", 50, (5, 25, 40)),
    }


RECIPE_A = {"schema": "idlora-studio/recipe", "prompt": {"full": "take A"}, "seed": 1}
RECIPE_B = {"schema": "idlora-studio/recipe", "prompt": {"full": "take B"}, "seed": 2}


def _timeline(clips: dict[str, Path], **kw: object) -> TimelineSpec:
    """B trimmed to [20, 45) first, a 5-frame gap, then A trimmed to [5, 35): 60 frames."""
    return TimelineSpec(
        fps=FPS,
        width=W,
        height=H,
        clips=(
            ClipSpec(clips["A"], 5, 35, 30, recipe=RECIPE_A, label="A"),
            ClipSpec(clips["B"], 20, 45, 0, recipe=RECIPE_B, label="B"),
        ),
        **kw,  # type: ignore[arg-type]
    )


def _expected() -> list[tuple[str, int | None]]:
    flashes = {"A": (10, 30), "B": (5, 25, 40)}
    out: list[tuple[str, int | None]] = []
    for name, start, end in (("B", 20, 45), ("gap", 0, 5), ("A", 5, 35)):
        for i in range(start, end):
            if name == "gap":
                out.append(("gap", None))
            elif i in flashes[name]:
                out.append(("flash", None))
            else:
                out.append((name, i))
    return out


def _click_times(audio: np.ndarray, rate: int) -> list[float]:
    env = np.abs(audio).max(axis=0)
    idx = np.flatnonzero(env > 0.3)
    times: list[float] = []
    last = -1e9
    for i in idx:
        if i - last > 0.1 * rate:
            times.append(i / rate)
        last = i
    return times


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["mp4", "mov"])
def test_video_export_frames_sync_labels_sidecar(
    fmt: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    seen: list[float] = []
    out = tmp_path / f"cut.{fmt}"
    result = export_timeline(_timeline(clips), out, fmt, progress=seen.append)

    # the file: size, frames, duration, codecs
    assert result.path == out and out.is_file() and result.frames == 60
    info = probe_media(out)
    assert (info.width, info.height, info.num_frames) == (W, H, 60)
    assert info.video_codec == ("h264" if fmt == "mp4" else "prores")
    assert info.audio_codec == ("aac" if fmt == "mp4" else "pcm_s16le")
    assert info.audio_rate == SR and info.audio_channels == 2
    assert info.video_duration_s == pytest.approx(2.4, abs=1e-6)
    assert info.audio_duration_s == pytest.approx(2.4, abs=0.03)

    # trims, reorder and the gap give exactly the expected pictures
    frames, fps = read_video(out)
    assert fps == FPS
    assert [_decode_frame(f) for f in frames] == _expected()

    # every flash has its click within one frame, and no other clicks exist
    audio, rate = read_audio_track(out)
    flash_t = [i / FPS for i, e in enumerate(_expected()) if e[0] == "flash"]
    clicks = _click_times(audio, rate)
    assert len(flash_t) == 4 and len(clicks) == len(flash_t), (flash_t, clicks)
    for ft, ct in zip(flash_t, clicks, strict=True):
        assert abs(ft - ct) <= 1 / FPS, (ft, ct)
    gap = audio[:, round(25 / FPS * rate) + 200 : round(30 / FPS * rate) - 200]
    assert np.abs(gap).max() < 0.01  # the gap is silent

    # the AI-generated label in the container and the sidecar
    assert info.metadata["ai_generated"] == "true"
    assert "AI-generated" in info.metadata["comment"]
    assert info.metadata["digital_source_type"].endswith("trainedAlgorithmicMedia")
    side = json.loads(result.sidecar_path.read_text())
    assert result.sidecar_path == tmp_path / f"cut.{fmt}.json"
    assert side["ai_generated"] is True and side["statement"].startswith("AI-generated")
    assert [c["recipe"] for c in side["timeline"]["clips"]] == [RECIPE_A, RECIPE_B]
    assert side["export"]["format"] == fmt and side["export"]["frames"] == 60
    assert side["export"]["quality"] == "high"
    assert side["output"]["sha256"] == result.sha256 == sha256_file(out)

    # progress: monotonic, ends at exactly 1.0
    assert seen and seen[-1] == 1.0
    assert all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"cut.{fmt}", f"cut.{fmt}.json"]


def test_content_credentials_embedded_and_valid(clips: dict[str, Path], tmp_path: Path) -> None:
    assert E.c2pa_available(), "c2pa-python should be installed in this environment"
    result = export_timeline(_timeline(clips), tmp_path / "cc.mp4")
    assert result.content_credentials
    cc = E.read_content_credentials(result.path)
    assert cc is not None and cc["validation_state"] == "Valid"
    actions = [
        a
        for assertion in cc["manifest"]["assertions"]
        if assertion["label"].startswith("c2pa.actions")
        for a in assertion["data"]["actions"]
    ]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == E.DIGITAL_SOURCE_TYPE
    side = json.loads(result.sidecar_path.read_text())
    assert side["content_credentials"]["embedded"] is True
    # signed with a persistent identity from a folder, created once (key readable by owner only)
    creds = E.load_or_create_credentials(tmp_path / "keys")
    assert creds == E.load_or_create_credentials(tmp_path / "keys")
    assert (tmp_path / "keys" / "c2pa-signer-key.pem").stat().st_mode & 0o077 == 0
    again = export_timeline(_timeline(clips), tmp_path / "k.wav", credentials=creds, progress=None)
    assert E.read_content_credentials(again.path)["validation_state"] == "Valid"  # type: ignore[index]


def test_wav_export_is_the_timeline_audio(clips: dict[str, Path], tmp_path: Path) -> None:
    from engine.media.audio import load_audio

    result = export_timeline(_timeline(clips, sample_rate=44_100), tmp_path / "mix.wav")
    audio, rate = load_audio(result.path)
    assert rate == 44_100 and audio.shape == (2, round(2.4 * 44_100))
    flash_t = [i / FPS for i, e in enumerate(_expected()) if e[0] == "flash"]
    clicks = _click_times(audio, rate)
    assert len(clicks) == 4
    assert all(abs(a - b) <= 1 / FPS for a, b in zip(flash_t, clicks, strict=True))
    head = result.path.read_bytes()[:512]
    assert b"INFO" in head and b"ICMT" in head and b"AI-generated" in head
    side = json.loads(result.sidecar_path.read_text())
    assert side["export"]["format"] == "wav" and side["ai_generated"] is True


def test_png_frame_and_text_chunks(clips: dict[str, Path], tmp_path: Path) -> None:
    # frame 40 of the timeline is A's frame 15 (A starts at 30 with in-point 5)
    result = export_timeline(_timeline(clips), tmp_path / "still.png", frame_index=40)
    img = Image.open(result.path)
    assert img.size == (W, H)
    assert _decode_frame(np.asarray(img.convert("RGB"))) == ("A", 15)
    assert img.text["ai_generated"] == "true"
    assert "AI-generated" in img.text["Comment"]
    gap = export_timeline(_timeline(clips), tmp_path / "gap.png", "png", frame_index=27)
    assert np.asarray(Image.open(gap.path)).max() == 0
    with pytest.raises(InvalidRequestError, match="outside the timeline"):
        export_timeline(_timeline(clips), tmp_path / "x.png", frame_index=60)


def test_scaling_letterboxes_other_shapes(clips: dict[str, Path], tmp_path: Path) -> None:
    spec = TimelineSpec(fps=FPS, width=W, height=H, clips=(ClipSpec(clips["A"], 0, 5, 0),))
    result = export_timeline(
        spec, tmp_path / "big.mp4", width=128, height=128, content_credentials=False
    )
    frames, _ = read_video(result.path)
    assert frames.shape == (5, 128, 128, 3)
    # 64x48 -> 128x96 centred: 16-pixel black bars above and below
    assert frames[:, :12].max() < 30 and frames[:, -12:].max() < 30
    assert _decode_frame(frames[3, 16:112]) == ("A", 3)
    side = json.loads(result.sidecar_path.read_text())
    assert side["content_credentials"] == {"embedded": False, "reason": "switched off"}


def test_single_take_export_matches_the_take(clips: dict[str, Path], tmp_path: Path) -> None:
    spec = E.single_take_spec(clips["B"], recipe=RECIPE_B)
    assert (spec.width, spec.height, spec.duration_frames) == (W, H, 50)
    result = export_timeline(spec, tmp_path / "take.mov", quality="small")
    info = probe_media(result.path)
    assert info.num_frames == 50 and info.video_duration_s == pytest.approx(2.0)
    frames, _ = read_video(result.path)
    assert _decode_frame(frames[7]) == ("B", 7) and _decode_frame(frames[25]) == ("flash", None)
    assert json.loads(result.sidecar_path.read_text())["export"]["prores_profile"] == 1


def test_late_in_point_seeks_frame_accurately(tmp_path: Path) -> None:
    # a 3 s clip with a key frame every 12 frames: an in-point at 2.2 s seeks, then decodes on
    import av

    src = tmp_path / "long.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.gop_size = 12
        for i in range(75):
            vf = av.VideoFrame.from_ndarray(_frame(i % 64, "A", False), format="rgb24")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
    with av.open(str(src)) as c:
        keys = [p.pts for p in c.demux(c.streams.video[0]) if p.is_keyframe]
    assert len(keys) >= 6
    spec = TimelineSpec(fps=FPS, width=W, height=H, clips=(ClipSpec(src, 55, 70, 0),))
    result = export_timeline(spec, tmp_path / "late.mp4", content_credentials=False)
    frames, _ = read_video(result.path)
    assert [_decode_frame(f) for f in frames] == [("A", i % 64) for i in range(55, 70)]
    audio, _ = read_audio_track(result.path)
    assert np.abs(audio).max() < 0.01  # a source without sound gives silence


# ----------------------------------------------------------------------------- failures


def test_cancel_mid_export_leaves_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    token = CancelToken()
    seen: list[float] = []

    def on_progress(p: float) -> None:
        seen.append(p)
        if p > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        export_timeline(_timeline(clips), tmp_path / "c.mp4", progress=on_progress, cancel=token)
    assert 0.3 < seen[-1] < 0.6
    assert list(tmp_path.iterdir()) == []


def test_not_enough_free_space_is_refused_before_writing(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.fsutil.free_bytes", lambda _p: 1_000_000)
    with pytest.raises(DiskFullError) as err:
        export_timeline(_timeline(clips), tmp_path / "x.mov")
    assert re.fullmatch(
        rf"disk full: \d+ MB needed in {tmp_path} \(for x.mov\), 1 MB free", str(err.value)
    )
    assert list(tmp_path.iterdir()) == []


class _FillingFile:
    """A real file that reports ENOSPC after some kilobytes, like a disk filling up."""

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


@pytest.mark.parametrize("fmt", ["mp4", "mov", "wav"])
def test_disk_filling_during_export_is_disk_full_error(
    fmt: str,
    clips: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(export_encode, "open_output_file", _FillingFile)
    with pytest.raises(DiskFullError, match=rf"disk full: \d+ MB needed in .*\(for full.{fmt}\)"):
        export_timeline(_timeline(clips), tmp_path / f"full.{fmt}", content_credentials=False)
    assert list(tmp_path.iterdir()) == []
    # FFmpeg keeps writing while it unwinds: PyAV must not print "exception being dropped"
    assert "Traceback" not in capfd.readouterr().err


def test_bad_requests_have_clear_errors(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        export_timeline(TimelineSpec(FPS, W, H), tmp_path / "e.mp4")
    with pytest.raises(InvalidRequestError, match="only 50 frames"):
        export_timeline(
            TimelineSpec(FPS, W, H, clips=(ClipSpec(clips["A"], 40, 60, 0),)), tmp_path / "e.mp4"
        )
    with pytest.raises(InvalidRequestError, match="invalid range"):
        export_timeline(
            TimelineSpec(FPS, W, H, clips=(ClipSpec(clips["A"], 10, 10, 0),)), tmp_path / "e.mp4"
        )
    with pytest.raises(InvalidRequestError, match="format"):
        export_timeline(_timeline(clips), tmp_path / "e.avi")
    with pytest.raises(InvalidRequestError, match="quality"):
        export_timeline(_timeline(clips), tmp_path / "e.mp4", quality="best")
    with pytest.raises(MediaError, match="gone.mp4"):
        export_timeline(
            TimelineSpec(FPS, W, H, clips=(ClipSpec(tmp_path / "gone.mp4", 0, 5, 0),)),
            tmp_path / "e.mp4",
        )
    assert list(tmp_path.iterdir()) == []


def test_importing_export_loads_neither_torch_nor_qt() -> None:
    code = (
        "import sys, engine, engine.export; "
        "bad = [m for m in ('torch', 'PySide6', 'diffusers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_unsigned_when_too_large_or_c2pa_missing(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_c2pa, "C2PA_MAX_BYTES", 1000)
    big = export_timeline(_timeline(clips), tmp_path / "big.mov")
    assert not big.content_credentials and E.read_content_credentials(big.path) is None
    side = json.loads(big.sidecar_path.read_text())
    assert "larger than" in side["content_credentials"]["reason"]
    assert side["ai_generated"] is True
    assert probe_media(big.path).metadata["ai_generated"] == "true"
    monkeypatch.setattr(export_c2pa, "c2pa_available", lambda: False)
    plain = export_timeline(_timeline(clips), tmp_path / "plain.mp4")
    reason = json.loads(plain.sidecar_path.read_text())["content_credentials"]["reason"]
    assert reason == "c2pa-python is not installed"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big.mov",
        "big.mov.json",
        "plain.mp4",
        "plain.mp4.json",
    ]
