"""Issue 11: menus list every shortcut (Edit > Undo/Redo included, every timeline key), the
menu entries do what the keys do, and timecode reads HH:MM:SS:FF with the frame rate."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QMenu

from idlora_studio.ui.timeline.player import fps_text, timecode
from tests.app.studio_fixtures import Studio, studio  # noqa: F401 - fixture

#: Every key TimelineCanvas.keyPressEvent acts on.
CANVAS_KEYS = {
    "Space", "J", "K", "L", "Left", "Right", "Shift+Left", "Shift+Right", "Home", "End",
    "I", "O", "Alt+X", "S", "Del", "Backspace", "+", "-",
}  # fmt: skip


def menu_actions(menu: QMenu) -> list[QAction]:
    out = []
    for a in menu.actions():
        if a.menu() is not None:
            out.extend(menu_actions(a.menu()))
        else:
            out.append(a)
    return out


def listed_shortcuts(window) -> dict[str, QAction]:  # noqa: ANN001
    """Shortcut text -> action for everything reachable from the menu bar."""
    out: dict[str, QAction] = {}
    for top in window.menuBar().actions():
        if top.menu() is None:
            continue
        top.menu().aboutToShow.emit()
        for a in menu_actions(top.menu()):
            for seq in a.shortcuts():
                out[seq.toString()] = a
    return out


def test_every_shortcut_in_the_window_is_in_a_menu(studio: Studio) -> None:  # noqa: F811
    window = studio.window
    listed = listed_shortcuts(window)
    everywhere: dict[str, str] = {}
    for a in window.findChildren(QAction):
        for seq in a.shortcuts():
            everywhere[seq.toString()] = a.text()
    for s in window.findChildren(QShortcut):
        everywhere[s.key().toString()] = "QShortcut"
    missing = {k: v for k, v in everywhere.items() if k and k not in listed}
    assert missing == {}, f"shortcuts no menu lists: {missing}"
    assert {"Ctrl+Z", "Ctrl+Shift+Z", "Ctrl+Y"} <= set(listed)
    assert listed["Ctrl+Z"] is window.undo_action
    assert CANVAS_KEYS <= set(listed), CANVAS_KEYS - set(listed)
    for key in ("Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+N", "Ctrl+O", "Ctrl+Q", "Ctrl+M"):
        assert key in listed, key


def test_timeline_menu_entries_do_what_the_keys_do(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    st = window.timeline_panel.state
    window.show_page("edit")
    by_text = {a.text().replace("&", ""): a for a in menu_actions(window.timeline_menu)}
    st.set_playhead(10)
    by_text["Next Frame"].trigger()
    assert st.playhead == 11
    by_text["Forward One Second"].trigger()
    assert st.playhead == 36
    by_text["Set In Point"].trigger()
    assert st.in_point == 36
    by_text["Go to Start"].trigger()
    assert st.playhead == 0
    st.set_playhead(12)
    n = len(st.clips)
    by_text["Split Clip at Playhead"].trigger()
    assert len(st.clips) == n + 1
    window.undo_action.trigger()  # Edit > Undo reaches the timeline on the Edit page
    assert len(st.clips) == n
    # The keyboard, with the focus on the timeline, goes the same way.
    canvas = window.timeline_panel.canvas
    window.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=5000)
    st.set_playhead(5)
    qtbot.keyClick(canvas, "o")
    assert st.out_point == 5


def test_timecode_is_hours_minutes_seconds_frames_with_the_rate(studio: Studio) -> None:  # noqa: F811
    assert timecode(0, 25) == "00:00:00:00"
    assert timecode(25 * 3661 + 3, 25) == "01:01:01:03"
    assert timecode(24 * 59 + 23, 24000 / 1001) == "00:00:59:23"  # counted at 24 (non-drop)
    assert fps_text(25.0) == "25 fps" and fps_text(24000 / 1001) == "23.976 fps"
    window = studio.window
    st = window.timeline_panel.state
    window.show_page("edit")
    st.set_playhead(37)
    QApplication.processEvents()
    # two clips of 25 and 35 frames at 25 fps: 60 frames = 2 s 10 frames
    assert window.timeline_panel.time_label.text() == "00:00:01:12  /  00:00:02:10  ·  25 fps"
    assert QKeySequence("Ctrl+Z").toString() == "Ctrl+Z"
