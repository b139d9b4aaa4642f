"""The advanced section: denoising steps, the five guidance scales, STG block, LoRA strength.

Each field carries a short tooltip (:data:`TIPS`) saying what it does and the reference value.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
)

from engine import api
from idlora_studio.ui.generate.common import Collapsible

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


class AdvancedSettings(Collapsible):
    """Collapsed by default; ``changed`` on any edit; :meth:`reset` restores the reference."""

    changed = Signal()

    def __init__(self, default_steps: int = api.DEFAULT_STEPS) -> None:
        body = QGroupBox()
        super().__init__("Advanced: guidance scales", body)
        self._default_steps = default_steps
        lay = QFormLayout(body)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 200)
        self.steps_spin.setValue(default_steps)
        self.steps_spin.setToolTip(TIPS["steps"])
        self.steps_spin.valueChanged.connect(self.changed)
        self.video_cfg = self._dspin(api.DEFAULT_VIDEO_CFG, 1.0, 20.0, TIPS["video_cfg"])
        self.audio_cfg = self._dspin(api.DEFAULT_AUDIO_CFG, 1.0, 20.0, TIPS["audio_cfg"])
        self.identity_scale = self._dspin(api.DEFAULT_IDENTITY_SCALE, 0.0, 20.0, TIPS["identity"])
        self.stg_scale = self._dspin(api.DEFAULT_STG_SCALE, 0.0, 10.0, TIPS["stg"], 0.25)
        self.stg_block = QSpinBox()
        self.stg_block.setRange(0, 63)
        self.stg_block.setValue(api.DEFAULT_STG_BLOCK)
        self.stg_block.setToolTip(TIPS["stg_block"])
        self.stg_block.valueChanged.connect(self.changed)
        self.modality_scale = self._dspin(api.DEFAULT_MODALITY_SCALE, 1.0, 20.0, TIPS["modality"])
        self.lora_strength = self._dspin(1.0, 0.0, 2.0, TIPS["lora"], 0.05)
        stg_row = QHBoxLayout()
        stg_row.addWidget(self.stg_scale)
        stg_row.addWidget(QLabel("block"))
        stg_row.addWidget(self.stg_block)
        stg_row.addStretch(1)
        lay.addRow("Steps", self.steps_spin)
        lay.addRow("Video CFG", self.video_cfg)
        lay.addRow("Audio CFG", self.audio_cfg)
        lay.addRow("Identity", self.identity_scale)
        lay.addRow("STG", stg_row)
        lay.addRow("Modality", self.modality_scale)
        lay.addRow("LoRA strength", self.lora_strength)
        reset = QPushButton("Reference defaults")
        reset.clicked.connect(self.reset)
        lay.addRow("", reset)

    def _dspin(
        self, value: float, lo: float, hi: float, tip: str, step: float = 0.5
    ) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(2)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self.changed)
        return spin

    def reset(self) -> None:
        self.steps_spin.setValue(self._default_steps)
        self.video_cfg.setValue(api.DEFAULT_VIDEO_CFG)
        self.audio_cfg.setValue(api.DEFAULT_AUDIO_CFG)
        self.identity_scale.setValue(api.DEFAULT_IDENTITY_SCALE)
        self.stg_scale.setValue(api.DEFAULT_STG_SCALE)
        self.stg_block.setValue(api.DEFAULT_STG_BLOCK)
        self.modality_scale.setValue(api.DEFAULT_MODALITY_SCALE)
        self.lora_strength.setValue(1.0)
