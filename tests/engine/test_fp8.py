"""fp8 linears (engine.fp8): row-scaled float8 weights, same rounding on any device."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.fp8 import FP8, Float8Linear, is_quantized, quantize_linears, quantize_rows  # noqa: E402


def test_quantize_rows_scales_each_row_to_the_fp8_range() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 64, generator=g) * torch.logspace(-3, 3, 6)[:, None]
    q, scale = quantize_rows(x)
    assert q.dtype == FP8 and scale.shape == (6, 1)
    # each row uses the full range (its amax maps to 448) and dequantizes close to the input
    assert torch.allclose(q.float().abs().amax(dim=1), torch.full((6,), 448.0))
    back = q.float() * scale
    rel = ((back - x).abs() / x.abs().amax(dim=1, keepdim=True)).max()
    assert 0 < rel < 0.07  # e4m3: 3 mantissa bits


def test_float8_linear_matches_the_linear_within_fp8_error() -> None:
    torch.manual_seed(1)
    lin = torch.nn.Linear(64, 32)
    x = torch.randn(3, 5, 64)
    ref = lin(x)
    f8 = Float8Linear(lin)
    assert f8.weight.dtype == FP8 and f8.weight_scale.shape == (1, 32)
    out = f8(x)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    rel = ((out - ref).norm() / ref.norm()).item()
    assert 1e-4 < rel < 0.05


def test_quantize_linears_keeps_lora_adapters_and_skips_odd_shapes() -> None:
    from peft import LoraConfig

    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components("ltx2")["transformer"].float().eval()
    tr.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q"]), adapter_name="x")
    n = quantize_linears(tr)
    assert n > 0 and is_quantized(tr)
    assert quantize_linears(tr) == 0  # idempotent
    q = tr.transformer_blocks[0].attn1.to_q
    assert isinstance(q.base_layer, Float8Linear)  # peft layer wraps the quantized base
    assert q.lora_A["x"].weight.dtype == torch.float32  # adapters untouched
    # only the blocks are quantized; the input projection stays as it was
    assert type(tr.proj_in) is torch.nn.Linear
    for name, m in tr.transformer_blocks.named_modules():
        if type(m) is torch.nn.Linear and "lora_" not in name:
            assert m.in_features % 16 or m.out_features % 16, name


def test_fp8_options_default_to_fast_accumulation_and_can_be_set() -> None:
    from engine.fp8 import FAST_ACCUM, set_fp8_options
    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components("ltx2")["transformer"].float().eval()
    n = quantize_linears(tr)
    layers = [m for m in tr.modules() if isinstance(m, Float8Linear)]
    assert len(layers) == n and all(m.fast_accum is FAST_ACCUM for m in layers)
    assert set_fp8_options(tr, fast_accum=False, bias_in_gemm=False) == n
    assert not any(m.fast_accum or m.bias_in_gemm for m in layers)
    with pytest.raises(ValueError, match="unknown fp8 option"):
        set_fp8_options(tr, fast_acum=True)
