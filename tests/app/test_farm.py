"""The render farm on a local Ray instance (loopback only): two queued tiny jobs come back as
takes with their recipes, a worker killed mid-take is retried elsewhere and the take is made
once, cancel reaches the cluster, and the CLI's ``--jobs FILE --ray ADDRESS`` writes clips.

One Ray instance serves the whole module (Ray takes seconds to start): 2 CPUs, 2 logical GPUs
(the tasks ask for one GPU each, as on a real cluster; torch then runs on the CPU), no
dashboard, a small object store.
"""

# ruff: noqa: F811 - pytest fixtures imported from jobs_fixtures are parameters here
from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from tests.app.jobs_fixtures import (  # noqa: E402, F401
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)


@pytest.fixture(scope="module")
def ray_address(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_models_dir: Path,  # noqa: F811
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("farm-node")
    env = {
        "IDLORA_FARM_HOME": str(home),
        "IDLORA_FARM_MODELS": str(tiny_models_dir),  # the tiny model, built once
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the Ray workers inherit it
    ray.init(
        num_cpus=2,
        num_gpus=2,
        include_dashboard=False,
        object_store_memory=100 * 1024 * 1024,
        log_to_driver=False,
        logging_level="ERROR",
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def farm_queue(repos, paths, ray_address, qtbot) -> Iterator[Any]:  # noqa: ANN001, F811
    from idlora_studio.state.jobs import JobQueue
    from idlora_studio.workers.farm_worker import FarmWorker
    from idlora_studio.workers.tasks import TaskRunner

    _lib, jobs, takes = repos
    worker = FarmWorker(jobs, takes, address=ray_address, temp_dir=paths.cache_dir / "tmp")
    queue = JobQueue(jobs, takes, TaskRunner(max_threads=1), worker)
    qtbot.waitUntil(lambda: queue.is_loaded, timeout=10_000)
    yield queue
    queue.close()


def _wait_ended(qtbot, queue, ids: list[int], timeout_s: float = 150) -> None:  # noqa: ANN001
    ended = {"finished", "failed", "cancelled"}
    qtbot.waitUntil(
        lambda: all(queue.job(i) is not None and queue.job(i).state in ended for i in ids),
        timeout=int(timeout_s * 1000),
    )


def test_two_jobs_come_back_as_takes_with_recipes(
    farm_queue,
    repos,
    tiny_inputs,
    qtbot,  # noqa: ANN001, F811
) -> None:
    from idlora_studio.library.jobs_repo import JobSpec

    _lib, _jobs, takes = repos
    ids: list[int] = []
    progress: list[tuple[int, int, int]] = []
    farm_queue.job_progress.connect(lambda j, s, t, _e: progress.append((j, s, t)))
    farm_queue.enqueue(
        [tiny_request(tiny_inputs, seed=1), tiny_request(tiny_inputs, seed=2)],
        JobSpec(model_set="tiny"),
        on_done=ids.extend,
    )
    qtbot.waitUntil(lambda: len(ids) == 2, timeout=10_000)
    # two logical GPUs, one per job: both are handed to the cluster at once
    qtbot.waitUntil(lambda: len(farm_queue.running_jobs()) == 2, timeout=60_000)
    _wait_ended(qtbot, farm_queue, ids)
    img, wav = tiny_inputs
    for job_id, seed in zip(ids, (1, 2), strict=True):
        job = farm_queue.job(job_id)
        assert job.state == "finished", (job.state, job.error)
        take = takes.get_take(job.take_id)
        recipe = takes.recipe(job.take_id)
        assert recipe["effective"]["seed"] == seed
        # the recipe names the Studio's own inputs (same content the cluster used)
        assert Path(recipe["request"]["image"]) == img and Path(recipe["request"]["voice"]) == wav
        assert Path(recipe["inputs"]["voice"]["path"]) == wav.resolve()
        assert recipe["farm"]["attempt"] == 1
        assert take.voice_match is not None
        assert takes.store.path(take.video_hash).is_file()
    assert {j for j, _s, _t in progress} == set(ids)  # progress of both came back
    # the inputs travelled once: both jobs share the image and the voice
    client = farm_queue._worker._client
    assert client.cache_stats()["files"] == 2


def test_lost_worker_is_retried_and_the_take_made_once(
    farm_queue,
    repos,
    tiny_inputs,
    qtbot,  # noqa: ANN001, F811
) -> None:
    from idlora_studio.library.jobs_repo import JobSpec

    _lib, _jobs, takes = repos
    before = len(takes.list_takes())
    ids: list[int] = []
    farm_queue.enqueue(
        tiny_request(tiny_inputs, seed=7, steps=60), JobSpec(model_set="tiny"), on_done=ids.extend
    )
    qtbot.waitUntil(lambda: len(ids) == 1, timeout=10_000)
    worker = farm_queue._worker
    qtbot.waitUntil(lambda: worker._client is not None, timeout=60_000)
    client = worker._client

    def first_attempt_denoising() -> dict | None:
        for entry in client.progress().values():
            if entry.get("attempts") == 1 and entry.get("step", 0) >= 1:
                return entry
        return None

    qtbot.waitUntil(lambda: first_attempt_denoising() is not None, timeout=120_000)
    entry = first_attempt_denoising()
    os.kill(int(entry["pid"]), signal.SIGKILL)  # the Ray worker process running the take
    _wait_ended(qtbot, farm_queue, ids, timeout_s=180)
    job = farm_queue.job(ids[0])
    assert job.state == "finished", (job.state, job.error)
    recipe = takes.recipe(job.take_id)
    assert recipe["farm"]["attempt"] == 2
    assert recipe["effective"]["steps"] == 60
    assert len(takes.list_takes()) == before + 1  # once, not a half take and a whole one


def test_cancel_reaches_the_cluster(farm_queue, repos, tiny_inputs, qtbot) -> None:  # noqa: ANN001, F811
    from idlora_studio.library.jobs_repo import JobSpec

    ids: list[int] = []
    farm_queue.enqueue(
        tiny_request(tiny_inputs, seed=9, steps=200), JobSpec(model_set="tiny"), on_done=ids.extend
    )
    qtbot.waitUntil(lambda: len(ids) == 1, timeout=10_000)
    job_id = ids[0]
    qtbot.waitUntil(lambda: (farm_queue.job(job_id).progress_step or 0) >= 1, timeout=120_000)
    t0 = time.monotonic()
    farm_queue.cancel(job_id)
    _wait_ended(qtbot, farm_queue, ids, timeout_s=60)
    assert farm_queue.job(job_id).state == "cancelled"
    assert farm_queue.job(job_id).take_id is None
    assert time.monotonic() - t0 < 30


def test_cli_jobs_on_the_farm(ray_address, tiny_inputs, tmp_path: Path, capsys) -> None:  # noqa: F811
    from idlora_studio.cli import main

    img, wav = tiny_inputs
    jobs = [
        {
            "prompt": "[VISUAL]: a person talks [SPEECH]: one",
            "reference_path": str(wav),
            "first_frame_path": str(img),
            "output_name": "one.mp4",
            "voice_window": "full",
        },
        {
            "prompt": "[VISUAL]: a person talks [SPEECH]: two",
            "reference_path": str(wav),
            "first_frame_path": str(img),
            "output_name": "two.mp4",
            "voice_window": "full",
        },
    ]
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            "--model",
            "tiny",
            "--jobs",
            str(jobs_file),
            "--out-dir",
            str(out),
            "--width",
            "64",
            "--height",
            "64",
            "--frames",
            "9",
            "--steps",
            "2",
            "--seed",
            "4",
            "--ray",
            ray_address,
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for name, seed in (("one", 4), ("two", 5)):
        assert (out / f"{name}.mp4").stat().st_size > 0
        recipe = json.loads((out / f"{name}.json").read_text())
        assert recipe["effective"]["seed"] == seed
        assert recipe["output"]["file"] == f"{name}.mp4"
        assert Path(recipe["request"]["image"]) == img
    report = (out / "batch_report.csv").read_text()
    assert report.count(",done,") == 2
    assert "2 of 2 jobs done" in captured.err
