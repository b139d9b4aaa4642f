"""Issue 11, problem 3: the recorder dialog's Close button and Esc close it, and a recording
in progress (or a take not saved) is never dropped without asking."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from idlora_studio.recording.recovery import find_unfinished_recordings
from idlora_studio.settings import Settings
from idlora_studio.ui.recorder_dialog import RecorderDialog
from tests.recording.conftest import VirtualMic

LONG = 20_000


def _dialog(qtbot, paths) -> RecorderDialog:  # noqa: ANN001
    dlg = RecorderDialog(paths, Settings(paths.settings_path), lambda p: "saved", identity_id=3)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    return dlg


def _answer(dlg: RecorderDialog, reply: str) -> list[str]:
    """Answer the dialog's next questions with ``reply``; returns the questions' titles."""
    asked: list[str] = []

    def ask(title: str, text: str, choices: tuple[str, ...], default: str) -> str:
        assert reply in choices, (reply, choices)
        asked.append(title)
        return reply

    dlg._ask = ask  # type: ignore[method-assign]
    return asked


def _record(qtbot, dlg: RecorderDialog, mic: VirtualMic, wav: Path) -> None:  # noqa: ANN001
    assert dlg.select_device("pulse")
    with qtbot.waitSignal(dlg.state_changed, check_params_cb=lambda s: s == "recording"):
        qtbot.mouseClick(dlg.record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.recorder.levels().seq > 0, timeout=5000)
    mic.play(wav).wait(10)


def test_close_button_and_esc_close_an_idle_dialog(qtbot, paths) -> None:  # noqa: ANN001
    dlg = _dialog(qtbot, paths)
    asked = _answer(dlg, RecorderDialog.CANCEL)
    with qtbot.waitSignal(dlg.finished, timeout=5000):
        qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)
    assert not dlg.isVisible() and asked == []

    again = _dialog(qtbot, paths)
    asked = _answer(again, RecorderDialog.CANCEL)
    with qtbot.waitSignal(again.finished, timeout=5000):
        qtbot.keyClick(again, Qt.Key.Key_Escape)
    assert not again.isVisible() and asked == []


@pytest.mark.audio
def test_closing_while_recording_asks_and_can_keep_the_take(
    qtbot, virtual_mic: VirtualMic, tone_wav: Path, paths
) -> None:  # noqa: ANN001
    dlg = _dialog(qtbot, paths)
    _record(qtbot, dlg, virtual_mic, tone_wav)

    # "Keep recording": nothing happens, the recording goes on.
    asked = _answer(dlg, RecorderDialog.KEEP_RECORDING)
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert asked == ["Recording in progress"]
    assert dlg.isVisible() and dlg.state == "recording" and dlg.recorder.is_recording

    # "Stop and keep": the take is finished and left for the next start; then it closes.
    asked = _answer(dlg, RecorderDialog.STOP_AND_KEEP)
    with qtbot.waitSignal(dlg.finished, timeout=LONG):
        qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)
    assert asked == ["Recording in progress"]  # not asked again about the kept take
    assert not dlg.isVisible() and not dlg.recorder.is_recording
    kept = find_unfinished_recordings(paths)
    assert len(kept) == 1 and kept[0].finished and kept[0].identity_id == 3
    assert kept[0].duration_s > 1.0 and kept[0].path.is_file()


@pytest.mark.audio
def test_closing_while_recording_can_discard_it(
    qtbot, virtual_mic: VirtualMic, tone_wav: Path, paths
) -> None:  # noqa: ANN001
    dlg = _dialog(qtbot, paths)
    _record(qtbot, dlg, virtual_mic, tone_wav)
    asked = _answer(dlg, RecorderDialog.DISCARD)
    with qtbot.waitSignal(dlg.finished, timeout=LONG):
        dlg.close()  # the title bar's X
    assert asked == ["Recording in progress"] and not dlg.recorder.is_recording
    assert find_unfinished_recordings(paths) == []
    assert list(paths.recordings_dir.iterdir()) == []


@pytest.mark.audio
def test_an_unsaved_take_is_kept_or_discarded_as_asked(
    qtbot, virtual_mic: VirtualMic, tone_wav: Path, paths
) -> None:  # noqa: ANN001
    dlg = _dialog(qtbot, paths)
    _record(qtbot, dlg, virtual_mic, tone_wav)
    with qtbot.waitSignal(dlg.check_finished, timeout=LONG):
        qtbot.mouseClick(dlg.stop_button, Qt.MouseButton.LeftButton)
    take = dlg.take
    assert dlg.state == "ready" and take is not None and take.is_file()

    asked = _answer(dlg, RecorderDialog.CANCEL)
    qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert asked == ["Unsaved recording"] and dlg.isVisible() and take.is_file()

    asked = _answer(dlg, RecorderDialog.DISCARD)
    with qtbot.waitSignal(dlg.finished, timeout=5000):
        qtbot.keyClick(dlg, Qt.Key.Key_Escape)
    assert asked == ["Unsaved recording"] and not take.exists()
    assert find_unfinished_recordings(paths) == []
