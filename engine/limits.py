"""Bounds on every generation and render parameter, each with the reason for it (one place).

The CLI lists them in ``--help`` and refuses values outside them, the engine refuses requests
outside them (:func:`check_request`), and the Studio's Generate page uses them for its fields'
ranges and tooltips. A refusal names the parameter, the value and the reason, so the user
knows what to change; values that are not finite numbers (NaN, infinity) are refused too.

Before a generation starts, :func:`check_memory` estimates the host memory the decoded result
needs and refuses what cannot fit, instead of failing deep inside the decoder.

Plain Python (no torch, no Qt).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from engine.api import GenerationRequest, InvalidRequestError
from engine.text import around_surrogate, has_surrogates


@dataclass(frozen=True)
class Limit:
    """An inclusive range ``[low, high]`` for one parameter and why it stops there."""

    name: str
    low: float
    high: float
    reason: str
    integer: bool = False
    unit: str = ""

    def describe(self) -> str:
        """``"32 to 2048 px"``: the range as the help text shows it."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.low)} to {_fmt(self.high)}{unit}"

    def help(self, text: str = "") -> str:
        """``text`` followed by the range and the reason (for ``--help`` and tooltips)."""
        lead = f"{text.rstrip('.')}; " if text else ""
        return f"{lead}{self.describe()}: {self.reason}"

    def check(self, value: Any, label: str | None = None) -> None:
        """Raise :class:`InvalidRequestError` naming ``label`` when ``value`` is out of range."""
        label = label or self.name.replace("_", " ")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequestError(f"{label} must be a number, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"{label} is {value}: it must be a finite number")
        if self.integer and isinstance(value, float) and not value.is_integer():
            raise InvalidRequestError(f"{label} must be a whole number, not {value}")
        if not self.low <= value <= self.high:
            raise InvalidRequestError(
                f"{label} {_fmt(value)} is outside {self.describe()}: {self.reason}"
            )


def _fmt(value: float) -> str:
    if value == 2**63 - 1:
        return "2^63-1"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        value = int(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


_SIDE = (
    "LTX-2 was trained up to about 1920x1088 and every 32x32 pixel block is one token per "
    "latent frame, so larger sides outgrow one GPU"
)


def _scale(off: float, reference: float) -> str:
    return (
        f"{off:g} switches it off and the reference uses {reference:g}; far above that, "
        "picture and sound distort"
    )


#: Generation parameters, by :class:`~engine.api.GenerationRequest` field.
GENERATION: dict[str, Limit] = {
    "width": Limit("width", 32, 2048, _SIDE, integer=True, unit="px"),
    "height": Limit("height", 32, 2048, _SIDE, integer=True, unit="px"),
    "auto_long_side": Limit("auto_long_side", 32, 2048, _SIDE, integer=True, unit="px"),
    "num_frames": Limit(
        "num_frames",
        1,
        481,
        "one pass of LTX-2 makes at most about 19 s, 481 frames at 25 fps",
        integer=True,
    ),
    "duration_s": Limit(
        "duration_s",
        0.04,
        20.0,
        "one pass of LTX-2 makes at most about 19 s of video",
        unit="s",
    ),
    "fps": Limit(
        "fps",
        1.0,
        60.0,
        "LTX-2 was trained on 24-50 fps video; far outside that, motion and lip sync break",
        unit="fps",
    ),
    "steps": Limit(
        "steps",
        1,
        200,
        "the reference uses 30; past 200 the result stops changing and only the time grows",
        integer=True,
    ),
    "seed": Limit("seed", 0, 2**63 - 1, "seeds are stored as 64-bit signed integers", integer=True),
    "video_cfg": Limit("video_cfg", 1.0, 20.0, _scale(1, 3)),
    "audio_cfg": Limit("audio_cfg", 1.0, 20.0, _scale(1, 7)),
    "identity_scale": Limit("identity_scale", 0.0, 20.0, _scale(0, 3)),
    "stg_scale": Limit("stg_scale", 0.0, 10.0, _scale(0, 1)),
    "stg_block": Limit(
        "stg_block",
        0,
        63,
        "LTX-2 and LTX-2.3 have 48 blocks, 0-47; the loaded model's count is checked when it runs",
        integer=True,
    ),
    "modality_scale": Limit("modality_scale", 1.0, 20.0, _scale(1, 3)),
    "lora_strength": Limit(
        "lora_strength",
        0.0,
        2.0,
        "the ID-LoRA was trained at 1.0; far above it the picture breaks down",
    ),
    "identity_start": Limit(
        "identity_start",
        0.0,
        1.0,
        "a fraction of the schedule: 0 is the first step, 1 the end",
    ),
    "identity_end": Limit(
        "identity_end",
        0.0,
        1.0,
        "a fraction of the schedule: 0 is the first step, 1 the end",
    ),
    "distilled_strength_stage1": Limit(
        "distilled_strength_stage1",
        0.0,
        2.0,
        "the distilled LoRA turns the model distilled at 1.0; the presets use 0.25 to 1",
    ),
    "distilled_strength_stage2": Limit(
        "distilled_strength_stage2",
        0.0,
        2.0,
        "the distilled LoRA turns the model distilled at 1.0; the presets use 0.5 and 0.8",
    ),
}

#: Timeline render (export) parameters.
RENDER: dict[str, Limit] = {
    "width": Limit(
        "width",
        16,
        7680,
        "8K UHD (7680x4320) is the largest frame H.264 and ProRes players handle",
        integer=True,
        unit="px",
    ),
    "height": Limit(
        "height",
        16,
        4320,
        "8K UHD (7680x4320) is the largest frame H.264 and ProRes players handle",
        integer=True,
        unit="px",
    ),
    "fps": Limit("fps", 1.0, 120.0, "players do not show more than 120 frames a second"),
}

#: Prompt text, in characters (the text encoder reads about 1,024 tokens; the rest is cut).
PROMPT_MAX_CHARS = 20_000
#: JSON files the Studio reads (jobs files, bundle manifests) nest no deeper than this.
MAX_JSON_DEPTH = 64

# CLI flag -> request field, for messages that name the flag the user typed.
CLI_FLAGS = {
    "width": "--width",
    "height": "--height",
    "num_frames": "--frames",
    "duration_s": "--duration",
    "fps": "--fps",
    "steps": "--steps",
    "seed": "--seed",
    "video_cfg": "--video-cfg",
    "audio_cfg": "--audio-cfg",
    "identity_scale": "--identity-scale",
    "stg_scale": "--stg-scale",
    "stg_block": "--stg-block",
    "modality_scale": "--modality-scale",
    "lora_strength": "--lora-strength",
    "identity_start": "--identity-start",
    "identity_end": "--identity-end",
    "distilled_strength_stage1": "--distilled-strength",
    "distilled_strength_stage2": "--distilled-strength-2",
}


def check_request(request: GenerationRequest, labels: dict[str, str] | None = None) -> None:
    """Refuse a request with a parameter out of bounds or not finite (first problem found).

    ``labels`` maps field names to what the message calls them (the CLI passes its flags).
    """
    labels = labels or {}
    for name, limit in GENERATION.items():
        value = getattr(request, name)
        if value is None:
            continue
        limit.check(value, labels.get(name, name.replace("_", " ")))
    resolved = request.resolved()  # the pipeline's defaults for what was not given
    start, end = resolved.identity_start, resolved.identity_end
    if start is not None and end is not None and not start < end:
        raise InvalidRequestError(
            "the identity-guidance window must satisfy 0 <= start < end <= 1; got "
            f"{start:g}..{end:g}"
        )
    for label, text in (
        ("prompt", request.full_prompt),
        ("negative prompt", request.negative_prompt or ""),
    ):
        if has_surrogates(text):
            raise InvalidRequestError(
                f"the {label} '{around_surrogate(text)}' holds bytes that are not "
                "UTF-8 text; type it again as text"
            )
    for name in ("prompt", "negative_prompt"):
        text = getattr(request, name) or ""
        if len(text) > PROMPT_MAX_CHARS:
            raise InvalidRequestError(
                f"the {name.replace('_', ' ')} is {len(text):,} characters long; at most "
                f"{PROMPT_MAX_CHARS:,} are accepted (the text encoder reads about 1,024 tokens)"
            )
    parts = request.parts
    total = len(parts.visual) + len(parts.speech) + len(parts.sounds)
    if total > PROMPT_MAX_CHARS:
        raise InvalidRequestError(
            f"the prompt is {total:,} characters long; at most {PROMPT_MAX_CHARS:,} are accepted "
            "(the text encoder reads about 1,024 tokens)"
        )


# ----------------------------------------------------------------------------- memory

GB = 1e9
#: Bytes of host memory per output pixel-frame while a result is decoded and written: the
#: pipeline's float32 frames (12), the uint8 copy (3), the video decoder's last activations on
#: the CPU (about 4x the float32 frames on the tiny and the real VAE), with headroom.
HOST_BYTES_PER_VOXEL = 64


def estimate_host_bytes(width: int, height: int, frames: int) -> int:
    """Host memory one generation's decode and write needs (an estimate, see above)."""
    return int(width) * int(height) * int(frames) * HOST_BYTES_PER_VOXEL + (256 << 20)


def available_host_bytes() -> int | None:
    """Memory the system can give this process now (psutil's ``available``), or None."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with accelerate
        return None
    return int(psutil.virtual_memory().available)


def check_memory(width: int, height: int, frames: int, available: int | None = None) -> None:
    """Refuse a size whose decoded result cannot fit in memory, before any work starts."""
    need = estimate_host_bytes(width, height, frames)
    have = available_host_bytes() if available is None else available
    if have is not None and need > have:
        raise InvalidRequestError(
            f"{width}x{height} with {frames} frames needs about {need / GB:.1f} GB of memory to "
            f"decode and write, and {have / GB:.1f} GB are available; choose a smaller size or "
            "fewer frames"
        )


# ----------------------------------------------------------------------------- JSON


class JSONRefused(InvalidRequestError):
    """JSON that parses but that no Studio file holds: nested too deep, or NaN/Infinity."""


def _no_constant(name: str) -> Any:
    raise JSONRefused(f"it holds {name}, which is not a number JSON allows")


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth``, NaN/Infinity, and text
    that is not Unicode (a ``\\ud800`` escape without its pair, which no encoder accepts).

    Raises :class:`JSONRefused` for those, ``json.JSONDecodeError`` / ``UnicodeDecodeError``
    for text that is not JSON. A file nested 200,000 deep costs the parser's own recursion
    limit (caught), never a traceback.
    """
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise JSONRefused(f"it nests deeper than {max_depth} levels") from None
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise JSONRefused(f"it nests deeper than {max_depth} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
        elif isinstance(node, str) and has_surrogates(node):
            raise JSONRefused(
                f"it holds the text '{around_surrogate(node)}' with an unpaired surrogate escape, "
                "which is not Unicode text"
            )
    return data


def help_lines() -> list[str]:
    """One line per generation bound, for the CLI's epilog."""
    return [
        f"  {CLI_FLAGS.get(n, n):<17} {lim.describe()}: {lim.reason}"
        for n, lim in GENERATION.items()
        if n in CLI_FLAGS
    ]


__all__ = [
    "CLI_FLAGS",
    "GENERATION",
    "MAX_JSON_DEPTH",
    "PROMPT_MAX_CHARS",
    "RENDER",
    "JSONRefused",
    "Limit",
    "available_host_bytes",
    "check_memory",
    "check_request",
    "estimate_host_bytes",
    "help_lines",
    "loads_bounded",
]
