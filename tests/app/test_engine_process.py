"""The engine's own process: takes run there (not in the GUI's process), progress and cancel
cross the pipe, errors keep their kind, a dead process is reported and replaced."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from engine.api import Cancelled, CancelToken, EngineError, GenerationRequest, MediaError
from idlora_studio.library.jobs_repo import JobSpec
from idlora_studio.workers.engine_process import EngineProcess
from tests.app.engine_process_fakes import NAME
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)

LONG = 180_000  # a wait, not a timing check: spawn + torch import + tiny model on a loaded CI core


@pytest.fixture
def engine() -> Any:
    proc = EngineProcess(loader=f"{NAME}:load", warm=f"{NAME}:no_warm_up")
    yield proc
    proc.stop()


def test_a_take_runs_in_the_engine_process_with_its_progress(engine, tmp_path: Path) -> None:  # noqa: ANN001
    gen = engine.load("tiny", None, device="cpu")
    assert gen.model_info()["device"] == "cpu"
    steps: list[int] = []
    take = gen.generate_take("ok", tmp_path, progress=lambda p: steps.append(p.step))
    assert steps == [1, 2, 3]
    assert take["pid"] == engine.pid != os.getpid()
    assert (tmp_path / "take.txt").read_text() == str(engine.pid)


def test_cancel_reaches_the_engine_process_and_it_stays_usable(engine, tmp_path: Path) -> None:  # noqa: ANN001
    gen = engine.load("tiny")
    token = CancelToken()

    def progress(p: Any) -> None:
        if p.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        gen.generate_take("forever", tmp_path, progress=progress, cancel=token)
    assert gen.usable and gen.generate_take("ok", tmp_path)["steps"] == 3


def test_errors_cross_with_their_kind_and_details(engine, tmp_path: Path) -> None:  # noqa: ANN001
    gen = engine.load("tiny")
    with pytest.raises(MediaError) as err:
        gen.generate_take("media", tmp_path)
    assert err.value.path == Path("/clips/voice.wav") and err.value.problem == "no audio stream"


def test_a_failing_progress_callback_stops_the_take_and_the_pipe_stays_in_step(
    engine,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    gen = engine.load("tiny")

    def progress(p: Any) -> None:
        raise RuntimeError("the database is locked")

    with pytest.raises(RuntimeError, match="database is locked"):
        gen.generate_take("forever", tmp_path, progress=progress)
    # the child's late answer (Cancelled) was read: the next answer is the next take's
    assert gen.generate_take("ok", tmp_path)["steps"] == 3


def test_a_dead_engine_process_is_reported_and_replaced(engine, tmp_path: Path) -> None:  # noqa: ANN001
    gen = engine.load("tiny")
    first = engine.pid
    with pytest.raises(EngineError, match="stopped unexpectedly .exit code 3"):
        gen.generate_take("die", tmp_path)
    assert not gen.usable
    with pytest.raises(EngineError, match="unloaded"):
        gen.generate_take("ok", tmp_path)
    again = engine.load("tiny")
    assert engine.pid not in (None, first)
    assert again.generate_take("ok", tmp_path)["pid"] == engine.pid


def test_the_studio_generates_outside_its_own_process(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    """The real worker's take is generated, written and scored in the engine process: in
    the GUI's process the generator and the MP4 writer are broken, and the take still
    lands."""
    import engine.generate
    from idlora_studio.workers import take_files

    def broken(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("generation ran in the GUI's process")

    monkeypatch.setattr(engine.generate.IDLoRAGenerator, "load", broken)
    monkeypatch.setattr(engine.generate.IDLoRAGenerator, "generate", broken)
    monkeypatch.setattr(take_files, "render_take", broken)
    _, _, takes = repos
    queue = make_queue()
    failures: list[str] = []
    queue.job_failed.connect(lambda _j, _k, m: failures.append(m))
    stages: list[str] = []
    queue.job_stage.connect(lambda _j, s: stages.append(s))
    with qtbot.waitSignal(queue.job_finished, timeout=LONG) as blocker:
        queue.enqueue(tiny_request(tiny_inputs, seed=5), JobSpec(model_set="tiny"))
    assert not failures
    take = takes.get_take(blocker.args[1])
    assert take.video_path.is_file() and take.thumbnail_path.is_file()
    assert take.voice_match is not None
    assert {"load_model", "denoise", "write"} <= set(stages)
    assert queue._worker.engine_pid not in (None, os.getpid())  # noqa: SLF001


def test_request_objects_survive_the_pipe(tiny_inputs) -> None:  # noqa: ANN001, F811
    import pickle

    req = tiny_request(tiny_inputs, seed=9)
    assert isinstance(req, GenerationRequest)
    assert pickle.loads(pickle.dumps(req)) == req
