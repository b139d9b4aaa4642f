"""The voice recorder dialog and the start-up offer of recordings a crash left behind.

Threads: audio arrives on PortAudio's thread and is written by the recorder's writer
thread; this dialog only polls :meth:`Recorder.levels` / :meth:`Recorder.envelope` from a
QTimer (40 Hz). Opening/closing the stream, finalising the WAV, the clip checks and saving
run as tasks on a QThreadPool; their results come back through queued signals. Nothing
here blocks the GUI thread for longer than a poll.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.voice.similarity import EXPLANATION as VOICE_MATCH_EXPLANATION
from idlora_studio.paths import Paths
from idlora_studio.recording.capture import Recorder
from idlora_studio.recording.devices import AudioUnavailable, InputDevice, list_input_devices
from idlora_studio.recording.live_speech import LiveSpeech, SpeechSnapshot
from idlora_studio.recording.playback import Player
from idlora_studio.recording.recovery import (
    UnfinishedRecording,
    discard,
    find_unfinished_recordings,
    recover,
)
from idlora_studio.settings import Settings
from idlora_studio.ui.widgets.level_meter import LevelMeter
from idlora_studio.ui.widgets.waveform import WaveformView

TARGET_S = 5.0
GUIDANCE = "ID-LoRA works best with about 5 seconds of clear speech."
POLL_MS = 25  # 40 Hz meter updates


def guidance_for(seconds: float) -> str:
    """What to tell the speaker after ``seconds`` of recording (used until the speech
    detector is ready, and where it is not available)."""
    if seconds < 3.0:
        return f"Keep talking. {GUIDANCE}"
    if seconds < 4.5:
        return "Almost there: a couple more seconds."
    if seconds < 8.0:
        return "Good length. You can stop now."
    if seconds < 15.0:
        return "That is enough; the best 5 s will be suggested."
    return "Long take: only about 5 s of it is used."


def guidance_for_speech(speech: SpeechSnapshot, elapsed_s: float) -> str:
    """What to tell the speaker from the speech heard so far (Silero VAD, live)."""
    got = f"{speech.speech_s:.1f} s of speech"
    if speech.speech_s < 0.3:
        if elapsed_s >= 2.0:
            return "No speech heard yet: check the microphone and start speaking."
        return f"Start speaking. {GUIDANCE}"
    if speech.speech_s < 3.0:
        if not speech.speaking and speech.silence_s >= 2.0:
            return f"{got} so far; the pause is long, keep talking."
        return f"{got} so far. Keep talking: about 5 seconds of clear speech works best."
    if speech.speech_s < 4.5:
        return f"{got}: almost there, a couple more seconds."
    if speech.speech_s < 8.0:
        return f"{got}: good length. You can stop now."
    if speech.speech_s < 15.0:
        return f"{got}: that is enough; the best 5 s will be suggested."
    return f"{got}: a long take; only about 5 s of it is used."


#: Voice match at or above this reads as "the same person" (espeak-ng fixtures: same voice
#: 0.87-0.95, different voices 0.61-0.81 with Resemblyzer GE2E; see the README).
SAME_PERSON = 0.84
UNSURE = 0.72


def match_sentence(score: float, n_clips: int) -> str:
    """How the recorder words a new take's voice match against the identity's clips."""
    of = "its clip" if n_clips == 1 else f"its {n_clips} clips"
    if score >= SAME_PERSON:
        return f"This sounds like the same person as {of}: voice match {score:.2f}."
    if score >= UNSURE:
        return (
            f"Voice match {score:.2f} against {of}: similar, but not clearly the same voice. "
            "A different microphone or room can do this."
        )
    return (
        f"Voice match only {score:.2f} against {of}: this may not be the same person, or the "
        "wrong microphone was used. Listen back before saving."
    )


def voice_match_against(take: Path, references: list[Path]) -> tuple[float, int]:
    """Similarity of ``take`` to the mean voice of ``references`` (run it on a worker)."""
    from engine.voice import similarity

    refs = [similarity.embed_file(p) for p in references]
    mean = np.mean([r.vector for r in refs], axis=0)
    return similarity.similarity(similarity.embed_file(take), mean), len(refs)


def format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{secs:04.1f}"


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


class _TaskRunner(QObject):
    """Runs callables on a private QThreadPool; results come back through queued signals.

    Each task reports through its own relay object living in the GUI thread, kept alive here
    until it has reported.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._relays: set[_Relay] = set()

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None],
    ) -> None:
        relay = _Relay()
        self._relays.add(relay)

        def finish(*_: object) -> None:
            self._relays.discard(relay)

        relay.done.connect(on_done)
        relay.failed.connect(on_failed)
        relay.done.connect(finish)
        relay.failed.connect(finish)

        def task() -> None:
            try:
                result = fn()
            except Exception as err:  # noqa: BLE001 - every failure is shown to the user
                relay.failed.emit(str(err) or type(err).__name__)
            else:
                relay.done.emit(result)

        self.pool.start(task)

    def wait(self, msecs: int = 10_000) -> bool:
        return self.pool.waitForDone(msecs)


def _default_check(path: Path) -> Any:
    from idlora_studio.library.audio_checks import check_voice_clip

    return check_voice_clip(path)


class RecorderDialog(QDialog):
    """Record a voice clip, hear it back, check it and save it to an identity.

    ``save_clip(path)`` is called on a worker thread with the finished WAV; whatever it
    returns is emitted as ``clip_saved``. ``check_clip(path)`` (default:
    :func:`idlora_studio.library.audio_checks.check_voice_clip`) runs on a worker after
    each take and returns a ``VoiceImport``.
    """

    clip_saved = Signal(object)
    take_finished = Signal(Path)
    check_finished = Signal(object)
    match_finished = Signal(object)  # (score, number of clips) or None
    state_changed = Signal(
        str
    )  # idle | starting | recording | finishing | checking | ready | saving

    def __init__(
        self,
        paths: Paths,
        settings: Settings,
        save_clip: Callable[[Path], object],
        parent: QWidget | None = None,
        *,
        identity_id: int | None = None,
        check_clip: Callable[[Path], Any] | None = None,
        reference_clips: Sequence[Path] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record a voice clip")
        self.paths = paths
        self.settings = settings
        self._save_clip = save_clip
        self._check_clip = check_clip or _default_check
        self.identity_id = identity_id
        self.recorder = Recorder(paths.recordings_dir)
        self._tasks = _TaskRunner(self)
        self._player_relay = _Relay(self)
        self._player_relay.done.connect(self._playback_finished)
        self.player = Player(on_finished=self._player_relay.done.emit)
        self.state = "idle"
        self.take: Path | None = None
        self.checked: Any = None
        self.saved_result: object = None
        self._last_seq = -1
        self._devices: list[InputDevice] = []
        self._close_pending = False  # close once the step in progress has finished
        self._keep_on_close = False  # "Stop and keep": the take stays for next time
        self.reference_clips = [Path(p) for p in reference_clips]
        self.match: tuple[float, int] | None = None
        self._live: LiveSpeech | None = None  # speech detector of the running take
        self._prepared: LiveSpeech | None = None  # one built ahead, for the next take

        self.device_combo = QComboBox()
        self.meter = LevelMeter()
        self.waveform = WaveformView()
        self.elapsed_label = QLabel("0:00.0")
        self.elapsed_label.setStyleSheet("font-size: 18pt; font-weight: bold;")
        self.guidance_label = QLabel(GUIDANCE)
        self.guidance_label.setWordWrap(True)
        self.warnings_label = QLabel()
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.PlainText)
        self.window_label = QLabel()
        self.match_label = QLabel()
        self.match_label.setWordWrap(True)
        self.match_label.setToolTip(VOICE_MATCH_EXPLANATION)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.record_button = QPushButton("Record")
        self.stop_button = QPushButton("Stop")
        self.play_button = QPushButton("Play back")
        self.save_button = QPushButton("Save to identity")
        self.close_button = QPushButton("Close")

        form = QFormLayout()
        form.addRow("Microphone", self.device_combo)
        form.addRow("Level", self.meter)
        top = QHBoxLayout()
        top.addWidget(self.elapsed_label)
        top.addWidget(self.guidance_label, 1)
        buttons = QHBoxLayout()
        for b in (self.record_button, self.stop_button, self.play_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.waveform, 1)
        layout.addLayout(top)
        layout.addWidget(self.window_label)
        layout.addWidget(self.match_label)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)

        self.record_button.clicked.connect(self.start_recording)
        self.stop_button.clicked.connect(self.stop_recording)
        self.play_button.clicked.connect(self.toggle_playback)
        self.save_button.clicked.connect(self.save)
        self.close_button.clicked.connect(self.reject)
        self.device_combo.currentIndexChanged.connect(self._device_chosen)

        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._poll)

        self.load_devices()
        self._set_state("idle")
        self._prepare_speech_detector()

    def _record_rate(self, dev: InputDevice | None = None) -> int:
        rate = int(self.settings.get("record_sample_rate") or 48000)
        if rate <= 0 and dev is not None:
            rate = int(dev.default_samplerate)
        return rate if rate > 0 else 48000

    def _prepare_speech_detector(self) -> None:
        """Build the live speech detector off the GUI thread while the user gets ready
        (loading torch and the model the first time takes a moment)."""
        rate = self._record_rate(self.selected_device())

        def ready(live: object) -> None:
            self._prepared = live if isinstance(live, LiveSpeech) else None

        self._tasks.run(lambda: LiveSpeech(rate), ready, lambda _msg: None)

    # --- devices ---------------------------------------------------------------------
    def load_devices(self) -> None:
        """(Re)fill the microphone list; shows the reason when there is none."""
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        try:
            self._devices = list_input_devices()
        except AudioUnavailable as err:
            self._devices = []
            self.status_label.setText(str(err))
        wanted = str(self.settings.get("input_device") or "")
        selected = 0
        for i, dev in enumerate(self._devices):
            self.device_combo.addItem(dev.label, dev.index)
            if (wanted and dev.name == wanted) or (not wanted and dev.is_default):
                selected = i
        if self._devices:
            self.device_combo.setCurrentIndex(selected)
        self.device_combo.blockSignals(False)

    def selected_device(self) -> InputDevice | None:
        i = self.device_combo.currentIndex()
        return self._devices[i] if 0 <= i < len(self._devices) else None

    def select_device(self, name: str) -> bool:
        for i, dev in enumerate(self._devices):
            if dev.name == name:
                self.device_combo.setCurrentIndex(i)
                return True
        return False

    def _device_chosen(self, index: int) -> None:
        dev = self.selected_device()
        if dev is not None:
            self.settings.set("input_device", dev.name)

    # --- state -------------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        self.state = state
        have_device = bool(self._devices)
        self.record_button.setEnabled(state in ("idle", "ready") and have_device)
        self.stop_button.setEnabled(state == "recording")
        self.play_button.setEnabled(state == "ready" and self.take is not None)
        self.save_button.setEnabled(
            state == "ready" and self.take is not None and self.checked is not None
        )
        self.device_combo.setEnabled(state in ("idle", "ready"))
        self.state_changed.emit(state)
        self._set_state_and_maybe_close(state)

    def _show_error(self, message: str) -> None:
        self.status_label.setText(message)

    # --- recording -----------------------------------------------------------------
    def start_recording(self) -> None:
        dev = self.selected_device()
        if dev is None or self.state not in ("idle", "ready"):
            return
        self.player.stop()
        if self.take is not None and self.saved_result is None:
            discard(self.take)  # a new take replaces the unsaved one
        self.take, self.checked, self.saved_result = None, None, None
        self.match = None
        self.waveform.clear()
        self.warnings_label.clear()
        self.window_label.clear()
        self.match_label.clear()
        self.status_label.setText("Opening the microphone...")
        self.meter.reset()
        self._last_seq = -1
        self._set_state("starting")
        rate = self._record_rate(dev)
        prepared, self._prepared = self._prepared, None

        def start() -> object:
            live = prepared
            if live is None or live.samplerate != rate:
                try:
                    live = LiveSpeech(rate)
                except Exception:  # noqa: BLE001 - record without live speech guidance
                    live = None
            self._live = live
            self.recorder.set_analyser(live.feed if live is not None else None)
            return self.recorder.start(
                device=dev.index, samplerate=rate, channels=1, identity_id=self.identity_id
            )

        self._tasks.run(start, self._started, self._start_failed)

    def _started(self, raw: object) -> None:
        self.status_label.setText("Recording...")
        self._set_state("recording")
        self.timer.start()

    def _start_failed(self, message: str) -> None:
        self._show_error(message)
        self._set_state("idle")

    def _poll(self) -> None:
        rec = self.recorder
        lv = rec.levels()
        if lv.seq != self._last_seq and lv.seq > 0:
            self._last_seq = lv.seq
            self.meter.set_levels(lv.peak_db, lv.rms_db, lv.clipped)
        elapsed = lv.elapsed_s
        self.elapsed_label.setText(format_elapsed(elapsed))
        live = self._live
        if live is not None:
            self.guidance_label.setText(guidance_for_speech(live.snapshot(), elapsed))
        else:
            self.guidance_label.setText(guidance_for(elapsed))
        env = rec.envelope()
        # show at least the target length so the take visibly fills toward ~5 s
        span = max(TARGET_S * 1.5, elapsed)
        pad = max(0, int(span * rec.envelope_rate) - env.size)
        self.waveform.set_peaks(np.pad(env, (0, pad)), duration_s=span)
        stats = rec.stats()
        if stats.error:
            self._show_error(f"Recording problem: {stats.error}")
        elif stats.input_overflows or stats.dropped_frames:
            self.status_label.setText(
                f"Recording... ({stats.input_overflows} input overflows, "
                f"{stats.dropped_frames} frames dropped: the computer is busy)"
            )

    def stop_recording(self) -> None:
        if self.state != "recording":
            return
        self._set_state("finishing")
        self.status_label.setText("Finishing the recording...")
        self._tasks.run(self.recorder.stop, self._stopped, self._stop_failed)

    def _stopped(self, wav: object) -> None:
        self.timer.stop()
        self._poll()
        self._live = None
        self.recorder.set_analyser(None)
        self._prepare_speech_detector()
        assert isinstance(wav, Path)
        self.take = wav
        self.take_finished.emit(wav)
        self.status_label.setText("Checking the take...")
        self._set_state("checking")
        check = self._check_clip
        self._tasks.run(lambda: check(wav), self._checked, self._check_failed)

    def _stop_failed(self, message: str) -> None:
        self.timer.stop()
        self._live = None
        self.recorder.set_analyser(None)
        self._show_error(message)
        self._set_state("idle")

    def _checked(self, result: object) -> None:
        self.checked = result
        peaks = getattr(result, "peaks", ())
        duration = float(getattr(result, "duration_s", 0.0))
        if peaks:
            self.waveform.set_peaks(peaks, duration_s=duration)
        window = getattr(result, "best_window", None)
        if window:
            self.waveform.set_highlight(window[0], window[1])
            self.window_label.setText(
                f"Kept {duration:.1f} s after trimming silence. "
                f"Suggested 5 s window: {window[0]:.1f} s - {window[1]:.1f} s (shaded)."
            )
        warnings = tuple(getattr(result, "warnings", ()))
        self.warnings_label.setText("\n".join(f"! {w}" for w in warnings))
        self.status_label.setText("Ready: play it back or save it to the identity.")
        self.check_finished.emit(result)
        self._set_state("ready")
        self.score_take()

    def score_take(self) -> None:
        """Score the take against the identity's existing clips on a worker (catches a wrong
        microphone or the wrong person before the clip is saved)."""
        take, refs = self.take, [p for p in self.reference_clips if p.is_file()]
        if take is None or not refs:
            return
        self.match_label.setText("Comparing the voice with the identity's clips...")

        def done(result: object) -> None:
            if self.take != take:
                return  # a newer take replaced it
            assert isinstance(result, tuple)
            self.match = (float(result[0]), int(result[1]))
            self.match_label.setText(match_sentence(*self.match))
            self.match_finished.emit(self.match)

        def failed(message: str) -> None:
            self.match_label.setText(f"The voice could not be compared: {message}")
            self.match_finished.emit(None)

        self._tasks.run(lambda: voice_match_against(take, refs), done, failed)

    def _check_failed(self, message: str) -> None:
        self.checked = None
        self._show_error(f"This take cannot be used: {message}")
        self.check_finished.emit(None)
        self._set_state("ready")

    # --- playback ------------------------------------------------------------------
    def toggle_playback(self) -> None:
        if self.player.is_playing:
            self.player.stop()
            self.play_button.setText("Play back")
            return
        if self.take is None or self.state != "ready":
            return
        self.play_button.setText("Stop playback")
        self.player.play(self.take)

    def _playback_finished(self, error: object) -> None:
        self.play_button.setText("Play back")
        if error:
            self._show_error(str(error))

    # --- saving ----------------------------------------------------------------------
    def save(self) -> None:
        if self.take is None or self.checked is None or self.state != "ready":
            return
        self.player.stop()
        take = self.take
        self._set_state("saving")
        self.status_label.setText("Saving...")
        save = self._save_clip
        self._tasks.run(lambda: save(take), self._saved, self._save_failed)

    def _saved(self, result: object) -> None:
        if self.take is not None:
            discard(self.take)  # the library holds its own copy now
        self.saved_result = result if result is not None else True
        self.take = None
        self.status_label.setText("Saved to the identity.")
        self.clip_saved.emit(result)
        self._set_state("idle")

    def _save_failed(self, message: str) -> None:
        self._show_error(f"Could not save: {message} (the recording is kept).")
        self._set_state("ready")

    # --- closing -----------------------------------------------------------------------
    # Close, Esc and the title bar's X all come here (QDialog routes them to reject()). A
    # recording in progress or a take not saved yet is never dropped without asking; while
    # the stream opens or a take is finished, checked or saved, the close waits for that
    # step and then asks, if there is still something to ask about.
    KEEP_RECORDING = "Keep recording"
    STOP_AND_KEEP = "Stop and keep"
    KEEP_FOR_LATER = "Keep for later"
    DISCARD = "Discard"
    CANCEL = "Cancel"

    def _ask(self, title: str, text: str, choices: tuple[str, ...], default: str) -> str:
        """Show a question with ``choices`` as buttons; returns the chosen label (Esc or
        closing the box gives the last choice, the one that changes nothing)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=self)
        buttons = {}
        for label in choices:
            role = (
                QMessageBox.ButtonRole.DestructiveRole
                if label == self.DISCARD
                else QMessageBox.ButtonRole.RejectRole
                if label == choices[-1]
                else QMessageBox.ButtonRole.AcceptRole
            )
            buttons[box.addButton(label, role)] = label
        box.setDefaultButton(next(b for b, lab in buttons.items() if lab == default))
        box.exec()
        return buttons.get(box.clickedButton(), choices[-1])

    def request_close(self) -> bool:
        """Close if nothing would be lost, or after asking; True when the dialog closed (or
        will close as soon as the step in progress ends)."""
        if self.state in ("starting", "finishing", "checking", "saving"):
            self._close_pending = True
            self.status_label.setText("Closing when this step has finished…")
            return True
        if self.state == "recording":
            answer = self._ask(
                "Recording in progress",
                "A recording is in progress. Stop it and keep it? A kept take is offered "
                "again the next time the Studio starts.",
                (self.STOP_AND_KEEP, self.DISCARD, self.KEEP_RECORDING),
                self.STOP_AND_KEEP,
            )
            if answer == self.KEEP_RECORDING:
                return False
            if answer == self.DISCARD:
                self.timer.stop()
                with contextlib.suppress(Exception):
                    self.recorder.abort()
                self._finish_close()
                return True
            self._close_pending = True
            self._keep_on_close = True
            self.stop_recording()
            return True
        if self.take is not None and self.saved_result is None and not self._keep_on_close:
            answer = self._ask(
                "Unsaved recording",
                "This take was not saved to the identity. Keep it to be offered again the "
                "next time the Studio starts, or discard it?",
                (self.KEEP_FOR_LATER, self.DISCARD, self.CANCEL),
                self.KEEP_FOR_LATER,
            )
            if answer == self.CANCEL:
                return False
            if answer == self.DISCARD:
                discard(self.take)
                self.take = None
        self._finish_close()
        return True

    def _set_state_and_maybe_close(self, state: str) -> None:
        if self._close_pending and state in ("idle", "ready", "recording"):
            self._close_pending = False
            if not self.request_close() or self.isVisible():
                self.status_label.setText("Ready: play it back or save it to the identity.")

    def _finish_close(self) -> None:
        self._close_pending = False
        self.shutdown()
        super().reject()

    def shutdown(self) -> None:
        """Stop timers, playback and any recording (deleting an unfinished take)."""
        self.timer.stop()
        self.player.stop()
        if self.recorder.is_recording:
            with contextlib.suppress(Exception):
                self.recorder.abort()
        self._tasks.wait()

    def reject(self) -> None:  # Esc, the Close button, the title bar's X
        self.request_close()


# --- start-up offer of recordings left by a crash ----------------------------------------


class RecoveredRecordingsDialog(QDialog):
    """Lists takes left in the recordings folder; recover them to an identity or discard.

    ``save_clip(identity_id, wav)`` stores a recovered WAV (called on a worker thread).
    ``identities`` lists (id, name) for takes that do not say which identity they were for.
    """

    def __init__(
        self,
        takes: list[UnfinishedRecording],
        save_clip: Callable[[int, Path], object] | None,
        identities: list[tuple[int, str]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Recordings found from last time")
        self.takes = list(takes)
        self._save = save_clip
        self._tasks = _TaskRunner(self)
        self.results: dict[Path, str] = {}
        self.list = QListWidget()
        for take in self.takes:
            item = QListWidgetItem(take.label)
            item.setData(Qt.ItemDataRole.UserRole, take)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        self.identity_combo = QComboBox()
        for ident, name in identities:
            self.identity_combo.addItem(name, ident)
        self.status = QLabel(
            "The Studio stopped while these voice recordings were open. "
            "Recover the checked ones, or discard them."
        )
        self.status.setWordWrap(True)
        self.recover_button = QPushButton("Recover checked")
        self.discard_button = QPushButton("Discard checked")
        self.later_button = QPushButton("Later")
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.list)
        form = QFormLayout()
        form.addRow("Save takes without an identity to", self.identity_combo)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.recover_button)
        row.addWidget(self.discard_button)
        row.addStretch(1)
        row.addWidget(self.later_button)
        layout.addLayout(row)
        self.recover_button.clicked.connect(self.recover_checked)
        self.discard_button.clicked.connect(self.discard_checked)
        self.later_button.clicked.connect(self.reject)

    def checked_takes(self) -> list[UnfinishedRecording]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def recover_checked(self) -> None:
        takes = self.checked_takes()
        fallback = self.identity_combo.currentData()
        save = self._save

        def work() -> dict[Path, str]:
            done: dict[Path, str] = {}
            for take in takes:
                try:
                    wav = recover(take)
                    ident = take.identity_id if take.identity_id is not None else fallback
                    if save is not None and ident is not None:
                        save(int(ident), wav)
                        discard(take)
                        done[take.path] = "saved"
                    else:
                        done[take.path] = f"recovered to {wav}"
                except Exception as err:  # noqa: BLE001 - reported per take
                    done[take.path] = f"failed: {err}"
            return done

        self._busy(True)
        self._tasks.run(work, self._finished, self._failed)

    def discard_checked(self) -> None:
        for take in self.checked_takes():
            discard(take)
            self.results[take.path] = "discarded"
        self.accept()

    def _busy(self, busy: bool) -> None:
        for b in (self.recover_button, self.discard_button, self.later_button):
            b.setEnabled(not busy)

    def _finished(self, results: object) -> None:
        assert isinstance(results, dict)
        self.results.update(results)
        failed = [f"{p.name}: {r}" for p, r in results.items() if r.startswith("failed")]
        self._busy(False)
        if failed:
            self.status.setText("Some takes could not be recovered:\n" + "\n".join(failed))
            return
        self.accept()

    def _failed(self, message: str) -> None:
        self._busy(False)
        self.status.setText(message)


def gather_recovery(paths: Paths, library: Any = None) -> tuple[list[Any], list[tuple[int, str]]]:
    """What a start-up offer needs: takes left behind and (id, name) of identities to save
    them to. Reads small sidecar files and the database: call it off the GUI thread."""
    takes = find_unfinished_recordings(paths)
    identities: list[tuple[int, str]] = []
    if takes and library is not None:
        with contextlib.suppress(Exception):
            identities = [(s.id, s.name) for s in library.list_identities()]
    return takes, identities


def offer_recovered_recordings(
    parent: QWidget | None,
    paths: Paths,
    library: Any = None,
    *,
    gathered: tuple[list[Any], list[tuple[int, str]]] | None = None,
) -> RecoveredRecordingsDialog | None:
    """At start-up: if takes were left behind, show (non-modally) a dialog offering them back.

    ``library`` (a ``Library``) receives recovered takes via
    ``add_voice_clip(identity_id, path, source="recorded")`` on a worker thread; without it
    takes are only turned into WAVs in the recordings folder. ``gathered`` is
    :func:`gather_recovery`'s result when the caller already ran it on a worker; without it
    the scan runs here. Returns the dialog, or ``None`` when there is nothing to offer.
    """
    takes, identities = gathered if gathered is not None else gather_recovery(paths, library)
    if not takes:
        return None
    save: Callable[[int, Path], object] | None = None
    if library is not None:

        def save(identity_id: int, wav: Path) -> object:
            return library.add_voice_clip(identity_id, wav, source="recorded")

    dialog = RecoveredRecordingsDialog(takes, save, identities, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    dialog.open()
    return dialog
