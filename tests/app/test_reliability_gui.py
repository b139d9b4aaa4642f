"""The window and its queue with a read-only library, a full disk and out-of-bounds values.

* a read-only library opens with a banner saying why and what still works; nothing fails at
  start, and the Generate page says why takes cannot be queued;
* a job whose take cannot be stored because the disk is full fails as "disk full" with the
  folder and size, and stays retryable -- even when its failure itself cannot be recorded;
* the queue refuses a request with a non-finite or out-of-bounds value, naming it.
"""

from __future__ import annotations

import contextlib
import errno
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from engine.api import GenerationResult
from idlora_studio.library.jobs_repo import JobSpec
from tests.app.jobs_fixtures import (  # noqa: F401 - fixtures
    make_queue,
    repos,
    tiny_inputs,
    tiny_models_dir,
    tiny_request,
)
from tests.library.test_bundle import make_project


def test_read_only_library_opens_with_a_banner(qtbot, paths, settings, tmp_path) -> None:  # noqa: ANN001
    from idlora_studio.app import READ_ONLY_BANNER, build_main_window
    from idlora_studio.library import Library

    with Library.open(paths) as lib:
        make_project(lib, tmp_path / "m", name="Promo")
    library = Library.open(paths, read_only=True)
    try:
        window = build_main_window(paths, settings, library)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.state.loaded, timeout=10_000)
        banner = window.banners.banner(READ_ONLY_BANNER)
        assert banner is not None and banner.isVisible()
        assert "read-only" in banner.text() and "render and export" in banner.text()
        form = window.generate_panel.form
        qtbot.waitUntil(lambda: not form.queue_button.isEnabled(), timeout=5000)
        assert "the library is open read-only" in form.problems()["library"]
        assert len(window.state.summaries) == 3  # browsing works
        qtbot.wait(300)
        assert not window.notice.isVisible(), window.notice.text()  # nothing failed at start
    finally:
        window.shutdown()
        library.close()


class _Result:
    """A generator that makes a tiny real result (no model)."""

    def factory(self, *_a: Any, **_k: Any) -> _Result:
        return self

    def generate(self, request: Any, progress: Any = None, cancel: Any = None) -> Any:
        frames = np.zeros((9, 64, 64, 3), np.uint8)
        audio = np.zeros((2, 24_000), np.float32)
        return GenerationResult(frames, audio, 24_000, 25.0, {"seed": request.seed}, {})

    def model_info(self) -> dict[str, Any]:
        return {"memory_profile": "resident_bf16"}

    def close(self) -> None:
        pass


def test_take_on_a_full_disk_fails_as_disk_full_and_can_be_retried(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    paths,  # noqa: ANN001
    qtbot,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    import idlora_studio.library.store as store_module

    _, jobs, takes = repos
    real_atomic = store_module.atomic_path

    @contextlib.contextmanager
    def no_space(target: Path, suffix: str | None = None) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))
        yield  # pragma: no cover

    monkeypatch.setattr(store_module, "atomic_path", no_space)
    # the failure record itself cannot be written either (the database is on the same disk)
    real_failed = jobs.failed
    monkeypatch.setattr(
        jobs, "failed", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full"))
    )
    queue = make_queue(factory=_Result().factory)
    failures: list[tuple[int, str, str]] = []
    queue.job_failed.connect(lambda j, k, m: failures.append((j, k, m)))
    queue.enqueue(tiny_request(tiny_inputs), JobSpec(model_set="tiny"))
    qtbot.waitUntil(lambda: bool(failures), timeout=30_000)
    job_id, kind, message = failures[0]
    assert kind == "disk_full"
    assert re.search(rf"disk full: \d+ MB needed in {re.escape(str(paths.media_dir))}", message)
    assert "unexpected" not in message
    assert jobs.get(job_id).state == "running"  # its failure could not be recorded
    assert takes.list_takes() == []
    assert list((paths.cache_dir / "tmp").iterdir()) == []  # the take's temp folder is gone

    # space freed: Retry runs it again and the take is stored
    monkeypatch.setattr(store_module, "atomic_path", real_atomic)
    monkeypatch.setattr(jobs, "failed", real_failed)
    finished: list[int] = []
    queue.job_finished.connect(lambda j, t: finished.append(t))
    queue.retry(job_id)
    qtbot.waitUntil(lambda: bool(finished), timeout=30_000)
    assert jobs.get(job_id).state == "finished" and len(takes.list_takes()) == 1


def test_queue_refuses_non_finite_and_out_of_bounds_values(
    make_queue,  # noqa: ANN001, F811
    repos,  # noqa: ANN001, F811
    tiny_inputs,  # noqa: ANN001, F811
    qtbot,  # noqa: ANN001
) -> None:
    import dataclasses

    _, jobs, _ = repos
    queue = make_queue(factory=_Result().factory)
    errors: list[str] = []
    queue.error.connect(errors.append)
    base = tiny_request(tiny_inputs)
    for bad, text in (
        ({"video_cfg": math.nan}, "video cfg is nan: it must be a finite number"),
        ({"steps": 10**9}, "steps 1000000000 is outside 1 to 200"),
        ({"width": 100_000}, "width 100000 is outside 32 to 2048 px"),
    ):
        n = len(errors)
        queue.enqueue(dataclasses.replace(base, **bad), JobSpec(model_set="tiny"))
        qtbot.waitUntil(lambda n=n: len(errors) > n, timeout=10_000)
        assert text in errors[-1]
    queue.enqueue(base, JobSpec(model_set="tiny", memory_profile="bogus"))
    qtbot.waitUntil(lambda: "unknown memory profile 'bogus'" in errors[-1], timeout=10_000)
    assert jobs.list_jobs() == []


def test_generate_tooltips_name_every_bound_and_its_reason(qtbot) -> None:  # noqa: ANN001
    """Each bounded field of the Generate page says its range and why, as ``--help`` does --
    also after a preset change rewrites a tooltip -- and its range is that bound."""
    from engine.limits import GENERATION
    from engine.pipeline.presets import PIPELINES
    from idlora_studio.ui.generate.advanced_settings import AdvancedSettings
    from idlora_studio.ui.generate.output_settings import OutputSettings

    advanced, output = AdvancedSettings(), OutputSettings()
    for w in (advanced, output):
        qtbot.addWidget(w)
    fields = {
        **{k: v for k, v in advanced._fields().items() if k in GENERATION},  # noqa: SLF001
        "width": output.width_spin,
        "height": output.height_spin,
        "auto_long_side": output.long_side_spin,
        "duration_s": output.duration_spin,
        "num_frames": output.frames_spin,
        "seed": output.seed_spin,
    }
    assert {"steps", "video_cfg", "lora_strength", "identity_end", "stg_block"} <= set(fields)
    for preset in PIPELINES:
        advanced.apply_preset(preset)
        for name, spin in fields.items():
            if not spin.isEnabled():  # a fixed-step preset says its own count instead
                continue
            limit = GENERATION[name]
            assert f"Allowed: {limit.describe()}: {limit.reason}." in spin.toolTip(), name
            assert spin.minimum() == limit.low, name
            assert spin.maximum() <= limit.high, name
