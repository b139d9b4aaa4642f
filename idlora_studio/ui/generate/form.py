"""The Generate form (left column): sections in a scroll area, the reason the takes cannot be
queued yet, and the Queue button.

The form turns its sections into one :class:`~engine.api.GenerationRequest` per take and a
:class:`~idlora_studio.library.jobs_repo.JobSpec`, and hands them to the job queue
(``queue.enqueue``). Every problem is computed while the user types with the engine's own
rules; the first one disables Queue and is said next to it.

Changes that replace many fields at once (a preset's defaults, "Use these settings", the test
model's small size, resets) are commands on :attr:`GenerateForm.undo_stack`
(``state/form_undo.py``); typing is undone by the field itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine import api
from engine.api import GenerationRequest, InvalidRequestError
from engine.models import registry
from engine.pipeline.presets import PRESETS
from idlora_studio.library.jobs_repo import JobSpec
from idlora_studio.state.form_undo import FormChangeCommand, form_diff
from idlora_studio.ui.generate.advanced_settings import AdvancedSettings
from idlora_studio.ui.generate.identity_picker import IdentityPicker
from idlora_studio.ui.generate.model_settings import ModelSettings
from idlora_studio.ui.generate.output_settings import SEED_MAX, OutputSettings
from idlora_studio.ui.generate.prompt_fields import PromptFields
from idlora_studio.ui.model_manager import LocalSources
from idlora_studio.ui.thumbnails import ThumbnailCache
from idlora_studio.workers.tasks import TaskRunner

FORM_VERSION = 1
#: What the Generate page proposes with the built-in test model: (width, height, frames, steps).
TEST_MODEL_SIZE = (128, 128, 25, 8)


def job_form_state(job: Any) -> dict[str, Any]:
    """A job's (or a take's: same fields) settings as a (partial) saved form: what "Use these
    settings" restores."""
    req = job.request
    output: dict[str, Any] = {"seed": req.seed, "random_seed": False, "takes": 1}
    if req.width and req.height:
        output.update(size_mode="custom", width=req.width, height=req.height)
    else:
        output.update(size_mode="auto", long_side=req.auto_long_side)
    if req.num_frames:
        output.update(length_mode="frames", frames=req.num_frames)
    elif req.duration_s:
        output.update(length_mode="duration", duration_s=req.duration_s)
    return {
        "identity": {
            "identity_id": job.identity_id,
            "image_id": job.image_id,
            "clip_id": job.clip_id,
        },
        "prompt": {
            "visual": req.parts.visual,
            "speech": req.parts.speech,
            "sounds": req.parts.sounds,
            "negative": req.negative_prompt,
        },
        "model": {
            "preset": req.pipeline,
            "model_set": job.model_set,
            "memory_profile": job.memory_profile,
        },
        "output": output,
        "advanced": {
            "steps": req.steps,
            "video_cfg": req.video_cfg,
            "audio_cfg": req.audio_cfg,
            "identity_scale": req.identity_scale,
            "stg_scale": req.stg_scale,
            "stg_block": req.stg_block,
            "modality_scale": req.modality_scale,
            "lora_strength": req.lora_strength,
            "cfg_star": req.cfg_star,
            "identity_start": req.identity_start,
            "identity_end": req.identity_end,
        },
    }


class GenerateForm(QWidget):
    """Identity, prompt, model, output and advanced sections; Queue. See the module docstring.

    Sections: ``identity`` (:class:`IdentityPicker`), ``prompt`` (:class:`PromptFields`),
    ``model`` (:class:`ModelSettings`), ``output`` (:class:`OutputSettings`), ``advanced``
    (:class:`AdvancedSettings`)."""

    requests_queued = Signal(int)  # number of takes handed to the queue
    edited = Signal()  # the user changed the form (not a restore): time to save it

    def __init__(
        self,
        state: Any,
        queue: Any,
        thumbnails: ThumbnailCache,
        paths: Any,
        settings_value: Callable[[str, Any], Any],
        runner: TaskRunner,
        *,
        gpu_probe: Callable[[], Any] | None = None,
        local_sources: LocalSources | None = None,
        model_sets: dict[str, registry.ModelSet] | None = None,
    ) -> None:
        super().__init__()
        self.queue = queue
        self._problems: dict[str, str] = {}
        self._building = True
        self._restoring = False

        self.identity = IdentityPicker(state, thumbnails)
        self.prompt = PromptFields()
        self.model = ModelSettings(
            paths,
            settings_value,
            runner,
            gpu_probe=gpu_probe,
            local_sources=local_sources,
            model_sets=model_sets,
        )
        self.output = OutputSettings(bool(settings_value("default_seed_random", True)))
        self.advanced = AdvancedSettings(int(settings_value("default_steps", api.DEFAULT_STEPS)))

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setMinimumWidth(420)
        body = QWidget()
        body.setObjectName("editorBody")
        lay = QVBoxLayout(body)
        lay.setContentsMargins(16, 12, 16, 16)
        lay.setSpacing(10)
        title = QLabel("Generate")
        title.setObjectName("panelTitle")
        lay.addWidget(title)
        lay.addWidget(self.identity)
        lay.addWidget(self.prompt)
        lay.addWidget(self.model)
        lay.addWidget(self._build_test_model_hint())
        lay.addWidget(self.output)
        lay.addWidget(self.advanced)
        # a preset fills the advanced fields with its defaults before the form reacts
        self.model.preset_changed.connect(self.advanced.apply_preset)
        self.model.preset_changed.connect(self._preset_chosen)
        self.advanced.reset_button.clicked.connect(lambda: self.record("Preset defaults"))
        self.prompt.negative_reset_button.clicked.connect(
            lambda: self.record("Reset the negative prompt")
        )
        for section in self._sections().values():
            section.changed.connect(self._section_changed)
        lay.addStretch(1)
        self.scroll.setWidget(body)

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

        wl = QVBoxLayout(self)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.setSpacing(0)
        wl.addWidget(self.scroll, 1)
        wl.addLayout(bottom)
        self.undo_stack = QUndoStack(self)
        self._building = False
        self._defaults = self.form_state()
        self._snapshot = self._defaults  # the form as the last event left it (undo's "before")
        self._snapshot_due = False

    def _sections(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "prompt": self.prompt,
            "model": self.model,
            "output": self.output,
            "advanced": self.advanced,
        }

    def _section_changed(self) -> None:
        self.update_all()
        if self._building:
            return
        if not self._snapshot_due:
            # Taken once this event is handled: a change that fills many fields (a preset)
            # still finds the form as it was before it in the snapshot.
            self._snapshot_due = True
            QTimer.singleShot(0, self, self._take_snapshot)  # dropped with the form
        if not self._restoring:
            self.edited.emit()

    # ------------------------------------------------------------------ undo
    def _take_snapshot(self) -> None:
        self._snapshot_due = False
        self._snapshot = self.form_state()

    def record(self, text: str) -> None:
        """Make what changed since the last event one undoable step named ``text``."""
        old, new = form_diff(self._snapshot, self.form_state())
        if new:
            self.undo_stack.push(FormChangeCommand(text, old, new, self._apply_change))
        self._snapshot = self.form_state()

    def _apply_change(self, values: dict[str, dict[str, Any]]) -> None:
        # Every field is set (the current value where ``values`` has none): choosing a preset
        # back would otherwise refill the scales typed since with its defaults.
        now = self.form_state()
        self.restore({k: {**v, **values.get(k, {})} for k, v in now.items() if isinstance(v, dict)})
        self._snapshot = self.form_state()
        self.edited.emit()

    def _preset_chosen(self, name: str) -> None:
        if not self._building and not self._restoring:
            self.record(f"Preset: {PRESETS[name].title}" if name in PRESETS else "Preset")

    def show_saved(self, state: dict[str, Any]) -> None:
        """Show a project's saved form: a new start, nothing to undo."""
        self.restore(state)
        self.undo_stack.clear()
        self._snapshot = self.form_state()

    # ------------------------------------------------------------------ the test model
    def _build_test_model_hint(self) -> QWidget:
        self.test_model_hint = QFrame()
        self.test_model_hint.setObjectName("hintBox")
        lay = QVBoxLayout(self.test_model_hint)
        lay.setContentsMargins(10, 8, 10, 8)
        self.test_model_text = QLabel()
        self.test_model_text.setObjectName("dimLabel")
        self.test_model_text.setWordWrap(True)
        w, h, frames, steps = TEST_MODEL_SIZE
        self.test_model_button = QPushButton(f"Use {w}×{h}, {frames} frames, {steps} steps")
        self.test_model_button.clicked.connect(self.use_test_model_size)
        lay.addWidget(self.test_model_text)
        lay.addWidget(self.test_model_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.test_model_hint.hide()
        return self.test_model_hint

    def use_test_model_size(self) -> None:
        """The small take the built-in test model is proposed with (see ``TEST_MODEL_SIZE``)."""
        w, h, frames, steps = TEST_MODEL_SIZE
        self.restore(
            {
                "output": {
                    "size_mode": "custom",
                    "width": w,
                    "height": h,
                    "length_mode": "frames",
                    "frames": frames,
                },
                "advanced": {"steps": steps},
            }
        )
        self.record(f"Use {w}×{h}, {frames} frames, {steps} steps")
        self.edited.emit()

    def _update_test_model_hint(self, size: tuple[int, int] | None, frames: int) -> None:
        w, h, small_frames, small_steps = TEST_MODEL_SIZE
        steps = self.advanced.steps_spin.value()
        big = size is None or size[0] * size[1] > w * h or frames > small_frames
        if not self.model.is_test_model() or not (big or steps > small_steps):
            self.test_model_hint.hide()
            return
        now = f"{size[0]}×{size[1]}" if size else "this size"
        why = (
            "The built-in test model only proves that generation runs: its pictures and sound "
            "are noise at any size. "
        )
        small = f"a {w}×{h}, {small_frames}-frame, {small_steps}-step take"
        if self.model.has_gpu():
            self.test_model_text.setText(why + f"{small[0].upper()}{small[1:]} shows as much.")
        else:
            self.test_model_text.setText(
                why + f"Without a GPU a take at {now}, {frames} frames and {steps} steps "
                f"takes minutes; {small} shows the same in seconds."
            )
        self.test_model_hint.show()

    # ------------------------------------------------------------------ saved form
    def form_state(self) -> dict[str, Any]:
        """Everything the form shows, as JSON-ready values (saved per project)."""
        return {
            "version": FORM_VERSION,
            **{key: section.form_state() for key, section in self._sections().items()},
        }

    def typed_since_start(self) -> bool:
        """True if the form differs from how it was built (the model set aside: it is chosen
        by itself once the install status is known)."""
        now, start = self.form_state(), self._defaults
        return any(now[key] != start[key] for key in self._sections() if key != "model") or {
            k: v for k, v in now["model"].items() if k != "model_set"
        } != {k: v for k, v in start["model"].items() if k != "model_set"}

    def restore(self, state: dict[str, Any]) -> None:
        """Show a saved form (parts of one are fine: missing values keep the field as it is);
        an empty one brings the defaults back."""
        if not state:
            state = self._defaults
        self._restoring = True
        try:
            for key, section in self._sections().items():
                part = state.get(key)
                if isinstance(part, dict):
                    section.restore(part)
        finally:
            self._restoring = False
        self.update_all()

    def apply_job(self, job: Any) -> None:
        """Set the form to a job's (or a take's) settings: identity, prompt, model, size,
        seed, scales."""
        self.restore(job_form_state(job))
        self.record("Use these settings")
        self.edited.emit()

    # ------------------------------------------------------------------ computing
    def effective_size(self) -> tuple[int, int, list[str]] | None:
        """(width, height, notes) the engine will use, or None without an image."""
        return self.output.effective_size(self.identity.selected_image())

    def effective_frames(self) -> tuple[int, list[str]]:
        return self.output.effective_frames()

    def problems(self) -> dict[str, str]:
        """Why the form cannot be queued, by field (empty: ready), in the form's order."""
        read_only = getattr(getattr(self.queue, "jobs_repo", None), "read_only", None)
        library = (
            {"library": f"the library is open read-only ({read_only}): takes cannot be stored"}
            if isinstance(read_only, str) and read_only
            else {}
        )
        out = {
            **library,
            **self.identity.problems(),
            **self.prompt.problems(),
            **self.model.problems(),
            **self.output.problems(self.identity.selected_image()),
        }
        start, end = self.advanced.identity_window()
        if not start < end:
            out["identity_window"] = (
                f"The identity window must start before it ends (now {start:.2f} to {end:.2f})."
            )
        return out

    def update_all(self) -> None:
        """Recompute every derived text and problem, and enable Queue when there are none."""
        if self._building:
            return
        self._problems = self.problems()
        self.identity.show_problems(self._problems)
        self.prompt.refresh(self._problems)
        self.model.show_problems(self._problems)
        upscale = PRESETS[self.model.preset()].upscale
        self.output.refresh(
            self.identity.selected_image(), self._problems, self.first_frame_fit(), upscale
        )
        try:
            size = self.effective_size()
            frames, _ = self.effective_frames()
        except InvalidRequestError:
            size, frames = None, api.DEFAULT_FRAMES
        self.model.update_profile_texts((size[0], size[1]) if size else None, frames)
        self._update_test_model_hint((size[0], size[1]) if size else None, frames)
        self.identity.show_warnings()
        n = self.output.takes()
        self.queue_button.setText(f"Queue {n} take{'s' if n != 1 else ''}")
        reason = next(iter(self._problems.values()), "")
        self.queue_button.setEnabled(not reason)
        self.queue_button.setToolTip(reason or "Add the takes to the queue")
        self.reason_label.setText(f"Cannot queue yet: {reason}" if reason else "")

    def first_frame_fit(self) -> str:
        """How the chosen model and pipeline fit the reference image (LTX-2 one-stage
        stretches, every other pipeline centre-crops, as the public scripts do)."""
        from engine.media.first_frame import first_frame_fit

        return first_frame_fit(self.model.variant(), self.model.preset()).value

    # ------------------------------------------------------------------ queueing
    def build_requests(self, seed: int | None = None) -> list[GenerationRequest]:
        """One request per take (seeds ``seed``, ``seed``+1, ...); raises on a problem."""
        problems = self.problems()
        if problems:
            raise InvalidRequestError(next(iter(problems.values())))
        image, clip = self.identity.selected_image(), self.identity.selected_clip()
        base = self.output.size_request()
        # The size the engine will use, decided now from the chosen image: the queue and the
        # recipe then say what the take will be (auto size included).
        size = self.effective_size()
        assert size is not None  # no problems: an image is chosen
        adv = self.advanced
        start = self.output.seed_spin.value() if seed is None else seed
        return [
            GenerationRequest(
                parts=self.prompt.parts(),
                negative_prompt=self.prompt.negative_prompt(),
                image=Path(str(image.path)),
                voice=Path(str(clip.path)),
                voice_window=tuple(clip.best_window),
                width=size[0],
                height=size[1],
                num_frames=base.num_frames,
                duration_s=base.duration_s,
                pipeline=self.model.preset(),
                steps=adv.steps_spin.value(),
                seed=min(start + i, SEED_MAX),
                video_cfg=adv.video_cfg.value(),
                audio_cfg=adv.audio_cfg.value(),
                identity_scale=adv.identity_scale.value(),
                stg_scale=adv.stg_scale.value(),
                stg_block=adv.stg_block.value(),
                modality_scale=adv.modality_scale.value(),
                lora_strength=adv.lora_strength.value(),
                cfg_star=adv.cfg_star.isChecked(),
                identity_start=adv.identity_window()[0],
                identity_end=adv.identity_window()[1],
                auto_long_side=base.auto_long_side,
            )
            for i in range(self.output.takes())
        ]

    def job_spec(self) -> JobSpec:
        image, clip = self.identity.selected_image(), self.identity.selected_clip()
        model_set, lora = self.model.model_and_lora()
        return JobSpec(
            model_set=model_set,
            lora_path=lora,
            lora_strength=self.advanced.lora_strength.value(),
            memory_profile=self.model.memory_profile(),
            identity_id=self.identity.identity_id,
            image_id=image.id if image is not None else None,
            clip_id=clip.id if clip is not None else None,
        )

    def queue_takes(self) -> int:
        """Hand the form's takes to the queue; returns how many (0 when something is wrong)."""
        self.update_all()
        if self._problems:
            return 0
        self.output.draw_random_seed()
        requests = self.build_requests()
        self.queue.enqueue(requests, self.job_spec())
        self.requests_queued.emit(len(requests))
        return len(requests)
