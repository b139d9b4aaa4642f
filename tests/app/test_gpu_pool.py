"""Job parallel in the Studio's queue: ``GPUWorkerPool`` runs one job per device at once, cancel
reaches the worker that has the job, a plan change applies when the pool is idle; the plan
follows the settings (fake GPUs). The generator is scripted here; the real tiny engine runs
through the same worker in test_jobs_queue / test_generation_worker."""

# ruff: noqa: F811 - pytest fixtures imported from jobs_fixtures are parameters here
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from engine.api import Cancelled, GenerationRequest, GenerationResult
from engine.distributed.strategy import GPU, ScalePlan
from idlora_studio.library.jobs_repo import JobSpec
from tests.app.jobs_fixtures import repos, tiny_inputs, tiny_request  # noqa: F401

GIB = 1024**3


class GatedGenerator:
    """One per device: each take waits for its gate, then returns a tiny result."""

    def __init__(self, device: str, log: list[tuple[str, str, int]], gates: dict) -> None:
        self.device = device
        self.log = log
        self.gates = gates

    def generate(self, request: GenerationRequest, progress: Any = None, cancel: Any = None):
        self.log.append(("start", self.device, request.seed))
        gate = self.gates.setdefault(request.seed, threading.Event())
        while not gate.wait(0.01):
            if cancel is not None and cancel.cancelled:
                self.log.append(("cancelled", self.device, request.seed))
                raise Cancelled("cancelled")
        frames = np.full((9, 64, 64, 3), request.seed * 10 % 255, dtype=np.uint8)
        audio = np.zeros((2, 24000 * 9 // 25), dtype=np.float32)
        return GenerationResult(
            frames, audio, 24000, 25.0, {"seed": request.seed, "width": 64, "height": 64}, {}
        )

    def model_info(self) -> dict[str, Any]:
        return {"memory_profile": "resident_bf16", "device": self.device}

    def close(self) -> None:
        pass


@pytest.fixture
def pool_queue(repos, paths, qtbot):
    from idlora_studio.state.jobs import JobQueue
    from idlora_studio.workers.gpu_pool import GPUWorkerPool
    from idlora_studio.workers.tasks import TaskRunner

    _lib, jobs, takes = repos
    log: list[tuple[str, str, int]] = []
    gates: dict[int, threading.Event] = {}
    state = {"plan": ScalePlan("jobs", ("cpu:a", "cpu:b"), "test: two devices")}

    def factory(model: Any, lora: Any = None, *, device: str | None = None, **_kw: Any):
        return GatedGenerator(device or "?", log, gates)

    pool = GPUWorkerPool(
        jobs,
        takes,
        plan_fn=lambda: state["plan"],
        models_dir=paths.models_dir,
        temp_dir=paths.cache_dir / "tmp",
        factory=factory,
    )
    plans: list[tuple[str, str]] = []
    pool.plan_changed.connect(lambda m, r: plans.append((m, r)))
    queue = JobQueue(jobs, takes, TaskRunner(max_threads=1), pool)
    qtbot.waitUntil(lambda: queue.is_loaded, timeout=10_000)
    yield queue, pool, log, gates, state, plans
    for gate in gates.values():
        gate.set()
    queue.close()


def test_one_job_per_device_at_once(pool_queue, repos, tiny_inputs, qtbot) -> None:
    queue, pool, log, gates, _state, plans = pool_queue
    _lib, _jobs, takes = repos
    ids: list[int] = []
    queue.enqueue(
        [tiny_request(tiny_inputs, seed=s) for s in (1, 2, 3)],
        JobSpec(model_set="tiny"),
        on_done=ids.extend,
    )
    qtbot.waitUntil(lambda: len([e for e in log if e[0] == "start"]) == 2, timeout=20_000)
    assert queue.capacity == 2 and len(queue.running_jobs()) == 2
    started = [e for e in log if e[0] == "start"]
    assert {d for _k, d, _s in started} == {"cpu:a", "cpu:b"}  # each on its own device
    assert {s for _k, _d, s in started} == {1, 2}  # the third waits for a free device
    assert plans and plans[0][0] == "jobs"
    # cancel the second job: only its device's worker stops
    queue.cancel(ids[1])
    qtbot.waitUntil(lambda: queue.job(ids[1]).state == "cancelled", timeout=20_000)
    assert ("cancelled", dict((s, d) for _k, d, s in started)[2], 2) in log
    qtbot.waitUntil(lambda: any(e == ("start", e[1], 3) for e in log), timeout=20_000)
    assert queue.job(ids[0]).state == "running"
    for seed in (1, 3):
        gates.setdefault(seed, threading.Event()).set()
    qtbot.waitUntil(
        lambda: all(queue.job(i).state == "finished" for i in (ids[0], ids[2])), timeout=30_000
    )
    for i in (ids[0], ids[2]):
        take = takes.get_take(queue.job(i).take_id)
        assert takes.recipe(take.id)["model"]["device"] in ("cpu:a", "cpu:b")


def test_plan_change_applies_when_idle(pool_queue, tiny_inputs, qtbot) -> None:
    queue, pool, log, gates, state, plans = pool_queue
    ids: list[int] = []
    gates[5] = threading.Event()
    gates[5].set()
    queue.enqueue(tiny_request(tiny_inputs, seed=5), JobSpec(model_set="tiny"), on_done=ids.extend)
    qtbot.waitUntil(lambda: bool(ids) and queue.job(ids[0]).state == "finished", timeout=30_000)
    assert queue.capacity == 2
    state["plan"] = ScalePlan("single", ("cpu:a",), "test: one device")
    gates[6] = threading.Event()
    gates[6].set()
    queue.enqueue(tiny_request(tiny_inputs, seed=6), JobSpec(model_set="tiny"), on_done=ids.extend)
    qtbot.waitUntil(lambda: len(ids) == 2 and queue.job(ids[1]).state == "finished", timeout=30_000)
    assert queue.capacity == 1 and plans[-1] == ("single", "test: one device")


def test_plan_follows_the_settings(tmp_path) -> None:
    from idlora_studio.settings import Settings
    from idlora_studio.workers.worker_choice import plan_from_settings

    settings = Settings(tmp_path / "s.json")
    h200 = [GPU(0, "NVIDIA H200", 139 * GIB), GPU(1, "NVIDIA H200", 139 * GIB)]
    auto = plan_from_settings(settings, h200)
    assert auto.mode == "jobs" and auto.devices == ("cuda:0", "cuda:1") and auto.capacity == 2
    settings.set("parallel_mode", "passes")
    chosen = plan_from_settings(settings, h200)
    assert (chosen.mode, chosen.capacity) == ("passes", 1)
    settings.set("gpus", "1")
    one = plan_from_settings(settings, h200)
    assert one.mode == "single" and one.devices == ("cuda:1",) and "needs two" in one.reason
    settings.set("gpus", "0,x")  # a hand-edited file: all GPUs
    assert plan_from_settings(settings, h200).devices == ("cuda:0", "cuda:1")
    assert plan_from_settings(settings, []).mode == "single"


def test_auto_plan_by_memory() -> None:
    from engine.distributed.strategy import describe_gpus, plan

    small = [GPU(0, "Small", 12 * GIB), GPU(1, "Small", 12 * GIB)]
    h100 = [GPU(0, "H100", 80 * GIB), GPU(1, "H100", 80 * GIB)]
    big = [GPU(0, "Big", 139 * GIB), GPU(1, "Big", 139 * GIB)]
    assert plan(big).mode == "jobs"
    assert plan(h100).mode == "jobs"  # a 512x512x121 take fits an 80 GiB card
    # the weights fit, a long 1024x576x241 take does not: split its tokens
    long_take = plan(h100, width=1024, height=576, frames=241)
    assert long_take.mode == "sequence" and "split across the 2 GPUs" in long_take.reason
    assert plan(small).mode == "jobs" and "lighter memory profile" in plan(small).reason
    assert describe_gpus(big) == "2 x Big (139 GiB each)" and describe_gpus([]) == "no CUDA GPU"
    with pytest.raises(ValueError, match="not one of"):
        plan(big, "spiral")
