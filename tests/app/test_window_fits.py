"""Issue 11, problem 7: every page renders at 1366x768 with nothing clipped (the definition is
in tests/app/clipping.py), and the pages grow with the window up to 4K, the viewer first."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from tests.app.clipping import clipped_widgets
from tests.app.studio_fixtures import Studio, studio  # noqa: F401 - fixture


def _settle(window, size: QSize) -> None:  # noqa: ANN001
    window.resize(size)
    for _ in range(10):  # layouts with word-wrapped labels settle in a few passes
        QApplication.processEvents()
        QApplication.sendPostedEvents()


@pytest.mark.parametrize("sizes", [[(1366, 768)], [(1920, 1080), (1366, 768)], [(1920, 1080)]])
def test_no_page_clips(studio: Studio, sizes: list[tuple[int, int]]) -> None:  # noqa: F811
    """Each page at each size, also after the window was larger (splitters keep shares)."""
    window = studio.window
    for size in sizes:
        want = QSize(*size)
        report = {}
        for key in window.pages():
            window.show_page(key)
            _settle(window, want)
            report[key] = clipped_widgets(window, want)
            # Sanity: the check looked at a real, populated page.
            shown = [w for w in window.page(key).findChildren(QWidget) if w.isVisible()]
            assert len(shown) > 20, key
        assert report == {"library": [], "generate": [], "edit": []}, size


def test_pages_scale_to_4k_with_the_viewer_taking_the_room(studio: Studio) -> None:  # noqa: F811
    window = studio.window
    viewer = window.timeline_panel.viewer
    window.show_page("edit")
    _settle(window, QSize(1366, 768))
    small = viewer.size()
    assert small.width() >= 640 and small.height() >= 300  # the largest part at laptop size
    _settle(window, QSize(3840, 2160))
    assert window.size() == QSize(3840, 2160)
    big = viewer.size()
    # The extra height goes to the viewer, not to the fixed-height timeline.
    assert big.height() - small.height() >= 0.8 * (2160 - 768)
    assert big.width() > 2.5 * small.width()
    assert clipped_widgets(window, QSize(3840, 2160)) == []
    for key in ("library", "generate"):
        window.show_page(key)
        _settle(window, QSize(3840, 2160))
        assert clipped_widgets(window, QSize(3840, 2160)) == [], key


# --------------------------------------------------------------------------- the checker


def _window(qtbot, build) -> QWidget:  # noqa: ANN001
    w = QWidget()
    qtbot.addWidget(w)
    build(w)
    w.resize(400, 300)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    return w


def test_the_checker_finds_each_kind_of_clipping(qtbot) -> None:  # noqa: ANN001
    def squeezed(w: QWidget) -> None:
        row = QHBoxLayout(w)
        holder = QWidget()
        holder.setFixedWidth(60)
        inner = QHBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(QPushButton("A button with a long label"))
        row.addWidget(holder)

    found = clipped_widgets(_window(qtbot, squeezed))
    assert any("QPushButton" in p and ("squeezed" in p or "text needs" in p) for p in found)

    def outside(w: QWidget) -> None:
        child = QLabel("out of bounds", w)
        child.setGeometry(350, 280, 120, 40)

    found = clipped_widgets(_window(qtbot, outside))
    assert any("outside" in p for p in found), found

    def sideways(w: QWidget) -> None:
        area = QScrollArea()
        body = QWidget()
        body.setMinimumWidth(900)
        area.setWidget(body)
        area.setWidgetResizable(True)
        QVBoxLayout(w).addWidget(area)

    found = clipped_widgets(_window(qtbot, sideways))
    assert any("scrolls sideways" in p for p in found), found

    def short_wrap(w: QWidget) -> None:
        label = QLabel("A warning that wraps onto several lines " * 6, w)
        label.setWordWrap(True)
        label.setGeometry(0, 0, 200, 20)

    found = clipped_widgets(_window(qtbot, short_wrap))
    assert any("wrapped text needs" in p for p in found), found

    def too_big(w: QWidget) -> None:
        w.setMinimumSize(500, 400)

    win = _window(qtbot, too_big)
    found = clipped_widgets(win, QSize(400, 300))
    assert any(p.startswith("window: asked for 400x300") for p in found), found

    def fine(w: QWidget) -> None:
        col = QVBoxLayout(w)
        col.addWidget(QLabel("Short"))
        col.addWidget(QPushButton("OK"), 0, Qt.AlignmentFlag.AlignLeft)

    assert clipped_widgets(_window(qtbot, fine), QSize(400, 300)) == []


@pytest.mark.studio_jobs(5)
def test_generate_page_at_1366_shows_queue_rows_in_full_and_every_control(
    studio: Studio,  # noqa: F811
) -> None:
    """Issue 11, problem 7 ("at 1366x768 the Generate form is cut off, the queue shows no
    rows"): with takes waiting from an earlier session (the resume bar shown), three whole
    rows are visible and each row's two lines are drawn in full (identity, Speech; preset,
    seed, size, length); with every collapsed section of the form opened, nothing clips and
    the form scrolls to its last control."""
    from PySide6.QtGui import QFontMetrics

    from idlora_studio.ui.generate.queue_view import THUMB

    window = studio.window
    panel = window.generate_panel
    view = panel.queue_view
    size = QSize(1366, 768)
    window.show_page("generate")
    _settle(window, size)
    queue = panel.queue
    assert view.resume_bar.isVisible() and len(queue.jobs()) == 5
    table = view.jobs_view
    viewport = table.viewport().rect()
    model = table.model()
    rows = [table.visualRect(model.index(r, 0)) for r in range(model.rowCount())]
    whole = [r for r, rect in enumerate(rows) if viewport.contains(rect)]
    assert len(whole) >= 3, f"only {len(whole)} whole rows visible"
    metrics = QFontMetrics(table.font())
    name = window.state.summary(studio.identity_id).name
    for r in whole:
        title, details = view.row_texts(model.job_id(r))
        room = rows[r].width() - THUMB - 20  # TakeDelegate's margins
        # a long Speech line may be cut, the name before it is not; the details never are
        shown = metrics.elidedText(title, Qt.TextElideMode.ElideRight, room)
        assert shown.startswith(f"{name} · "), shown
        assert metrics.horizontalAdvance(details) <= room, f"cut: {details!r} in {room} px"
        assert "Stage" in details or "stage" in details  # the preset is among them
    assert clipped_widgets(window, size) == []

    form = panel.form
    form.prompt.negative_section.set_expanded(True)
    form.advanced.set_expanded(True)
    _settle(window, size)
    assert clipped_widgets(window, size) == []
    scroll = form.scroll
    bar = scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    _settle(window, size)
    last = form.advanced.reset_button
    bottom = last.mapTo(scroll.viewport(), last.rect().bottomLeft()).y()
    assert 0 <= bottom <= scroll.viewport().height(), "the last control cannot be scrolled to"
