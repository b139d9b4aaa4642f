"""Memory profiles: estimates, automatic choice, and the strategies applied to the tiny LTX-2 stack."""

from __future__ import annotations

import sys

import pytest

from engine import memory

GIB = memory.GIB


def test_import_does_not_load_torch_and_estimates_are_ordered() -> None:
    # engine.memory is usable (estimates, choice) before torch is imported. Run in a fresh
    # interpreter: other tests in this process have imported torch already.
    import subprocess

    code = (
        "import sys, engine.memory as m; m.vram_table('ltx2'); m.choose_profile(8 << 30, 'ltx2');"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

    auto_order = [n for n in memory.PROFILE_ORDER if not memory.PROFILES[n].opt_in]
    for variant in ("ltx2", "ltx2.3"):
        for size in ((512, 512, 121), (768, 512, 241), (256, 256, 33)):
            gib = [memory.expected_vram_gib(n, variant, *size) for n in auto_order]
            assert gib == sorted(gib, reverse=True), (variant, size, gib)
            fast = memory.expected_vram_gib("fp8_fast", variant, *size)
            assert fast < memory.expected_vram_gib("resident_bf16", variant, *size)
    # All on GPU holds at least the bf16 transformer: method.md measured 36 GiB peak at 512x512x121.
    assert memory.expected_vram_gib("resident_bf16", "ltx2", 512, 512, 121) >= 36
    # Bigger model and bigger videos need more.
    for name in memory.PROFILE_ORDER:
        # (streamed profiles peak while encoding the prompt, the same Gemma for both)
        assert memory.expected_vram_gib(name, "ltx2.3") >= memory.expected_vram_gib(name, "ltx2")
        assert memory.expected_vram_gib(name, "ltx2", 768, 512, 241) >= memory.expected_vram_gib(
            name, "ltx2", 512, 512, 121
        )
    # Measured at 512x512x121 (H200, whole pipeline): the figure is the measurement itself.
    assert memory.expected_vram_gib("group_offload", "ltx2") == 11.9  # fits a 12 GiB cap
    assert memory.expected_vram_gib("resident_bf16", "ltx2") == 71.4
    # The fp8 profiles fit a 24 GiB cap (measured, whole pipeline).
    assert memory.expected_vram_gib("fp8_fast", "ltx2") == 23.6
    assert memory.expected_vram_gib("fp8_weights", "ltx2") == 23.8
    assert memory.expected_vram_gib("resident_bf16", "ltx2.3") > 71.4


def test_choose_profile_picks_fastest_that_fits() -> None:
    margin = 1.0
    auto_order = [n for n in memory.PROFILE_ORDER if not memory.PROFILES[n].opt_in]
    for i, name in enumerate(auto_order):
        need = memory.expected_vram_gib(name, "ltx2")
        fits = int((need + margin + 0.05) * GIB)
        assert memory.choose_profile(fits, "ltx2", margin_gib=margin) == name
        if i + 1 < len(auto_order):
            short = int((need + margin - 0.05) * GIB)
            assert memory.choose_profile(short, "ltx2", margin_gib=margin) != name
    # Nothing fits: the lightest is the only thing left to try. No GPU: everything resident (CPU).
    assert memory.choose_profile(1 * GIB, "ltx2") == "group_offload"
    assert memory.choose_profile(None, "ltx2") == "resident_bf16"
    # The approximate opt-in profile is never chosen automatically, whatever fits.
    for free in (8, 16, 20, 24, 32, 48, 80, 141):
        assert memory.choose_profile(free * GIB, "ltx2") != "fp8_fast"


def test_lighter_profile_chain_and_unknown_names() -> None:
    chain = ["resident_bf16"]
    while (nxt := memory.lighter_profile(chain[-1])) is not None:
        chain.append(nxt)
    assert tuple(chain) == tuple(n for n in memory.PROFILE_ORDER if not memory.PROFILES[n].opt_in)
    # from the opt-in profile, a retry goes to the next lighter non-opt-in one
    assert memory.lighter_profile("fp8_fast") == "fp8_weights"
    with pytest.raises(KeyError, match="known"):
        memory.lighter_profile("turbo")
    with pytest.raises(KeyError):
        memory.expected_vram_gib("turbo", "ltx2")
    with pytest.raises(ValueError):
        memory.expected_vram_gib("fp8_weights", "ltx3")


def test_measured_figures_anchor_the_estimates(monkeypatch) -> None:
    """A measured peak replaces the estimate at the measured size; other sizes and LTX-2.3 move
    from it by the estimate's difference."""
    est_ref = memory.PROFILES["fp8_fast"].estimate_gib("ltx2", 512, 512, 121)
    est_big = memory.PROFILES["fp8_fast"].estimate_gib("ltx2", 768, 512, 241)
    monkeypatch.setitem(memory.MEASURED, "fp8_fast", {"peak_gib": 19.0, "gpu": "test"})
    assert memory.expected_vram_gib("fp8_fast", "ltx2") == 19.0
    assert memory.expected_vram_gib("fp8_fast", "ltx2", 768, 512, 241) == pytest.approx(
        19.0 + est_big - est_ref, abs=0.11
    )
    assert memory.expected_vram_gib("fp8_fast", "ltx2.3") > 19.0


def test_gpu_info_none_without_cuda() -> None:
    import torch

    info = memory.gpu_info()
    if torch.cuda.is_available():  # pragma: no cover - GPU machines
        assert info is not None and 0 < info.free_bytes <= info.total_bytes
    else:
        assert info is None


# ----------------------------------------------------------------------------- tiny pipeline


def _tiny_pipe():
    from diffusers import LTX2Pipeline

    from engine.models.tiny import build_tiny_components

    return LTX2Pipeline(**build_tiny_components("ltx2"))


def _forward(transformer):
    import torch

    cfg = transformer.config
    g = torch.Generator().manual_seed(0)
    kw = dict(
        hidden_states=torch.randn(1, 8, cfg.in_channels, generator=g),
        audio_hidden_states=torch.randn(1, 5, cfg.audio_in_channels, generator=g),
        encoder_hidden_states=torch.randn(1, 8, cfg.caption_channels, generator=g),
        audio_encoder_hidden_states=torch.randn(1, 8, cfg.caption_channels, generator=g),
        timestep=torch.full((1,), 500.0),
        num_frames=2,
        height=2,
        width=2,
        audio_num_frames=5,
        return_dict=False,
    )
    with torch.no_grad():
        return transformer(**kw)


def test_fp8_weights_stores_float8_and_still_runs() -> None:
    import torch

    pipe = _tiny_pipe()
    ref_video, ref_audio = _forward(pipe.transformer)
    applied = memory.apply_profile(pipe, "fp8_weights", "cpu")
    assert applied.effective == "fp8_weights" and applied.free_text_encoder

    block = pipe.transformer.transformer_blocks[0]
    assert block.attn1.to_q.weight.dtype == torch.float8_e4m3fn
    assert block.ff.net[2].weight.dtype == torch.float8_e4m3fn
    # Norm layers are precision-critical: left in the compute dtype.
    norms = [p for n, p in pipe.transformer.named_parameters() if "norm" in n]
    assert norms and all(p.dtype == torch.float32 for p in norms)
    fp8_bytes = sum(
        p.numel() for p in pipe.transformer.parameters() if p.dtype == torch.float8_e4m3fn
    )
    assert fp8_bytes > 0.8 * sum(p.numel() for p in pipe.transformer.parameters())

    video, audio = _forward(pipe.transformer)
    assert video.dtype == torch.float32  # computed in the compute dtype
    rel = (video - ref_video).abs().max() / ref_video.abs().max()
    assert 0 < rel < 0.25  # fp8 rounding changes the output, but only a little
    assert torch.isfinite(audio).all()
    # Weights are still fp8 after the forward (upcast copies are transient).
    assert block.attn1.to_q.weight.dtype == torch.float8_e4m3fn
    # The video VAE decodes in temporal chunks (bounded decode memory).
    assert pipe.vae.use_framewise_decoding and pipe.vae.use_tiling

    # The Gemma text encoder is cast too (embeddings/norms kept) and still encodes.
    te = pipe.text_encoder
    fp8_te = [n for n, p in te.named_parameters() if p.dtype == torch.float8_e4m3fn]
    assert fp8_te and not any("norm" in n or "embed" in n for n in fp8_te)
    ids = pipe.tokenizer("a person talks", return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = te(input_ids=ids, output_hidden_states=True).hidden_states[-1]
    assert torch.isfinite(hidden).all()


def test_group_offload_attaches_hooks_and_keeps_output() -> None:
    import torch

    pipe = _tiny_pipe()
    ref_video, _ = _forward(pipe.transformer)
    applied = memory.apply_profile(pipe, "group_offload", "cpu")
    assert applied.effective == "group_offload"

    def hook(module):
        registry = getattr(module, "_diffusers_hook", None)
        return None if registry is None else registry.get_hook("group_offloading")

    blocks = pipe.transformer.transformer_blocks
    assert all(hook(b) is not None for b in blocks)  # block level for the transformer
    assert hook(pipe.vae) is not None or any(hook(m) is not None for m in pipe.vae.modules())
    assert any(hook(m) is not None for m in pipe.text_encoder.modules())  # leaf level
    video, _ = _forward(pipe.transformer)
    assert torch.equal(video, ref_video)  # offloading moves weights, never changes them


def test_model_offload_degrades_clearly_without_cuda() -> None:
    import torch

    pipe = _tiny_pipe()
    ref_video, _ = _forward(pipe.transformer)
    applied = memory.apply_profile(pipe, "model_offload", "cpu")
    assert applied.requested == "model_offload"
    assert applied.effective == "resident_bf16"
    assert applied.notes and "GPU" in applied.notes[0]
    assert not getattr(pipe, "_all_hooks", [])  # no accelerate offload hooks were installed
    assert torch.equal(_forward(pipe.transformer)[0], ref_video)

    # resident: after_text_encoding honours the flag.
    pipe2 = _tiny_pipe()
    res = memory.apply_profile(pipe2, "resident_bf16", "cpu", free_text_encoder=True)
    res.after_text_encoding(pipe2)
    assert next(pipe2.text_encoder.parameters()).device.type == "cpu"
    with pytest.raises(KeyError):
        memory.apply_profile(pipe2, "turbo", "cpu")


def test_fp8_fast_degrades_clearly_without_cuda() -> None:
    """Without fp8 tensor cores (here: no GPU) the fast fp8 profile says so and runs resident."""
    import torch

    from engine.fp8 import is_quantized

    pipe = _tiny_pipe()
    ref_video, _ = _forward(pipe.transformer)
    applied = memory.apply_profile(pipe, "fp8_fast", "cpu")
    assert (applied.requested, applied.effective) == ("fp8_fast", "resident_bf16")
    assert applied.notes and "GPU" in applied.notes[0]
    assert not is_quantized(pipe.transformer)
    assert torch.equal(_forward(pipe.transformer)[0], ref_video)
