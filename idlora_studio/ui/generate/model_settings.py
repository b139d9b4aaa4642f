"""How a take runs: the preset (pipeline), the model set (and whether it is installed, and
which pipelines it can run) and the memory profile (with its VRAM estimate for the effective
size and what the GPU has free).

Model-set status, the parts each set has (upsampler, distilled LoRA) and the GPU probe (which
imports torch) run on a :class:`~idlora_studio.workers.tasks.TaskRunner`; the GPU is probed
only when the page is first shown, so opening the Studio does not import torch. A set pointed
at files on disk -- a diffusers folder or a single-file checkpoint with its base -- is queued
by its id like a downloaded one; the worker resolves it (``engine.models.local_sources``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QPushButton

from engine.memory import PROFILE_ORDER, PROFILES, choose_profile, expected_vram_gib
from engine.models import registry
from engine.models.local_sources import LocalSources, set_pipelines
from engine.pipeline.presets import PRESETS
from idlora_studio.ui.generate.common import dim, problem_label, set_choice, show_problem, stack
from idlora_studio.ui.generate.presets import PresetCombo, preset_summary
from idlora_studio.workers.tasks import TaskRunner

_STATE_TEXT = {
    "missing": "not installed",
    "partial": "partly downloaded",
    "present": "installed",
    "verified": "installed, verified",
}


def _narrow_combo() -> QComboBox:
    """A combo whose width does not follow its longest item (set names, VRAM notes): long
    items must not widen the form past half a laptop screen; the popup shows them in full."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(18)
    return combo


class ModelSettings(QGroupBox):
    """Preset, model set and memory profile. ``changed`` on any choice or status change."""

    changed = Signal()
    models_requested = Signal()  # the user wants the model manager
    preset_changed = Signal(str)  # the pipeline chosen (the form applies its defaults)

    def __init__(
        self,
        paths: Any,
        settings_value: Callable[[str, Any], Any],
        runner: TaskRunner,
        *,
        gpu_probe: Callable[[], Any] | None = None,
        local_sources: LocalSources | None = None,
        model_sets: dict[str, registry.ModelSet] | None = None,
    ) -> None:
        super().__init__("Model")
        self.paths = paths
        self._setting = settings_value
        self._runner = runner
        self._gpu_probe = gpu_probe
        self._local = local_sources or LocalSources.load(paths.config_dir)
        self._sets = dict(model_sets if model_sets is not None else registry.MODEL_SETS)
        self._set_state: dict[str, str] = {}
        self._set_pipelines: dict[str, dict[str, list[str]]] = {}
        self._gpu: Any = None
        self._gpu_known = False
        self._gpu_started = False
        self._model_picked = False  # a model set was chosen (or restored): keep it

        lay = QFormLayout(self)
        lay.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.preset_combo = PresetCombo()
        self.preset_note = dim()
        self.preset_problem = problem_label()
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        lay.addRow("Preset", stack(self.preset_combo, self.preset_note, self.preset_problem))

        self.model_combo = _narrow_combo()
        self.model_combo.currentIndexChanged.connect(lambda *_: self._model_chosen())
        self.model_combo.activated.connect(self._user_chose_model)
        models_btn = QPushButton("Models…")
        models_btn.setToolTip("Download model sets or point the Studio at files on disk")
        models_btn.clicked.connect(self.models_requested)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(models_btn)
        self.model_problem = problem_label()
        lay.addRow("Model", stack(row, self.model_problem))

        self.profile_combo = _narrow_combo()
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
        self.profile_combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.profile_note = dim()
        lay.addRow("Memory", stack(self.profile_combo, self.profile_note))

        self._fill_model_sets()
        self._update_preset_texts()

    # ------------------------------------------------------------------ choices
    def preset(self) -> str:
        """The chosen pipeline: "one-stage", "two-stage", "hq" or "fast"."""
        return self.preset_combo.preset()

    def _preset_chosen(self) -> None:
        self._update_preset_texts()
        self.preset_changed.emit(self.preset())
        self.changed.emit()

    def _model_chosen(self) -> None:
        self._update_preset_texts()
        self.changed.emit()

    def pipelines(self) -> dict[str, list[str]]:
        """``{pipeline: [what the chosen set lacks]}`` (empty lists until the status is read)."""
        set_id = self.selected_model_set() or ""
        ms = self._sets.get(set_id)
        if set_id in self._set_pipelines:
            return self._set_pipelines[set_id]
        if ms is not None and ms.builtin:
            return set_pipelines(ms, self._models_dir())
        return {}

    def _update_preset_texts(self) -> None:
        missing = self.pipelines()
        self.preset_combo.set_missing(missing)
        preset = PRESETS[self.preset()]
        self.preset_note.setText(preset_summary(preset))
        self.preset_note.setToolTip(preset.description)

    def selected_model_set(self) -> str | None:
        return self.model_combo.currentData()

    def select_model_set(self, set_id: str) -> None:
        index = self.model_combo.findData(set_id)
        if index >= 0:
            self._model_picked = True
            self.model_combo.setCurrentIndex(index)

    def form_state(self) -> dict[str, Any]:
        return {
            "preset": self.preset_combo.preset(),
            "model_set": self.selected_model_set(),
            "memory_profile": self.memory_profile(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("preset"), str):
            self.preset_combo.set_preset(state["preset"])
        if isinstance(state.get("model_set"), str):
            self.select_model_set(state["model_set"])
        set_choice(self.profile_combo, state.get("memory_profile"))

    def _user_chose_model(self, _index: int) -> None:
        self._model_picked = True

    def memory_profile(self) -> str:
        return str(self.profile_combo.currentData() or "auto")

    def has_gpu(self) -> bool | None:
        """True/False once the GPU probe answered (a CUDA GPU or none); None before."""
        return (self._gpu is not None) if self._gpu_known else None

    def is_test_model(self) -> bool:
        """True when the built-in test model is chosen."""
        ms = self._sets.get(self.selected_model_set() or "")
        return ms is not None and ms.builtin

    def variant(self) -> str:
        ms = self._sets.get(self.selected_model_set() or "")
        return ms.variant if ms is not None else "ltx2"

    def model_and_lora(self) -> tuple[str, Path | str | None]:
        """What a job names as its model -- the set id, downloaded or pointed at files on disk
        alike (the worker resolves it) -- and the LoRA file to use (None: the set's own)."""
        return self.selected_model_set() or "tiny", None

    def problems(self) -> dict[str, str]:
        set_id = self.selected_model_set()
        if set_id is None:
            return {"model": "Choose a model set."}
        if not self._set_state and not self._sets[set_id].builtin:
            return {"model": "Checking which model sets are installed…"}
        if not self._installed(set_id):
            return {
                "model": f"“{self._sets[set_id].title}” is not installed: open Models… to "
                "download it or to use files already on disk."
            }
        lacks = self.pipelines().get(self.preset(), [])
        if lacks:
            title = PRESETS[self.preset()].title
            return {
                "preset": f"The {title} preset needs {' and '.join(lacks)}, which "
                f"“{self._sets[set_id].title}” does not have: open Models… to download it or "
                "point the set at the file, or choose another preset."
            }
        return {}

    def show_problems(self, problems: dict[str, str]) -> None:
        show_problem(self.model_problem, problems.get("model", ""))
        show_problem(self.preset_problem, problems.get("preset", ""))

    # ------------------------------------------------------------------ model sets
    def _models_dir(self) -> Path:
        custom = str(self._setting("models_dir", "") or "")
        return Path(custom) if custom else Path(self.paths.models_dir)

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

    @property
    def status_known(self) -> bool:
        """True once the model sets' install status has been read."""
        return bool(self._set_state)

    def refresh_models(self) -> None:
        """Re-read which model sets are on disk (on the runner) and update the combo."""
        self._local = LocalSources.load(self.paths.config_dir)
        sets = list(self._sets.values())
        models_dir = self._models_dir()

        local = self._local

        def work() -> tuple[dict[str, str], dict[str, dict[str, list[str]]]]:
            states = {ms.id: str(registry.status(ms, models_dir).state) for ms in sets}
            pipes = {ms.id: set_pipelines(ms, models_dir, local.get(ms.id)) for ms in sets}
            return states, pipes

        def done(result: tuple[dict[str, str], dict[str, dict[str, list[str]]]]) -> None:
            states, pipes = result
            first = not self._set_state
            self._set_state = states
            self._set_pipelines = pipes
            self._update_preset_texts()
            for i in range(self.model_combo.count()):
                self.model_combo.setItemText(
                    i, self._model_text(self._sets[self.model_combo.itemData(i)])
                )
            if first and not self._model_picked:
                self.model_combo.setCurrentIndex(self._default_model_index())
            self.changed.emit()

        self._runner.submit(work, done, lambda exc: None)

    # ------------------------------------------------------------------ GPU and profiles
    def probe_gpu(self) -> None:
        """Find the GPU and its free memory from the runner (in a process of its own)."""
        if self._gpu_started:
            return
        self._gpu_started = True
        probe = self._gpu_probe
        if probe is None:
            from idlora_studio.workers.worker_choice import gpu_info as probe

        def done(info: Any) -> None:
            self._gpu, self._gpu_known = info, True
            self.changed.emit()

        def failed(exc: BaseException) -> None:
            self._gpu, self._gpu_known = None, True
            self.changed.emit()

        self._runner.submit(probe, done, failed)

    def update_profile_texts(self, size: tuple[int, int] | None, frames: int) -> None:
        """VRAM estimates per profile for ``size`` x ``frames``; what Auto would choose."""
        ms = self._sets.get(self.selected_model_set() or "")
        w, h = size if size else (512, 512)
        variant = self.variant()
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
            if self._gpu is None:  # no profile applies: everything runs on the CPU
                auto = "Auto (→ CPU: no CUDA GPU)"
                note = "No CUDA GPU: generation runs on the CPU (slow)."
            else:
                chosen = choose_profile(self._gpu.free_bytes, variant, w, h, frames)
                auto = f"Auto (→ {PROFILES[chosen].title})"
                note = f"{self._gpu.name}: {self._gpu.free_bytes / 2**30:.1f} GiB free."
                need = expected_vram_gib(chosen, variant, w, h, frames)
                if not tiny and need + 1.0 > self._gpu.free_bytes / 2**30:
                    note += " Even the lightest profile may not fit at this size."
        self.profile_combo.setItemText(0, auto)
        sizing = f" VRAM estimates for {w}×{h}, {frames} frames." if not tiny else ""
        self.profile_note.setText((note + sizing).strip())
