"""Fixtures for job tests: a real library, repositories, tiny-model inputs, queue factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.api import GenerationRequest, PromptParts


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the built-in tiny model (built once per session)."""
    from engine.models.tiny import ensure_tiny_model

    root = tmp_path_factory.mktemp("models")
    ensure_tiny_model(root, "ltx2")
    return root


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 64x64 reference image and a 2.5 s voice clip."""
    from PIL import Image

    from engine.media.audio import write_wav

    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    img = root / "face.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(img)
    sr = 16000
    t = np.arange(int(sr * 2.5)) / sr
    wav = root / "voice.wav"
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 190 * t))[None].astype(np.float32), sr)
    return img, wav


def tiny_request(inputs: tuple[Path, Path], seed: int = 0, steps: int = 2) -> GenerationRequest:
    img, wav = inputs
    return GenerationRequest(
        parts=PromptParts(visual="a person talks", speech=f"hello number {seed}"),
        image=img,
        voice=wav,
        width=64,
        height=64,
        num_frames=9,
        steps=steps,
        seed=seed,
    )


@pytest.fixture
def repos(paths) -> Iterator[tuple[Any, Any, Any]]:  # noqa: ANN001
    from idlora_studio.library import Library
    from idlora_studio.library.jobs_repo import JobsRepository, TakesRepository

    lib = Library.open(paths)
    try:
        yield lib, JobsRepository.from_library(lib), TakesRepository.from_library(lib)
    finally:
        lib.close()


@pytest.fixture
def make_queue(repos, paths, tiny_models_dir, qtbot) -> Iterator[Callable[..., Any]]:  # noqa: ANN001
    """``make_queue(factory=None, idle_release_s=300, config_dir=None)`` -> a loaded JobQueue on
    the real worker thread; every queue made is closed at the end of the test."""
    from idlora_studio.state.jobs import JobQueue
    from idlora_studio.workers.generation_worker import GenerationWorker
    from idlora_studio.workers.tasks import TaskRunner

    _, jobs, takes = repos
    made: list[Any] = []

    def make(
        factory: Any = None, idle_release_s: float = 300.0, config_dir: Path | None = None
    ) -> Any:
        worker = GenerationWorker(
            jobs,
            takes,
            models_dir=tiny_models_dir,
            temp_dir=paths.cache_dir / "tmp",
            idle_release_s=idle_release_s,
            device="cpu",
            factory=factory,
            config_dir=config_dir,
        )
        queue = JobQueue(jobs, takes, TaskRunner(max_threads=1), worker)
        made.append(queue)
        qtbot.waitUntil(lambda: queue.is_loaded, timeout=10_000)
        return queue

    yield make
    for q in made:
        q.close()
