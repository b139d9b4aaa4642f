"""Timeline editing: drops from the bin, move/reorder/trim/split/remove, undo/redo with the
database saved after every step, mouse gestures and keys; thumbnails/waveforms off-thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.app.timeline_helpers import ProjectEnv, make_project


class Rig:
    def __init__(self, env: ProjectEnv, qtbot, paths) -> None:  # noqa: ANN001
        from idlora_studio.state.project import ProjectState
        from idlora_studio.ui.timeline.media_cache import MediaCache
        from idlora_studio.ui.timeline.panel import TimelinePanel
        from idlora_studio.ui.timeline.player import TimelinePlayer
        from idlora_studio.workers.tasks import TaskRunner

        self.env = env
        self.qtbot = qtbot
        self.db = TaskRunner(max_threads=1)
        self.media_runner = TaskRunner(max_threads=2)
        self.state = ProjectState(env.projects, self.db, env.takes)
        self.cache = MediaCache(self.media_runner, paths.thumbnails_dir)
        self.player = TimelinePlayer(self.state, self.cache)
        loaded = []
        self.state.load(env.project_id, lambda: loaded.append(True))
        qtbot.waitUntil(lambda: bool(loaded), timeout=20000)  # a loaded CI box is slow
        self.panel = TimelinePanel(self.state, self.cache, self.player)
        qtbot.addWidget(self.panel)
        self.panel.resize(1000, 520)
        self.panel.show()
        self.canvas = self.panel.canvas
        self.canvas.px_per_frame = 4.0

    def db_clips(self) -> list[tuple[int, int, int, int, int]]:
        self.qtbot.waitUntil(lambda: self.state.is_saved and not self.db.pending(), timeout=5000)
        detail = self.env.projects.get(self.env.project_id)
        return [
            (c.take_id, c.track, c.position_frames, c.in_frame, c.out_frame)
            for c in sorted(detail.clips, key=lambda c: c.position_frames)
        ]

    def close(self) -> None:
        self.player.pause()
        self.db.wait(5000)
        self.media_runner.wait(10000)
        self.env.library.close()


@pytest.fixture
def rig(qtbot, paths, tmp_path) -> Iterator[Rig]:  # noqa: ANN001
    r = Rig(make_project(paths, tmp_path), qtbot, paths)
    yield r
    r.close()


def drop_takes(rig: Rig, take_ids: list[int], frame: int) -> bool:
    """Deliver drag-enter/move/drop of bin take ids at timeline ``frame``."""
    from idlora_studio.ui.timeline.timeline_widget import VIDEO_Y

    mime = rig.panel.bin.mimeData(
        [
            rig.panel.bin.item(i)
            for i in range(rig.panel.bin.count())
            if int(rig.panel.bin.item(i).data(Qt.ItemDataRole.UserRole + 1)) in take_ids
        ]
    )
    pos = QPointF(rig.canvas.x_of(frame), VIDEO_Y + 10)
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(pos.toPoint(), *args)
    QApplication.sendEvent(rig.canvas, enter)
    if not enter.isAccepted():
        return False
    QApplication.sendEvent(rig.canvas, QDragMoveEvent(pos.toPoint(), *args))
    drop = QDropEvent(pos, *args)
    QApplication.sendEvent(rig.canvas, drop)
    return drop.isAccepted()


def mouse(rig: Rig, kind: QEvent.Type, x: float, y: float) -> None:
    button = Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    ev = QMouseEvent(
        kind,
        QPointF(x, y),
        rig.canvas.mapToGlobal(QPointF(x, y)),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(rig.canvas, ev)


def test_bin_lists_takes_and_drops_place_clips(rig: Rig) -> None:
    a, b, c = rig.env.take_ids
    assert rig.panel.bin.count() == 3
    assert drop_takes(rig, [a], 0)
    assert rig.state.clip_tuples() == [(a, 0, 0, 0, 25)]
    # Dropped near the end of the first clip: snaps to its end.
    assert drop_takes(rig, [b], 26)
    assert rig.state.clip_tuples() == [(a, 0, 0, 0, 25), (b, 0, 25, 0, 35)]
    assert rig.db_clips() == rig.state.clip_tuples()
    # Dropped into the first half of clip a: inserted before it, the rest ripples right.
    assert drop_takes(rig, [c], 5)
    assert rig.state.clip_tuples() == [(c, 0, 0, 0, 45), (a, 0, 45, 0, 25), (b, 0, 70, 0, 35)]
    assert rig.db_clips() == rig.state.clip_tuples()
    # An unknown mime type is refused.
    from PySide6.QtCore import QMimeData

    mime = QMimeData()
    mime.setText("hello")
    enter = QDragEnterEvent(
        QPoint(100, 50),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(rig.canvas, enter)
    assert not enter.isAccepted()


def test_edits_undo_redo_restore_exact_lists_and_db_follows(rig: Rig) -> None:
    a, b, c = rig.env.take_ids
    st = rig.state
    history = [st.clip_tuples()]

    def step(fn) -> None:  # noqa: ANN001
        fn()
        history.append(st.clip_tuples())
        assert rig.db_clips() == history[-1]

    ka = st.append_take(a)
    history.append(st.clip_tuples())
    kb = st.append_take(b)
    history.append(st.clip_tuples())
    kc = st.append_take(c)
    history.append(st.clip_tuples())
    assert history[-1] == [(a, 0, 0, 0, 25), (b, 0, 25, 0, 35), (c, 0, 60, 0, 45)]
    assert rig.db_clips() == history[-1]
    step(lambda: st.move_clip(kc, 200))  # a gap opens
    assert st.clip(kc).position == 200
    step(lambda: st.reorder_clip(kc, 0))  # to the front, gaps closed
    assert st.clip_tuples() == [(c, 0, 0, 0, 45), (a, 0, 45, 0, 25), (b, 0, 70, 0, 35)]
    step(lambda: st.trim_clip(ka, "left", 50))  # drop 5 frames of a's head
    assert st.clip(ka).position == 50 and st.clip(ka).in_frame == 5
    step(lambda: st.trim_clip(kb, "right", 90))  # b ends at 90
    assert st.clip(kb).out_frame == 20
    step(lambda: st.trim_clip(kb, "right", 10_000))  # cannot pass the take's last frame
    assert st.clip(kb).out_frame == 35
    step(lambda: st.move_clip(ka, 0))  # onto c: inserted, c pushed after a
    assert [x[0] for x in st.clip_tuples()] == [a, c, b]
    right = st.split_clip(kc, st.clip(kc).position + 10)
    history.append(st.clip_tuples())
    assert right is not None and len(st.clips) == 4
    assert rig.db_clips() == history[-1]
    step(lambda: st.remove_clip(kb))
    assert all(x[0] != b for x in st.clip_tuples())

    # Undo everything: each step restores the exact list, and the DB follows.
    for expected in reversed(history[:-1]):
        st.undo()
        assert st.clip_tuples() == expected
        assert rig.db_clips() == expected
    assert st.clip_tuples() == []
    for expected in history[1:]:
        st.redo()
        assert st.clip_tuples() == expected
    assert rig.db_clips() == history[-1]


def test_mouse_move_trim_and_scrub(rig: Rig) -> None:
    from idlora_studio.ui.timeline.timeline_widget import RULER_H, VIDEO_Y

    a, b, _ = rig.env.take_ids
    st = rig.state
    ka = st.append_take(a)
    kb = st.append_take(b)
    cv = rig.canvas
    y = VIDEO_Y + 30
    # Drag b's body 40 frames right (snapping off so the exact frame is kept).
    cv.snapping = False
    x0 = cv.x_of(st.clip(kb).position + 10)
    mouse(rig, QEvent.Type.MouseButtonPress, x0, y)
    assert st.selected_key == kb
    mouse(rig, QEvent.Type.MouseMove, x0 + 80, y)
    mouse(rig, QEvent.Type.MouseMove, x0 + 160, y)
    assert st.clip(kb).position == 25  # only a preview until release
    mouse(rig, QEvent.Type.MouseButtonRelease, x0 + 160, y)
    assert st.clip(kb).position == 65
    # Trim a's right edge 10 frames shorter by dragging the edge.
    cv.snapping = True
    xe = cv.x_of(st.clip(ka).end) - 2
    mouse(rig, QEvent.Type.MouseButtonPress, xe, y)
    mouse(rig, QEvent.Type.MouseMove, xe - 40, y)
    mouse(rig, QEvent.Type.MouseButtonRelease, xe - 40, y)
    assert st.clip(ka).out_frame == 15 and st.clip(ka).position == 0
    assert rig.db_clips() == st.clip_tuples()
    # Snapping: dragging b's start near a's end (within 8 px) lands exactly on it.
    xb = cv.x_of(st.clip(kb).position + 5)
    mouse(rig, QEvent.Type.MouseButtonPress, xb, y)
    target = cv.x_of(15 + 1 + 5)  # 1 frame (4 px) off a's end
    mouse(rig, QEvent.Type.MouseMove, target, y)
    mouse(rig, QEvent.Type.MouseButtonRelease, target, y)
    assert st.clip(kb).position == 15
    # Clicking the ruler scrubs the playhead.
    mouse(rig, QEvent.Type.MouseButtonPress, cv.x_of(33), RULER_H / 2)
    mouse(rig, QEvent.Type.MouseMove, cv.x_of(37), RULER_H / 2)
    mouse(rig, QEvent.Type.MouseButtonRelease, cv.x_of(37), RULER_H / 2)
    assert st.playhead == 37


def test_keys(rig: Rig, qtbot) -> None:  # noqa: ANN001
    a, b, _ = rig.env.take_ids
    st = rig.state
    st.append_take(a)
    kb = st.append_take(b)
    cv = rig.canvas
    cv.setFocus()
    st.set_playhead(10)
    qtbot.keyClick(cv, Qt.Key.Key_Right)
    qtbot.keyClick(cv, Qt.Key.Key_Right)
    assert st.playhead == 12
    qtbot.keyClick(cv, Qt.Key.Key_Left)
    assert st.playhead == 11
    qtbot.keyClick(cv, Qt.Key.Key_I)
    qtbot.keyClick(cv, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # one second
    assert st.playhead == 36
    qtbot.keyClick(cv, Qt.Key.Key_O)
    assert (st.in_point, st.out_point) == (11, 36)
    st.select(kb)
    before = st.clip_tuples()
    qtbot.keyClick(cv, Qt.Key.Key_Delete)
    assert [c[0] for c in st.clip_tuples()] == [a]
    assert rig.db_clips() == [(a, 0, 0, 0, 25)]
    qtbot.keyClick(cv, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert st.clip_tuples() == before
    qtbot.keyClick(
        cv, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert [c[0] for c in st.clip_tuples()] == [a]
    zoom = cv.px_per_frame
    qtbot.keyClick(cv, Qt.Key.Key_Plus)
    assert cv.px_per_frame > zoom
    qtbot.keyClick(cv, Qt.Key.Key_S)  # playhead 36 is past a (0..25): nothing to split
    assert len(st.clips) == 1
    st.set_playhead(10)
    qtbot.keyClick(cv, Qt.Key.Key_S)
    assert st.clip_tuples() == [(a, 0, 0, 0, 10), (a, 0, 10, 10, 25)]


def test_thumbnails_and_waveforms_are_computed_off_the_gui_thread(rig: Rig, qtbot, paths) -> None:  # noqa: ANN001
    st = rig.state
    a = rig.env.take_ids[2]
    media = st.media(a)
    cache = rig.cache
    qtbot.waitUntil(lambda: cache.thumbnails(media) is not None, timeout=10000)
    strip = cache.thumbnails(media)
    assert strip is not None and len(strip.images) == len(range(0, media.num_frames, 5))
    assert strip.images[0].height() == 56 and strip.indices[:2] == (0, 5)
    # The clip brightens over time; the thumbnails show it.
    first = strip.images[0].pixelColor(50, 30).blue()
    last = strip.images[-1].pixelColor(50, 30).blue()
    assert last > first + 40
    qtbot.waitUntil(lambda: cache.waveform(media) is not None, timeout=10000)
    peaks = cache.waveform(media)
    assert peaks is not None and peaks.shape[1] == 2
    assert abs(len(peaks) - media.duration_s * 200) <= 10
    assert peaks[:, 1].max() > 0.3 and peaks[:, 0].min() < -0.3
    main = threading.main_thread().ident
    assert cache.worker_threads and main not in cache.worker_threads
    # On disk for the next session.
    assert list((paths.thumbnails_dir / "timeline").glob(f"{media.video_hash}*.png"))
    assert (paths.thumbnails_dir / "timeline" / f"{media.video_hash}-peaks.npy").is_file()


def test_bin_shows_a_takes_voice_match_once_scored(rig: Rig) -> None:
    _, b, _ = rig.env.take_ids
    rig.env.takes.set_voice_match(b, 0.8123, "test-model")
    loaded: list[bool] = []
    rig.state.load(rig.env.project_id, lambda: loaded.append(True))
    rig.qtbot.waitUntil(lambda: bool(loaded), timeout=5000)
    texts = {
        int(rig.panel.bin.item(i).data(Qt.ItemDataRole.UserRole + 1)): rig.panel.bin.item(i)
        for i in range(rig.panel.bin.count())
    }
    assert texts[b].text().endswith("voice match 0.81")
    assert "Voice match 0.81" in texts[b].toolTip()
    assert "voice match" not in texts[rig.env.take_ids[0]].text()


def test_thumbnails_and_waveforms_are_decoded_in_the_media_process(
    rig: Rig,
    qtbot,
    paths,
    monkeypatch,  # noqa: ANN001
) -> None:
    """With a MediaProcess the GUI's process decodes nothing for them: here its own decoding
    functions fail, and the strip and peaks still arrive (from the child), equal to what this
    process decoded above and cached on disk for the next session."""
    from idlora_studio.ui.timeline.media_cache import MediaCache
    from idlora_studio.workers import timeline_media
    from idlora_studio.workers.tasks import TaskRunner
    from idlora_studio.workers.timeline_media import MediaProcess

    media = rig.state.media(rig.env.take_ids[2])
    qtbot.waitUntil(lambda: rig.cache.thumbnails(media) is not None, timeout=10000)
    here = rig.cache.thumbnails(media)
    qtbot.waitUntil(lambda: rig.cache.waveform(media) is not None, timeout=10000)
    here_peaks = rig.cache.waveform(media)

    def not_here(*_a: object) -> None:
        raise AssertionError("decoded in the GUI's process")

    monkeypatch.setattr(timeline_media, "compute_thumbnails", not_here)
    monkeypatch.setattr(timeline_media, "compute_peaks", not_here)
    process = MediaProcess()
    runner = TaskRunner(max_threads=2)
    cache = MediaCache(runner, paths.thumbnails_dir / "other", process=process)
    failures: list[str] = []
    cache.failed.connect(lambda _h, msg: failures.append(msg))
    try:
        qtbot.waitUntil(lambda: failures or cache.thumbnails(media) is not None, timeout=60000)
        qtbot.waitUntil(lambda: failures or cache.waveform(media) is not None, timeout=60000)
        assert not failures
        assert process.child_pid() != os.getpid()
        strip = cache.thumbnails(media)
        assert strip is not None and strip.indices == here.indices
        assert [i.size() for i in strip.images] == [i.size() for i in here.images]
        assert (
            abs(
                strip.images[-1].pixelColor(50, 30).blue()
                - here.images[-1].pixelColor(50, 30).blue()
            )
            <= 2
        )
        assert np.allclose(cache.waveform(media), here_peaks)
        cached = paths.thumbnails_dir / "other" / "timeline"
        assert (cached / f"{media.video_hash}-h56.png").is_file()
        assert (cached / f"{media.video_hash}-peaks.npy").is_file()
    finally:
        runner.wait(10000)
        process.close()
    with pytest.raises(RuntimeError, match="closed"):
        process.child_pid()
