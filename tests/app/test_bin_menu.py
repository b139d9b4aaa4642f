"""The bin's right-click menu on a take: add to timeline, rename, reveal, regenerate/vary,
remove (refused while the timeline uses it)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDesktopServices

from tests.app.studio_fixtures import studio  # noqa: F401 - fixture
from tests.app.test_drag_export import _exporter
from tests.app.test_identity_media import _Urls
from tests.app.test_timeline import Rig, rig  # noqa: F401 - fixture


def _trigger(menu, text: str) -> None:  # noqa: ANN001
    next(a for a in menu.actions() if a.text() == text).trigger()


def test_take_menu_actions(rig: Rig, paths) -> None:  # noqa: ANN001, F811
    exporter, _runner = _exporter(rig, paths)
    bin_ = rig.panel.bin
    bin_.exporter = exporter
    a, b, _c = rig.env.take_ids
    texts = [x.text() for x in bin_.context_menu(a).actions() if x.text()]
    # regenerate/vary are offered once something (the job queue) listens
    assert texts == ["Add to timeline", "Rename…", "Reveal file", "Remove from bin"]
    again: list[tuple[str, int]] = []
    bin_.regenerate_requested.connect(lambda t: again.append(("same", t)))
    bin_.vary_requested.connect(lambda t: again.append(("new", t)))
    menu = bin_.context_menu(a)
    texts = [x.text() for x in menu.actions() if x.text()]
    assert texts == [
        "Add to timeline",
        "Rename…",
        "Reveal file",
        "Regenerate (same seed)",
        "Vary (new seed)",
        "Remove from bin",
    ]
    _trigger(menu, "Regenerate (same seed)")
    _trigger(menu, "Vary (new seed)")
    assert again == [("same", a), ("new", a)]

    _trigger(menu, "Add to timeline")
    assert [c[0] for c in rig.state.clip_tuples()] == [a]

    bin_.rename(b, "  Best   take ")
    rig.qtbot.waitUntil(lambda: rig.state.media(b).label == "Best take", timeout=5000)
    assert rig.env.takes.get_take(b).label == "Best take"
    assert any(bin_.item(i).text().startswith("Best take") for i in range(bin_.count()))

    urls = _Urls()
    QDesktopServices.setUrlHandler("file", urls, "open")
    try:
        _trigger(bin_.context_menu(b), "Reveal file")
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert Path(urls.opened[0].toLocalFile()) == paths.drag_dir / "takes"

    errors: list[str] = []
    rig.state.error.connect(errors.append)
    _trigger(bin_.context_menu(a), "Remove from bin")  # it is on the timeline: refused
    rig.qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert "timeline" in errors[0] and any(m.take_id == a for m in rig.state.bin)
    _trigger(bin_.context_menu(b), "Remove from bin")
    rig.qtbot.waitUntil(lambda: all(m.take_id != b for m in rig.state.bin), timeout=5000)
    assert b not in [t.take_id for t in rig.env.projects.get(rig.env.project_id).bin]


def test_the_window_queues_a_takes_recipe_again_from_the_bin(qtbot, studio) -> None:  # noqa: ANN001, F811
    bin_ = studio.window.timeline_panel.bin
    queue = studio.window.generate_panel.queue
    take = studio.take_ids[0]
    queued: list[tuple[str, int]] = []
    queue.rerun = lambda t: queued.append(("same", t))  # the queue's own tests run them
    queue.vary = lambda t, seeds=(None,): queued.append(("new", t))
    menu = bin_.context_menu(take)
    _trigger(menu, "Regenerate (same seed)")
    _trigger(menu, "Vary (new seed)")
    assert queued == [("same", take), ("new", take)]


def _right_click(widget, pos, pick: str = "") -> list:  # noqa: ANN001
    """Right-click ``widget`` at ``pos`` and, in the menu that pops up, choose ``pick`` (none:
    close it). Returns the menus seen, each as [(text, shortcut)]."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QContextMenuEvent
    from PySide6.QtWidgets import QApplication

    shown: list = []

    def choose() -> None:
        popup = QApplication.activePopupWidget()
        if popup is None:
            return
        shown.append([(a.text(), a.shortcut().toString()) for a in popup.actions()])
        chosen = [a for a in popup.actions() if pick and a.text() == pick]
        popup.close()
        for action in chosen:
            action.trigger()

    QTimer.singleShot(0, choose)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()
    return shown


def test_right_click_on_a_timeline_clip_opens_its_menu(rig: Rig) -> None:  # noqa: F811
    """Issue 11: right-click menus on clips. The menu belongs to the clip under the cursor
    (it becomes the selection), lists the keys of its entries, and each entry acts."""
    from PySide6.QtCore import QPoint

    from idlora_studio.ui.timeline.timeline_widget import VIDEO_Y
    from tests.app.test_timeline import drop_takes

    a, b, _c = rig.env.take_ids
    assert drop_takes(rig, [a], 0) and drop_takes(rig, [b], 10_000)
    first, second = rig.state.clips
    canvas = rig.canvas
    at = second.position + second.length // 2
    pos = QPoint(round(canvas.x_of(at)), VIDEO_Y + 10)
    shown = _right_click(canvas, pos, "Set In/Out to This Clip")
    assert len(shown) == 1 and rig.state.selected_key == second.key
    assert [t for t, _k in shown[0] if t] == [
        "Split Here",
        "Delete Clip",
        "Set In/Out to This Clip",
        "Go to Clip Start",
        "Show Take in Bin",
    ]
    assert dict(shown[0])["Delete Clip"] == "Del"  # the key is listed
    assert (rig.state.in_point, rig.state.out_point) == (second.position, second.end)
    _right_click(canvas, pos, "Show Take in Bin")
    assert rig.panel.bin.selected_take_ids() == [b]
    cut = canvas.frame_at(pos.x())
    _right_click(canvas, pos, "Split Here")
    assert [(c.position, c.end) for c in rig.state.clips] == [
        (first.position, first.end),
        (second.position, cut),
        (cut, second.end),
    ]
    rig.state.undo()
    # the right-click acts on the clip under the cursor, not on the selected one
    _right_click(
        canvas, QPoint(round(canvas.x_of(first.position + 2)), VIDEO_Y + 10), "Delete Clip"
    )
    assert [c.take_id for c in rig.state.clips] == [b]
    # on empty track space there is no clip menu
    after = QPoint(round(canvas.x_of(rig.state.duration + 50)), VIDEO_Y + 10)
    assert _right_click(canvas, after) == []
