"""What comes out: size (auto from the image or custom), length (duration or frames), seed and
the number of takes, with the effective values computed by the engine's own rules
(``engine.generate.resolve_size`` / ``resolve_frames``) while the user types."""

from __future__ import annotations

import secrets
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
)

from engine import api
from engine.api import GenerationRequest, InvalidRequestError
from engine.generate import resolve_frames, resolve_size
from idlora_studio.ui.generate.common import (
    bound,
    dim,
    fmt_seconds,
    problem_label,
    set_choice,
    set_number,
    show_problem,
    stack,
)

MAX_TAKES = 16
SEED_MAX = 2**31 - 1


class OutputSettings(QGroupBox):
    """Size, length, seed and takes. ``changed`` on any edit (every keystroke)."""

    changed = Signal()

    def __init__(self, random_seed_default: bool = True) -> None:
        super().__init__("Output")
        lay = QFormLayout(self)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)

        # size
        self.size_mode = QComboBox()
        self.size_mode.addItem("Auto from the image", "auto")
        self.size_mode.addItem("Custom", "custom")
        self.size_mode.currentIndexChanged.connect(self._size_mode_changed)
        self.long_side_spin = QSpinBox()
        bound(self.long_side_spin, "auto_long_side", "Auto size: the longest side of the video.")
        self.long_side_spin.setSingleStep(32)
        self.long_side_spin.setValue(api.DEFAULT_AUTO_LONG_SIDE)
        self.long_side_spin.setPrefix("long side ")
        self.long_side_spin.setSuffix(" px")
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, value, name in (
            (self.width_spin, 512, "width"),
            (self.height_spin, 512, "height"),
        ):
            bound(spin, name, f"Custom {name}, rounded to a multiple of 32.")
            spin.setSingleStep(32)
            spin.setValue(value)
            spin.setSuffix(" px")
            spin.setKeyboardTracking(True)
            spin.valueChanged.connect(self.changed)
        self.long_side_spin.valueChanged.connect(self.changed)
        self.width_spin.setPrefix("W ")
        self.height_spin.setPrefix("H ")
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_mode)
        size_row.addWidget(self.long_side_spin)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(self.height_spin)
        size_row.addStretch(1)
        self.size_label = dim()
        self.size_label.setToolTip(
            "LTX-2 works on 32x32 pixel patches: width and height are rounded to multiples "
            "of 32. Auto keeps the image's aspect with the long side at most the value given "
            "(and at most 576x1024 pixels in area)."
        )
        self.size_problem = problem_label()
        lay.addRow("Size", stack(size_row, self.size_label, self.size_problem))

        # length
        self.length_mode = QComboBox()
        self.length_mode.addItem("Duration", "duration")
        self.length_mode.addItem("Frames", "frames")
        self.length_mode.currentIndexChanged.connect(self._length_mode_changed)
        self.duration_spin = QDoubleSpinBox()
        bound(self.duration_spin, "duration_s", "Length of the video in seconds.")
        self.duration_spin.setDecimals(2)
        self.duration_spin.setSingleStep(0.5)
        self.duration_spin.setSuffix(" s")
        self.duration_spin.setValue(api.DEFAULT_FRAMES / api.DEFAULT_FPS)
        self.frames_spin = QSpinBox()
        bound(self.frames_spin, "num_frames", "Number of frames (8k+1).")
        self.frames_spin.setSingleStep(8)
        self.frames_spin.setValue(api.DEFAULT_FRAMES)
        self.frames_spin.setSuffix(" frames")
        self.duration_spin.valueChanged.connect(self.changed)
        self.frames_spin.valueChanged.connect(self.changed)
        length_row = QHBoxLayout()
        length_row.addWidget(self.length_mode)
        length_row.addWidget(self.duration_spin)
        length_row.addWidget(self.frames_spin)
        length_row.addStretch(1)
        self.frames_label = dim()
        self.frames_label.setToolTip(
            f"The video VAE packs 8 frames into one latent frame after the first: frame "
            f"counts are 8k+1 (9, 17, ..., 121). {api.DEFAULT_FPS:g} frames per second."
        )
        self.frames_problem = problem_label()
        lay.addRow("Length", stack(length_row, self.frames_label, self.frames_problem))

        # seed and takes
        self.seed_spin = QSpinBox()
        bound(self.seed_spin, "seed", "Start seed: take i uses seed + i.", high=SEED_MAX)
        self.seed_spin.setValue(42)
        self.seed_spin.setMinimumWidth(120)
        self.random_seed = QCheckBox("Random")
        self.random_seed.setToolTip("Pick a new random seed each time takes are queued")
        self.random_seed.setChecked(random_seed_default)
        self.random_seed.toggled.connect(self.changed)
        self.takes_spin = QSpinBox()
        self.takes_spin.setRange(1, MAX_TAKES)
        self.takes_spin.setValue(1)
        self.takes_spin.setPrefix("× ")
        self.takes_spin.setToolTip("Number of takes: seeds s, s+1, s+2, … (seed variations)")
        self.takes_spin.valueChanged.connect(self.changed)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin)
        seed_row.addWidget(self.random_seed)
        seed_row.addStretch(1)
        seed_row.addWidget(QLabel("Takes"))
        seed_row.addWidget(self.takes_spin)
        self.seeds_label = dim()
        lay.addRow("Seed", stack(seed_row, self.seeds_label))
        self._size_mode_changed()
        self._length_mode_changed()

    # ------------------------------------------------------------------ modes
    def _size_mode_changed(self) -> None:
        auto = self.size_mode.currentData() == "auto"
        self.long_side_spin.setVisible(auto)
        self.width_spin.setVisible(not auto)
        self.height_spin.setVisible(not auto)
        self.changed.emit()

    def _length_mode_changed(self) -> None:
        frames = self.length_mode.currentData() == "frames"
        self.frames_spin.setVisible(frames)
        self.duration_spin.setVisible(not frames)
        self.changed.emit()

    # ------------------------------------------------------------------ computing
    def size_request(self) -> GenerationRequest:
        """A request carrying only the size and length fields as the user set them."""
        custom = self.size_mode.currentData() == "custom"
        frames = self.length_mode.currentData() == "frames"
        return GenerationRequest(
            width=self.width_spin.value() if custom else None,
            height=self.height_spin.value() if custom else None,
            auto_long_side=self.long_side_spin.value(),
            num_frames=self.frames_spin.value() if frames else None,
            duration_s=self.duration_spin.value() if not frames else None,
        )

    def effective_size(self, image: Any) -> tuple[int, int, list[str]] | None:
        """(width, height, notes) the engine will use for ``image``; None without one."""
        if image is None:
            return None
        return resolve_size(self.size_request(), (int(image.width), int(image.height)))

    def effective_frames(self) -> tuple[int, list[str]]:
        return resolve_frames(self.size_request())

    def takes(self) -> int:
        return self.takes_spin.value()

    def seeds(self) -> list[int]:
        """The seeds the next queue will use (s, s+1, ...); random: decided when queueing."""
        s = self.seed_spin.value()
        return [min(s + i, SEED_MAX) for i in range(self.takes())]

    def draw_random_seed(self) -> None:
        """With Random on, put a fresh seed in the box (the takes use it and the next ones)."""
        if self.random_seed.isChecked():
            self.seed_spin.setValue(secrets.randbelow(SEED_MAX - self.takes()))

    def problems(self, image: Any) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            self.effective_size(image)
        except InvalidRequestError as exc:
            out["size"] = str(exc)
        try:
            self.effective_frames()
        except InvalidRequestError as exc:
            out["frames"] = str(exc)
        return out

    # ------------------------------------------------------------------ saved form
    def form_state(self) -> dict[str, Any]:
        return {
            "size_mode": self.size_mode.currentData(),
            "long_side": self.long_side_spin.value(),
            "width": self.width_spin.value(),
            "height": self.height_spin.value(),
            "length_mode": self.length_mode.currentData(),
            "duration_s": self.duration_spin.value(),
            "frames": self.frames_spin.value(),
            "seed": self.seed_spin.value(),
            "random_seed": self.random_seed.isChecked(),
            "takes": self.takes_spin.value(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        set_choice(self.size_mode, state.get("size_mode"))
        set_number(self.long_side_spin, state.get("long_side"))
        set_number(self.width_spin, state.get("width"))
        set_number(self.height_spin, state.get("height"))
        set_choice(self.length_mode, state.get("length_mode"))
        set_number(self.duration_spin, state.get("duration_s"))
        set_number(self.frames_spin, state.get("frames"))
        set_number(self.seed_spin, state.get("seed"))
        if isinstance(state.get("random_seed"), bool):
            self.random_seed.setChecked(state["random_seed"])
        set_number(self.takes_spin, state.get("takes"))

    # ------------------------------------------------------------------ showing
    def refresh(
        self, image: Any, problems: dict[str, str], fit: str | None = None, upscale: int = 1
    ) -> None:
        """Effective size and length, the seeds, and the size/length problems.

        ``fit``: how the pipeline fits the image (``engine.media.first_frame``); when given, a
        crop or a visible stretch is said beside the effective size. ``upscale``: the preset's
        output factor (the 2x presets make the take twice the size).
        """
        self._update_size_labels(image, fit, upscale)
        n = self.takes()
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
        show_problem(self.size_problem, problems.get("size", ""))
        show_problem(self.frames_problem, problems.get("frames", ""))

    def _update_size_labels(self, image: Any, fit: str | None = None, upscale: int = 1) -> None:
        try:
            size = self.effective_size(image)
        except InvalidRequestError:
            size = None
        if size is None:
            self.size_label.setText("Effective size: — (choose a reference image)")
        else:
            w, h, _notes = size
            if self.size_mode.currentData() == "custom":
                asked = (self.width_spin.value(), self.height_spin.value())
                extra = (
                    " · multiples of 32 ✓"
                    if asked == (w, h)
                    else f" · {asked[0]}×{asked[1]} rounded to multiples of 32"
                )
            else:
                extra = f" · from the {image.width}×{image.height} image, multiples of 32"
            if fit is not None:
                from engine.media.first_frame import fit_geometry, fit_note

                geometry = fit_geometry((int(image.width), int(image.height)), (w, h), fit)
                note = fit_note(geometry)
                extra += f"<br>{note[0].upper()}{note[1:]}" if note else ""
            if upscale != 1:
                extra += (
                    f"<br>The take: <b>{upscale * w} × {upscale * h}</b> (stage 2 upsamples "
                    f"{upscale}x)"
                )
            self.size_label.setText(f"Effective size: <b>{w} × {h}</b>{extra}")
        try:
            n, _notes = self.effective_frames()
        except InvalidRequestError:
            self.frames_label.setText("Effective length: —")
            return
        fps = api.DEFAULT_FPS
        if self.length_mode.currentData() == "frames":
            asked_frames = self.frames_spin.value()
        else:
            asked_frames = int(round(self.duration_spin.value() * fps))
        note = "" if asked_frames == n else f" · {asked_frames} frames snapped to 8k+1"
        self.frames_label.setText(
            f"Effective length: <b>{n} frames = {fmt_seconds(n / fps)}</b> at {fps:g} fps{note}"
        )
