"""Which worker runs the Studio's queue: the render farm, or the GPUs of this machine.

:func:`make_worker` reads the settings once when the Studio starts: with Settings > Render farm
switched on and an address, a :class:`~idlora_studio.workers.farm_worker.FarmWorker`; otherwise
a :class:`~idlora_studio.workers.gpu_pool.GPUWorkerPool` whose plan (Settings > GPUs: Auto or the
user's mode, over the detected GPUs) is made in its own thread, again before each take when
nothing runs, so a change of the GPU settings applies from the next take on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from idlora_studio.settings import Settings


@functools.lru_cache(maxsize=1)
def find_gpus() -> list[Any]:
    """The CUDA GPUs (``engine.distributed.strategy.detect_gpus``), asked once per session in
    a process of their own: the answer imports torch, which the GUI's process never does (the
    import holds the GIL for seconds). Blocks the calling thread: not the GUI thread."""
    from idlora_studio.workers.engine_process import run_elsewhere

    return run_elsewhere("engine.distributed.strategy:detect_gpus")


def gpu_info() -> Any:
    """``engine.memory.gpu_info()`` (the first GPU and its free memory), asked like
    :func:`find_gpus`."""
    from idlora_studio.workers.engine_process import run_elsewhere

    return run_elsewhere("engine.memory:gpu_info")


def plan_from_settings(settings: Settings, gpus: list[Any] | None = None) -> Any:
    """The scale plan for the settings and the GPUs (``gpus`` None: :func:`find_gpus`)."""
    from engine.distributed.context import parse_gpus
    from engine.distributed.strategy import MODES, plan

    if gpus is None:
        gpus = find_gpus()
    try:
        selected = parse_gpus(settings.get("gpus"))
    except ValueError:
        selected = None  # the dialog refuses such a list; a hand-edited file falls back to all
    mode = settings.get("parallel_mode")
    return plan(gpus, mode if mode in MODES else "auto", selected=selected)


def make_worker(
    settings: Settings,
    jobs: Any,
    takes: Any,
    *,
    models_dir: Path,
    temp_dir: Path,
    config_dir: Path | None = None,
) -> Any:
    """The queue's worker for these settings (see the module docstring)."""
    address = str(settings.get("farm_address") or "").strip()
    if settings.get("farm_enabled") and address:
        from idlora_studio.workers.farm_worker import FarmWorker

        per_take = max(1, int(settings.get("farm_gpus_per_take") or 1))
        return FarmWorker(
            jobs,
            takes,
            address=address,
            temp_dir=temp_dir,
            gpus_per_job=per_take,
            mode=settings.get("farm_group_mode") if per_take > 1 else None,
        )
    from idlora_studio.workers.gpu_pool import GPUWorkerPool

    return GPUWorkerPool(
        jobs,
        takes,
        plan_fn=lambda: plan_from_settings(settings),
        models_dir=models_dir,
        temp_dir=temp_dir,
        idle_release_s=float(settings.get("model_idle_release_s")),
        config_dir=config_dir,
    )
