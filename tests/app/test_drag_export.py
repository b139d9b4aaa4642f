"""Drag-and-drop export: file URLs of finished, labelled files; cached by content; the
export dialog renders on a worker. (Bundle drops: tests/app/test_projects.py.)"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt, QUrl

from engine.media.video import probe_media
from tests.app.test_timeline import Rig, rig  # noqa: F401 - fixture


def _exporter(rig: Rig, paths):  # noqa: ANN001, ANN202, F811
    from idlora_studio.ui.drag_export import DragExporter
    from idlora_studio.workers.tasks import TaskRunner

    runner = TaskRunner(max_threads=1)
    return DragExporter(paths.drag_dir, runner), runner


def test_bin_take_drag_carries_a_finished_labelled_file_and_is_cached(rig: Rig, paths) -> None:  # noqa: ANN001, F811
    from idlora_studio.ui.timeline.timeline_widget import TAKE_MIME

    exporter, runner = _exporter(rig, paths)
    rig.panel.bin.exporter = exporter
    take = rig.env.take_ids[1]
    spec = rig.state.take_spec(take)
    got: list[Path] = []
    assert exporter.prepare(spec, got.append) is None  # not cached: renders on the worker
    rig.qtbot.waitUntil(lambda: bool(got), timeout=20000)
    assert exporter.renders == 1
    item = next(
        rig.panel.bin.item(i)
        for i in range(rig.panel.bin.count())
        if int(rig.panel.bin.item(i).data(Qt.ItemDataRole.UserRole + 1)) == take
    )
    mime = rig.panel.bin.mimeData([item])
    assert mime.hasFormat(TAKE_MIME) and mime.hasUrls()
    path = Path(mime.urls()[0].toLocalFile())
    assert path == got[0] and path.parent == paths.drag_dir and path.suffix == ".mp4"
    info = probe_media(path)
    media = rig.state.media(take)
    assert info.num_frames == media.num_frames and (info.width, info.height) == (64, 64)
    assert info.metadata.get("ai_generated") == "true"
    assert "AI-generated" in info.metadata.get("comment", "") or "AI" in info.metadata.get(
        "comment", ""
    )
    sidecar = json.loads(Path(str(path) + ".json").read_text())
    assert sidecar  # the recipe sidecar is written beside it
    # A second drag of the same take is instant: same file, no new render.
    again: list[Path] = []
    assert exporter.prepare(spec, again.append) == path and again == [path]
    assert exporter.renders == 1
    runner.wait(5000)


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
