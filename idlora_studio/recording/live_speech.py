"""Live speech measure for the recorder: Silero VAD on the captured blocks (Qt-free).

The recorder's writer thread calls :meth:`LiveSpeech.feed` with every block it drains from
the ring buffer; the GUI polls :meth:`LiveSpeech.snapshot`, which returns at once. The model
is built in the constructor, so build this object off the GUI thread (the dialog does it in
the task that opens the microphone).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechSnapshot:
    speech_s: float = 0.0  # seconds heard as speech so far
    speaking: bool = False  # speech in the last ~0.3 s
    silence_s: float = 0.0  # seconds since the last speech
    heard_s: float = 0.0  # seconds analysed so far


class LiveSpeech:
    """Counts the speech in a recording as it is captured."""

    def __init__(self, samplerate: int) -> None:
        from engine.voice.vad import StreamingVad

        self._vad = StreamingVad(samplerate)
        self._lock = threading.Lock()
        self._snapshot = SpeechSnapshot()
        self._failed = False

    @property
    def samplerate(self) -> int:
        return self._vad.sr

    def feed(self, block: np.ndarray) -> None:
        """Analyse a captured block ((frames,) or (frames, channels)); never raises."""
        if self._failed:
            return
        try:
            from engine.voice.vad import CHUNK_S

            self._vad.feed(block)
            vad = self._vad
            snap = SpeechSnapshot(
                speech_s=vad.speech_s,
                speaking=vad.speaking(),
                silence_s=vad.silence_s(),
                heard_s=len(vad.probabilities) * CHUNK_S,
            )
        except Exception:  # noqa: BLE001 - guidance is a help; capture must go on
            log.warning("live speech detection stopped", exc_info=True)
            self._failed = True
            return
        with self._lock:
            self._snapshot = snap

    def snapshot(self) -> SpeechSnapshot:
        with self._lock:
            return self._snapshot
