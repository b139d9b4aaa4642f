"""Drag-and-drop export: a take drops its own MP4 at once under a readable name; dropping a
take on the timeline renders nothing; the timeline's file is kept rendered in the background
(idle priority, cancelled by the next edit) so its drag starts at once; trimmed pieces render
on demand, cached by content; the export dialog renders on a worker. (Bundle drops:
tests/app/test_projects.py.)"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtTest import QTest

from engine.media.video import probe_media
from idlora_studio.ui.timeline.timeline_widget import TAKE_MIME
from tests.app.test_timeline import Rig, rig  # noqa: F401 - fixture
from tests.app.timeline_helpers import make_project


def _exporter(rig: Rig, paths):  # noqa: ANN001, ANN202, F811
    from idlora_studio.ui.drag_export import DragExporter
    from idlora_studio.workers.tasks import TaskRunner

    runner = TaskRunner(max_threads=1)
    return DragExporter(paths.drag_dir, runner), runner


def _bin_item(rig: Rig, take_id: int):  # noqa: ANN202, F811
    return next(
        rig.panel.bin.item(i)
        for i in range(rig.panel.bin.count())
        if int(rig.panel.bin.item(i).data(Qt.ItemDataRole.UserRole + 1)) == take_id
    )


def _rendered(drag_dir: Path) -> list[Path]:
    """Files the exporter rendered (the take links in ``takes/`` are not renders)."""
    return [p for p in drag_dir.glob("*.mp4")] + [p for p in drag_dir.glob("out/*.mp4")]


def test_take_drag_delivers_the_take_mp4_at_once_under_a_readable_name(
    qtbot, paths, tmp_path
) -> None:  # noqa: ANN001
    rig = Rig(make_project(paths, tmp_path, identity="Maya Lindqvist"), qtbot, paths)  # noqa: F811
    try:
        exporter, runner = _exporter(rig, paths)
        rig.panel.bin.exporter = exporter
        take = rig.env.take_ids[1]
        media = rig.state.media(take)
        item = _bin_item(rig, take)
        started = time.perf_counter()
        mime = rig.panel.bin.mimeData([item])
        path = Path(mime.urls()[0].toLocalFile())
        assert path.is_file()
        took = time.perf_counter() - started
        assert took < 0.2, f"the take's file took {took * 1000:.0f} ms"
        assert path.name == f"Maya-Lindqvist-Timeline-test-take{take}-seed1.mp4"
        assert path.read_bytes() == media.video_path.read_bytes()  # the take itself
        assert mime.hasFormat(TAKE_MIME)  # and the timeline still gets the take id
        info = probe_media(path)
        assert info.num_frames == media.num_frames
        assert exporter.renders == 0 and runner.pending() == 0 and _rendered(paths.drag_dir) == []
        # the drag hands the system exactly that file; a second drag reuses it
        dragged: list[list[str]] = []
        exporter.exec_drag = lambda _src, m, _pix=None: dragged.append(
            [u.toLocalFile() for u in m.urls()]
        )
        rig.panel.bin.clearSelection()
        item.setSelected(True)
        rig.panel.bin.startDrag(Qt.DropAction.CopyAction)
        assert dragged == [[str(path)]]
        assert rig.panel.bin.take_file(take) == path
        assert exporter.renders == 0
    finally:
        rig.close()


def test_bin_to_timeline_never_renders(rig: Rig, paths) -> None:  # noqa: ANN001, F811
    from tests.app.test_timeline import drop_takes

    exporter, runner = _exporter(rig, paths)
    rig.panel.bin.exporter = exporter
    take = rig.env.take_ids[0]
    item = _bin_item(rig, take)
    viewport = rig.panel.bin.viewport()
    QTest.mousePress(
        viewport, Qt.MouseButton.LeftButton, pos=rig.panel.bin.visualItemRect(item).center()
    )
    QTest.mouseRelease(
        viewport, Qt.MouseButton.LeftButton, pos=rig.panel.bin.visualItemRect(item).center()
    )
    assert drop_takes(rig, [take], 0)
    assert rig.state.clip_tuples()[0][0] == take
    rig.qtbot.wait(300)
    assert exporter.renders == 0 and runner.pending() == 0
    assert _rendered(paths.drag_dir) == []
    # no media file was written anywhere in the cache for it (the take links share the file)
    big = [
        p
        for p in paths.cache_dir.rglob("*")
        if p.is_file() and p.stat().st_size > 20_000 and p.stat().st_nlink == 1
    ]
    assert big == [], big


def test_timeline_drag_file_is_kept_rendered_in_the_background(
    rig: Rig,  # noqa: F811
    paths,  # noqa: ANN001
) -> None:
    from idlora_studio.ui.timeline.panel import TimelinePanel

    exporter, runner = _exporter(rig, paths)
    panel = TimelinePanel(rig.state, rig.cache, rig.player, exporter)
    rig.qtbot.addWidget(panel)
    auto, handle, st = panel.auto_render, panel.drag_handle, rig.state
    a, b, c = rig.env.take_ids
    assert handle.status_text() == "⠿  Drag out MP4"  # nothing on the timeline yet
    for take in (a, b, b, a, b):  # a burst of edits: one render after the pause
        st.append_take(take)
    st.undo()
    st.undo()
    assert exporter.background_state()[0] == "waiting" and auto.timer.isActive()
    assert handle.status_text() == "⠿  MP4 · rendering soon"
    rig.qtbot.waitUntil(lambda: exporter.background_state()[0] == "rendering", timeout=5000)
    rig.qtbot.waitUntil(lambda: exporter.background_state()[0] == "ready", timeout=60000)
    assert exporter.renders == 1 and handle.status_text() == "⠿  Drag out MP4 · ready ✓"
    assert exporter.background_policy == os.SCHED_IDLE  # only CPU nobody else wants

    dragged: list[list[str]] = []
    exporter.exec_drag = lambda _src, m, _pix=None: dragged.append(
        [u.toLocalFile() for u in m.urls()]
    )
    started = time.perf_counter()
    handle.drag()
    assert time.perf_counter() - started < 0.2 and len(dragged) == 1
    first = Path(dragged[0][0])
    assert first.name == "Timeline-test-timeline.mp4"
    assert probe_media(first).num_frames == st.duration == 25 + 35 + 35

    # the next edit cancels a render in flight at once
    auto.render_now()  # (as if the pause had passed) ...
    assert exporter.background_state()[0] == "ready"  # same state: nothing to do
    st.append_take(c)
    auto.render_now()
    st.remove_clip(st.clips[0].key)  # ... and an edit right after it started (leaves a gap)
    assert exporter.background_state()[0] == "waiting"
    rig.qtbot.waitUntil(lambda: exporter.cancelled_renders == 1, timeout=20000)
    rig.qtbot.waitUntil(lambda: exporter.background_state()[0] == "ready", timeout=60000)
    handle.drag()
    second = Path(dragged[-1][0])
    assert second == first and probe_media(second).num_frames == st.duration == 25 + 35 + 35 + 45
    assert st.clips[0].position == 25
    # the in/out range is what the handle drops then, under its own name
    st.set_in(30)
    st.set_out(60)
    rig.qtbot.waitUntil(lambda: exporter.background_state()[0] == "ready", timeout=60000)
    handle.drag()
    ranged = Path(dragged[-1][0])
    assert ranged.name == "Timeline-test-timeline-in-out.mp4"
    assert probe_media(ranged).num_frames == 30
    assert len(_rendered(paths.drag_dir)) <= exporter.KEEP_RENDERS + 2
    runner.wait(5000)
    exporter.background_runner.wait(20000)


def test_whole_take_clip_dragged_off_the_timeline_drops_the_take_file(
    rig: Rig,  # noqa: F811
    paths,  # noqa: ANN001
) -> None:
    exporter, _runner = _exporter(rig, paths)
    rig.panel.exporter = exporter
    dragged: list[list[str]] = []
    exporter.exec_drag = lambda _src, m, _pix=None: dragged.append(
        [u.toLocalFile() for u in m.urls()]
    )
    key = rig.state.append_take(rig.env.take_ids[2])
    rig.panel._drag_clip_out(key)
    assert len(dragged) == 1 and Path(dragged[0][0]).name.endswith(
        f"take{rig.env.take_ids[2]}-seed2.mp4"
    )
    assert exporter.renders == 0


def test_timeline_selection_drag_renders_the_in_out_range(rig: Rig, paths) -> None:  # noqa: ANN001, F811
    a, b, _ = rig.env.take_ids
    st = rig.state
    st.append_take(a)
    st.append_take(b)
    exporter, runner = _exporter(rig, paths)
    rig.panel.exporter = exporter
    st.set_in(10)
    st.set_out(40)
    spec = rig.panel.selection_spec()
    assert spec.duration_frames == 30
    got: list[Path] = []
    exporter.prepare(spec, got.append)
    rig.qtbot.waitUntil(lambda: bool(got), timeout=20000)
    from idlora_studio.ui.drag_export import file_mime

    mime = file_mime(got[0])
    assert mime.urls() == [QUrl.fromLocalFile(str(got[0]))]
    info = probe_media(got[0])
    assert info.num_frames == 30 and info.metadata.get("ai_generated") == "true"
    # The whole timeline is a different piece: a different file.
    st.clear_marks()
    assert exporter.target(rig.panel.selection_spec()) != got[0]
    runner.wait(5000)


def test_export_dialog_renders_on_a_worker(rig: Rig, paths, tmp_path) -> None:  # noqa: ANN001, F811
    from idlora_studio.ui.export_dialog import ExportDialog
    from idlora_studio.workers.tasks import TaskRunner

    st = rig.state
    st.append_take(rig.env.take_ids[0])
    st.append_take(rig.env.take_ids[2])
    runner = TaskRunner(max_threads=1)
    dialog = ExportDialog(st.timeline_spec(), runner, tmp_path, parent=None)
    rig.qtbot.addWidget(dialog)
    dialog.format.setCurrentIndex(dialog.format.findData("mov"))
    assert dialog.path.text().endswith(".mov")
    with rig.qtbot.waitSignal(dialog.exported, timeout=30000) as sig:
        dialog.start()
        assert dialog.running and not dialog.export_button.isEnabled()
    out = Path(sig.args[0])
    info = probe_media(out)
    assert info.num_frames == 25 + 45 and info.video_codec == "prores"
    assert dialog.progress.value() == 1000 and not dialog.running
    runner.wait(5000)
