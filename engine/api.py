"""The engine's public data contract: requests in, results out, progress, cancel, errors.

Plain Python and numpy only (no torch, no Qt) so the Studio, the CLI and tests can build
requests and inspect results without importing the model stack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

# Reference defaults (method.md, "Sampling"): the one-stage preset's. Other pipelines'
# defaults are in engine.pipeline.presets (GenerationRequest.resolved applies them).
DEFAULT_PIPELINE = "one-stage"
DEFAULT_STEPS = 30
DEFAULT_FPS = 25.0
DEFAULT_FRAMES = 121
DEFAULT_VIDEO_CFG = 3.0
DEFAULT_AUDIO_CFG = 7.0
DEFAULT_IDENTITY_SCALE = 3.0
DEFAULT_STG_SCALE = 1.0
DEFAULT_STG_BLOCK = 29
DEFAULT_MODALITY_SCALE = 3.0
DEFAULT_AUTO_LONG_SIDE = 512

DEFAULT_NEGATIVE_PROMPT = (
    "blurry, out of focus, low quality, low resolution, pixelated, jpeg artifacts, noisy, "
    "distorted face, deformed, disfigured, extra limbs, bad anatomy, flickering, jittery motion, "
    "frozen frame, static image, watermark, text, subtitles, logo, oversaturated, underexposed, "
    "distorted voice, robotic voice, metallic voice, muffled audio, echo, reverb, clipping, "
    "background music, off-sync audio, lip-sync mismatch, added dialogue, extra speakers, "
    "mumbling, stuttering, silence, static noise, hum"
)


# ----------------------------------------------------------------------------- errors


class EngineError(Exception):
    """Base of every error the engine raises on purpose. ``str(err)`` is a user-facing sentence.

    Engine errors pickle as themselves, attributes included, whatever their ``__init__``
    takes (the Studio's engine process sends them to the GUI's process)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type[EngineError], args: tuple[Any, ...], state: dict) -> EngineError:
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class InvalidRequestError(EngineError, ValueError):
    """A request that cannot run as given (size rules, missing inputs, bad values)."""


class MediaError(EngineError):
    """An input file that cannot be read/decoded. ``path`` names it."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")


class ModelNotFoundError(EngineError):
    """Model weights or parts that are not on disk (and could not be fetched). ``missing`` lists them."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        self.missing = missing
        super().__init__(message)


class OutOfMemoryError(EngineError):
    """The GPU ran out of memory. The Studio offers a retry on a lighter memory profile."""

    def __init__(self, message: str, profile: str | None = None, needed_bytes: int | None = None):
        self.profile = profile
        self.needed_bytes = needed_bytes
        super().__init__(message)


class DiskFullError(EngineError):
    """Not enough free disk to write a result, download or export."""


class NonFiniteResultError(EngineError):
    """The denoised latents hold NaN or infinite values: nothing usable can be decoded."""


class Cancelled(EngineError):  # noqa: N818 - the name the architecture uses
    """Raised inside the denoising loop when the cancel token is set; decoding is skipped."""


# ----------------------------------------------------------------------------- cancel


class CancelToken:
    """Thread-safe cancel flag checked by the engine once per denoising step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("generation cancelled")


# ----------------------------------------------------------------------------- prompt


@dataclass(frozen=True)
class PromptParts:
    """The three tagged parts of an ID-LoRA prompt."""

    visual: str = ""
    speech: str = ""
    sounds: str = ""

    def tagged(self) -> str:
        """The full prompt as the LoRA was trained on: ``[VISUAL]: .. [SPEECH]: .. [SOUNDS]: ..``."""
        parts = []
        if self.visual.strip():
            parts.append(f"[VISUAL]: {self.visual.strip()}")
        if self.speech.strip():
            parts.append(f"[SPEECH]: {self.speech.strip()}")
        if self.sounds.strip():
            parts.append(f"[SOUNDS]: {self.sounds.strip()}")
        return " ".join(parts)


# ----------------------------------------------------------------------------- request


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation needs, as plain values.

    Exactly one of ``prompt`` (a full tagged prompt) or ``parts`` should carry text; when both
    are given ``prompt`` wins. ``width``/``height`` None means auto-resolution from the image;
    for the 2x pipelines (two-stage, hq) they are stage 1's size and the take is twice as
    large. ``num_frames`` wins over ``duration_s``; when neither is given the default 121 is
    used.

    ``pipeline``: "one-stage", "two-stage", "hq" or "fast" (``engine.pipeline.presets``).
    ``steps``, the guidance scales, ``stg_block``, ``cfg_star`` and the distilled-LoRA
    strengths left at None take that pipeline's public defaults (:meth:`resolved` fills them).
    Every guidance scale can be switched off: CFG/modality at 1.0 (their formula adds (s-1)),
    identity/STG at 0.0 (their formula adds s); an off guidance runs no transformer pass.
    ``identity_start``/``identity_end``: the fractions of the schedule where identity
    guidance runs (default the whole schedule).
    """

    parts: PromptParts = field(default_factory=PromptParts)
    prompt: str | None = None
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    image: Path | None = None
    voice: Path | None = None
    #: (start, end) seconds of ``voice`` to encode as the reference; None: the whole file.
    #: The Studio passes the clip's chosen window, the CLI the library's suggested 5 s one.
    voice_window: tuple[float, float] | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    duration_s: float | None = None
    fps: float = DEFAULT_FPS
    steps: int | None = None
    seed: int = 0
    video_cfg: float | None = None
    audio_cfg: float | None = None
    identity_scale: float | None = None
    stg_scale: float | None = None
    stg_block: int | None = None
    modality_scale: float | None = None
    lora_strength: float = 1.0
    pipeline: str = DEFAULT_PIPELINE
    cfg_star: bool | None = None
    identity_start: float = 0.0
    identity_end: float = 1.0
    distilled_strength_stage1: float | None = None
    distilled_strength_stage2: float | None = None
    auto_long_side: int = DEFAULT_AUTO_LONG_SIDE
    snap: bool = True  # snap size/frames to the rules (reporting the effective values) or reject

    @property
    def full_prompt(self) -> str:
        return self.prompt if self.prompt else self.parts.tagged()

    def resolved(self) -> GenerationRequest:
        """This request with every field left at None filled from its pipeline's defaults.

        Raises ``InvalidRequestError`` for an unknown pipeline.
        """
        from engine.pipeline.presets import get_preset

        try:
            preset = get_preset(self.pipeline)
        except ValueError as err:
            raise InvalidRequestError(str(err)) from None
        fill = {k: v for k, v in preset.defaults().items() if getattr(self, k) is None}
        if self.distilled_strength_stage1 is None:
            fill["distilled_strength_stage1"] = preset.stages[0].distilled
        if self.distilled_strength_stage2 is None and len(preset.stages) > 1:
            fill["distilled_strength_stage2"] = preset.stages[1].distilled
        return replace(self, **fill) if fill else self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, PromptParts):
                v = {"visual": v.visual, "speech": v.speech, "sounds": v.sounds}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if isinstance(kwargs.get("parts"), dict):
            kwargs["parts"] = PromptParts(**kwargs["parts"])
        for key in ("image", "voice"):
            if kwargs.get(key) is not None:
                kwargs[key] = Path(kwargs[key])
        if kwargs.get("voice_window") is not None:
            start, end = kwargs["voice_window"]
            kwargs["voice_window"] = (float(start), float(end))
        return cls(**kwargs)


# ----------------------------------------------------------------------------- progress/result


#: What a generation is doing, in the order it happens, with the words a user is shown.
#: The engine reports the ones it runs (``ProgressInfo.stage``); an app adds its own around
#: them (loading the model, writing the files). A new phase shows once it is listed here.
STAGES: dict[str, str] = {
    "load_model": "Loading the model",
    "load_inputs": "Reading the image and voice",
    "encode_prompt": "Encoding the prompt",
    "prepare": "Preparing the latents",
    "denoise": "Denoising",
    "upsample": "Upsampling the latents 2x",
    "decode_video": "Decoding the video",
    "decode_audio": "Decoding the audio",
    "write": "Writing the take",
}


def stage_text(stage: str) -> str:
    """The words for ``stage`` (its name, readable, when it is not in :data:`STAGES`)."""
    return STAGES.get(stage) or stage.replace("_", " ").capitalize()


@dataclass(frozen=True)
class ProgressInfo:
    """Passed to the progress callback when a stage starts and after each denoising step.

    ``stage`` names what runs (a key of :data:`STAGES`). During ``"denoise"`` the callback
    comes after every step (``step`` 1..``total`` over all the pipeline's sampling stages,
    with ``eta_s`` and ``preview``); when a stage starts it comes once with the steps done so
    far (0 before denoising, ``total`` after)."""

    step: int  # 1-based number of denoising steps done
    total: int
    elapsed_s: float
    eta_s: float | None
    preview: np.ndarray | None = None  # uint8 (h, w, 3) low-res preview of the current x0, or None
    stage: str = "denoise"


@dataclass(frozen=True)
class GenerationResult:
    """A finished generation.

    ``frames``: uint8 (num_frames, height, width, 3). ``audio``: float32 (channels, samples) in
    [-1, 1] at ``sample_rate``. ``effective``: the parameters actually used (snapped size and
    frames, scales, seed, prompt, model and LoRA identity). ``timings``: seconds per phase.
    """

    frames: np.ndarray
    audio: np.ndarray
    sample_rate: int
    fps: float
    effective: dict[str, Any]
    timings: dict[str, float]
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.frames.shape[0] / self.fps


class Stopwatch:
    """Collects named phase timings: ``with sw.phase("encode"): ...``.

    ``on_phase(name)``, when given, is called as each phase starts (progress reporting)."""

    def __init__(self, on_phase: Callable[[str], None] | None = None) -> None:
        self.timings: dict[str, float] = {}
        self._on_phase = on_phase

    def phase(self, name: str):  # noqa: ANN201 - context manager
        sw = self

        class _Phase:
            def __enter__(self) -> None:
                if sw._on_phase is not None:
                    sw._on_phase(name)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                sw.timings[name] = sw.timings.get(name, 0.0) + time.perf_counter() - self.t0

        return _Phase()
