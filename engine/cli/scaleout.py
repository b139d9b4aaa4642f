"""Several devices and the render farm: ``--gpus``/``--parallel`` (one take per GPU)
and ``--ray``."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from typing import Any

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
)
from engine.cli.common import EXIT_ERROR, EXIT_USAGE, Job, UsageError
from engine.cli.runners import _do_job, _load_generator, _lora_info, _report


def resolve_devices(args: argparse.Namespace, batch: bool) -> tuple[list[str], str | None]:
    """The devices and parallel mode of ``--gpus`` / ``--parallel`` (local runs).

    Returns ``([], None)`` for one device as usual. Raises :class:`UsageError` for a bad GPU
    list and ``EngineError`` when the GPUs named are not there.
    """
    from engine.api import InvalidRequestError
    from engine.distributed.context import parse_gpus

    try:
        ids = parse_gpus(args.gpus)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    mode = args.parallel
    if ids is None and mode is None:
        return [], None
    if args.device == "cpu":
        count = len(ids) if ids is not None else 2
        devices = ["cpu"] * count
    else:
        import torch

        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == 0:
            raise InvalidRequestError(
                "--gpus/--parallel need CUDA GPUs and this machine has none (use --device cpu "
                "to try the parallel modes on CPU processes)"
            )
        ids = ids if ids is not None else list(range(available))
        missing = [i for i in ids if i >= available]
        if missing:
            raise InvalidRequestError(
                f"GPU {missing[0]} does not exist: this machine has {available} "
                f"(0..{available - 1})"
            )
        devices = [f"cuda:{i}" for i in ids]
    if mode is None:
        mode = ("jobs" if batch else "passes") if len(devices) > 1 else None
    return devices, mode


def _run_one_per_device(
    args: argparse.Namespace,
    jobs: list[Job],
    devices: list[str],
    rows: dict[str, dict[str, Any]],
    failures: list[str],
    batch: bool,
    cancel: CancelToken,
) -> int | None:
    """Job parallel: one thread per device, each with its own generator, taking the next job
    from a shared list (progress bars off: one line per finished take instead)."""
    import queue as queue_mod

    todo: queue_mod.Queue[Job] = queue_mod.Queue()
    for job in jobs:
        todo.put(job)
    load_errors: list[BaseException] = []
    stop: list[BaseException] = []

    def work(device: str) -> None:
        try:
            generator = _load_generator(args, device=device)
        except (EngineError, OSError) as exc:
            load_errors.append(exc)
            return
        try:
            lora_info = _lora_info(generator, args)
            while not cancel.cancelled and not stop:
                try:
                    job = todo.get_nowait()
                except queue_mod.Empty:
                    return
                _do_job(generator, job, args, lora_info, cancel, rows, failures, batch, False)
        except BaseException as exc:  # noqa: BLE001 - Cancelled, or a bug: stop the others
            stop.append(exc)
        finally:
            with contextlib.suppress(Exception):
                generator.close()

    threads = [
        threading.Thread(target=work, args=(d,), name=f"generate-{d}", daemon=True) for d in devices
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.2)  # stay responsive to Ctrl-C
    if cancel.cancelled or any(isinstance(e, Cancelled) for e in stop):
        raise Cancelled("generation cancelled")
    if stop:
        raise stop[0]
    if len(load_errors) == len(devices):
        _report("", load_errors[0], args.debug)
        return EXIT_ERROR
    for exc in load_errors:
        _report("one GPU could not load the model: ", exc, args.debug)
    return None


def _run_on_farm(
    args: argparse.Namespace,
    jobs: list[Job],
    rows: dict[str, dict[str, Any]],
    failures: list[str],
    batch: bool,
    cancel: CancelToken,
) -> int | None:
    """``--ray ADDRESS``: every take on the cluster; clips and recipes written here."""
    from engine.distributed.context import parse_gpus
    from engine.recipe import recipe_path_for, write_recipe
    from idlora_studio.workers.farm.batch import BatchItem, run_farm_batch
    from idlora_studio.workers.farm.client import FarmError
    from idlora_studio.workers.farm.jobs import relocate_recipe

    try:
        ids = parse_gpus(args.gpus)
    except ValueError as exc:
        print(f"idlora-studio generate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    group = args.parallel in ("passes", "sequence")
    gpus = len(ids) if (ids and group) else 1
    by_name = {job.name: job for job in jobs}

    def on_progress(name: str, step: int, total: int) -> None:
        if not args.no_progress:
            print(f"  {name}: step {step}/{total}", file=sys.stderr, flush=True)

    try:
        results = run_farm_batch(
            args.ray,
            [BatchItem(job.name, job.request) for job in jobs],
            model=args.model,
            lora=args.lora,
            lora_strength=args.lora_strength,
            memory_profile=args.memory_profile,
            gpus=gpus,
            mode=args.parallel if group else None,
            cancel=cancel,
            on_progress=on_progress,
            on_connected=lambda text: print(f"render farm: {text}", file=sys.stderr),
        )
    except (FarmError, OSError) as exc:
        _report("", exc, args.debug)
        return EXIT_ERROR
    for name, result in results.items():
        job = by_name[name]
        label = f"{name}: " if batch else ""
        if result.status == "cancelled":
            raise Cancelled("generation cancelled")
        if result.status != "done":
            print(f"error: {label}{result.message}", file=sys.stderr)
            failures.append(name)
            continue
        job.output.parent.mkdir(parents=True, exist_ok=True)
        job.output.write_bytes(result.video)
        recipe = relocate_recipe(result.recipe, job.request)
        recipe["output"] = {**recipe.get("output", {}), "file": job.output.name}
        recipe["farm"] = {"address": args.ray, "node": result.node, "attempt": result.attempt}
        write_recipe(recipe_path_for(job.output), recipe)
        out = recipe.get("output") or {}
        print(
            f"{job.output}: {out.get('width')}x{out.get('height')}, {out.get('num_frames')} "
            f"frames, seed {recipe['effective'].get('seed')}, on {result.node}",
            flush=True,
        )
        row = rows[name]
        row.update(
            status="done",
            seed=recipe["effective"].get("seed", job.request.seed),
            duration_s=f"{float(out.get('duration_s') or 0.0):.3f}",
            seconds=f"{float((recipe.get('timings') or {}).get('total', 0.0)):.1f}",
        )
        if args.score and result.voice_match is not None:
            row["voice_match"] = f"{result.voice_match:.4f}"
            print(f"  voice match {result.voice_match:.2f} against {job.request.voice.name}")
    return None
