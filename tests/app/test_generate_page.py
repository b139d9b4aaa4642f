"""The Generate page as a user meets it: its own identity choice, queue rows that name the take,
honest stages, "Cancelling…", a caption that follows the running job, a right-click menu per
row, the test model's small size, non-blocking warnings, the form kept per project, and
quitting with jobs (asked; resumed on the next start)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.api import Cancelled, GenerationRequest, ProgressInfo, PromptParts
from idlora_studio.library.jobs_repo import JobSpec
from idlora_studio.state.jobs import JobsTableModel
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)
from tests.app.studio_fixtures import studio  # noqa: F401 - fixture
from tests.app.test_generate_panel import (  # noqa: F401 - fixtures
    FakeQueue,
    _choose,
    _panel,
    flow,
    job_info,
    media,
)
from tests.media_fixtures import face_image, speech_wav

LONG = 180_000  # a wait, not a timing check: spawn + torch import + tiny model on a loaded CI core


def _progress_text(panel: Any, row: int = 0) -> str:
    model = panel.queue_view.jobs_model
    return model.data(model.index(row, JobsTableModel.PROGRESS))


def _menu_actions(menu: Any) -> dict[str, Any]:
    return {a.text(): a for a in menu.actions() if not a.isSeparator()}


# ----------------------------------------------------------------------------- scripted engines
class ScriptedGenerator:
    """Stands in for IDLoRAGenerator. Seed 1 reports a step with a preview and then fails;
    any other seed reports a stage and blocks until cancelled, then keeps running
    ``cancel_delay_s`` (a slow step) before it stops."""

    def __init__(self, cancel_delay_s: float = 0.0) -> None:
        self.cancel_delay_s = cancel_delay_s
        self.started = threading.Event()

    def factory(self, model: Any, lora: Any = None, **kw: Any) -> ScriptedGenerator:
        return self

    def generate(self, request: GenerationRequest, progress: Any = None, cancel: Any = None) -> Any:
        from engine.api import InvalidRequestError

        preview = np.full((8, 8, 3), 120, np.uint8)
        if request.seed == 1:
            progress(ProgressInfo(0, 4, 0.0, None, None, stage="denoise"))
            progress(ProgressInfo(1, 4, 0.1, 0.3, preview))
            raise InvalidRequestError("the scripted first job fails")
        progress(ProgressInfo(0, 4, 0.0, None, None, stage="encode_prompt"))
        self.started.set()
        while not cancel.cancelled:
            time.sleep(0.01)
        time.sleep(self.cancel_delay_s)
        raise Cancelled("cancelled")

    def model_info(self) -> dict[str, Any]:
        return {"memory_profile": "resident_bf16"}

    def close(self) -> None:
        pass


@pytest.fixture
def real_panel(qtbot, paths, settings, repos, make_queue, tmp_path):  # noqa: ANN001, F811
    """``make(factory=None)`` -> (panel, queue, identity id) on the real library and queue."""
    lib, _jobs, _takes = repos
    created = lib.create_identity_with_media(
        "Astronaut",
        [face_image(tmp_path / "face.png")],
        [speech_wav(tmp_path / "voice.wav")],
    )

    def make(factory: Any = None) -> tuple[Any, Any, int]:
        queue = make_queue(factory=factory)
        panel = _panel(qtbot, paths, settings, lib, queue)
        _choose(qtbot, panel, created.identity_id)
        panel.select_model_set("tiny")
        form = panel.form
        form.prompt.speech_edit.setPlainText("Hello from the tiny model.")
        form.output.size_mode.setCurrentIndex(form.output.size_mode.findData("custom"))
        form.output.width_spin.setValue(64)
        form.output.height_spin.setValue(64)
        form.output.length_mode.setCurrentIndex(form.output.length_mode.findData("frames"))
        form.output.frames_spin.setValue(9)
        form.advanced.steps_spin.setValue(2)
        form.output.random_seed.setChecked(False)
        return panel, queue, created.identity_id

    return make


# ----------------------------------------------------------------------------- identity
def test_library_search_does_not_change_the_generate_identity(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    from idlora_studio.app import build_main_window

    ids = {}
    for name in ("Anna Berg", "Zed Quist"):
        ids[name] = real_library.create_identity_with_media(
            name, [face_image(tmp_path / f"{name}.png")], [speech_wav(tmp_path / f"{name}.wav")]
        ).identity_id
    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(
        lambda: window.state.loaded and len(window.state.summaries) == 2, timeout=10_000
    )
    panel = window.generate_panel
    window.show_page("generate")
    panel.form.identity.identity_combo.setCurrentIndex(
        panel.form.identity.identity_combo.findData(ids["Zed Quist"])
    )
    qtbot.waitUntil(lambda: panel.form.identity.detail is not None, timeout=10_000)
    panel.form.prompt.speech_edit.setPlainText("Zed speaks.")
    # In the Library, the user clicks Anna and then types a search that only Anna matches.
    window.show_page("library")
    selected: list[int] = []
    window.library_panel.identity_selected.connect(selected.append)
    assert window.library_panel.select_identity(ids["Anna Berg"])
    qtbot.keyClicks(window.library_panel.search, "Anna")
    qtbot.wait(400)
    assert ids["Anna Berg"] in selected  # the Library's selection did follow the user
    assert panel.identity_id == ids["Zed Quist"]  # ...the next take's identity did not
    assert panel.form.identity.identity_combo.currentText() == "Zed Quist"
    assert panel.form.prompt.speech_edit.toPlainText() == "Zed speaks."
    window.shutdown()


def test_generate_with_this_person_from_a_library_card(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    """The card menu's "Generate with this person…" chooses that person in the Generate
    page's own picker and shows the page; what was typed stays."""
    ids = {}
    for name in ("Anna Berg", "Zed Quist"):
        ids[name] = real_library.create_identity_with_media(
            name, [face_image(tmp_path / f"{name}.png")], [speech_wav(tmp_path / f"{name}.wav")]
        ).identity_id
    window = _studio(qtbot, paths, settings, real_library)
    panel = window.generate_panel
    _choose(qtbot, panel, ids["Zed Quist"])
    panel.form.prompt.speech_edit.setPlainText("Hello there.")
    window.show_page("library")
    actions = _menu_actions(window.library_panel.context_menu(ids["Anna Berg"]))
    actions["Generate with this person…"].trigger()
    assert window.current_page_key() == "generate"
    assert panel.identity_id == ids["Anna Berg"]
    qtbot.waitUntil(
        lambda: (
            panel.form.identity.detail is not None
            and panel.form.identity.detail.id == ids["Anna Berg"]
        ),
        timeout=10_000,
    )
    assert panel.form.identity.identity_combo.currentText() == "Anna Berg"
    assert panel.form.prompt.speech_edit.toPlainText() == "Hello there."
    window.shutdown()


def test_takes_arriving_another_way_show_without_a_restart(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    """A take written by another writer (as a bundle import does, on its worker) reaches
    the takes strip through the library's change feed; no job of this queue finished."""
    from idlora_studio.library.jobs_repo import TakeFiles, TakesRepository
    from tests.app.timeline_helpers import FPS, SIZE, make_take_mp4

    ident = real_library.create_identity_with_media(
        "Maya", [face_image(tmp_path / "m.png")], [speech_wav(tmp_path / "m.wav")]
    ).identity_id
    window = _studio(qtbot, paths, settings, real_library)
    panel = window.generate_panel
    _choose(qtbot, panel, ident)
    qtbot.wait(300)
    assert panel.takes.take_ids() == []
    request = GenerationRequest(parts=PromptParts(speech="imported take"), seed=5, steps=2)
    recipe = {
        "request": request.to_dict(),
        "effective": {"seed": 5},
        "output": {"width": SIZE, "height": SIZE, "num_frames": 25, "fps": FPS},
    }
    mp4 = make_take_mp4(tmp_path / "imported.mp4", (200, 60, 60), 25, 220.0)
    take_id = threading_result(
        lambda: TakesRepository.from_library(real_library).add_take(
            TakeFiles(mp4), recipe, spec=JobSpec(identity_id=ident), label="Imported"
        )
    )
    qtbot.waitUntil(lambda: panel.takes.take_ids() == [take_id], timeout=10_000)
    # it has no thumbnail file: its tile still has a picture (blank), the text under it
    assert not panel.takes.takes_list.item(0).icon().isNull()
    window.shutdown()


def threading_result(fn: Any) -> Any:
    """``fn()`` run on a thread of its own (as a worker writes), its result returned."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_no_face_and_missing_consent_warn_without_blocking(flow, qtbot, fake_library) -> None:  # noqa: ANN001, F811
    from tests.app.fake_library import FakeConsent

    panel, _queue, rid, _ = flow
    rec = fake_library._records[rid]
    rec.images[0] = dataclasses.replace(rec.images[0], face_count=0)
    _choose(qtbot, panel, rid)
    panel.select_model_set("tiny")
    panel.form.prompt.speech_edit.setPlainText("Hello.")
    warning = panel.form.identity.warning_label
    assert warning.isVisible()
    assert "No face was found" in warning.text() and "no consent record for Anna" in warning.text()
    assert panel.form.queue_button.isEnabled()  # advice, not a refusal
    # With consent and one face the advice goes away.
    rec.images[0] = dataclasses.replace(rec.images[0], face_count=1)
    rec.consent = FakeConsent("Anna", dt.date(2026, 1, 5), "all channels")
    panel.state.notify_changed(rid)
    qtbot.waitUntil(lambda: not warning.isVisible(), timeout=5000)
    assert panel.form.queue_button.isEnabled()


# ----------------------------------------------------------------------------- the test model
def test_test_model_proposes_a_small_take_and_says_why(flow, qtbot) -> None:  # noqa: ANN001, F811
    panel, queue, rid, _ = flow
    form = panel.form
    _choose(qtbot, panel, rid)
    form.prompt.speech_edit.setPlainText("Hello.")
    panel.select_model_set("ltx2-celebvhq")
    assert not form.test_model_hint.isVisible()
    panel.select_model_set("tiny")
    assert form.test_model_hint.isVisible()
    text = form.test_model_text.text()
    assert "noise" in text and "512×288, 121 frames and 30 steps takes minutes" in text
    assert "Without a GPU" in text  # this panel's probe finds none
    # The proposal is a choice, not an overwrite: nothing changed until the button is used.
    assert form.effective_size()[:2] == (512, 288)
    qtbot.mouseClick(form.test_model_button, Qt.MouseButton.LeftButton)
    assert form.effective_size()[:2] == (128, 128)
    assert form.effective_frames()[0] == 25 and form.advanced.steps_spin.value() == 8
    assert not form.test_model_hint.isVisible()
    assert panel.queue_takes() == 1
    (request,), _spec = queue.enqueued[0][0], queue.enqueued[0][1]
    assert (request.width, request.height, request.num_frames, request.steps) == (128, 128, 25, 8)


# ----------------------------------------------------------------------------- queue rows
def test_queue_rows_name_identity_preset_seed_size_and_length(flow, qtbot) -> None:  # noqa: ANN001, F811
    panel, queue, rid, _ = flow
    _choose(qtbot, panel, rid)
    panel.select_model_set("tiny")
    panel.form.prompt.speech_edit.setPlainText("Welcome back to the show.")
    panel.form.output.random_seed.setChecked(False)
    panel.form.output.seed_spin.setValue(42)
    assert panel.queue_takes() == 1
    (request,) = queue.enqueued[0][0]
    # Auto size is decided when queueing, so the row (and the recipe) say what the take is.
    assert (request.width, request.height) == (512, 288) and request.pipeline == "one-stage"
    queue.add(job_info(1, "queued", request=request, identity_id=rid))
    title, details = panel.queue_view.row_texts(1)
    assert title == "Anna · Welcome back to the show."
    assert details == "seed 42 · 512×288 · 4.84 s · One-stage"
    qtbot.waitUntil(lambda: panel.queue_view.row_thumbnail(1) is not None, timeout=5000)
    assert panel.queue_view.jobs_view.rowHeight(0) >= 48  # two lines and the thumbnail fit
    # A two-stage take is twice the size asked of stage 1: the row names the take's size.
    two = dataclasses.replace(request, pipeline="two-stage", width=256, height=144)
    queue.add(job_info(2, "queued", request=two, identity_id=rid))
    assert panel.queue_view.row_texts(2)[1] == "seed 42 · 512×288 · 4.84 s · Two-stage"


def test_queue_row_menu_acts_on_that_job(flow, qtbot) -> None:  # noqa: ANN001, F811
    panel, queue, rid, _ = flow
    _choose(qtbot, panel, rid)
    detail = panel.form.identity.detail
    req = GenerationRequest(
        parts=PromptParts(visual="A quiet room.", speech="Use me again."),
        width=256,
        height=160,
        num_frames=33,
        steps=12,
        seed=77,
        video_cfg=4.5,
    )
    queue.add(
        job_info(
            1,
            "failed",
            request=req,
            identity_id=rid,
            image_id=detail.images[0].id,
            clip_id=detail.clips[0].id,
            error="The GPU ran out of memory.",
            error_kind="oom",
            suggested_profile="fp8_weights",
        )
    )
    queue.add(job_info(2, "queued"))
    queue.add(job_info(3, "queued"))
    failed = _menu_actions(panel.queue_view.row_menu(1))
    assert "Cancel" not in failed and not failed["Remove"].text().startswith("Cancel")
    failed["Retry with lighter profile (Weights in fp8)"].trigger()
    failed["Retry"].trigger()
    queued = _menu_actions(panel.queue_view.row_menu(3))
    assert not queued["Move down"].isEnabled() and queued["Move up"].isEnabled()
    queued["Move to the top"].trigger()
    queued["Cancel"].trigger()
    queued["Remove"].trigger()
    assert queue.calls == [
        ("retry", 1, True),
        ("retry", 1, False),
        ("move", 3, -2),
        ("cancel", 3),
        ("remove", 3),
    ]
    # "Use these settings" puts the job's recipe back into the form.
    failed["Use these settings"].trigger()
    form = panel.form
    assert form.prompt.speech_edit.toPlainText() == "Use me again."
    assert form.prompt.visual_edit.toPlainText() == "A quiet room."
    assert form.output.seed_spin.value() == 77 and not form.output.random_seed.isChecked()
    assert form.effective_size()[:2] == (256, 160) and form.effective_frames()[0] == 33
    assert form.advanced.steps_spin.value() == 12 and form.advanced.video_cfg.value() == 4.5
    # A right click on a row opens that row's menu (and selects the row).
    opened: list[Any] = []
    QTimer.singleShot(
        200, lambda: (opened.append(QApplication.activePopupWidget()), opened[-1].close())
    )
    view = panel.queue_view.jobs_view
    rect = view.visualRect(panel.queue_view.jobs_model.index(1, 0))
    view.customContextMenuRequested.emit(rect.center())
    assert opened and opened[0] is not None and panel.queue_view.selected_job() == 2


# ----------------------------------------------------------------------------- stages, caption
def test_stage_texts_appear_in_order(real_panel, qtbot) -> None:  # noqa: ANN001
    panel, queue, _ = real_panel()
    captions: list[str] = []
    rows: list[str] = []

    def seen(*_: Any) -> None:  # runs after the page's own slots (connected later)
        text = panel.preview.preview_caption.text()
        if not captions or captions[-1] != text:
            captions.append(text)
        rows.append(_progress_text(panel))

    for signal in (queue.job_started, queue.job_stage, queue.job_progress, queue.job_finished):
        signal.connect(seen)
    with qtbot.waitSignal(queue.job_finished, timeout=LONG) as finished:
        assert panel.queue_takes() == 1
    job_id, take_id = finished.args
    label = f"Job {job_id} · Astronaut · seed {panel.form.output.seed_spin.value()}"
    expected = [
        "starting…",
        "Loading the model…",
        "Reading the image and voice…",
        "Encoding the prompt…",
        "Preparing the latents…",
        "Denoising step 1 of 2",
        "Denoising step 2 of 2",
        "Decoding the video…",
        "Decoding the audio…",
        "Writing the take…",
        f"finished: take {take_id}",
    ]
    shown = [c.removeprefix(f"{label} — ").split(", about")[0] for c in captions]
    assert shown == expected, captions
    # The queue row says the same, never "Running 100%" while decoding and writing.
    assert rows[-1] == "Finished"
    for text in ("Decoding the video…", "Decoding the audio…", "Writing the take…"):
        assert text in rows
    assert "Denoising 2/2" in rows


def test_cancelling_is_shown_until_the_worker_confirms(real_panel, qtbot) -> None:  # noqa: ANN001
    engine = ScriptedGenerator(cancel_delay_s=1.0)
    panel, queue, _ = real_panel(engine.factory)
    panel.form.output.seed_spin.setValue(5)
    panel.queue_takes()
    qtbot.waitUntil(lambda: queue.running_job is not None and engine.started.is_set(), timeout=LONG)
    job_id = queue.running_job
    qtbot.waitUntil(lambda: "Encoding the prompt" in _progress_text(panel), timeout=10_000)
    panel.queue_view.select_job(job_id)
    qtbot.mouseClick(panel.queue_view.cancel_button, Qt.MouseButton.LeftButton)
    assert _progress_text(panel) == "Cancelling…"
    assert panel.preview.preview_caption.text().endswith("— Cancelling…")
    assert not panel.queue_view.cancel_button.isEnabled()
    assert _menu_actions(panel.queue_view.row_menu(job_id))["Cancelling…"].isEnabled() is False
    qtbot.wait(400)  # the engine is still finishing its step: still cancelling
    assert _progress_text(panel) == "Cancelling…"
    qtbot.waitUntil(lambda: _progress_text(panel) == "Cancelled", timeout=LONG)
    assert panel.preview.preview_caption.text().endswith("— cancelled")


def test_preview_caption_follows_the_running_job(real_panel, qtbot) -> None:  # noqa: ANN001
    engine = ScriptedGenerator()
    panel, queue, _ = real_panel(engine.factory)
    panel.form.output.seed_spin.setValue(1)  # seed 1 fails after a step, seed 2 then runs
    panel.form.output.takes_spin.setValue(2)
    panel.queue_takes()
    qtbot.waitUntil(lambda: engine.started.is_set(), timeout=LONG)
    second = queue.running_job
    qtbot.waitUntil(
        lambda: "Encoding the prompt" in panel.preview.preview_caption.text(), timeout=10_000
    )
    caption = panel.preview.preview_caption.text()
    assert caption.startswith(f"Job {second} · Astronaut · seed 2 — ")
    assert panel.preview.job_id == second
    assert panel.preview.preview_label.pixmap().isNull()  # not the failed job's picture
    queue.cancel(second)
    qtbot.waitUntil(lambda: queue.running_job is None, timeout=LONG)


# ----------------------------------------------------------------------------- per project
def _studio(qtbot, paths, settings, library) -> Any:  # noqa: ANN001
    from idlora_studio.app import build_main_window

    window = build_main_window(paths, settings, library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=10_000)
    timeline = window.timeline_panel.state
    qtbot.waitUntil(lambda: timeline.project_id is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.generate_panel.form_store.project_id is not None, timeout=5000)
    return window


def test_form_persists_per_project_and_across_restart(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    from idlora_studio.library.projects_repo import ProjectsRepository

    ident = real_library.create_identity_with_media(
        "Maya", [face_image(tmp_path / "m.png")], [speech_wav(tmp_path / "m.wav")]
    ).identity_id
    window = _studio(qtbot, paths, settings, real_library)
    panel, form = window.generate_panel, window.generate_panel.form
    first = window.timeline_panel.state.project_id
    form.identity.identity_combo.setCurrentIndex(form.identity.identity_combo.findData(ident))
    qtbot.waitUntil(lambda: form.identity.detail is not None, timeout=10_000)
    qtbot.keyClicks(form.prompt.speech_edit, "Welcome back.")
    qtbot.keyClicks(form.prompt.visual_edit, "A bright studio.")
    form.output.size_mode.setCurrentIndex(form.output.size_mode.findData("custom"))
    form.output.width_spin.setValue(320)
    form.output.random_seed.setChecked(False)
    form.output.seed_spin.setValue(1234)
    form.advanced.steps_spin.setValue(12)
    form.advanced.button.click()  # opened by the user
    projects = ProjectsRepository.from_library(real_library)
    qtbot.waitUntil(
        lambda: projects.generate_form(first).get("advanced", {}).get("steps") == 12,
        timeout=10_000,
    )  # saved as it changes, without a Save
    window.close()  # nothing queued: no question
    window.shutdown()

    window = _studio(qtbot, paths, settings, real_library)
    panel, form = window.generate_panel, window.generate_panel.form
    assert window.timeline_panel.state.project_id == first
    qtbot.waitUntil(
        lambda: form.prompt.speech_edit.toPlainText() == "Welcome back.", timeout=10_000
    )
    qtbot.waitUntil(lambda: form.identity.detail is not None, timeout=10_000)
    assert panel.identity_id == ident
    assert form.prompt.visual_edit.toPlainText() == "A bright studio."
    assert form.output.width_spin.value() == 320 and form.output.size_mode.currentData() == "custom"
    assert form.output.seed_spin.value() == 1234 and not form.output.random_seed.isChecked()
    assert form.advanced.steps_spin.value() == 12 and form.advanced.expanded

    # Another project has its own form (the defaults at first); switching back restores.
    second = projects.create("Second")
    window.timeline_panel.state.load(second)
    qtbot.waitUntil(lambda: form.prompt.speech_edit.toPlainText() == "", timeout=10_000)
    assert form.advanced.steps_spin.value() == 30 and form.output.random_seed.isChecked()
    qtbot.keyClicks(form.prompt.speech_edit, "Second project line.")
    window.timeline_panel.state.load(first)
    qtbot.waitUntil(
        lambda: form.prompt.speech_edit.toPlainText() == "Welcome back.", timeout=10_000
    )
    window.timeline_panel.state.load(second)
    qtbot.waitUntil(
        lambda: form.prompt.speech_edit.toPlainText() == "Second project line.", timeout=10_000
    )
    window.shutdown()
    assert projects.generate_form(second)["prompt"]["speech"] == "Second project line."


# ----------------------------------------------------------------------------- quitting
def _answer_quit(qtbot, button_text: str, seen: list[str]) -> None:  # noqa: ANN001
    """Click ``button_text`` in the quit question once it shows (recording its text)."""

    tries = [100]  # about 5 s, then give up (no question was asked)

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            tries[0] -= 1
            if tries[0] > 0:
                QTimer.singleShot(50, click)
            return
        seen.append(box.text())
        for b in box.buttons():
            if b.text() == button_text:
                b.click()
                return

    QTimer.singleShot(50, click)


def test_quitting_with_a_running_job_asks_and_the_job_resumes_after_restart(
    qtbot, paths, settings, real_library, tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    from idlora_studio.library.jobs_repo import JobsRepository, TakesRepository
    from idlora_studio.workers import generation_worker
    from tests.app.test_generation_worker import BlockingGenerator

    created = real_library.create_identity_with_media(
        "Astronaut", [face_image(tmp_path / "a.png")], [speech_wav(tmp_path / "a.wav")]
    )
    img, wav = (Path(str(p)) for p in _media_paths(real_library, created.identity_id))
    blocking = BlockingGenerator()
    monkeypatch.setattr(generation_worker.GenerationWorker, "DEFAULT_FACTORY", blocking.factory)
    window = _studio(qtbot, paths, settings, real_library)
    queue = window.generate_panel.queue
    requests = [tiny_request((img, wav), seed=s) for s in (3, 4)]
    added: list[int] = []
    queue.enqueue(
        requests, JobSpec(model_set="tiny", identity_id=created.identity_id), added.extend
    )
    qtbot.waitUntil(lambda: bool(added) and queue.running_job == added[0], timeout=LONG)
    running, waiting = added

    asked: list[str] = []
    _answer_quit(qtbot, "Keep working", asked)
    window.close()
    assert asked == ["A take is being generated and 1 more is waiting in the queue."]
    assert window.isVisible() and queue.running_job == running  # still working

    _answer_quit(qtbot, "Quit, resume next time", asked)
    window.close()
    assert len(asked) == 2 and not window.isVisible()
    jobs = JobsRepository.from_library(real_library)
    assert [jobs.get(i).state for i in added] == ["queued", "queued"]  # not "cancelled"
    _answer_quit(qtbot, "Quit, resume next time", asked)  # (if it asked, the test fails)
    window.close()  # closing again (as at teardown) does not ask again
    assert len(asked) == 2

    # Next start, with the real engine: the jobs are offered, and run once resumed.
    monkeypatch.undo()
    window = _studio(qtbot, paths, settings, real_library)
    queue, view = window.generate_panel.queue, window.generate_panel.queue_view
    window.show_page("generate")
    qtbot.waitUntil(lambda: view.resume_bar.isVisible(), timeout=10_000)
    assert "2 takes were waiting or running" in view.resume_label.text()
    assert queue.running_job is None
    finished: list[int] = []
    queue.job_finished.connect(lambda j, _t: finished.append(j))
    qtbot.mouseClick(view.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=LONG * 2)
    assert finished == [running, waiting] and not view.resume_bar.isVisible()
    takes = TakesRepository.from_library(real_library).list_takes(created.identity_id)
    assert sorted(t.job_id for t in takes) == sorted(added)
    window.shutdown()


@pytest.mark.studio_jobs(2)
def test_quitting_while_last_sessions_jobs_wait_to_be_resumed_does_not_ask(
    qtbot,  # noqa: ANN001
    studio,  # noqa: ANN001, F811
    monkeypatch,  # noqa: ANN001
) -> None:
    """Nothing runs while the queue waits for "Resume": quitting loses nothing (the jobs are
    offered again next time), so it does not ask. (Once resumed it asks:
    test_quitting_with_a_running_job_asks_and_the_job_resumes_after_restart.)"""
    from idlora_studio.library.jobs_repo import JobsRepository
    from idlora_studio.ui.generate import quit_guard

    window = studio.window
    queue = window.generate_panel.queue
    qtbot.waitUntil(lambda: queue.paused and len(queue.queued()) == 2, timeout=10_000)
    asked: list[tuple[bool, int]] = []

    def ask(_parent: Any, running: bool, queued: int) -> str:
        asked.append((running, queued))
        return quit_guard.STAY

    monkeypatch.setattr(quit_guard, "ask_about_jobs", ask)
    guard = quit_guard.QuitGuard(queue, window)
    assert guard.confirm() and asked == []
    window.close()
    assert not window.isVisible() and asked == []
    jobs = JobsRepository.from_library(studio.library)
    assert [j.state for j in jobs.list_jobs()] == ["queued", "queued"]  # offered next time


def _media_paths(library: Any, identity_id: int) -> tuple[Path, Path]:
    detail = library.get_identity(identity_id)
    return Path(detail.images[0].path), Path(detail.clips[0].path)


def test_edit_undo_takes_back_what_the_form_overwrote(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    """A preset's defaults, "Use these settings" and the test model's size replace many
    fields at once: Edit > Undo on the Generate page puts back what they replaced, and only
    that (fields typed since stay); the project keeps the undone form."""
    from idlora_studio.library.projects_repo import ProjectsRepository

    ident = real_library.create_identity_with_media(
        "Maya", [face_image(tmp_path / "m.png")], [speech_wav(tmp_path / "m.wav")]
    ).identity_id
    window = _studio(qtbot, paths, settings, real_library)
    panel, form = window.generate_panel, window.generate_panel.form
    adv, combo = form.advanced, form.model.preset_combo
    window.show_page("generate")
    _choose(qtbot, panel, ident)
    panel.select_model_set("tiny")
    form.prompt.speech_edit.setPlainText("Hello.")
    adv.steps_spin.setValue(20)
    adv.video_cfg.setValue(5.5)
    qtbot.wait(50)  # the user's next action comes in a later event
    assert window.undo_group.activeStack() is form.undo_stack
    assert not window.undo_action.isEnabled()  # typing is undone by the field itself

    combo.setCurrentIndex(combo.findData("fast"))  # the preset fills its defaults
    assert (adv.steps_spin.value(), adv.video_cfg.value()) == (8, 1.0)
    assert window.undo_action.isEnabled() and "Fast" in window.undo_action.text()
    qtbot.wait(50)
    form.prompt.speech_edit.setPlainText("Typed after the preset.")
    adv.identity_scale.setValue(4.5)
    qtbot.wait(50)
    window.undo_action.trigger()
    assert combo.preset() == "one-stage"
    assert (adv.steps_spin.value(), adv.video_cfg.value()) == (20, 5.5)
    assert adv.identity_scale.value() == 4.5  # changed since the preset: kept
    assert form.prompt.speech_edit.toPlainText() == "Typed after the preset."
    window.redo_action.trigger()
    assert combo.preset() == "fast" and adv.steps_spin.value() == 8
    assert adv.identity_scale.value() == 4.5
    window.undo_action.trigger()
    qtbot.wait(50)

    # "Use these settings" of a job: the prompt and scales it replaced come back in one step.
    request = GenerationRequest(
        parts=PromptParts(speech="The job's line."), seed=77, steps=12, video_cfg=2.0
    )
    form.apply_job(job_info(9, "finished", request=request, identity_id=ident))
    assert form.prompt.speech_edit.toPlainText() == "The job's line."
    assert form.output.seed_spin.value() == 77 and adv.steps_spin.value() == 12
    assert window.undo_action.text().endswith("Use these settings")
    window.undo_action.trigger()
    assert form.prompt.speech_edit.toPlainText() == "Typed after the preset."
    assert (adv.steps_spin.value(), adv.video_cfg.value()) == (20, 5.5)
    qtbot.wait(50)

    # The test model's small size.
    out = form.output
    width, frames = out.width_spin.value(), out.frames_spin.value()
    form.use_test_model_size()
    assert (out.width_spin.value(), adv.steps_spin.value()) == (128, 8)
    window.undo_action.trigger()
    assert (out.width_spin.value(), out.frames_spin.value()) == (width, frames)
    assert adv.steps_spin.value() == 20

    # What the project keeps is the form as undone.
    pid = window.timeline_panel.state.project_id
    repo = ProjectsRepository.from_library(real_library)
    qtbot.waitUntil(
        lambda: (
            repo.generate_form(pid).get("advanced", {}).get("steps") == 20
            and repo.generate_form(pid)["prompt"]["speech"] == "Typed after the preset."
        ),
        timeout=10_000,
    )
    window.shutdown()


def test_declining_to_resume_on_the_next_start(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001
    """Jobs kept at the last quit are offered on the page; "Don't resume" cancels them (each
    stays retryable from its row) and nothing runs."""
    from idlora_studio.library.jobs_repo import JobsRepository

    created = real_library.create_identity_with_media(
        "Astronaut", [face_image(tmp_path / "a.png")], [speech_wav(tmp_path / "a.wav")]
    )
    inputs = _media_paths(real_library, created.identity_id)
    jobs = JobsRepository.from_library(real_library)
    kept = jobs.enqueue(
        [tiny_request(inputs, seed=s) for s in (3, 4)],
        JobSpec(model_set="tiny", identity_id=created.identity_id),
    )
    window = _studio(qtbot, paths, settings, real_library)
    queue, view = window.generate_panel.queue, window.generate_panel.queue_view
    window.show_page("generate")
    qtbot.waitUntil(lambda: view.resume_bar.isVisible(), timeout=10_000)
    assert "2 takes were waiting or running" in view.resume_label.text()
    qtbot.mouseClick(view.discard_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.resume_bar.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: [jobs.get(i).state for i in kept] == ["cancelled"] * 2, timeout=10_000)
    assert queue.running_job is None and all(queue.job(i).retryable for i in kept)
    window.shutdown()


def test_prompt_fields_show_the_whole_prompt(qtbot) -> None:  # noqa: ANN001
    """A prompt field is as tall as its wrapped text (the Studio's padding included), so
    nothing scrolls inside a two-line box; past its maximum it scrolls."""
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from idlora_studio.app import apply_style
    from idlora_studio.ui.generate.prompt_fields import GrowingTextEdit

    app = QApplication.instance()
    style, sheet = app.style().name(), app.styleSheet()
    apply_style(app)
    try:
        holder = QWidget()
        qtbot.addWidget(holder)
        field = GrowingTextEdit("", 2, 8)
        QVBoxLayout(holder).addWidget(field)
        field.setPlainText(
            "Medium close-up of a woman in a blue sweater in a bright studio, soft key light "
            "from the left; she smiles and talks to the camera."
        )
        holder.show()
        heights = []
        for width in (700, 420, 250, 180):
            holder.resize(width, 600)
            QApplication.processEvents()
            lines = field.wrapped_lines()
            assert 2 <= lines <= 8
            assert field.verticalScrollBar().maximum() == 0, (width, lines)  # all shown
            heights.append(field.height())
        assert heights == sorted(heights) and heights[-1] > heights[0]  # narrower: taller
        holder.resize(110, 600)
        QApplication.processEvents()
        assert field.wrapped_lines() > 8 and field.verticalScrollBar().maximum() > 0
        assert field.height() == field.height_for_lines(8)
    finally:
        app.setStyleSheet(sheet)
        app.setStyle(style)
