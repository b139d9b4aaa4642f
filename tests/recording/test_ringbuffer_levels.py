"""Ring buffer, level maths and the recorder's data path with a scripted input stream."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from idlora_studio.recording.capture import Recorder
from idlora_studio.recording.ringbuffer import SILENCE_DB, RingBuffer, amplitude_to_db, block_levels

RATE = 48000


def sine(amplitude: float, freq: float = 1000.0, frames: int = 4800) -> np.ndarray:
    t = np.arange(frames) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32).reshape(-1, 1)


def test_sine_levels_in_dbfs() -> None:
    peak_db, rms_db, peak = block_levels(sine(0.5))
    assert peak_db == pytest.approx(-6.02, abs=0.02)
    assert rms_db == pytest.approx(-9.03, abs=0.02)
    assert peak == pytest.approx(0.5, abs=1e-3)
    full_db, full_rms, _ = block_levels(sine(1.0))
    assert full_db == pytest.approx(0.0, abs=0.01)
    assert full_rms == pytest.approx(-3.01, abs=0.02)


def test_silence_floors() -> None:
    assert block_levels(np.zeros((512, 1), np.float32))[:2] == (SILENCE_DB, SILENCE_DB)
    assert amplitude_to_db(0.0) == SILENCE_DB
    assert amplitude_to_db(0.1) == pytest.approx(-20.0)


def test_ring_wraps_and_keeps_order() -> None:
    ring = RingBuffer(10, 2)
    data = np.arange(40, dtype=np.float32).reshape(20, 2)
    assert ring.write(data[:7]) == 7
    np.testing.assert_array_equal(ring.read(5), data[:5])
    assert ring.write(data[7:15]) == 8  # wraps around the end of the array
    assert ring.available() == 10 and ring.free() == 0
    np.testing.assert_array_equal(ring.read(), data[5:15])
    assert ring.available() == 0
    assert ring.read().shape == (0, 2)


def test_ring_overflow_drops_new_frames_and_counts_them() -> None:
    ring = RingBuffer(8, 1)
    first = np.arange(6, dtype=np.float32).reshape(-1, 1)
    second = np.arange(100, 106, dtype=np.float32).reshape(-1, 1)
    assert ring.write(first) == 6
    assert ring.write(second) == 2
    assert ring.dropped_frames == 4
    out = ring.read()
    np.testing.assert_array_equal(out[:6], first)  # nothing already captured is overwritten
    np.testing.assert_array_equal(out[6:], second[:2])


class ScriptedStream:
    """Stands in for sounddevice.InputStream; the test pushes blocks through its callback."""

    instances: list[ScriptedStream] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.started = self.closed = False
        ScriptedStream.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def push(self, block: np.ndarray, overflow: bool = False) -> None:
        self.callback(block, block.shape[0], None, SimpleNamespace(input_overflow=overflow))


def test_recorder_levels_envelope_overflows_and_wav(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, stream_factory=ScriptedStream, flush_interval=0.05)
    raw = rec.start(device="fake", samplerate=RATE, channels=1, identity_id=7)
    stream = ScriptedStream.instances[-1]
    assert stream.started and stream.kwargs["dtype"] == "float32"
    meta = json.loads(raw.with_suffix(".json").read_text())
    assert meta["state"] == "recording" and meta["identity_id"] == 7 and meta["samplerate"] == RATE

    blocks = [sine(0.5, frames=480) for _ in range(50)] + [sine(1.0, frames=480)]
    for i, block in enumerate(blocks):
        stream.push(block, overflow=(i in (3, 9)))
    lv = rec.levels()
    assert lv.seq == 51 and lv.clipped
    assert lv.peak_db == pytest.approx(0.0, abs=0.01)
    stats = rec.stats()
    assert stats.input_overflows == 2
    assert stats.clip_blocks == 1
    assert stats.frames_captured == 51 * 480
    assert stats.elapsed_s == pytest.approx(51 * 480 / RATE)

    wav = rec.stop()
    assert stream.closed and not raw.exists()
    data, rate = sf.read(str(wav), dtype="float32")
    assert rate == RATE and data.shape[0] == 51 * 480
    expected = np.concatenate(blocks)[:, 0]
    np.testing.assert_allclose(data, np.clip(expected, -1, 1), atol=1.0 / 16384)
    env = rec.envelope()
    assert env.shape[0] == 51  # one point per 10 ms
    assert env[:50] == pytest.approx(0.5, abs=0.01) and env[50] == pytest.approx(1.0, abs=0.01)
    assert rec.envelope(max_points=5).shape[0] == 5
    meta = json.loads(wav.with_suffix(".json").read_text())
    assert meta["state"] == "finished" and meta["frames"] == 51 * 480


def test_slow_writer_counts_dropped_frames(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, stream_factory=ScriptedStream, ring_seconds=0.01)  # 480 frames
    rec.start(samplerate=RATE)
    stream = ScriptedStream.instances[-1]
    # Pushing faster than any writer could drain: the ring fills and new frames are dropped.
    for _ in range(200):
        stream.push(sine(0.25, frames=4800))
    stats = rec.stats()
    assert stats.dropped_frames > 0
    wav = rec.stop()
    written = sf.info(str(wav)).frames
    assert written + rec.stats().dropped_frames == 200 * 4800


def test_open_failure_leaves_no_files(tmp_path: Path) -> None:
    from idlora_studio.recording.capture import RecorderError

    def broken(**kwargs: Any) -> Any:
        raise OSError("device busy")

    rec = Recorder(tmp_path, stream_factory=broken)
    with pytest.raises(RecorderError, match="device busy"):
        rec.start()
    assert list(tmp_path.iterdir()) == []
    assert not rec.is_recording
