"""The takes a command line or a jobs file asks for: requests, bounds, voice windows, and
the input checks that run before the models load."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.api import (
    GenerationRequest,
    MediaError,
    PromptParts,
)
from engine.cli.common import Job, UsageError, _shown
from engine.pipeline.presets import PIPELINES


def _common_request_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    if (args.width is None) != (args.height is None):
        raise UsageError("--width and --height must be given together")
    if args.auto_size and args.width is not None:
        raise UsageError("--auto-size cannot be combined with --width/--height")
    if args.frames is not None and args.duration is not None:
        raise UsageError("give either --frames or --duration, not both")
    _check_bounds(args)
    kwargs: dict[str, Any] = {
        "width": args.width,
        "height": args.height,
        "num_frames": args.frames,
        "duration_s": args.duration,
        "fps": args.fps,
        "lora_strength": args.lora_strength,
    }
    if args.negative is not None:
        kwargs["negative_prompt"] = args.negative
    optional = {
        "pipeline": "pipeline",
        "steps": "steps",
        "video_cfg": "video_cfg",
        "audio_cfg": "audio_cfg",
        "identity_scale": "identity_scale",
        "stg_scale": "stg_scale",
        "stg_block": "stg_block",
        "modality_scale": "modality_scale",
        "cfg_star": "cfg_star",
        "identity_start": "identity_start",
        "identity_end": "identity_end",
        "distilled_strength": "distilled_strength_stage1",
        "distilled_strength_2": "distilled_strength_stage2",
    }
    for arg, field_name in optional.items():
        value = getattr(args, arg)
        if value is not None:
            kwargs[field_name] = value
    return kwargs


def _check_bounds(args: argparse.Namespace) -> None:
    """Every numeric option inside :mod:`engine.limits` (a usage error naming the flag)."""
    from engine.api import InvalidRequestError
    from engine.limits import CLI_FLAGS, GENERATION

    fields = {
        "num_frames": "frames",
        "duration_s": "duration",
        "distilled_strength_stage1": "distilled_strength",
        "distilled_strength_stage2": "distilled_strength_2",
    }
    for name, flag in CLI_FLAGS.items():
        value = getattr(args, fields.get(name, name), None)
        if value is None:
            continue
        try:
            GENERATION[name].check(value, flag)
        except InvalidRequestError as exc:
            raise UsageError(str(exc)) from None


def _mp4_path(path: Path) -> Path:
    return path if path.suffix.lower() == ".mp4" else path.with_name(path.name + ".mp4")


def single_job(args: argparse.Namespace) -> Job:
    """The one take described by the command line."""
    from engine.api import InvalidRequestError
    from engine.limits import CLI_FLAGS, check_request

    missing = [f"--{n}" for n in ("image", "voice", "out") if getattr(args, n) is None]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (or use --jobs FILE.json)")
    parts = PromptParts(visual=args.visual, speech=args.speech, sounds=args.sounds)
    if not (args.prompt and args.prompt.strip()) and not parts.tagged():
        raise UsageError("give the prompt: --visual, --speech and --sounds, or --prompt")
    request = GenerationRequest(
        parts=parts,
        prompt=args.prompt or None,
        image=args.image,
        voice=args.voice,
        voice_window=parse_voice_window(args.voice_window),
        seed=args.seed,
        **_common_request_kwargs(args),
    )
    try:
        check_request(request, CLI_FLAGS)
    except InvalidRequestError as exc:
        raise UsageError(str(exc)) from None
    out = _mp4_path(args.out)
    return Job(index=0, name=out.name, request=request, output=out)


def _resolve_input(value: str, base: Path) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists():
        return p
    beside = base / p
    return beside if beside.exists() else p


def parse_jobs_file(
    path: Path, args: argparse.Namespace, out_dir: Path
) -> list[Job | tuple[int, str, str]]:
    """Read a prompts file. Each entry becomes a :class:`Job`, or ``(index, name, problem)``.

    Relative input paths are taken from the current folder, else beside the jobs file. A file
    that is not a JSON list of objects raises :class:`UsageError`.
    """
    from engine.api import InvalidRequestError
    from engine.limits import CLI_FLAGS, JSONRefused, check_request, loads_bounded

    label = _shown(Path(path).name)
    try:
        data = loads_bounded(Path(path).read_bytes())
    except FileNotFoundError:
        raise UsageError(f"jobs file {_shown(path)} not found") from None
    except JSONRefused as exc:
        raise UsageError(f"jobs file {label} is refused: {exc}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"jobs file {label} is not readable JSON ({exc})") from None
    if not isinstance(data, list):
        raise UsageError(f"jobs file {label} must hold a JSON list of jobs")
    common = _common_request_kwargs(args)
    base = Path(path).resolve().parent
    root = Path(out_dir).resolve()
    jobs: list[Job | tuple[int, str, str]] = []
    for index, entry in enumerate(data):
        default_name = f"job_{index:03d}.mp4"
        if not isinstance(entry, dict):
            jobs.append((index, default_name, "the entry is not a JSON object"))
            continue
        raw_name = entry.get("output_name") or default_name
        if not isinstance(raw_name, str):
            jobs.append((index, default_name, "output_name is not text"))
            continue
        name = raw_name
        absent = [k for k in ("prompt", "reference_path", "first_frame_path") if not entry.get(k)]
        if absent:
            jobs.append((index, name, f"the job has no {', '.join(absent)}"))
            continue
        texts = ("prompt", "reference_path", "first_frame_path", "negative_prompt")
        wrong = [k for k in texts if entry.get(k) is not None and not isinstance(entry[k], str)]
        if wrong:
            jobs.append((index, name, f"{', '.join(wrong)} must be text"))
            continue
        out = _mp4_path(root / name.replace("\x00", ""))
        if "\x00" in name or not out.resolve().is_relative_to(root):
            jobs.append(
                (index, name, f"output_name {name!r} points outside the output folder {root}")
            )
            continue
        kwargs = dict(common)
        if entry.get("negative_prompt"):
            kwargs["negative_prompt"] = entry["negative_prompt"]
        try:
            kwargs["voice_window"] = parse_voice_window(entry.get("voice_window"))
        except UsageError as exc:
            jobs.append((index, name, str(exc)))
            continue
        if entry.get("pipeline") is not None:
            if entry["pipeline"] not in PIPELINES:
                choices = ", ".join(PIPELINES)
                jobs.append(
                    (index, name, f"unknown pipeline {entry['pipeline']!r} (one of {choices})")
                )
                continue
            kwargs["pipeline"] = entry["pipeline"]
        request = GenerationRequest(
            prompt=entry["prompt"],
            voice=_resolve_input(entry["reference_path"], base),
            image=_resolve_input(entry["first_frame_path"], base),
            seed=args.seed + index,
            **kwargs,
        )
        try:
            check_request(request, CLI_FLAGS)
        except InvalidRequestError as exc:
            jobs.append((index, name, str(exc)))
            continue
        jobs.append(Job(index=index, name=out.name, request=request, output=out))
    return jobs


FULL_CLIP = (0.0, math.inf)  # "--voice-window full": the whole clip


def parse_voice_window(value: Any) -> tuple[float, float] | None:
    """``"START:END"`` (seconds), ``[start, end]`` or ``"full"`` -> a window; None -> None.

    Raises :class:`UsageError` with the value in the message.
    """
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lower() == "full":
        return FULL_CLIP
    parts = value.split(":") if isinstance(value, str) else value
    try:
        start, end = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(
            f"voice window {value!r} is not START:END in seconds (e.g. 12:17) or 'full'"
        ) from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise UsageError(f"voice window {value!r} must run forwards from 0 s or later")
    return start, end


def with_voice_window(job: Job) -> Job:
    """The job with an explicit voice window: the library's suggested one when none was given.

    The default is what the library computes on import (``suggested_voice_window``), so a
    CLI take uses the same ~5 s of voice the Studio would. ``full`` becomes the clip's length.
    Raises :class:`MediaError` when the voice cannot be analysed.
    """
    request = job.request
    if request.voice is None:
        return job
    window = request.voice_window
    if window is None:
        from idlora_studio.library.importer import suggested_voice_window
        from idlora_studio.library.media_types import ImportRejected

        try:
            window = suggested_voice_window(request.voice)
        except ImportRejected as exc:
            raise MediaError(
                request.voice, f"no reference window could be chosen ({exc.problem})"
            ) from None
    elif window == FULL_CLIP:
        from engine.media.audio import load_audio

        samples, sr = load_audio(request.voice, max_duration_s=600.0)
        window = (0.0, samples.shape[1] / sr)
    else:
        from engine.generate import voice_window_in
        from engine.media.audio import probe_audio

        declared = probe_audio(request.voice).duration_s
        if declared is not None:  # refuse a window past the end before the models load
            voice_window_in(window, declared, Path(request.voice).name)
    return replace(job, request=replace(request, voice_window=window))


def check_inputs(request: GenerationRequest) -> None:
    """Read the headers of the image and voice, work out the length and the size and estimate
    the memory, so bad files and what cannot fit fail before the models load (minutes)."""
    from engine.generate import resolve_frames, resolve_size
    from engine.limits import check_memory
    from engine.media.audio import probe_audio
    from engine.media.image import probe_image
    from engine.pipeline.presets import get_preset

    frames, _notes = resolve_frames(request)
    image = probe_image(request.image) if request.image is not None else None
    if request.voice is not None:
        probe_audio(request.voice)
    if image is not None:
        width, height, _notes = resolve_size(request, (image.width, image.height))
        upscale = get_preset(request.pipeline).upscale
        check_memory(width * upscale, height * upscale, frames)
