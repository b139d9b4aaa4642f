"""Identity editor flows: drop onto the editor, default/remove, recording hand-off, guard."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject

from tests import media_fixtures as mf
from tests.app.conftest import drop_files


def _open(qtbot, window, identity_id: int) -> None:
    window.state.refresh()
    qtbot.waitUntil(lambda: window.library_panel.model.row_of(identity_id) >= 0, timeout=5000)
    assert window.library_panel.select_identity(identity_id)
    editor = window.editor
    qtbot.waitUntil(
        lambda: editor.detail is not None and editor.detail.id == identity_id, timeout=5000
    )


def test_dropping_files_on_the_editor_adds_them(qtbot, real_window, real_library, tmp_path):
    ident = real_library.create_identity("Rosa Diaz")
    _open(qtbot, real_window, ident)
    editor = real_window.editor
    assert editor.images_list.count() == 0 and editor.clips_list.count() == 0

    photo = mf.face_image(tmp_path / "rosa.jpg")
    voice = mf.speech_wav(tmp_path / "rosa.wav")
    assert drop_files(editor, [photo, voice])
    qtbot.waitUntil(
        lambda: editor.images_list.count() == 1 and editor.clips_list.count() == 1, timeout=20000
    )
    detail = real_library.get_identity(ident)
    assert len(detail.images) == 1 and len(detail.clips) == 1
    assert detail.clips[0].is_default
    # the grid card follows
    qtbot.waitUntil(
        lambda: real_window.library_panel.model.summary_at(0).clip_count == 1, timeout=5000
    )


def test_set_default_and_remove_image_with_buttons(qtbot, fake_window, fake_library, tmp_path):
    ident = fake_library.create_identity("Two Pictures")
    a = mf.face_image(tmp_path / "a.jpg")
    b = mf.no_face_image(tmp_path / "b.png")
    fake_library.add_image(ident, a)
    fake_library.add_image(ident, b)
    _open(qtbot, fake_window, ident)
    editor = fake_window.editor
    assert editor.images_list.count() == 2
    assert not editor.default_image_button.isEnabled()

    editor.images_list.setCurrentRow(1)
    assert editor.default_image_button.isEnabled()
    editor.default_image_button.click()
    qtbot.waitUntil(lambda: fake_library.get_identity(ident).images[1].is_default, timeout=5000)
    qtbot.waitUntil(lambda: editor.images_list.item(1).text().startswith("★"), timeout=5000)

    editor.images_list.setCurrentRow(0)
    editor.remove_image_button.click()
    qtbot.waitUntil(lambda: len(fake_library.get_identity(ident).images) == 1, timeout=5000)
    qtbot.waitUntil(lambda: editor.images_list.count() == 1, timeout=5000)
    assert fake_library.get_identity(ident).images[0].path == b


def test_library_calls_run_off_the_gui_thread(qtbot, fake_window, fake_library):
    fake_library.create_identity("Anyone")  # set-up, from this thread
    fake_library.threads.clear()
    fake_window.state.refresh()
    qtbot.waitUntil(lambda: fake_window.library_panel.model.rowCount() == 1, timeout=5000)
    assert fake_library.threads
    assert threading.get_ident() not in fake_library.threads


def test_record_button_opens_recorder_and_saved_take_lands(
    qtbot, real_window, real_library, tmp_path
):
    from idlora_studio.ui.recorder_dialog import RecorderDialog

    ident = real_library.create_identity("Voice Only")
    _open(qtbot, real_window, ident)
    editor = real_window.editor
    editor.record_button.click()
    dialog = editor._recorder
    assert isinstance(dialog, RecorderDialog) and dialog.isVisible()
    assert dialog.identity_id == ident

    take = mf.speech_wav(tmp_path / "take.wav")
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(dialog._save_clip(take)))
    worker.start()
    worker.join(30)
    assert result, "save_clip did not return"
    dialog.clip_saved.emit(result[0])
    qtbot.waitUntil(lambda: editor.clips_list.count() == 1, timeout=5000)
    assert real_library.get_identity(ident).clips[0].source == "recorded"
    dialog.close()


def test_void_qt_calls_keep_none_referenced(qtbot):
    """Guards the ``pyside6<6.12`` pin: 6.12.0 on CPython 3.11 drops a reference to None on
    every void Qt call and the interpreter aborts within seconds of painting."""
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(20000):
        obj.setObjectName("x")
    assert sys.getrefcount(None) > before - 1000
