"""Issue 11, problem 7 and the redesign: pages for the three jobs, a View menu that brings
every panel back, a layout kept per user, Edit > Undo/Redo on the shown page, a banner area
and close guards."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QApplication, QSplitter

from tests.app.studio_fixtures import Studio, studio  # noqa: F401 - fixture


def _view_actions(window) -> dict[str, object]:  # noqa: ANN001
    window.view_menu.aboutToShow.emit()
    return {a.text().replace("&", ""): a for a in window.view_menu.actions() if a.text()}


def test_three_pages_each_fill_the_window(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    assert window.page_titles() == ["Library", "Generate", "Edit"]
    for n, key in enumerate(("library", "generate", "edit"), start=1):
        action = next(a for a in window.view_menu.actions() if a.data() == key)
        assert action.shortcut().toString() == f"Ctrl+{n}"
        action.trigger()
        QApplication.processEvents()
        page = window.page(key)
        assert window.current_page() is page and page.isVisible()
        # The page is the whole area under the page bar and notices: nothing else shares it.
        assert page.geometry() == window.stack.rect()
        assert window.stack.width() == window.centralWidget().width()
        for other in window.pages().values():
            assert other is page or not other.isVisible()
    # Edit page: the viewer gets what the bin and the timeline leave, the largest share.
    window.show_page("edit")
    QApplication.processEvents()
    viewer = window.timeline_panel.viewer
    area = viewer.width() * viewer.height()
    assert area > 0.35 * window.stack.width() * window.stack.height()


def test_a_closed_panel_comes_back_from_the_view_menu(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    window.show_page("edit")
    dock = window.page("edit").panels["timeline"]
    assert dock.isVisible()
    dock.close()
    QApplication.processEvents()
    assert not dock.isVisible()
    actions = _view_actions(window)
    assert "Timeline" in actions and "Bin" in actions
    assert "Identity" not in actions  # only the shown page's panels
    actions["Timeline"].trigger()
    QApplication.processEvents()
    assert dock.isVisible() and window.timeline_panel.canvas.isVisible()
    # Reset Layout puts a floated and a closed panel back where they were.
    bin_dock = window.page("edit").panels["bin"]
    bin_dock.setFloating(True)
    dock.close()
    _view_actions(window)["Reset Layout"].trigger()
    QApplication.processEvents()
    assert dock.isVisible() and not bin_dock.isFloating() and bin_dock.isVisible()


def test_the_layout_is_kept_per_user(qtbot, paths, settings, real_library, tmp_path) -> None:  # noqa: ANN001
    from idlora_studio.app import build_main_window

    def open_window():  # noqa: ANN202
        w = build_main_window(paths, settings, real_library)
        qtbot.addWidget(w)
        w.resize(1366, 768)
        w.show()
        qtbot.waitUntil(lambda: w.state.loaded, timeout=10_000)
        QApplication.processEvents()
        return w

    first = open_window()
    page = first.page("library")
    editor_dock = page.panels["identity"]
    page.resizeDocks([editor_dock], [640], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    width = editor_dock.width()
    assert abs(width - 640) <= 8
    first.show_page("generate")
    QApplication.processEvents()
    splitter = first.page("generate").findChild(QSplitter, "generateSplitter")
    default_width, total = splitter.sizes()[0], sum(splitter.sizes())
    splitter.setSizes([default_width + 50, total - default_width - 50])  # a wider form
    QApplication.processEvents()
    form_width = splitter.sizes()[0]
    assert form_width - default_width >= 40
    first.show_page("edit")
    QApplication.processEvents()
    first.page("edit").panels["bin"].close()
    first.close()  # closing saves the layout
    assert not first.isVisible()
    assert (paths.config_dir / "layout.json").is_file()

    second = open_window()
    assert second.current_page_key() == "edit"
    assert not second.page("edit").panels["bin"].isVisible()
    second.show_page("library")
    QApplication.processEvents()
    assert abs(second.page("library").panels["identity"].width() - width) <= 8
    second.show_page("generate")
    QApplication.processEvents()
    splitter = second.page("generate").findChild(QSplitter, "generateSplitter")
    assert abs(splitter.sizes()[0] - form_width) <= 8  # the Generate page's split too
    second.reset_layout()
    second.show_page("edit")
    QApplication.processEvents()
    assert second.page("edit").panels["bin"].isVisible()
    second.shutdown()


def test_undo_and_redo_follow_the_shown_page(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    timeline = window.timeline_panel.state
    shortcuts = {a.shortcut().toString() for a in window.edit_menu.actions()}
    assert {"Ctrl+Z", "Ctrl+Shift+Z"} <= shortcuts
    window.show_page("edit")
    before = timeline.clip_tuples()
    timeline.move_clip(timeline.clips[0].key, 100)
    assert timeline.clip_tuples() != before
    assert window.undo_action.isEnabled() and "Move clip" in window.undo_action.text()
    window.undo_action.trigger()
    assert timeline.clip_tuples() == before
    assert window.redo_action.isEnabled()
    # On another page, Undo does not reach into the timeline.
    window.show_page("generate")
    assert window.undo_group.activeStack() is not timeline.undo_stack
    window.redo_action.trigger()
    assert timeline.clip_tuples() == before
    window.show_page("edit")
    window.redo_action.trigger()
    assert timeline.clip_tuples() != before


def test_banner_area_and_close_guards(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    clicked: list[bool] = []
    banner = window.banners.show_banner(
        "read-only",
        "The library is read-only.",
        "warning",
        [("Retry", lambda: clicked.append(True))],
    )
    assert banner.isVisible() and window.banners.keys() == ["read-only"]
    banner.buttons["Retry"].click()
    assert clicked == [True]
    window.banners.clear_banner("read-only")
    assert window.banners.keys() == []

    asked: list[bool] = []
    window.add_close_guard(lambda: asked.append(True) or False)
    window.close()
    assert asked == [True] and window.isVisible()  # the guard kept it open


def test_window_fits_a_small_laptop_screen(qtbot, studio: Studio) -> None:  # noqa: F811
    window = studio.window
    window.resize(1366, 768)
    QApplication.processEvents()
    assert window.size() == QSize(1366, 768)
    assert window.minimumSizeHint().width() <= 1366 and window.minimumSizeHint().height() <= 768
