"""Memory profiles: named strategies for fitting LTX-2 / LTX-2.3 into the GPU at hand.

Each profile is one way to place the pipeline's weights, applied once to a loaded diffusers
pipeline by :func:`apply_profile` (nothing else in the engine branches on memory):

``resident_bf16``   everything on the GPU in its loaded dtype (bf16). Fastest exact profile,
                    most memory.
``model_offload``   diffusers' ``enable_model_cpu_offload``: whole components move to the GPU
                    when they run (text encoder, then transformer, then VAEs); tiled VAE decode.
``fp8_fast``        opt-in, approximate: the transformer's linear layers hold float8 weights and
                    multiply in fp8 on the tensor cores (``engine.fp8``: row-wise scaled
                    ``torch._scaled_mm``; Ada/Hopper GPUs and newer); the transformer stays on the
                    GPU, the text encoder (bf16), connectors and VAEs stream from CPU memory when
                    they run; tiled VAE decode. The fastest profile and a 24 GB one.
``fp8_weights``     approximate: transformer weights stored as float8_e4m3fn through diffusers'
                    layerwise casting and upcast per layer to bf16 for compute (any CUDA GPU);
                    placement as ``fp8_fast``.
``group_offload``   diffusers' group offloading: transformer blocks (one per group) and the leaf
                    modules of the other components stream from CPU memory, with CUDA streams
                    overlapping transfer and compute; tiled VAE decode. Slowest, least memory.

Every profile can also *free the text encoder after encoding* (move it to the CPU once the prompt
embeddings exist): the Gemma 3 12B encoder is ~22 GiB in bf16 and is not needed during denoising.

``auto`` (:func:`choose_profile`) picks the fastest profile that fits the free VRAM among those
that are not opt-in: ``fp8_fast`` changes the output, so only the user turns it on.

VRAM figures: :data:`MEASURED` holds whole-pipeline peaks (prompt encoding with Gemma 3 12B,
denoising, VAE and audio decode) at 512x512x121 with a 5 s reference, measured by
``benchmarks/gpu_bench.py --whole`` on an H200 under ``torch.cuda.set_per_process_memory_fraction``;
other sizes and LTX-2.3 are that figure plus the difference of the parameter-count model below
(an estimate). Profiles not measured use the model alone. Importing this module does not import
torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3

# ----------------------------------------------------------------------------- estimates

# Parameter counts (method.md: LTX-2 19B, LTX-2.3 22B; Gemma 3 12B text encoder).
_TRANSFORMER_PARAMS = {"ltx2": 19e9, "ltx2.3": 22e9}
_TEXT_ENCODER_PARAMS = 12e9
_OTHER_PARAMS = 1.5e9  # video/audio VAEs, vocoder, text connectors: estimate
_TRANSFORMER_BLOCKS = 48

# Activation memory of one transformer pass, GiB per 1,000 tokens. From the measurement: 36 GiB
# peak with 19e9 bf16 weights (35.4 GiB) at 4,096 video + 246 audio tokens, plus a 2x safety factor
# because the measured figure is rounded.
_ACT_GIB_PER_KTOKEN = 0.3
# VAE decode peak, GiB at 512x512x121 output (untiled): estimate, scales with output voxels.
_DECODE_GIB_REF = 6.0
_DECODE_REF_VOXELS = 512 * 512 * 121
_CONTEXT_GIB = 1.0  # CUDA context, allocator slack, small buffers
_TE_ACT_GIB = 1.0  # text encoder activations for a ~1k token prompt
# Streamed components' working set while encoding: the largest leaves on the GPU (Gemma's
# 1.9 GiB embedding table, the 1.35 GiB connector projection) plus the stacked hidden states
# of two 1,024-token prompts (~1.5 GiB). Calibrated on the H200 run below, in which the 24 GiB
# fp8_fast run peaked at 23.3 GiB (+1.4 GiB asked) while the logits were still computed.
_STREAM_GIB = 3.5
_TILED_DECODE_GIB = 2.0  # temporally tiled VAE decode at 512x512: estimate

# Whole-pipeline peaks measured by ``benchmarks/gpu_bench.py --whole`` on one H200 (2026-12-01,
# ``benchmarks/results/gpu_bench_h200_call3.jsonl`` and ``gpu_bench_whole_24gib_h200_*.jsonl``)
# at MEASURED_SIZE (width, height, frames), LTX-2, random weights, prompt + negative prompt of
# 1,024 tokens, 5 s reference. ``peak_gib`` is the allocator's peak *reserved* memory (what the
# card must hold; the CUDA context's ~0.5 GiB comes on top), ``allocated_gib`` the tensors' peak.
# The 24 GiB rows ran under that cap (``set_per_process_memory_fraction``) after the prompt
# encoder stopped computing logits and the text connectors went one prompt at a time; fp8_fast's
# row is its eager run (compiled: 22.0 / 22.9 GiB).
MEASURED_SIZE = (512, 512, 121)
MEASURED: dict[str, dict[str, Any]] = {
    "resident_bf16": {"peak_gib": 71.4, "allocated_gib": 70.3, "cap_gib": None, "gpu": "H200"},
    "group_offload": {"peak_gib": 11.9, "allocated_gib": 7.2, "cap_gib": 12.0, "gpu": "H200"},
    "fp8_fast": {"peak_gib": 23.6, "allocated_gib": 22.1, "cap_gib": 24.0, "gpu": "H200"},
    "fp8_weights": {"peak_gib": 23.8, "allocated_gib": 23.8, "cap_gib": 24.0, "gpu": "H200"},
}


def tokens_for(width: int, height: int, frames: int) -> int:
    """Video + audio tokens of one generation (32x spatial, 8x temporal; ~25 audio tokens/s for
    the target plus a 5 s reference clip)."""
    video = math.ceil(width / 32) * math.ceil(height / 32) * ((max(frames, 1) - 1) // 8 + 1)
    audio = frames + 125
    return video + audio


def _gib(params: float, bytes_per_param: float) -> float:
    return params * bytes_per_param / GIB


@dataclass(frozen=True)
class MemoryProfile:
    """A named placement strategy; see the module docstring."""

    name: str
    title: str
    description: str
    free_text_encoder: bool = True  # default of the "free text encoder after encoding" flag
    needs_cuda: bool = False
    opt_in: bool = False  # never chosen by ``auto`` (changes the output)
    exact: bool = True  # computes what resident bf16 computes (up to kernel rounding)
    needs_fp8_compute: bool = False  # fp8 tensor cores (compute capability >= 8.9)

    def estimate_gib(
        self,
        model_variant: str,
        width: int,
        height: int,
        frames: int,
        *,
        free_text_encoder: bool | None = None,
    ) -> float:
        """Peak GPU memory (GiB) of one generation from parameter counts alone (the model that
        scales the measured figures; see :func:`expected_vram_gib`)."""
        if model_variant not in _TRANSFORMER_PARAMS:
            raise ValueError(f"unknown model variant {model_variant!r}")
        free_te = self.free_text_encoder if free_text_encoder is None else free_text_encoder
        t_params = _TRANSFORMER_PARAMS[model_variant]
        transformer = _gib(t_params, 2)
        text_encoder = _gib(_TEXT_ENCODER_PARAMS, 2)
        other = _gib(_OTHER_PARAMS, 2)
        act = _ACT_GIB_PER_KTOKEN * tokens_for(width, height, frames) / 1000
        decode = _DECODE_GIB_REF * (width * height * frames) / _DECODE_REF_VOXELS
        tiled = _TILED_DECODE_GIB * (width * height) / (512 * 512)
        work = max(act, decode)

        if self.name == "resident_bf16":
            weights = transformer + other
            encode_phase = text_encoder + weights + _TE_ACT_GIB
            denoise_phase = weights + work + (0.0 if free_te else text_encoder)
        elif self.name in ("fp8_fast", "fp8_weights"):
            # fp8 transformer on the GPU (fp8_weights: plus one layer upcast at a time); the
            # other components stream in leaf by leaf while they run; tiled decode.
            t_fp8 = _gib(t_params, 1)
            if self.name == "fp8_weights":
                t_fp8 += 2 * transformer / _TRANSFORMER_BLOCKS
            encode_phase = t_fp8 + _STREAM_GIB + _TE_ACT_GIB
            denoise_phase = t_fp8 + max(act, tiled)
        elif self.name == "model_offload":
            # One component at a time (the offload hooks move the previous one out).
            encode_phase = text_encoder + _TE_ACT_GIB
            denoise_phase = max(transformer + act, other + tiled)
        elif self.name == "group_offload":
            per_block = transformer / _TRANSFORMER_BLOCKS
            resident = 2 * per_block + 0.02 * transformer  # current + prefetched block, the rest
            encode_phase = _STREAM_GIB + _TE_ACT_GIB
            denoise_phase = resident + max(act, tiled)
        else:  # pragma: no cover - PROFILES only holds the five above
            raise ValueError(self.name)
        return round(max(encode_phase, denoise_phase) + _CONTEXT_GIB, 1)

    def expected_vram_gib(
        self,
        model_variant: str,
        width: int,
        height: int,
        frames: int,
        *,
        free_text_encoder: bool | None = None,
    ) -> float:
        """Peak GPU memory (GiB) of one whole generation with this profile: the measured figure
        (:data:`MEASURED`, 512x512x121, LTX-2) moved by the estimate's difference to this size
        and variant; the estimate alone when the profile was not measured."""
        est = self.estimate_gib(
            model_variant, width, height, frames, free_text_encoder=free_text_encoder
        )
        m = MEASURED.get(self.name)
        if m is None or free_text_encoder not in (None, self.free_text_encoder):
            return est
        anchor = self.estimate_gib("ltx2", *MEASURED_SIZE)
        return round(m["peak_gib"] + est - anchor, 1)


PROFILES: dict[str, MemoryProfile] = {
    p.name: p
    for p in (
        MemoryProfile(
            "resident_bf16",
            "All on GPU (bf16)",
            "Every component stays on the GPU. Fastest exact profile; needs the most memory.",
            free_text_encoder=False,
        ),
        MemoryProfile(
            "model_offload",
            "Model offload",
            "Components move to the GPU one at a time. Little slower; the transformer must fit.",
            needs_cuda=True,
        ),
        MemoryProfile(
            "fp8_fast",
            "Fast fp8 (approximate)",
            "8-bit float matrix multiplies on the tensor cores (RTX 40xx / Ada, H100 / Hopper and "
            "newer): the fastest profile and half the transformer's memory (aimed at 24 GB "
            "cards; a whole generation under 24 GB is not yet measured). Approximate: on an "
            "H200 a step took 0.72 s instead of 0.95 s (both compiled; the first take of a "
            "session compiles for ~70 s), and after 4 steps the latents differed from bf16 by "
            "~0.3% (video) and ~0.7% (audio). Never chosen by Auto.",
            needs_cuda=True,
            opt_in=True,
            exact=False,
            needs_fp8_compute=True,
        ),
        MemoryProfile(
            "fp8_weights",
            "Weights in fp8",
            "Transformer and text-encoder weights stored in 8-bit float, computed in bf16; the "
            "text encoder and VAEs stream from system memory. Halves the transformer's memory "
            "(fits 24 GB cards); output differs slightly.",
            exact=False,
        ),
        MemoryProfile(
            "group_offload",
            "Group offload",
            "Transformer blocks stream from system memory while they run. Slowest; fits small "
            "cards (needs ~60 GB of system RAM). On a CPU the hooks attach but change nothing.",
        ),
    )
}

# Heaviest (fastest) to lightest; "retry on a lighter profile" walks this order.
PROFILE_ORDER: tuple[str, ...] = (
    "resident_bf16",
    "model_offload",
    "fp8_fast",
    "fp8_weights",
    "group_offload",
)


def get_profile(name: str) -> MemoryProfile:
    """The profile called ``name``; ``KeyError`` naming the known profiles otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown memory profile {name!r}; known: {', '.join(PROFILES)}") from None


def expected_vram_gib(
    profile: str, model_variant: str, width: int = 512, height: int = 512, frames: int = 121
) -> float:
    """Estimated peak VRAM (GiB) of ``profile`` for one generation of this size (estimate)."""
    return get_profile(profile).expected_vram_gib(model_variant, width, height, frames)


def vram_table(
    model_variant: str, width: int = 512, height: int = 512, frames: int = 121
) -> dict[str, float]:
    """``{profile: estimated GiB}`` at one size (default 512x512x121), heaviest first."""
    return {n: expected_vram_gib(n, model_variant, width, height, frames) for n in PROFILE_ORDER}


def choose_profile(
    free_vram_bytes: int | None,
    model_variant: str,
    width: int = 512,
    height: int = 512,
    frames: int = 121,
    *,
    margin_gib: float = 1.0,
) -> str:
    """The fastest profile whose figure (+ ``margin_gib``) fits in ``free_vram_bytes``.

    Opt-in profiles (``fp8_fast``) are never chosen. ``None`` (no GPU) gives ``resident_bf16``:
    on the CPU everything is resident anyway. When nothing fits, the lightest profile is
    returned; the caller may warn that it may still fail.
    """
    if free_vram_bytes is None:
        return PROFILE_ORDER[0]
    free_gib = free_vram_bytes / GIB
    for name in PROFILE_ORDER:
        if PROFILES[name].opt_in:
            continue
        if expected_vram_gib(name, model_variant, width, height, frames) + margin_gib <= free_gib:
            return name
    return PROFILE_ORDER[-1]


def lighter_profile(name: str) -> str | None:
    """The next lighter profile after ``name`` (for "retry on a lighter profile"), or None.

    Opt-in profiles are skipped: a retry never switches the output to an approximate mode the
    user did not choose."""
    get_profile(name)
    for nxt in PROFILE_ORDER[PROFILE_ORDER.index(name) + 1 :]:
        if not PROFILES[nxt].opt_in:
            return nxt
    return None


# ----------------------------------------------------------------------------- GPU


@dataclass(frozen=True)
class GPUInfo:
    """The CUDA device the engine would use."""

    name: str
    index: int
    total_bytes: int
    free_bytes: int
    capability: tuple[int, int]

    @property
    def supports_fp8_compute(self) -> bool:
        """Hopper (9.0) or newer has fp8 tensor cores; layerwise casting works on any GPU."""
        return self.capability >= (8, 9)


def gpu_info(index: int = 0) -> GPUInfo | None:
    """Name and total/free memory of CUDA device ``index``, or None without CUDA. Imports torch."""
    import torch

    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        return None
    free, total = torch.cuda.mem_get_info(index)
    props = torch.cuda.get_device_properties(index)
    return GPUInfo(
        name=props.name,
        index=index,
        total_bytes=int(total),
        free_bytes=int(free),
        capability=(props.major, props.minor),
    )


# ----------------------------------------------------------------------------- applying


@dataclass
class AppliedProfile:
    """What :func:`apply_profile` did. ``effective`` differs from ``requested`` when a profile
    cannot run on this device (offload without CUDA) and a plainer one was used; ``notes`` then
    say why in a sentence for the user."""

    requested: str
    effective: str
    device: str
    free_text_encoder: bool
    notes: list[str] = field(default_factory=list)
    executor_options: dict[str, Any] = field(default_factory=dict)

    def after_text_encoding(self, pipe: Any) -> None:
        """Call once the prompt embeddings exist: frees the text encoder's GPU memory when the
        flag is set (offload profiles manage the encoder themselves)."""
        streamed = ("model_offload", "group_offload", "fp8_fast", "fp8_weights")
        if not self.free_text_encoder or self.effective in streamed:
            return
        te = getattr(pipe, "text_encoder", None)
        if te is None:
            return
        import torch

        te.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# Precision-critical text-encoder layers kept in their loaded dtype under fp8 storage.
_TE_SKIP_CASTING = ("embed", "norm", "lm_head", "vision", "multi_modal_projector")


def _modules(pipe: Any) -> dict[str, Any]:
    import torch

    return {k: v for k, v in pipe.components.items() if isinstance(v, torch.nn.Module)}


def _stream(module: Any, dev: Any) -> None:
    """Leaf-level group offloading: weights live in CPU memory and each leaf module's weights
    are copied in (prefetched on a side CUDA stream) when it runs."""
    import torch
    from diffusers.hooks import apply_group_offloading

    apply_group_offloading(
        module,
        onload_device=dev,
        offload_device=torch.device("cpu"),
        offload_type="leaf_level",
        use_stream=dev.type == "cuda",
    )


def _tile_vae(pipe: Any) -> None:
    """Decode the video in overlapping temporal chunks (diffusers' framewise decoding, 16
    frames with an 8-frame stride) and spatial tiles above 512 px: bounded decode memory."""
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "enable_tiling"):
        return
    vae.enable_tiling()
    if hasattr(vae, "use_framewise_decoding"):
        vae.use_framewise_decoding = True


def _cast_text_encoder_fp8(pipe: Any, dtype: Any) -> None:
    import torch
    from diffusers.hooks import apply_layerwise_casting

    te = getattr(pipe, "text_encoder", None)
    if te is not None:
        apply_layerwise_casting(
            te,
            storage_dtype=torch.float8_e4m3fn,
            compute_dtype=dtype,
            skip_modules_pattern=_TE_SKIP_CASTING,
        )


def apply_profile(
    pipe: Any,
    name: str,
    device: Any = "cuda",
    *,
    free_text_encoder: bool | None = None,
    compute_dtype: Any = None,
) -> AppliedProfile:
    """Apply memory profile ``name`` to a loaded diffusers LTX-2 pipeline, placing it on ``device``.

    Call once, after loading weights and LoRAs, before the first generation. ``compute_dtype``
    (fp8 profiles) defaults to the transformer's current dtype. Offload profiles need a CUDA
    device: on the CPU they degrade to ``resident_bf16`` and say so in ``notes``; ``fp8_fast``
    on a GPU without fp8 tensor cores degrades to ``fp8_weights``.
    """
    import torch

    profile = get_profile(name)
    dev = torch.device(device)
    free_te = profile.free_text_encoder if free_text_encoder is None else free_text_encoder
    applied = AppliedProfile(name, name, str(dev), free_te)

    if profile.needs_cuda and dev.type != "cuda":
        applied.effective = "resident_bf16"
        applied.notes.append(
            f"{profile.title} needs an NVIDIA GPU; running with everything on {dev.type} instead."
        )
        pipe.to(dev)
        pipe.executor_options = {}
        return applied
    if profile.needs_fp8_compute:
        from engine.fp8 import fp8_compute_supported

        if not fp8_compute_supported(dev):
            name = "fp8_weights"
            applied.effective = name
            applied.notes.append(
                f"{profile.title} needs fp8 tensor cores (RTX 40xx / Ada, H100 / Hopper or "
                f"newer); using {PROFILES[name].title} instead."
            )

    if name == "resident_bf16":
        pipe.to(dev)
    elif name in ("fp8_fast", "fp8_weights"):
        dtype = compute_dtype or pipe.transformer.dtype
        transformer = pipe.transformer
        if name == "fp8_fast":
            from engine.fp8 import quantize_linears

            # layer by layer on the GPU: only fp8 bytes stay there
            quantize_linears(transformer, device=dev)
        else:
            transformer.enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
            )
        transformer.to(dev)
        if dev.type != "cuda":  # resident: fp8 storage halves the encoder's memory
            _cast_text_encoder_fp8(pipe, dtype)
        # streamed (CUDA): the encoder stays bf16 (exact prompt embeddings); it is read from
        # CPU memory once per generation and never occupies VRAM
        for comp_name, module in _modules(pipe).items():
            if comp_name == "transformer":
                continue
            if dev.type == "cuda":
                _stream(module, dev)
            else:
                module.to(dev)
        if dev.type != "cuda":
            applied.notes.append(
                "fp8 weights on the CPU save memory but not time; streaming needs a GPU."
            )
        _tile_vae(pipe)
    elif name == "model_offload":
        pipe.enable_model_cpu_offload(device=dev)
        _tile_vae(pipe)
    elif name == "group_offload":
        from diffusers.hooks import apply_group_offloading

        use_stream = dev.type == "cuda"
        for comp_name, module in _modules(pipe).items():
            if comp_name == "transformer":
                apply_group_offloading(
                    module,
                    onload_device=dev,
                    offload_device=torch.device("cpu"),
                    offload_type="block_level",
                    num_blocks_per_group=1,
                    use_stream=use_stream,
                )
            else:
                _stream(module, dev)
        _tile_vae(pipe)
    if name != "resident_bf16":
        # the text keys/values cached across steps (~2.4 GiB for two prompts at LTX-2 size)
        # are recomputed per step instead: ~3% slower, fits the 24 GiB profiles
        applied.executor_options["cache_text_kv"] = False
    pipe.executor_options = dict(applied.executor_options)
    return applied
