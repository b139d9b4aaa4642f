"""Whole-pipeline timing under a memory profile and a VRAM cap (``gpu_bench.py --whole``).

For each ``--profile NAME[:CAP_GIB]`` (an ``engine.memory`` profile, or ``resident_fp8``: the
``fp8_fast`` transformer with every component resident, the "resident time" of that mode):
build every component at its real configuration with
random weights (``fullsize.build_components``: Gemma 3 12B, the 19B transformer, VAEs, vocoder,
connectors), place them with ``engine.memory.apply_profile`` (the Studio's own code path), cap
the process with ``torch.cuda.set_per_process_memory_fraction`` and run ``IDLoRAPipeline`` end to
end: prompt + negative prompt encoding (1,024 tokens each), first-frame and 5 s reference-voice
encoding, ``--steps`` denoising steps with all guidances, VAE and audio decode. One JSON line per
profile: phase times (synchronised), seconds per step, peak VRAM, and the projected time of a
30-step generation (encode + prepare + decode + 30 x s/step; compilation excluded).
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import traceback
from pathlib import Path
from typing import Any

GIB = 2**30


class SyncStopwatch:
    """``engine.api.Stopwatch`` that synchronises CUDA at phase boundaries."""

    def __init__(self, device: str) -> None:
        self.timings: dict[str, float] = {}
        self.device = device
        self.open: list[str] = []  # the phases running now (where a failure happened)
        self.peak_after: dict[str, float] = {}  # the process's peak VRAM (GiB) at each phase's end

    def phase(self, name: str) -> Any:
        import torch

        sw = self

        class _Phase:
            def __enter__(self) -> None:
                if sw.device.startswith("cuda"):
                    torch.cuda.synchronize()
                sw.open.append(name)
                self.t0 = time.perf_counter()

            def __exit__(self, *exc: object) -> None:
                if sw.device.startswith("cuda"):
                    torch.cuda.synchronize()
                sw.timings[name] = sw.timings.get(name, 0.0) + time.perf_counter() - self.t0
                if exc[0] is None:
                    sw.open.pop()
                if sw.device.startswith("cuda"):
                    sw.peak_after[name] = round(torch.cuda.max_memory_allocated() / GIB, 2)

        return _Phase()


def _inputs(width: int, height: int, ref_seconds: float) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(3)
    image = torch.rand(3, height, width, generator=g) * 2 - 1
    n = int(16000 * ref_seconds)
    t = torch.arange(n) / 16000
    wave = (0.3 * torch.sin(2 * math.pi * 180 * t) + 0.05 * torch.randn(n, generator=g))[None]
    return image, wave.expand(2, -1).contiguous()


def run_whole(args: argparse.Namespace, device: str, dtype: Any, out: Path | None) -> list[dict]:
    """One JSON line per ``--profile NAME[:CAP_GIB]`` (see the module docstring)."""
    import torch
    from gpu_bench import emit

    lines = []
    for spec in args.profile:
        name, _, cap = spec.partition(":")
        line = run_profile(args, device, dtype, name, float(cap) if cap else None)
        emit(line, out)
        lines.append(line)
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.set_per_process_memory_fraction(1.0)
            torch.cuda.empty_cache()
    return lines


def run_profile(
    args: argparse.Namespace, device: str, dtype: Any, name: str, cap_gib: float | None
) -> dict:
    import numpy as np
    import torch
    from fullsize import build_components, param_count
    from gpu_bench import sigmas_for

    from engine.memory import apply_profile
    from engine.pipeline import IDLoRAPipeline
    from engine.pipeline.executor import make_executor

    cuda = device.startswith("cuda")
    line: dict[str, Any] = {
        "run": "whole",
        "profile": name,
        "cap_gib": cap_gib,
        "size": [args.width, args.height, args.frames],
        "steps": args.steps,
        "ref_seconds": args.ref_seconds,
    }
    if cuda:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    sw: SyncStopwatch | None = None
    step_t: list[float] = []
    try:
        t0 = time.perf_counter()
        comps = build_components(args.tiny, device, dtype, args.layers)
        line["params_b"] = {
            k: round(param_count(v) / 1e9, 3)
            for k, v in comps.items()
            if isinstance(v, torch.nn.Module)
        }
        pipe = IDLoRAPipeline(**comps)
        del comps
        pipe.set_progress_bar_config(disable=True)
        if name == "resident_fp8":  # benchmark-only: fp8_fast's transformer, all resident
            from engine.fp8 import quantize_linears
            from engine.memory import AppliedProfile

            quantize_linears(pipe.transformer, device=device)
            pipe.to(device)
            pipe.executor_options = {}
            applied = AppliedProfile(name, name, device, False)
        else:
            applied = apply_profile(pipe, name, device)
        line["effective_profile"] = applied.effective
        line["notes"] = applied.notes
        if cuda:
            torch.cuda.synchronize()
            gc.collect()
            torch.cuda.empty_cache()
            line["resident_after_placement_gib"] = round(torch.cuda.memory_allocated() / GIB, 2)
            if cap_gib is not None:
                total = torch.cuda.get_device_properties(0).total_memory / GIB
                torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib / total))
            torch.cuda.reset_peak_memory_stats()
        line["build_and_place_s"] = round(time.perf_counter() - t0, 1)
        image, wave = _inputs(args.width, args.height, args.ref_seconds)
        sw = SyncStopwatch(device)
        last = [0.0]

        def progress(rep: Any, preview: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            now = time.perf_counter()
            step_t.append(now - last[0])
            last[0] = now

        def after_te() -> None:
            applied.after_text_encoding(pipe)
            if cuda:
                torch.cuda.synchronize()
            last[0] = time.perf_counter()

        ex_name = args.executor[-1]
        opts = {}
        if ex_name == "fast":  # the profile's options (as the pipeline would use them)
            opts = dict(getattr(pipe, "executor_options", {}), compile=args.compile[-1] == "on")
        executor = make_executor(ex_name, **opts)
        line["executor_options"] = opts
        t_call = time.perf_counter()
        result = pipe(
            "[VISUAL]: a woman speaking to the camera. [SPEECH]: hello there. "
            "[SOUNDS]: clear voice.",
            "blurry, distorted voice",
            image=image,
            reference_audio=wave,
            reference_sample_rate=16000,
            height=args.height,
            width=args.width,
            num_frames=args.frames,
            num_inference_steps=args.steps,
            sigmas=sigmas_for(args.steps),  # the first steps of the 30-step schedule
            stg_block=args.stg_block,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
            progress=progress,
            stopwatch=sw,
            after_text_encoding=after_te,
            pass_executor=executor,
        )
        total = time.perf_counter() - t_call
        timed = step_t[1:] or step_t
        per_step = sum(timed) / len(timed)
        tm = sw.timings
        fixed = tm.get("encode_prompt", 0.0) + tm.get("prepare", 0.0) + tm.get("decode", 0.0)
        line.update(
            executor=getattr(executor, "name", None),
            compile=getattr(executor, "compile", None),
            encode_s=round(tm.get("encode_prompt", 0.0), 2),
            prepare_s=round(tm.get("prepare", 0.0), 2),
            denoise_s=round(tm.get("denoise", 0.0), 2),
            decode_s=round(tm.get("decode", 0.0), 2),
            first_step_s=round(step_t[0], 2) if step_t else None,
            step_times_s=[round(t, 3) for t in step_t],
            s_per_step=round(per_step, 4),
            total_s=round(total, 2),
            projected_30_steps_s=round(fixed + 30 * per_step, 1),
            peak_vram_gib=round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None,
            peak_reserved_gib=round(torch.cuda.max_memory_reserved() / GIB, 2) if cuda else None,
            peak_after_phase_gib=sw.peak_after,
            frames_shape=list(result.frames.shape),
            audio_shape=list(result.audio.shape),
            finite=bool(np.isfinite(result.frames).all() and np.isfinite(result.audio).all()),
        )
    except Exception as exc:  # report and go on with the next profile
        line["error"] = f"{type(exc).__name__}: {exc}"[:600]
        line["failed_in"] = "/".join(sw.open) if sw is not None else "build/place"
        line["steps_done"] = len(step_t)
        line["peak_after_phase_gib"] = sw.peak_after if sw is not None else {}
        tb = traceback.extract_tb(exc.__traceback__)
        line["where"] = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in tb[-6:]]
        if cuda:
            line["peak_vram_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 2)
    return line
