"""GPU benchmark of ID-LoRA generation at full LTX-2 size, random weights (not a test).

Builds the transformer once and times several configurations in it, each from the same
initial state (512x512x121 = 4,096 video tokens, a 5 s reference voice = 126 reference + 121
target audio tokens, 1,024 text tokens) for ``--steps`` steps of the real 30-step schedule
(the first step is the warm-up: compilation, caches), then prints one JSON line per
configuration:

    {"run": "engine", "executor": "fast", "precision": "bf16", "compile": true,
     "s_per_step": ..., "ratio_to_reference": ..., "peak_vram_gib": ...,
     "diff_video_max_rel": ..., "diff_audio_max_rel": ..., ...}

``diff_*`` compare the final latents after ``--steps`` steps with the sequential bf16 executor's
on the same weights and noise (max |a-b| / max |b|, and the relative L2 norm).
``--reference`` first times the public ID-LoRA code's structure -- ltx-core's ``LTXModel`` (the
``ltx-core`` package from PyPI) with the five guidance passes run one after another at batch 1,
as ``scripts/inference_one_stage.py`` runs them -- at the same dimensions, and frees it.
``--whole`` times the whole pipeline (Gemma 3 12B prompt encoding, denoising, VAE and audio
decode) under memory profiles and caps (see ``whole_pipeline.py``).

Usage (torch + diffusers + this repository's ``engine``; ``ltx-core`` for ``--reference``):

    python benchmarks/gpu_bench.py --reference --executor sequential fast \\
        --precision bf16 fp8 --compile off on
    python benchmarks/gpu_bench.py --tiny --reference      # CPU smoke run at tiny dims
    python benchmarks/gpu_bench.py --whole --profile fp8_fast --cap-gib 24
    python benchmarks/gpu_bench.py --pipeline all --variant both --out results.jsonl

``--fp8-variants`` times each fp8 fast configuration once per ``Float8Linear`` option set (bias in
the GEMM epilogue or after it, fast accumulation); ``--torch-profile`` profiles one more step of
each fast configuration (kernel time by category, products and attention by shape with their
TFLOP/s, GPU idle gaps: ``step_profile.py``); ``--gemm-probe`` times the block's products and
attention shapes alone (the ceilings).

``--gpus N --parallel passes|sequence|passes,sequence`` times pass parallel and/or sequence
parallel on N GPUs beside the one-GPU fast executor, the model built once per rank
(``bench_scaleout.py``; issue 15; ``benchmarks/gpu_x2.sh`` is the whole two-GPU run).

``--pipeline one-stage|two-stage|hq|fast|all`` (comma-separated for several) times each
pipeline's stages instead -- seconds and peak VRAM per stage, LTX-2 and/or LTX-2.3
(``--variant``), with random ID-LoRA / distilled LoRA adapters, passes run by the first
``--executor`` given (sequential by default): see ``bench_pipelines.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

GIB = 2**30


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated() / GIB, 2)


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def emit(line: dict, out: Path | None) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    if out is not None:
        with out.open("a") as fh:
            fh.write(text + "\n")


def _rel(a: Any, b: Any) -> tuple[float, float]:
    a, b = a.float(), b.float()
    d = (a - b).abs()
    # three significant digits (a fixed number of decimals would print a tiny fp32 difference
    # as 0.0, which reads as bit-exact)
    return (
        float(f"{(d.max() / b.abs().max().clamp_min(1e-12)).item():.3g}"),
        float(f"{(d.norm() / b.norm().clamp_min(1e-12)).item():.3g}"),
    )


# ----------------------------------------------------------------------------- inputs


@dataclasses.dataclass
class Shapes:
    lf: int
    lh: int
    lw: int
    nr: int
    nt: int
    text_tokens: int

    @property
    def nv(self) -> int:
        return self.lf * self.lh * self.lw


def shapes_for(args: argparse.Namespace) -> Shapes:
    from engine.audio_frontend import audio_latent_frames

    lf, lh, lw = (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32
    nr = audio_latent_frames(int(args.ref_seconds * 16000)) if args.ref_seconds > 0 else 0
    nt = round(args.frames / 25.0 * 25.0)
    return Shapes(lf, lh, lw, nr, nt, args.text_tokens)


def make_state(cfg: Any, sh: Shapes, device: str, dtype: Any) -> Any:
    """A random denoising state (first latent frame clean) and random text embeddings."""
    import torch

    from engine.pipeline.denoise import DenoiseState, TextEmbeds
    from engine.pipeline.positions import audio_coords, video_coords

    g = torch.Generator(device="cpu").manual_seed(0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).to(device)

    video = rnd(1, sh.nv, cfg.in_channels)
    mask = torch.ones(1, sh.nv, device=device)
    mask[:, : sh.lh * sh.lw] = 0.0
    text_dim = cfg.caption_channels if cfg.use_prompt_embeddings else None

    def text() -> TextEmbeds:
        vd = text_dim or cfg.num_attention_heads * cfg.attention_head_dim
        ad = text_dim or cfg.audio_num_attention_heads * cfg.audio_attention_head_dim
        return TextEmbeds(
            rnd(1, sh.text_tokens, vd).to(dtype),
            rnd(1, sh.text_tokens, ad).to(dtype),
            torch.ones(1, sh.text_tokens, device=device, dtype=torch.long),
        )

    return DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=rnd(1, sh.nr, cfg.audio_in_channels),
        audio=rnd(1, sh.nt, cfg.audio_in_channels),
        video_coords=video_coords(1, sh.lf, sh.lh, sh.lw, 25.0, device=device),
        audio_coords=audio_coords(1, sh.nr, sh.nt, device=device),
        positive=text(),
        negative=text(),
        latent_frames=sh.lf,
        latent_height=sh.lh,
        latent_width=sh.lw,
        fps=25.0,
    )


def copy_state(st: Any) -> Any:
    return dataclasses.replace(st, video=st.video.clone(), audio=st.audio.clone())


def scales_for(args: argparse.Namespace) -> Any:
    from engine.pipeline.guidance import GuidanceScales

    if args.no_guidance:
        return GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0)
    return GuidanceScales(stg_block=args.stg_block)


def sigmas_for(steps: int) -> list[float]:
    from engine.pipeline.schedule import ltx2_sigmas

    return ltx2_sigmas(30)[: steps + 1]  # the first steps of the real 30-step schedule


# ----------------------------------------------------------------------------- engine runs


def time_denoise(
    model: Any, base: Any, sigmas: list[float], scales: Any, runner: Any, device: str
) -> tuple[Any, list[float], float | None]:
    """Run the engine's loop; per-step wall times (synchronised) and peak VRAM."""
    from engine.pipeline.denoise import denoise

    st = copy_state(base)
    times: list[float] = []
    last = [0.0]

    def on_step(rep: Any) -> None:
        _sync(device)
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    _reset_peak(device)
    _sync(device)
    last[0] = time.perf_counter()
    denoise(
        model, st, sigmas, scales, use_cross_timestep=False, on_step=on_step, pass_runner=runner
    )
    return st, times, _peak(device)


def engine_configs(args: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(executor, precision, compile) to run, bf16 before fp8 (quantization is in place);
    the sequential bf16 baseline first."""
    out = []
    for prec, ex, comp in itertools.product(args.precision, args.executor, args.compile):
        c = comp == "on"
        if ex == "sequential" and (c or prec != "bf16"):
            continue  # compile and fp8 are measured on the fast executor
        out.append((ex, prec, c))
    # bf16 before fp8; compiled before eager within fp8 (the figure that matters first)
    out.sort(key=lambda t: (t[1] != "bf16", t[0] != "sequential", t[2] != (t[1] == "bf16")))
    if ("sequential", "bf16", False) not in out and not args.no_baseline:
        out.insert(0, ("sequential", "bf16", False))
    return out


FP8_VARIANTS = ("epilogue_bias", "bias_after", "fast_accum", "best+fast_accum")


def fp8_variant_options(name: str, times: dict[str, float], device: str) -> dict[str, bool]:
    """``Float8Linear`` options of an fp8 benchmark variant: ``epilogue_bias`` (the bias in the
    GEMM's epilogue where the device takes it), ``bias_after`` (added after the product, where a
    compiled block fuses it into the next elementwise kernel), ``fast_accum`` (epilogue bias and
    fast accumulation), ``best+fast_accum`` (the faster bias placement timed so far, with fast
    accumulation)."""
    from engine.fp8 import scaled_mm_takes_bias

    epilogue = device.startswith("cuda") and scaled_mm_takes_bias(device)
    if name == "epilogue_bias":
        return {"bias_in_gemm": epilogue, "fast_accum": False}
    if name == "bias_after":
        return {"bias_in_gemm": False, "fast_accum": False}
    if name == "fast_accum":
        return {"bias_in_gemm": epilogue, "fast_accum": True}
    if name == "best+fast_accum":
        timed = {k: v for k, v in times.items() if k in ("epilogue_bias", "bias_after")}
        best = min(timed, key=timed.__getitem__) if timed else "epilogue_bias"
        return {**fp8_variant_options(best, times, device), "fast_accum": True}
    raise ValueError(f"unknown fp8 variant {name!r}; expected one of {', '.join(FP8_VARIANTS)}")


def run_engine(
    args: argparse.Namespace,
    device: str,
    dtype: Any,
    sh: Shapes,
    reference_s: float | None,
    out: Path | None,
) -> list[dict]:
    import torch
    from fullsize import build_transformer, param_count

    from engine.fp8 import fp8_compute_supported, quantize_linears, set_fp8_options
    from engine.pipeline.executor import FastExecutor, SequentialExecutor
    from engine.pipeline.guidance import build_pass_specs

    t0 = time.perf_counter()
    model = build_transformer(args.tiny, device, dtype, args.layers)
    _sync(device)
    build_s = time.perf_counter() - t0
    base = make_state(model.config, sh, device, dtype)
    scales = scales_for(args)
    sigmas = sigmas_for(args.steps)
    passes = len(build_pass_specs(scales, has_reference=sh.nr > 0))
    baseline = None
    lines = []
    quantized = False
    configs = [(ex, prec, comp, None) for ex, prec, comp in engine_configs(args)]
    if args.identity_off_variant:  # a fast configuration (bf16 compiled) without the identity pass
        fast = [c for c in configs if c[0] == "fast"]
        pick = [c for c in fast if c[1] == "bf16" and c[2]] or fast[-1:]
        if pick:  # right after it (before fp8 quantizes the model in place)
            configs.insert(configs.index(pick[0]) + 1, (*pick[0][:3], "identity_off"))
    if args.fp8_variants:  # the fp8 fast configurations once per option set
        expanded = []
        for c in configs:
            if c[0] == "fast" and c[1] == "fp8":
                expanded += [(*c[:3], f"fp8:{v}") for v in args.fp8_variants]
            else:
                expanded.append(c)
        configs = expanded
    fp8_times: dict[str, float] = {}
    for ex_name, prec, comp, variant in configs:
        if prec == "fp8" and not quantized:
            t = time.perf_counter()
            n = quantize_linears(model)
            _sync(device)
            quantized = True
            print(f"fp8: {n} linears quantized in {time.perf_counter() - t:.1f} s", flush=True)
        fp8_options = None
        if variant and variant.startswith("fp8:"):
            fp8_options = fp8_variant_options(variant[4:], fp8_times, device)
            set_fp8_options(model, **fp8_options)
        if comp:  # every compiled configuration compiles its own graphs (fair guard lookups)
            import engine.pipeline.executor as executor_module

            torch._dynamo.reset()
            executor_module._COMPILED.clear()
        runner = SequentialExecutor() if ex_name == "sequential" else FastExecutor(compile=comp)
        run_scales = scales
        if variant == "identity_off":
            run_scales = dataclasses.replace(scales, identity=0.0)
        line: dict[str, Any] = {
            "run": "engine",
            "variant": variant,
            "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
            "executor": ex_name,
            "precision": prec,
            "fp8_kernel": (
                "torch._scaled_mm rowwise" if fp8_compute_supported(device) else "emulated"
            )
            if prec == "fp8"
            else None,
            "compile": comp,
            "fp8_options": fp8_options,
            "guidance": "none" if args.no_guidance else "all",
            "passes_per_step": passes,
            "steps": args.steps,
            "video_tokens": sh.nv,
            "audio_tokens": sh.nr + sh.nt,
            "reference_tokens": sh.nr,
            "text_tokens": sh.text_tokens,
            "params_b": round(param_count(model) / 1e9, 3),
            "build_s": round(build_s, 1),
        }
        try:
            st, times, peak = time_denoise(model, base, sigmas, run_scales, runner, device)
        except Exception as exc:  # report and go on with the next configuration
            line["error"] = f"{type(exc).__name__}: {exc}"[:500]
            emit(line, out)
            lines.append(line)
            _reset_peak(device)
            continue
        timed = times[1:] or times
        per_step = sum(timed) / len(timed)
        line.update(
            first_step_s=round(times[0], 3),
            step_times_s=[round(t, 4) for t in times],
            s_per_step=round(per_step, 4),
            s_per_30_steps=round(per_step * 30, 1),
            ratio_to_reference=round(reference_s / per_step, 3) if reference_s else None,
            peak_vram_gib=peak,
            finite=bool(torch.isfinite(st.video).all() and torch.isfinite(st.audio).all()),
        )
        if hasattr(runner, "stats"):
            line["lane_blocks_per_step"] = runner.stats["lane_blocks"] / max(len(times), 1)
        if comp:
            from torch._dynamo.utils import counters

            line["dynamo"] = {
                k: dict(v) for k, v in counters.items() if k in ("stats", "graph_break")
            }
        if (ex_name, prec, comp) == ("sequential", "bf16", False):
            baseline = st
        if fp8_options is not None:
            fp8_times[variant[4:]] = per_step
        if baseline is not None and (variant is None or fp8_options is not None):
            dv, dv2 = _rel(st.video, baseline.video)
            da, da2 = _rel(st.audio, baseline.audio)
            line.update(
                diff_video_max_rel=dv,
                diff_audio_max_rel=da,
                diff_video_rel_l2=dv2,
                diff_audio_rel_l2=da2,
            )
        emit(line, out)
        lines.append(line)
        if args.torch_profile and ex_name == "fast":
            from step_profile import print_profile, profile_step

            def one_step(m: Any = model, r: Any = runner, sc: Any = run_scales) -> None:
                time_denoise(m, base, sigmas[1:3], sc, r, device)

            prof = profile_step(one_step, device, f"{ex_name} {prec} compile={comp} {variant}")
            print_profile(prof)
            emit(prof, out)
    del model
    _reset_peak(device)
    return lines


# ----------------------------------------------------------------------------- reference


def run_reference(
    args: argparse.Namespace, device: str, dtype: Any, sh: Shapes, out: Path | None
) -> dict:
    """The public structure: ltx-core's X0Model, five sequential batch-1 passes per step."""
    import torch
    from fullsize import build_reference, param_count, transformer_config
    from ltx_core.guidance.perturbations import (
        BatchedPerturbationConfig,
        Perturbation,
        PerturbationConfig,
        PerturbationType,
    )
    from ltx_core.model.transformer.modality import Modality

    try:
        from importlib.metadata import version

        ltx_version = version("ltx-core")
    except Exception:  # noqa: BLE001 - installed without metadata (--target)
        ltx_version = "unknown"
    t0 = time.perf_counter()
    model = build_reference(args.tiny, device, dtype, args.layers)
    _sync(device)
    build_s = time.perf_counter() - t0
    cfg = transformer_config(args.tiny, args.layers)

    class _Cfg:
        in_channels = cfg["in_channels"]
        audio_in_channels = cfg["audio_in_channels"]
        caption_channels = cfg["caption_channels"]
        use_prompt_embeddings = True
        num_attention_heads = cfg["num_attention_heads"]
        attention_head_dim = cfg["attention_head_dim"]
        audio_num_attention_heads = cfg["audio_num_attention_heads"]
        audio_attention_head_dim = cfg["audio_attention_head_dim"]

    st = make_state(_Cfg, sh, device, dtype)
    scales = scales_for(args)
    sigmas = sigmas_for(args.steps)
    nr = sh.nr
    stg = BatchedPerturbationConfig(
        [
            PerturbationConfig(
                [
                    Perturbation(PerturbationType.SKIP_VIDEO_SELF_ATTN, [args.stg_block]),
                    Perturbation(PerturbationType.SKIP_AUDIO_SELF_ATTN, [args.stg_block]),
                ]
            )
        ]
    )
    bimodal = BatchedPerturbationConfig(
        [
            PerturbationConfig(
                [
                    Perturbation(PerturbationType.SKIP_A2V_CROSS_ATTN, None),
                    Perturbation(PerturbationType.SKIP_V2A_CROSS_ATTN, None),
                ]
            )
        ]
    )
    none = BatchedPerturbationConfig.empty(1)
    video, audio = st.video.clone(), torch.cat([st.audio_ref, st.audio], dim=1)
    a_mask = torch.ones(1, audio.shape[1], device=device)
    a_mask[:, :nr] = 0

    def modality(x: Any, mask: Any, pos: Any, text: Any, sigma: float) -> Any:
        s = torch.full((1,), sigma, device=device)
        return Modality(
            latent=x.to(dtype),
            sigma=s,
            timesteps=(sigma * mask).unsqueeze(-1).to(dtype),
            positions=pos,
            context=text,
            enabled=True,
            context_mask=None,
        )

    times: list[float] = []
    _reset_peak(device)
    passes = 0
    with torch.no_grad():
        for i in range(len(sigmas) - 1):
            _sync(device)
            t = time.perf_counter()
            s, s_next = sigmas[i], sigmas[i + 1]
            pv = modality(video, st.video_mask, st.video_coords, st.positive.video, s)
            pa = modality(audio, a_mask, st.audio_coords, st.positive.audio, s)
            dv, da = model(pv, pa, none)
            passes = 1
            gv, ga = dv.float().clone(), da.float().clone()
            if scales.cfg_on:
                nv_, na_ = model(
                    modality(video, st.video_mask, st.video_coords, st.negative.video, s),
                    modality(audio, a_mask, st.audio_coords, st.negative.audio, s),
                    none,
                )
                gv += (scales.video_cfg - 1) * (dv.float() - nv_.float())
                ga += (scales.audio_cfg - 1) * (da.float() - na_.float())
                passes += 1
            if scales.identity_on and nr:
                _, ra = model(
                    pv,
                    modality(
                        audio[:, nr:],
                        a_mask[:, nr:],
                        st.audio_coords[:, :, nr:],
                        st.positive.audio,
                        s,
                    ),
                    none,
                )
                ga[:, nr:] += scales.identity * (da[:, nr:].float() - ra.float())
                passes += 1
            if scales.stg_on:
                sv, sa = model(pv, pa, stg)
                gv += scales.stg * (dv.float() - sv.float())
                ga += scales.stg * (da.float() - sa.float())
                passes += 1
            if scales.modality_on:
                bv, ba = model(pv, pa, bimodal)
                gv += (scales.modality - 1) * (dv.float() - bv.float())
                ga += (scales.modality - 1) * (da.float() - ba.float())
                passes += 1
            keep = st.video_mask[..., None]
            video = torch.where(keep > 0, video + (video - gv) / s * (s_next - s), video)
            audio = torch.cat(
                [audio[:, :nr], (audio + (audio - ga) / s * (s_next - s))[:, nr:]], dim=1
            )
            _sync(device)
            times.append(time.perf_counter() - t)
    timed = times[1:] or times
    per_step = sum(timed) / len(timed)
    line = {
        "run": "reference",
        "structure": f"ltx-core {ltx_version} LTXModel, {passes} sequential batch-1 passes",
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
        "precision": str(dtype).replace("torch.", ""),
        "guidance": "none" if args.no_guidance else "all",
        "passes_per_step": passes,
        "steps": args.steps,
        "params_b": round(param_count(model) / 1e9, 3),
        "build_s": round(build_s, 1),
        "first_step_s": round(times[0], 3),
        "step_times_s": [round(t, 4) for t in times],
        "s_per_step": round(per_step, 4),
        "s_per_30_steps": round(per_step * 30, 1),
        "peak_vram_gib": _peak(device),
        "finite": bool(torch.isfinite(video).all() and torch.isfinite(audio).all()),
    }
    emit(line, out)
    del model
    _reset_peak(device)
    return line


# ----------------------------------------------------------------------------- SDPA probe


def sdpa_probe(device: str, out: Path | None) -> dict:
    """Time SDPA's backends on the video self-attention shape (4 lanes x 32 heads x 4096 x 128)."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v = (torch.randn(4, 32, 4096, 128, device=device, dtype=torch.bfloat16) for _ in range(3))
    res: dict[str, Any] = {"run": "sdpa_probe", "shape": [4, 32, 4096, 128]}
    backends = {
        "default": None,
        "flash": SDPBackend.FLASH_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
    }
    res["priority_order"] = list(torch._C._get_sdp_priority_order())
    res["default_choice"] = int(torch._fused_sdp_choice(q, k, v))
    for name, be in backends.items():
        try:
            ctx = sdpa_kernel([be]) if be is not None else contextlib.nullcontext()
            with ctx:
                for _ in range(3):
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)
                _sync(device)
                t = time.perf_counter()
                for _ in range(10):
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)
                _sync(device)
            res[f"{name}_ms"] = round((time.perf_counter() - t) / 10 * 1000, 3)
        except Exception as exc:  # noqa: BLE001 - a backend unavailable here
            res[f"{name}_ms"] = f"unavailable: {type(exc).__name__}"
    emit(res, out)
    return res


# ----------------------------------------------------------------------------- main


def _parallel_modes(text: str) -> list[str]:
    """``passes``, ``sequence`` or both comma-separated; sequence runs last (diffusers'
    context-parallel hooks stay on the model once applied)."""
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("passes", "sequence")]
    if not modes or bad or len(set(modes)) != len(modes):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give passes, sequence or passes,sequence (each once)"
        )
    return sorted(modes, key=lambda m: m == "sequence")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=4, help="steps per configuration (1st: warm-up)")
    ap.add_argument(
        "--executor", nargs="+", default=["sequential", "fast"], choices=("sequential", "fast")
    )
    ap.add_argument("--precision", nargs="+", default=["bf16"], choices=("bf16", "fp8"))
    ap.add_argument(
        "--compile",
        nargs="+",
        default=["off"],
        choices=("off", "on"),
        help="regional torch.compile of the block (fast executor)",
    )
    ap.add_argument(
        "--reference",
        action="store_true",
        help="first time the public structure (ltx-core, 5 sequential passes)",
    )
    ap.add_argument(
        "--no-baseline", action="store_true", help="do not add the sequential bf16 baseline"
    )
    ap.add_argument("--sdpa-probe", action="store_true", help="time SDPA backends")
    ap.add_argument(
        "--fp8-variants",
        nargs="+",
        default=None,
        choices=FP8_VARIANTS,
        help="time each fp8 fast configuration once per Float8Linear option set",
    )
    ap.add_argument(
        "--gemm-probe",
        action="store_true",
        help="time bf16 / fp8 products and SDPA at the block's shapes (step_profile.py)",
    )
    ap.add_argument(
        "--torch-profile",
        action="store_true",
        help="profile one more step of each fast configuration (kernel time by category)",
    )
    ap.add_argument(
        "--identity-off-variant",
        action="store_true",
        help="also time the last fast configuration without the identity pass",
    )
    ap.add_argument("--whole", action="store_true", help="whole pipeline (whole_pipeline.py)")
    ap.add_argument(
        "--profile",
        nargs="+",
        default=["resident_bf16"],
        help="--whole: memory profiles, each optionally NAME:CAP_GIB",
    )
    ap.add_argument("--no-guidance", action="store_true", help="conditional pass only")
    ap.add_argument("--tiny", action="store_true", help="tiny dimensions on the CPU (smoke test)")
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--height", type=int, default=512)
    ap.add_argument("--frames", type=int, default=121)
    ap.add_argument("--ref-seconds", type=float, default=5.0)
    ap.add_argument("--text-tokens", type=int, default=1024)
    ap.add_argument("--stg-block", type=int, default=29)
    ap.add_argument("--layers", type=int, default=None, help="override the block count")
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=None, help="append the JSON lines to this file")
    ap.add_argument(
        "--pipeline",
        default=None,
        help="one-stage|two-stage|hq|fast|all (comma-separated): time each stage instead",
    )
    ap.add_argument("--variant", default="ltx2", choices=("ltx2", "ltx2.3", "both"))
    ap.add_argument(
        "--timed-steps", type=int, default=2, help="steps run of a long stage (--pipeline)"
    )
    ap.add_argument("--json", action="store_true", help="--pipeline: also print JSON lines")
    g = ap.add_argument_group("several GPUs (bench_scaleout.py)")
    g.add_argument("--gpus", type=int, default=2, help="--parallel: number of GPUs (ranks)")
    g.add_argument(
        "--parallel",
        type=_parallel_modes,
        default=None,
        help="passes|sequence|passes,sequence: time pass parallel and/or sequence parallel on "
        "--gpus GPUs beside one GPU (several: one model build, sequence last)",
    )
    g.add_argument("--attention", choices=("ulysses", "ring"), default="ulysses")
    g.add_argument(
        "--always-gather",
        action="store_true",
        help="pass parallel gathers through the collective even on one GPU (NCCL check)",
    )
    args = ap.parse_args(argv)
    if args.parallel:
        from bench_scaleout import run as run_scaleout

        if args.tiny:
            args.width, args.height, args.frames = 64, 64, 9
            args.ref_seconds, args.text_tokens, args.stg_block = 1.0, 16, 1
        return run_scaleout(args)
    if args.pipeline:
        from bench_pipelines import run as run_pipelines
        from fullsize import build_transformer

        return run_pipelines(args, build_transformer)

    import torch

    if args.tiny:
        args.width, args.height, args.frames = 64, 64, 9
        args.ref_seconds, args.text_tokens, args.stg_block = 1.0, 16, 1
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    sh = shapes_for(args)
    if args.sdpa_probe and device.startswith("cuda"):
        sdpa_probe(device, args.out)
    if args.gemm_probe and device.startswith("cuda"):
        from step_profile import gemm_probe

        for row in gemm_probe(device):
            emit(row, args.out)
    if args.whole:
        from whole_pipeline import run_whole

        run_whole(args, device, dtype, args.out)
        return 0
    ref_s = None
    if args.reference:
        ref_s = run_reference(args, device, dtype, sh, args.out)["s_per_step"]
    lines = run_engine(args, device, dtype, sh, ref_s, args.out)
    print("\nexecutor    precision compile  s/step  x_ref  peak_GiB  diff_v    diff_a")
    for ln in lines:
        if "error" in ln:
            print(f"{ln['executor']:<11} {ln['precision']:<9} {ln['compile']!s:<7}  {ln['error']}")
            continue
        print(
            f"{ln['executor']:<11} {ln['precision']:<9} {ln['compile']!s:<7} "
            f"{ln['s_per_step']:7.4f} {ln.get('ratio_to_reference') or 0:6.2f} "
            f"{ln['peak_vram_gib'] or 0:8.2f}  {ln.get('diff_video_max_rel', '-')!s:<9} "
            f"{ln.get('diff_audio_max_rel', '-')}"
        )
    return 0 if all(ln.get("finite", False) for ln in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
