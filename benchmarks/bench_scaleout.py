"""Scale-out benchmark: pass parallel / sequence parallel on N GPUs beside one GPU (not a test).

``python benchmarks/gpu_bench.py --gpus N --parallel passes,sequence [--attention ulysses|ring]``
(issue 15: two H200s, full LTX-2 dims, random weights, 512x512x121, 5 s reference). Rank 0
first runs the one-GPU fast executor (the default single-GPU path) for ``--steps`` steps of the
real schedule; then all N ranks run the parallel mode from the same state. JSON lines (printed,
and appended to ``--out``):

    {"run": "scaleout", "parallel": "passes", "gpus": 2, "s_per_step": ...,
     "one_gpu_s_per_step": ..., "speedup": ..., "peak_vram_gib_per_gpu": [...],
     "diff_video_max_rel": ..., "diff_audio_max_rel": ..., ...}

s/step is the median of the steps after the first (warm-up: compilation, caches); ``diff_*``
compare the final latents after ``--steps`` steps with the one-GPU result (max |a-b| / max |b|,
and the relative L2 norm).

Processes: ``--gpus N`` spawns N ranks on ``cuda:0..N-1`` with NCCL (or, under ``torchrun``,
uses the ranks torchrun started). ``--tiny`` (or no CUDA): the tiny dims on N CPU ranks with
gloo, a smoke run. ``--always-gather`` makes pass parallel gather through the collective even
on one rank (checks the NCCL path with ``--gpus 1``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _rank(rank: int, world: int, init: str, args: argparse.Namespace, kind: str) -> None:
    import torch
    from fullsize import build_transformer
    from gpu_bench import make_state, scales_for, shapes_for, sigmas_for, time_denoise

    from engine.distributed.context import destroy, init_group
    from engine.pipeline.executor import make_executor

    device = f"cuda:{rank}" if kind == "cuda" else "cpu"
    ctx = init_group(rank, world, device, init)
    dtype = torch.bfloat16 if kind == "cuda" else torch.float32
    model = build_transformer(args.tiny, device, dtype, args.layers)
    sh = shapes_for(args)
    base = make_state(model.config, sh, device, dtype)
    scales = scales_for(args)
    sigmas = sigmas_for(args.steps)
    info: dict[str, Any] = {
        "width": args.width,
        "height": args.height,
        "frames": args.frames,
        "video_tokens": sh.nv,
        "audio_tokens": sh.nr + sh.nt,
        "text_tokens": sh.text_tokens,
        "steps": args.steps,
        "device": torch.cuda.get_device_name(rank) if kind == "cuda" else "cpu",
        "backend": ctx.backend,
    }

    compile_on = "on" in (getattr(args, "compile", None) or [])
    info["compile"] = compile_on

    # 1. one GPU, the fast executor (rank 0 only; the others wait)
    one: dict | None = None
    one_line: dict | None = None
    if rank == 0:
        st, times, peak = time_denoise(model, base, sigmas, scales, make_executor("fast"), device)
        one = {"video": st.video.clone(), "audio": st.audio.clone()}
        one_line = {
            "run": "scaleout",
            "parallel": "one-gpu",
            "gpus": 1,
            "executor": "fast",
            "s_per_step": round(median_after_warmup(times), 4),
            "step_times": [round(t, 4) for t in times],
            "peak_vram_gib": round(peak, 2) if peak is not None else None,
            **info,
        }
        _emit(one_line, args.out)
    ctx.barrier()

    # 2. each parallel mode on every rank, from the same state (sequence last: diffusers'
    # context-parallel hooks stay on the model once applied)
    for mode in args.parallel:
        _parallel_run(mode, model, base, sigmas, scales, ctx, args, compile_on, one, one_line, info)
    destroy()


def median_after_warmup(times: list[float]) -> float:
    """The median step time after the first (warm-up) step."""
    return statistics.median(times[1:] if len(times) > 1 else times)


def _parallel_run(
    mode: str,
    model: Any,
    base: Any,
    sigmas: list[float],
    scales: Any,
    ctx: Any,
    args: argparse.Namespace,
    compile_on: bool,
    one: dict | None,
    one_line: dict | None,
    info: dict[str, Any],
) -> None:
    """Time one parallel mode on every rank; rank 0 writes its line (with the difference of
    the final latents to the one-GPU run)."""
    import torch
    import torch.distributed as dist
    from gpu_bench import _rel, time_denoise

    from engine.distributed.passes import PassParallelExecutor
    from engine.pipeline.executor import make_executor

    rank, world = ctx.rank, ctx.world_size
    device = ctx.device
    try:
        if mode == "passes":
            runner: Any = PassParallelExecutor(
                ctx, make_executor("fast", compile=compile_on), always_gather=args.always_gather
            )
        else:
            from engine.distributed.sequence import SequenceParallel, SequenceParallelExecutor

            runner = SequenceParallelExecutor(SequenceParallel(model, ctx, args.attention))
        st, times, peak = time_denoise(model, base, sigmas, scales, runner, device)
        error = None
    except Exception as exc:  # noqa: BLE001 - reported as a line
        st, times, peak, error = None, [], None, f"{type(exc).__name__}: {exc}"
    peaks: list[Any] = [None] * world
    dist.all_gather_object(peaks, round(peak, 2) if peak is not None else None)
    if rank == 0:
        line: dict[str, Any] = {
            "run": "scaleout",
            "parallel": mode,
            "gpus": world,
            **({"attention": args.attention} if mode == "sequence" else {}),
            "inner_executor": "fast" if mode == "passes" else "forward",
            **info,
        }
        if error is not None:
            line["error"] = error
        else:
            s = median_after_warmup(times)
            vmax, vl2 = _rel(st.video, one["video"])
            amax, al2 = _rel(st.audio, one["audio"])
            line.update(
                s_per_step=round(s, 4),
                one_gpu_s_per_step=one_line["s_per_step"],
                speedup=round(one_line["s_per_step"] / s, 3),
                step_times=[round(t, 4) for t in times],
                peak_vram_gib_per_gpu=peaks,
                diff_video_max_rel=vmax,
                diff_video_rel_l2=vl2,
                diff_audio_max_rel=amax,
                diff_audio_rel_l2=al2,
                finite=bool(torch.isfinite(st.video).all() and torch.isfinite(st.audio).all()),
            )
        _emit(line, args.out)
    ctx.barrier()


def _emit(line: dict, out: Path | None) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


def run(args: argparse.Namespace) -> int:
    """``gpu_bench.py --parallel ...``: spawn the ranks (or join torchrun's) and run."""
    import torch

    kind = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # started by torchrun
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        _rank(rank, world, "env://", args, kind)
        return 0
    world = int(args.gpus)
    if kind == "cuda" and world > torch.cuda.device_count():
        print(f"--gpus {world}: this machine has {torch.cuda.device_count()} GPUs", file=sys.stderr)
        return 2
    import torch.multiprocessing as mp

    from engine.distributed.context import free_port

    init = f"tcp://127.0.0.1:{free_port()}"
    mp.start_processes(_rank, args=(world, init, args, kind), nprocs=world, start_method="spawn")
    return 0


__all__ = ["run"]
