"""Memory profiles: named strategies for fitting LTX-2 / LTX-2.3 into the GPU at hand.

Each profile is one way to place the pipeline's weights, applied once to a loaded diffusers
pipeline by :func:`apply_profile` (nothing else in the engine branches on memory):

``resident_bf16``   everything on the GPU in its loaded dtype (bf16). Fastest, most memory.
``model_offload``   diffusers' ``enable_model_cpu_offload``: whole components move to the GPU
                    when they run (text encoder, then transformer, then VAEs).
``fp8_weights``     transformer and text-encoder weights stored as float8_e4m3fn through
                    diffusers' layerwise casting, upcast per layer to bf16 for compute; on CUDA
                    combined with model offload so one component is on the GPU at a time.
``group_offload``   diffusers' group offloading: transformer blocks (one per group) and the leaf
                    modules of the other components stream from CPU memory, with CUDA streams
                    overlapping transfer and compute. Slowest, least memory.

Every profile can also *free the text encoder after encoding* (move it to the CPU once the prompt
embeddings exist): the Gemma 3 12B encoder is ~22 GiB in bf16 and is not needed during denoising.

The VRAM figures are ESTIMATES from parameter counts and one measurement (method.md: the reference
structure at 512x512x121 in bf16 peaks at 36 GiB on an H100); they are to be replaced by the
figures of the GPU benchmark. Importing this module does not import torch.
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

    def expected_vram_gib(
        self,
        model_variant: str,
        width: int,
        height: int,
        frames: int,
        *,
        free_text_encoder: bool | None = None,
    ) -> float:
        """Estimated peak GPU memory (GiB) of one generation with this profile. An estimate from
        parameter counts, to be replaced by measured figures."""
        if model_variant not in _TRANSFORMER_PARAMS:
            raise ValueError(f"unknown model variant {model_variant!r}")
        free_te = self.free_text_encoder if free_text_encoder is None else free_text_encoder
        t_params = _TRANSFORMER_PARAMS[model_variant]
        transformer = _gib(t_params, 2)
        text_encoder = _gib(_TEXT_ENCODER_PARAMS, 2)
        other = _gib(_OTHER_PARAMS, 2)
        act = _ACT_GIB_PER_KTOKEN * tokens_for(width, height, frames) / 1000
        decode = _DECODE_GIB_REF * (width * height * frames) / _DECODE_REF_VOXELS
        work = max(act, decode)

        if self.name == "resident_bf16":
            weights = transformer + other
            encode_phase = text_encoder + weights + _TE_ACT_GIB
            denoise_phase = weights + work + (0.0 if free_te else text_encoder)
        elif self.name == "fp8_weights":
            # fp8 storage for the transformer and the text encoder, one component on the GPU
            # at a time (model offload), one block's weights upcast at a time.
            t_fp8 = _gib(t_params, 1) + 2 * transformer / _TRANSFORMER_BLOCKS
            encode_phase = _gib(_TEXT_ENCODER_PARAMS, 1) + _TE_ACT_GIB
            denoise_phase = max(t_fp8 + act, other + decode)
        elif self.name == "model_offload":
            # One component at a time (the offload hooks move the previous one out).
            encode_phase = text_encoder + _TE_ACT_GIB
            denoise_phase = max(transformer + act, other + decode)
        elif self.name == "group_offload":
            per_block = transformer / _TRANSFORMER_BLOCKS
            resident = 2 * per_block + 0.02 * transformer  # current + prefetched block, the rest
            encode_phase = 2 * text_encoder / 48 + _TE_ACT_GIB
            denoise_phase = resident + work
        else:  # pragma: no cover - PROFILES only holds the four above
            raise ValueError(self.name)
        return round(max(encode_phase, denoise_phase) + _CONTEXT_GIB, 1)


PROFILES: dict[str, MemoryProfile] = {
    p.name: p
    for p in (
        MemoryProfile(
            "resident_bf16",
            "All on GPU (bf16)",
            "Every component stays on the GPU. Fastest; needs the most memory.",
            free_text_encoder=False,
        ),
        MemoryProfile(
            "model_offload",
            "Model offload",
            "Components move to the GPU one at a time. Little slower; the transformer must fit.",
            needs_cuda=True,
        ),
        MemoryProfile(
            "fp8_weights",
            "Weights in fp8",
            "Transformer and text-encoder weights stored in 8-bit float, computed in bf16, one "
            "component on the GPU at a time. Halves their memory; output differs slightly.",
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
PROFILE_ORDER: tuple[str, ...] = ("resident_bf16", "model_offload", "fp8_weights", "group_offload")


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
    """The fastest profile whose estimate (+ ``margin_gib``) fits in ``free_vram_bytes``.

    ``None`` (no GPU) gives ``resident_bf16``: on the CPU everything is resident anyway. When
    nothing fits, the lightest profile is returned; the caller may warn that it may still fail.
    """
    if free_vram_bytes is None:
        return PROFILE_ORDER[0]
    free_gib = free_vram_bytes / GIB
    for name in PROFILE_ORDER:
        if expected_vram_gib(name, model_variant, width, height, frames) + margin_gib <= free_gib:
            return name
    return PROFILE_ORDER[-1]


def lighter_profile(name: str) -> str | None:
    """The next lighter profile after ``name`` (for "retry on a lighter profile"), or None."""
    get_profile(name)
    i = PROFILE_ORDER.index(name)
    return PROFILE_ORDER[i + 1] if i + 1 < len(PROFILE_ORDER) else None


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

    def after_text_encoding(self, pipe: Any) -> None:
        """Call once the prompt embeddings exist: frees the text encoder's GPU memory when the
        flag is set (offload profiles manage the encoder themselves)."""
        if not self.free_text_encoder or self.effective in ("model_offload", "group_offload"):
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
    (fp8 profile) defaults to the transformer's current dtype. Offload profiles need a CUDA
    device: on the CPU they degrade to ``resident_bf16`` and say so in ``notes``.
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
        return applied

    if name == "resident_bf16":
        pipe.to(dev)
    elif name == "fp8_weights":
        dtype = compute_dtype or pipe.transformer.dtype
        # Cast on the CPU side first so only fp8 bytes ever cross to the GPU.
        pipe.transformer.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
        )
        te = getattr(pipe, "text_encoder", None)
        if te is not None:
            from diffusers.hooks import apply_layerwise_casting

            apply_layerwise_casting(
                te,
                storage_dtype=torch.float8_e4m3fn,
                compute_dtype=dtype,
                skip_modules_pattern=_TE_SKIP_CASTING,
            )
        if dev.type == "cuda":
            pipe.enable_model_cpu_offload(device=dev)
        else:
            pipe.to(dev)
            applied.notes.append(
                "fp8 weights on the CPU save memory but not time; component offload needs a GPU."
            )
    elif name == "model_offload":
        pipe.enable_model_cpu_offload(device=dev)
    elif name == "group_offload":
        from diffusers.hooks import apply_group_offloading

        use_stream = dev.type == "cuda"
        for comp_name, module in _modules(pipe).items():
            if comp_name == "transformer":
                kwargs: dict[str, Any] = {"offload_type": "block_level", "num_blocks_per_group": 1}
            else:
                kwargs = {"offload_type": "leaf_level"}
            apply_group_offloading(
                module,
                onload_device=dev,
                offload_device=torch.device("cpu"),
                use_stream=use_stream,
                **kwargs,
            )
    return applied
