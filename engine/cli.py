"""``idlora-studio generate``: one take, or a batch of jobs, from the command line.

Single take::

    idlora-studio generate --model tiny --image face.png --voice voice.wav \\
        --visual "..." --speech "..." --sounds "..." --out clip.mp4

writes ``clip.mp4`` (H.264 + AAC, audio exactly as long as the video) and ``clip.json`` (the
recipe). ``--pipeline one-stage|two-stage|hq|fast`` picks the sampler preset
(``engine.pipeline.presets``; the 2x pipelines need ``--upsampler`` and ``--distilled-lora``,
fast the distilled LoRA or ``--distilled-checkpoint``; the tiny models bring their own).
``--jobs FILE.json`` runs a batch in the reference scripts' prompts-file format: a JSON
list of objects with ``prompt`` (full tagged prompt), ``reference_path`` (voice),
``first_frame_path`` (image) and ``output_name``, optionally ``voice_window`` (``[start, end]``
seconds or ``"full"``) and ``pipeline``; job *i* uses seed ``--seed + i``; the models are loaded
once; a failing job is reported and the batch goes on.

Reference length: only a window of the voice clip is encoded -- ``--voice-window START:END``
(or ``full``), by default the best ~5 s window the library suggests on import (the length
ID-LoRA was trained on). The window used is written into the recipe's request. A batch writes
``batch_report.csv`` in ``--out-dir`` (one row per job: output, status, seed, length, time,
and with ``--score`` the take's voice match against its reference clip).

Exit codes: 0 success, 1 an error (one sentence on stderr, no traceback unless ``--debug``),
2 a usage error, 130 cancelled with Ctrl-C (the first Ctrl-C cancels after the current step,
a second one aborts at once).

torch/diffusers are imported only inside the handler (through ``engine.generate``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.api import (
    Cancelled,
    CancelToken,
    EngineError,
    GenerationRequest,
    GenerationResult,
    MediaError,
    ProgressInfo,
    PromptParts,
    stage_text,
)
from engine.fsutil import check_writable
from engine.pipeline.presets import PIPELINES

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

PARALLEL_CHOICES = ("passes", "sequence", "jobs")

#: Tests replace this with a callable taking the same arguments as ``IDLoRAGenerator.load``.
#: ``None`` means the real generator.
_generator_factory: Callable[..., Any] | None = None


class UsageError(Exception):
    """A command line (or jobs file) that cannot run as given: exit code 2."""


@dataclass(frozen=True)
class Job:
    """One take to make: its request and where the clip goes."""

    index: int
    name: str
    request: GenerationRequest
    output: Path


# ----------------------------------------------------------------------------- parser


def _limit_help(name: str, text: str = "") -> str:
    """Help text with the parameter's bounds and their reason (from :mod:`engine.limits`)."""
    from engine.limits import GENERATION

    return GENERATION[name].help(text).replace("%", "%%")


def _memory_profiles() -> list[str]:
    from engine.memory import PROFILES

    return ["auto", *PROFILES]


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``generate`` sub-command to the ``idlora-studio`` parser."""
    p = subparsers.add_parser(
        "generate",
        help="generate a talking clip (or a batch of them) without the window",
        description="Generate a clip of a person speaking in their own voice with ID-LoRA.",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        required=True,
        help="'tiny', a diffusers folder, a hub repo id or a single-file checkpoint",
    )
    g.add_argument("--base", help="companion diffusers folder / repo of a single-file checkpoint")
    g.add_argument("--lora", type=Path, help="ID-LoRA checkpoint (.safetensors)")
    g.add_argument(
        "--lora-strength", type=float, default=1.0, metavar="S", help=_limit_help("lora_strength")
    )
    g.add_argument("--upsampler", type=Path, help="spatial latent upsampler (2x pipelines)")
    g.add_argument("--distilled-lora", type=Path, help="distilled LoRA (two-stage, hq, fast)")
    g.add_argument(
        "--distilled-checkpoint",
        action="store_true",
        help="--model is a distilled checkpoint (fast needs no distilled LoRA)",
    )
    g.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when available")
    profiles = _memory_profiles()
    g.add_argument(
        "--memory-profile",
        default="auto",
        choices=profiles,
        metavar="NAME",
        help=f"one of: {', '.join(profiles)} (default auto: chosen from the free GPU memory)",
    )

    g = p.add_argument_group("inputs (one take)")
    g.add_argument("--image", type=Path, help="reference image: the first frame")
    g.add_argument("--voice", type=Path, help="reference voice clip (~5 s)")
    g.add_argument(
        "--voice-window",
        metavar="START:END",
        help="seconds of the voice clip to use as the reference, e.g. 12:17, or 'full' "
        "(default: the best 5 s window, found as the library does on import)",
    )
    g.add_argument("--visual", default="", help="[VISUAL] part: shot, look, setting")
    g.add_argument("--speech", default="", help="[SPEECH] part: the exact words")
    g.add_argument("--sounds", default="", help="[SOUNDS] part: voice tone, ambience")
    g.add_argument("--prompt", help="a full tagged prompt (overrides the three parts)")
    g.add_argument("--negative", default=None, help="negative prompt (default: the built-in list)")
    g.add_argument("--out", type=Path, help="output clip (.mp4); the recipe goes beside it")

    g = p.add_argument_group("batch")
    g.add_argument("--jobs", type=Path, metavar="FILE.json", help="run a prompts file")
    g.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="batch output folder (default: .); every output_name must stay inside it",
    )
    g.add_argument(
        "--score",
        action="store_true",
        help=(
            "score each take's voice against its reference clip (voice match: cosine "
            "similarity 0-1 of Resemblyzer GE2E speaker embeddings); with --jobs it is a "
            "column of the batch report"
        ),
    )

    g = p.add_argument_group("size and length")
    g.add_argument("--width", type=int, help=_limit_help("width", "multiple of 32"))
    g.add_argument("--height", type=int, help=_limit_help("height", "multiple of 32"))
    g.add_argument("--auto-size", action="store_true", help="keep the image's aspect (default)")
    g.add_argument("--frames", type=int, help=_limit_help("num_frames", "number of frames (8k+1)"))
    g.add_argument(
        "--duration", type=float, metavar="S", help=_limit_help("duration_s", "length in seconds")
    )
    g.add_argument("--fps", type=float, default=25.0, help=_limit_help("fps"))

    g = p.add_argument_group("sampling")
    g.add_argument(
        "--pipeline",
        choices=PIPELINES,
        default=None,
        help="sampler preset (default one-stage); its public defaults fill unset options",
    )
    g.add_argument("--steps", type=int, default=None, help=_limit_help("steps", "stage-1 steps"))
    g.add_argument(
        "--seed", type=int, default=0, help=_limit_help("seed", "job i of --jobs: seed + i")
    )
    g.add_argument("--video-cfg", type=float, help=_limit_help("video_cfg"))
    g.add_argument("--audio-cfg", type=float, help=_limit_help("audio_cfg"))
    g.add_argument("--identity-scale", type=float, help=_limit_help("identity_scale"))
    g.add_argument("--stg-scale", type=float, help=_limit_help("stg_scale"))
    g.add_argument("--stg-block", type=int, help=_limit_help("stg_block"))
    g.add_argument("--modality-scale", type=float, help=_limit_help("modality_scale"))
    g.add_argument(
        "--cfg-star",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CFG-star rescaled CFG (default: on for hq only)",
    )
    g.add_argument(
        "--identity-start",
        type=float,
        default=None,
        metavar="F",
        help=_limit_help("identity_start", "identity guidance from this fraction of the schedule"),
    )
    g.add_argument(
        "--identity-end",
        type=float,
        default=None,
        metavar="F",
        help=_limit_help("identity_end", "... up to this fraction (default 0..1: every step)"),
    )
    g.add_argument(
        "--distilled-strength",
        type=float,
        default=None,
        metavar="S",
        help=_limit_help("distilled_strength_stage1", "distilled LoRA in stage 1 (preset default)"),
    )
    g.add_argument(
        "--distilled-strength-2",
        type=float,
        default=None,
        metavar="S",
        help=_limit_help("distilled_strength_stage2", "distilled LoRA in stage 2 (preset default)"),
    )

    g = p.add_argument_group("several GPUs, render farm")
    g.add_argument(
        "--gpus",
        metavar="LIST",
        help="GPUs to use, e.g. 0,1 (default: one GPU). With --device cpu, that many CPU "
        "processes (gloo), to try the parallel modes without GPUs",
    )
    g.add_argument(
        "--parallel",
        choices=PARALLEL_CHOICES,
        help="passes: the guidance passes of each step split across the GPUs; sequence: each "
        "pass's video tokens split across them (Ulysses attention); jobs: one take per GPU "
        "(default with several GPUs: jobs for --jobs, passes for one take)",
    )
    g.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the takes on a Ray cluster (e.g. 10.0.0.5:6379, ray://host:10001, auto); "
        "with --gpus/--parallel passes|sequence each take asks for that many GPUs",
    )

    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    p.set_defaults(func=run_generate)
    return p


# ----------------------------------------------------------------------------- requests


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


def _shown(value: object) -> str:
    """Text safe to print: bytes that are not UTF-8 (kept by Python as surrogates) as escapes."""
    from engine.text import printable

    return printable(value)


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


# ----------------------------------------------------------------------------- running


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


def run_generate(args: argparse.Namespace) -> int:
    """Handler of ``idlora-studio generate``; returns the exit code."""
    try:
        if args.jobs is not None:
            if args.out is not None:
                raise UsageError("--out is for one take; use --out-dir with --jobs")
            if args.voice_window is not None:
                raise UsageError(
                    '--voice-window is for one take; give a job its own "voice_window": '
                    "[start, end] in the jobs file"
                )
            out_dir = args.out_dir if args.out_dir is not None else Path.cwd()
            entries = parse_jobs_file(args.jobs, args, out_dir)
        else:
            if args.out_dir is not None:
                raise UsageError("--out-dir is for --jobs; use --out for one take")
            entries = [single_job(args)]
    except UsageError as exc:
        print(_shown(f"idlora-studio generate: error: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except EngineError as exc:
        _report("", exc, args.debug)
        return EXIT_ERROR

    batch = args.jobs is not None
    failures: list[str] = []
    jobs: list[Job] = []
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if isinstance(entry, Job):
            rows[entry.name] = {"job": entry.name, "output": str(entry.output), "status": "failed"}
            try:
                check_inputs(entry.request)
                check_writable(entry.output)  # before minutes of model loading
                entry = with_voice_window(entry)
            except (EngineError, OSError) as exc:
                _report(f"{entry.name}: " if batch else "", exc, args.debug)
                failures.append(entry.name)
                continue
            jobs.append(entry)
        else:
            index, name, problem = entry
            rows[name] = {"job": name, "status": "failed"}
            print(_shown(f"error: {name}: job {index}: {problem}."), file=sys.stderr)
            failures.append(name)
    if not jobs:
        if batch and not entries:
            print("the jobs file holds no jobs", file=sys.stderr)
            return EXIT_OK
        return EXIT_ERROR

    try:
        devices, mode = resolve_devices(args, batch) if args.ray is None else ([], None)
    except UsageError as exc:
        print(f"idlora-studio generate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EngineError as exc:
        _report("", exc, args.debug)
        return EXIT_ERROR
    args._devices, args._mode = devices, mode
    cancel = CancelToken()
    try:
        with _sigint_cancels(cancel):
            if args.ray is not None:
                code = _run_on_farm(args, jobs, rows, failures, batch, cancel)
            elif mode == "jobs":
                code = _run_one_per_device(args, jobs, devices, rows, failures, batch, cancel)
            else:
                code = _run_in_turn(args, jobs, rows, failures, batch, cancel)
            if code is not None:
                return code
    except (Cancelled, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED

    if batch:
        report = (args.out_dir if args.out_dir is not None else Path.cwd()) / REPORT_NAME
        try:
            write_report(report, list(rows.values()), args.score)
        except OSError as exc:
            _report("batch report: ", exc, args.debug)
        done = len(entries) - len(failures)
        summary = f"{done} of {len(entries)} jobs done"
        if failures:
            summary += f"; failed: {', '.join(failures)}"
        print(summary, file=sys.stderr)
    return EXIT_ERROR if failures else EXIT_OK


__all__ = [
    "Job",
    "UsageError",
    "check_inputs",
    "parse_jobs_file",
    "register",
    "run_generate",
    "run_job",
    "single_job",
]
