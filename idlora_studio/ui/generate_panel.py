"""The Generate page: identity, prompt, settings, the job queue, the live preview and the takes.

Binding only. The left column builds a :class:`~engine.api.GenerationRequest` per take from the
form and hands them to the job queue (``JobQueue.enqueue``); everything it shows about the
result of a choice (effective size and frame count, VRAM per memory profile, why the Queue button
is disabled) is computed with the engine's own rules (``engine.generate.resolve_size`` /
``resolve_frames``, ``engine.memory``) while the user types, before anything is queued.

The right column shows the queue (``JobsTableModel``), the selected job's failure sentence (with a
one-click retry on a lighter memory profile after a GPU out-of-memory), the live low-res preview
of the running job and the takes of the selected identity with Re-run / Vary actions.

Nothing here blocks the GUI thread: the identity detail comes from ``LibraryState`` (database
worker), model-set status, takes and the GPU probe (which imports torch) run on a
:class:`~idlora_studio.workers.tasks.TaskRunner`; the GPU is probed only when the page is first
shown, so opening the Studio does not import torch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QImage,
    QPainter,
    QPainterPath,
    QPixmap,
    QShowEvent,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine import api
from engine.api import GenerationRequest, InvalidRequestError, PromptParts
from engine.generate import VOICE_MIN_S, resolve_frames, resolve_size
from engine.memory import PROFILE_ORDER, PROFILES, choose_profile, expected_vram_gib
from engine.models import registry
from idlora_studio.library.jobs_repo import JobSpec
from idlora_studio.state.jobs import JobsTableModel, JobState
from idlora_studio.ui.model_manager import LocalSources
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.workers.tasks import TaskRunner

ID_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2

PRESETS: tuple[tuple[str, str, bool], ...] = (
    ("fast", "Fast — one-stage", True),
    ("two_stage", "Two-stage (upsampled)", False),
    ("hq", "HQ (LTX-2.3)", False),
)
NOT_AVAILABLE = "not available yet"
MAX_TAKES = 16
SEED_MAX = 2**31 - 1

# Short help shown as tooltips on the advanced fields.
TIPS = {
    "steps": "Denoising steps. More is slower and usually a little cleaner (reference: 30).",
    "video_cfg": "Video classifier-free guidance: how strongly the picture follows the prompt. "
    "1.0 switches it off (reference: 3).",
    "audio_cfg": "Audio classifier-free guidance: how strongly the sound follows the prompt. "
    "1.0 switches it off (reference: 7).",
    "identity": "Identity guidance: how strongly the voice follows the reference clip. "
    "0 switches it off (reference: 3).",
    "stg": "Spatio-temporal guidance: steers away from a perturbed pass for steadier motion. "
    "0 switches it off (reference: 1).",
    "stg_block": "Transformer block perturbed by STG (reference: 29 of LTX-2's 48).",
    "modality": "Audio-video sync guidance: how strongly picture and sound follow each other. "
    "1.0 switches it off (reference: 3).",
    "lora": "Strength of the ID-LoRA: 1.0 as trained; lower weakens the identity transfer.",
}

_STATE_TEXT = {
    "missing": "not installed",
    "partial": "partly downloaded",
    "present": "installed",
    "verified": "installed, verified",
}


def _fmt_seconds(s: float) -> str:
    return f"{s:.2f}".rstrip("0").rstrip(".") + " s"


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar (fraction from ``JobsTableModel.FractionRole``)."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        fraction = index.data(JobsTableModel.FractionRole)
        if fraction is None:
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(option.rect).adjusted(6, 7, -6, -7)  # type: ignore[attr-defined]
        path = QPainterPath()
        path.addRoundedRect(r, 4, 4)
        painter.fillPath(path, QColor("#2a2e38"))
        f = max(0.0, min(1.0, float(fraction)))
        if f > 0:
            chunk = QPainterPath()
            chunk.addRoundedRect(QRectF(r.left(), r.top(), r.width() * f, r.height()), 4, 4)
            painter.fillPath(chunk, QColor("#6c8cff"))
        painter.setPen(QColor("#e8eaf0"))
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, index.data() or "")
        painter.restore()


class _Collapsible(QWidget):
    """A header button that shows/hides a body widget."""

    def __init__(self, title: str, body: QWidget, expanded: bool = False) -> None:
        super().__init__()
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setObjectName("collapseButton")
        self.button.setAutoRaise(True)
        self.body = body
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.button)
        lay.addWidget(body)
        self.button.toggled.connect(self.set_expanded)
        self.set_expanded(expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(expanded)
        self.button.blockSignals(False)
        self.button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.button.isChecked()


def _problem_label() -> QLabel:
    label = QLabel()
    label.setObjectName("warningLabel")
    label.setWordWrap(True)
    label.hide()
    return label


def _stack(*items: QWidget | QHBoxLayout) -> QWidget:
    """Widgets (or row layouts) stacked tightly: a field with its notes and problems."""
    w = QWidget()
    w.setObjectName("fieldStack")
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(3)
    for item in items:
        if isinstance(item, QWidget):
            lay.addWidget(item)
        else:
            lay.addLayout(item)
    return w


PANEL_STYLE = """
#fieldStack, #fieldStack QLabel, QGroupBox QWidget#fieldStack { background: transparent; }
QCheckBox::indicator { width: 14px; height: 14px; border: 1px solid #4a5060;
                       border-radius: 3px; background: #23262e; }
QCheckBox::indicator:checked { background: #6c8cff; border-color: #6c8cff; }
QTableView { background: #1b1d23; border: 1px solid #2a2e37; border-radius: 8px;
             selection-background-color: #2f3646; selection-color: #e8eaf0; }
QHeaderView::section { background: #20232b; color: #9aa1b2; border: none;
                       border-bottom: 1px solid #2a2e37; padding: 4px 6px; }
#collapseButton { border: none; background: transparent; color: #c5cad6; padding: 4px 2px; }
"""


def _dim(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("dimLabel")
    label.setWordWrap(True)
    return label


class GeneratePanel(QWidget):
    """Form → requests → queue; queue view, preview, takes. See the module docstring.

    ``queue`` is a :class:`~idlora_studio.state.jobs.JobQueue` (or an object with its API).
    ``gpu_probe`` returns ``engine.memory.GPUInfo | None`` and runs on ``runner``
    (default: ``engine.memory.gpu_info``, which imports torch).
    """

    models_requested = Signal()  # the user wants the model manager
    requests_queued = Signal(int)  # number of takes handed to the queue

    def __init__(
        self,
        state: Any,
        queue: Any,
        thumbnails: ThumbnailCache,
        paths: Any,
        settings: Any = None,
        *,
        runner: TaskRunner | None = None,
        gpu_probe: Callable[[], Any] | None = None,
        local_sources: LocalSources | None = None,
        model_sets: dict[str, registry.ModelSet] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("generatePanel")
        self.setStyleSheet(PANEL_STYLE)
        self.state = state
        self.queue = queue
        self.thumbnails = thumbnails
        self.paths = paths
        self.settings = settings
        self._runner = runner or TaskRunner(max_threads=1, parent=self)
        self._gpu_probe = gpu_probe
        self._local = local_sources or LocalSources.load(paths.config_dir)
        self._sets = dict(model_sets if model_sets is not None else registry.MODEL_SETS)
        self._set_state: dict[str, str] = {}
        self._gpu: Any = None
        self._gpu_known = False
        self._gpu_started = False
        self._identity_id: int | None = None
        self._detail: Any = None
        self._previews: dict[int, QImage] = {}
        self._preview_job: int | None = None
        self._takes: list[Any] = []
        self._problems: dict[str, str] = {}
        self._building = True

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_form())
        splitter.addWidget(self._build_queue_side())
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([560, 700])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)

        state.identities_changed.connect(self._fill_identities)
        state.identity_loaded.connect(self._on_identity_loaded)
        state.identity_changed.connect(self._on_identity_changed)
        thumbnails.ready.connect(self._thumbnail_ready)
        queue.job_preview.connect(self._on_preview)
        queue.job_progress.connect(self._on_progress)
        queue.job_finished.connect(self._on_job_finished)
        queue.job_failed.connect(self._on_job_failed)
        queue.job_changed.connect(self._on_job_changed)
        queue.queue_changed.connect(self._update_job_buttons)

        self._building = False
        self._fill_identities()
        self._fill_model_sets()
        self.refresh_models()
        self._update_all()

    # ================================================================== layout: form
    def _build_form(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumWidth(420)
        body = QWidget()
        body.setObjectName("editorBody")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(16, 12, 16, 16)
        lay.setSpacing(10)
        title = QLabel("Generate")
        title.setObjectName("panelTitle")
        lay.addWidget(title)
        lay.addWidget(self._build_identity_box())
        lay.addWidget(self._build_prompt_box())
        lay.addWidget(self._build_output_box())
        lay.addWidget(self._build_advanced())
        lay.addStretch(1)
        scroll.setWidget(body)

        self.reason_label = QLabel()
        self.reason_label.setObjectName("warningLabel")
        self.reason_label.setWordWrap(True)
        self.queue_button = QPushButton("Queue 1 take")
        self.queue_button.setObjectName("primaryButton")
        self.queue_button.setMinimumHeight(36)
        self.queue_button.clicked.connect(self.queue_takes)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(16, 6, 16, 12)
        bottom.addWidget(self.reason_label, 1)
        bottom.addWidget(self.queue_button)

        wrap = QWidget()
        wl = QVBoxLayout(wrap)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.setSpacing(0)
        wl.addWidget(scroll, 1)
        wl.addLayout(bottom)
        return wrap

    def _build_identity_box(self) -> QGroupBox:
        box = QGroupBox("Identity")
        form = QVBoxLayout(box)
        self.identity_combo = QComboBox()
        self.identity_combo.setPlaceholderText("Choose a person from the library")
        self.identity_combo.currentIndexChanged.connect(self._identity_chosen)
        self.identity_problem = _problem_label()
        self.image_list = QListWidget()
        self.image_list.setViewMode(QListView.ViewMode.IconMode)
        self.image_list.setFlow(QListView.Flow.LeftToRight)
        self.image_list.setWrapping(False)
        self.image_list.setIconSize(QSize(64, 64))
        self.image_list.setFixedHeight(92)
        self.image_list.setMovement(QListView.Movement.Static)
        self.image_list.setToolTip("Reference image: the first frame of the video")
        self.image_list.currentItemChanged.connect(lambda *_: self._update_all())
        self.image_problem = _problem_label()
        self.clip_combo = QComboBox()
        self.clip_combo.setToolTip("Reference voice clip: the voice the person speaks with")
        self.clip_combo.currentIndexChanged.connect(lambda *_: self._update_all())
        self.voice_problem = _problem_label()
        form.addWidget(self.identity_combo)
        form.addWidget(self.identity_problem)
        form.addWidget(_dim("Reference image"))
        form.addWidget(self.image_list)
        form.addWidget(self.image_problem)
        form.addWidget(_dim("Voice clip"))
        form.addWidget(self.clip_combo)
        form.addWidget(self.voice_problem)
        return box

    def _text_field(self, placeholder: str, height: int = 54) -> QPlainTextEdit:
        edit = QPlainTextEdit()
        edit.setPlaceholderText(placeholder)
        edit.setFixedHeight(height)
        edit.setTabChangesFocus(True)
        edit.textChanged.connect(self._update_all)
        return edit

    def _build_prompt_box(self) -> QGroupBox:
        box = QGroupBox("Prompt")
        lay = QFormLayout(box)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.visual_edit = self._text_field("What we see: the person, framing, light, motion")
        self.speech_edit = self._text_field("What the person says, word for word")
        self.sounds_edit = self._text_field("Other sounds: room tone, background", 40)
        self.speech_problem = _problem_label()
        self.assembled_label = _dim()
        self.assembled_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.assembled_label.setObjectName("promptPreview")
        lay.addRow("Visual", self.visual_edit)
        lay.addRow("Speech", _stack(self.speech_edit, self.speech_problem))
        lay.addRow("Sounds", self.sounds_edit)
        lay.addRow("Prompt", self.assembled_label)

        self.negative_edit = QPlainTextEdit(api.DEFAULT_NEGATIVE_PROMPT)
        self.negative_edit.setFixedHeight(84)
        reset = QPushButton("Reset to default")
        reset.clicked.connect(lambda: self.negative_edit.setPlainText(api.DEFAULT_NEGATIVE_PROMPT))
        neg_body = QWidget()
        nl = QVBoxLayout(neg_body)
        nl.setContentsMargins(0, 0, 0, 0)
        nl.addWidget(self.negative_edit)
        nl.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        self.negative_section = _Collapsible("Negative prompt", neg_body)
        lay.addRow(self.negative_section)
        return box

    def _build_output_box(self) -> QGroupBox:
        box = QGroupBox("Output")
        lay = QFormLayout(box)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)

        # preset (only one-stage exists today; the others are listed, disabled)
        self.preset_combo = QComboBox()
        model = QStandardItemModel(self.preset_combo)
        self.preset_combo.setModel(model)
        for key, title, enabled in PRESETS:
            self.preset_combo.addItem(title, key)
            item = model.item(self.preset_combo.count() - 1)
            item.setEnabled(enabled)
            item.setToolTip("" if enabled else NOT_AVAILABLE)
        self.preset_combo.setCurrentIndex(0)
        lay.addRow("Preset", self.preset_combo)

        # model set
        self.model_combo = QComboBox()
        self.model_combo.currentIndexChanged.connect(lambda *_: self._update_all())
        models_btn = QPushButton("Models…")
        models_btn.setToolTip("Download model sets or point the Studio at files on disk")
        models_btn.clicked.connect(self.models_requested)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(models_btn)
        self.model_problem = _problem_label()
        lay.addRow("Model", _stack(row, self.model_problem))

        # memory profile
        self.profile_combo = QComboBox()
        self.profile_combo.addItem("Auto", "auto")
        for name in PROFILE_ORDER:
            self.profile_combo.addItem(PROFILES[name].title, name)
            self.profile_combo.setItemData(
                self.profile_combo.count() - 1,
                PROFILES[name].description,
                Qt.ItemDataRole.ToolTipRole,
            )
        wanted = str(self._setting("memory_profile", "auto"))
        self.profile_combo.setCurrentIndex(max(0, self.profile_combo.findData(wanted)))
        self.profile_note = _dim()
        lay.addRow("Memory", _stack(self.profile_combo, self.profile_note))

        # size
        self.size_mode = QComboBox()
        self.size_mode.addItem("Auto from the image", "auto")
        self.size_mode.addItem("Custom", "custom")
        self.size_mode.currentIndexChanged.connect(self._size_mode_changed)
        self.long_side_spin = QSpinBox()
        self.long_side_spin.setRange(64, 2048)
        self.long_side_spin.setSingleStep(32)
        self.long_side_spin.setValue(api.DEFAULT_AUTO_LONG_SIDE)
        self.long_side_spin.setPrefix("long side ")
        self.long_side_spin.setSuffix(" px")
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, value in ((self.width_spin, 512), (self.height_spin, 512)):
            spin.setRange(32, 2048)
            spin.setSingleStep(32)
            spin.setValue(value)
            spin.setSuffix(" px")
            spin.setKeyboardTracking(True)
            spin.valueChanged.connect(self._update_all)
        self.long_side_spin.valueChanged.connect(self._update_all)
        self.width_spin.setPrefix("W ")
        self.height_spin.setPrefix("H ")
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_mode)
        size_row.addWidget(self.long_side_spin)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(self.height_spin)
        size_row.addStretch(1)
        self.size_label = _dim()
        self.size_label.setToolTip(
            "LTX-2 works on 32x32 pixel patches: width and height are rounded to multiples "
            "of 32. Auto keeps the image's aspect with the long side at most the value given "
            "(and at most 576x1024 pixels in area)."
        )
        self.size_problem = _problem_label()
        lay.addRow("Size", _stack(size_row, self.size_label, self.size_problem))

        # length
        self.length_mode = QComboBox()
        self.length_mode.addItem("Duration", "duration")
        self.length_mode.addItem("Frames", "frames")
        self.length_mode.currentIndexChanged.connect(self._length_mode_changed)
        self.duration_spin = QDoubleSpinBox()
        self.duration_spin.setRange(0.1, 20.0)
        self.duration_spin.setDecimals(2)
        self.duration_spin.setSingleStep(0.5)
        self.duration_spin.setSuffix(" s")
        self.duration_spin.setValue(api.DEFAULT_FRAMES / api.DEFAULT_FPS)
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(1, 481)
        self.frames_spin.setSingleStep(8)
        self.frames_spin.setValue(api.DEFAULT_FRAMES)
        self.frames_spin.setSuffix(" frames")
        self.duration_spin.valueChanged.connect(self._update_all)
        self.frames_spin.valueChanged.connect(self._update_all)
        length_row = QHBoxLayout()
        length_row.addWidget(self.length_mode)
        length_row.addWidget(self.duration_spin)
        length_row.addWidget(self.frames_spin)
        length_row.addStretch(1)
        self.frames_label = _dim()
        self.frames_label.setToolTip(
            f"The video VAE packs 8 frames into one latent frame after the first: frame "
            f"counts are 8k+1 (9, 17, ..., 121). {api.DEFAULT_FPS:g} frames per second."
        )
        self.frames_problem = _problem_label()
        lay.addRow("Length", _stack(length_row, self.frames_label, self.frames_problem))

        # seed and takes
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, SEED_MAX)
        self.seed_spin.setValue(42)
        self.seed_spin.setMinimumWidth(120)
        self.random_seed = QCheckBox("Random")
        self.random_seed.setToolTip("Pick a new random seed each time takes are queued")
        self.random_seed.setChecked(bool(self._setting("default_seed_random", True)))
        self.random_seed.toggled.connect(self._update_all)
        self.takes_spin = QSpinBox()
        self.takes_spin.setRange(1, MAX_TAKES)
        self.takes_spin.setValue(1)
        self.takes_spin.setPrefix("× ")
        self.takes_spin.setToolTip("Number of takes: seeds s, s+1, s+2, … (seed variations)")
        self.takes_spin.valueChanged.connect(self._update_all)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin)
        seed_row.addWidget(self.random_seed)
        seed_row.addStretch(1)
        seed_row.addWidget(QLabel("Takes"))
        seed_row.addWidget(self.takes_spin)
        self.seeds_label = _dim()
        lay.addRow("Seed", _stack(seed_row, self.seeds_label))
        self._size_mode_changed()
        self._length_mode_changed()
        return box

    def _dspin(self, value: float, lo: float, hi: float, tip: str, step: float = 0.5) -> Any:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self._update_all)
        return spin

    def _build_advanced(self) -> QWidget:
        body = QGroupBox()
        lay = QFormLayout(body)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 200)
        self.steps_spin.setValue(int(self._setting("default_steps", api.DEFAULT_STEPS)))
        self.steps_spin.setToolTip(TIPS["steps"])
        self.video_cfg = self._dspin(api.DEFAULT_VIDEO_CFG, 1.0, 20.0, TIPS["video_cfg"])
        self.audio_cfg = self._dspin(api.DEFAULT_AUDIO_CFG, 1.0, 20.0, TIPS["audio_cfg"])
        self.identity_scale = self._dspin(api.DEFAULT_IDENTITY_SCALE, 0.0, 20.0, TIPS["identity"])
        self.stg_scale = self._dspin(api.DEFAULT_STG_SCALE, 0.0, 10.0, TIPS["stg"], 0.25)
        self.stg_block = QSpinBox()
        self.stg_block.setRange(0, 63)
        self.stg_block.setValue(api.DEFAULT_STG_BLOCK)
        self.stg_block.setToolTip(TIPS["stg_block"])
        self.modality_scale = self._dspin(api.DEFAULT_MODALITY_SCALE, 1.0, 20.0, TIPS["modality"])
        self.lora_strength = self._dspin(1.0, 0.0, 2.0, TIPS["lora"], 0.05)
        stg_row = QHBoxLayout()
        stg_row.addWidget(self.stg_scale)
        stg_row.addWidget(QLabel("block"))
        stg_row.addWidget(self.stg_block)
        stg_row.addStretch(1)
        for label, widget in (
            ("Steps", self.steps_spin),
            ("Video CFG", self.video_cfg),
            ("Audio CFG", self.audio_cfg),
            ("Identity", self.identity_scale),
        ):
            widget.setToolTip(widget.toolTip())
            lay.addRow(label, widget)
        lay.addRow("STG", stg_row)
        lay.addRow("Modality", self.modality_scale)
        lay.addRow("LoRA strength", self.lora_strength)
        reset = QPushButton("Reference defaults")
        reset.clicked.connect(self.reset_advanced)
        lay.addRow("", reset)
        self.advanced_section = _Collapsible("Advanced: guidance scales", body)
        return self.advanced_section

    # ================================================================== layout: queue side
    def _build_queue_side(self) -> QWidget:
        side = QWidget()
        side.setObjectName("editorBody")
        lay = QVBoxLayout(side)
        lay.setContentsMargins(12, 12, 16, 12)
        lay.setSpacing(10)

        jobs_box = QGroupBox("Queue")
        jl = QVBoxLayout(jobs_box)
        self.jobs_model = JobsTableModel(self.queue, self)
        self.jobs_view = QTableView()
        self.jobs_view.setModel(self.jobs_model)
        self.jobs_view.setItemDelegateForColumn(2, ProgressDelegate(self.jobs_view))
        self.jobs_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jobs_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.jobs_view.verticalHeader().hide()
        self.jobs_view.setShowGrid(False)
        self.jobs_view.setAlternatingRowColors(False)
        header = self.jobs_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(2, 150)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.jobs_view.setMinimumHeight(150)
        self.jobs_view.selectionModel().selectionChanged.connect(self._update_job_buttons)
        self.jobs_model.modelReset.connect(self._update_job_buttons)
        jl.addWidget(self.jobs_view, 1)

        self.cancel_button = QPushButton("Cancel")
        self.retry_button = QPushButton("Retry")
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("dangerButton")
        self.cancel_button.clicked.connect(lambda: self._act(self.queue.cancel))
        self.retry_button.clicked.connect(lambda: self._act(self.queue.retry))
        self.up_button.clicked.connect(lambda: self._act(lambda j: self.queue.move(j, -1)))
        self.down_button.clicked.connect(lambda: self._act(lambda j: self.queue.move(j, 1)))
        self.remove_button.clicked.connect(lambda: self._act(self.queue.remove))
        buttons = QHBoxLayout()
        for b in (
            self.cancel_button,
            self.retry_button,
            self.up_button,
            self.down_button,
            self.remove_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        jl.addLayout(buttons)

        self.failure_label = QLabel()
        self.failure_label.setObjectName("warningLabel")
        self.failure_label.setWordWrap(True)
        self.failure_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lighter_button = QPushButton()
        self.lighter_button.setObjectName("primaryButton")
        self.lighter_button.clicked.connect(self._retry_lighter)
        fail_row = QHBoxLayout()
        fail_row.addWidget(self.failure_label, 1)
        fail_row.addWidget(self.lighter_button, 0, Qt.AlignmentFlag.AlignTop)
        self.failure_label.hide()
        self.lighter_button.hide()
        jl.addLayout(fail_row)
        lay.addWidget(jobs_box, 3)

        bottom = QHBoxLayout()
        bottom.setSpacing(10)
        prev_box = QGroupBox("Live preview")
        pl = QVBoxLayout(prev_box)
        self.preview_label = QLabel("The running job's preview appears here")
        self.preview_label.setObjectName("previewImage")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(240, 180)
        self.preview_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview_label.setStyleSheet(
            "#previewImage { background: #111318; border-radius: 8px; color: #6b7184; }"
        )
        self.preview_caption = _dim()
        pl.addWidget(self.preview_label, 1)
        pl.addWidget(self.preview_caption)
        bottom.addWidget(prev_box, 1)

        takes_box = QGroupBox("Takes of this identity")
        tl = QVBoxLayout(takes_box)
        self.takes_list = QListWidget()
        self.takes_list.setViewMode(QListView.ViewMode.IconMode)
        self.takes_list.setIconSize(QSize(96, 96))
        self.takes_list.setGridSize(QSize(118, 142))
        self.takes_list.setMovement(QListView.Movement.Static)
        self.takes_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.takes_list.setWordWrap(True)
        self.takes_list.currentItemChanged.connect(lambda *_: self._update_take_buttons())
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("Queue the same recipe again (same seed)")
        self.vary_button = QPushButton("Vary (new seed)")
        self.vary_button.setToolTip("Queue the same recipe with a new random seed")
        self.rerun_button.clicked.connect(self._rerun)
        self.vary_button.clicked.connect(self._vary)
        self.takes_hint = _dim("No takes yet.")
        tb = QHBoxLayout()
        tb.addWidget(self.takes_hint, 1)
        tb.addWidget(self.rerun_button)
        tb.addWidget(self.vary_button)
        tl.addWidget(self.takes_list, 1)
        tl.addLayout(tb)
        bottom.addWidget(takes_box, 1)
        lay.addLayout(bottom, 4)
        self._update_take_buttons()
        return side

    # ================================================================== helpers
    def _setting(self, name: str, default: Any) -> Any:
        if self.settings is None:
            return default
        try:
            value = self.settings.get(name)
        except (AttributeError, KeyError):
            return default
        return default if value in (None, "") else value

    def _models_dir(self) -> Path:
        custom = str(self._setting("models_dir", "") or "")
        return Path(custom) if custom else Path(self.paths.models_dir)

    def reset_advanced(self) -> None:
        self.steps_spin.setValue(int(self._setting("default_steps", api.DEFAULT_STEPS)))
        self.video_cfg.setValue(api.DEFAULT_VIDEO_CFG)
        self.audio_cfg.setValue(api.DEFAULT_AUDIO_CFG)
        self.identity_scale.setValue(api.DEFAULT_IDENTITY_SCALE)
        self.stg_scale.setValue(api.DEFAULT_STG_SCALE)
        self.stg_block.setValue(api.DEFAULT_STG_BLOCK)
        self.modality_scale.setValue(api.DEFAULT_MODALITY_SCALE)
        self.lora_strength.setValue(1.0)

    def _size_mode_changed(self) -> None:
        auto = self.size_mode.currentData() == "auto"
        self.long_side_spin.setVisible(auto)
        self.width_spin.setVisible(not auto)
        self.height_spin.setVisible(not auto)
        self._update_all()

    def _length_mode_changed(self) -> None:
        frames = self.length_mode.currentData() == "frames"
        self.frames_spin.setVisible(frames)
        self.duration_spin.setVisible(not frames)
        self._update_all()

    # ================================================================== identities
    def _fill_identities(self) -> None:
        summaries = list(getattr(self.state, "summaries", []) or [])
        self.identity_combo.blockSignals(True)
        self.identity_combo.clear()
        for s in summaries:
            icon = self.thumbnails.get(s.thumbnail_path)
            self.identity_combo.addItem(QIcon(icon) if icon else QIcon(), s.name, s.id)
            self.identity_combo.setItemData(
                self.identity_combo.count() - 1, str(s.thumbnail_path or ""), PATH_ROLE
            )
        index = self.identity_combo.findData(self._identity_id) if self._identity_id else -1
        self.identity_combo.setCurrentIndex(index)
        self.identity_combo.blockSignals(False)
        if index < 0 and self._identity_id is not None:
            self._identity_id = None
            self._detail = None
            self._fill_media()
        self._update_all()

    def set_identity(self, identity_id: int | None) -> None:
        """Show ``identity_id`` (e.g. the library's selection); loads its detail."""
        if identity_id is None:
            return
        index = self.identity_combo.findData(identity_id)
        if index >= 0 and index != self.identity_combo.currentIndex():
            self.identity_combo.setCurrentIndex(index)  # -> _identity_chosen
        elif identity_id != self._identity_id or self._detail is None:
            self._identity_id = identity_id
            self.state.load_identity(identity_id)
            self._load_takes()

    @property
    def identity_id(self) -> int | None:
        return self._identity_id

    def _identity_chosen(self, index: int) -> None:
        identity_id = self.identity_combo.itemData(index) if index >= 0 else None
        if identity_id == self._identity_id and self._detail is not None:
            return
        self._identity_id = identity_id
        self._detail = None
        self._fill_media()
        self._update_all()
        if identity_id is not None:
            self.state.load_identity(identity_id)
        self._load_takes()

    def _on_identity_loaded(self, detail: Any) -> None:
        if detail is None or detail.id != self._identity_id:
            return
        self._detail = detail
        self._fill_media()
        self._update_all()

    def _on_identity_changed(self, identity_id: int) -> None:
        if identity_id == self._identity_id:
            self.state.load_identity(identity_id)

    def _fill_media(self) -> None:
        detail = self._detail
        keep_image = self.selected_image()
        keep_clip = self.selected_clip()
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
                    item.setIcon(QIcon(pix))
                self.image_list.addItem(item)
                if (keep_image and im.id == keep_image.id) or (
                    not keep_image and im.id == detail.default_image_id
                ):
                    select_row = i
            if detail.images:
                self.image_list.setCurrentRow(select_row)
            for c in detail.clips:
                name = getattr(c, "original_name", "") or Path(str(c.path)).name
                default = " (default)" if c.id == detail.default_clip_id else ""
                self.clip_combo.addItem(f"{name} · {_fmt_seconds(c.duration_s)}{default}", c.id)
            wanted = keep_clip.id if keep_clip else detail.default_clip_id
            idx = self.clip_combo.findData(wanted)
            self.clip_combo.setCurrentIndex(idx if idx >= 0 else (0 if detail.clips else -1))
        self.image_list.blockSignals(False)
        self.clip_combo.blockSignals(False)

    def _thumbnail_ready(self, path: str) -> None:
        pix = self.thumbnails.cached(path)
        if pix is None:
            return
        for i in range(self.image_list.count()):
            item = self.image_list.item(i)
            if item.data(PATH_ROLE) == path:
                item.setIcon(QIcon(pix))
        for i in range(self.identity_combo.count()):
            if self.identity_combo.itemData(i, PATH_ROLE) == path:
                self.identity_combo.setItemIcon(i, QIcon(pix))
        for i in range(self.takes_list.count()):
            item = self.takes_list.item(i)
            if item.data(PATH_ROLE) == path:
                item.setIcon(QIcon(pix))

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

    # ================================================================== models and GPU
    def _fill_model_sets(self) -> None:
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for ms in self._sets.values():
            self.model_combo.addItem(self._model_text(ms), ms.id)
            self.model_combo.setItemData(
                self.model_combo.count() - 1, ms.description, Qt.ItemDataRole.ToolTipRole
            )
        index = self.model_combo.findData(current) if current else -1
        if index < 0:
            index = self._default_model_index()
        self.model_combo.setCurrentIndex(index)
        self.model_combo.blockSignals(False)

    def _default_model_index(self) -> int:
        ids = [self.model_combo.itemData(i) for i in range(self.model_combo.count())]
        for i, set_id in enumerate(ids):
            if not self._sets[set_id].builtin and self._installed(set_id):
                return i
        return 0 if ids else -1

    def _model_text(self, ms: registry.ModelSet) -> str:
        return f"{ms.title} — {self._model_state_text(ms.id)}"

    def _model_state_text(self, set_id: str) -> str:
        ms = self._sets[set_id]
        if ms.builtin:
            return "built in (test model, output is noise)"
        if self._local.get(set_id) is not None:
            return "files on disk"
        state = self._set_state.get(set_id)
        return _STATE_TEXT.get(state or "", "checking…")

    def _installed(self, set_id: str) -> bool:
        ms = self._sets.get(set_id)
        if ms is None:
            return False
        if ms.builtin or self._local.get(set_id) is not None:
            return True
        return self._set_state.get(set_id) in ("present", "verified")

    def refresh_models(self) -> None:
        """Re-read which model sets are on disk (on the runner) and update the combo."""
        self._local = LocalSources.load(self.paths.config_dir)
        sets = list(self._sets.values())
        models_dir = self._models_dir()

        def work() -> dict[str, str]:
            return {ms.id: str(registry.status(ms, models_dir).state) for ms in sets}

        def done(states: dict[str, str]) -> None:
            first = not self._set_state
            self._set_state = states
            for i in range(self.model_combo.count()):
                self.model_combo.setItemText(
                    i, self._model_text(self._sets[self.model_combo.itemData(i)])
                )
            if first:
                self.model_combo.setCurrentIndex(self._default_model_index())
            self._update_all()

        self._runner.submit(work, done, lambda exc: None)

    def selected_model_set(self) -> str | None:
        return self.model_combo.currentData()

    def select_model_set(self, set_id: str) -> None:
        index = self.model_combo.findData(set_id)
        if index >= 0:
            self.model_combo.setCurrentIndex(index)

    def probe_gpu(self) -> None:
        """Find the GPU and its free memory on the runner (imports torch there)."""
        if self._gpu_started:
            return
        self._gpu_started = True
        probe = self._gpu_probe
        if probe is None:
            from engine.memory import gpu_info as probe

        def done(info: Any) -> None:
            self._gpu, self._gpu_known = info, True
            self._update_all()

        def failed(exc: BaseException) -> None:
            self._gpu, self._gpu_known = None, True
            self._update_all()

        self._runner.submit(probe, done, failed)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.probe_gpu()

    # ================================================================== computing
    def _size_request(self) -> GenerationRequest:
        custom = self.size_mode.currentData() == "custom"
        return GenerationRequest(
            width=self.width_spin.value() if custom else None,
            height=self.height_spin.value() if custom else None,
            auto_long_side=self.long_side_spin.value(),
            num_frames=self.frames_spin.value()
            if self.length_mode.currentData() == "frames"
            else None,
            duration_s=self.duration_spin.value()
            if self.length_mode.currentData() == "duration"
            else None,
        )

    def effective_size(self) -> tuple[int, int, list[str]] | None:
        """(width, height, notes) the engine will use, or None without an image."""
        image = self.selected_image()
        if image is None:
            return None
        return resolve_size(self._size_request(), (int(image.width), int(image.height)))

    def effective_frames(self) -> tuple[int, list[str]]:
        return resolve_frames(self._size_request())

    def prompt_parts(self) -> PromptParts:
        return PromptParts(
            visual=self.visual_edit.toPlainText(),
            speech=self.speech_edit.toPlainText(),
            sounds=self.sounds_edit.toPlainText(),
        )

    def memory_profile(self) -> str:
        return str(self.profile_combo.currentData() or "auto")

    def _variant(self) -> str:
        ms = self._sets.get(self.selected_model_set() or "")
        return ms.variant if ms is not None else "ltx2"

    def seeds(self) -> list[int]:
        """The seeds the next queue will use (s, s+1, ...); random: decided when queueing."""
        s = self.seed_spin.value()
        n = self.takes_spin.value()
        return [min(s + i, SEED_MAX) for i in range(n)]

    def problems(self) -> dict[str, str]:
        """Why the form cannot be queued, by field (empty: ready)."""
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
        if not self.speech_edit.toPlainText().strip():
            out["speech"] = "Write what the person says: the Speech field is empty."
        set_id = self.selected_model_set()
        if set_id is None:
            out["model"] = "Choose a model set."
        elif not self._set_state and not self._sets[set_id].builtin:
            out["model"] = "Checking which model sets are installed…"
        elif not self._installed(set_id):
            out["model"] = (
                f"“{self._sets[set_id].title}” is not installed: open Models… to download it "
                "or to use files already on disk."
            )
        elif (src := self._local.get(set_id)) is not None and src.kind == "single-file":
            out["model"] = (
                "Single-file checkpoints cannot be queued from here yet; point the model "
                "manager at a diffusers folder instead."
            )
        try:
            self.effective_size()
        except InvalidRequestError as exc:
            out["size"] = str(exc)
        try:
            self.effective_frames()
        except InvalidRequestError as exc:
            out["frames"] = str(exc)
        return out

    # ================================================================== updating
    def _update_all(self) -> None:
        if self._building:
            return
        self.assembled_label.setText(self.prompt_parts().tagged() or "(empty)")
        self._update_size_labels()
        self._update_profile_texts()
        n = self.takes_spin.value()
        self.queue_button.setText(f"Queue {n} take{'s' if n != 1 else ''}")
        self.seed_spin.setEnabled(not self.random_seed.isChecked())
        if self.random_seed.isChecked():
            self.seeds_label.setText(
                f"A random seed s is drawn when queueing; takes use s … s+{n - 1}."
                if n > 1
                else "A random seed is drawn when queueing."
            )
        else:
            seeds = self.seeds()
            shown = ", ".join(str(s) for s in seeds[:4]) + (" …" if len(seeds) > 4 else "")
            self.seeds_label.setText(f"Seeds {shown}")
        self._problems = self.problems()
        labels = {
            "identity": self.identity_problem,
            "image": self.image_problem,
            "voice": self.voice_problem,
            "speech": self.speech_problem,
            "model": self.model_problem,
            "size": self.size_problem,
            "frames": self.frames_problem,
        }
        for key, label in labels.items():
            text = self._problems.get(key, "")
            label.setText(text)
            label.setVisible(bool(text))
        reason = next(iter(self._problems.values()), "")
        self.queue_button.setEnabled(not reason)
        self.queue_button.setToolTip(reason or "Add the takes to the queue")
        self.reason_label.setText(f"Cannot queue yet: {reason}" if reason else "")

    def _update_size_labels(self) -> None:
        try:
            size = self.effective_size()
        except InvalidRequestError:
            size = None
        if size is None:
            self.size_label.setText("Effective size: — (choose a reference image)")
        else:
            w, h, notes = size
            extra = ""
            if self.size_mode.currentData() == "custom":
                asked = (self.width_spin.value(), self.height_spin.value())
                extra = (
                    " · multiples of 32 ✓"
                    if asked == (w, h)
                    else f" · {asked[0]}×{asked[1]} rounded to multiples of 32"
                )
            else:
                image = self.selected_image()
                extra = f" · from the {image.width}×{image.height} image, multiples of 32"
            self.size_label.setText(f"Effective size: <b>{w} × {h}</b>{extra}")
        try:
            n, _notes = self.effective_frames()
        except InvalidRequestError:
            self.frames_label.setText("Effective length: —")
            return
        fps = api.DEFAULT_FPS
        if self.length_mode.currentData() == "frames":
            asked = self.frames_spin.value()
        else:
            asked = int(round(self.duration_spin.value() * fps))
        note = "" if asked == n else f" · {asked} frames snapped to 8k+1"
        self.frames_label.setText(
            f"Effective length: <b>{n} frames = {_fmt_seconds(n / fps)}</b> at {fps:g} fps{note}"
        )

    def _update_profile_texts(self) -> None:
        ms = self._sets.get(self.selected_model_set() or "")
        try:
            size = self.effective_size()
            frames, _ = self.effective_frames()
        except InvalidRequestError:
            size, frames = None, 121
        w, h = (size[0], size[1]) if size else (512, 512)
        variant = self._variant()
        tiny = ms is not None and ms.builtin
        for i in range(1, self.profile_combo.count()):
            name = self.profile_combo.itemData(i)
            title = PROFILES[name].title
            if tiny:
                self.profile_combo.setItemText(i, title)
            else:
                gib = expected_vram_gib(name, variant, w, h, frames)
                self.profile_combo.setItemText(i, f"{title} · ~{gib:.1f} GiB")
        if not self._gpu_known:
            auto, note = "Auto (checking the GPU…)", ""
        else:
            free = self._gpu.free_bytes if self._gpu is not None else None
            chosen = choose_profile(free, variant, w, h, frames)
            auto = f"Auto (→ {PROFILES[chosen].title})"
            if self._gpu is None:
                note = "No CUDA GPU: generation runs on the CPU (slow)."
            else:
                note = f"{self._gpu.name}: {self._gpu.free_bytes / 2**30:.1f} GiB free."
                need = expected_vram_gib(chosen, variant, w, h, frames)
                if not tiny and need + 1.0 > self._gpu.free_bytes / 2**30:
                    note += " Even the lightest profile may not fit at this size."
        self.profile_combo.setItemText(0, auto)
        sizing = f" VRAM estimates for {w}×{h}, {frames} frames." if not tiny else ""
        self.profile_note.setText((note + sizing).strip())

    # ================================================================== queueing
    def build_requests(self, seed: int | None = None) -> list[GenerationRequest]:
        """One request per take (seeds ``seed``, ``seed``+1, ...); raises on a problem."""
        problems = self.problems()
        if problems:
            raise InvalidRequestError(next(iter(problems.values())))
        image, clip = self.selected_image(), self.selected_clip()
        base = self._size_request()
        start = self.seed_spin.value() if seed is None else seed
        n = self.takes_spin.value()
        out = []
        for i in range(n):
            out.append(
                GenerationRequest(
                    parts=self.prompt_parts(),
                    negative_prompt=self.negative_edit.toPlainText(),
                    image=Path(str(image.path)),
                    voice=Path(str(clip.path)),
                    width=base.width,
                    height=base.height,
                    num_frames=base.num_frames,
                    duration_s=base.duration_s,
                    steps=self.steps_spin.value(),
                    seed=min(start + i, SEED_MAX),
                    video_cfg=self.video_cfg.value(),
                    audio_cfg=self.audio_cfg.value(),
                    identity_scale=self.identity_scale.value(),
                    stg_scale=self.stg_scale.value(),
                    stg_block=self.stg_block.value(),
                    modality_scale=self.modality_scale.value(),
                    lora_strength=self.lora_strength.value(),
                    auto_long_side=self.long_side_spin.value(),
                )
            )
        return out

    def job_spec(self) -> JobSpec:
        set_id = self.selected_model_set() or "tiny"
        image, clip = self.selected_image(), self.selected_clip()
        model_set, lora = set_id, None
        src = self._local.get(set_id)
        if src is not None:
            model_set, lora = str(src.model), src.lora
        return JobSpec(
            model_set=model_set,
            lora_path=lora,
            lora_strength=self.lora_strength.value(),
            memory_profile=self.memory_profile(),
            identity_id=self._identity_id,
            image_id=image.id if image is not None else None,
            clip_id=clip.id if clip is not None else None,
        )

    def queue_takes(self) -> int:
        """Hand the form's takes to the queue; returns how many (0 when something is wrong)."""
        self._update_all()
        if self._problems:
            return 0
        if self.random_seed.isChecked():
            n = self.takes_spin.value()
            self.seed_spin.setValue(secrets.randbelow(SEED_MAX - n))
        requests = self.build_requests()
        self.queue.enqueue(requests, self.job_spec())
        self.requests_queued.emit(len(requests))
        return len(requests)

    # ================================================================== jobs
    def selected_job(self) -> int | None:
        rows = self.jobs_view.selectionModel().selectedRows()
        if not rows:
            return None
        return rows[0].data(JobsTableModel.JobIdRole)

    def select_job(self, job_id: int) -> None:
        for row in range(self.jobs_model.rowCount()):
            if self.jobs_model.job_id(row) == job_id:
                self.jobs_view.selectRow(row)
                return

    def _act(self, fn: Callable[[int], Any]) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            fn(job_id)

    def _update_job_buttons(self, *_: Any) -> None:
        job_id = self.selected_job()
        job = self.queue.job(job_id) if job_id is not None else None
        state = job.state if job is not None else None
        self.cancel_button.setEnabled(state in (JobState.QUEUED, JobState.RUNNING))
        self.retry_button.setEnabled(job is not None and job.retryable)
        queued = self.queue.queued() if hasattr(self.queue, "queued") else []
        self.up_button.setEnabled(state == JobState.QUEUED and queued[:1] != [job_id])
        self.down_button.setEnabled(state == JobState.QUEUED and queued[-1:] != [job_id])
        self.remove_button.setEnabled(job is not None and state != JobState.RUNNING)
        if job is not None and state in (JobState.FAILED, JobState.INTERRUPTED) and job.error:
            self.failure_label.setText(job.error)
            self.failure_label.show()
        else:
            self.failure_label.hide()
        lighter = job.suggested_profile if job is not None else None
        if state == JobState.FAILED and job.error_kind == "oom" and lighter:
            title = PROFILES[lighter].title if lighter in PROFILES else lighter
            self.lighter_button.setText(f"Retry with lighter profile ({title})")
            self.lighter_button.show()
        else:
            self.lighter_button.hide()

    def _retry_lighter(self) -> None:
        job_id = self.selected_job()
        if job_id is not None:
            self.queue.retry(job_id, lighter=True)

    def _on_job_changed(self, job_id: int) -> None:
        if job_id == self.selected_job():
            self._update_job_buttons()

    def _on_job_failed(self, job_id: int, kind: str, message: str) -> None:
        self.select_job(job_id)  # the sentence (and the retry) right in view
        self._update_job_buttons()

    def _on_progress(self, job_id: int, step: int, total: int, eta: float) -> None:
        if self._preview_job not in (None, job_id):
            return
        left = f", about {int(eta) // 60}:{int(eta) % 60:02d} left" if eta >= 0 else ""
        self.preview_caption.setText(f"Job {job_id}: step {step} of {total}{left}")

    def _on_preview(self, job_id: int, image: QImage) -> None:
        self._previews = {job_id: image}
        self._preview_job = job_id
        self._show_preview()

    def _show_preview(self) -> None:
        image = self._previews.get(self._preview_job or -1)
        if image is None or image.isNull():
            return
        target = self.preview_label.size()
        pix = QPixmap.fromImage(image).scaled(
            target,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.preview_label.setPixmap(pix)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._show_preview()

    def _on_job_finished(self, job_id: int, take_id: int) -> None:
        if self._preview_job == job_id:
            self.preview_caption.setText(f"Job {job_id} finished: take {take_id}")
            self._preview_job = None
        self._load_takes()

    # ================================================================== takes
    def _load_takes(self) -> None:
        identity_id = self._identity_id
        repo = getattr(self.queue, "takes_repo", None)
        if repo is None or identity_id is None:
            self._show_takes([])
            return

        def done(takes: list[Any]) -> None:
            if identity_id == self._identity_id:
                self._show_takes(takes)

        self._runner.submit(lambda: repo.list_takes(identity_id), done, lambda exc: None)

    def _show_takes(self, takes: list[Any]) -> None:
        self._takes = list(takes)
        current = self.selected_take()
        self.takes_list.clear()
        for t in self._takes:
            item = QListWidgetItem(f"seed {t.seed}\n{_fmt_seconds(t.duration_s)}")
            item.setData(ID_ROLE, t.id)
            item.setData(PATH_ROLE, str(t.thumbnail_path or ""))
            item.setToolTip(
                f"{t.prompt_summary}\n{t.width}×{t.height}, {t.num_frames} frames, seed {t.seed}"
            )
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            pix = self.thumbnails.get(t.thumbnail_path) if t.thumbnail_path else None
            if pix is not None:
                item.setIcon(QIcon(pix))
            self.takes_list.addItem(item)
            if t.id == current:
                self.takes_list.setCurrentItem(item)
        self.takes_hint.setText(
            "No takes yet." if not self._takes else f"{len(self._takes)} take(s)"
        )
        self._update_take_buttons()

    def take_ids(self) -> list[int]:
        return [t.id for t in self._takes]

    def selected_take(self) -> int | None:
        item = self.takes_list.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def _update_take_buttons(self) -> None:
        has = self.selected_take() is not None
        self.rerun_button.setEnabled(has)
        self.vary_button.setEnabled(has)

    def _rerun(self) -> None:
        take_id = self.selected_take()
        if take_id is not None:
            self.queue.rerun(take_id)

    def _vary(self) -> None:
        take_id = self.selected_take()
        if take_id is not None:
            self.queue.vary(take_id)
