"""Issue 11, problem 4: projects in the window. File > New / Open / Open Recent / Rename /
Duplicate / Delete / Export and Import Bundle; the title names the open project; a bundle
dropped anywhere (the Library grid included) imports on a worker with a progress dialog and
every view refreshes from the library's change feed, without a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QInputDialog, QMessageBox

from tests.app.conftest import drop_files

LONG = 30_000


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle made in another Studio home: project "Spring promo" with two identities
    (Ann Lee, Bob) and three takes."""
    from idlora_studio.library import Library
    from idlora_studio.library.bundle import export_bundle
    from idlora_studio.paths import Paths
    from tests.library.test_bundle import make_project

    other = Paths(tmp_path / "o" / "data", tmp_path / "o" / "config", tmp_path / "o" / "cache")
    with Library.open(other.ensure()) as lib:
        pid = make_project(lib, tmp_path / "o-work")
        out = tmp_path / "spring.idlora-bundle"
        export_bundle(lib, pid, out)
    return out


def _ready(qtbot, window) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.state.loaded, timeout=LONG)
    qtbot.waitUntil(lambda: window.projects.current_id is not None, timeout=LONG)
    qtbot.waitUntil(lambda: bool(window.projects.projects), timeout=LONG)


def _drag_enter(widget, files: list[Path]) -> bool:  # noqa: ANN001
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    event = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_bundle_dropped_on_the_library_grid_imports_and_every_view_follows(
    qtbot, real_window, real_library, bundle: Path
) -> None:  # noqa: ANN001
    window = real_window
    _ready(qtbot, window)
    assert window.windowTitle() == "Untitled — ID-LoRA Studio"
    grid = window.library_panel.grid
    assert window.library_panel.model.rowCount() == 0

    assert drop_files(grid.viewport(), [bundle])  # the grid no longer refuses it
    dialog = window.project_actions.progress
    assert dialog is not None and dialog.isVisible()  # progress while a worker imports
    assert "spring.idlora-bundle" in dialog.labelText()
    qtbot.waitUntil(lambda: window.projects.current_name == "Spring promo", timeout=LONG)

    # The grid shows the bundle's identities without any restart or manual refresh.
    qtbot.waitUntil(lambda: window.library_panel.model.rowCount() == 2, timeout=LONG)
    assert sorted(window.library_panel.visible_names()) == ["Ann Lee", "Bob"]
    assert window.windowTitle() == "Spring promo — ID-LoRA Studio"
    assert "Spring promo" in window.page_bar.project_button.text()
    assert window.project_actions.progress is None
    assert not window.notice.isVisible(), window.notice.text()
    timeline = window.timeline_panel.state
    qtbot.waitUntil(lambda: len(timeline.clips) == 2 and len(timeline.bin) == 3, timeout=LONG)
    # Both projects can be reached: the list and Open Recent hold them.
    qtbot.waitUntil(lambda: len(window.projects.projects) == 2, timeout=LONG)
    window.project_actions.recent_menu.aboutToShow.emit()
    recent = [a.text() for a in window.project_actions.recent_menu.actions()]
    assert any("Spring promo" in t for t in recent) and any("Untitled" in t for t in recent)
    untitled = next(p.id for p in window.projects.projects if p.name == "Untitled")
    window.project_actions.open_project(untitled)
    qtbot.waitUntil(lambda: window.windowTitle().startswith("Untitled"), timeout=LONG)


def test_a_bundle_is_claimed_wherever_it_is_dropped(
    qtbot, real_window, bundle: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    window = real_window
    _ready(qtbot, window)
    photo = tmp_path / "face.png"
    photo.write_bytes(b"not really")
    targets = [
        window.library_panel.grid.viewport(),
        window.editor,
        window.generate_panel,
        window.timeline_panel.canvas,
        window.timeline_panel.bin.viewport(),
        window.page_bar,
    ]
    for target in targets:
        assert _drag_enter(target, [bundle]), type(target).__name__
    # Plain images are still the grid's business (it creates identities from them).
    assert _drag_enter(window.library_panel.grid.viewport(), [photo])
    assert not _drag_enter(window.timeline_panel.canvas, [photo])


def test_file_menu_runs_the_whole_project_workflow(
    qtbot, real_window, monkeypatch, tmp_path: Path
) -> None:  # noqa: ANN001
    window = real_window
    _ready(qtbot, window)
    projects, actions = window.projects, window.project_actions
    texts = {a.text(): a for a in window.file_menu.actions() if a.text()}
    for label, key in [
        ("&New Project…", "Ctrl+N"),
        ("&Open Project…", "Ctrl+O"),
        ("Re&name Project…", "F2"),
        ("&Export Project Bundle…", "Ctrl+Shift+E"),
        ("Import Project &Bundle…", "Ctrl+Shift+I"),
    ]:
        assert texts[label].shortcut().toString() == key
    assert "D&uplicate Project…" in texts and "&Delete Project…" in texts
    assert "Open &Recent" in texts  # the submenu

    answers = iter(["Launch teaser", "Launch teaser final"])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (next(answers), True))
    texts["&New Project…"].trigger()
    qtbot.waitUntil(lambda: window.windowTitle() == "Launch teaser — ID-LoRA Studio", timeout=LONG)
    first = projects.current_id
    texts["Re&name Project…"].trigger()
    qtbot.waitUntil(
        lambda: window.windowTitle() == "Launch teaser final — ID-LoRA Studio", timeout=LONG
    )
    assert projects.repo.get(first).name == "Launch teaser final"

    # A taken name is refused with a sentence and changes nothing.
    actions.new_project("launch TEASER final")
    qtbot.waitUntil(window.notice.isVisible, timeout=LONG)
    assert "already exists" in window.notice.text()
    assert projects.current_id == first

    # Duplicate opens the copy; Open Recent goes back.
    actions.duplicate_project(ask=False)
    qtbot.waitUntil(lambda: projects.current_name == "Launch teaser final (copy)", timeout=LONG)
    copy = projects.current_id
    qtbot.waitUntil(lambda: len(projects.recent()) >= 3, timeout=LONG)
    actions.recent_menu.aboutToShow.emit()
    back = next(a for a in actions.recent_menu.actions() if a.data() == first)
    back.trigger()
    qtbot.waitUntil(lambda: projects.current_id == first, timeout=LONG)

    # Export a bundle through the file dialog, with the progress dialog.
    target = tmp_path / "out" / "teaser"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    finished: list[tuple[str, str]] = []
    projects.bundle_finished.connect(lambda o, t: finished.append((o, t)))
    texts["&Export Project Bundle…"].trigger()
    assert actions.progress is not None and actions.progress.isVisible()
    qtbot.waitUntil(lambda: bool(finished), timeout=LONG)
    assert finished[0][0] == "exported", finished
    assert (tmp_path / "out" / "teaser.idlora-bundle").is_file()

    # Delete the open project (asked first): the most recent other one opens.
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    texts["&Delete Project…"].trigger()
    qtbot.waitUntil(lambda: projects.current_id == copy, timeout=LONG)
    qtbot.waitUntil(lambda: first not in {p.id for p in projects.projects}, timeout=LONG)
    # Identities are global: nothing above touched them.
    assert window.library_panel.model.rowCount() == 0

    # Import through File > Import Project Bundle… brings the exported project back.
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        lambda *a, **k: (str(tmp_path / "out" / "teaser.idlora-bundle"), ""),
    )
    texts["Import Project &Bundle…"].trigger()
    qtbot.waitUntil(lambda: projects.current_name == "Launch teaser final", timeout=LONG)


def test_deleting_the_only_project_leaves_an_empty_untitled_one(qtbot, real_window) -> None:  # noqa: ANN001
    window = real_window
    _ready(qtbot, window)
    projects = window.projects
    projects.rename(projects.current_id, "Only one")
    qtbot.waitUntil(lambda: window.windowTitle().startswith("Only one"), timeout=LONG)
    opened: list[int] = []
    projects.current_changed.connect(opened.append)
    window.project_actions.delete_project(confirm=False)
    qtbot.waitUntil(lambda: bool(opened), timeout=LONG)
    qtbot.waitUntil(lambda: [p.name for p in projects.projects] == ["Untitled"], timeout=LONG)
    assert projects.current_name == "Untitled" and projects.current_id == opened[0]
    assert window.windowTitle() == "Untitled — ID-LoRA Studio"


def test_cancelling_an_import_changes_nothing(
    qtbot, real_window, real_library, bundle: Path
) -> None:  # noqa: ANN001
    window = real_window
    _ready(qtbot, window)
    projects = window.projects
    before = [p.name for p in projects.repo.list_projects()]
    gate = threading.Event()
    projects.bundle_runner.submit(gate.wait)  # hold the worker so Cancel lands first
    finished: list[tuple[str, str]] = []
    projects.bundle_finished.connect(lambda o, t: finished.append((o, t)))
    window.project_actions.import_bundle(bundle)
    dialog = window.project_actions.progress
    assert dialog is not None and dialog.isVisible()
    dialog.canceled.emit()  # the Cancel button
    assert dialog.labelText() == "Cancelling…"
    gate.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=LONG)
    assert finished[0][0] == "cancelled" and "nothing was changed" in finished[0][1]
    assert [p.name for p in projects.repo.list_projects()] == before
    assert real_library.list_identities() == []
    assert window.project_actions.progress is None


def test_a_write_from_elsewhere_reaches_the_grid(qtbot, real_window, real_library) -> None:  # noqa: ANN001
    """No explicit refresh: the library's change feed drives the grid."""
    window = real_window
    _ready(qtbot, window)
    done = threading.Event()

    def elsewhere() -> None:  # another thread, as a worker or an import would be
        real_library.create_identity("Written Elsewhere")
        done.set()

    threading.Thread(target=elsewhere).start()
    assert done.wait(10)
    qtbot.waitUntil(
        lambda: window.library_panel.visible_names() == ["Written Elsewhere"], timeout=LONG
    )
