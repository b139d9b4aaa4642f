"""The ``generate`` command's arguments (bounds and their reasons in the help)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.command import run_generate
from engine.cli.common import PARALLEL_CHOICES
from engine.pipeline.presets import PIPELINES


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
