"""Request-level API used by the Studio and the CLI: load a model once, generate many times.

``IDLoRAGenerator.load`` resolves the model source (``"tiny"`` / ``"tiny-ltx2.3"``, a local
diffusers folder, a hub repo id or a single-file checkpoint) through
``engine.models.sources.load_components``, loads the ID-LoRA (adapter ``idlora``) and, for the
two-stage / HQ / fast pipelines, the distilled LoRA (adapter ``distilled``) with
``engine.lora.load_idlora`` and the spatial upsampler with ``engine.models.upsampler``, then
places the pipeline with ``engine.memory.apply_profile``. ``generate`` validates a
``GenerationRequest`` (pipeline and its parts, size and frame rules, media, voice length, STG
block), runs ``IDLoRAPipeline`` and returns a ``GenerationResult`` with uint8 frames, float32
audio, the effective parameters (pipeline, stages, LoRAs and strengths) and per-phase timings.

STG block: the reference perturbs block 29 of LTX-2's 48. A request naming a block the model
does not have is an ``InvalidRequestError`` -- except on the tiny test models (2 blocks), where
the last block is used instead and a warning says so.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api import (
    STAGES,
    CancelToken,
    GenerationRequest,
    GenerationResult,
    InvalidRequestError,
    ModelNotFoundError,
    OutOfMemoryError,
    ProgressInfo,
    Stopwatch,
)
from engine.limits import GENERATION, check_memory, check_request

SIZE_MULTIPLE = 32
MAX_AREA = 576 * 1024
VOICE_MIN_S = 2.0
VOICE_MAX_S = 15.0
VOICE_SAMPLE_RATE = 16000
VOICE_WINDOW_SLACK_S = 0.05
TINY_MODELS = {"tiny": "ltx2", "tiny-ltx2": "ltx2", "tiny-ltx2.3": "ltx2.3"}
#: One model load at a time per process: diffusers loads weights inside accelerate's
#: ``init_empty_weights``, which patches ``torch.nn.Module.register_parameter`` for the whole
#: process, so two threads loading at once (one generator per GPU) create meta tensors
#: ("Cannot copy out of meta tensor").
_LOAD_LOCK = threading.Lock()


# ----------------------------------------------------------------------------- size rules


def _snap_like_the_scripts(x: float, m: int = SIZE_MULTIPLE) -> int:
    """The public scripts' ``snap_to_divisor(int(round(x)))``: round to a pixel, then to the
    nearest multiple (Python's round, halves to even), never below one multiple."""
    return max(int(round(int(round(x)) / m)) * m, m)


def _round_multiple(x: float, m: int = SIZE_MULTIPLE) -> int:
    return max(m, int(math.floor(x / m + 0.5)) * m)


def resolve_size(
    request: GenerationRequest, image_size: tuple[int, int]
) -> tuple[int, int, list[str]]:
    """The (width, height) to generate at, and notes on any adjustment.

    Auto (no width/height): the image is scaled so its long side is ``request.auto_long_side``
    and its area at most 576x1024, then each side is rounded to the nearest multiple of 32, as
    the public scripts' ``compute_resolution_match_aspect`` does (so a side may round up and
    the area pass the cap by a rounding). One side given: the other follows the image's aspect. Explicit sizes that are not
    multiples of 32 are snapped to the nearest multiple (and reported) or, with
    ``request.snap`` False, rejected.
    """
    iw, ih = image_size
    if iw <= 0 or ih <= 0:
        raise InvalidRequestError(f"image has no pixels ({iw}x{ih})")
    notes: list[str] = []
    w, h = request.width, request.height
    if w is None and h is None:
        long_side = max(SIZE_MULTIPLE, request.auto_long_side)
        scale = min(long_side / max(iw, ih), math.sqrt(MAX_AREA / (iw * ih)))
        w, h = _snap_like_the_scripts(iw * scale), _snap_like_the_scripts(ih * scale)
        notes.append(f"auto resolution from the {iw}x{ih} image: {w}x{h}")
        return w, h, notes
    if w is None:
        w = _round_multiple(h * iw / ih)  # type: ignore[operator]
        notes.append(f"width {w} follows the image's aspect")
    elif h is None:
        h = _round_multiple(w * ih / iw)
        notes.append(f"height {h} follows the image's aspect")
    if w <= 0 or h <= 0:
        raise InvalidRequestError(f"size must be positive, got {w}x{h}")
    if w % SIZE_MULTIPLE or h % SIZE_MULTIPLE:
        if not request.snap:
            raise InvalidRequestError(
                f"width and height must be multiples of {SIZE_MULTIPLE}; got {w}x{h}"
            )
        sw, sh = _round_multiple(w), _round_multiple(h)
        notes.append(f"size {w}x{h} snapped to {sw}x{sh} (multiples of {SIZE_MULTIPLE})")
        w, h = sw, sh
    return int(w), int(h), notes


def resolve_frames(request: GenerationRequest) -> tuple[int, list[str]]:
    """Frame count (8k+1) from ``num_frames`` or ``duration_s * fps`` (default 121), with notes."""
    from engine.api import DEFAULT_FRAMES

    notes: list[str] = []
    if request.fps <= 0:
        raise InvalidRequestError(f"fps must be positive, got {request.fps}")
    if request.num_frames is not None:
        n = int(request.num_frames)
    elif request.duration_s is not None:
        if request.duration_s <= 0:
            raise InvalidRequestError(f"duration must be positive, got {request.duration_s}")
        n = int(round(request.duration_s * request.fps))
    else:
        n = DEFAULT_FRAMES
    if n < 1:
        raise InvalidRequestError(f"frame count must be positive, got {n}")
    if (n - 1) % 8:
        if not request.snap:
            raise InvalidRequestError(f"frame count must be 8k+1 (9, 17, ..., 121); got {n}")
        k = max(1, int(math.floor((n - 1) / 8 + 0.5)))
        snapped = 8 * k + 1
        notes.append(f"{n} frames snapped to {snapped} (8k+1)")
        n = snapped
    most = int(GENERATION["num_frames"].high)
    if n > most and request.num_frames is None and request.duration_s is not None:
        # each bound alone holds (20 s, 60 fps); together they ask for more than one pass makes
        raise InvalidRequestError(
            f"{request.duration_s:g} s at {request.fps:g} fps is {n} frames; at most {most} are "
            f"made at once: {GENERATION['num_frames'].reason}"
        )
    return n, notes


def voice_window_in(window: Any, duration_s: float, name: str = "the voice") -> tuple[float, float]:
    """Check a (start, end) voice window against a clip of ``duration_s``; returns it.

    An end up to 50 ms past the clip (rounding between sample rates) is clamped. Raises
    :class:`InvalidRequestError` naming the clip and the problem.
    """
    try:
        start, end = (float(v) for v in window)
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"the voice window {window!r} is not two numbers (start, end) in seconds"
        ) from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InvalidRequestError(f"the voice window {start}-{end} s is not a finite range")
    if start < 0 or end <= start:
        raise InvalidRequestError(
            f"the voice window {start:.2f}-{end:.2f} s must start at 0 s or later and end "
            "after it starts"
        )
    if end > duration_s + VOICE_WINDOW_SLACK_S:
        raise InvalidRequestError(
            f"the voice window {start:.2f}-{end:.2f} s ends after the end of {name} "
            f"({duration_s:.2f} s)"
        )
    return start, min(end, duration_s)


# ----------------------------------------------------------------------------- paths


def default_cache_dir() -> Path:
    """``$IDLORA_STUDIO_HOME/cache/models``, else the platform user cache ``idlora-studio/models``."""
    home = os.environ.get("IDLORA_STUDIO_HOME")
    if home:
        return Path(home) / "cache" / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("idlora-studio")) / "models"


def _is_oom(exc: BaseException) -> bool:
    import torch

    kinds = tuple(
        k
        for k in (
            getattr(torch, "OutOfMemoryError", None),
            getattr(torch.cuda, "OutOfMemoryError", None),
        )
        if k is not None
    )
    return isinstance(exc, kinds)


# ----------------------------------------------------------------------------- generator


class IDLoRAGenerator:
    """A loaded ID-LoRA pipeline that turns ``GenerationRequest`` into ``GenerationResult``."""

    def __init__(
        self,
        pipe: Any,
        *,
        model: str,
        variant: str,
        device: str,
        dtype: str,
        tiny: bool,
        source_info: Any = None,
        lora_info: Any = None,
        profile: Any = None,
        distilled_info: Any = None,
        upsampler: Path | None = None,
        distilled_checkpoint: bool = False,
    ) -> None:
        self.pipe = pipe
        self._model = model
        self._variant = variant
        self._device = device
        self._dtype = dtype
        self._tiny = tiny
        self._source_info = source_info
        self._lora_info = lora_info
        self._profile = profile
        self._distilled_info = distilled_info
        self._upsampler = upsampler
        self._distilled_checkpoint = distilled_checkpoint
        #: the pass executor every take uses (None: the engine's default); the multi-GPU
        #: group sets its pass-parallel or sequence-parallel executor here
        self.pass_executor: Any = None

    @classmethod
    def load(
        cls,
        model: str | Path,
        lora: Path | None = None,
        *,
        lora_strength: float = 1.0,
        device: str | None = None,
        dtype: str | None = None,
        memory_profile: str = "auto",
        cache_dir: Path | None = None,
        base: str | Path | None = None,
        upsampler: str | Path | None = None,
        distilled_lora: str | Path | None = None,
        distilled_checkpoint: bool = False,
    ) -> IDLoRAGenerator:
        """Load ``model`` (+ optional ID-LoRA) onto ``device`` (default CUDA if present).

        ``dtype``: "bfloat16"/"float16"/"float32" (default bf16 on CUDA, float32 on CPU).
        ``cache_dir``: where tiny models are built (default :func:`default_cache_dir`).
        ``base``: companion diffusers folder / repo of a single-file checkpoint.
        ``upsampler``: spatial latent upsampler (folder or single file) for the 2x pipelines;
        ``distilled_lora``: the distilled LoRA for two-stage / hq / fast; on the tiny models
        both default to the tiny stack's own. ``distilled_checkpoint``: ``model`` is a
        distilled transformer (the fast pipeline then needs no distilled LoRA).
        Raises ModelNotFoundError, InvalidRequestError (bad LoRA), OutOfMemoryError.
        """
        import torch

        from engine.models.sources import load_components
        from engine.pipeline import IDLoRAPipeline

        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype_name = dtype or ("bfloat16" if dev.startswith("cuda") else "float32")
        try:
            torch_dtype = getattr(torch, dtype_name)
        except AttributeError:
            raise InvalidRequestError(f"unknown dtype {dtype_name!r}") from None
        name = str(model)
        tiny = name in TINY_MODELS
        if tiny:
            from engine.models.tiny import ensure_tiny_model, tiny_parts

            source: str | Path = ensure_tiny_model(
                cache_dir or default_cache_dir(), TINY_MODELS[name]
            )
            parts = tiny_parts(source)
            upsampler = parts["spatial_upsampler"] if upsampler is None else upsampler
            if distilled_lora is None and not distilled_checkpoint:
                distilled_lora = parts["distilled_lora"]
        else:
            source = model
        try:
            with _LOAD_LOCK:  # diffusers' empty-weight loading patches torch globally
                comps, info = load_components(source, torch_dtype=torch_dtype, base=base)
                pipe = IDLoRAPipeline(**comps)
                pipe.transformer_is_distilled = bool(distilled_checkpoint)
                lora_info = distilled_info = None
                from engine.lora import load_idlora
                from engine.pipeline.presets import DISTILLED, IDLORA

                if lora is not None:
                    if not Path(lora).is_file():
                        raise ModelNotFoundError(f"LoRA file not found: {lora}", (str(lora),))
                    lora_info = load_idlora(pipe, Path(lora), lora_strength, IDLORA)
                if distilled_lora is not None:
                    if not Path(distilled_lora).is_file():
                        raise ModelNotFoundError(
                            f"Distilled LoRA file not found: {distilled_lora}",
                            (str(distilled_lora),),
                        )
                    distilled_info = load_idlora(pipe, Path(distilled_lora), 0.0, DISTILLED)
                if upsampler is not None:
                    from engine.models.upsampler import load_upsampler

                    pipe.register_modules(latent_upsampler=load_upsampler(upsampler, torch_dtype))
            profile = cls._place(pipe, memory_profile, dev, info.variant)
        except Exception as exc:
            if _is_oom(exc):
                raise OutOfMemoryError(
                    f"The GPU ran out of memory while loading the model ({exc}).",
                    profile=memory_profile,
                ) from exc
            raise
        pipe.set_progress_bar_config(disable=True)
        return cls(
            pipe,
            model=name,
            variant=info.variant,
            device=dev,
            dtype=dtype_name,
            tiny=tiny,
            source_info=info,
            lora_info=lora_info,
            profile=profile,
            distilled_info=distilled_info,
            upsampler=Path(upsampler) if upsampler is not None else None,
            distilled_checkpoint=distilled_checkpoint,
        )

    @staticmethod
    def _place(pipe: Any, memory_profile: str, device: str, variant: str) -> Any:
        try:
            from engine import memory
        except ImportError:  # memory profiles not available: everything resident
            pipe.to(device)
            return None
        name = memory_profile
        if name == "auto":
            free = None
            if device.startswith("cuda"):
                import torch

                free = torch.cuda.mem_get_info(torch.device(device))[0]  # this job's GPU
            name = memory.choose_profile(free, variant)
        return memory.apply_profile(pipe, name, device)

    # ------------------------------------------------------------------ info

    def model_info(self) -> dict[str, Any]:
        """Model id/path, variant, LoRA path + sha256, dtype, device, memory profile."""
        src = self._source_info
        lora = self._lora_info
        dist = self._distilled_info
        prof = self._profile
        return {
            "model": self._model,
            "source": getattr(src, "source", None),
            "kind": getattr(src, "kind", None),
            "revision": getattr(src, "revision", None),
            "variant": self._variant,
            "tiny": self._tiny,
            "lora": str(lora.path) if lora is not None else None,
            "lora_sha256": lora.sha256 if lora is not None else None,
            "lora_strength": lora.strength if lora is not None else None,
            "dtype": self._dtype,
            "device": self._device,
            "memory_profile": getattr(prof, "effective", None),
            "num_blocks": self.pipe.num_blocks,
            "distilled_lora": str(dist.path) if dist is not None else None,
            "distilled_lora_sha256": dist.sha256 if dist is not None else None,
            "spatial_upsampler": str(self._upsampler) if self._upsampler else None,
            "distilled_checkpoint": self._distilled_checkpoint,
        }

    def parts(self) -> set[str]:
        """What this generator can run beyond one-stage: ``spatial_upsampler``,
        ``distilled_lora`` (a distilled checkpoint counts for the fast pipeline)."""
        from engine.pipeline.presets import NEEDS_DISTILLED, NEEDS_UPSAMPLER

        have = set()
        if self.pipe is not None and self.pipe.latent_upsampler is not None:
            have.add(NEEDS_UPSAMPLER)
        if self._distilled_info is not None:
            have.add(NEEDS_DISTILLED)
        return have

    def missing_for(self, pipeline: str) -> list[str]:
        """The parts ``pipeline`` needs that this generator lacks (empty: it can run)."""
        from engine.pipeline.presets import NEEDS_DISTILLED, get_preset

        preset = get_preset(pipeline)
        have = self.parts()
        if self._distilled_checkpoint and preset.name == "fast":
            have.add(NEEDS_DISTILLED)
        return [n for n in preset.needs if n not in have]

    def close(self) -> None:
        """Drop the pipeline and release GPU memory."""
        self.pipe = None
        try:
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    # ------------------------------------------------------------------ generate

    @property
    def generation(self) -> str:
        """``"ltx2"`` or ``"ltx2.3"``: the model generation (decides STG, cross-timestep, fit)."""
        from engine.pipeline.denoise import model_generation

        return model_generation(self.pipe.transformer)

    def first_frame_fit(self, pipeline: str = "one-stage") -> Any:
        """How ``pipeline`` fits the reference image (LTX-2 one-stage stretches, the rest
        crop the centre), as the public scripts do."""
        from engine.media.first_frame import first_frame_fit

        return first_frame_fit(self.generation, pipeline)

    def _stg_block(self, request: GenerationRequest, warnings: list[str]) -> int:
        n = self.pipe.num_blocks
        block = request.stg_block
        if request.stg_scale == 0.0 or 0 <= block < n:
            return block
        if self._tiny:
            warnings.append(
                f"STG block {block} does not exist in the tiny model ({n} blocks); "
                f"block {n - 1} was used."
            )
            return n - 1
        raise InvalidRequestError(
            f"STG block {block} does not exist: this model has {n} blocks (0..{n - 1})"
        )

    def _first_frames(
        self, img: Any, width: int, height: int, preset: Any, notes: list[str]
    ) -> tuple[Any, Any, Any]:
        """The first frame at (width, height) and, for the 2x pipelines, at twice that size
        (the image re-fitted at the new size, as the public two-stage scripts do), float
        (3, H, W) in [-1, 1]; and the fit used."""
        from engine.media.first_frame import fit_note, prepare_first_frame

        fit = self.first_frame_fit(preset.name)
        image, geometry = prepare_first_frame(img, width, height, fit)
        note = fit_note(geometry)
        if note is not None:
            notes.append(note)
        image_2x = None
        if preset.upscale != 1:
            up = preset.upscale
            image_2x, _ = prepare_first_frame(img, up * width, up * height, fit)
        return image, image_2x, fit

    def _load_inputs(
        self,
        request: GenerationRequest,
        preset: Any,
        warnings: list[str],
        notes: list[str],
        window: list[float],
    ) -> tuple[Any, Any, Any, int, int]:
        import numpy as np
        import torch

        from engine.media.audio import load_audio
        from engine.media.image import load_image

        if request.image is None:
            raise InvalidRequestError("a reference image (the first frame) is needed")
        if request.voice is None:
            raise InvalidRequestError("a reference voice clip is needed")
        img = load_image(request.image)
        width, height, size_notes = resolve_size(request, img.size)
        notes.extend(size_notes)
        image, image_2x, _fit = self._first_frames(img, width, height, preset, notes)
        if image_2x is not None:
            notes.append(
                f"{preset.title}: stage 1 at {width}x{height}, the take at {2 * width}x{2 * height}"
            )

        samples, sr = load_audio(request.voice, target_sr=VOICE_SAMPLE_RATE, max_duration_s=600.0)
        duration = samples.shape[1] / sr
        if request.voice_window is not None:
            start, end = voice_window_in(request.voice_window, duration, Path(request.voice).name)
            samples = samples[:, int(round(start * sr)) : int(round(end * sr))]
            notes.append(
                f"reference voice: {start:.2f}-{end:.2f} s of the {duration:.1f} s clip "
                f"({end - start:.2f} s encoded)"
            )
            window[:] = [start, end]
            duration = samples.shape[1] / sr
        if duration < VOICE_MIN_S:
            raise InvalidRequestError(
                f"the reference voice is {duration:.1f} s long; at least {VOICE_MIN_S:.0f} s is "
                "needed (about 5 s works best)"
            )
        if duration > VOICE_MAX_S:
            warnings.append(
                f"The reference voice is {duration:.1f} s long; the LoRA was trained on about "
                f"5 s and clips over {VOICE_MAX_S:.0f} s weaken the identity."
            )
        wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
        if wave.shape[0] == 1:
            wave = wave.expand(2, -1).contiguous()
        elif wave.shape[0] > 2:
            wave = wave.mean(dim=0, keepdim=True).expand(2, -1).contiguous()
        return image, image_2x, wave, width, height

    def _check_pipeline(self, request: GenerationRequest) -> Any:
        """The request's preset, after checking the model can run it."""
        from engine.pipeline.presets import NEEDS_UPSAMPLER, get_preset

        try:
            preset = get_preset(request.pipeline)
        except ValueError as err:
            raise InvalidRequestError(str(err)) from None
        if self._variant not in preset.variants:
            raise InvalidRequestError(
                f"the {preset.title} pipeline needs an LTX-2.3 model; {self._model} is "
                f"{self._variant.upper()}"
            )
        missing = self.missing_for(preset.name)
        if missing:
            what = {
                NEEDS_UPSAMPLER: "the spatial latent upsampler",
            }
            names = [what.get(m, "the distilled LoRA (or a distilled checkpoint)") for m in missing]
            raise ModelNotFoundError(
                f"The {preset.title} pipeline needs {' and '.join(names)}, which "
                "this model set does not have; download it in the model manager or point the "
                "Studio at the file.",
                tuple(missing),
            )
        fixed = preset.stages[0].fixed_steps
        if fixed is not None and request.steps not in (None, fixed):
            raise InvalidRequestError(
                f"the {preset.title} pipeline runs a fixed {fixed}-step schedule; "
                f"{request.steps} steps were asked for"
            )
        return preset

    def generate(
        self,
        request: GenerationRequest,
        progress: Callable[[ProgressInfo], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> GenerationResult:
        """Run one request. Raises InvalidRequestError, MediaError, Cancelled, OutOfMemoryError,
        ModelNotFoundError (a part the pipeline needs is not loaded).

        ``progress`` receives a :class:`ProgressInfo` as each stage starts (``stage``: reading
        the inputs, encoding the prompt, preparing, upsampling, denoising, decoding video,
        decoding audio) and after every denoising step."""
        import numpy as np
        import torch

        from engine.pipeline.denoise import default_stg_mode
        from engine.pipeline.positions import DEFAULT_POSITION_DTYPE

        if self.pipe is None:
            raise InvalidRequestError("the generator was closed")
        t_start = time.perf_counter()
        steps_done, steps_total = [0], [int(request.steps or 0)]

        def on_phase(name: str) -> None:  # a stage starts: tell the caller (known stages only)
            if progress is not None and name in STAGES:
                elapsed = time.perf_counter() - t_start
                progress(
                    ProgressInfo(steps_done[0], steps_total[0], elapsed, None, None, stage=name)
                )

        sw = Stopwatch(on_phase)
        warnings: list[str] = []
        notes: list[str] = []
        prompt = request.full_prompt
        if not prompt.strip():
            raise InvalidRequestError("the prompt is empty")
        check_request(request)
        preset = self._check_pipeline(request)
        req = request.resolved()
        if req.steps is None or req.steps < 1:
            raise InvalidRequestError(f"steps must be >= 1, got {req.steps}")
        steps_total[0] = preset.total_steps(int(req.steps))
        if not 0.0 <= req.identity_start < req.identity_end <= 1.0:
            raise InvalidRequestError(
                "the identity-guidance window must satisfy 0 <= start < end <= 1; got "
                f"{req.identity_start}..{req.identity_end}"
            )

        # 1. inputs: size, frames, image(s), voice, STG block
        with sw.phase("load_inputs"):
            num_frames, frame_notes = resolve_frames(req)
            window: list[float] = []
            image, image_2x, wave, width, height = self._load_inputs(
                req, preset, warnings, notes, window
            )
            notes.extend(frame_notes)
            stg_block = self._stg_block(req, warnings)
            check_memory(width * preset.upscale, height * preset.upscale, num_frames)

        # 2. LoRA strengths per stage (the pipeline switches adapters between stages)
        distilled = (req.distilled_strength_stage1, req.distilled_strength_stage2)
        strengths = self.pipe.stage_lora_strengths(preset, float(req.lora_strength), distilled)
        if self._lora_info is not None and req.lora_strength != self._lora_info.strength:
            self._lora_info = dataclasses.replace(
                self._lora_info, strength=float(req.lora_strength)
            )

        # 3. progress adapter (1-based step over all stages, ETA from the mean step time)
        def on_step(rep: Any, preview: Any) -> None:
            steps_done[0] = done = rep.index + 1
            steps_total[0] = rep.total
            if progress is None:
                return
            eta = rep.elapsed_s / done * (rep.total - done)
            progress(ProgressInfo(done, rep.total, rep.elapsed_s, eta, preview))

        after_te = None
        if self._profile is not None and hasattr(self._profile, "after_text_encoding"):
            prof = self._profile

            def after_te() -> None:
                prof.after_text_encoding(self.pipe)

        # 4. run the pipeline
        generator = torch.Generator(device="cpu").manual_seed(int(req.seed))
        t0 = time.perf_counter()
        try:
            out = self.pipe(
                prompt=prompt,
                negative_prompt=req.negative_prompt,
                image=image,
                image_2x=image_2x,
                reference_audio=wave,
                reference_sample_rate=VOICE_SAMPLE_RATE,
                height=height,
                width=width,
                num_frames=num_frames,
                frame_rate=float(req.fps),
                num_inference_steps=int(req.steps),
                video_guidance_scale=req.video_cfg,
                audio_guidance_scale=req.audio_cfg,
                identity_guidance_scale=req.identity_scale,
                stg_scale=req.stg_scale,
                stg_block=stg_block,
                modality_scale=req.modality_scale,
                cfg_star=req.cfg_star,
                identity_window=(req.identity_start, req.identity_end),
                pipeline=preset.name,
                lora_strengths=strengths,
                generator=generator,
                output_type="np",
                progress=on_step,
                cancel=cancel,
                after_text_encoding=after_te,
                stopwatch=sw,
                pass_executor=self.pass_executor,
            )
        except Exception as exc:
            if _is_oom(exc):
                prof = getattr(self._profile, "effective", None)
                raise OutOfMemoryError(
                    f"The GPU ran out of memory at {width}x{height}x{num_frames}"
                    + (f" with the {prof} memory profile" if prof else "")
                    + ". Try a lighter memory profile, a smaller size or fewer frames.",
                    profile=prof,
                ) from exc
            raise
        sw.timings["total"] = time.perf_counter() - t0

        # 5. result arrays and what was actually run
        frames = (np.clip(out.frames[0], 0.0, 1.0) * 255.0).round().astype(np.uint8)
        audio = np.ascontiguousarray(out.audio[0], dtype=np.float32)
        info = self.model_info()
        stages = []
        for spec, res in zip(preset.stages, out.stages, strict=False):
            _, _, _, lh, lw = res.video.shape
            stages.append(
                {
                    "name": spec.name,
                    "sampler": spec.sampler,
                    "steps": len(res.sigmas) - 1,
                    "sigmas": [round(float(x), 6) for x in res.sigmas],
                    "width": lw * self.pipe.vae_spatial,
                    "height": lh * self.pipe.vae_spatial,
                    "guidance": spec.guided,
                    "loras": dict(res.lora_strengths),
                }
            )
        effective = {
            "pipeline": preset.name,
            "width": int(frames.shape[2]),
            "height": int(frames.shape[1]),
            "stage1_width": width,
            "stage1_height": height,
            "num_frames": num_frames,
            "fps": float(req.fps),
            "steps": int(req.steps),
            "seed": int(req.seed),
            "video_cfg": req.video_cfg,
            "audio_cfg": req.audio_cfg,
            "identity_scale": req.identity_scale,
            "identity_window": [req.identity_start, req.identity_end],
            "stg_scale": req.stg_scale,
            "stg_block": stg_block,
            "modality_scale": req.modality_scale,
            "cfg_star": bool(req.cfg_star),
            "stages": stages,
            "loras": self._lora_list(),
            "prompt": prompt,
            "negative_prompt": req.negative_prompt,
            "use_cross_timestep": self.pipe.is_ltx23,
            "stg_mode": default_stg_mode(self.pipe.transformer).value,
            "first_frame_fit": self.first_frame_fit(preset.name).value,
            "voice_window": window or None,
            "voice_seconds": float(wave.shape[-1]) / VOICE_SAMPLE_RATE,
            "position_dtype": DEFAULT_POSITION_DTYPE,
            "sample_rate": int(out.sample_rate),
            "model": info,
            "lora": info["lora"],
            "lora_sha256": info["lora_sha256"],
            "notes": notes,
        }
        return GenerationResult(
            frames=frames,
            audio=audio,
            sample_rate=int(out.sample_rate),
            fps=float(req.fps),
            effective=effective,
            timings=dict(sw.timings),
            warnings=tuple(warnings),
        )

    def _lora_list(self) -> list[dict[str, Any]]:
        """The LoRA files loaded (adapter, path, sha256, rank); per-stage strengths are in
        ``effective["stages"]``."""
        out = []
        for info in (self._lora_info, self._distilled_info):
            if info is not None:
                out.append(
                    {
                        "adapter": info.adapter_name,
                        "path": str(info.path),
                        "sha256": info.sha256,
                        "rank": info.rank,
                    }
                )
        return out
