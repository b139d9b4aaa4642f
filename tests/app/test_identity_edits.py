"""Identity edits are never lost: they save as you go (on the database worker), survive
switching identities and closing the window, undo/redo like the timeline, and what cannot be
saved yet is kept and explained."""

from __future__ import annotations

import threading

from tests.app.test_editor import _open


def _two(real_library) -> tuple[int, int]:  # noqa: ANN001
    a = real_library.create_identity("Ada Quinn", notes="first notes")
    b = real_library.create_identity("Bo Lindgren")
    return a, b


def test_typing_saves_by_itself_on_the_worker(qtbot, fake_window, fake_library):
    ident = fake_library.create_identity("Quiet Typist")
    _open(qtbot, fake_window, ident)
    saved_on: list[int] = []
    real_update = fake_library.update_identity

    def update(identity_id, **changes):  # noqa: ANN001, ANN003, ANN202
        saved_on.append(threading.get_ident())
        return real_update(identity_id, **changes)

    fake_library.update_identity = update
    editor = fake_window.editor
    qtbot.keyClicks(editor.notes_edit, "Speaks fast")
    assert editor.is_dirty() and editor.status_label.text() == "Editing…"
    qtbot.waitUntil(lambda: fake_library.get_identity(ident).notes == "Speaks fast", timeout=5000)
    assert saved_on and threading.get_ident() not in saved_on
    qtbot.waitUntil(lambda: editor.status_label.text() == "All changes saved", timeout=5000)
    assert not editor.is_dirty()


def test_switching_identity_with_a_dirty_editor_keeps_the_edit(qtbot, real_window, real_library):
    a, b = _two(real_library)
    _open(qtbot, real_window, a)
    editor = real_window.editor
    editor.notes_edit.setPlainText("Typed, then another card clicked at once")
    editor.tags_edit.setText("narrator")
    assert editor.is_dirty()
    # no pause: the next card is opened straight away
    assert real_window.library_panel.select_identity(b)
    qtbot.waitUntil(lambda: editor.detail is not None and editor.detail.id == b, timeout=5000)
    assert editor.notes_edit.toPlainText() == ""
    qtbot.waitUntil(
        lambda: real_library.get_identity(a).notes == "Typed, then another card clicked at once",
        timeout=5000,
    )
    assert real_library.get_identity(a).tags == ("narrator",)
    # and coming back shows it
    assert real_window.library_panel.select_identity(a)
    qtbot.waitUntil(lambda: editor.detail is not None and editor.detail.id == a, timeout=5000)
    assert editor.notes_edit.toPlainText() == "Typed, then another card clicked at once"


def test_closing_the_window_with_a_dirty_editor_keeps_the_edit(
    qtbot, paths, settings, real_library
):
    from idlora_studio.app import build_main_window

    ident = real_library.create_identity("Before Close")
    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=10000)
    _open(qtbot, window, ident)
    editor = window.editor
    editor.name_edit.setText("After Close")
    editor.consent_box.setChecked(True)
    editor.consent_who.setText("Ann Close")
    assert editor.is_dirty()
    window.close()  # straight away, before any autosave pause
    detail = real_library.get_identity(ident)
    assert detail.name == "After Close"
    assert detail.consent is not None and detail.consent.given_by == "Ann Close"


def test_identity_edits_undo_and_redo(qtbot, real_window, real_library):
    a, _ = _two(real_library)
    _open(qtbot, real_window, a)
    editor = real_window.editor
    stack = real_window.state.undo_stack
    assert not editor.undo_button.isEnabled()

    editor.name_edit.setText("Ada Quinn-Berg")
    editor.flush()
    editor.notes_edit.setPlainText("second notes")
    editor.flush()
    assert stack.count() == 2 and stack.undoText() == "Edit notes of “Ada Quinn-Berg”"
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "second notes", timeout=5000)

    editor.undo_button.click()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "first notes", timeout=5000)
    assert editor.notes_edit.toPlainText() == "first notes"
    assert editor.name_edit.text() == "Ada Quinn-Berg"
    editor.undo_button.click()
    qtbot.waitUntil(lambda: real_library.get_identity(a).name == "Ada Quinn", timeout=5000)
    assert editor.name_edit.text() == "Ada Quinn"
    qtbot.waitUntil(
        lambda: sorted(real_window.library_panel.visible_names()) == ["Ada Quinn", "Bo Lindgren"],
        timeout=5000,
    )
    assert not editor.undo_button.isEnabled() and editor.redo_button.isEnabled()

    editor.redo_button.click()
    qtbot.waitUntil(lambda: real_library.get_identity(a).name == "Ada Quinn-Berg", timeout=5000)
    assert editor.name_edit.text() == "Ada Quinn-Berg"
    # undoing what is typed but not yet committed commits it first, then undoes it
    editor.tags_edit.setText("client")
    editor.undo()
    qtbot.waitUntil(lambda: not real_window.state.saves_pending(a), timeout=5000)
    assert real_library.get_identity(a).tags == ()
    assert editor.tags_edit.text() == ""


def test_typing_in_pauses_is_one_undo_step(qtbot, real_window, real_library):
    a, _ = _two(real_library)
    _open(qtbot, real_window, a)
    editor = real_window.editor
    stack = real_window.state.undo_stack
    for text in ("Soft", "Soft voice", "Soft voice, slow"):
        editor.notes_edit.setPlainText(text)
        editor.flush()
    assert stack.count() == 1
    editor.undo()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "first notes", timeout=5000)


def test_what_cannot_be_saved_is_kept_and_explained(qtbot, real_window, real_library):
    a, b = _two(real_library)
    _open(qtbot, real_window, a)
    editor = real_window.editor
    editor.name_edit.setText("bo lindgren")  # taken (names are case-insensitive)
    editor.notes_edit.setPlainText("notes still save")
    editor.flush()
    assert "Another identity is already called “bo lindgren”" in editor.status_label.text()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "notes still save", timeout=5000)
    assert real_library.get_identity(a).name == "Ada Quinn"
    assert editor.is_dirty()

    editor.name_edit.setText("")
    editor.consent_box.setChecked(True)  # no name of who agreed yet
    editor.flush()
    status = editor.status_label.text()
    assert "needs a name" in status and "person who agreed" in status
    # another identity and back: the unsaved name is still there, with its reason
    assert real_window.library_panel.select_identity(b)
    qtbot.waitUntil(lambda: editor.detail is not None and editor.detail.id == b, timeout=5000)
    assert editor.name_edit.text() == "Bo Lindgren" and not editor.consent_box.isChecked()
    assert real_window.library_panel.select_identity(a)
    qtbot.waitUntil(lambda: editor.detail is not None and editor.detail.id == a, timeout=5000)
    assert editor.name_edit.text() == "" and editor.consent_box.isChecked()
    assert "needs a name" in editor.status_label.text()
    # finishing it saves it
    editor.name_edit.setText("Ada Q.")
    editor.consent_who.setText("Ada Quinn")
    editor.flush()
    qtbot.waitUntil(lambda: real_library.get_identity(a).name == "Ada Q.", timeout=5000)
    assert real_library.get_identity(a).consent.given_by == "Ada Quinn"
    qtbot.waitUntil(lambda: editor.status_label.text() == "All changes saved", timeout=5000)


def test_edit_menu_undo_acts_on_identity_edits_on_the_library_page(
    qtbot, real_window, real_library
):
    a, _ = _two(real_library)
    _open(qtbot, real_window, a)
    editor = real_window.editor
    editor.notes_edit.setPlainText("from the menu")
    editor.flush()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "from the menu", timeout=5000)
    assert real_window.undo_action.isEnabled()
    real_window.undo_action.trigger()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "first notes", timeout=5000)
    assert editor.notes_edit.toPlainText() == "first notes"
    real_window.redo_action.trigger()
    qtbot.waitUntil(lambda: real_library.get_identity(a).notes == "from the menu", timeout=5000)
