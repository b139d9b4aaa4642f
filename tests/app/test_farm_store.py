"""Storing a take that came back from the render farm (no Ray needed: the result is made
here): its temp folder is one the start-up debris sweep knows, and a full disk fails the job
as ``disk_full`` (retryable), as for a local take."""

# ruff: noqa: F811 - pytest fixtures imported from jobs_fixtures are parameters here
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from tests.app.jobs_fixtures import repos, tiny_inputs, tiny_request  # noqa: F401


def _worker_and_job(repos, tiny_inputs, tmp_path: Path) -> tuple[Any, Any]:  # noqa: ANN001
    from idlora_studio.library.jobs_repo import JobSpec
    from idlora_studio.workers.farm_worker import FarmWorker, _Active

    _lib, jobs, takes = repos
    (job_id,) = jobs.enqueue(tiny_request(tiny_inputs), JobSpec(model_set="tiny"))
    worker = FarmWorker(jobs, takes, address="127.0.0.1:1", temp_dir=tmp_path / "tmp")
    return worker, _Active("key", None, jobs.get(job_id))


def _result() -> Any:
    from idlora_studio.workers.farm.jobs import FarmResult

    return FarmResult("key", "done", b"mp4", b"wav", b"jpg", recipe={"inputs": {}})


def test_farm_take_on_a_full_disk_fails_as_disk_full(
    repos,
    tiny_inputs,
    tmp_path: Path,
    monkeypatch,  # noqa: ANN001
) -> None:
    from idlora_studio.library.access import TAKE_TEMP_PREFIX

    worker, act = _worker_and_job(repos, tiny_inputs, tmp_path)
    _lib, jobs, takes = repos
    folders: list[str] = []

    def full(files, *_a, **_k):  # noqa: ANN001, ANN202
        folders.append(files.video.parent.name)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(takes, "add_take", full)
    failures: list[tuple[int, str, str]] = []
    worker.failed.connect(lambda j, k, m: failures.append((j, k, m)))
    worker._finish(act, _result())
    assert failures == [(act.job.id, "disk_full", failures[0][2])]
    assert "disk full" in failures[0][2]
    assert jobs.get(act.job.id).state == "failed"
    # the temp folder carried the take prefix and this process (what the sweep looks for)
    assert folders[0].startswith(f"{TAKE_TEMP_PREFIX}{os.getpid()}-")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_farm_take_other_store_error_names_it(
    repos, tiny_inputs, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    worker, act = _worker_and_job(repos, tiny_inputs, tmp_path)
    _lib, _jobs, takes = repos
    monkeypatch.setattr(
        takes, "add_take", lambda *_a, **_k: (_ for _ in ()).throw(ValueError("bad recipe"))
    )
    failures: list[tuple[int, str, str]] = []
    worker.failed.connect(lambda j, k, m: failures.append((j, k, m)))
    worker._finish(act, _result())
    assert failures[0][1] == "other" and "bad recipe" in failures[0][2]
