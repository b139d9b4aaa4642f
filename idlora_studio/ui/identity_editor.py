"""Editor for one identity: name, notes, tags, consent record, reference images, voice clips.

Binding only: reads an ``IdentityDetail`` delivered by ``LibraryState.identity_loaded`` and
sends changes back through ``LibraryState`` actions (which run on the database worker).
Dropping files on the editor adds them to the identity shown.

Nothing typed is lost. There is no Save button: a short pause in typing, leaving a field,
opening another identity or closing the window commits the form through
``LibraryState.commit_identity_fields`` as one undoable step (``LibraryState.undo_stack``),
written on the database worker. What cannot be saved yet (an empty or taken name, a consent
record without the person's name, a date in the future) is said next to the status and kept
as a draft in memory, while the rest of the form is saved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QDate, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QPainter,
    QPainterPath,
    QPixmap,
)
from PySide6.QtWidgets import (
    QDateEdit,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from idlora_studio.state.identity_edits import IdentityFields
from idlora_studio.state.library_state import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS, LibraryState
from idlora_studio.ui.identity_media import ClipsSection, ImagesSection
from idlora_studio.ui.library_panel import local_files
from idlora_studio.ui.thumbnails import ThumbnailCache

#: Typing pauses longer than this commit the form.
AUTOSAVE_MS = 700


def _consent_class() -> Any:
    from idlora_studio.library import ConsentRecord

    return ConsentRecord


def _consent_value(consent: Any, *names: str) -> Any:
    for name in names:
        if hasattr(consent, name):
            return getattr(consent, name)
    return None


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


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
        self._dirty = False
        self._problems: list[str] = []
        self._recorder: Any = None
        self._portrait_path = ""
        self._rename_pending = -1
        self._autosave = QTimer(self, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.flush)

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
        self._build_undo_actions()

        state.identity_loaded.connect(self._on_loaded)
        state.identity_changed.connect(self._on_changed)
        state.identity_deleted.connect(self._on_deleted)
        state.fields_applied.connect(self._on_fields_applied)
        state.save_state_changed.connect(self._on_save_state)
        thumbnails.ready.connect(self._thumbnail_ready)

    # --- layout --------------------------------------------------------------------
    def _build_form(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("editorBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(20, 14, 20, 20)
        layout.setSpacing(14)

        # header: portrait, name, save status, undo/redo, delete
        self.portrait = QLabel()
        self.portrait.setFixedSize(88, 88)
        self.portrait.setObjectName("portrait")
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setPlaceholderText("Name")
        self.summary_label = QLabel()
        self.summary_label.setObjectName("dimLabel")
        self.status_label = QLabel()
        self.status_label.setObjectName("dimLabel")
        self.status_label.setWordWrap(True)
        self.undo_button = QToolButton()
        self.undo_button.setText("↶ Undo")
        self.redo_button = QToolButton()
        self.redo_button.setText("↷ Redo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button.clicked.connect(self.redo)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setObjectName("dangerButton")
        self.delete_button.clicked.connect(lambda: self.confirm_delete())
        title_col = QVBoxLayout()
        title_col.addWidget(self.name_edit)
        title_col.addWidget(self.summary_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status_label, 1)
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.redo_button)
        buttons.addWidget(self.delete_button)
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

        # media
        self.images = ImagesSection(self._state, self._thumbnails)
        self.images.add_image_button.clicked.connect(self._add_images)
        self.clips = ClipsSection(self._state)
        self.clips.add_clip_button.clicked.connect(self._add_clips)
        self.clips.record_button.clicked.connect(self._record)
        layout.addWidget(self.images)
        layout.addWidget(self.clips)
        layout.addStretch(1)
        # the media widgets, under the names the rest of the Studio and its tests use
        self.images_list = self.images.images_list
        self.image_warning = self.images.image_warning
        self.default_image_button = self.images.default_image_button
        self.remove_image_button = self.images.remove_image_button
        self.clips_list = self.clips.clips_list
        self.record_button = self.clips.record_button
        self.default_clip_button = self.clips.default_clip_button
        self.remove_clip_button = self.clips.remove_clip_button

        line_edits = (
            self.name_edit,
            self.tags_edit,
            self.consent_who,
            self.consent_scope,
            self.consent_doc,
        )
        for w in line_edits:
            w.textChanged.connect(self._changed)
            w.editingFinished.connect(self._commit_soon)
        self.notes_edit.textChanged.connect(self._changed)
        self.consent_date.dateChanged.connect(self._changed)
        self.consent_box.toggled.connect(self._changed)
        scroll.setWidget(body)
        return scroll

    def _build_undo_actions(self) -> None:
        """The Undo/Redo buttons follow the library's undo stack (Edit > Undo/Redo act on the
        same stack through the window's undo group while the Library page is shown)."""
        stack = self._state.undo_stack
        stack.indexChanged.connect(self._update_undo)
        stack.cleanChanged.connect(self._update_undo)
        self._update_undo()

    def _update_undo(self, *_: Any) -> None:
        stack = self._state.undo_stack
        if not shiboken6.isValid(stack) or not shiboken6.isValid(self.undo_button):
            return  # the window is being torn down
        can_undo = stack.canUndo() or self._dirty
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(stack.canRedo())
        self.undo_button.setToolTip(stack.undoText() and f"Undo: {stack.undoText()}")
        self.redo_button.setToolTip(stack.redoText() and f"Redo: {stack.redoText()}")

    # --- loading -------------------------------------------------------------------
    @property
    def identity_id(self) -> int:
        return self._identity_id

    @property
    def detail(self) -> Any:
        return self._detail

    def show_identity(self, identity_id: int) -> None:
        if identity_id == self._identity_id and self._detail is not None:
            return
        self.flush()  # what was typed into the previous identity is saved first
        self.clips.stop_playback()
        self._identity_id = identity_id
        self._detail = None
        self._problems = []
        if identity_id < 0:
            self.stack.setCurrentIndex(0)
            return
        self._state.load_identity(identity_id)

    def _on_loaded(self, detail: Any) -> None:
        if detail is None or detail.id != self._identity_id:
            return
        first = self._detail is None or self._detail.id != detail.id
        self._detail = detail
        saved = self._state.saved_fields(detail.id, detail)
        if first:
            draft = self._state.draft(detail.id)
            self._set_fields(draft or saved or IdentityFields.of(detail))
            self._dirty = draft is not None
            if draft is not None:
                self._problems = self._saveable(draft, saved)[1]
        elif not self._dirty and not self._state.saves_pending(detail.id) and saved:
            # Changed elsewhere (undo, a bundle, the command line): show the library's values.
            self._set_fields(saved)
        self._populate_media(detail)
        self._update_status()
        self.stack.setCurrentIndex(1)
        if self._rename_pending == detail.id:
            self._focus_name()

    def _on_changed(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self._state.load_identity(identity_id)

    def _on_deleted(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self._dirty = False
            self._autosave.stop()
            self.show_identity(-1)

    def _on_fields_applied(self, identity_id: int, fields: IdentityFields) -> None:
        """Undo/redo changed an identity's fields: show them if it is the one open."""
        if identity_id != self._identity_id:
            return
        self._autosave.stop()
        self._set_fields(fields)
        self._dirty = False
        self._problems = []
        self._update_status()

    def _set_fields(self, fields: IdentityFields) -> None:
        """Put ``fields`` into the form, touching only widgets whose value differs (so the
        cursor of a field being edited does not jump)."""
        current = self.form_fields()
        self._loading = True
        try:
            if current.key("name") != fields.key("name") or not self.name_edit.text():
                self.name_edit.setText(fields.name)
            if current.notes != fields.notes:
                self.notes_edit.setPlainText(fields.notes)
            if current.key("tags") != fields.key("tags"):
                self.tags_edit.setText(", ".join(fields.tags))
            consent = fields.consent
            self.consent_box.setChecked(consent is not None)
            if consent is not None:
                who = _consent_value(consent, "given_by", "agreed_by", "who", "person") or ""
                scope = _consent_value(consent, "scope") or ""
                doc = _consent_value(consent, "document_path", "document")
                date = _as_date(_consent_value(consent, "date", "agreed_on", "given_on"))
                if self.consent_who.text().strip() != str(who).strip():
                    self.consent_who.setText(str(who))
                if self.consent_scope.text().strip() != str(scope).strip():
                    self.consent_scope.setText(str(scope))
                if self.consent_doc.text().strip() != (str(doc) if doc else ""):
                    self.consent_doc.setText(str(doc) if doc else "")
                if date is not None:
                    self.consent_date.setDate(QDate(date.year, date.month, date.day))
            else:  # no record: an empty form for the next one, not someone else's
                for w in (self.consent_who, self.consent_scope, self.consent_doc):
                    w.clear()
                self.consent_date.setDate(QDate.currentDate())
        finally:
            self._loading = False

    def _populate_media(self, detail: Any) -> None:
        images = tuple(detail.images)
        clips = tuple(detail.clips)
        consent = "consent recorded" if detail.consent is not None else "no consent record"
        self.summary_label.setText(f"{len(images)} image(s) · {len(clips)} clip(s) · {consent}")
        self.images.set_images(detail.id, images)
        self.clips.set_clips(detail.id, clips)
        portrait = next((i for i in images if i.is_default), images[0] if images else None)
        self._portrait_path = str(portrait.thumbnail_path or portrait.path) if portrait else ""
        self._set_portrait(
            self._thumbnails.get(self._portrait_path) if self._portrait_path else None
        )

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
        if self._detail is not None and self._portrait_path == path:
            self._set_portrait(self._thumbnails.cached(path))

    # --- editing: commit as you go -----------------------------------------------------
    def _changed(self, *_: Any) -> None:
        if self._loading or self._detail is None:
            return
        self._dirty = True
        self._autosave.start()
        self._update_status()

    def _commit_soon(self) -> None:
        if self._dirty:
            self._autosave.start(0)

    def is_dirty(self) -> bool:
        """True while typed values are not yet handed to the library (or cannot be)."""
        return self._dirty

    def form_fields(self) -> IdentityFields:
        """What the form holds now (the consent record as typed, even if incomplete)."""
        tags = tuple(
            dict.fromkeys(t.strip() for t in self.tags_edit.text().split(",") if t.strip())
        )
        return IdentityFields(
            name=self.name_edit.text(),
            notes=self.notes_edit.toPlainText(),
            tags=tags,
            consent=self.consent_record(),
        )

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

    def _saveable(
        self, form: IdentityFields, saved: IdentityFields | None = None
    ) -> tuple[IdentityFields, list[str]]:
        """``form`` with every part that cannot be saved yet replaced by the saved value,
        and a sentence per problem."""
        saved = saved or form
        problems: list[str] = []
        name = form.key("name")
        if not name:
            problems.append("An identity needs a name.")
            form = dataclasses.replace(form, name=saved.name)
        elif name.casefold() != saved.key("name").casefold() and any(
            n.casefold() == name.casefold() for n in self._state.names()
        ):
            problems.append(f"Another identity is already called “{name}”.")
            form = dataclasses.replace(form, name=saved.name)
        consent = form.consent
        if consent is not None:
            problem = ""
            if not consent.given_by:
                problem = "The consent record needs the name of the person who agreed."
            elif consent.date > dt.date.today():
                problem = f"The consent date {consent.date} is in the future."
            if problem:
                problems.append(problem)
                form = dataclasses.replace(form, consent=saved.consent)
        return form, problems

    def flush(self) -> None:
        """Hand what was typed to the library now (one undoable step). Parts that cannot be
        saved stay in the form and as an in-memory draft, with the reason shown."""
        self._autosave.stop()
        if self._detail is None or not self._dirty:
            return
        identity_id = self._identity_id
        form = self.form_fields()
        saved = self._state.saved_fields(identity_id) or IdentityFields.of(self._detail)
        valid, problems = self._saveable(form, saved)
        self._state.commit_identity_fields(identity_id, valid, saved)
        self._problems = problems
        self._dirty = bool(problems)
        self._state.set_draft(identity_id, form if problems else None)
        self._update_status()

    def save(self) -> None:
        """Commit now (Edit > Save identity; saving also happens by itself)."""
        self.flush()

    def undo(self) -> None:
        self.flush()
        self._state.undo_stack.undo()

    def redo(self) -> None:
        self.flush()
        self._state.undo_stack.redo()

    def hideEvent(self, event: Any) -> None:  # noqa: N802
        self.flush()  # the window closing or the page changing: keep what was typed
        super().hideEvent(event)

    def _on_save_state(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self._update_status()

    def _update_status(self) -> None:
        self._update_undo()
        if self._detail is None:
            self.status_label.setText("")
            return
        error = self._state.save_error(self._identity_id)
        if self._problems:
            text, tone = "Not saved yet: " + " ".join(self._problems), "warningLabel"
        elif error:
            text, tone = f"Not saved: {error}", "warningLabel"
        elif self._dirty:
            text, tone = "Editing…", "dimLabel"
        elif self._state.saves_pending(self._identity_id):
            text, tone = "Saving…", "dimLabel"
        else:
            text, tone = "All changes saved", "dimLabel"
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
        if self.status_label.objectName() != tone:
            self.status_label.setObjectName(tone)
            self.status_label.style().unpolish(self.status_label)
            self.status_label.style().polish(self.status_label)

    def start_rename(self, identity_id: int) -> None:
        """Open ``identity_id`` with its name selected for typing over."""
        self.show_identity(identity_id)
        self._rename_pending = identity_id
        if self._detail is not None and self._detail.id == identity_id:
            self._focus_name()

    def _focus_name(self) -> None:
        self._rename_pending = -1
        self.name_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.name_edit.selectAll()

    def confirm_delete(self, identity_id: int | None = None) -> None:
        """Ask, then delete the identity (the one shown unless ``identity_id``)."""
        identity_id = self._identity_id if identity_id is None else identity_id
        summary = self._state.summary(identity_id)
        name = summary.name if summary is not None else self._detail and self._detail.name
        if identity_id < 0 or not name:
            return
        answer = QMessageBox.question(
            self,
            "Delete identity",
            f"Delete “{name}” with its images and clips? This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self._state.delete_identity(identity_id)

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

        detail = self._detail
        clips = [c.path for c in detail.clips] if detail is not None else []
        dialog = module.RecorderDialog(
            self._paths,
            self._settings,
            save_clip,
            self,
            identity_id=identity_id,
            check_clip=state.check_voice_clip,
            reference_clips=clips,
        )
        dialog.clip_saved.connect(lambda _result: state.notify_changed(identity_id))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._recorder = dialog
        dialog.open()

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
