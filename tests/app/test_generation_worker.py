"""GenerationWorker on its QThread: real tiny engine, errors mapped to kinds, idle release."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.api import Cancelled, GenerationRequest, OutOfMemoryError
from idlora_studio.library.jobs_repo import JobSpec
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)

LONG = 180_000  # a wait, not a timing check: spawn + torch import + tiny model on a loaded CI core


class _Trigger(QObject):
    go = Signal(int)


class BlockingGenerator:
    """Stands in for IDLoRAGenerator: each generate blocks until released or cancelled."""

    def __init__(self) -> None:
        self._go = threading.Event()
        self.loads: list[dict[str, Any]] = []

    def factory(self, model: Any, lora: Any = None, **kw: Any) -> BlockingGenerator:
        self.loads.append({"model": model, "lora": lora, **kw})
        return self

    def release(self) -> None:
        self._go.set()

    def generate(self, request: GenerationRequest, progress: Any = None, cancel: Any = None) -> Any:
        while not self._go.wait(0.01):
            if cancel is not None and cancel.cancelled:
                raise Cancelled("cancelled")
        raise Cancelled("released")  # never produces a take

    def model_info(self) -> dict[str, Any]:
        return {"memory_profile": "resident_bf16"}

    def close(self) -> None:
        pass


class OOMGenerator(BlockingGenerator):
    def generate(self, request: GenerationRequest, progress: Any = None, cancel: Any = None) -> Any:
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB", profile=None)


def test_out_of_memory_names_the_lighter_profile_and_retry_uses_it(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    from engine.memory import lighter_profile

    _, jobs, _ = repos
    fake = OOMGenerator()
    queue = make_queue(factory=fake.factory)
    failures: list[tuple[int, str, str]] = []
    queue.job_failed.connect(lambda j, k, m: failures.append((j, k, m)))
    queue.enqueue(
        tiny_request(tiny_inputs), JobSpec(model_set="tiny", memory_profile="resident_bf16")
    )
    qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    job_id, kind, message = failures[0]
    lighter = lighter_profile("resident_bf16")
    assert kind == "oom" and lighter and lighter in message and "resident_bf16" in message
    qtbot.waitUntil(lambda: queue.job(job_id).suggested_profile == lighter, timeout=5000)
    assert jobs.get(job_id).state == "failed"
    assert fake.loads[0]["memory_profile"] == "resident_bf16"
    queue.retry(job_id, lighter=True)
    # Requeued with the lighter profile; the worker reloads the model with it (and fails again).
    qtbot.waitUntil(lambda: len(failures) == 2, timeout=10_000)
    assert fake.loads[-1]["memory_profile"] == lighter
    assert jobs.get(job_id).memory_profile == lighter and jobs.get(job_id).attempts == 2


def test_unreadable_voice_clip_is_a_media_failure_in_words(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    tmp_path: Path,
    qtbot,  # noqa: ANN001
) -> None:
    bad = tmp_path / "voice-broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    req = GenerationRequest.from_dict({**tiny_request(tiny_inputs).to_dict(), "voice": str(bad)})
    queue = make_queue()
    failures: list[tuple[int, str, str]] = []
    queue.job_failed.connect(lambda j, k, m: failures.append((j, k, m)))
    queue.enqueue(req, JobSpec(model_set="tiny"))
    qtbot.waitUntil(lambda: bool(failures), timeout=LONG)
    _, kind, message = failures[0]
    assert kind == "media"
    assert message.startswith("The reference voice clip voice-broken.wav cannot be read")


def test_missing_model_set_files(make_queue, tiny_inputs, qtbot) -> None:  # noqa: ANN001, F811
    queue = make_queue()
    failures: list[tuple[int, str, str]] = []
    queue.job_failed.connect(lambda j, k, m: failures.append((j, k, m)))
    queue.enqueue(tiny_request(tiny_inputs), JobSpec(model_set="ltx2-celebvhq"))
    qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
    assert failures[0][1] == "missing_model" and "model manager" in failures[0][2]


def test_real_take_then_vary_and_idle_release(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    _, jobs, takes = repos
    queue = make_queue(idle_release_s=0.3)
    worker = queue._worker  # noqa: SLF001 - inspecting the cache
    with qtbot.waitSignal(worker.model_released, timeout=LONG):
        with qtbot.waitSignal(queue.job_finished, timeout=LONG) as blocker:
            queue.enqueue(tiny_request(tiny_inputs, seed=21), JobSpec(model_set="tiny"))
        _, take_id = blocker.args
        assert worker.generator_key is not None and worker.generator_key.model_set == "tiny"
    assert worker.generator_key is None  # released after the idle period
    take = takes.get_take(take_id)
    varied = takes.vary(take_id, 77)
    assert varied.seed == 77
    assert {**varied.to_dict(), "seed": 21} == take.recipe["request"]
    # Queue the variation and the same recipe again.
    with qtbot.waitSignal(queue.job_finished, timeout=LONG) as blocker:
        queue.vary(take_id, seeds=[77])
    new = takes.get_take(blocker.args[1])
    assert new.seed == 77 and new.video_hash != take.video_hash
    with qtbot.waitSignal(queue.job_finished, timeout=LONG) as blocker:
        queue.rerun(take_id)
    again = takes.get_take(blocker.args[1])
    # Same recipe, same output: the engine's frames and audio are bit-identical (the WAV is),
    # but libx264 in this worker thread was seen to encode identical frames differently from
    # one take to the next (packet sizes differ from the third frame on; see the CLI
    # end-to-end test), so the MP4 is compared decoded, by PSNR.
    assert again.seed == 21 and again.audio_hash == take.audio_hash
    from engine.media.video import read_video

    first, _ = read_video(take.video_path)
    second, _ = read_video(again.video_path)
    mse = np.mean((first.astype(np.float64) - second.astype(np.float64)) ** 2)
    assert mse == 0 or 10 * np.log10(255**2 / mse) > 30
    assert jobs.get(again.job_id).request == take.request


def test_cancel_before_start_skips_the_job(repos, tiny_models_dir, paths, qtbot) -> None:  # noqa: ANN001, F811
    from idlora_studio.workers.generation_worker import GenerationWorker, start_worker

    _, jobs, takes = repos
    (job_id,) = jobs.enqueue(GenerationRequest(prompt="x"))
    worker = GenerationWorker(
        jobs, takes, models_dir=tiny_models_dir, temp_dir=paths.cache_dir / "tmp"
    )
    worker.cancel(job_id)
    thread = start_worker(worker)
    trigger = _Trigger()
    trigger.go.connect(worker.run_job)  # queued: the worker lives on its thread
    try:
        with qtbot.waitSignal(worker.cancelled, timeout=10_000) as blocker:
            trigger.go.emit(job_id)
        assert blocker.args == [job_id]
        assert jobs.get(job_id).state == "cancelled" and jobs.get(job_id).attempts == 0
    finally:
        thread.quit()
        thread.wait()


def test_warm_up_starts_the_engine_process(
    make_queue,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    """JobQueue.warm_up has the worker start the engine's own process (torch/diffusers are
    imported there, not in the GUI's process) and says so with engine_ready."""
    import os

    queue = make_queue()
    worker = queue._worker  # noqa: SLF001 - inspecting the worker
    assert worker.engine_pid is None  # nothing starts before it is asked for
    ready: list[bool] = []
    queue.engine_ready.connect(lambda: ready.append(True))
    queue.warm_up()
    qtbot.waitUntil(lambda: bool(ready), timeout=LONG)
    assert worker.engine_pid not in (None, os.getpid())
    assert worker._warm  # noqa: SLF001 - once per worker


class InstantGenerator(BlockingGenerator):
    """Records every load; each job ends at once (cancelled), so no take is stored."""

    def generate(self, request: GenerationRequest, progress: Any = None, cancel: Any = None) -> Any:
        raise Cancelled("done")


def test_single_file_sets_get_their_base_and_pipelines_their_parts(
    make_queue,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    tmp_path: Path,
    qtbot,  # noqa: ANN001
) -> None:
    import dataclasses

    from engine.models.local_sources import LocalSource, LocalSources

    config = tmp_path / "config"
    ckpt, base, lora = tmp_path / "ltx-2.3-22b-dev.safetensors", tmp_path / "base", tmp_path / "l"
    up, dist = tmp_path / "up.safetensors", tmp_path / "dist.safetensors"
    local = LocalSources.load(config)
    local.set(LocalSource("ltx2.3-celebvhq-3k", "single-file", ckpt, base, lora, up, dist))
    local.set(LocalSource("ltx2-talkvid", "diffusers-folder", tmp_path / "ltx2", None, lora))
    fake = InstantGenerator()
    queue = make_queue(factory=fake.factory, config_dir=config)
    ended: list[int] = []
    failures: list[tuple[int, str, str]] = []
    queue.job_cancelled.connect(ended.append)
    queue.job_failed.connect(lambda j, k, m: failures.append((j, k, m)))
    req = tiny_request(tiny_inputs)

    def run(pipeline: str, model_set: str) -> None:
        n = len(ended) + len(failures)
        queue.enqueue(dataclasses.replace(req, pipeline=pipeline), JobSpec(model_set=model_set))
        qtbot.waitUntil(lambda: len(ended) + len(failures) > n, timeout=LONG)

    run("one-stage", "ltx2.3-celebvhq-3k")
    # a single-file set is queued like a folder: the checkpoint, with its base
    assert fake.loads[0]["model"] == str(ckpt) and fake.loads[0]["base"] == base
    assert fake.loads[0]["lora"] == lora
    assert "upsampler" not in fake.loads[0] and "distilled_lora" not in fake.loads[0]
    run("hq", "ltx2.3-celebvhq-3k")
    assert len(fake.loads) == 2  # reloaded with the parts HQ needs
    assert fake.loads[1]["upsampler"] == up and fake.loads[1]["distilled_lora"] == dist
    run("fast", "ltx2.3-celebvhq-3k")
    run("one-stage", "ltx2.3-celebvhq-3k")
    assert len(fake.loads) == 2  # the loaded generator serves every pipeline
    # a set without the upsampler cannot run two-stage: a clear failure, nothing loaded
    run("two-stage", "ltx2-talkvid")
    assert len(fake.loads) == 2
    _, kind, message = failures[-1]
    assert kind == "missing_model" and "spatial upsampler" in message
    assert "distilled LoRA" in message and "Use files on disk" in message


def test_retry_of_the_running_job_does_not_run_it_twice(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    _, jobs, _ = repos
    fake = BlockingGenerator()
    queue = make_queue(factory=fake.factory)
    errors: list[str] = []
    queue.error.connect(errors.append)
    queue.enqueue(tiny_request(tiny_inputs), JobSpec(model_set="tiny"))
    qtbot.waitUntil(lambda: bool(queue.running_jobs()), timeout=LONG)
    (job_id,) = queue.running_jobs()
    qtbot.waitUntil(lambda: jobs.get(job_id).state == "running", timeout=LONG)
    queue.retry(job_id)  # e.g. a stale Retry button while the worker has it
    qtbot.waitUntil(lambda: bool(errors), timeout=LONG)
    assert "only ended jobs can be retried" in errors[0]
    assert jobs.get(job_id).state == "running" and jobs.get(job_id).attempts == 1
    assert queue.queued() == []
    fake.release()
