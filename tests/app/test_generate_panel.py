"""The Generate panel: live effective size/frames, problems that disable Queue, queueing N takes,
the OOM lighter-profile retry (flow tests on a scripted queue) and one take through the real
JobQueue, worker thread and tiny engine into the takes list."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from engine.api import GenerationRequest, PromptParts
from engine.models import registry
from idlora_studio.library.jobs_repo import JobInfo, JobSpec
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
)
from tests.media_fixtures import face_image, speech_wav

LONG = 180_000  # a wait, not a timing check: spawn + torch import + tiny model on a loaded CI core


# ----------------------------------------------------------------------------- a scripted queue
def job_info(job_id: int, state: str = "queued", **kw: Any) -> JobInfo:
    now = dt.datetime.now(dt.UTC)
    base = dict(
        id=job_id,
        state=state,
        position=job_id,
        request=GenerationRequest(parts=PromptParts(speech=f"line {job_id}")),
        model_set="tiny",
        lora_path=None,
        lora_strength=1.0,
        memory_profile="resident_bf16",
        identity_id=None,
        image_id=None,
        clip_id=None,
        error=None,
        error_kind=None,
        suggested_profile=None,
        progress_step=0,
        progress_total=0,
        take_id=None,
        attempts=0,
        created_at=now,
        updated_at=now,
        started_at=None,
        finished_at=None,
    )
    base.update(kw)
    return JobInfo(**base)


class FakeQueue(QObject):
    """The JobQueue API the panel uses; records every action."""

    job_added = Signal(int)
    job_changed = Signal(int)
    job_removed = Signal(int)
    job_started = Signal(int)
    job_stage = Signal(int, str)
    job_progress = Signal(int, int, int, float)
    job_preview = Signal(int, QImage)
    job_finished = Signal(int, int)
    job_failed = Signal(int, str, str)
    job_cancelled = Signal(int)
    queue_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[int, JobInfo] = {}
        self.enqueued: list[tuple[list[GenerationRequest], JobSpec]] = []
        self.calls: list[tuple] = []
        self.takes_repo = None

    def jobs(self) -> list[JobInfo]:
        return sorted(self._jobs.values(), key=lambda j: j.position)

    def job(self, job_id: int) -> JobInfo | None:
        return self._jobs.get(job_id)

    running_job: int | None = None
    paused = False

    def eta(self, job_id: int) -> float | None:
        return None

    def stage(self, job_id: int) -> str | None:
        return None

    def is_cancelling(self, job_id: int) -> bool:
        return False

    def queued(self) -> list[int]:
        return [j.id for j in self.jobs() if j.state == "queued"]

    def add(self, info: JobInfo) -> None:
        self._jobs[info.id] = info
        self.job_added.emit(info.id)
        self.queue_changed.emit()

    def warm_up(self) -> None:  # the real queue imports the engine on its worker here
        self.warmed_up = True

    def enqueue(self, requests: Any, spec: JobSpec | None = None, on_done: Any = None) -> None:
        self.enqueued.append((list(requests), spec))

    def cancel(self, job_id: int) -> None:
        self.calls.append(("cancel", job_id))

    def retry(self, job_id: int, lighter: bool = False, memory_profile: str | None = None) -> None:
        self.calls.append(("retry", job_id, lighter))

    def move(self, job_id: int, delta: int) -> None:
        self.calls.append(("move", job_id, delta))

    def remove(self, job_id: int) -> None:
        self.calls.append(("remove", job_id))

    def rerun(self, take_id: int) -> None:
        self.calls.append(("rerun", take_id))

    def vary(self, take_id: int) -> None:
        self.calls.append(("vary", take_id))


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    img = tmp_path / "wide.png"
    Image.fromarray(np.full((1080, 1920, 3), 90, np.uint8)).save(img)
    wav = speech_wav(tmp_path / "voice.wav", "Hello there, this is a short test of my voice.")
    return {"image": img, "voice": wav}


def _panel(
    qtbot, paths, settings, library, queue, set_ids=("ltx2-celebvhq", "tiny", "ltx2.3-celebvhq-3k")
) -> Any:  # noqa: ANN001
    from idlora_studio.state.library_state import LibraryState
    from idlora_studio.ui.generate import GeneratePanel
    from idlora_studio.ui.thumbnails import ThumbnailCache
    from idlora_studio.workers.tasks import TaskRunner

    db, thumbs = TaskRunner(1), TaskRunner(1)
    state = LibraryState(library, db)
    cache = ThumbnailCache(thumbs, side=96)
    sets = {k: registry.MODEL_SETS[k] for k in set_ids}
    panel = GeneratePanel(
        state, queue, cache, paths, settings, gpu_probe=lambda: None, model_sets=sets
    )
    for obj in (db, thumbs, state, cache):
        obj.setParent(panel)
    qtbot.addWidget(panel)
    panel.resize(1300, 900)
    panel.show()
    state.refresh()
    qtbot.waitUntil(
        lambda: state.loaded and panel.form.identity.identity_combo.count() > 0, timeout=20_000
    )
    qtbot.waitUntil(lambda: panel.form.model.status_known, timeout=20_000)  # model status read
    return panel


def _choose(qtbot, panel, identity_id: int) -> None:  # noqa: ANN001
    panel.set_identity(identity_id)
    qtbot.waitUntil(
        lambda: (
            panel.form.identity.detail is not None and panel.form.identity.detail.id == identity_id
        ),
        timeout=5000,
    )


def _type(qtbot, spin, text: str) -> None:  # noqa: ANN001
    spin.lineEdit().selectAll()
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Backspace)
    for ch in text:
        qtbot.keyClicks(spin.lineEdit(), ch)


@pytest.fixture
def flow(qtbot, paths, settings, fake_library, media):  # noqa: ANN001
    queue = FakeQueue()
    rid = fake_library.create_identity_with_media("Anna", [media["image"]], [media["voice"]])
    bare = fake_library.create_identity_with_media("Bare", [media["image"]], [])
    panel = _panel(qtbot, paths, settings, fake_library, queue)
    return panel, queue, rid, bare


# ----------------------------------------------------------------------------- flow tests
def test_effective_size_and_frames_update_while_typing(flow, qtbot) -> None:  # noqa: ANN001
    panel, _queue, rid, _ = flow
    _choose(qtbot, panel, rid)
    # Auto from the 1920x1080 image: long side 512, multiples of 32.
    assert panel.form.effective_size()[:2] == (512, 288)
    assert "512 × 288" in panel.form.output.size_label.text()
    assert "1920×1080" in panel.form.output.size_label.text()
    panel.form.output.long_side_spin.setValue(
        400
    )  # 400 * 1080/1920 = 225 -> rounded to 224, 400 -> 384 (12.5 x 32: halves to even)
    assert "384 × 224" in panel.form.output.size_label.text()

    panel.form.output.size_mode.setCurrentIndex(panel.form.output.size_mode.findData("custom"))
    assert (
        panel.form.output.width_spin.isVisible()
        and not panel.form.output.long_side_spin.isVisible()
    )
    _type(qtbot, panel.form.output.height_spin, "300")
    _type(qtbot, panel.form.output.width_spin, "50")  # the label follows every keystroke
    assert "64 × 288" in panel.form.output.size_label.text()
    qtbot.keyClicks(panel.form.output.width_spin.lineEdit(), "0")
    assert panel.form.output.width_spin.value() == 500
    assert "512 × 288" in panel.form.output.size_label.text()
    assert "500×300 rounded to multiples of 32" in panel.form.output.size_label.text()
    _type(qtbot, panel.form.output.width_spin, "640")
    assert "640 × 288" in panel.form.output.size_label.text()
    # What happens to the first frame: LTX-2 one-stage stretches it, LTX-2.3 centre-crops it.
    label = panel.form.output.size_label.text()
    assert "First frame stretched from 1920x1080 to 640x288 (aspect 1.78 -> 2.22)" in label
    panel.select_model_set("ltx2.3-celebvhq-3k")
    label = panel.form.output.size_label.text()
    assert "First frame cropped from 1920x1080 to its centre 1920x864" in label
    # ... and per pipeline: LTX-2 two-stage (and fast) centre-crop too; the 2x take is said.
    panel.select_model_set("ltx2-celebvhq")
    combo = panel.form.model.preset_combo
    combo.setCurrentIndex(combo.findData("two-stage"))
    label = panel.form.output.size_label.text()
    assert "First frame cropped from 1920x1080 to its centre 1920x864" in label
    assert "The take: <b>1280 × 576</b>" in label
    combo.setCurrentIndex(combo.findData("fast"))
    label = panel.form.output.size_label.text()
    assert "First frame cropped" in label and "The take" not in label
    combo.setCurrentIndex(combo.findData("one-stage"))
    assert "First frame stretched" in panel.form.output.size_label.text()
    panel.select_model_set("tiny")

    # Frames: 8k+1.
    panel.form.output.length_mode.setCurrentIndex(panel.form.output.length_mode.findData("frames"))
    _type(qtbot, panel.form.output.frames_spin, "100")
    assert panel.form.effective_frames()[0] == 97
    assert "97 frames = 3.88 s" in panel.form.output.frames_label.text()
    assert "100 frames snapped to 8k+1" in panel.form.output.frames_label.text()
    _type(qtbot, panel.form.output.frames_spin, "121")
    assert "121 frames = 4.84 s" in panel.form.output.frames_label.text()
    assert "snapped" not in panel.form.output.frames_label.text()
    panel.form.output.length_mode.setCurrentIndex(
        panel.form.output.length_mode.findData("duration")
    )
    panel.form.output.duration_spin.setValue(2.0)  # 50 frames -> 49
    assert "49 frames = 1.96 s" in panel.form.output.frames_label.text()

    # Memory profiles show their VRAM estimate for the effective size; Auto names its choice.
    from engine.memory import expected_vram_gib

    panel.select_model_set("ltx2-celebvhq")
    w, h, _ = panel.form.effective_size()
    gib = expected_vram_gib("fp8_weights", "ltx2", w, h, 49)
    texts = [
        panel.form.model.profile_combo.itemText(i)
        for i in range(panel.form.model.profile_combo.count())
    ]
    assert f"Weights in fp8 · ~{gib:.1f} GiB" in texts
    qtbot.waitUntil(lambda: "→" in panel.form.model.profile_combo.itemText(0), timeout=5000)
    # No GPU: Auto says the CPU runs it (not a GPU profile that does not apply).
    assert panel.form.model.profile_combo.itemText(0) == "Auto (→ CPU: no CUDA GPU)"
    assert "No CUDA GPU" in panel.form.model.profile_note.text()


def test_invalid_combinations_disable_queue_with_the_reason(flow, qtbot, fake_library) -> None:  # noqa: ANN001
    panel, queue, rid, bare = flow
    assert not panel.form.queue_button.isEnabled()
    assert "Choose an identity" in panel.form.reason_label.text()

    _choose(qtbot, panel, bare)
    assert (
        panel.form.identity.voice_problem.isVisible()
        and "no voice clip" in panel.form.identity.voice_problem.text()
    )
    assert not panel.form.queue_button.isEnabled()
    assert "no voice clip" in panel.form.queue_button.toolTip()
    assert panel.form.prompt.speech_problem.isVisible()

    _choose(qtbot, panel, rid)
    assert not panel.form.identity.voice_problem.isVisible()
    assert "Speech field is empty" in panel.form.reason_label.text()
    panel.form.prompt.speech_edit.setPlainText("Hello there.")
    assert not panel.form.prompt.speech_problem.isVisible()

    panel.select_model_set("ltx2-celebvhq")  # nothing downloaded in this home
    assert (
        panel.form.model.model_problem.isVisible()
        and "not installed" in panel.form.model.model_problem.text()
    )
    assert "not installed" in panel.form.reason_label.text()
    assert not panel.form.queue_button.isEnabled()
    assert "not installed" in panel.form.model.model_combo.currentText()

    panel.select_model_set("tiny")
    assert panel.form.queue_button.isEnabled() and panel.form.reason_label.text() == ""

    # A clip under 2 s is refused next to the clip picker.
    rec = fake_library._records[rid]
    rec.clips[0] = dataclasses.replace(rec.clips[0], duration_s=1.2)
    panel.state.notify_changed(rid)
    qtbot.waitUntil(lambda: panel.form.identity.voice_problem.isVisible(), timeout=5000)
    assert "1.2 s long" in panel.form.identity.voice_problem.text()
    assert not panel.form.queue_button.isEnabled()
    assert queue.enqueued == []
    assert panel.queue_takes() == 0 and queue.enqueued == []

    # Presets: all four are offered; HQ needs an LTX-2.3 model, which the tiny LTX-2 set is not.
    combo = panel.form.model.preset_combo
    assert [combo.itemData(i) for i in range(combo.count())] == [
        "one-stage",
        "two-stage",
        "hq",
        "fast",
    ]
    assert "files missing" in combo.itemText(2) and "files missing" not in combo.itemText(1)
    assert "lacks an LTX-2.3 model" in combo.itemData(2, Qt.ItemDataRole.ToolTipRole)


def test_queue_n_takes_enqueues_seed_variations(flow, qtbot) -> None:  # noqa: ANN001
    panel, queue, rid, _ = flow
    _choose(qtbot, panel, rid)
    panel.select_model_set("tiny")
    panel.form.prompt.visual_edit.setPlainText("A woman in a red coat, close-up.")
    panel.form.prompt.speech_edit.setPlainText("Welcome back to the show.")
    panel.form.prompt.sounds_edit.setPlainText("Light rain.")
    expected_prompt = (
        "[VISUAL]: A woman in a red coat, close-up. [SPEECH]: Welcome back to the show. "
        "[SOUNDS]: Light rain."
    )
    assert panel.form.prompt.assembled_label.text() == expected_prompt
    panel.form.output.random_seed.setChecked(False)
    panel.form.output.seed_spin.setValue(100)
    panel.form.output.takes_spin.setValue(3)
    assert panel.form.queue_button.text() == "Queue 3 takes"
    panel.form.model.profile_combo.setCurrentIndex(
        panel.form.model.profile_combo.findData("fp8_weights")
    )
    panel.form.advanced.set_expanded(True)
    panel.form.advanced.video_cfg.setValue(4.5)
    panel.form.output.size_mode.setCurrentIndex(panel.form.output.size_mode.findData("custom"))
    panel.form.output.width_spin.setValue(256)
    panel.form.output.height_spin.setValue(160)
    qtbot.mouseClick(panel.form.queue_button, Qt.MouseButton.LeftButton)

    assert len(queue.enqueued) == 1
    requests, spec = queue.enqueued[0]
    assert [r.seed for r in requests] == [100, 101, 102]
    detail = panel.form.identity.detail
    for r in requests:
        assert r.full_prompt == expected_prompt
        assert r.image == Path(detail.images[0].path) and r.voice == Path(detail.clips[0].path)
        assert r.voice_window == tuple(detail.clips[0].best_window)  # the clip's chosen window
        assert (r.width, r.height, r.video_cfg) == (256, 160, 4.5)
        assert r.num_frames is None and r.duration_s == pytest.approx(121 / 25)
    assert spec.model_set == "tiny" and spec.memory_profile == "fp8_weights"
    assert spec.identity_id == rid and spec.image_id == detail.images[0].id
    assert spec.clip_id == detail.clips[0].id

    # Random seeds: drawn when queueing, consecutive, shown in the seed box.
    panel.form.output.random_seed.setChecked(True)
    panel.form.output.takes_spin.setValue(2)
    assert panel.queue_takes() == 2
    seeds = [r.seed for r in queue.enqueued[1][0]]
    assert seeds[1] == seeds[0] + 1 and panel.form.output.seed_spin.value() == seeds[0]


def test_oom_failure_offers_a_one_click_lighter_retry(flow, qtbot) -> None:  # noqa: ANN001
    panel, queue, _rid, _ = flow
    queue.add(job_info(1, "finished", progress_step=30, progress_total=30))
    message = (
        "The GPU ran out of memory with the model_offload memory profile. Retry with the "
        "lighter fp8_weights profile, or choose a smaller size."
    )
    queue.add(
        job_info(
            2,
            "failed",
            error=message,
            error_kind="oom",
            suggested_profile="fp8_weights",
            memory_profile="model_offload",
        )
    )
    queue.job_failed.emit(2, "oom", message)
    assert panel.queue_view.selected_job() == 2  # the failed job is brought into view
    assert (
        panel.queue_view.failure_label.isVisible()
        and panel.queue_view.failure_label.text() == message
    )
    assert panel.queue_view.lighter_button.isVisible()
    assert panel.queue_view.lighter_button.text() == "Retry with lighter profile (Weights in fp8)"
    assert (
        panel.queue_view.retry_button.isEnabled() and not panel.queue_view.cancel_button.isEnabled()
    )
    qtbot.mouseClick(panel.queue_view.lighter_button, Qt.MouseButton.LeftButton)
    assert queue.calls == [("retry", 2, True)]

    # Another kind of failure: the sentence, but no lighter-profile button.
    queue.add(
        job_info(
            3, "failed", error="The reference voice clip v.wav cannot be read.", error_kind="media"
        )
    )
    queue.job_failed.emit(3, "media", "x")
    assert panel.queue_view.failure_label.text().startswith("The reference voice clip")
    assert not panel.queue_view.lighter_button.isVisible()

    # A queued job: cancel, move and remove act on it.
    queue.add(job_info(4, "queued"))
    queue.add(job_info(5, "queued"))
    panel.queue_view.select_job(5)
    assert panel.queue_view.up_button.isEnabled() and not panel.queue_view.down_button.isEnabled()
    assert not panel.queue_view.failure_label.isVisible()
    for button in (
        panel.queue_view.cancel_button,
        panel.queue_view.up_button,
        panel.queue_view.remove_button,
    ):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert queue.calls[-3:] == [("cancel", 5), ("move", 5, -1), ("remove", 5)]


# ----------------------------------------------------------------------------- the real thing
def test_real_queue_take_lands_in_takes(qtbot, paths, settings, repos, make_queue, tmp_path):  # noqa: ANN001, ANN201, F811
    lib, jobs, takes = repos
    created = lib.create_identity_with_media(
        "Astronaut",
        [face_image(tmp_path / "face.png")],
        [speech_wav(tmp_path / "voice.wav", "Hello there, this is a short test of my voice.")],
    )
    queue = make_queue()
    panel = _panel(qtbot, paths, settings, lib, queue)
    _choose(qtbot, panel, created.identity_id)
    panel.select_model_set("tiny")
    panel.form.prompt.speech_edit.setPlainText("Hello from the tiny model.")
    panel.form.output.size_mode.setCurrentIndex(panel.form.output.size_mode.findData("custom"))
    panel.form.output.width_spin.setValue(64)
    panel.form.output.height_spin.setValue(64)
    panel.form.output.length_mode.setCurrentIndex(panel.form.output.length_mode.findData("frames"))
    panel.form.output.frames_spin.setValue(9)
    panel.form.advanced.steps_spin.setValue(2)
    panel.form.output.random_seed.setChecked(False)
    panel.form.output.seed_spin.setValue(7)
    previews: list[int] = []
    queue.job_preview.connect(lambda j, _img: previews.append(j))
    assert panel.form.queue_button.isEnabled(), panel.form.reason_label.text()
    with qtbot.waitSignal(queue.job_finished, timeout=LONG) as finished:
        qtbot.mouseClick(panel.form.queue_button, Qt.MouseButton.LeftButton)
    job_id, take_id = finished.args
    qtbot.waitUntil(lambda: panel.takes.take_ids() == [take_id], timeout=10_000)
    item = panel.takes.takes_list.item(0)
    assert item.text().startswith("seed 7")
    assert "0.36 s" in item.text()  # 9 frames at 25 fps
    take = takes.get_take(take_id)
    assert take.identity_id == created.identity_id and (take.width, take.height) == (64, 64)
    assert jobs.get(job_id).state == "finished"
    assert panel.queue_view.jobs_model.rowCount() == 1
    assert panel.queue_view.jobs_model.data(panel.queue_view.jobs_model.index(0, 1)) == "Finished"
    assert previews and not panel.preview.preview_label.pixmap().isNull()
    # The take's menu puts its recipe back into the form (after the form was changed).
    panel.form.output.seed_spin.setValue(99)
    panel.form.prompt.speech_edit.setPlainText("Something else.")
    actions = {a.text(): a for a in panel.takes.take_menu(take_id).actions()}
    assert {"Re-run (same seed)", "Vary (new seed)", "Use these settings"} <= set(actions)
    actions["Use these settings"].trigger()
    assert panel.form.output.seed_spin.value() == 7
    assert panel.form.prompt.speech_edit.toPlainText() == "Hello from the tiny model."
    assert panel.form.effective_size()[:2] == (64, 64) and panel.form.effective_frames()[0] == 9
    # Vary queues the same recipe with a new seed through the real queue.
    panel.takes.takes_list.setCurrentRow(0)
    with qtbot.waitSignal(queue.job_added, timeout=10_000) as added:
        qtbot.mouseClick(panel.takes.vary_button, Qt.MouseButton.LeftButton)
    varied = queue.job(added.args[0])
    assert varied.request.seed != 7 and varied.request.parts == take.request.parts
    qtbot.waitUntil(lambda: queue.job(varied.id).state == "finished", timeout=LONG)
    # Both takes carry their voice match: on the take cards, in the queue rows, and the
    # strip sorts by it.
    model = panel.queue_view.jobs_model
    assert model.headerData(
        model.VOICE, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole
    ) == ("Voice match")
    qtbot.waitUntil(lambda: len(panel.takes.take_ids()) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: queue.job(varied.id).voice_match is not None, timeout=10_000)
    scores = {t: takes.get_take(t).voice_match for t in panel.takes.take_ids()}
    assert all(v is not None and 0.0 <= v <= 1.0 for v in scores.values())
    for row in range(model.rowCount()):
        job = queue.job(model.job_id(row))
        assert model.data(model.index(row, model.VOICE)) == f"{scores[job.take_id]:.2f}"
        tip = model.data(model.index(row, model.VOICE), Qt.ItemDataRole.ToolTipRole)
        assert "Resemblyzer" in tip
    panel.takes.sort_combo.setCurrentText("Best voice match")
    shown = panel.takes.take_ids()
    assert [scores[t] for t in shown] == sorted(scores.values(), reverse=True)
    first = panel.takes.takes_list.item(0)
    assert first.text().endswith(f"voice match {scores[shown[0]]:.2f}")
    assert "cosine similarity" in first.toolTip()


def test_main_window_wiring(qtbot, paths, settings, real_library) -> None:  # noqa: ANN001
    """build_main_window adds the Generate page, Tools > Models… opens the manager, and
    shutdown stops the generation thread."""
    from PySide6.QtWidgets import QApplication

    from idlora_studio.app import build_main_window
    from idlora_studio.ui.generate import GeneratePanel
    from idlora_studio.ui.model_manager import ModelManager

    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=10_000)
    assert window.page_titles() == ["Library", "Generate", "Edit"]
    assert window.page_bar.titles() == ["Library", "Generate", "Edit"]
    panel = window.generate_panel
    assert isinstance(panel, GeneratePanel)
    pages = {a.data(): a for a in window.view_menu.actions() if a.data()}
    assert pages["generate"].shortcut().toString() == "Ctrl+2"
    pages["generate"].trigger()
    assert window.current_page().centralWidget() is panel and panel.isVisible()
    actions = {a.text(): a for a in window.tools_menu.actions()}
    actions["&Models…"].trigger()
    manager = window.findChild(ModelManager)
    assert manager is not None and manager.isVisible()
    qtbot.waitUntil(lambda: all(c.badge.text() for c in manager.cards.values()), timeout=5000)
    thread = panel.queue._thread
    assert thread.isRunning()
    window.shutdown()
    assert not thread.isRunning()
    QApplication.processEvents()


def test_finished_take_lands_in_the_timeline_bin(
    qtbot, paths, settings, real_library, tmp_path
) -> None:  # noqa: ANN001, E501
    """The window wires the job queue's job_finished to the open project's bin."""
    from idlora_studio.app import build_main_window
    from idlora_studio.library.jobs_repo import TakeFiles, TakesRepository
    from tests.app.timeline_helpers import make_take_mp4

    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    timeline = window.timeline_panel.state
    qtbot.waitUntil(lambda: timeline.project_id is not None, timeout=10_000)
    takes = TakesRepository.from_library(real_library)
    mp4 = make_take_mp4(tmp_path / "take.mp4", (200, 80, 60), 25, 220.0)
    take_id = takes.add_take(TakeFiles(mp4), {"output": {"fps": 25.0}}, label="Fresh take")
    assert take_id not in {m.take_id for m in timeline.bin}
    window.generate_panel.queue.job_finished.emit(0, take_id)
    qtbot.waitUntil(lambda: take_id in {m.take_id for m in timeline.bin}, timeout=10_000)
    window.shutdown()


# ----------------------------------------------------------------------------- presets
def test_presets_fill_their_defaults_and_say_what_is_missing(flow, qtbot, paths) -> None:  # noqa: ANN001
    from engine.models.local_sources import LocalSource, LocalSources

    panel, queue, rid, _ = flow
    _choose(qtbot, panel, rid)
    panel.form.prompt.speech_edit.setPlainText("Hello there.")
    panel.select_model_set("tiny")
    model, adv = panel.form.model, panel.form.advanced
    assert model.preset() == "one-stage" and adv.steps_spin.value() == 30
    assert "30 Euler steps · CFG 3/7, identity 3, STG 1 (block 29)" in model.preset_note.text()

    model.preset_combo.setCurrentIndex(model.preset_combo.findData("fast"))
    assert (adv.steps_spin.value(), adv.steps_spin.isEnabled()) == (8, False)
    assert (adv.video_cfg.value(), adv.audio_cfg.value(), adv.stg_scale.value()) == (1, 1, 0)
    assert (adv.identity_scale.value(), adv.modality_scale.value()) == (3.0, 1.0)
    assert "no CFG" in model.preset_note.text()
    assert "needs the distilled LoRA" in model.preset_note.text()
    assert panel.form.queue_button.isEnabled()  # the tiny stack has its distilled LoRA

    model.preset_combo.setCurrentIndex(model.preset_combo.findData("two-stage"))
    assert adv.steps_spin.isEnabled() and adv.steps_spin.value() == 30
    assert "then 2x: 3 Euler steps, distilled LoRA 0.8, no ID-LoRA" in model.preset_note.text()
    assert "The take: <b>1024 × 576</b>" in panel.form.output.size_label.text()

    model.preset_combo.setCurrentIndex(model.preset_combo.findData("hq"))
    assert adv.steps_spin.value() == 15 and adv.cfg_star.isChecked()
    assert (adv.stg_scale.value(), adv.stg_block.value()) == (0.0, 28)
    assert not panel.form.queue_button.isEnabled()
    assert "needs an LTX-2.3 model" in model.preset_problem.text()

    # A set pointed at a single-file checkpoint (with its base) queues like a folder; without
    # the upsampler and the distilled LoRA, the two-stage preset says so.
    LocalSources.load(paths.config_dir).set(
        LocalSource(
            "ltx2-celebvhq",
            "single-file",
            paths.data_dir / "ltx-2-19b-dev.safetensors",
            paths.data_dir / "base",
        )
    )
    panel.refresh_models()
    panel.select_model_set("ltx2-celebvhq")
    qtbot.waitUntil(lambda: "files on disk" in model.model_combo.currentText(), timeout=5000)
    model.preset_combo.setCurrentIndex(model.preset_combo.findData("two-stage"))
    qtbot.waitUntil(lambda: "spatial upsampler" in model.preset_problem.text(), timeout=5000)
    assert "the spatial upsampler and the distilled LoRA" in model.preset_problem.text()
    assert not panel.form.queue_button.isEnabled()
    model.preset_combo.setCurrentIndex(model.preset_combo.findData("one-stage"))
    assert panel.form.queue_button.isEnabled(), panel.form.reason_label.text()
    panel.form.advanced.identity_start.setValue(0.5)
    assert panel.queue_takes() == 1
    requests, spec = queue.enqueued[-1]
    assert spec.model_set == "ltx2-celebvhq" and spec.lora_path is None
    assert requests[0].pipeline == "one-stage" and requests[0].identity_start == 0.5

    # LTX-2.3 published as single files (checkpoint, upsampler, distilled LoRA, ID-LoRA) with
    # its base folder: every preset is offered and HQ queues, exactly like a diffusers folder.
    d = paths.data_dir
    LocalSources.load(paths.config_dir).set(
        LocalSource(
            "ltx2.3-celebvhq-3k",
            "single-file",
            d / "ltx-2.3-22b-dev.safetensors",
            d / "base-2.3",
            d / "id-lora-celebvhq-ltx2.3.safetensors",
            d / "ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
            d / "ltx-2.3-22b-distilled-lora-384.safetensors",
        )
    )
    panel.refresh_models()
    panel.select_model_set("ltx2.3-celebvhq-3k")
    qtbot.waitUntil(lambda: "files on disk" in model.model_combo.currentText(), timeout=5000)
    for preset in ("one-stage", "two-stage", "fast", "hq"):
        model.preset_combo.setCurrentIndex(model.preset_combo.findData(preset))
        qtbot.waitUntil(lambda: panel.form.queue_button.isEnabled(), timeout=5000)
        assert model.preset_problem.text() == "", preset
        assert "files missing" not in model.preset_combo.currentText(), preset
    assert model.preset() == "hq"
    assert panel.queue_takes() == 1
    requests, spec = queue.enqueued[-1]
    assert spec.model_set == "ltx2.3-celebvhq-3k"
    assert requests[0].pipeline == "hq" and requests[0].steps == 15 and requests[0].cfg_star


@pytest.mark.timeout(900)  # four real takes on the CPU (about a minute on an idle box)
def test_every_preset_queues_on_the_tiny_stack(qtbot, paths, settings, repos, make_queue, tmp_path):  # noqa: ANN001, ANN201, F811
    lib, _jobs, takes = repos
    created = lib.create_identity_with_media(
        "Astronaut",
        [face_image(tmp_path / "face.png")],
        [speech_wav(tmp_path / "voice.wav", "Hello there, this is a short test of my voice.")],
    )
    queue = make_queue()
    panel = _panel(qtbot, paths, settings, lib, queue, ("tiny", "tiny-ltx2.3"))
    _choose(qtbot, panel, created.identity_id)
    form = panel.form
    form.prompt.speech_edit.setPlainText("Hello from the tiny model.")
    form.output.size_mode.setCurrentIndex(form.output.size_mode.findData("custom"))
    form.output.width_spin.setValue(64)
    form.output.height_spin.setValue(64)
    form.output.length_mode.setCurrentIndex(form.output.length_mode.findData("frames"))
    form.output.frames_spin.setValue(9)
    form.output.random_seed.setChecked(False)
    made: list[int] = []
    for preset, model_set, steps, side in (
        ("one-stage", "tiny", 2, 64),
        ("two-stage", "tiny", 1, 128),
        ("fast", "tiny", None, 64),
        ("hq", "tiny-ltx2.3", 1, 128),
    ):
        panel.select_model_set(model_set)
        form.model.preset_combo.setCurrentIndex(form.model.preset_combo.findData(preset))
        if steps is not None:
            form.advanced.steps_spin.setValue(steps)
        assert form.queue_button.isEnabled(), (preset, form.reason_label.text())
        with qtbot.waitSignal(queue.job_finished, timeout=3 * LONG) as finished:
            qtbot.mouseClick(form.queue_button, Qt.MouseButton.LeftButton)
        job_id, take_id = finished.args
        made.append(take_id)
        qtbot.waitUntil(lambda: set(made) <= set(panel.takes.take_ids()), timeout=10_000)
        take = takes.get_take(take_id)
        assert (take.width, take.height) == (side, side), preset
        assert take.recipe["pipeline"]["name"] == preset
        assert queue.job(job_id).request.pipeline == preset
    assert len(panel.takes.take_ids()) == 4
