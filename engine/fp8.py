"""fp8 matmuls for the transformer's linear layers (the opt-in "fast fp8" mode; approximate).

``quantize_linears(transformer)`` replaces every eligible ``nn.Linear`` inside the transformer
blocks (attention projections, feed-forward; peft LoRA layers keep their adapters and wrap the
quantized base layer) by :class:`Float8Linear`:

* weights stored as ``float8_e4m3fn`` with one float32 scale per output row (amax / 448), half
  the bytes of bf16;
* on CUDA GPUs with fp8 tensor cores (compute capability >= 8.9: Ada, Hopper) the activations
  are quantized per token the same way and multiplied with ``torch._scaled_mm`` using row-wise
  scales (one fp8 GEMM, bf16 output, the bias in the GEMM's epilogue), with Hopper's fast fp8
  accumulation by default (``FAST_ACCUM``);
* elsewhere (CPU, older GPUs) the same rounding of weights and activations is applied and the
  product is computed in the activation dtype, so the numerics can be tested anywhere.

Why ``torch._scaled_mm`` and not torchao's float8 training/inference APIs: it is the kernel
torchao itself dispatches to for row-wise scaling, it ships with the torch we already depend on,
and a torchao wheel is tied to specific torch versions (the Studio pins neither). The text
embeddings, timestep MLPs and input/output projections stay in bf16 (small, precision-critical).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)  # 448
#: ``use_fast_accum`` of the fp8 GEMMs ``quantize_linears`` makes. Measured on an H200 at full
#: LTX-2 size, 512x512x121, all five guidance passes, compiled, same run
#: (``benchmarks/results/gpu_bench_fp8_h200_2026-12-01.jsonl``): 0.668 s/step against 0.712 with
#: fp32 accumulation (the products ran at ~1,550 TFLOP/s instead of ~1,300-1,450), while the
#: final latents' max relative difference to the sequential bf16 run stayed where fp8 puts it
#: (video 3.22e-3 vs 3.19e-3, audio 7.22e-3 vs 6.90e-3 after 4 steps). torchao's float8
#: inference uses fast accumulation for the same reason.
FAST_ACCUM = True
_EPS = 1e-12


def fp8_compute_supported(device: torch.device | str | None = None) -> bool:
    """True on CUDA devices with fp8 tensor cores (sm89+) where ``torch._scaled_mm`` runs."""
    if not torch.cuda.is_available():
        return False
    dev = torch.device(device) if device is not None else torch.device("cuda")
    if dev.type != "cuda":
        return False
    return torch.cuda.get_device_capability(dev) >= (8, 9)


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise fp8: ``x`` (M, K) -> (fp8 (M, K), float32 scales (M, 1)) with x ~ q * scale."""
    amax = x.abs().amax(dim=-1, keepdim=True).float().clamp_min(_EPS)
    scale = amax / FP8_MAX
    q = (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return q, scale


class Float8Linear(nn.Module):
    """A linear layer with row-scaled fp8 weights (see the module docstring)."""

    def __init__(
        self, linear: nn.Linear, bias_in_gemm: bool = False, fast_accum: bool = False
    ) -> None:
        super().__init__()
        self.bias_in_gemm = bias_in_gemm  # the device's _scaled_mm takes a bias (probed)
        # Hopper's fast fp8 accumulation (partial sums in the tensor core's reduced precision,
        # as torchao's float8 inference uses); off: fp32 accumulation
        self.fast_accum = fast_accum
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.compute_dtype = linear.weight.dtype
        with torch.no_grad():
            q, scale = quantize_rows(linear.weight.detach())
        self.weight = nn.Parameter(q, requires_grad=False)
        self.weight_scale = nn.Parameter(scale.reshape(1, -1).contiguous(), requires_grad=False)
        self.bias = linear.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 rowwise"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, self.in_features)
        xq, xs = quantize_rows(x2)
        bias = self.bias.to(x2.dtype) if self.bias is not None else None
        if x2.is_cuda and x2.dtype in (torch.bfloat16, torch.float16) and _scaled_mm_ok(x2):
            # bias in the GEMM epilogue when supported and asked for
            out = torch._scaled_mm(
                xq,
                self.weight.t(),
                scale_a=xs,
                scale_b=self.weight_scale,
                bias=bias if self.bias_in_gemm else None,
                out_dtype=x2.dtype,
                use_fast_accum=self.fast_accum,
            )
            if bias is not None and not self.bias_in_gemm:
                out = out + bias
        else:  # same rounding, product in the activation dtype
            xd = (xq.float() * xs).to(x2.dtype)
            wd = (self.weight.float() * self.weight_scale.t()).to(x2.dtype)
            out = xd @ wd.t()
            if bias is not None:
                out = out + bias
        return out.reshape(*shape[:-1], self.out_features)


def _scaled_mm_ok(x: torch.Tensor) -> bool:
    return torch.cuda.get_device_capability(x.device) >= (8, 9)


def scaled_mm_takes_bias(device: torch.device | str) -> bool:
    """Whether ``torch._scaled_mm`` with row-wise scales accepts a bf16 bias on ``device``
    (probed once with a 16 x 16 product)."""
    dev = torch.device(device)
    key = str(dev)
    if key not in _BIAS_PROBE:
        ok = False
        if fp8_compute_supported(dev):
            try:
                a = torch.ones(16, 16, device=dev).to(FP8)
                s = torch.ones(16, 1, device=dev)
                b = torch.zeros(16, device=dev, dtype=torch.bfloat16)
                torch._scaled_mm(
                    a, a.t(), scale_a=s, scale_b=s.t(), bias=b, out_dtype=torch.bfloat16
                )
                ok = True
            except (RuntimeError, TypeError):
                ok = False
        _BIAS_PROBE[key] = ok
    return _BIAS_PROBE[key]


_BIAS_PROBE: dict[str, bool] = {}


def _eligible(linear: nn.Linear) -> bool:
    # _scaled_mm needs both GEMM dimensions divisible by 16
    return linear.in_features % 16 == 0 and linear.out_features % 16 == 0


def quantize_linears(
    transformer: Any,
    *,
    device: Any = None,
    blocks_attr: str = "transformer_blocks",
    fast_accum: bool = FAST_ACCUM,
) -> int:
    """Replace the eligible linears of ``transformer.<blocks_attr>`` by ``Float8Linear`` in place,
    one layer at a time (moved to ``device`` first when given, so a model loaded on the CPU is
    quantized on the GPU and only its fp8 bytes stay there). Returns how many were replaced.
    Idempotent: already-quantized layers are left alone. ``fast_accum``: see ``Float8Linear``."""
    count = 0
    root = getattr(transformer, blocks_attr)
    for prefix, parent in list(root.named_modules()):
        if ".lora_" in f".{prefix}":  # peft adapter weights (lora_A/lora_B/...) stay as they are
            continue
        for name, child in list(parent.named_children()):
            if name.startswith("lora_"):
                continue
            if type(child) is nn.Linear and _eligible(child):
                if device is not None:
                    child.to(device)
                dev = child.weight.device
                bias_ok = dev.type == "cuda" and scaled_mm_takes_bias(dev)
                setattr(
                    parent, name, Float8Linear(child, bias_in_gemm=bias_ok, fast_accum=fast_accum)
                )
                count += 1
    if count and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return count


def set_fp8_options(transformer: Any, **options: bool) -> int:
    """Set ``Float8Linear`` attributes (``bias_in_gemm``, ``fast_accum``) on every quantized
    layer of ``transformer``; returns how many layers were changed. A compiled block recompiles
    on its next call (the attributes are guarded)."""
    bad = set(options) - {"bias_in_gemm", "fast_accum"}
    if bad:
        raise ValueError(f"unknown fp8 option(s): {', '.join(sorted(bad))}")
    layers = [m for m in transformer.modules() if isinstance(m, Float8Linear)]
    for m in layers:
        for key, value in options.items():
            setattr(m, key, bool(value))
    return len(layers)


def is_quantized(transformer: Any) -> bool:
    """True if any layer of ``transformer`` is a ``Float8Linear``."""
    return any(isinstance(m, Float8Linear) for m in transformer.modules())
