"""A populated Studio for whole-window tests: identities with real media and consent, and a
project whose timeline holds real MP4 takes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from tests import media_fixtures as mf
from tests.app.timeline_helpers import make_project


@dataclass
class Studio:
    window: object
    library: object
    identity_id: int
    project_id: int
    take_ids: list[int]


def populate(library, paths, tmp_path: Path) -> tuple[int, int, list[int]]:  # noqa: ANN001
    """One identity with an image, a voice clip and a consent record, one without consent;
    a project "Timeline test" with three takes, two of them on the timeline."""
    from idlora_studio.library.projects_repo import ClipPlacement
    from idlora_studio.library.repository import ConsentRecord

    photo = mf.face_image(tmp_path / "maya.jpg")
    voice = mf.speech_wav(tmp_path / "maya.wav")
    created = library.create_identity_with_media(
        "Maya Lindqvist",
        [photo],
        [voice],
        ConsentRecord("Maya Lindqvist", dt.date(2026, 12, 1), "All my own channels"),
        tags=("narrator",),
    )
    library.create_identity("Jonas Berg", tags=("actor",))
    env = make_project(paths, tmp_path)
    a, b, _ = env.take_ids
    env.projects.set_clips(
        env.project_id, [ClipPlacement(a, 0, 0, 25), ClipPlacement(b, 25, 0, 35)]
    )
    env.library.close()
    return created.identity_id, env.project_id, env.take_ids


def leave_jobs_waiting(library, identity_id: int, n: int) -> list[int]:  # noqa: ANN001
    """``n`` takes of ``identity_id`` left queued by an earlier session (the next window
    offers to resume them), each with a realistic recipe: a long Speech line, a preset, a
    size and a length."""
    from engine.api import GenerationRequest, PromptParts
    from idlora_studio.library.jobs_repo import JobSpec, JobsRepository

    detail = library.get_identity(identity_id)
    requests = [
        GenerationRequest(
            parts=PromptParts(
                visual="Medium close-up, soft key light.",
                speech="Welcome back to the channel. Today we build a studio from scratch.",
            ),
            image=Path(str(detail.images[0].path)),
            voice=Path(str(detail.clips[0].path)),
            width=384 if i % 2 else 768,  # a two-stage take is twice stage 1's size
            height=256 if i % 2 else 512,
            num_frames=121,
            steps=30,
            seed=1_000_000 + i,
            pipeline="two-stage" if i % 2 else "one-stage",
        )
        for i in range(n)
    ]
    spec = JobSpec(model_set="tiny", identity_id=identity_id)
    return JobsRepository.from_library(library).enqueue(requests, spec)


@pytest.fixture
def studio(request, qtbot, paths, settings, real_library, tmp_path) -> Iterator[Studio]:  # noqa: ANN001
    """The real window over a populated library, the identity open in the editor, the
    project with clips open on the Edit page. A test marked ``@pytest.mark.studio_jobs(n)``
    also finds ``n`` takes waiting in the queue from an earlier session."""
    from idlora_studio.app import apply_style, build_main_window

    app = QApplication.instance()
    style, sheet = app.style().name(), app.styleSheet()
    apply_style(app)  # the Studio's stylesheet: its paddings are part of every size
    ident, pid, takes = populate(real_library, paths, tmp_path)
    marker = request.node.get_closest_marker("studio_jobs")
    if marker is not None:
        leave_jobs_waiting(real_library, ident, *marker.args)
    window = build_main_window(paths, settings, real_library)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitUntil(lambda: window.state.loaded, timeout=10_000)
    timeline = window.timeline_panel.state
    qtbot.waitUntil(lambda: timeline.project_id is not None, timeout=10_000)
    if timeline.project_id != pid:
        timeline.load(pid)
        qtbot.waitUntil(lambda: timeline.project_id == pid, timeout=10_000)
    qtbot.waitUntil(lambda: len(timeline.clips) == 2, timeout=10_000)
    assert window.library_panel.select_identity(ident)
    qtbot.waitUntil(
        lambda: window.editor.detail is not None and window.editor.detail.id == ident,
        timeout=10_000,
    )
    # The Generate page as a creator leaves it: this identity, a prompt in every field.
    panel = window.generate_panel
    panel.set_identity(ident)
    prompt = panel.form.prompt
    prompt.visual_edit.setPlainText(
        "Medium close-up of a woman in a blue sweater in a bright studio, soft key light "
        "from the left; she smiles and talks to the camera."
    )
    prompt.speech_edit.setPlainText("Welcome back to the channel. Today we build a studio.")
    prompt.sounds_edit.setPlainText("Quiet room tone, a faint keyboard.")
    QApplication.processEvents()
    yield Studio(window, real_library, ident, pid, takes)
    window.shutdown()
    app.setStyleSheet(sheet)
    app.setStyle(style)
