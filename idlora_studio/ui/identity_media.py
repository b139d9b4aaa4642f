"""The identity editor's media: reference images (with the face check's advice made
actionable) and voice clips (with the reference window generation uses, movable).

* :class:`ImagesSection` lists the images; the selected one is shown large with every face
  the check found outlined and the suggested crop drawn on it; "Use suggested crop" makes
  the crop a new reference image (the original stays).
* :class:`ClipsSection` lists the clips as rows: play, a waveform on which the ~5 s window
  that generation encodes is shaded and dragged, the clip's facts and its warnings in full
  (wrapped, and on hover).

Both bind to ``LibraryState`` (every library call runs on its database worker) and offer
right-click menus with the useful actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.state.library_state import LibraryState
from idlora_studio.ui.file_actions import build_menu, reveal_file
from idlora_studio.ui.palette import ACCENT, TEXT_DIM, WARN
from idlora_studio.ui.thumbnails import ThumbnailCache, picture_icon
from idlora_studio.ui.widgets.waveform import WaveformView

ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_PATH_ROLE = Qt.ItemDataRole.UserRole + 2
PREVIEW_SIDE = 256  # the stored thumbnails are at most this long
#: A suggested crop keeping more than this share of the picture is not worth a new image.
CROP_WORTH = 0.9


def crop_is_useful(image: Any) -> bool:
    """True when ``image`` has a suggested crop that meaningfully tightens the picture."""
    crop = getattr(image, "suggested_crop", None)
    if not crop or not image.width or not image.height:
        return False
    _, _, w, h = crop
    return w * h < CROP_WORTH * image.width * image.height


# ----------------------------------------------------------------------------- images
class FacePreview(QWidget):
    """The selected reference image, its faces outlined and the suggested crop marked
    (outside the crop dimmed, the crop framed in the accent colour)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("facePreview")
        self.setMinimumSize(200, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(200)
        self._pix: QPixmap | None = None
        self._size = (0, 0)
        self._faces: tuple[Any, ...] = ()
        self._crop: tuple[int, int, int, int] | None = None

    def set_image(
        self,
        pix: QPixmap | None,
        size: tuple[int, int],
        faces: Sequence[Any] = (),
        crop: tuple[int, int, int, int] | None = None,
    ) -> None:
        self._pix, self._size = pix, size
        self._faces, self._crop = tuple(faces), crop
        self.update()

    @property
    def crop(self) -> tuple[int, int, int, int] | None:
        return self._crop

    def image_rect(self) -> QRectF:
        """Where the whole image is drawn (aspect kept, centred)."""
        w, h = self._size
        if not w or not h:
            return QRectF()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def map_box(self, box: tuple[int, int, int, int]) -> QRectF:
        """An (x, y, w, h) box in image pixels, in widget coordinates."""
        r = self.image_rect()
        s = r.width() / self._size[0] if self._size[0] else 0.0
        x, y, w, h = box
        return QRectF(r.left() + x * s, r.top() + y * s, w * s, h * s)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        bg = QPainterPath()
        bg.addRoundedRect(QRectF(self.rect()), 8, 8)
        p.fillPath(bg, QColor("#14161b"))
        r = self.image_rect()
        if self._pix is None or r.isEmpty():
            p.setPen(TEXT_DIM)
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Select an image")
            p.end()
            return
        p.drawPixmap(r.toRect(), self._pix)
        if self._crop is not None:
            c = self.map_box(self._crop)
            shade = QPainterPath()
            shade.addRect(r)
            inner = QPainterPath()
            inner.addRect(c)
            p.fillPath(shade.subtracted(inner), QColor(0, 0, 0, 130))
            p.setPen(QPen(ACCENT, 2, Qt.PenStyle.DashLine))
            p.drawRect(c.adjusted(1, 1, -1, -1))
            # the caption sits on a pill just outside the frame (below, else above)
            text = "suggested crop"
            fm = p.fontMetrics()
            pill = QRectF(0, 0, fm.horizontalAdvance(text) + 12, fm.height() + 4)
            below = c.bottom() + 4 + pill.height() <= self.height()
            pill.moveTo(
                max(0.0, min(c.left(), self.width() - pill.width())),
                c.bottom() + 4 if below else max(0.0, c.top() - pill.height() - 4),
            )
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ACCENT)
            p.drawRoundedRect(pill, 4, 4)
            p.setPen(QColor("#0f1115"))
            p.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        p.setBrush(Qt.BrushStyle.NoBrush)
        for n, face in enumerate(self._faces):
            box = self.map_box((face.x, face.y, face.width, face.height))
            p.setPen(QPen(QColor(255, 255, 255, 200 if n == 0 else 130), 1.5))
            p.drawRoundedRect(box, 3, 3)
        p.end()


class ImagesSection(QGroupBox):
    """Reference images: icon list, preview with the face check's advice, actions."""

    def __init__(
        self, state: LibraryState, thumbnails: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__("Reference images", parent)
        self._state = state
        self._thumbnails = thumbnails
        self._identity_id = -1
        self._images: dict[int, Any] = {}
        self._select_after_load: int | None = None

        self.images_list = QListWidget()
        self.images_list.setViewMode(QListView.ViewMode.IconMode)
        self.images_list.setIconSize(QSize(96, 96))
        self.images_list.setGridSize(QSize(116, 128))
        self.images_list.setMovement(QListView.Movement.Static)
        self.images_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.images_list.setFixedHeight(150)
        self.images_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.images_list.setAcceptDrops(False)
        self.images_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.images_list.customContextMenuRequested.connect(self._context_menu)
        self.images_list.currentItemChanged.connect(self._selection_changed)

        self.add_image_button = QPushButton("Add images…")
        self.default_image_button = QPushButton("Set as default")
        self.remove_image_button = QPushButton("Remove")
        buttons = QHBoxLayout()
        for b in (self.add_image_button, self.default_image_button, self.remove_image_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.default_image_button.clicked.connect(lambda: self.set_default())
        self.remove_image_button.clicked.connect(lambda: self.remove())

        self.preview = FacePreview()
        self.faces_label = QLabel()
        self.faces_label.setObjectName("dimLabel")
        self.faces_label.setWordWrap(True)
        self.image_warning = QLabel()
        self.image_warning.setObjectName("warningLabel")
        self.image_warning.setWordWrap(True)
        self.image_warning.hide()
        self.crop_button = QPushButton("Use suggested crop")
        self.crop_button.setObjectName("primaryButton")
        self.crop_button.setToolTip(
            "Add the framed part as a new reference image (the original stays)"
        )
        self.crop_button.clicked.connect(lambda: self.apply_crop())
        advice = QVBoxLayout()
        advice.setSpacing(6)
        advice.addWidget(self.faces_label)
        advice.addWidget(self.image_warning)
        advice.addWidget(self.crop_button, 0, Qt.AlignmentFlag.AlignLeft)
        advice.addStretch(1)
        detail_row = QHBoxLayout()
        detail_row.addWidget(self.preview, 3)
        detail_row.addLayout(advice, 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.images_list)
        layout.addLayout(buttons)
        layout.addLayout(detail_row)
        thumbnails.ready.connect(self._thumbnail_ready)
        self._selection_changed()

    # --- data ----------------------------------------------------------------------
    def set_images(self, identity_id: int, images: Sequence[Any]) -> None:
        keep = self.current_image_id() if identity_id == self._identity_id else None
        target = self._select_after_load or keep
        self._select_after_load = None
        self._identity_id = identity_id
        self._images = {img.id: img for img in images}
        self.images_list.blockSignals(True)
        self.images_list.clear()
        for img in images:
            item = QListWidgetItem(("★ " if img.is_default else "") + f"{img.width}×{img.height}")
            item.setData(ITEM_ID_ROLE, img.id)
            path = str(img.thumbnail_path or img.path)
            item.setData(ITEM_PATH_ROLE, path)
            tip = [Path(str(img.path)).name, f"{img.width}×{img.height}, faces: {img.face_count}"]
            tip += [f"⚠ {w}" for w in img.warnings]
            if img.warnings:
                item.setForeground(WARN)
            item.setToolTip("\n".join(tip))
            self._set_item_icon(item, self._thumbnails.get(path), bool(img.warnings))
            self.images_list.addItem(item)
        self.images_list.blockSignals(False)
        # Show one image's advice at once: the one asked for, else the default, else the first.
        ids = [img.id for img in images]
        if target not in ids:
            target = next((img.id for img in images if img.is_default), ids[0] if ids else None)
        if target is not None:
            self.images_list.setCurrentRow(ids.index(target))
        self._selection_changed()

    def current_image_id(self) -> int | None:
        item = self.images_list.currentItem()
        return int(item.data(ITEM_ID_ROLE)) if item is not None else None

    def current_image(self) -> Any | None:
        image_id = self.current_image_id()
        return self._images.get(image_id) if image_id is not None else None

    # --- actions -------------------------------------------------------------------
    def set_default(self, image_id: int | None = None) -> None:
        image_id = self.current_image_id() if image_id is None else image_id
        if image_id is not None:
            self._state.set_default_image(self._identity_id, image_id)

    def remove(self, image_id: int | None = None) -> None:
        image_id = self.current_image_id() if image_id is None else image_id
        if image_id is not None:
            self._state.remove_image(self._identity_id, image_id)

    def apply_crop(self, image_id: int | None = None) -> None:
        """Add the suggested crop of the image as a new reference image (and show it)."""
        image_id = self.current_image_id() if image_id is None else image_id
        image = self._images.get(image_id) if image_id is not None else None
        if image is None or not crop_is_useful(image):
            return
        self.crop_button.setEnabled(False)

        def done(added: Any) -> None:
            self._select_after_load = int(added.image_id)

        self._state.crop_image(self._identity_id, image.id, done)

    def reveal(self, image_id: int | None = None) -> None:
        image_id = self.current_image_id() if image_id is None else image_id
        image = self._images.get(image_id) if image_id is not None else None
        if image is not None:
            reveal_file(image.path)

    def context_menu(self, image_id: int) -> QMenu:
        image = self._images[image_id]
        return build_menu(
            self,
            [
                ("Set as default", lambda: self.set_default(image_id), not image.is_default),
                ("Use suggested crop", lambda: self.apply_crop(image_id), crop_is_useful(image)),
                ("Reveal file", lambda: self.reveal(image_id), True),
                None,
                ("Remove", lambda: self.remove(image_id), True),
            ],
        )

    def _context_menu(self, pos: QPoint) -> None:
        item = self.images_list.itemAt(pos)
        if item is None:
            return
        self.images_list.setCurrentItem(item)
        self.context_menu(int(item.data(ITEM_ID_ROLE))).exec(
            self.images_list.viewport().mapToGlobal(pos)
        )

    # --- display -------------------------------------------------------------------
    def _selection_changed(self, *_: Any) -> None:
        image = self.current_image()
        self.default_image_button.setEnabled(image is not None and not image.is_default)
        self.remove_image_button.setEnabled(image is not None)
        if image is None:
            self.preview.set_image(None, (0, 0))
            self.faces_label.setText("")
            self.image_warning.hide()
            self.crop_button.hide()
            return
        n = int(image.face_count)
        faces = "No face found" if n == 0 else "1 face" if n == 1 else f"{n} faces"
        self.faces_label.setText(f"{Path(str(image.original_name or image.path)).name}\n{faces}")
        text = "\n".join(f"⚠ {w}" for w in image.warnings)
        self.image_warning.setText(text)
        self.image_warning.setToolTip(text)
        self.image_warning.setVisible(bool(text))
        useful = crop_is_useful(image)
        self.crop_button.setVisible(useful)
        self.crop_button.setEnabled(useful)
        self._show_preview(image)

    def _preview_path(self, image: Any) -> str:
        return str(image.thumbnail_path or image.path)

    def _show_preview(self, image: Any) -> None:
        pix = self._thumbnails.fitted(self._preview_path(image), PREVIEW_SIDE)
        crop = tuple(image.suggested_crop) if crop_is_useful(image) else None
        self.preview.set_image(
            pix,
            (int(image.width), int(image.height)),
            tuple(getattr(image, "faces", ()) or ()),
            crop,  # type: ignore[arg-type]
        )

    def _set_item_icon(self, item: QListWidgetItem, pix: QPixmap | None, warn: bool) -> None:
        if pix is None:
            pix = QPixmap(96, 96)
            pix.fill(QColor("#323847"))
        else:
            pix = pix.scaled(
                96,
                96,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        if warn:
            pix = QPixmap(pix)
            p = QPainter(pix)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setBrush(WARN)
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QRectF(pix.width() - 24, 4, 20, 20))
            p.setPen(QColor("#101217"))
            p.drawText(QRectF(pix.width() - 24, 4, 20, 20), Qt.AlignmentFlag.AlignCenter, "!")
            p.end()
        item.setIcon(picture_icon(pix))

    def _thumbnail_ready(self, key: str) -> None:
        for i in range(self.images_list.count()):
            item = self.images_list.item(i)
            if item.data(ITEM_PATH_ROLE) == key:
                image = self._images.get(int(item.data(ITEM_ID_ROLE)))
                warn = bool(image is not None and image.warnings)
                self._set_item_icon(item, self._thumbnails.cached(key), warn)
        image = self.current_image()
        if image is not None and key == ThumbnailCache.fitted_key(
            self._preview_path(image), PREVIEW_SIDE
        ):
            self._show_preview(image)


# ----------------------------------------------------------------------------- clips
class ClipRow(QFrame):
    """One voice clip: play button, waveform with the movable reference window, facts, the
    default marker and its warnings in full."""

    play_requested = Signal(str)
    selected = Signal(int)
    window_moved = Signal(int, float, float)  # clip id, start_s, end_s
    menu_requested = Signal(int, QPoint)  # clip id, global position

    def __init__(self, clip: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("clipRow")
        self.setProperty("current", False)
        self.clip = clip
        self.clip_id = int(clip.id)
        self.clip_path = str(clip.path)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(
            lambda pos: self.menu_requested.emit(self.clip_id, self.mapToGlobal(pos))
        )
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setObjectName("playButton")
        self.play_button.setFixedSize(32, 32)
        self.play_button.setToolTip("Play")
        self.play_button.clicked.connect(lambda: self.play_requested.emit(self.clip_path))

        self._duration_s = float(getattr(clip, "duration_s", 0.0) or 0.0)
        self.waveform = WaveformView(self)
        self.waveform.setMinimumSize(160, 44)
        self.waveform.setMaximumHeight(56)
        self.waveform.wave_color = ACCENT
        self.waveform.highlight_color = QColor(108, 140, 255, 60)
        self.waveform.set_peaks(tuple(getattr(clip, "peaks", ()) or ()), self._duration_s or None)
        window = getattr(clip, "best_window", None)
        if window and self._duration_s > 0:
            self.waveform.set_highlight(float(window[0]), float(window[1]))
            self.waveform.set_window_movable(True)
            self.waveform.setToolTip(
                "The shaded part is the reference generation uses: drag it to choose another"
            )
        self.waveform.window_moving.connect(lambda a, b: self._show_window(a, b, moved=True))
        self.waveform.window_moved.connect(lambda a, b: self.window_moved.emit(self.clip_id, a, b))

        title = getattr(clip, "original_name", None) or Path(self.clip_path).name
        facts = [f"{self._duration_s:.1f} s"]
        if getattr(clip, "sample_rate", None):
            facts.append(f"{clip.sample_rate / 1000:g} kHz")
        if getattr(clip, "loudness_lufs", None) is not None:
            facts.append(f"{clip.loudness_lufs:.0f} LUFS")
        if getattr(clip, "source", None):
            facts.append(str(clip.source))
        self.title_label = QLabel(("★ " if clip.is_default else "") + str(title))
        self.title_label.setObjectName("clipTitle")
        self.info_label = QLabel(" · ".join(facts))
        self.info_label.setObjectName("dimLabel")
        self.window_label = QLabel()
        self.window_label.setObjectName("dimLabel")
        warnings = tuple(getattr(clip, "warnings", ()) or ())
        text = "\n".join(f"⚠ {w}" for w in warnings)
        self.warning_label = QLabel(text)
        self.warning_label.setObjectName("warningLabel")
        self.warning_label.setWordWrap(True)
        self.warning_label.setToolTip(text)
        self.warning_label.setVisible(bool(warnings))
        self.warning_label.setSizePolicy(
            QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding
        )

        top = QHBoxLayout()
        top.addWidget(self.play_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.waveform, 1)
        text_col = QVBoxLayout()
        text_col.setSpacing(1)
        text_col.addWidget(self.title_label)
        text_col.addWidget(self.info_label)
        text_col.addWidget(self.window_label)
        top.addLayout(text_col, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.warning_label)
        if window and self._duration_s > 0:
            moved = bool(getattr(clip, "window_moved", False))
            self._show_window(float(window[0]), float(window[1]), moved=moved)

    def _show_window(self, start_s: float, end_s: float, *, moved: bool) -> None:
        what = "your choice" if moved else "suggested"
        self.window_label.setText(f"Reference {start_s:.1f}–{end_s:.1f} s ({what})")

    def set_current(self, current: bool) -> None:
        self.setProperty("current", current)
        self.style().unpolish(self)
        self.style().polish(self)

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("■" if playing else "▶")
        self.play_button.setToolTip("Stop" if playing else "Play")

    def set_progress(self, fraction: float) -> None:
        self.waveform.set_playhead(fraction * self._duration_s if fraction >= 0 else None)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.selected.emit(self.clip_id)
        super().mousePressEvent(event)


class ClipList(QWidget):
    """The clip rows stacked (each as tall as its text needs), with a current row."""

    current_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ClipRow] = []
        self._current: int | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.empty = QLabel("No voice clips yet: add or record one (about 5 s of speech).")
        self.empty.setObjectName("dimLabel")
        self._layout.addWidget(self.empty)

    def count(self) -> int:
        return len(self._rows)

    def rows(self) -> list[ClipRow]:
        return list(self._rows)

    def row(self, clip_id: int) -> ClipRow | None:
        return next((r for r in self._rows if r.clip_id == clip_id), None)

    def set_rows(self, rows: Sequence[ClipRow]) -> None:
        for r in self._rows:
            self._layout.removeWidget(r)
            r.deleteLater()
        self._rows = list(rows)
        for r in self._rows:
            self._layout.addWidget(r)
            r.selected.connect(self.set_current)
        self.empty.setVisible(not self._rows)
        if self._current is not None and self.row(self._current) is None:
            self._current = None
        self.set_current(self._current)

    def current_id(self) -> int | None:
        return self._current

    def set_current(self, clip_id: int | None) -> None:
        self._current = clip_id
        for r in self._rows:
            r.set_current(r.clip_id == clip_id)
        self.current_changed.emit()


class ClipsSection(QGroupBox):
    """Voice clips: rows with playback and the movable reference window, actions."""

    def __init__(self, state: LibraryState, parent: QWidget | None = None) -> None:
        super().__init__("Voice clips", parent)
        self._state = state
        self._identity_id = -1
        self._clips: dict[int, Any] = {}
        self._player: Any = None
        self._audio_out: Any = None
        self._playing_path = ""

        self.clips_list = ClipList()
        self.clips_list.current_changed.connect(self._selection_changed)
        self.add_clip_button = QPushButton("Add clips…")
        self.record_button = QPushButton("Record…")
        self.record_button.setObjectName("recordButton")
        self.default_clip_button = QPushButton("Set as default")
        self.remove_clip_button = QPushButton("Remove")
        self.default_clip_button.clicked.connect(lambda: self.set_default())
        self.remove_clip_button.clicked.connect(lambda: self.remove())
        buttons = QHBoxLayout()
        for b in (
            self.add_clip_button,
            self.record_button,
            self.default_clip_button,
            self.remove_clip_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        hint = QLabel(
            "The shaded part of each waveform is the reference generation uses; drag it to "
            "choose the best ~5 s."
        )
        hint.setObjectName("dimLabel")
        hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.clips_list)
        layout.addLayout(buttons)
        self._selection_changed()

    def set_clips(self, identity_id: int, clips: Sequence[Any]) -> None:
        if identity_id != self._identity_id:
            self.clips_list.set_current(None)
        self._identity_id = identity_id
        self.stop_playback()
        self._clips = {c.id: c for c in clips}
        rows = []
        for clip in clips:
            row = ClipRow(clip)
            row.play_requested.connect(self.toggle_play)
            row.window_moved.connect(self.set_window)
            row.menu_requested.connect(lambda clip_id, pos: self.context_menu(clip_id).exec(pos))
            rows.append(row)
        self.clips_list.set_rows(rows)

    # --- actions -------------------------------------------------------------------
    def _target(self, clip_id: int | None) -> int | None:
        return self.clips_list.current_id() if clip_id is None else clip_id

    def set_default(self, clip_id: int | None = None) -> None:
        clip_id = self._target(clip_id)
        if clip_id is not None:
            self._state.set_default_clip(self._identity_id, clip_id)

    def remove(self, clip_id: int | None = None) -> None:
        clip_id = self._target(clip_id)
        if clip_id is not None:
            self.stop_playback()
            self._state.remove_clip(self._identity_id, clip_id)

    def set_window(self, clip_id: int, start_s: float, end_s: float) -> None:
        """Make ``start_s``..``end_s`` the clip's reference window (what generation uses)."""
        self._state.set_clip_window(self._identity_id, clip_id, start_s, end_s)

    def reset_window(self, clip_id: int) -> None:
        self._state.reset_clip_window(self._identity_id, clip_id)

    def context_menu(self, clip_id: int) -> QMenu:
        clip = self._clips[clip_id]
        self.clips_list.set_current(clip_id)
        playing = self._playing_path == str(clip.path)
        return build_menu(
            self,
            [
                ("Stop" if playing else "Play", lambda: self.toggle_play(str(clip.path)), True),
                ("Set as default", lambda: self.set_default(clip_id), not clip.is_default),
                (
                    "Reset to the suggested window",
                    lambda: self.reset_window(clip_id),
                    bool(getattr(clip, "window_moved", False)),
                ),
                ("Reveal file", lambda: reveal_file(clip.path), True),
                None,
                ("Remove", lambda: self.remove(clip_id), True),
            ],
        )

    def _selection_changed(self) -> None:
        clip = self._clips.get(self.clips_list.current_id() or -1)
        self.default_clip_button.setEnabled(clip is not None and not clip.is_default)
        self.remove_clip_button.setEnabled(clip is not None)

    # --- playback (QtMultimedia created on first use) ---------------------------------
    def toggle_play(self, path: str) -> None:
        if self._playing_path == path:
            self.stop_playback()
            return
        self.stop_playback()
        if self._player is None:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

            self._player = QMediaPlayer(self)
            self._audio_out = QAudioOutput(self)
            self._player.setAudioOutput(self._audio_out)
            self._player.positionChanged.connect(self._position_changed)
            self._player.mediaStatusChanged.connect(self._media_status_changed)
        self._playing_path = path
        self._player.setSource(QUrl.fromLocalFile(path))
        self._player.play()
        self._with_row(path, lambda row: row.set_playing(True))

    def stop_playback(self) -> None:
        if self._player is not None and self._playing_path:
            self._player.stop()
        if self._playing_path:
            self._with_row(
                self._playing_path, lambda row: (row.set_playing(False), row.set_progress(-1))
            )
        self._playing_path = ""

    def _position_changed(self, pos: int) -> None:
        dur = self._player.duration() if self._player is not None else 0
        if dur > 0 and self._playing_path:
            self._with_row(self._playing_path, lambda row: row.set_progress(pos / dur))

    def _media_status_changed(self, status: Any) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if status in (QMediaPlayer.MediaStatus.EndOfMedia, QMediaPlayer.MediaStatus.InvalidMedia):
            self.stop_playback()

    def _with_row(self, path: str, action: Callable[[ClipRow], Any]) -> None:
        for row in self.clips_list.rows():
            if row.clip_path == path:
                action(row)
