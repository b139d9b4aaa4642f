"""The pipelines offered on the Generate page (the preset combo) and what each one is.

The four presets are the engine's (:data:`engine.pipeline.presets.PRESETS`: one-stage,
two-stage, HQ, fast) with their public defaults. Every preset stays selectable; one the chosen
model set cannot run is marked in the list, its tooltip and the form say what is missing (the
spatial upsampler, the distilled LoRA, an LTX-2.3 model) and Queue waits until it is there.
:func:`preset_summary` is the line shown under the combo.
"""

from __future__ import annotations

from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox

from engine.pipeline.presets import (
    DEFAULT_PIPELINE,
    NEEDS_DISTILLED,
    NEEDS_UPSAMPLER,
    PIPELINES,
    PRESETS,
    Preset,
)

#: Keys stored by earlier versions of the page -> today's pipeline names.
_OLD_KEYS = {"two_stage": "two-stage"}

_NEED_TEXT = {NEEDS_UPSAMPLER: "spatial upsampler", NEEDS_DISTILLED: "distilled LoRA"}
_SAMPLER = {"euler": "Euler", "res2s": "res2s"}


def preset_summary(preset: Preset) -> str:
    """One line: stages, steps, guidance defaults, LoRAs, and the files it needs."""
    first = preset.stages[0]
    steps = f"{first.fixed_steps or preset.steps} {_SAMPLER[first.sampler]} steps"
    if preset.video_cfg == 1.0 and preset.audio_cfg == 1.0:
        guidance = "no CFG"
    else:
        star = "-star" if preset.cfg_star else ""
        guidance = f"CFG{star} {preset.video_cfg:g}/{preset.audio_cfg:g}"
    guidance += f", identity {preset.identity:g}"
    guidance += f", STG {preset.stg:g} (block {preset.stg_block})" if preset.stg else ", STG off"
    if preset.modality != 1.0:
        guidance += f", modality {preset.modality:g}"
    text = f"{steps} · {guidance}"
    if first.distilled:
        text += f" · distilled LoRA {first.distilled:g}"
    for stage in preset.stages[1:]:
        text += (
            f" · then {stage.scale}x: {stage.fixed_steps} {_SAMPLER[stage.sampler]} steps, "
            f"distilled LoRA {stage.distilled:g}, no ID-LoRA"
        )
    if preset.needs:
        text += " · needs the " + " and the ".join(_NEED_TEXT[n] for n in preset.needs)
    return text


def preset_title(key: str, short: bool = False) -> str:
    """The title of the preset named ``key`` (a request's ``pipeline``); ``short``: without
    the part in brackets ("Two-stage")."""
    preset = PRESETS.get(_OLD_KEYS.get(key, key))
    title = preset.title if preset is not None else key
    return title.split(" (")[0] if short else title


def preset_upscale(key: str) -> int:
    """How many times the requested size the take of pipeline ``key`` is (1 if unknown)."""
    preset = PRESETS.get(_OLD_KEYS.get(key, key))
    return preset.upscale if preset is not None else 1


class PresetCombo(QComboBox):
    """The pipeline picker. :meth:`set_missing` marks what the model set cannot run."""

    def __init__(self) -> None:
        super().__init__()
        model = QStandardItemModel(self)
        self.setModel(model)
        self._missing: dict[str, list[str]] = {}
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(16)
        for name in PIPELINES:
            preset = PRESETS[name]
            self.addItem(preset.title, name)
            model.item(self.count() - 1).setToolTip(
                f"{preset.description}\n{preset_summary(preset)}"
            )
        self.setCurrentIndex(self.findData(DEFAULT_PIPELINE))

    def preset(self) -> str:
        return str(self.currentData() or DEFAULT_PIPELINE)

    def missing(self, name: str | None = None) -> list[str]:
        """What the chosen model set lacks for ``name`` (default: the current preset)."""
        return list(self._missing.get(name or self.preset(), []))

    def set_missing(self, missing: dict[str, list[str]]) -> None:
        """``{pipeline: [what is missing]}`` for the chosen model set: those with something
        missing say so in their text and tooltip."""
        self._missing = dict(missing)
        model = self.model()
        for i in range(self.count()):
            name = self.itemData(i)
            preset = PRESETS[name]
            lacks = self._missing.get(name, [])
            item = model.item(i)  # type: ignore[attr-defined]
            item.setText(preset.title + (" — files missing" if lacks else ""))
            tip = f"{preset.description}\n{preset_summary(preset)}"
            if lacks:
                tip += f"\nThis model set lacks {' and '.join(lacks)}."
            item.setToolTip(tip)

    def set_preset(self, key: str) -> bool:
        """Choose ``key`` (earlier versions' keys accepted) if listed; True if chosen."""
        index = self.findData(_OLD_KEYS.get(key, key))
        if index < 0:
            return False
        self.setCurrentIndex(index)
        return True
