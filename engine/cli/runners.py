"""Running takes: the generator, progress, one take, reports, every take in turn."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    ProgressInfo,
    stage_text,
)
from engine.cli.common import EXIT_ERROR, Job, _shown
from engine.cli.jobs import check_inputs

#: Tests replace this with a callable taking the same arguments as ``IDLoRAGenerator.load``.
#: ``None`` means the real generator.
_generator_factory: Callable[..., Any] | None = None


def _load_generator(args: argparse.Namespace, device: str | None = None) -> Any:
    factory = _generator_factory
    devices = getattr(args, "_devices", None) or []
    mode = getattr(args, "_mode", None)
    if factory is None and mode in ("passes", "sequence"):
        from engine.distributed.group import GroupGenerator

        return GroupGenerator.load(
            args.model,
            args.lora,
            devices=devices,
            mode=mode,
            lora_strength=args.lora_strength,
            memory_profile=args.memory_profile,
        )
    if factory is None:
        from engine.generate import IDLoRAGenerator

        factory = IDLoRAGenerator.load
    kwargs: dict[str, Any] = {}
    for name in ("base", "upsampler", "distilled_lora"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    if getattr(args, "distilled_checkpoint", False):
        kwargs["distilled_checkpoint"] = True
    return factory(
        args.model,
        args.lora,
        lora_strength=args.lora_strength,
        device=device or args.device,
        memory_profile=args.memory_profile,
        **kwargs,
    )


@contextlib.contextmanager
def _sigint_cancels(token: CancelToken) -> Iterator[None]:
    """First Ctrl-C sets ``token`` (cancel after this step); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\ncancelling after this step (Ctrl-C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _ProgressBar:
    """A tqdm bar on stderr fed by :class:`ProgressInfo` callbacks."""

    def __init__(self, label: str, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total, desc=label, unit="step", file=sys.stderr, dynamic_ncols=True
            )

    def __call__(self, info: ProgressInfo) -> None:
        if self._bar is None:
            return
        if self._bar.total != info.total:
            self._bar.total = info.total
        self._bar.set_postfix_str(stage_text(info.stage))
        self._bar.update(max(0, info.step - self._bar.n))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _total_steps(request: GenerationRequest) -> int:
    """Steps over every stage of the request's pipeline (the progress bar's total)."""
    from engine.pipeline.presets import get_preset

    req = request.resolved()
    return get_preset(req.pipeline).total_steps(int(req.steps or 0))


def _describe(job: Job, result: GenerationResult, seconds: float) -> str:
    frames, h, w, _ = result.frames.shape
    req = job.request
    pipeline = result.effective.get("pipeline")
    text = (
        f"{job.output}: {pipeline + ', ' if pipeline else ''}{w}x{h}, {frames} frames at "
        f"{result.fps:g} fps "
        f"({result.duration_s:.2f} s), seed {result.effective.get('seed', req.seed)}, "
        f"{seconds:.1f} s"
    )
    asked = []
    if req.width is not None and (req.width, req.height) != (w, h):
        asked.append(f"{req.width}x{req.height}")
    if req.num_frames is not None and req.num_frames != frames:
        asked.append(f"{req.num_frames} frames")
    if asked and not result.effective.get("notes"):
        text += f" (asked for {', '.join(asked)}; snapped to the model's size rules)"
    return text


def _output_metadata(job: Job, sidecar: Path) -> dict[str, str]:
    from engine.recipe import package_versions

    version = package_versions().get("engine") or "dev"
    return {
        "title": job.output.stem,
        "comment": f"AI-generated with ID-LoRA Studio {version} (ID-LoRA on LTX-2).",
        "description": job.request.full_prompt,
        "ai_generated": "true",
        "generator": f"ID-LoRA Studio {version}",
        "recipe": sidecar.name,
    }


def run_job(
    generator: Any,
    job: Job,
    *,
    lora_info: dict[str, Any] | None,
    cancel: CancelToken,
    progress: bool,
) -> GenerationResult:
    """Generate one take and write its MP4 and recipe sidecar."""
    from engine.media.video import write_mp4
    from engine.recipe import build_recipe, recipe_path_for, write_recipe

    check_inputs(job.request)
    bar = _ProgressBar(job.name, _total_steps(job.request), progress)
    t0 = time.perf_counter()
    try:
        result = generator.generate(job.request, progress=bar, cancel=cancel)
    finally:
        bar.close()
    sidecar = recipe_path_for(job.output)
    with_write = time.perf_counter()
    write_mp4(
        job.output,
        result.frames,
        result.fps,
        result.audio,
        result.sample_rate,
        metadata=_output_metadata(job, sidecar),
    )
    timings = dict(result.timings)
    timings["write_mp4"] = time.perf_counter() - with_write
    timings["wall"] = time.perf_counter() - t0
    result = GenerationResult(
        frames=result.frames,
        audio=result.audio,
        sample_rate=result.sample_rate,
        fps=result.fps,
        effective=result.effective,
        timings=timings,
        warnings=result.warnings,
    )
    recipe = build_recipe(
        job.request,
        result,
        model_info=generator.model_info(),
        lora_info=lora_info,
        output=job.output,
    )
    write_recipe(sidecar, recipe)
    print(_describe(job, result, timings["wall"]), flush=True)
    for note in result.effective.get("notes") or ():
        print(f"  {note}", flush=True)
    for warning in result.warnings:
        print(_shown(f"warning: {job.name}: {warning}"), file=sys.stderr)
    return result


def _error_sentence(exc: BaseException) -> str:
    if isinstance(exc, EngineError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _report(label: str, exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    sentence = _error_sentence(exc).rstrip()
    if sentence and sentence[-1] not in ".!?)":
        sentence += "."
    print(_shown(f"error: {label}{sentence}"), file=sys.stderr)


def _lora_info(generator: Any, args: argparse.Namespace) -> dict[str, Any] | None:
    """The LoRA identity for recipes: from the generator when it reports one, else hashed here."""
    if args.lora is None:
        return None
    info = generator.model_info()
    if info.get("lora_sha256"):
        return {
            "path": info.get("lora"),
            "sha256": info["lora_sha256"],
            "strength": info.get("lora_strength", args.lora_strength),
        }
    from engine.recipe import describe_file

    described = describe_file(args.lora) or {}
    described["strength"] = args.lora_strength
    return described


REPORT_NAME = "batch_report.csv"


def score_take(result: GenerationResult, voice: Path | None) -> float | None:
    """Voice match of a generated take against its reference clip (None without one)."""
    if voice is None:
        return None
    from engine.voice import similarity

    take = similarity.embed_voice(result.audio, result.sample_rate)
    return similarity.similarity(take, similarity.embed_file(voice))


def write_report(path: Path, rows: list[dict[str, Any]], with_score: bool) -> None:
    """The batch report: one CSV row per job (written atomically)."""
    import csv
    import io

    from engine.fsutil import atomic_write_text

    columns = ["job", "output", "status", "seed", "duration_s", "seconds"]
    if with_score:
        columns.append("voice_match")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    atomic_write_text(path, buf.getvalue())


def _do_job(
    generator: Any,
    job: Job,
    args: argparse.Namespace,
    lora_info: dict[str, Any] | None,
    cancel: CancelToken,
    rows: dict[str, dict[str, Any]],
    failures: list[str],
    batch: bool,
    progress: bool,
) -> None:
    """Make one take and fill its report row (failures are reported; the batch goes on)."""
    try:
        result = run_job(generator, job, lora_info=lora_info, cancel=cancel, progress=progress)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - reported, the batch goes on
        _report(f"{job.name}: " if batch else "", exc, args.debug)
        failures.append(job.name)
        return
    row = rows[job.name]
    row.update(
        status="done",
        seed=result.effective.get("seed", job.request.seed),
        duration_s=f"{result.duration_s:.3f}",
        seconds=f"{result.timings.get('wall', 0.0):.1f}",
    )
    if args.score:
        try:
            score = score_take(result, job.request.voice)
        except Exception as exc:  # noqa: BLE001 - the take is written; say why
            _report(f"{job.name}: voice match not computed: ", exc, args.debug)
            score = None
        if score is not None:
            row["voice_match"] = f"{score:.4f}"
            print(f"  voice match {score:.2f} against {job.request.voice.name}")


def _run_in_turn(
    args: argparse.Namespace,
    jobs: list[Job],
    rows: dict[str, dict[str, Any]],
    failures: list[str],
    batch: bool,
    cancel: CancelToken,
) -> int | None:
    """Every take in turn on one generator (one device, or one GPU group)."""
    generator = None
    try:
        try:
            generator = _load_generator(args)
            lora_info = _lora_info(generator, args)
        except (EngineError, OSError) as exc:
            _report("", exc, args.debug)
            return EXIT_ERROR
        for job in jobs:
            if cancel.cancelled:
                raise Cancelled("generation cancelled")
            _do_job(
                generator, job, args, lora_info, cancel, rows, failures, batch, not args.no_progress
            )
    finally:
        if generator is not None:
            with contextlib.suppress(Exception):
                generator.close()
    return None
