"""GPU benchmark of the ID-LoRA denoising loop at full LTX-2 transformer size (not a test).

Builds ``LTX2VideoTransformer3DModel`` with the real LTX-2 (19B) dimensions -- 48 blocks,
video 32 heads x 128 (4,096 wide), audio 32 heads x 64 (2,048 wide), cross-attention 4,096 /
2,048, caption channels 3,840, 128 latent channels, split RoPE -- on the ``meta`` device, then
materialises it directly on the GPU with random bf16 weights (no 19B CPU initialisation). It
runs the engine's own denoising loop (``engine.pipeline.denoise``: the same pass specs, guidance
and Euler-on-x0 code as the app) at 512x512x121 (4,096 video tokens) with a 5 s reference voice
(plus 121 target audio tokens), random text embeddings (1,024 tokens, no Gemma), and prints
seconds per step, passes per step and peak VRAM.

Usage (needs only torch + diffusers + this repository's ``engine`` package):

    python benchmarks/gpu_bench.py                 # 1 warm-up step + 5 timed steps
    python benchmarks/gpu_bench.py --steps 10 --no-guidance
    python benchmarks/gpu_bench.py --tiny          # CPU smoke run at tiny dims
    python benchmarks/gpu_bench.py --profile fp8_weights --cap-gib 24
    python benchmarks/gpu_bench.py --profile group_offload --cap-gib 12

``--profile`` applies the transformer part of a memory profile (engine.memory): resident bf16,
fp8 weight storage (diffusers layerwise casting, bf16 compute) or block-level group offload
(weights in pinned CPU memory, one block at a time on the GPU, prefetched on a side stream).
``--cap-gib`` caps the process with ``torch.cuda.set_per_process_memory_fraction`` after the
weights are built, so an allocation past the cap fails exactly as on a smaller card.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LTX2_TRANSFORMER_CONFIG = {
    "in_channels": 128,
    "out_channels": 128,
    "patch_size": 1,
    "patch_size_t": 1,
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "vae_scale_factors": (8, 32, 32),
    "pos_embed_max_pos": 20,
    "base_height": 2048,
    "base_width": 2048,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
    "audio_scale_factor": 4,
    "audio_pos_embed_max_pos": 20,
    "audio_sampling_rate": 16000,
    "audio_hop_length": 160,
    "num_layers": 48,
    "caption_channels": 3840,
    "rope_type": "split",
    "rope_double_precision": True,
    "norm_elementwise_affine": False,
    "timestep_scale_multiplier": 1000,
    "cross_attn_timestep_scale_multiplier": 1000,
}


def build_transformer(tiny: bool, device: str, dtype, layers: int | None = None):  # noqa: ANN001, ANN201
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    config = dict(LTX2_TRANSFORMER_CONFIG)
    if tiny:  # same meta -> GPU path, with the tiny test model's dimensions
        from engine.models.tiny import _build_transformer

        config = {
            k: v for k, v in _build_transformer("ltx2").config.items() if not k.startswith("_")
        }
    if layers is not None:
        config["num_layers"] = layers
    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**config)
    model = model.to_empty(device=device).to(dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name):
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                fan_in = p.shape[-1] if p.ndim > 1 else p.shape[0]
                p.normal_(0.0, 1.0 / math.sqrt(fan_in), generator=gen)
    return model.eval()


def apply_transformer_profile(model, profile: str, device: str):  # noqa: ANN001, ANN201
    """Apply the transformer side of an engine.memory profile to a model built on ``device``."""
    import torch

    if profile == "resident_bf16":
        return model
    if profile == "fp8_weights":
        model.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16
        )
    elif profile == "group_offload":
        from diffusers.hooks import apply_group_offloading

        model.to("cpu")
        apply_group_offloading(
            model,
            onload_device=torch.device(device),
            offload_device=torch.device("cpu"),
            offload_type="block_level",
            num_blocks_per_group=1,
            use_stream=True,
        )
    else:
        raise SystemExit(f"unknown profile {profile!r}")
    torch.cuda.empty_cache()
    return model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after --warmup)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--no-guidance", action="store_true", help="conditional pass only")
    ap.add_argument("--tiny", action="store_true", help="tiny transformer on CPU (smoke test)")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--ref-seconds", type=float, default=5.0)
    ap.add_argument("--text-tokens", type=int, default=1024)
    ap.add_argument("--stg-block", type=int, default=29)
    ap.add_argument("--layers", type=int, default=None, help="override the block count")
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON line at the end")
    ap.add_argument(
        "--profile",
        default="resident_bf16",
        choices=("resident_bf16", "fp8_weights", "group_offload"),
        help="memory profile applied to the transformer (GPU only)",
    )
    ap.add_argument("--cap-gib", type=float, default=None, help="cap GPU memory to this (GiB)")
    args = ap.parse_args(argv)

    import torch

    from engine.audio_frontend import audio_latent_frames
    from engine.pipeline.denoise import DenoiseState, TextEmbeds, denoise
    from engine.pipeline.guidance import GuidanceScales, build_pass_specs
    from engine.pipeline.positions import audio_coords, video_coords
    from engine.pipeline.schedule import ltx2_sigmas

    if args.tiny:
        args.width, args.height, args.frames = 64, 64, 9
        args.ref_seconds, args.text_tokens, args.stg_block = 1.0, 16, 1
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32

    t0 = time.perf_counter()
    model = build_transformer(args.tiny, device, dtype, args.layers)
    n_params = sum(p.numel() for p in model.parameters())
    if device.startswith("cuda"):
        model = apply_transformer_profile(model, args.profile, device)
        torch.cuda.synchronize()
        if args.cap_gib is not None:
            total_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
            torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib / total_gib))
    build_s = time.perf_counter() - t0
    cfg = model.config

    # shapes: 32x spatial, 8x temporal; audio 25 latents/s
    lf, lh, lw = (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32
    nv = lf * lh * lw
    nr = audio_latent_frames(int(args.ref_seconds * 16000))
    nt = round(args.frames / 25.0 * 25.0)
    g = torch.Generator(device="cpu").manual_seed(0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device)

    video = rnd(1, nv, cfg.in_channels)
    mask = torch.ones(1, nv, device=device)
    mask[:, : lh * lw] = 0.0
    text_dim = cfg.caption_channels if cfg.use_prompt_embeddings else None

    def text() -> TextEmbeds:
        vd = text_dim or cfg.num_attention_heads * cfg.attention_head_dim
        ad = text_dim or cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
        return TextEmbeds(
            rnd(1, args.text_tokens, vd).to(dtype),
            rnd(1, args.text_tokens, ad).to(dtype),
            torch.ones(1, args.text_tokens, device=device, dtype=torch.long),
        )

    state = DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=rnd(1, nr, cfg.audio_in_channels),
        audio=rnd(1, nt, cfg.audio_in_channels),
        video_coords=video_coords(1, lf, lh, lw, 25.0, device=device),
        audio_coords=audio_coords(1, nr, nt, device=device),
        positive=text(),
        negative=text(),
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
        fps=25.0,
    )
    if args.no_guidance:
        scales = GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0)
    else:
        scales = GuidanceScales(stg_block=args.stg_block)
    passes = len(build_pass_specs(scales, has_reference=nr > 0))
    total = args.warmup + args.steps
    sigmas = ltx2_sigmas(total)

    step_times: list[float] = []
    last = [time.perf_counter()]

    def on_step(rep) -> None:  # noqa: ANN001
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        now = time.perf_counter()
        step_times.append(now - last[0])
        last[0] = now
        if rep.index + 1 == args.warmup and device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    last[0] = time.perf_counter()
    denoise(model, state, sigmas, scales, use_cross_timestep=False, on_step=on_step)
    timed = step_times[args.warmup :]
    per_step = sum(timed) / max(len(timed), 1)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    finite = bool(torch.isfinite(state.video).all() and torch.isfinite(state.audio).all())

    result = {
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
        "dtype": str(dtype).replace("torch.", ""),
        "profile": args.profile,
        "cap_gib": args.cap_gib,
        "params_b": round(n_params / 1e9, 3),
        "build_s": round(build_s, 2),
        "video_tokens": nv,
        "audio_tokens": nr + nt,
        "reference_tokens": nr,
        "text_tokens": args.text_tokens,
        "passes_per_step": passes,
        "warmup_steps": args.warmup,
        "timed_steps": len(timed),
        "s_per_step": round(per_step, 4),
        "s_per_pass": round(per_step / passes, 4),
        "s_per_30_steps": round(per_step * 30, 1),
        "peak_vram_gib": round(peak, 2),
        "finite": finite,
    }
    print(
        f"transformer: {result['params_b']} B params, built in {result['build_s']} s on {device}; "
        f"profile {args.profile}, cap {args.cap_gib} GiB"
    )
    print(
        f"tokens: {nv} video + {nr + nt} audio ({nr} reference) + {args.text_tokens} text; "
        f"{passes} passes/step"
    )
    print(f"step times (s): {[round(t, 4) for t in step_times]}")
    print(
        f"{per_step:.4f} s/step ({per_step / passes:.4f} s/pass), "
        f"~{per_step * 30:.1f} s for 30 steps; peak VRAM {peak:.2f} GiB; finite={finite}"
    )
    if args.json:
        print(json.dumps(result))
    return 0 if finite else 1


if __name__ == "__main__":
    raise SystemExit(main())
