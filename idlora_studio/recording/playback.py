"""Play a recorded take back through a sounddevice OutputStream (Qt-free).

The file is read on a short-lived background thread and fed to PortAudio from its callback
thread, so :meth:`Player.play` returns at once. It uses its own output stream, never
``sounddevice.play`` (which shares one stream with ``sounddevice.rec``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class Player:
    """One take at a time. ``on_finished`` is called (from a worker thread) at the end."""

    def __init__(self, on_finished: Callable[[str | None], None] | None = None) -> None:
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._stream: Any = None
        self._data: np.ndarray | None = None
        self._pos = 0
        self._samplerate = 0
        self._generation = 0

    @property
    def is_playing(self) -> bool:
        return self._stream is not None

    @property
    def position_s(self) -> float:
        return self._pos / self._samplerate if self._samplerate else 0.0

    def play(self, path: Path, device: int | str | None = None) -> None:
        """Start playing ``path`` (stops what is playing)."""
        self.stop()
        with self._lock:
            self._generation += 1
            gen = self._generation
        threading.Thread(
            target=self._start, args=(Path(path), device, gen), name="player-open", daemon=True
        ).start()

    def stop(self) -> None:
        with self._lock:
            self._generation += 1
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.abort()
            with contextlib.suppress(Exception):
                stream.close()

    def _start(self, path: Path, device: int | str | None, gen: int) -> None:
        try:
            import soundfile as sf

            from idlora_studio.recording.devices import sounddevice_module

            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
            sd = sounddevice_module()
            self._data, self._pos, self._samplerate = data, 0, int(rate)
            stream = sd.OutputStream(
                device=device,
                samplerate=rate,
                channels=data.shape[1],
                dtype="float32",
                callback=self._callback,
                finished_callback=lambda: self._finished(gen, None),
            )
            with self._lock:
                if gen != self._generation:
                    stream.close()
                    return
                self._stream = stream
            stream.start()
        except Exception as err:  # noqa: BLE001 - reported to the caller's callback
            self._finished(gen, f"Could not play the recording: {err}")

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        data = self._data
        if data is None:
            outdata.fill(0)
            raise _stop_exception()
        n = min(frames, data.shape[0] - self._pos)
        outdata[:n] = data[self._pos : self._pos + n]
        if n < frames:
            outdata[n:] = 0
        self._pos += n
        if n < frames:
            raise _stop_exception()

    def _finished(self, gen: int, error: str | None) -> None:
        with self._lock:
            if gen != self._generation:
                return
            stream, self._stream = self._stream, None
        if stream is not None:  # closing is not allowed from PortAudio's own callback
            threading.Thread(target=_close_quietly, args=(stream,), daemon=True).start()
        if self._on_finished is not None:
            self._on_finished(error)


def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(Exception):
        stream.close()


def _stop_exception() -> BaseException:
    from idlora_studio.recording.devices import sounddevice_module

    return sounddevice_module().CallbackStop()
