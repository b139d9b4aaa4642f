"""The timeline: a custom-painted ruler, video track (frame thumbnails) and audio track
(waveform) with a playhead, zoom, snapping, drops from the bin and keyboard editing.

``TimelineCanvas`` paints ``ProjectState.clips`` and turns mouse/keyboard gestures into the
state's undoable edits (``insert_take``, ``move_clip``, ``trim_clip``, ``remove_clip`` ...);
during a drag it only paints a preview and commits one edit on release. Thumbnails and peaks
come from ``MediaCache`` (computed on workers; a miss paints a placeholder and repaints when
ready). ``TimelineView`` adds the scroll bar; ``timeline.panel.TimelinePanel`` composes bin,
viewer, transport bar and timeline for the main window.

Keys (canvas focused): Space play/pause, J/K/L shuttle, Left/Right one frame (Shift: one
second), Home/End, I/O set in/out (Alt+X clears), Delete/Backspace remove the selected clip,
S split at the playhead, Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo, +/- or Ctrl+wheel zoom.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QScrollBar, QSizePolicy, QVBoxLayout, QWidget

from idlora_studio.state.project import ProjectState, TimelineItem
from idlora_studio.ui.palette import ACCENT, OK, TEXT_DIM
from idlora_studio.ui.timeline.media_cache import MediaCache
from idlora_studio.ui.timeline.player import TimelinePlayer, timecode

#: Mime type of takes dragged from the bin: JSON ``{"take_ids": [...]}``.
TAKE_MIME = "application/x-idlora-take-ids"

HEADER_W = 84  # wide enough for the playhead's HH:MM:SS:FF
RULER_H = 28
VIDEO_Y = RULER_H + 6
VIDEO_H = 62
AUDIO_Y = VIDEO_Y + VIDEO_H + 6
AUDIO_H = 46
TOTAL_H = AUDIO_Y + AUDIO_H + 10
EDGE_PX = 6
SNAP_PX = 8
MIN_PPF, MAX_PPF = 0.05, 40.0

BG = QColor("#16181d")
TRACK_BG = QColor("#1b1e25")
HEADER_BG = QColor("#1f2229")
RULER_BG = QColor("#1d2027")
TICK = QColor("#4a5060")
PLAYHEAD = QColor("#ff6b5e")
VIDEO_CLIP = QColor("#2b3550")
AUDIO_CLIP = QColor("#1d3a33")
WAVE = OK
MARK = QColor(108, 140, 255, 46)


def encode_take_mime(take_ids: list[int]) -> QMimeData:
    mime = QMimeData()
    mime.setData(TAKE_MIME, json.dumps({"take_ids": [int(t) for t in take_ids]}).encode())
    return mime


def decode_take_mime(mime: QMimeData) -> list[int]:
    if not mime.hasFormat(TAKE_MIME):
        return []
    try:
        return [int(t) for t in json.loads(bytes(mime.data(TAKE_MIME)).decode())["take_ids"]]
    except (ValueError, KeyError, TypeError):
        return []


@dataclass
class _Gesture:
    kind: str  # "scrub" | "move" | "trim-left" | "trim-right"
    key: int | None = None
    press_x: float = 0.0
    grab_offset: int = 0  # frames between the clip start and the press point
    preview: int = 0  # move: new start; trim: edge frame
    moved: bool = False


class TimelineCanvas(QWidget):
    """Paints and edits the timeline of a ``ProjectState``."""

    zoom_changed = Signal(float)
    drag_out_requested = Signal(int)  # clip key dragged out of the canvas

    def __init__(
        self,
        state: ProjectState,
        cache: MediaCache,
        player: TimelinePlayer,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("timelineCanvas")
        self.state = state
        self.cache = cache
        self.player = player
        self.px_per_frame = 4.0
        self.scroll_px = 0.0
        self.snapping = True
        self._gesture: _Gesture | None = None
        self._drop_frame: int | None = None
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(TOTAL_H)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for sig in (
            state.clips_changed,
            state.selection_changed,
            state.marks_changed,
            state.project_changed,
            cache.thumbnails_ready,
            cache.waveform_ready,
        ):
            sig.connect(self.update)
        state.playhead_changed.connect(self._follow_playhead)

    # ------------------------------------------------------------------ geometry
    def x_of(self, frame: float) -> float:
        return HEADER_W + frame * self.px_per_frame - self.scroll_px

    def frame_at(self, x: float) -> int:
        return max(0, round((x - HEADER_W + self.scroll_px) / self.px_per_frame))

    def clip_rect(self, c: TimelineItem, track: str = "video") -> QRectF:
        y, h = (VIDEO_Y, VIDEO_H) if track == "video" else (AUDIO_Y, AUDIO_H)
        return QRectF(self.x_of(c.position), y, c.length * self.px_per_frame, h)

    def content_width(self) -> float:
        return (self.state.duration + 10 * self.state.fps) * self.px_per_frame

    def set_zoom(self, px_per_frame: float, anchor_x: float | None = None) -> None:
        px_per_frame = max(MIN_PPF, min(MAX_PPF, px_per_frame))
        anchor_x = self.x_of(self.state.playhead) if anchor_x is None else anchor_x
        frame = (anchor_x - HEADER_W + self.scroll_px) / self.px_per_frame
        self.px_per_frame = px_per_frame
        self.scroll_px = max(0.0, frame * px_per_frame - (anchor_x - HEADER_W))
        self.zoom_changed.emit(px_per_frame)
        self.update()

    def zoom_in(self) -> None:
        self.set_zoom(self.px_per_frame * 1.5)

    def zoom_out(self) -> None:
        self.set_zoom(self.px_per_frame / 1.5)

    def zoom_to_fit(self) -> None:
        dur = max(self.state.duration, int(self.state.fps * 2))
        self.scroll_px = 0.0
        self.set_zoom((self.width() - HEADER_W - 20) / dur, anchor_x=HEADER_W)

    def set_scroll(self, px: float) -> None:
        self.scroll_px = max(0.0, float(px))
        self.update()

    def _follow_playhead(self, frame: int) -> None:
        x = self.x_of(frame)
        if self.player.playing and x > self.width() - 40:
            self.scroll_px += x - HEADER_W - 40
            self.zoom_changed.emit(self.px_per_frame)
        self.update()

    # ------------------------------------------------------------------ hit testing
    def hit(self, pos: QPointF) -> tuple[str, int | None]:
        """What is under ``pos``: ("ruler"|"empty"|"body"|"left"|"right", clip key)."""
        if pos.y() < RULER_H:
            return "ruler", None
        if not (VIDEO_Y <= pos.y() <= AUDIO_Y + AUDIO_H):
            return "empty", None
        for c in self.state.clips:
            r = self.clip_rect(c)
            if r.left() - EDGE_PX / 2 <= pos.x() <= r.right() + EDGE_PX / 2:
                edge = min(EDGE_PX, r.width() / 3)
                if pos.x() <= r.left() + edge:
                    return "left", c.key
                if pos.x() >= r.right() - edge:
                    return "right", c.key
                return "body", c.key
        return "empty", None

    def snap(self, frame: int, exclude: int | None = None, ends: tuple[int, ...] = (0,)) -> int:
        """Snap ``frame`` (offset by each of ``ends``) to clip edges and the playhead."""
        if not self.snapping:
            return frame
        targets = {self.state.playhead}
        for c in self.state.clips:
            if c.key != exclude:
                targets.update((c.position, c.end))
        targets.add(0)
        best, best_px = frame, SNAP_PX + 1.0
        for off in ends:
            for t in targets:
                px = abs((frame + off - t) * self.px_per_frame)
                if px < best_px:
                    best, best_px = t - off, px
        return max(0, best)

    # ------------------------------------------------------------------ mouse
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus()
        pos = event.position()
        where, key = self.hit(pos)
        frame = self.frame_at(pos.x())
        if where in ("ruler", "empty"):
            self.state.select(None) if where == "empty" else None
            self._gesture = _Gesture("scrub", press_x=pos.x())
            self.state.set_playhead(frame)
            return
        assert key is not None
        self.state.select(key)
        c = self.state.clip(key)
        if where == "body":
            self._gesture = _Gesture(
                "move", key, pos.x(), grab_offset=frame - c.position, preview=c.position
            )
        else:
            edge = c.position if where == "left" else c.end
            self._gesture = _Gesture(f"trim-{where}", key, pos.x(), preview=edge)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        g = self._gesture
        if g is None:
            where, _ = self.hit(pos)
            shape = (
                Qt.CursorShape.SizeHorCursor
                if where in ("left", "right")
                else Qt.CursorShape.OpenHandCursor
                if where == "body"
                else Qt.CursorShape.ArrowCursor
            )
            self.setCursor(shape)
            return
        if abs(pos.x() - g.press_x) >= 3:
            g.moved = True
        frame = self.frame_at(pos.x())
        if g.kind == "scrub":
            self.state.set_playhead(frame)
            return
        assert g.key is not None
        if g.kind == "move" and (pos.y() < -30 or pos.y() > self.height() + 30):
            # Dragged out of the timeline: hand the clip to drag-and-drop export.
            self._gesture = None
            self.update()
            self.drag_out_requested.emit(g.key)
            return
        c = self.state.clip(g.key)
        delta = round((pos.x() - g.press_x) / self.px_per_frame)
        if g.kind == "move":
            g.preview = self.snap(max(0, c.position + delta), g.key, ends=(0, c.length))
        else:
            edge = c.position if g.kind == "trim-left" else c.end
            g.preview = self.snap(max(0, edge + delta), g.key)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        g, self._gesture = self._gesture, None
        if g is None or g.kind == "scrub" or not g.moved or g.key is None:
            self.update()
            return
        if g.kind == "move":
            self.state.move_clip(g.key, g.preview)
        elif g.kind == "trim-left":
            self.state.trim_clip(g.key, "left", g.preview)
        elif g.kind == "trim-right":
            self.state.trim_clip(g.key, "right", g.preview)
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.25 if delta > 0 else 0.8
            self.set_zoom(self.px_per_frame * factor, anchor_x=event.position().x())
        else:
            self.set_scroll(self.scroll_px - delta)
            self.zoom_changed.emit(self.px_per_frame)
        event.accept()

    # ------------------------------------------------------------------ drops from the bin
    def _drop_position(self, x: float, take_ids: list[int]) -> int:
        first = self.state.media(take_ids[0]) if take_ids else None
        length = first.num_frames if first else 0
        return self.snap(self.frame_at(x), ends=(0, length))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if decode_take_mime(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        ids = decode_take_mime(event.mimeData())
        if not ids:
            event.ignore()
            return
        self._drop_frame = self._drop_position(event.position().x(), ids)
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.update()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802
        self._drop_frame = None
        self.update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        ids = [t for t in decode_take_mime(event.mimeData()) if self._known(t)]
        self._drop_frame = None
        if not ids:
            event.ignore()
            return
        pos = self._drop_position(event.position().x(), ids)
        self.state.undo_stack.beginMacro("Add clips") if len(ids) > 1 else None
        for take_id in ids:
            key = self.state.insert_take(take_id, pos)
            pos = self.state.clip(key).end
        self.state.undo_stack.endMacro() if len(ids) > 1 else None
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.update()

    def _known(self, take_id: int) -> bool:
        try:
            self.state.media(take_id)
        except KeyError:
            return False
        return True

    # ------------------------------------------------------------------ keys
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        mods = event.modifiers()
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        st = self.state
        K = Qt.Key  # noqa: N806
        if ctrl and key == K.Key_Z:
            st.redo() if shift else st.undo()
        elif ctrl and key == K.Key_Y:
            st.redo()
        elif key == K.Key_Space:
            self.player.toggle()
        elif key == K.Key_J:
            self.player.shuttle(-1)
        elif key == K.Key_K:
            self.player.shuttle(0)
        elif key == K.Key_L:
            self.player.shuttle(1)
        elif key in (K.Key_Left, K.Key_Right):
            self.player.pause()
            step = max(1, round(st.fps)) if shift else 1
            st.set_playhead(st.playhead + (step if key == K.Key_Right else -step))
        elif key == K.Key_Home:
            st.set_playhead(0)
        elif key == K.Key_End:
            st.set_playhead(st.duration)
        elif key == K.Key_I:
            st.set_in()
        elif key == K.Key_O:
            st.set_out()
        elif key == K.Key_X and mods & Qt.KeyboardModifier.AltModifier:
            st.clear_marks()
        elif key in (K.Key_Delete, K.Key_Backspace):
            if st.selected_key is not None:
                st.remove_clip(st.selected_key)
        elif key == K.Key_S and not ctrl:
            c = st.clip_at(st.playhead)
            if c is not None:
                st.split_clip(c.key, st.playhead)
        elif key in (K.Key_Plus, K.Key_Equal):
            self.zoom_in()
        elif key in (K.Key_Minus, K.Key_Underscore):
            self.zoom_out()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    # ------------------------------------------------------------------ painting
    def _preview_clips(self) -> list[TimelineItem]:
        """The clips as a drag in progress would leave them (drawn, not yet committed)."""
        g = self._gesture
        clips = list(self.state.clips)
        if g is None or g.kind == "scrub" or g.key is None or not g.moved:
            return clips
        out = []
        for c in clips:
            if c.key == g.key:
                media = self.state.media(c.take_id)
                if g.kind == "move":
                    c = TimelineItem(c.key, c.take_id, g.preview, c.in_frame, c.out_frame)
                elif g.kind == "trim-left":
                    d = max(min(g.preview - c.position, c.length - 1), -c.in_frame, -c.position)
                    c = TimelineItem(c.key, c.take_id, c.position + d, c.in_frame + d, c.out_frame)
                else:
                    out_f = min(
                        max(c.in_frame + 1, c.in_frame + g.preview - c.position), media.num_frames
                    )
                    c = TimelineItem(c.key, c.take_id, c.position, c.in_frame, out_f)
            out.append(c)
        return out

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), BG)
        w = self.width()
        for y, h in ((VIDEO_Y, VIDEO_H), (AUDIO_Y, AUDIO_H)):
            p.fillRect(QRectF(HEADER_W, y, w - HEADER_W, h), TRACK_BG)
        p.save()
        p.setClipRect(QRectF(HEADER_W, 0, w - HEADER_W, self.height()))
        self._paint_ruler(p)
        self._paint_marks(p)
        gesture_key = self._gesture.key if self._gesture and self._gesture.moved else None
        for c in self._preview_clips():
            selected = c.key == self.state.selected_key
            self._paint_video_clip(p, c, selected, c.key == gesture_key)
            self._paint_audio_clip(p, c, selected)
        if self._drop_frame is not None:
            x = self.x_of(self._drop_frame)
            p.setPen(QPen(ACCENT, 2))
            p.drawLine(QPointF(x, VIDEO_Y - 4), QPointF(x, AUDIO_Y + AUDIO_H + 4))
        self._paint_playhead(p)
        p.restore()
        self._paint_headers(p)
        p.end()

    def _paint_headers(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, HEADER_W, self.height()), HEADER_BG)
        p.setPen(QPen(QColor("#2a2e37"), 1))
        p.drawLine(QPointF(HEADER_W - 0.5, 0), QPointF(HEADER_W - 0.5, self.height()))
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(9)
        p.setFont(font)
        p.setPen(TEXT_DIM)
        p.drawText(QRectF(0, VIDEO_Y, HEADER_W, VIDEO_H), Qt.AlignmentFlag.AlignCenter, "▣  V1")
        p.drawText(QRectF(0, AUDIO_Y, HEADER_W, AUDIO_H), Qt.AlignmentFlag.AlignCenter, "♪  A1")
        p.setPen(QColor("#c5cad6"))
        font.setBold(False)
        p.setFont(font)
        p.drawText(
            QRectF(0, 0, HEADER_W, RULER_H),
            Qt.AlignmentFlag.AlignCenter,
            timecode(self.state.playhead, self.state.fps),
        )

    def _tick_step(self) -> tuple[int, int]:
        """(major, minor) tick spacing in frames for the zoom."""
        fps = max(1, round(self.state.fps))
        for major in (
            1,
            2,
            5,
            10,
            fps // 2 or 1,
            fps,
            2 * fps,
            5 * fps,
            10 * fps,
            30 * fps,
            60 * fps,
            300 * fps,
        ):
            if major * self.px_per_frame >= 90:  # room for an HH:MM:SS:FF label
                minor = max(1, major // 5) if major >= 5 else 1
                return major, minor
        return 600 * fps, 60 * fps

    def _paint_ruler(self, p: QPainter) -> None:
        w = self.width()
        p.fillRect(QRectF(HEADER_W, 0, w - HEADER_W, RULER_H), RULER_BG)
        major, minor = self._tick_step()
        first = self.frame_at(HEADER_W) // minor * minor
        last = self.frame_at(w) + minor
        font = QFont(self.font())
        font.setPointSizeF(8)
        p.setFont(font)
        for f in range(first, last, minor):
            x = round(self.x_of(f)) + 0.5
            if f % major == 0:
                p.setPen(QPen(TICK, 1))
                p.drawLine(QPointF(x, RULER_H - 12), QPointF(x, RULER_H))
                p.setPen(TEXT_DIM)
                p.drawText(QPointF(x + 3, 12), timecode(f, self.state.fps))
            else:
                p.setPen(QPen(QColor("#353a46"), 1))
                p.drawLine(QPointF(x, RULER_H - 5), QPointF(x, RULER_H))
        p.setPen(QPen(QColor("#2a2e37"), 1))
        p.drawLine(QPointF(HEADER_W, RULER_H - 0.5), QPointF(w, RULER_H - 0.5))

    def _paint_marks(self, p: QPainter) -> None:
        st = self.state
        if st.in_point is None and st.out_point is None:
            return
        a = st.in_point if st.in_point is not None else 0
        b = st.out_point if st.out_point is not None else st.duration
        r = QRectF(self.x_of(a), 0, (b - a) * self.px_per_frame, self.height())
        p.fillRect(r, MARK)
        p.fillRect(QRectF(r.left(), RULER_H - 4, r.width(), 4), ACCENT)

    def _paint_video_clip(
        self, p: QPainter, c: TimelineItem, selected: bool, dragging: bool
    ) -> None:
        r = self.clip_rect(c)
        if r.right() < HEADER_W or r.left() > self.width():
            return
        media = self.state.media(c.take_id)
        path = QPainterPath()
        path.addRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        p.save()
        p.setClipPath(path, Qt.ClipOperation.IntersectClip)
        p.fillRect(r, VIDEO_CLIP)
        strip = self.cache.thumbnails(media)
        if strip is not None and strip.images:
            tw = strip.images[0].width() * (r.height() / strip.images[0].height())
            x = max(r.left(), HEADER_W - tw)
            x = r.left() + math.floor((x - r.left()) / tw) * tw
            while x < min(r.right(), self.width()):
                frame = c.in_frame + int((x - r.left()) / self.px_per_frame)
                img = strip.nearest(frame)
                if img is not None:
                    p.drawImage(QRectF(x, r.top(), tw, r.height()), img)
                x += tw
            p.fillRect(QRectF(r.left(), r.top(), r.width(), 18), QColor(10, 12, 16, 150))
        p.setPen(QColor("#e8eaf0"))
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        p.setFont(font)
        name = media.label or f"Take {media.take_id}"
        p.drawText(
            r.adjusted(6, 2, -6, 0),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
            p.fontMetrics().elidedText(
                f"{name}  ·  {c.length / self.state.fps:.1f}s",
                Qt.TextElideMode.ElideRight,
                max(0, int(r.width()) - 12),
            ),
        )
        p.restore()
        border = ACCENT if selected else QColor("#3a4358")
        p.setPen(QPen(border, 2 if selected else 1))
        if dragging:
            p.setOpacity(0.85)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        p.setOpacity(1.0)
        if selected:  # trim handles
            for x in (r.left() + 2, r.right() - 5):
                p.fillRect(QRectF(x, r.top() + r.height() / 2 - 10, 3, 20), ACCENT)

    def _paint_audio_clip(self, p: QPainter, c: TimelineItem, selected: bool) -> None:
        r = self.clip_rect(c, "audio")
        if r.right() < HEADER_W or r.left() > self.width():
            return
        media = self.state.media(c.take_id)
        p.setPen(QPen(ACCENT if selected else QColor("#2f5548"), 2 if selected else 1))
        p.setBrush(AUDIO_CLIP)
        p.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        peaks = self.cache.waveform(media)
        if peaks is None or len(peaks) == 0:
            return
        from idlora_studio.ui.timeline.media_cache import PEAKS_PER_S

        x0 = max(r.left() + 1, HEADER_W)
        x1 = min(r.right() - 1, self.width())
        if x1 <= x0:
            return
        xs = np.arange(math.floor(x0), math.ceil(x1), 1.0)
        frames_at = c.in_frame + (xs - r.left()) / self.px_per_frame
        b0 = np.clip((frames_at / media.fps * PEAKS_PER_S).astype(int), 0, len(peaks) - 1)
        b1 = np.clip(
            ((frames_at + 1 / self.px_per_frame) / media.fps * PEAKS_PER_S).astype(int) + 1,
            1,
            len(peaks),
        )
        lo = np.array([peaks[a : max(a + 1, b), 0].min() for a, b in zip(b0, b1, strict=True)])
        hi = np.array([peaks[a : max(a + 1, b), 1].max() for a, b in zip(b0, b1, strict=True)])
        mid = r.center().y()
        half = r.height() / 2 - 4
        top = [QPointF(x, mid - max(h, 0.0) * half - 0.5) for x, h in zip(xs, hi, strict=True)]
        bottom = [QPointF(x, mid - min(v, 0.0) * half + 0.5) for x, v in zip(xs, lo, strict=True)]
        poly = QPolygonF(top + bottom[::-1])
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(WAVE)
        p.drawPolygon(poly)

    def _paint_playhead(self, p: QPainter) -> None:
        x = self.x_of(self.state.playhead)
        p.setPen(QPen(PLAYHEAD, 1.5))
        p.drawLine(QPointF(x, RULER_H - 2), QPointF(x, self.height()))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(PLAYHEAD)
        p.drawPolygon(
            QPolygonF(
                [
                    QPointF(x - 6, RULER_H - 12),
                    QPointF(x + 6, RULER_H - 12),
                    QPointF(x, RULER_H - 3),
                ]
            )
        )


class TimelineView(QWidget):
    """The canvas with its horizontal scroll bar."""

    def __init__(self, canvas: TimelineCanvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setStyleSheet(
            "QScrollBar:horizontal { background: #16181d; height: 10px; margin: 1px 2px; }"
            "QScrollBar::handle:horizontal { background: #3a3f4b; border-radius: 4px; min-width: 30px; }"
            "QScrollBar::add-line, QScrollBar::sub-line { width: 0; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(canvas)
        layout.addWidget(self.scrollbar)
        self.scrollbar.valueChanged.connect(lambda v: canvas.set_scroll(v))
        canvas.zoom_changed.connect(self._sync)
        canvas.state.clips_changed.connect(self._sync)
        self._sync()

    def _sync(self, *_: object) -> None:
        c = self.canvas
        maximum = max(0, int(c.content_width() - (c.width() - HEADER_W)))
        self.scrollbar.blockSignals(True)
        self.scrollbar.setRange(0, max(maximum, int(c.scroll_px)))
        self.scrollbar.setPageStep(max(1, c.width() - HEADER_W))
        self.scrollbar.setValue(int(c.scroll_px))
        self.scrollbar.blockSignals(False)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._sync()
