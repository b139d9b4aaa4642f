"""Who speaks: the identity, its reference image and its voice clip.

The picker reads identities from ``LibraryState`` (its summaries and ``load_identity`` on the
database worker) and keeps its own choice: it follows nobody else's selection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
)

from engine.generate import VOICE_MIN_S
from idlora_studio.ui.generate.common import (
    ID_ROLE,
    PATH_ROLE,
    dim,
    fmt_seconds,
    problem_label,
    show_problem,
)
from idlora_studio.ui.thumbnails import ThumbnailCache, picture_icon


class IdentityPicker(QGroupBox):
    """Identity combo, reference-image strip and voice-clip combo, with their problems.

    ``changed`` fires on any change of what would be generated from; ``identity_switched``
    when another identity is chosen (its detail may still be loading)."""

    changed = Signal()
    identity_switched = Signal(object)  # int | None

    def __init__(self, state: Any, thumbnails: ThumbnailCache) -> None:
        super().__init__("Identity")
        self.state = state
        self.thumbnails = thumbnails
        self._identity_id: int | None = None
        self._detail: Any = None
        self._pending_media: tuple[Any, Any] | None = None  # (image id, clip id) to restore

        form = QVBoxLayout(self)
        self.identity_combo = QComboBox()
        self.identity_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.identity_combo.setMinimumContentsLength(16)
        self.identity_combo.setPlaceholderText("Choose a person from the library")
        self.identity_combo.currentIndexChanged.connect(self._identity_chosen)
        self.identity_problem = problem_label()
        self.image_list = QListWidget()
        self.image_list.setViewMode(QListView.ViewMode.IconMode)
        self.image_list.setFlow(QListView.Flow.LeftToRight)
        self.image_list.setWrapping(False)
        self.image_list.setIconSize(QSize(64, 64))
        self.image_list.setFixedHeight(92)
        self.image_list.setMovement(QListView.Movement.Static)
        self.image_list.setToolTip("Reference image: the first frame of the video")
        self.image_list.currentItemChanged.connect(lambda *_: self.changed.emit())
        self.image_problem = problem_label()
        self.clip_combo = QComboBox()
        self.clip_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.clip_combo.setMinimumContentsLength(16)
        self.clip_combo.setToolTip("Reference voice clip: the voice the person speaks with")
        self.clip_combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.voice_problem = problem_label()
        self.warning_label = problem_label()  # advice that does not stop queueing
        self.warning_label.setObjectName("adviceLabel")
        form.addWidget(self.identity_combo)
        form.addWidget(self.identity_problem)
        form.addWidget(dim("Reference image"))
        form.addWidget(self.image_list)
        form.addWidget(self.image_problem)
        form.addWidget(dim("Voice clip"))
        form.addWidget(self.clip_combo)
        form.addWidget(self.voice_problem)
        form.addWidget(self.warning_label)

        state.identities_changed.connect(self.fill_identities)
        state.identity_loaded.connect(self._on_identity_loaded)
        state.identity_changed.connect(self._on_identity_changed)

    # ------------------------------------------------------------------ reading
    @property
    def identity_id(self) -> int | None:
        return self._identity_id

    @property
    def detail(self) -> Any:
        """The chosen identity's detail (None while loading or when none is chosen)."""
        return self._detail

    def selected_image(self) -> Any:
        if self._detail is None:
            return None
        item = self.image_list.currentItem()
        if item is None:
            return None
        image_id = item.data(ID_ROLE)
        return next((i for i in self._detail.images if i.id == image_id), None)

    def selected_clip(self) -> Any:
        if self._detail is None or self.clip_combo.currentIndex() < 0:
            return None
        clip_id = self.clip_combo.currentData()
        return next((c for c in self._detail.clips if c.id == clip_id), None)

    def problems(self) -> dict[str, str]:
        """Problems of the choice, by field (``identity``, ``image``, ``voice``)."""
        out: dict[str, str] = {}
        if self._identity_id is None:
            out["identity"] = "Choose an identity from the library."
        elif self._detail is not None:
            if not self._detail.images:
                out["image"] = "This identity has no reference image: add one in the library."
            elif self.selected_image() is None:
                out["image"] = "Choose a reference image."
            if not self._detail.clips:
                out["voice"] = (
                    "This identity has no voice clip: record or import one in the library."
                )
            elif self.selected_clip() is None:
                out["voice"] = "Choose a voice clip."
            else:
                clip = self.selected_clip()
                if float(clip.duration_s) < VOICE_MIN_S:
                    out["voice"] = (
                        f"This voice clip is {clip.duration_s:.1f} s long; at least "
                        f"{VOICE_MIN_S:.0f} s is needed (about 5 s works best)."
                    )
        else:
            out["identity"] = "Loading the identity…"
        return out

    def warnings(self) -> list[str]:
        """Advice about the choice that does not stop queueing: no face found in the image,
        several faces, no consent record."""
        out: list[str] = []
        detail, image = self._detail, self.selected_image()
        if image is not None:
            faces = int(getattr(image, "face_count", 1))
            if faces == 0:
                out.append(
                    "No face was found in this image: the take may not show the person "
                    "talking. An image with one clear, frontal face works best."
                )
            elif faces > 1:
                out.append(
                    f"{faces} faces were found in this image: the take may animate the wrong "
                    "one. An image of one person works best."
                )
        if detail is not None and getattr(detail, "consent", None) is None:
            out.append(
                f"There is no consent record for {detail.name}: add who agreed, when and to "
                "what in the Library before you use or share this take."
            )
        return out

    def show_warnings(self) -> None:
        show_problem(self.warning_label, "\n".join(f"⚠ {w}" for w in self.warnings()))

    def show_problems(self, problems: dict[str, str]) -> None:
        show_problem(self.identity_problem, problems.get("identity", ""))
        show_problem(self.image_problem, problems.get("image", ""))
        show_problem(self.voice_problem, problems.get("voice", ""))

    # ------------------------------------------------------------------ choosing
    def fill_identities(self) -> None:
        summaries = list(getattr(self.state, "summaries", []) or [])
        self.identity_combo.blockSignals(True)
        self.identity_combo.clear()
        for s in summaries:
            icon = self.thumbnails.get(s.thumbnail_path)
            self.identity_combo.addItem(picture_icon(icon) if icon else QIcon(), s.name, s.id)
            self.identity_combo.setItemData(
                self.identity_combo.count() - 1, str(s.thumbnail_path or ""), PATH_ROLE
            )
        index = self.identity_combo.findData(self._identity_id) if self._identity_id else -1
        self.identity_combo.setCurrentIndex(index)
        self.identity_combo.blockSignals(False)
        if index < 0 and self._identity_id is not None:  # the identity is gone
            self._identity_id = None
            self._detail = None
            self._pending_media = None
            self._fill_media()
            self.identity_switched.emit(None)
        elif index >= 0 and self._detail is None:  # chosen before the list was read
            self.state.load_identity(self._identity_id)
        self.changed.emit()

    def set_identity(self, identity_id: int | None) -> None:
        """Choose ``identity_id``; loads its detail."""
        if identity_id is None:
            return
        index = self.identity_combo.findData(identity_id)
        if index >= 0 and index != self.identity_combo.currentIndex():
            self.identity_combo.setCurrentIndex(index)  # -> _identity_chosen
        elif identity_id != self._identity_id or self._detail is None:
            self._identity_id = identity_id
            self.state.load_identity(identity_id)
            self.identity_switched.emit(identity_id)

    def _identity_chosen(self, index: int) -> None:
        identity_id = self.identity_combo.itemData(index) if index >= 0 else None
        if identity_id == self._identity_id and self._detail is not None:
            return
        if identity_id != self._identity_id:
            self._pending_media = None  # another person: their defaults
        self._identity_id = identity_id
        self._detail = None
        self._fill_media()
        self.changed.emit()
        if identity_id is not None:
            self.state.load_identity(identity_id)
        self.identity_switched.emit(identity_id)

    # ------------------------------------------------------------------ saved form
    def form_state(self) -> dict[str, Any]:
        if self._pending_media is not None:
            image_id, clip_id = self._pending_media
        else:
            image, clip = self.selected_image(), self.selected_clip()
            image_id = image.id if image is not None else None
            clip_id = clip.id if clip is not None else None
        return {"identity_id": self._identity_id, "image_id": image_id, "clip_id": clip_id}

    def restore(self, state: dict[str, Any]) -> None:
        """Choose the saved identity, image and clip (those that still exist)."""
        identity_id = state.get("identity_id")
        if not isinstance(identity_id, int) or isinstance(identity_id, bool):
            return
        media = (state.get("image_id"), state.get("clip_id"))
        if identity_id == self._identity_id and self._detail is not None:
            self._pending_media = media
            self._fill_media()
            self.changed.emit()
            return
        if getattr(self.state, "loaded", False):
            if self.identity_combo.findData(identity_id) < 0:
                return  # deleted since: leave the choice as it is
            self.set_identity(identity_id)
        else:  # the list is not read yet: fill_identities selects and loads it
            self._identity_id = identity_id
            self._detail = None
            self._fill_media()
            self.identity_switched.emit(identity_id)
        self._pending_media = media  # applied when the detail arrives

    def _on_identity_loaded(self, detail: Any) -> None:
        if detail is None or detail.id != self._identity_id:
            return
        self._detail = detail
        self._fill_media()
        self.changed.emit()

    def _on_identity_changed(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self.state.load_identity(identity_id)

    def _fill_media(self) -> None:
        detail = self._detail
        keep_image_id = getattr(self.selected_image(), "id", None)
        keep_clip_id = getattr(self.selected_clip(), "id", None)
        if self._pending_media is not None and detail is not None:
            keep_image_id, keep_clip_id = self._pending_media
            self._pending_media = None
        self.image_list.blockSignals(True)
        self.image_list.clear()
        self.clip_combo.blockSignals(True)
        self.clip_combo.clear()
        if detail is not None:
            select_row = 0
            for i, im in enumerate(detail.images):
                item = QListWidgetItem(f"{im.width}×{im.height}")
                item.setData(ID_ROLE, im.id)
                item.setData(PATH_ROLE, str(im.thumbnail_path or im.path))
                item.setToolTip(f"{Path(str(im.path)).name}: {im.width}×{im.height}")
                pix = self.thumbnails.get(im.thumbnail_path or im.path)
                if pix is not None:
                    item.setIcon(picture_icon(pix))
                self.image_list.addItem(item)
                if im.id == detail.default_image_id:
                    select_row = i
            kept = [i for i, im in enumerate(detail.images) if im.id == keep_image_id]
            select_row = kept[0] if kept else select_row
            if detail.images:
                self.image_list.setCurrentRow(select_row)
            for c in detail.clips:
                name = getattr(c, "original_name", "") or Path(str(c.path)).name
                default = " (default)" if c.id == detail.default_clip_id else ""
                self.clip_combo.addItem(f"{name} · {fmt_seconds(c.duration_s)}{default}", c.id)
            idx = self.clip_combo.findData(keep_clip_id)
            if idx < 0:
                idx = self.clip_combo.findData(detail.default_clip_id)
            self.clip_combo.setCurrentIndex(idx if idx >= 0 else (0 if detail.clips else -1))
        self.image_list.blockSignals(False)
        self.clip_combo.blockSignals(False)

    def thumbnail_ready(self, path: str) -> None:
        pix = self.thumbnails.cached(path)
        if pix is None:
            return
        for i in range(self.image_list.count()):
            item = self.image_list.item(i)
            if item.data(PATH_ROLE) == path:
                item.setIcon(picture_icon(pix))
        for i in range(self.identity_combo.count()):
            if self.identity_combo.itemData(i, PATH_ROLE) == path:
                self.identity_combo.setItemIcon(i, picture_icon(pix))
