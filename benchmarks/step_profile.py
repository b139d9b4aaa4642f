"""Where one denoising step's GPU time goes, and what the GPU's kernels can reach (not a test).

``profile_step(fn, ...)`` runs ``fn`` (one warm step) under ``torch.profiler`` and returns a JSON
line with the GPU kernel time by category (fp8 GEMM, bf16 GEMM, attention, activation
quantisation, other elementwise/norm, copies), the step's wall time beside the summed kernel
time (a large gap means the GPU waits on the CPU), the top kernels, and the matrix products and
attention calls grouped by shape with the TFLOP/s each reached.

``gemm_probe(device)`` times the products a full-size LTX-2 block runs (bf16 ``mm``, fp8
``torch._scaled_mm`` with row-wise scales, with and without fast accumulation) and cuDNN SDPA at
the video self-attention and text cross-attention shapes: the ceilings the step is measured
against.

Used by ``gpu_bench.py --torch-profile`` / ``--gemm-probe``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


def categorize(name: str) -> str:
    """The category of a GPU kernel, from its name. Inductor names its Triton kernels after the
    ops they fuse: one that computes an ``amax`` quantizes an activation for the next fp8 GEMM
    (fused with the norm, modulation, RoPE or GELU before it); the others are the remaining
    fused elementwise work. cuBLAS's Hopper GEMMs are ``nvjet_*``; ``qq`` in the name marks fp8
    inputs."""
    low = name.lower()
    if low.startswith("triton"):
        return "act_quant_fused" if "amax" in low else "elementwise_fused"
    if any(k in low for k in ("cudnn_generated", "fmha", "flash_fwd", "flash_fprop", "sdpa")):
        return "attention"
    if any(k in low for k in ("nvjet", "gemm", "xmma", "cutlass", "wgmma")):
        fp8 = (
            "qq" in low.split("_")[2] if low.startswith("nvjet_") and low.count("_") > 2 else False
        )
        return "fp8_gemm" if fp8 or "e4m3" in low or "f8f8" in low else "gemm"
    if any(k in low for k in ("memcpy", "memset", "copy", "catarray")):
        return "copy"
    return "elementwise"


def _device_us(evt: Any, self_only: bool) -> float:
    """An event's device time (its own, or with its children's), under either attribute name
    torch has used."""
    prefix = "self_" if self_only else ""
    for attr in (f"{prefix}device_time_total", f"{prefix}cuda_time_total"):
        v = getattr(evt, attr, None)
        if v:
            return float(v)
    return 0.0


def _flops(name: str, shapes: list[Any]) -> float | None:
    """FLOPs of one call of a matrix product or SDPA from its recorded input shapes."""
    try:
        if name in ("aten::mm", "aten::_scaled_mm"):
            (m, k), (_, n) = shapes[0][-2:], shapes[1][-2:]
            return 2.0 * m * k * n
        if name == "aten::addmm":
            (m, k), (_, n) = shapes[1][-2:], shapes[2][-2:]
            return 2.0 * m * k * n
        if name in ("aten::bmm",):
            b, m, k = shapes[0]
            n = shapes[1][-1]
            return 2.0 * b * m * k * n
        if "scaled_dot_product" in name or "attention" in name:
            b, h, sq, d = shapes[0]
            sk = shapes[1][-2]
            return 4.0 * b * h * sq * sk * d
    except (IndexError, TypeError, ValueError):
        return None
    return None


def profile_step(fn: Callable[[], Any], device: str, label: str) -> dict:
    """Profile one call of ``fn`` (already warm) and summarise its GPU kernels."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        acts.append(ProfilerActivity.CUDA)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    with profile(activities=acts, record_shapes=True) as prof:
        t = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t

    # kernels: device-side events ("## Call CompiledFxGraph" spans are annotations, not kernels)
    kernels: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for evt in prof.key_averages():
        if str(getattr(evt, "device_type", "")).endswith("CUDA") and not evt.key.startswith("##"):
            us = _device_us(evt, True)
            if us <= 0:
                continue
            kernels[evt.key][0] += us
            kernels[evt.key][1] += int(evt.count)
    cats: dict[str, float] = defaultdict(float)
    for name, (us, _) in kernels.items():
        cats[categorize(name)] += us
    gpu_s = sum(cats.values()) / 1e6
    top = sorted(kernels.items(), key=lambda kv: -kv[1][0])[:30]

    # matrix products and attention by input shape (CPU ops with their kernels' device time)
    by_shape = []
    for evt in prof.key_averages(group_by_input_shape=True):
        name = evt.key
        if name not in ("aten::mm", "aten::addmm", "aten::_scaled_mm", "aten::bmm") and (
            "scaled_dot_product" not in name
        ):
            continue
        if "scaled_dot_product_attention" == name.split("::")[-1]:
            continue  # the dispatcher entry; its backend op is listed beneath it
        us = _device_us(evt, False)
        shapes = [list(s) for s in (evt.input_shapes or []) if s]
        fl = _flops(name, shapes)
        by_shape.append(
            {
                "op": name,
                "shapes": shapes[:3],
                "calls": int(evt.count),
                "device_ms": round(us / 1e3, 2),
                "tflops": round(fl * evt.count / (us / 1e6) / 1e12, 1) if fl and us else None,
            }
        )
    by_shape.sort(key=lambda d: -d["device_ms"])
    gaps = _gaps(prof)
    return {
        "run": "torch_profile",
        "label": label,
        "wall_s": round(wall, 4),
        "gpu_kernel_s": round(gpu_s, 4),
        "gpu_idle_share": round(1 - gpu_s / wall, 3) if wall else None,
        "categories_s": {
            k: round(v / 1e6, 4) for k, v in sorted(cats.items(), key=lambda x: -x[1])
        },
        "categories_share": {
            k: round(v / 1e6 / gpu_s, 3) for k, v in sorted(cats.items(), key=lambda x: -x[1])
        }
        if gpu_s
        else {},
        "top_kernels": [
            {"name": n[:160], "ms": round(us / 1e3, 2), "count": c, "cat": categorize(n)}
            for n, (us, c) in top
        ],
        "by_shape": by_shape[:25],
        **gaps,
    }


def _gaps(prof: Any, threshold_us: float = 20.0) -> dict:
    """Idle stretches of the GPU between consecutive kernels (one stream): their sum, count and
    the largest, each with the kernels on either side."""
    spans = []
    for evt in prof.events():
        if not str(getattr(evt, "device_type", "")).endswith("CUDA") or evt.name.startswith("##"):
            continue
        tr = getattr(evt, "time_range", None)
        if tr is None:
            continue
        spans.append((float(tr.start), float(tr.end), evt.name))
    spans.sort()
    found = []
    end, prev = None, ""
    for start, stop, name in spans:
        if end is not None and start - end > threshold_us:
            found.append((start - end, prev, name))
        if end is None or stop > end:
            end, prev = stop, name
    found.sort(key=lambda g: -g[0])
    return {
        "gaps_over_us": threshold_us,
        "gaps_total_s": round(sum(g[0] for g in found) / 1e6, 4),
        "gaps_count": len(found),
        "largest_gaps": [
            {"us": round(g, 1), "after": a[:80], "before": b[:80]} for g, a, b in found[:12]
        ],
    }


def print_profile(line: dict) -> None:
    """A readable summary of ``profile_step``'s line."""
    print(
        f"\n== profile {line['label']}: wall {line['wall_s']:.3f} s, kernels "
        f"{line['gpu_kernel_s']:.3f} s (GPU idle {line['gpu_idle_share']})"
    )
    for k, v in line["categories_s"].items():
        print(f"   {k:<12} {v:8.4f} s  {line['categories_share'].get(k, 0):6.1%}")
    print("   top kernels:")
    for k in line["top_kernels"][:20]:
        print(f"   {k['ms']:9.2f} ms {k['count']:6d}x [{k['cat']}] {k['name'][:110]}")
    print(
        f"   GPU idle gaps > {line.get('gaps_over_us')} us: {line.get('gaps_total_s')} s in "
        f"{line.get('gaps_count')} gaps; largest:"
    )
    for g in line.get("largest_gaps", [])[:8]:
        print(f"   {g['us']:9.1f} us after {g['after'][:50]} | before {g['before'][:50]}")
    print("   products / attention by shape:")
    for s in line["by_shape"][:25]:
        print(
            f"   {s['device_ms']:9.2f} ms {s['calls']:5d}x {s['tflops']!s:>7} TF/s "
            f"{s['op']} {s['shapes']}"
        )


# ----------------------------------------------------------------------------- ceilings


def _bench(fn: Callable[[], Any], reps: int = 20) -> float:
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps / 1e3


GEMM_SHAPES = [  # (M, K, N): lanes x 4,096 video tokens through the block's linears
    (4096, 4096, 4096),
    (4096, 4096, 16384),
    (4096, 16384, 4096),
    (16384, 4096, 4096),
    (16384, 4096, 2048),
    (16384, 4096, 8192),
    (16384, 4096, 12288),
    (16384, 4096, 16384),
    (16384, 16384, 4096),
    (20480, 4096, 4096),
    (20480, 4096, 16384),
    (20480, 16384, 4096),
]


def _probe_gemm(m: int, k: int, n: int, device: str) -> dict:
    import torch

    from engine.fp8 import quantize_rows

    a = torch.randn(m, k, device=device, dtype=torch.bfloat16)
    w = torch.randn(n, k, device=device, dtype=torch.bfloat16) / k**0.5
    aq, as_ = quantize_rows(a)
    wq, ws = quantize_rows(w)
    ws = ws.reshape(1, -1).contiguous()
    one = torch.ones((), device=device)
    fl = 2.0 * m * k * n
    row: dict[str, Any] = {"run": "gemm_probe", "mkn": [m, k, n]}
    row["bf16_tflops"] = round(fl / _bench(lambda: a @ w.t()) / 1e12, 1)
    variants = {
        "fp8_rowwise": (as_, ws, False),
        "fp8_rowwise_fastacc": (as_, ws, True),
        "fp8_tensorwise_fastacc": (one, one, True),
    }
    for name, (sa, sb, fast) in variants.items():
        try:
            s = _bench(
                lambda sa=sa, sb=sb, fast=fast: torch._scaled_mm(
                    aq,
                    wq.t(),
                    scale_a=sa,
                    scale_b=sb,
                    out_dtype=torch.bfloat16,
                    use_fast_accum=fast,
                )
            )
            row[f"{name}_tflops"] = round(fl / s / 1e12, 1)
        except RuntimeError as exc:
            row[f"{name}_tflops"] = str(exc)[:80]
    # the activation quantisation alone (eager), for scale
    row["quant_eager_ms"] = round(_bench(lambda: quantize_rows(a)) * 1e3, 3)
    return row


def _probe_sdpa(b: int, h: int, sq: int, sk: int, d: int, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    q = torch.randn(b, h, sq, d, device=device, dtype=torch.bfloat16)
    k = torch.randn(b, h, sk, d, device=device, dtype=torch.bfloat16)
    v = torch.randn(b, h, sk, d, device=device, dtype=torch.bfloat16)
    s = _bench(lambda: F.scaled_dot_product_attention(q, k, v))
    return {
        "run": "sdpa_probe",
        "bhsqskd": [b, h, sq, sk, d],
        "ms": round(s * 1e3, 3),
        "tflops": round(4.0 * b * h * sq * sk * d / s / 1e12, 1),
    }


SDPA_SHAPES = [(4, 32, 4096, 4096, 128), (1, 32, 16384, 1024, 128), (4, 32, 247, 247, 64)]


def gemm_probe(device: str) -> list[dict]:
    """TFLOP/s of bf16 and fp8 products and SDPA at the block's shapes."""
    out = [_probe_gemm(m, k, n, device) for m, k, n in GEMM_SHAPES]
    out += [_probe_sdpa(*shape, device) for shape in SDPA_SHAPES]
    return out
