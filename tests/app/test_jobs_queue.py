"""JobQueue with the real worker thread and the real engine on the built-in tiny model."""

from __future__ import annotations

import time

from PySide6.QtCore import QElapsedTimer, QTimer

from engine.media.video import probe_media
from idlora_studio.library.jobs_repo import JobSpec
from idlora_studio.state.jobs import JobQueue, JobsTableModel, JobState
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)

LONG = 180_000  # a wait, not a timing check: spawn + torch import + tiny model on a loaded CI core


def test_three_takes_through_the_real_worker(make_queue, repos, tiny_inputs, qtbot) -> None:  # noqa: ANN001, F811
    _, jobs, takes = repos
    queue = make_queue()
    table = JobsTableModel(queue)
    finished: list[tuple[int, int]] = []
    progress: list[tuple[int, int, int]] = []
    previews: list[int] = []
    queue.job_finished.connect(lambda j, t: finished.append((j, t)))
    queue.job_progress.connect(lambda j, s, n, _eta: progress.append((j, s, n)))
    queue.job_preview.connect(lambda j, img: previews.append(j) if not img.isNull() else None)
    added: list[int] = []
    queue.enqueue(
        [tiny_request(tiny_inputs, seed=s) for s in (11, 12, 13)],
        JobSpec(model_set="tiny", memory_profile="resident_bf16"),
        on_done=added.extend,
    )
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=LONG * 2)
    assert [j for j, _ in finished] == added  # in queue order, one at a time
    assert table.rowCount() == 3
    done = table.index(0, JobsTableModel.PROGRESS)
    assert table.data(done) == "Finished" and table.data(done, JobsTableModel.FractionRole) == 1.0
    for job_id, take_id in finished:
        assert {(s, n) for j, s, n in progress if j == job_id} == {(1, 2), (2, 2)}
        info = jobs.get(job_id)
        assert info.state == "finished" and info.take_id == take_id and info.attempts == 1
        take = takes.get_take(take_id)
        media = probe_media(take.video_path)
        assert (media.width, media.height, media.num_frames) == (64, 64, 9)
        assert media.audio_codec is not None and take.audio_path.is_file()
        assert take.thumbnail_path.read_bytes()[:2] == b"\xff\xd8"  # JPEG
        assert take.recipe["request"]["seed"] == info.request.seed
        assert take.recipe["effective"]["num_frames"] == 9 and take.seed == info.request.seed
        assert take.recipe["model"]["tiny"] is True
    assert previews  # the live preview reached the GUI thread
    # Different seeds, different pictures.
    hashes = {takes.get_take(t).video_hash for _, t in finished}
    assert len(hashes) == 3


def test_cancel_during_a_run_writes_no_take(make_queue, repos, tiny_inputs, qtbot) -> None:  # noqa: ANN001, F811
    _, jobs, takes = repos
    queue = make_queue()
    cancelled: list[int] = []
    queue.job_cancelled.connect(cancelled.append)
    steps: list[int] = []

    def on_progress(job_id: int, step: int, total: int, eta: float) -> None:
        steps.append(step)
        if step == 1:
            queue.cancel(job_id)

    queue.job_progress.connect(on_progress)
    queue.enqueue(tiny_request(tiny_inputs, seed=1, steps=6), JobSpec(model_set="tiny"))
    qtbot.waitUntil(lambda: bool(cancelled), timeout=LONG)
    job = jobs.get(cancelled[0])
    assert job.state == "cancelled" and job.take_id is None
    assert max(steps) < 6  # stopped within a step or so
    assert takes.list_takes() == []
    qtbot.waitUntil(lambda: queue.job(job.id).state == JobState.CANCELLED, timeout=5000)


def test_queue_survives_reopen_pauses_and_resumes_in_order(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    from tests.app.test_generation_worker import BlockingGenerator

    _, jobs, _ = repos
    # First session: an engine that never finishes, so jobs stay queued behind the first.
    gate = BlockingGenerator()
    first = make_queue(factory=gate.factory)
    added: list[int] = []
    first.enqueue(
        [tiny_request(tiny_inputs, seed=s) for s in (1, 2, 3, 4, 5)], on_done=added.extend
    )
    qtbot.waitUntil(lambda: first.running_job == (added[0] if added else -1), timeout=30_000)
    a, b, c, d, e = added
    first.move(e, -2)  # queued order: b, e, c, d
    qtbot.waitUntil(lambda: first.queued() == [b, e, c, d], timeout=30_000)
    first.close()  # quitting keeps the jobs: the running one goes back to its place
    assert jobs.get(a).state == "queued" and jobs.get(a).progress_step == 0
    assert jobs.queued_ids() == [a, b, e, c, d]
    # Then a later session "died" while b was running.
    jobs.set_state(b, "running")

    second = make_queue(factory=BlockingGenerator().factory)
    assert second.recovered == [b]
    assert second.job(b).state == JobState.INTERRUPTED and second.job(b).error
    # Nothing starts until the user chooses; every job left over is offered.
    assert second.paused and set(second.pending) == {a, b, c, d, e}
    qtbot.wait(300)
    assert second.running_job is None and jobs.get(a).state == "queued"
    table = JobsTableModel(second)
    assert table.data(table.index(0, JobsTableModel.PROGRESS)) == "Queued · paused"
    second.resume_pending()
    qtbot.waitUntil(lambda: second.running_job == a, timeout=30_000)  # resumed, in order
    # (the worker's first job imports the engine before it marks the job running)
    qtbot.waitUntil(lambda: jobs.get(a).state == "running", timeout=30_000)
    assert not second.paused and second.queued() == [b, e, c, d]  # b back in its place
    assert jobs.get(b).state == "queued" and jobs.get(b).error is None
    second.remove(c)
    qtbot.waitUntil(lambda: second.job(c) is None, timeout=30_000)
    assert jobs.queued_ids() == [b, e, d]
    second.cancel(d)  # queued: at once
    assert second.job(d).state == JobState.CANCELLED
    qtbot.waitUntil(lambda: jobs.get(d).state == "cancelled", timeout=30_000)
    second.close(keep_jobs=False)  # quitting and cancelling: nothing is left for next time
    assert {jobs.get(i).state for i in (a, b, e)} == {"cancelled"}


def test_declining_to_resume_cancels_the_queued_jobs(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    from tests.app.test_generation_worker import BlockingGenerator

    _, jobs, _ = repos
    a, b = jobs.enqueue([tiny_request(tiny_inputs, seed=s) for s in (1, 2)])
    jobs.mark_running(a)  # left running by a crash
    queue = make_queue(factory=BlockingGenerator().factory)
    assert queue.paused and queue.pending == [a, b]
    queue.discard_pending()
    qtbot.waitUntil(lambda: not queue.paused, timeout=10_000)
    assert jobs.get(b).state == "cancelled" and jobs.get(a).state == "interrupted"
    # A new job runs at once; the declined ones can still be retried one by one.
    added: list[int] = []
    queue.enqueue(tiny_request(tiny_inputs, seed=3), on_done=added.extend)
    qtbot.waitUntil(lambda: bool(added) and queue.running_job == added[0], timeout=10_000)
    assert queue.job(a).retryable and queue.job(b).retryable


def test_gui_event_loop_keeps_answering_during_generation(
    make_queue,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    queue = make_queue()
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    done: list[int] = []
    queue.job_finished.connect(lambda j, _t: done.append(j))
    t0 = time.monotonic()
    timer.start()
    queue.enqueue(
        [tiny_request(tiny_inputs, seed=s, steps=3) for s in (5, 6)], JobSpec(model_set="tiny")
    )
    qtbot.waitUntil(lambda: len(done) == 2, timeout=LONG * 2)
    timer.stop()
    assert time.monotonic() - t0 > 0.2 and len(gaps) > 10
    assert max(gaps) < 300, f"GUI thread blocked for {max(gaps)} ms"
    assert isinstance(queue, JobQueue)
