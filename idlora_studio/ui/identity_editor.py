"""Editor for one identity: name, notes, tags, consent record, reference images, voice clips.

Binding only: reads an ``IdentityDetail`` delivered by ``LibraryState.identity_loaded`` and
sends changes back through ``LibraryState`` actions (which run on the database worker).
Dropping files on the editor adds them to the identity shown.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.state.library_state import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, LibraryState
from idlora_studio.ui.library_panel import ACCENT, TEXT_DIM, WARN, local_files
from idlora_studio.ui.thumbnails import ThumbnailCache

ITEM_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_PATH_ROLE = Qt.ItemDataRole.UserRole + 2


def _consent_class() -> Any:
    from idlora_studio.library import ConsentRecord

    return ConsentRecord


def _consent_value(consent: Any, *names: str) -> Any:
    for name in names:
        if hasattr(consent, name):
            return getattr(consent, name)
    return None


class _PeaksView(QWidget):
    """A compact waveform drawn from precomputed peak values in [0, 1]."""

    def __init__(self, peaks: Sequence[float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._peaks = tuple(float(p) for p in peaks)
        self.progress = -1.0
        self.window: tuple[float, float] | None = None  # fractions of the clip
        self.setMinimumSize(160, 34)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect())
        bg = QPainterPath()
        bg.addRoundedRect(r, 6, 6)
        p.fillPath(bg, QColor("#1b1e25"))
        if self.window is not None:
            a, b = self.window
            p.fillRect(
                QRectF(r.left() + a * r.width(), r.top(), (b - a) * r.width(), r.height()),
                QColor(108, 140, 255, 40),
            )
        mid = r.center().y()
        n = len(self._peaks)
        if n:
            bars = max(1, int(r.width() / 3))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ACCENT)
            for i in range(bars):
                lo = int(i * n / bars)
                hi = max(lo + 1, int((i + 1) * n / bars))
                v = max(self._peaks[lo:hi])
                h = max(1.0, v * (r.height() - 6))
                p.drawRoundedRect(QRectF(r.left() + i * 3, mid - h / 2, 2, h), 1, 1)
        else:
            p.setPen(TEXT_DIM)
            p.drawLine(int(r.left() + 4), int(mid), int(r.right() - 4), int(mid))
        if self.progress >= 0:
            p.setPen(QColor("#ffffff"))
            x = r.left() + self.progress * r.width()
            p.drawLine(int(x), int(r.top()), int(x), int(r.bottom()))
        p.end()


def _make_waveform(clip: Any, parent: QWidget) -> QWidget:
    """The shared ``WaveformView`` when available (best window shaded), else a private one."""
    peaks = tuple(getattr(clip, "peaks", ()) or ())
    dur = float(getattr(clip, "duration_s", 0.0) or 0.0)
    win = getattr(clip, "best_window", None)
    try:
        from idlora_studio.ui.widgets.waveform import WaveformView
    except ImportError:
        view = _PeaksView(peaks, parent)
        if win and dur > 0:
            view.window = (max(0.0, win[0] / dur), min(1.0, win[1] / dur))
        return view
    view = WaveformView(parent)
    view.setMinimumSize(160, 40)
    view.setMaximumHeight(56)
    view.wave_color = ACCENT
    view.highlight_color = QColor(108, 140, 255, 45)
    view.set_peaks(peaks, dur or None)
    if win and dur > 0:
        view.set_highlight(float(win[0]), float(win[1]))
    return view


class ClipRow(QWidget):
    """One voice clip: play button, waveform, facts, default marker, warnings."""

    play_requested = Signal(str)

    def __init__(self, clip: Any, is_default: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.clip_path = str(clip.path)
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setObjectName("playButton")
        self.play_button.setFixedSize(32, 32)
        self.play_button.setToolTip("Play")
        self.play_button.clicked.connect(lambda: self.play_requested.emit(self.clip_path))
        self.waveform = _make_waveform(clip, self)
        dur = float(getattr(clip, "duration_s", 0.0) or 0.0)
        self._duration_s = dur
        title = getattr(clip, "original_name", None) or Path(self.clip_path).name
        facts = [f"{dur:.1f} s"]
        if getattr(clip, "sample_rate", None):
            facts.append(f"{clip.sample_rate / 1000:g} kHz")
        if getattr(clip, "loudness_lufs", None) is not None:
            facts.append(f"{clip.loudness_lufs:.0f} LUFS")
        if getattr(clip, "source", None):
            facts.append(str(clip.source))
        name = QLabel(("★ " if is_default else "") + str(title))
        name.setObjectName("clipTitle")
        info = QLabel(" · ".join(facts))
        info.setObjectName("dimLabel")
        text = QVBoxLayout()
        text.setSpacing(1)
        text.addWidget(name)
        text.addWidget(info)
        warnings = tuple(getattr(clip, "warnings", ()) or ())
        self.warning_label = QLabel("⚠ " + "; ".join(warnings) if warnings else "")
        self.warning_label.setObjectName("warningLabel")
        self.warning_label.setVisible(bool(warnings))
        self.warning_label.setWordWrap(True)
        text.addWidget(self.warning_label)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 4, 6, 4)
        row.addWidget(self.play_button)
        row.addWidget(self.waveform, 2)
        row.addLayout(text, 3)

    def set_playing(self, playing: bool) -> None:
        self.play_button.setText("■" if playing else "▶")
        self.play_button.setToolTip("Stop" if playing else "Play")

    def set_progress(self, fraction: float) -> None:
        if isinstance(self.waveform, _PeaksView):
            self.waveform.progress = fraction
            self.waveform.update()
        elif hasattr(self.waveform, "set_playhead"):
            self.waveform.set_playhead(fraction * self._duration_s if fraction >= 0 else None)


class IdentityEditor(QWidget):
    """The right-hand editor. ``show_identity(id)`` loads and shows one identity (-1: none)."""

    identity_deleted = Signal(int)

    def __init__(
        self,
        state: LibraryState,
        thumbnails: ThumbnailCache,
        paths: Any = None,
        settings: Any = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("identityEditor")
        self.setAcceptDrops(True)
        self._state = state
        self._thumbnails = thumbnails
        self._paths = paths
        self._settings = settings
        self._detail: Any = None
        self._identity_id = -1
        self._loading = False
        self._player: Any = None
        self._audio_out: Any = None
        self._playing_path = ""
        self._recorder: Any = None

        self.stack = QStackedWidget()
        empty = QLabel(
            "Select an identity, or drop photos and voice clips\non the library to create one."
        )
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setObjectName("emptyHint")
        self.stack.addWidget(empty)
        self.stack.addWidget(self._build_form())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        state.identity_loaded.connect(self._on_loaded)
        state.identity_changed.connect(self._on_changed)
        state.identity_deleted.connect(self._on_deleted)
        thumbnails.ready.connect(self._thumbnail_ready)

    # --- layout --------------------------------------------------------------------
    def _build_form(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("editorBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(20, 14, 20, 20)
        layout.setSpacing(14)

        # header: portrait, name, save/revert/delete
        self.portrait = QLabel()
        self.portrait.setFixedSize(88, 88)
        self.portrait.setObjectName("portrait")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("Name")
        self.summary_label = QLabel()
        self.summary_label.setObjectName("dimLabel")
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("primaryButton")
        self.revert_button = QPushButton("Revert")
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(lambda: self._populate(self._detail))
        self.delete_button.clicked.connect(self._confirm_delete)
        title_col = QVBoxLayout()
        title_col.addWidget(self.name_edit)
        title_col.addWidget(self.summary_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        title_col.addLayout(buttons)
        header = QHBoxLayout()
        header.setSpacing(14)
        header.addWidget(self.portrait, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(title_col, 1)
        layout.addLayout(header)

        # details
        details = QGroupBox("Details")
        form = QFormLayout(details)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("comma-separated, e.g. actor, narrator")
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText("Notes about this person, the look, the voice…")
        self.notes_edit.setFixedHeight(70)
        form.addRow("Tags", self.tags_edit)
        form.addRow("Notes", self.notes_edit)
        layout.addWidget(details)

        # consent
        self.consent_box = QGroupBox("Consent record")
        self.consent_box.setCheckable(True)
        self.consent_box.setChecked(False)
        cform = QFormLayout(self.consent_box)
        cform.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.consent_who = QLineEdit()
        self.consent_who.setPlaceholderText("Full name of the person who agreed")
        self.consent_date = QDateEdit()
        self.consent_date.setCalendarPopup(True)
        self.consent_date.setDisplayFormat("yyyy-MM-dd")
        self.consent_date.setDate(QDate.currentDate())
        self.consent_scope = QLineEdit()
        self.consent_scope.setPlaceholderText("What they agreed to, e.g. personal videos, no ads")
        self.consent_doc = QLineEdit()
        self.consent_doc.setPlaceholderText("Optional: signed release (PDF, image)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_document)
        doc_row = QHBoxLayout()
        doc_row.addWidget(self.consent_doc, 1)
        doc_row.addWidget(browse)
        cform.addRow("Agreed by", self.consent_who)
        cform.addRow("Date", self.consent_date)
        cform.addRow("Scope", self.consent_scope)
        cform.addRow("Document", doc_row)
        layout.addWidget(self.consent_box)

        # images
        images = QGroupBox("Reference images")
        ilay = QVBoxLayout(images)
        self.images_list = QListWidget()
        self.images_list.setViewMode(QListView.ViewMode.IconMode)
        self.images_list.setIconSize(QSize(96, 96))
        self.images_list.setGridSize(QSize(116, 128))
        self.images_list.setMovement(QListView.Movement.Static)
        self.images_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.images_list.setFixedHeight(150)
        self.images_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.images_list.setAcceptDrops(False)
        ilay.addWidget(self.images_list)
        self.image_warning = QLabel()
        self.image_warning.setObjectName("warningLabel")
        self.image_warning.setWordWrap(True)
        self.image_warning.hide()
        ilay.addWidget(self.image_warning)
        ibtns = QHBoxLayout()
        self.add_image_button = QPushButton("Add images…")
        self.default_image_button = QPushButton("Set as default")
        self.remove_image_button = QPushButton("Remove")
        self.add_image_button.clicked.connect(self._add_images)
        self.default_image_button.clicked.connect(self._set_default_image)
        self.remove_image_button.clicked.connect(self._remove_image)
        self.images_list.currentItemChanged.connect(self._image_selection_changed)
        for b in (self.add_image_button, self.default_image_button, self.remove_image_button):
            ibtns.addWidget(b)
        ibtns.addStretch(1)
        ilay.addLayout(ibtns)
        layout.addWidget(images)

        # clips
        clips = QGroupBox("Voice clips")
        clay = QVBoxLayout(clips)
        self.clips_list = QListWidget()
        self.clips_list.setMinimumHeight(190)
        self.clips_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.clips_list.setAcceptDrops(False)
        clay.addWidget(self.clips_list)
        cbtns = QHBoxLayout()
        self.add_clip_button = QPushButton("Add clips…")
        self.record_button = QPushButton("Record…")
        self.record_button.setObjectName("recordButton")
        self.default_clip_button = QPushButton("Set as default")
        self.remove_clip_button = QPushButton("Remove")
        self.add_clip_button.clicked.connect(self._add_clips)
        self.record_button.clicked.connect(self._record)
        self.default_clip_button.clicked.connect(self._set_default_clip)
        self.remove_clip_button.clicked.connect(self._remove_clip)
        for b in (
            self.add_clip_button,
            self.record_button,
            self.default_clip_button,
            self.remove_clip_button,
        ):
            cbtns.addWidget(b)
        cbtns.addStretch(1)
        clay.addLayout(cbtns)
        layout.addWidget(clips)
        layout.addStretch(1)

        for w in (
            self.name_edit,
            self.tags_edit,
            self.consent_who,
            self.consent_scope,
            self.consent_doc,
        ):
            w.textChanged.connect(self._mark_dirty)
        self.notes_edit.textChanged.connect(self._mark_dirty)
        self.consent_date.dateChanged.connect(self._mark_dirty)
        self.consent_box.toggled.connect(self._mark_dirty)
        self._set_dirty(False)
        scroll.setWidget(body)
        return scroll

    # --- loading -------------------------------------------------------------------
    @property
    def identity_id(self) -> int:
        return self._identity_id

    @property
    def detail(self) -> Any:
        return self._detail

    def show_identity(self, identity_id: int) -> None:
        self._stop_playback()
        self._identity_id = identity_id
        if identity_id < 0:
            self._detail = None
            self.stack.setCurrentIndex(0)
            return
        self._state.load_identity(identity_id)

    def _on_loaded(self, detail: Any) -> None:
        if detail is None or detail.id != self._identity_id:
            return
        keep_edits = self._detail is not None and self._detail.id == detail.id and self.is_dirty()
        self._detail = detail
        if keep_edits:
            self._populate_media(detail)
        else:
            self._populate(detail)
        self.stack.setCurrentIndex(1)

    def _on_changed(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self._state.load_identity(identity_id)

    def _on_deleted(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self.show_identity(-1)

    def _populate(self, detail: Any) -> None:
        if detail is None:
            return
        self._loading = True
        try:
            self.name_edit.setText(detail.name)
            self.notes_edit.setPlainText(detail.notes or "")
            self.tags_edit.setText(", ".join(detail.tags))
            consent = detail.consent
            self.consent_box.setChecked(consent is not None)
            who = (
                _consent_value(consent, "given_by", "agreed_by", "who", "person") if consent else ""
            )
            scope = _consent_value(consent, "scope") if consent else ""
            date = (
                _consent_value(consent, "date", "agreed_on", "given_on", "signed_on")
                if consent
                else None
            )
            doc = _consent_value(consent, "document_path", "document") if consent else None
            self.consent_who.setText(who or "")
            self.consent_scope.setText(scope or "")
            self.consent_doc.setText(str(doc) if doc else "")
            if isinstance(date, str):
                date = dt.date.fromisoformat(date[:10])
            if isinstance(date, dt.datetime):
                date = date.date()
            self.consent_date.setDate(
                QDate(date.year, date.month, date.day) if date else QDate.currentDate()
            )
        finally:
            self._loading = False
        self._populate_media(detail)
        self._set_dirty(False)

    def _populate_media(self, detail: Any) -> None:
        images = tuple(detail.images)
        clips = tuple(detail.clips)
        consent = "consent recorded" if detail.consent is not None else "no consent record"
        self.summary_label.setText(f"{len(images)} image(s) · {len(clips)} clip(s) · {consent}")

        self.images_list.clear()
        warnings: list[str] = []
        for img in images:
            item = QListWidgetItem(("★ " if img.is_default else "") + f"{img.width}×{img.height}")
            item.setData(ITEM_ID_ROLE, img.id)
            path = str(img.thumbnail_path or img.path)
            item.setData(ITEM_PATH_ROLE, path)
            tip = [Path(str(img.path)).name, f"{img.width}×{img.height}, faces: {img.face_count}"]
            if img.warnings:
                warnings.extend(f"{w}" for w in img.warnings)
                tip += [f"⚠ {w}" for w in img.warnings]
                item.setForeground(WARN)
            item.setToolTip("\n".join(tip))
            self._set_item_icon(item, self._thumbnails.get(path), bool(img.warnings))
            self.images_list.addItem(item)
        self.image_warning.setText("⚠ " + "\n⚠ ".join(dict.fromkeys(warnings)) if warnings else "")
        self.image_warning.setVisible(bool(warnings))
        portrait_path = next(
            (str(i.thumbnail_path or i.path) for i in images if i.is_default),
            str(images[0].thumbnail_path or images[0].path) if images else "",
        )
        self._portrait_path = portrait_path
        self._set_portrait(self._thumbnails.get(portrait_path) if portrait_path else None)

        self._stop_playback()
        self.clips_list.clear()
        for clip in clips:
            item = QListWidgetItem()
            item.setData(ITEM_ID_ROLE, clip.id)
            item.setData(ITEM_PATH_ROLE, str(clip.path))
            row = ClipRow(clip, bool(clip.is_default))
            row.play_requested.connect(self.toggle_play)
            item.setSizeHint(QSize(200, max(48, row.sizeHint().height())))
            self.clips_list.addItem(item)
            self.clips_list.setItemWidget(item, row)
        self._image_selection_changed()

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
        item.setIcon(QIcon(pix))

    def _set_portrait(self, pix: QPixmap | None) -> None:
        size = self.portrait.size()
        canvas = QPixmap(size)
        canvas.fill(Qt.GlobalColor.transparent)
        p = QPainter(canvas)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, size.width(), size.height()), 12, 12)
        p.setClipPath(path)
        if pix is not None:
            p.drawPixmap(canvas.rect(), pix)
        else:
            p.fillRect(canvas.rect(), QColor("#323847"))
        p.end()
        self.portrait.setPixmap(canvas)

    def _thumbnail_ready(self, path: str) -> None:
        if self._detail is None:
            return
        for i in range(self.images_list.count()):
            item = self.images_list.item(i)
            if item.data(ITEM_PATH_ROLE) == path:
                warn = item.toolTip().count("⚠") > 0
                self._set_item_icon(item, self._thumbnails.cached(path), warn)
        if getattr(self, "_portrait_path", "") == path:
            self._set_portrait(self._thumbnails.cached(path))

    # --- editing -------------------------------------------------------------------
    def _mark_dirty(self, *_: Any) -> None:
        if not self._loading:
            self._set_dirty(True)

    def _set_dirty(self, dirty: bool) -> None:
        self._dirty = dirty
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    def is_dirty(self) -> bool:
        return self._dirty

    def consent_record(self) -> Any:
        """The consent form as the library's ``ConsentRecord``, or None when unchecked."""
        if not self.consent_box.isChecked():
            return None
        qd = self.consent_date.date()
        doc = self.consent_doc.text().strip()
        return _consent_class()(
            given_by=self.consent_who.text().strip(),
            date=dt.date(qd.year(), qd.month(), qd.day()),
            scope=self.consent_scope.text().strip(),
            document_path=doc or None,
        )

    def save(self) -> None:
        if self._detail is None:
            return
        name = self.name_edit.text().strip()
        if not name:
            self._state.error.emit("An identity needs a name.")
            return
        if self.consent_box.isChecked() and not self.consent_who.text().strip():
            self._state.error.emit("The consent record needs the name of the person who agreed.")
            return
        tags = tuple(
            dict.fromkeys(t.strip() for t in self.tags_edit.text().split(",") if t.strip())
        )
        consent = self.consent_record()
        changes: dict[str, Any] = {
            "name": name,
            "notes": self.notes_edit.toPlainText(),
            "tags": tags,
        }
        if consent is not None:
            changes["consent"] = consent
        elif self._detail.consent is not None:
            changes["clear_consent"] = True
        self._state.update_identity(self._identity_id, **changes)
        self._set_dirty(False)

    def _confirm_delete(self) -> None:
        if self._detail is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete identity",
            f"Delete “{self._detail.name}” with its images and clips? This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._state.delete_identity(self._identity_id)

    def _browse_document(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Consent document",
            "",
            "Documents (*.pdf *.png *.jpg *.jpeg *.txt);;All files (*)",
        )
        if path:
            self.consent_doc.setText(path)

    # --- media ---------------------------------------------------------------------
    def add_files(self, files: Sequence[Path]) -> None:
        if self._identity_id >= 0 and files:
            self._state.add_files(self._identity_id, list(files))

    def _add_images(self) -> None:
        pattern = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add reference images", "", f"Images ({pattern})"
        )
        self.add_files([Path(f) for f in files])

    def _add_clips(self) -> None:
        pattern = " ".join(f"*{e}" for e in sorted(AUDIO_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add voice clips", "", f"Audio and video ({pattern})"
        )
        self.add_files([Path(f) for f in files])

    def _selected_id(self, widget: QListWidget) -> int | None:
        item = widget.currentItem()
        return int(item.data(ITEM_ID_ROLE)) if item is not None else None

    def _image_selection_changed(self, *_: Any) -> None:
        has_img = self.images_list.currentItem() is not None
        self.default_image_button.setEnabled(has_img)
        self.remove_image_button.setEnabled(has_img)

    def _set_default_image(self) -> None:
        image_id = self._selected_id(self.images_list)
        if image_id is not None:
            self._state.set_default_image(self._identity_id, image_id)

    def _remove_image(self) -> None:
        image_id = self._selected_id(self.images_list)
        if image_id is not None:
            self._state.remove_image(self._identity_id, image_id)

    def _set_default_clip(self) -> None:
        clip_id = self._selected_id(self.clips_list)
        if clip_id is not None:
            self._state.set_default_clip(self._identity_id, clip_id)

    def _remove_clip(self) -> None:
        clip_id = self._selected_id(self.clips_list)
        if clip_id is not None:
            self._stop_playback()
            self._state.remove_clip(self._identity_id, clip_id)

    def _record(self) -> None:
        if self._identity_id < 0:
            return
        try:
            module = importlib.import_module("idlora_studio.ui.recorder_dialog")
        except ImportError as exc:
            self._state.error.emit(f"Recording is not available: {exc}")
            return
        identity_id = self._identity_id
        state = self._state

        def save_clip(path: Path) -> Any:  # the dialog calls this on its worker thread
            return state.store_recorded_clip(identity_id, Path(path))

        dialog = module.RecorderDialog(
            self._paths, self._settings, save_clip, self, identity_id=identity_id
        )
        dialog.clip_saved.connect(lambda _result: state.notify_changed(identity_id))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._recorder = dialog
        dialog.open()

    # --- playback (QtMultimedia created on first use) ---------------------------------
    def toggle_play(self, path: str) -> None:
        if self._playing_path == path:
            self._stop_playback()
            return
        self._stop_playback()
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
        self._row_for(path, lambda row: row.set_playing(True))

    def _stop_playback(self) -> None:
        if self._player is not None and self._playing_path:
            self._player.stop()
        if self._playing_path:
            self._row_for(
                self._playing_path, lambda row: (row.set_playing(False), row.set_progress(-1))
            )
        self._playing_path = ""

    def _position_changed(self, pos: int) -> None:
        dur = self._player.duration() if self._player is not None else 0
        if dur > 0 and self._playing_path:
            self._row_for(self._playing_path, lambda row: row.set_progress(pos / dur))

    def _media_status_changed(self, status: Any) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if status in (QMediaPlayer.MediaStatus.EndOfMedia, QMediaPlayer.MediaStatus.InvalidMedia):
            self._stop_playback()

    def _row_for(self, path: str, action: Any) -> None:
        for i in range(self.clips_list.count()):
            item = self.clips_list.item(i)
            if item.data(ITEM_PATH_ROLE) == path:
                row = self.clips_list.itemWidget(item)
                if isinstance(row, ClipRow):
                    action(row)

    # --- drops ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._identity_id >= 0 and local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = local_files(event.mimeData())
        if self._identity_id < 0 or not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_files(files)
