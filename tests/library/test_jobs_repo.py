"""JobsRepository / TakesRepository: queue order, life cycle, crash recovery, takes, vary."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.api import GenerationRequest, PromptParts
from idlora_studio.library.jobs_repo import (
    JobSpec,
    JobsRepository,
    JobStateError,
    TakeFiles,
    TakeInUseError,
    TakesRepository,
)


def _req(seed: int) -> GenerationRequest:
    return GenerationRequest(parts=PromptParts(speech=f"take {seed}"), seed=seed, steps=2)


@pytest.fixture
def repos(lib):  # noqa: ANN001, ANN201
    return JobsRepository.from_library(lib), TakesRepository.from_library(lib)


def test_enqueue_order_reorder_remove(repos) -> None:  # noqa: ANN001
    jobs, _ = repos
    a, b, c = jobs.enqueue([_req(1), _req(2), _req(3)], JobSpec(memory_profile="model_offload"))
    assert jobs.queued_ids() == [a, b, c]
    info = jobs.get(b)
    assert info.state == "queued" and info.request == _req(2)
    assert info.memory_profile == "model_offload" and info.prompt_summary == "take 2"
    assert jobs.reorder(c, 0) == [c, a, b]
    assert jobs.queued_ids() == [c, a, b]
    assert jobs.reorder(c, 99) == [a, b, c]
    jobs.remove(b)
    assert jobs.queued_ids() == [a, c]
    # A job enqueued later goes last.
    (d,) = jobs.enqueue(_req(4))
    assert jobs.queued_ids() == [a, c, d]


def test_life_cycle_is_conditional(repos) -> None:  # noqa: ANN001
    jobs, _ = repos
    a, b = jobs.enqueue([_req(1), _req(2)])
    assert jobs.cancel_queued(b)
    assert not jobs.mark_running(b)  # cancelled in the queue: never runs
    assert jobs.mark_running(a)
    with pytest.raises(JobStateError):
        jobs.remove(a)
    with pytest.raises(JobStateError):
        jobs.reorder(a, 0)
    assert jobs.progress(a, 1, 10)  # first step: written
    assert not jobs.progress(a, 2, 10)  # throttled
    assert jobs.progress(a, 10, 10)  # last step: written
    assert jobs.get(a).progress_step == 10
    assert jobs.failed(a, "oom", "out of memory", suggested_profile="fp8_weights")
    info = jobs.get(a)
    assert (info.state, info.error_kind, info.suggested_profile) == ("failed", "oom", "fp8_weights")
    assert info.attempts == 1 and info.retryable
    assert not jobs.finished(a, 1)  # a failed job is not turned into finished
    again = jobs.retry(a, memory_profile="fp8_weights")
    assert again.state == "queued" and again.memory_profile == "fp8_weights"
    assert again.error is None and again.progress_step == 0
    assert jobs.queued_ids() == [a]


def test_recover_after_crash(repos) -> None:  # noqa: ANN001
    jobs, _ = repos
    a, b = jobs.enqueue([_req(1), _req(2)])
    jobs.mark_running(a)
    assert jobs.recover_after_crash() == [a]
    info = jobs.get(a)
    assert info.state == "interrupted" and "stopped" in (info.error or "")
    assert jobs.get(b).state == "queued"
    assert jobs.recover_after_crash() == []


def _files(tmp_path: Path, tag: bytes) -> TakeFiles:
    v, a, t = tmp_path / "v.mp4", tmp_path / "a.wav", tmp_path / "t.jpg"
    v.write_bytes(b"video" + tag)
    a.write_bytes(b"audio" + tag)
    t.write_bytes(b"thumb" + tag)
    return TakeFiles(v, a, t)


def _recipe(req: GenerationRequest) -> dict:
    return {
        "request": req.to_dict(),
        "effective": {"seed": req.seed},
        "output": {"width": 64, "height": 64, "num_frames": 9, "fps": 25.0, "duration_s": 0.36},
        "timings": {"total": 1.5},
    }


def test_takes_store_media_finish_job_vary_rerun_delete(repos, lib, tmp_path, paths) -> None:  # noqa: ANN001
    jobs, takes = repos
    (job,) = jobs.enqueue(_req(5), JobSpec(model_set="tiny", memory_profile="resident_bf16"))
    jobs.mark_running(job)
    take_id = takes.add_take(
        _files(tmp_path, b"1"),
        _recipe(_req(5)),
        job_id=job,
        spec=JobSpec(model_set="tiny", memory_profile="resident_bf16"),
    )
    info = jobs.get(job)
    assert info.state == "finished" and info.take_id == take_id
    t = takes.get_take(take_id)
    assert t.video_path.read_bytes() == b"video1" and t.audio_path.read_bytes() == b"audio1"
    assert t.thumbnail_path.read_bytes() == b"thumb1"
    assert (t.width, t.height, t.num_frames, t.seed) == (64, 64, 9, 5)
    assert t.timings == {"total": 1.5} and t.request == _req(5)
    assert takes.recipe(take_id)["output"]["sha256"] == t.video_hash
    # The library's garbage collection keeps take media (media-ref columns).
    lib.collect_garbage()
    assert t.video_path.is_file()

    varied = takes.vary(take_id, 99)
    assert varied.seed == 99 and varied == GenerationRequest.from_dict(
        {**_req(5).to_dict(), "seed": 99}
    )
    assert takes.vary(take_id).seed != 5
    rerun = takes.rerun(take_id, jobs)
    r = jobs.get(rerun)
    assert r.state == "queued" and r.request == _req(5) and r.memory_profile == "resident_bf16"

    # A take on a timeline cannot be deleted; off the timeline it goes with its media.
    con = sqlite3.connect(paths.db_path)
    with con:
        con.execute(
            "INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'P', '2024-01-01', '2024-01-01')"
        )
        con.execute(
            "INSERT INTO timeline_clips (project_id, take_id, track, position_frames, in_frame, "
            "out_frame) VALUES (1, ?, 0, 0, 0, 9)",
            (take_id,),
        )
    with pytest.raises(TakeInUseError):
        takes.delete_take(take_id)
    with con:
        con.execute("DELETE FROM timeline_clips")
    con.close()
    takes.delete_take(take_id)
    assert takes.list_takes() == []
    assert not t.video_path.exists() and not t.audio_path.exists()
    assert jobs.get(job).take_id is None


def test_list_takes_by_identity(repos, lib, tmp_path) -> None:  # noqa: ANN001
    _, takes = repos
    iid = lib.create_identity("Bea")
    a = takes.add_take(_files(tmp_path, b"a"), _recipe(_req(1)), spec=JobSpec(identity_id=iid))
    b = takes.add_take(_files(tmp_path, b"b"), _recipe(_req(2)))
    assert [t.id for t in takes.list_takes()] == [b, a]
    assert [t.id for t in takes.list_takes(identity_id=iid)] == [a]
    assert json.loads(json.dumps(takes.recipe(a)))["request"]["seed"] == 1
