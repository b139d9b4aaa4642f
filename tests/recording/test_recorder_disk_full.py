"""``Recorder.stop()`` on a full disk: one sentence ("disk full: X MB needed in FOLDER"), and
the take is kept for the recovery to offer again (retryable), never lost."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import idlora_studio.recording.capture as capture
from idlora_studio.recording.capture import Recorder, RecorderError
from idlora_studio.recording.recovery import find_unfinished_recordings, recover
from tests.disk_fixtures import fill, small_disk
from tests.recording.test_ringbuffer_levels import RATE, ScriptedStream, sine


def _record(folder: Path, seconds: float) -> tuple[Recorder, Path]:
    rec = Recorder(folder, stream_factory=ScriptedStream, flush_interval=0.05)
    raw = rec.start(samplerate=RATE, channels=1)
    stream = ScriptedStream.instances[-1]
    for _ in range(int(seconds * RATE / 480)):
        stream.push(sine(0.3, frames=480))
    deadline = time.monotonic() + 30  # the writer has put everything on disk (fsynced)
    sidecar = raw.with_suffix(".json")
    while json.loads(sidecar.read_text()).get("frames") != int(seconds * RATE / 480) * 480:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return rec, raw


def _check_kept(folder: Path, raw: Path, err: RecorderError) -> None:
    assert re.search(rf"disk full: \d+ MB needed in {re.escape(str(folder))}", str(err))
    assert "offered again" in str(err)
    assert raw.exists() and not raw.with_suffix(".wav").exists()
    (found,) = find_unfinished_recordings(folder)
    assert found.path == raw and found.duration_s == pytest.approx(2.0, abs=0.05)


def test_stop_on_a_full_tmpfs_keeps_the_take(tmp_path: Path) -> None:
    with small_disk(tmp_path / "rec", "2m") as folder:
        rec, raw = _record(folder, 2.0)  # 2 s of float32 at 48 kHz: 384 kB of raw data
        filler = fill(folder, leave=0)
        with pytest.raises(RecorderError) as err:
            rec.stop()
        _check_kept(folder, raw, err.value)
        filler.unlink()  # space freed: the take is recovered whole
        wav = recover(find_unfinished_recordings(folder)[0])
        assert wav.is_file()


def test_libsndfile_system_error_on_a_full_disk_is_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libsndfile says only "System error" when a write fails; the free space tells."""
    import soundfile as sf

    rec, raw = _record(tmp_path, 2.0)

    def full(*_a: object, **_k: object) -> int:
        raise sf.LibsndfileError(2, "System error")  # what soundfile raises on ENOSPC

    monkeypatch.setattr(capture, "raw_to_wav", full)
    monkeypatch.setattr(capture, "free_bytes", lambda _p: 1000)
    with pytest.raises(RecorderError) as err:
        rec.stop()
    _check_kept(tmp_path, raw, err.value)
