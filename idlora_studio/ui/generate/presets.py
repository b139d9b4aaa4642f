"""Sampling presets offered on the Generate page (the combo and what each one is).

A preset names how a take is sampled (one stage, two stages with upsampling, the LTX-2.3 HQ
sampler). Add one by adding a :class:`Preset` to :data:`PRESETS`; ``available`` False lists it
disabled with ``note`` as its tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox

NOT_AVAILABLE = "not available yet"


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    available: bool = True
    note: str = ""


PRESETS: tuple[Preset, ...] = (
    Preset("fast", "Fast — one-stage"),
    Preset("two_stage", "Two-stage (upsampled)", False, NOT_AVAILABLE),
    Preset("hq", "HQ (LTX-2.3)", False, NOT_AVAILABLE),
)


class PresetCombo(QComboBox):
    """The preset picker: unavailable presets are listed, disabled, with the reason."""

    def __init__(self, presets: tuple[Preset, ...] = PRESETS) -> None:
        super().__init__()
        model = QStandardItemModel(self)
        self.setModel(model)
        for p in presets:
            self.addItem(p.title, p.key)
            item = model.item(self.count() - 1)
            item.setEnabled(p.available)
            item.setToolTip(p.note)
        self.setCurrentIndex(0)

    def preset(self) -> str:
        return str(self.currentData() or PRESETS[0].key)

    def set_preset(self, key: str) -> bool:
        """Choose ``key`` if it is listed and available; True if chosen."""
        index = self.findData(key)
        model = self.model()
        if index < 0 or not model.item(index).isEnabled():  # type: ignore[attr-defined]
            return False
        self.setCurrentIndex(index)
        return True
