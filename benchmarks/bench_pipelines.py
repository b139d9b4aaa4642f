"""Each pipeline's denoising at full LTX-2 / LTX-2.3 transformer size: seconds and peak VRAM per
stage (``gpu_bench.py --pipeline ...``; not a test).

Random bf16 weights (built on the GPU, as ``gpu_bench.build_transformer``), random text
embeddings and latents, and random LoRA adapters of the public ranks loaded through peft exactly
as the engine loads checkpoints: the ID-LoRA (rank 128: audio self-attention, a<->v
cross-attention, audio feed-forward) and the distilled LoRA (rank 384: every attention and
feed-forward). Each stage runs the engine's own code -- ``GuidedDenoiser`` (pass specs, a
pass executor: ``--executor``'s first name, sequential by default, made afresh per stage as the
pipeline does; guidance), the stage's sampler (Euler or res2s), ``stage2_state`` for the
2x stage, ``set_adapter_strengths`` between stages -- on the preset's schedule.

Stages with a long schedule (one-stage / two-stage stage 1: 30 Euler steps; HQ stage 1: 15
res2s steps = 31 evaluations) run their first ``--timed-steps`` steps after one warm-up
evaluation; the full stage's time is that per-evaluation time times the evaluations the full
schedule makes (``s_full_estimate``). Short stages (every stage 2, fast's 8 steps) run whole.

LTX-2.3 dimensions: diffusers' LTX-2.3 options (gated attention, prompt cross-attention
modulation, per-modality text widths, no caption projection) on LTX-2's 48 blocks of 32 x 128 /
32 x 64 heads; the real 22B checkpoint's exact sizes are not known offline, so the parameter
count is printed with the figures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

IDLORA_RANK = 128
DISTILLED_RANK = 384


def add_random_lora(model: Any, name: str, modules: tuple[str, ...], rank: int) -> int:
    """Load a random LoRA of ``rank`` on ``modules`` of every block as peft adapter ``name``;
    returns its parameter count."""
    import torch

    from engine.lora import random_lora_state_dict

    param = next(model.parameters())
    gen = torch.Generator(device=param.device).manual_seed(1 if name == "idlora" else 2)
    sd = random_lora_state_dict(
        model, modules, rank, gen, prefix="transformer.", b_scale=0.01, dtype=param.dtype
    )
    n = sum(v.numel() for v in sd.values())
    # low_cpu_mem_usage: peft builds the adapter layers on the meta device and takes these
    # tensors as they are (no CPU initialisation of billions of LoRA parameters)
    model.load_lora_adapter(sd, prefix="transformer", adapter_name=name, low_cpu_mem_usage=True)
    return n


def _state(model: Any, frames: int, height: int, width: int, ref_s: float, text: int, g: Any):
    """A stage-1 DenoiseState of random latents at (frames, height, width)."""
    import torch

    from engine.audio_frontend import audio_latent_frames
    from engine.pipeline.denoise import DenoiseState, TextEmbeds
    from engine.pipeline.positions import audio_coords, video_coords

    param = next(model.parameters())
    dev, dtype = param.device, param.dtype
    cfg = model.config
    lf, lh, lw = (frames - 1) // 8 + 1, height // 32, width // 32
    nv = lf * lh * lw
    nr = audio_latent_frames(int(ref_s * 16000))
    nt = round(frames / 25.0 * 25.0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(dev)

    def embeds() -> TextEmbeds:
        vd = cfg.caption_channels if cfg.use_prompt_embeddings else None
        v = vd or cfg.num_attention_heads * cfg.attention_head_dim
        a = vd or cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
        mask = torch.ones(1, text, device=dev, dtype=torch.long)
        return TextEmbeds(rnd(1, text, v).to(dtype), rnd(1, text, a).to(dtype), mask)

    video = rnd(1, nv, cfg.in_channels)
    mask = torch.ones(1, nv, device=dev)
    mask[:, : lh * lw] = 0.0
    return DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=rnd(1, nr, cfg.audio_in_channels),
        audio=rnd(1, nt, cfg.audio_in_channels),
        video_coords=video_coords(1, lf, lh, lw, 25.0, device=dev),
        audio_coords=audio_coords(1, nr, nt, device=dev),
        positive=embeds(),
        negative=embeds(),
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
        fps=25.0,
    )


def _stage2(model: Any, s1: Any, g: Any) -> Any:
    """The 2x stage's state from stage 1's (random upsampled latents, the engine's blend)."""
    import torch

    from engine.pipeline.presets import STAGE2_SIGMAS
    from engine.pipeline.stages import Stage2Inputs, stage2_state

    dev = s1.video.device
    lf, lh, lw = s1.latent_frames, 2 * s1.latent_height, 2 * s1.latent_width
    c = s1.video.shape[-1]
    rnd = lambda *shape: torch.randn(*shape, generator=g).to(dev)  # noqa: E731
    inputs = Stage2Inputs(
        video=rnd(1, lf * lh * lw, c),
        first_frame=rnd(1, lh * lw, c),
        audio=s1.audio,
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
    )
    return stage2_state(
        inputs,
        sigma0=STAGE2_SIGMAS[0],
        video_noise=rnd(1, lf * lh * lw, c),
        positive=s1.positive,
        fps=s1.fps,
    )


def bench_pipeline(
    model: Any,
    name: str,
    *,
    variant: str,
    frames: int,
    height: int,
    width: int,
    ref_s: float,
    text: int,
    timed_steps: int,
    stg_block: int | None,
    emit: Callable[[dict], None],
    executor_name: str = "sequential",
) -> None:
    """Run pipeline ``name``'s stages on ``model``; ``emit`` one dict per stage."""
    import torch

    from engine.lora import set_adapter_strengths
    from engine.pipeline.denoise import default_use_cross_timestep
    from engine.pipeline.executor import make_executor
    from engine.pipeline.guidance import GuidanceScales
    from engine.pipeline.guided import GuidedDenoiser
    from engine.pipeline.presets import get_preset, stage_sigmas
    from engine.pipeline.samplers.res2s import evaluations
    from engine.pipeline.stages import run_sampler

    cuda = next(model.parameters()).device.type == "cuda"
    preset = get_preset(name)
    d = preset.defaults()
    block = d["stg_block"] if stg_block is None else stg_block
    if block >= len(model.transformer_blocks):
        block = len(model.transformer_blocks) - 1
    scales = GuidanceScales(
        video_cfg=d["video_cfg"],
        audio_cfg=d["audio_cfg"],
        identity=d["identity_scale"],
        stg=d["stg_scale"],
        modality=d["modality_scale"],
        stg_block=block,
        cfg_star=d["cfg_star"],
    )
    off = GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0)
    uct = default_use_cross_timestep(model)
    g = torch.Generator().manual_seed(0)
    state = _state(model, frames, height, width, ref_s, text, g)
    for stage in preset.stages:
        if stage.scale != 1:
            state = _stage2(model, state, g)
        strengths = stage.lora_strengths(1.0)
        set_adapter_strengths(model, strengths)
        n_tokens = state.video.shape[1]
        full = stage_sigmas(stage, d["steps"], num_tokens=n_tokens)
        full_steps = len(full) - 1
        run_steps = full_steps if stage.fixed_steps else min(timed_steps, full_steps)
        sig = full[: run_steps + 1]
        evals_run: list[float] = []

        runner = make_executor(executor_name)

        def executor(
            tr: Any, specs: Any, st: Any, sigma: float, u: bool, log=evals_run, run=runner
        ) -> Any:
            log.append(sigma)
            return run(tr, specs, st, sigma, u)

        den = GuidedDenoiser(
            model,
            scales if stage.guided else off,
            use_cross_timestep=uct,
            executor=executor,
            total_steps=full_steps,
        )
        passes = len(den.specs(state, 0))
        # warm-up: one guided evaluation (kernels, allocator), not timed
        with torch.no_grad():
            den(state, sig[0], 0)
        evals_run.clear()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        run_sampler(stage.sampler, den, state, sig)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if stage.sampler == "res2s":
            evals_full = evaluations(full_steps, ends_at_zero=full[-1] == 0.0)
        else:
            evals_full = full_steps
        per_eval = seconds / max(len(evals_run), 1)
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        emit(
            {
                "pipeline": name,
                "variant": variant,
                "stage": stage.name,
                "sampler": stage.sampler,
                "steps_full": full_steps,
                "steps_run": run_steps,
                "evals_run": len(evals_run),
                "evals_full": evals_full,
                "passes_per_eval": passes,
                "video_tokens": n_tokens,
                "audio_tokens": state.num_reference + state.audio.shape[1],
                "loras": strengths,
                "s_measured": round(seconds, 3),
                "s_per_eval": round(per_eval, 4),
                "s_per_pass": round(per_eval / passes, 4),
                "s_full_estimate": round(per_eval * evals_full, 2),
                "peak_vram_gib": round(peak, 2),
                "finite": bool(
                    torch.isfinite(state.video).all() and torch.isfinite(state.audio).all()
                ),
            }
        )


def run(args: Any, build_transformer: Callable[..., Any]) -> int:
    """``gpu_bench.py --pipeline NAME[,NAME] [--variant ltx2|ltx2.3|both]``."""
    import torch

    from engine.lora import DISTILLED_TARGETS, IDLORA_TARGETS
    from engine.pipeline.presets import PIPELINES, PRESETS

    names = list(PIPELINES) if args.pipeline == "all" else args.pipeline.split(",")
    for n in names:
        if n not in PRESETS:
            raise SystemExit(f"unknown pipeline {n!r}; choose from {', '.join(PIPELINES)} or all")
    variants = ["ltx2", "ltx2.3"] if args.variant == "both" else [args.variant]
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    if args.tiny:
        args.width, args.height, args.frames = 64, 64, 9
        args.ref_seconds, args.text_tokens = 1.0, 16
    executor_name = (getattr(args, "executor", None) or ["sequential"])[0]
    failures = 0
    for variant in variants:
        todo = [n for n in names if variant in PRESETS[n].variants]
        if not todo:
            continue
        t0 = time.perf_counter()
        model = build_transformer(args.tiny, device, dtype, args.layers, variant=variant)
        n_params = sum(p.numel() for p in model.parameters())
        rank_id, rank_d = (4, 4) if args.tiny else (IDLORA_RANK, DISTILLED_RANK)
        lora_params = add_random_lora(model, "idlora", IDLORA_TARGETS, rank_id)
        lora_params += add_random_lora(model, "distilled", DISTILLED_TARGETS, rank_d)
        build_s = time.perf_counter() - t0
        head = {
            "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
            "dtype": str(dtype).replace("torch.", ""),
            "variant": variant,
            "params_b": round(n_params / 1e9, 3),
            "lora_params_m": round(lora_params / 1e6, 1),
            "build_s": round(build_s, 1),
            "size": [args.width, args.height, args.frames],
            "executor": executor_name,
        }
        print(
            f"{variant}: {head['params_b']} B params + {head['lora_params_m']} M LoRA params, "
            f"built in {head['build_s']} s on {head['device']}",
            flush=True,
        )

        def emit(row: dict, head: dict = head) -> None:
            nonlocal failures
            row = {**head, **row}
            failures += 0 if row["finite"] else 1
            print(
                f"  {row['pipeline']:9s} {row['stage']:13s} {row['sampler']:5s} "
                f"{row['video_tokens']:6d} video tok, {row['passes_per_eval']} pass/eval: "
                f"{row['evals_run']}/{row['evals_full']} evals in {row['s_measured']} s "
                f"({row['s_per_eval']} s/eval) -> stage ~{row['s_full_estimate']} s; "
                f"peak {row['peak_vram_gib']} GiB",
                flush=True,
            )
            if args.json:
                print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")

        for name in todo:
            bench_pipeline(
                model,
                name,
                variant=variant,
                frames=args.frames,
                height=args.height,
                width=args.width,
                ref_s=args.ref_seconds,
                text=args.text_tokens,
                timed_steps=args.timed_steps,
                stg_block=1 if args.tiny else None,
                emit=emit,
                executor_name=executor_name,
            )
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return 1 if failures else 0
