"""Crash-safe voice capture (Qt-free).

Threads:

* PortAudio's callback thread copies each input block into a :class:`RingBuffer` and
  updates the latest levels. It never blocks, never touches the disk.
* A writer thread drains the ring into ``<recordings_dir>/<stem>.raw`` (float32 little
  endian, interleaved) as it is captured, flushes and fsyncs every ``flush_interval`` s and
  rewrites a small JSON sidecar ``<stem>.json`` (rate, channels, start time, identity,
  frames on disk). A process killed at any moment keeps everything up to the last fsync;
  :mod:`idlora_studio.recording.recovery` turns it back into a WAV on the next start.
* The caller's thread (the GUI) only reads :meth:`Recorder.levels`,
  :meth:`Recorder.envelope` and :meth:`Recorder.stats`, which return immediately.

:meth:`Recorder.stop` finalises the raw data into a 16-bit WAV next to it (written to a
temp name, fsynced, renamed), removes the raw file and marks the sidecar ``finished``; the
sidecar and WAV stay until the take is saved to the library or discarded
(:func:`idlora_studio.recording.recovery.discard`), so even a finished take that was never
saved is offered back after a crash.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.fsutil import (
    atomic_path,
    atomic_write_text,
    disk_full_message,
    free_bytes,
    is_disk_full,
)
from idlora_studio.recording.ringbuffer import SILENCE_DB, RingBuffer, block_levels

log = logging.getLogger(__name__)

RAW_SUFFIX = ".raw"
SIDECAR_SUFFIX = ".json"
WAV_SUFFIX = ".wav"
RAW_FORMAT = "f32le"
SIDECAR_VERSION = 1
CLIP_LEVEL = 0.999  # linear peak treated as clipping

# Raw files being written by a Recorder in this process; recovery skips them.
_ACTIVE_RAW: set[Path] = set()
_ACTIVE_LOCK = threading.Lock()


def active_raw_paths() -> set[Path]:
    with _ACTIVE_LOCK:
        return set(_ACTIVE_RAW)


@dataclass(frozen=True)
class Levels:
    """Latest block levels. ``seq`` grows with every captured block (0: none yet)."""

    peak_db: float = SILENCE_DB
    rms_db: float = SILENCE_DB
    clipped: bool = False  # this block reached full scale
    seq: int = 0
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class RecorderStats:
    frames_captured: int
    frames_written: int
    input_overflows: int  # blocks PortAudio flagged as input overflow (audio lost upstream)
    dropped_frames: int  # frames lost because the writer fell behind (ring buffer full)
    clip_blocks: int
    elapsed_s: float
    error: str | None


class RecorderError(RuntimeError):
    """Recording could not start or continue (device busy, disk full, ...)."""


def write_sidecar(path: Path, meta: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(meta, indent=1, sort_keys=True))


def raw_to_wav(
    raw: Path, wav: Path, samplerate: int, channels: int, frames: int | None = None
) -> int:
    """Convert raw float32 frames to a 16-bit PCM WAV atomically; returns frames written.

    A trailing partial frame (a write cut by a crash) is ignored. ``frames`` limits the
    conversion (``None``: everything on disk).
    """
    import soundfile as sf

    frame_bytes = 4 * channels
    on_disk = raw.stat().st_size // frame_bytes if raw.exists() else 0
    total = on_disk if frames is None else min(frames, on_disk)
    chunk = max(1, samplerate) * 5
    done = 0
    with atomic_path(wav) as tmp:
        with (
            sf.SoundFile(
                tmp, "w", samplerate=samplerate, channels=channels, subtype="PCM_16", format="WAV"
            ) as out,
            open(raw, "rb") as src,
        ):
            while done < total:
                n = min(chunk, total - done)
                data = np.frombuffer(src.read(n * frame_bytes), dtype="<f4")
                n = data.size // channels
                if n == 0:
                    break
                out.write(np.clip(data[: n * channels].reshape(n, channels), -1.0, 1.0))
                done += n
    return done


class Recorder:
    """Records one take at a time from a sounddevice input into ``recordings_dir``.

    ``stream_factory`` builds the input stream (default ``sounddevice.InputStream``); it is
    called with keyword arguments ``device, samplerate, channels, dtype, callback`` and must
    return an object with ``start``, ``stop`` and ``close``.
    """

    def __init__(
        self,
        recordings_dir: Path,
        *,
        ring_seconds: float = 20.0,
        flush_interval: float = 0.5,
        envelope_rate: int = 100,
        stream_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.recordings_dir = Path(recordings_dir)
        self.ring_seconds = ring_seconds
        self.flush_interval = flush_interval
        self.envelope_rate = envelope_rate
        self._stream_factory = stream_factory
        self._stream: Any = None
        self._ring: RingBuffer | None = None
        self._writer: threading.Thread | None = None
        self._stop_writer = threading.Event()
        self._levels = Levels()
        self._envelope: list[float] = []
        self._env_acc = 0.0
        self._env_count = 0
        self._env_bin = 480
        self._frames_captured = 0
        self._frames_written = 0
        self._input_overflows = 0
        self._clip_blocks = 0
        self._error: BaseException | None = None
        self._meta: dict[str, Any] = {}
        self._raw_path: Path | None = None
        self._sidecar_path: Path | None = None
        self._samplerate = 0
        self._channels = 0
        self._t0 = 0.0
        self._analyser: Callable[[np.ndarray], None] | None = None

    # --- state -------------------------------------------------------------------
    def set_analyser(self, analyser: Callable[[np.ndarray], None] | None) -> None:
        """Call ``analyser(block)`` from the writer thread with every captured block
        ((frames, channels) float32), after it is written. It must not block for long; an
        exception from it is logged and stops only the analysis, never the recording."""
        self._analyser = analyser

    @property
    def is_recording(self) -> bool:
        return self._stream is not None

    @property
    def raw_path(self) -> Path | None:
        return self._raw_path

    @property
    def sidecar_path(self) -> Path | None:
        return self._sidecar_path

    @property
    def samplerate(self) -> int:
        return self._samplerate

    @property
    def channels(self) -> int:
        return self._channels

    def levels(self) -> Levels:
        """The latest block's levels (returns at once; safe from any thread)."""
        return self._levels

    def envelope(self, max_points: int | None = None) -> np.ndarray:
        """Peak envelope of the take so far, one value in [0, 1] per 1/``envelope_rate`` s.

        With ``max_points`` only the most recent points are returned.
        """
        env = self._envelope
        n = len(env)
        if max_points is not None and n > max_points:
            return np.asarray(env[n - max_points : n], dtype=np.float32)
        return np.asarray(env[:n], dtype=np.float32)

    def stats(self) -> RecorderStats:
        ring = self._ring
        return RecorderStats(
            frames_captured=self._frames_captured,
            frames_written=self._frames_written,
            input_overflows=self._input_overflows,
            dropped_frames=ring.dropped_frames if ring is not None else 0,
            clip_blocks=self._clip_blocks,
            elapsed_s=self._elapsed(),
            error=None if self._error is None else str(self._error),
        )

    def error(self) -> BaseException | None:
        """An error the writer thread hit (e.g. disk full); recording data stops there."""
        return self._error

    def _elapsed(self) -> float:
        return self._frames_captured / self._samplerate if self._samplerate else 0.0

    # --- start / stop ------------------------------------------------------------
    def start(
        self,
        device: int | str | None = None,
        samplerate: int = 48000,
        channels: int = 1,
        identity_id: int | None = None,
    ) -> Path:
        """Open the input and start writing; returns the raw file's path.

        Raises :class:`RecorderError` (or ``AudioUnavailable``) when the device cannot be
        opened; no files are left behind in that case.
        """
        if self.is_recording:
            raise RecorderError("already recording")
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        stem = f"rec-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
        raw = self.recordings_dir / f"{stem}{RAW_SUFFIX}"
        sidecar = self.recordings_dir / f"{stem}{SIDECAR_SUFFIX}"
        self._reset(samplerate, channels)
        self._meta = {
            "version": SIDECAR_VERSION,
            "format": RAW_FORMAT,
            "samplerate": int(samplerate),
            "channels": int(channels),
            "started_at": now.isoformat(timespec="seconds"),
            "identity_id": identity_id,
            "device": None if device is None else str(device),
            "state": "recording",
            "frames": 0,
            "pid": os.getpid(),
            "raw": raw.name,
        }
        # Sidecar first: a raw file never exists without the metadata to read it.
        write_sidecar(sidecar, self._meta)
        raw.touch()
        with _ACTIVE_LOCK:
            _ACTIVE_RAW.add(raw)
        self._raw_path, self._sidecar_path = raw, sidecar
        try:
            factory = self._stream_factory
            if factory is None:
                from idlora_studio.recording.devices import sounddevice_module

                factory = sounddevice_module().InputStream
            stream = factory(
                device=device,
                samplerate=samplerate,
                channels=channels,
                dtype="float32",
                callback=self._callback,
            )
        except Exception as err:
            self._cleanup_files()
            raise RecorderError(
                f"Could not open the audio input ({device or 'default'}): {err}"
            ) from err
        self._stop_writer.clear()
        fh = open(raw, "ab")  # noqa: SIM115 - owned by the writer thread
        self._writer = threading.Thread(
            target=self._writer_loop, args=(fh,), name="recorder-writer", daemon=True
        )
        self._writer.start()
        try:
            stream.start()
        except Exception as err:
            self._stop_writer.set()
            self._writer.join()
            with contextlib.suppress(Exception):
                stream.close()
            self._cleanup_files()
            raise RecorderError(f"Could not start the audio input: {err}") from err
        self._stream = stream
        self._t0 = time.monotonic()
        return raw

    def stop(self) -> Path:
        """Stop capturing, write everything to disk and finalise a WAV; returns its path."""
        raw, sidecar = self._finish_capture()
        wav = raw.with_suffix(WAV_SUFFIX)
        try:
            frames = raw_to_wav(raw, wav, self._samplerate, self._channels)
        except Exception as exc:
            # libsndfile reports a full disk as "System error"; the free space tells.
            needed = raw.stat().st_size // 2 + 4096 if raw.exists() else 4096
            if not (is_disk_full(exc) or free_bytes(raw.parent) < needed):
                raise
            # The raw take and its sidecar stay: the recovery offers them at the next start.
            self._meta["state"] = "stopped"
            with contextlib.suppress(OSError):
                write_sidecar(sidecar, self._meta)
            with _ACTIVE_LOCK:
                _ACTIVE_RAW.discard(raw)  # offered back by the recovery, even in this process
            raise RecorderError(
                f"The recording could not be saved: {disk_full_message(raw.parent, needed)}. "
                "It is kept and will be offered again when the Studio next starts."
            ) from exc
        self._meta.update(state="finished", frames=frames, wav=wav.name)
        write_sidecar(sidecar, self._meta)
        raw.unlink(missing_ok=True)
        with _ACTIVE_LOCK:
            _ACTIVE_RAW.discard(raw)
        if self._error is not None:
            raise RecorderError(
                f"Recording stopped early: {self._error}. The part captured before was kept in {wav}."
            )
        return wav

    def abort(self) -> None:
        """Stop and delete the take."""
        if not self.is_recording:
            return
        self._finish_capture()
        self._cleanup_files()

    # --- internals -----------------------------------------------------------------
    def _reset(self, samplerate: int, channels: int) -> None:
        self._samplerate, self._channels = int(samplerate), int(channels)
        self._ring = RingBuffer(max(1, int(self.ring_seconds * samplerate)), channels)
        self._levels = Levels()
        self._envelope = []
        self._env_acc, self._env_count = 0.0, 0
        self._env_bin = max(1, int(samplerate // self.envelope_rate))
        self._frames_captured = 0
        self._frames_written = 0
        self._input_overflows = 0
        self._clip_blocks = 0
        self._error = None

    def _finish_capture(self) -> tuple[Path, Path]:
        if self._stream is None or self._raw_path is None or self._sidecar_path is None:
            raise RecorderError("not recording")
        stream, self._stream = self._stream, None
        try:
            stream.stop()
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        self._stop_writer.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        return self._raw_path, self._sidecar_path

    def _cleanup_files(self) -> None:
        for p in (self._raw_path, self._sidecar_path):
            if p is not None:
                p.unlink(missing_ok=True)
                p.with_suffix(WAV_SUFFIX).unlink(missing_ok=True)
        if self._raw_path is not None:
            with _ACTIVE_LOCK:
                _ACTIVE_RAW.discard(self._raw_path)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio thread: copy the block into the ring and update levels. Never blocks."""
        if status is not None and getattr(status, "input_overflow", False):
            self._input_overflows += 1
        ring = self._ring
        if ring is None:
            return
        ring.write(indata)
        self._frames_captured += frames
        peak_db, rms_db, peak = block_levels(indata)
        clipped = peak >= CLIP_LEVEL
        if clipped:
            self._clip_blocks += 1
        self._levels = Levels(
            peak_db=peak_db,
            rms_db=rms_db,
            clipped=clipped,
            seq=self._levels.seq + 1,
            elapsed_s=self._elapsed(),
        )

    def _add_envelope(self, data: np.ndarray) -> None:
        mono = np.max(np.abs(data), axis=1) if data.ndim == 2 else np.abs(data)
        i = 0
        n = mono.shape[0]
        while i < n:
            take = min(self._env_bin - self._env_count, n - i)
            self._env_acc = max(self._env_acc, float(mono[i : i + take].max()))
            self._env_count += take
            i += take
            if self._env_count >= self._env_bin:
                self._envelope.append(min(1.0, self._env_acc))
                self._env_acc, self._env_count = 0.0, 0

    def _writer_loop(self, fh: Any) -> None:
        ring = self._ring
        assert ring is not None and self._sidecar_path is not None
        last_sync = time.monotonic()
        unsynced = False
        try:
            while True:
                stopping = self._stop_writer.is_set()
                data = ring.read()
                if data.shape[0]:
                    if self._error is None:
                        try:
                            fh.write(data.astype("<f4", copy=False).tobytes())
                            self._frames_written += data.shape[0]
                            unsynced = True
                        except OSError as err:
                            self._error = err
                    self._add_envelope(data)
                    analyser = self._analyser
                    if analyser is not None:
                        try:
                            analyser(data)
                        except Exception:  # noqa: BLE001 - analysis never stops a recording
                            log.warning("recording analysis failed", exc_info=True)
                            self._analyser = None
                now = time.monotonic()
                if unsynced and (stopping or now - last_sync >= self.flush_interval):
                    try:
                        fh.flush()
                        os.fsync(fh.fileno())
                        self._meta["frames"] = self._frames_written
                        write_sidecar(self._sidecar_path, self._meta)
                    except OSError as err:
                        self._error = self._error or err
                    unsynced = False
                    last_sync = now
                if stopping and ring.available() == 0:
                    break
                if not data.shape[0]:
                    self._stop_writer.wait(0.01)
        finally:
            with contextlib.suppress(OSError):
                fh.close()
