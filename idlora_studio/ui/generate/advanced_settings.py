"""The advanced section: denoising steps, the five guidance scales, STG block, CFG-star, the
identity-guidance window, LoRA strength.

Each field carries a short tooltip (:data:`TIPS`) saying what it does and the reference value,
followed by its allowed range and the reason for it (:mod:`engine.limits`).
Choosing a preset fills the fields with that preset's public defaults (:meth:`apply_preset`);
"Preset defaults" restores them. The fast preset's distilled schedule has a fixed 8 steps.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
)

from engine import api
from engine.pipeline.presets import DEFAULT_PIPELINE, PRESETS
from idlora_studio.ui.generate.common import Collapsible, bound, bound_tip, set_number

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
    "cfg_star": "CFG-star: rescale the negative prediction onto the conditional one before CFG "
    "(the LTX-2.3 HQ preset's guidance).",
    "identity_window": "Where on the schedule identity guidance runs (fractions of the steps: "
    "0 = first step, 1 = last). The reference uses the whole schedule; a shorter window is "
    "faster (one pass fewer per step outside it).",
}


class AdvancedSettings(Collapsible):
    """Collapsed by default; ``changed`` on any edit; :meth:`reset` restores the reference."""

    changed = Signal()

    def __init__(self, default_steps: int = api.DEFAULT_STEPS) -> None:
        body = QGroupBox()
        super().__init__("Advanced: guidance scales", body)
        self._default_steps = default_steps
        self._preset = DEFAULT_PIPELINE
        lay = QFormLayout(body)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.steps_spin = QSpinBox()
        bound(self.steps_spin, "steps", TIPS["steps"])
        self.steps_spin.setValue(default_steps)
        self.steps_spin.valueChanged.connect(self.changed)
        self.video_cfg = self._dspin(api.DEFAULT_VIDEO_CFG, "video_cfg", TIPS["video_cfg"])
        self.audio_cfg = self._dspin(api.DEFAULT_AUDIO_CFG, "audio_cfg", TIPS["audio_cfg"])
        self.identity_scale = self._dspin(
            api.DEFAULT_IDENTITY_SCALE, "identity_scale", TIPS["identity"]
        )
        self.stg_scale = self._dspin(api.DEFAULT_STG_SCALE, "stg_scale", TIPS["stg"], 0.25)
        self.stg_block = QSpinBox()
        bound(self.stg_block, "stg_block", TIPS["stg_block"])
        self.stg_block.setValue(api.DEFAULT_STG_BLOCK)
        self.stg_block.valueChanged.connect(self.changed)
        self.modality_scale = self._dspin(
            api.DEFAULT_MODALITY_SCALE, "modality_scale", TIPS["modality"]
        )
        self.lora_strength = self._dspin(1.0, "lora_strength", TIPS["lora"], 0.05)
        self.cfg_star = QCheckBox("CFG-star")
        self.cfg_star.setToolTip(TIPS["cfg_star"])
        self.cfg_star.toggled.connect(self.changed)
        self.identity_start = self._dspin(0.0, "identity_start", TIPS["identity_window"], 0.05)
        self.identity_end = self._dspin(1.0, "identity_end", TIPS["identity_window"], 0.05)
        window_row = QHBoxLayout()
        window_row.addWidget(self.identity_start)
        window_row.addWidget(QLabel("to"))
        window_row.addWidget(self.identity_end)
        window_row.addStretch(1)
        stg_row = QHBoxLayout()
        stg_row.addWidget(self.stg_scale)
        stg_row.addWidget(QLabel("block"))
        stg_row.addWidget(self.stg_block)
        stg_row.addStretch(1)
        lay.addRow("Steps", self.steps_spin)
        lay.addRow("Video CFG", self.video_cfg)
        lay.addRow("Audio CFG", self.audio_cfg)
        lay.addRow("", self.cfg_star)
        lay.addRow("Identity", self.identity_scale)
        lay.addRow("Identity window", window_row)
        lay.addRow("STG", stg_row)
        lay.addRow("Modality", self.modality_scale)
        lay.addRow("LoRA strength", self.lora_strength)
        self.reset_button = QPushButton("Preset defaults")
        self.reset_button.setToolTip("The chosen preset's public defaults")
        self.reset_button.clicked.connect(self.reset)
        lay.addRow("", self.reset_button)
        self.button.toggled.connect(self.changed)

    def _fields(self) -> dict[str, QSpinBox | QDoubleSpinBox]:
        return {
            "steps": self.steps_spin,
            "video_cfg": self.video_cfg,
            "audio_cfg": self.audio_cfg,
            "identity_scale": self.identity_scale,
            "stg_scale": self.stg_scale,
            "stg_block": self.stg_block,
            "modality_scale": self.modality_scale,
            "lora_strength": self.lora_strength,
            "identity_start": self.identity_start,
            "identity_end": self.identity_end,
        }

    def form_state(self) -> dict[str, Any]:
        return {
            "open": self.expanded,
            "cfg_star": self.cfg_star.isChecked(),
            **{k: w.value() for k, w in self._fields().items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Set the saved values (after the preset was chosen: choosing one fills its
        defaults). A fixed-step preset keeps its own step count."""
        for key, widget in self._fields().items():
            if widget.isEnabled() or key != "steps":
                set_number(widget, state.get(key))
        if isinstance(state.get("cfg_star"), bool):
            self.cfg_star.setChecked(state["cfg_star"])
        if isinstance(state.get("open"), bool):
            self.set_expanded(state["open"])

    def _dspin(self, value: float, name: str, tip: str, step: float = 0.5) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        bound(spin, name, tip)
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.valueChanged.connect(self.changed)
        return spin

    def reset(self) -> None:
        """The current preset's public defaults (one-stage: the reference's)."""
        preset = PRESETS[self._preset]
        fixed = preset.stages[0].fixed_steps
        if fixed is not None:
            self.steps_spin.setValue(fixed)
        elif self._preset == DEFAULT_PIPELINE:
            self.steps_spin.setValue(self._default_steps)
        else:
            self.steps_spin.setValue(preset.steps)
        self.steps_spin.setEnabled(fixed is None)
        self.steps_spin.setToolTip(
            bound_tip("steps", TIPS["steps"])
            if fixed is None
            else f"The {preset.title} preset's distilled schedule has {fixed} steps."
        )
        self.video_cfg.setValue(preset.video_cfg)
        self.audio_cfg.setValue(preset.audio_cfg)
        self.cfg_star.setChecked(preset.cfg_star)
        self.identity_scale.setValue(preset.identity)
        self.identity_start.setValue(0.0)
        self.identity_end.setValue(1.0)
        self.stg_scale.setValue(preset.stg)
        self.stg_block.setValue(preset.stg_block)
        self.modality_scale.setValue(preset.modality)
        self.lora_strength.setValue(1.0)

    def apply_preset(self, name: str) -> None:
        """Fill every field with preset ``name``'s public defaults."""
        self._preset = name if name in PRESETS else DEFAULT_PIPELINE
        self.reset()

    def identity_window(self) -> tuple[float, float]:
        return self.identity_start.value(), self.identity_end.value()
