"""GenerateFormStore: debounced saves, flush on project switch, nothing after it is deleted."""

from __future__ import annotations

import threading
import time
from typing import Any

from idlora_studio.state.generate_form import GenerateFormStore
from idlora_studio.workers.tasks import TaskRunner


class SlowProjects:
    """A ProjectsRepository stand-in recording calls; reads take a moment."""

    def __init__(self) -> None:
        self.forms: dict[int, dict[str, Any]] = {1: {"prompt": {"speech": "one"}}}
        self.writes: list[tuple[int, dict[str, Any]]] = []
        self.read_started = threading.Event()

    def generate_form(self, project_id: int) -> dict[str, Any]:
        self.read_started.set()
        time.sleep(0.2)
        return dict(self.forms.get(project_id, {}))

    def save_generate_form(self, project_id: int, form: dict[str, Any]) -> None:
        self.writes.append((project_id, form))
        self.forms[project_id] = form


def test_saves_are_debounced_and_flushed_on_switch(qtbot) -> None:  # noqa: ANN001
    projects = SlowProjects()
    store = GenerateFormStore(projects, TaskRunner(1), delay_ms=300)
    with qtbot.waitSignal(store.loaded, timeout=5000) as loaded:
        store.open_project(1)
    assert loaded.args == [1, {"prompt": {"speech": "one"}}]
    for text in ("t", "ty", "typ"):
        store.save({"prompt": {"speech": text}})
    store.open_project(2)  # switching writes what is pending for project 1 at once
    qtbot.waitUntil(lambda: projects.writes == [(1, {"prompt": {"speech": "typ"}})], timeout=5000)
    store.save({"prompt": {"speech": "two"}})
    qtbot.waitUntil(lambda: len(projects.writes) == 2, timeout=5000)  # after the quiet period
    assert projects.writes[-1] == (2, {"prompt": {"speech": "two"}})
    store.close()


def test_a_read_that_lands_after_the_store_is_deleted_is_dropped(qtbot) -> None:  # noqa: ANN001
    projects = SlowProjects()
    store = GenerateFormStore(projects, TaskRunner(1))
    store.open_project(1)
    assert projects.read_started.wait(5)
    store.deleteLater()  # e.g. the window closed while the project's form was being read
    qtbot.wait(600)  # the read finishes meanwhile; nobody must be called on a deleted store
