"""ID-LoRA loading: original naming, alpha/down-up folding, strength, strict key matching."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.api import EngineError, InvalidRequestError
from engine.lora import LoRAError, load_idlora, set_lora_strength, unload_idlora

ATTN = ("audio_attn1", "audio_to_video_attn", "video_to_audio_attn")
PROJ = ("to_q", "to_k", "to_v", "to_out.0")
FF = ("audio_ff.net.0.proj", "audio_ff.net.2")
RANK = 4


def _tiny_transformer():
    from diffusers import LTX2VideoTransformer3DModel

    torch.manual_seed(0)
    return LTX2VideoTransformer3DModel(
        in_channels=128,
        out_channels=128,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=16,
        cross_attention_dim=32,
        vae_scale_factors=(8, 32, 32),
        audio_in_channels=32,
        audio_out_channels=32,
        audio_num_attention_heads=2,
        audio_attention_head_dim=8,
        audio_cross_attention_dim=16,
        num_layers=2,
        caption_channels=32,
        rope_type="split",
    ).eval()


@pytest.fixture(scope="module")
def base_transformer():
    return _tiny_transformer()


@pytest.fixture
def transformer(base_transformer):
    return copy.deepcopy(base_transformer)


@pytest.fixture(scope="module")
def inputs() -> dict:
    g = torch.Generator().manual_seed(1)
    f, h, w, na = 2, 2, 2, 6
    return dict(
        hidden_states=torch.randn(1, f * h * w, 128, generator=g),
        audio_hidden_states=torch.randn(1, na, 32, generator=g),
        encoder_hidden_states=torch.randn(1, 8, 32, generator=g),
        audio_encoder_hidden_states=torch.randn(1, 8, 32, generator=g),
        timestep=torch.full((1,), 500.0),
        num_frames=f,
        height=h,
        width=w,
        audio_num_frames=na,
        fps=25.0,
    )


def _run(model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        out = model(**inputs)
    return out.sample.clone(), out.audio_sample.clone()


def _module_names(transformer) -> list[str]:
    names = []
    for i in range(len(transformer.transformer_blocks)):
        names += [f"transformer_blocks.{i}.{a}.{p}" for a in ATTN for p in PROJ]
        names += [f"transformer_blocks.{i}.{m}" for m in FF]
    return names


def _random_lora(transformer, seed: int = 0, scale: float = 0.3) -> dict[str, tuple]:
    """module name -> (A, B) with shapes of the module; B non-zero so the output changes."""
    g = torch.Generator().manual_seed(seed)
    modules = dict(transformer.named_modules())
    out = {}
    for name in _module_names(transformer):
        lin = modules[name]
        a = torch.randn(RANK, lin.in_features, generator=g) * scale
        b = torch.randn(lin.out_features, RANK, generator=g) * scale
        out[name] = (a, b)
    return out


def _save_original(
    path: Path, lora: dict, alpha: float | None = None, down_up: bool = False
) -> Path:
    sd = {}
    for name, (a, b) in lora.items():
        base = f"diffusion_model.{name}"
        if down_up:
            sd[f"{base}.lora_down.weight"] = a.contiguous()
            sd[f"{base}.lora_up.weight"] = b.contiguous()
        else:
            sd[f"{base}.lora_A.weight"] = a.contiguous()
            sd[f"{base}.lora_B.weight"] = b.contiguous()
        if alpha is not None:
            sd[f"{base}.alpha"] = torch.tensor(alpha)
    save_file(sd, str(path))
    return path


def _merged(transformer, lora: dict, factor: float):
    """Independent expectation: W += factor * B @ A on a copy, no peft involved."""
    merged = copy.deepcopy(transformer)
    modules = dict(merged.named_modules())
    with torch.no_grad():
        for name, (a, b) in lora.items():
            modules[name].weight += factor * (b @ a)
    return merged


def test_original_naming_changes_audio_branch_and_matches_merged_weights(
    transformer, inputs, tmp_path
) -> None:
    base_video, base_audio = _run(transformer, inputs)
    lora = _random_lora(transformer)
    path = _save_original(tmp_path / "idlora.safetensors", lora)

    info = load_idlora(transformer, path, strength=1.0)
    video, audio = _run(transformer, inputs)
    assert (audio - base_audio).abs().max() > 1e-3
    # audio_to_video_attn adapts the video stream too
    assert (video - base_video).abs().max() > 1e-4

    exp_video, exp_audio = _run(_merged(_base_copy(transformer), lora, 1.0), inputs)
    torch.testing.assert_close(audio, exp_audio, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(video, exp_video, atol=2e-5, rtol=1e-4)

    assert info.rank == RANK
    assert info.n_tensors == 2 * len(lora)
    assert info.n_modules == len(lora)
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "transformer_blocks.audio_attn1.to_q" in info.targets
    assert "transformer_blocks.audio_ff.net.2" in info.targets
    assert len(info.targets) == len(ATTN) * len(PROJ) + len(FF)
    assert not info.alpha_folded


def _base_copy(transformer):
    """The transformer's base weights as a plain model (LoRA layers stripped)."""
    plain = _tiny_transformer()
    sd = {}
    for k, v in transformer.state_dict().items():
        if "lora_" in k:
            continue
        sd[k.replace(".base_layer", "")] = v
    plain.load_state_dict(sd)
    return plain


def test_strength_zero_is_exactly_base_and_unload_restores(transformer, inputs, tmp_path) -> None:
    base_video, base_audio = _run(transformer, inputs)
    path = _save_original(tmp_path / "l.safetensors", _random_lora(transformer))
    load_idlora(transformer, path, strength=0.0)
    video, audio = _run(transformer, inputs)
    assert torch.equal(audio, base_audio)
    assert torch.equal(video, base_video)

    set_lora_strength(transformer, 1.0)
    _, audio1 = _run(transformer, inputs)
    assert not torch.equal(audio1, base_audio)

    assert unload_idlora(transformer) is True
    video, audio = _run(transformer, inputs)
    assert torch.equal(audio, base_audio)
    assert torch.equal(video, base_video)
    assert unload_idlora(transformer) is False
    with pytest.raises(InvalidRequestError):
        set_lora_strength(transformer, 0.5)


def test_alpha_and_down_up_equal_folded_file(transformer, inputs, tmp_path) -> None:
    lora = _random_lora(transformer, seed=3)
    alpha = 2.0  # alpha / rank = 0.5
    raw = _save_original(tmp_path / "raw.safetensors", lora, alpha=alpha, down_up=True)
    folded_lora = {n: (a, b * (alpha / RANK)) for n, (a, b) in lora.items()}
    folded = _save_original(tmp_path / "folded.safetensors", folded_lora)

    info = load_idlora(transformer, raw, strength=0.7)
    assert info.alpha_folded
    assert info.n_tensors == 3 * len(lora)
    _, audio_raw = _run(transformer, inputs)
    load_idlora(transformer, folded, strength=0.7)  # replaces the adapter of the same name
    _, audio_folded = _run(transformer, inputs)
    torch.testing.assert_close(audio_raw, audio_folded, atol=1e-6, rtol=1e-6)

    # and both equal the independently merged weights with factor strength * alpha / rank
    _, expected = _run(_merged(_base_copy(transformer), lora, 0.7 * alpha / RANK), inputs)
    torch.testing.assert_close(audio_raw, expected, atol=2e-5, rtol=1e-4)


def test_prefix_variants_load_the_same(transformer, inputs, tmp_path) -> None:
    lora = _random_lora(transformer, seed=5)
    sd = {}
    for name, (a, b) in lora.items():
        sd[f"model.diffusion_model.{name}.lora_A.weight"] = a.contiguous()
        sd[f"model.diffusion_model.{name}.lora_B.weight"] = b.contiguous()
    save_file(sd, str(tmp_path / "model_prefix.safetensors"))
    load_idlora(transformer, tmp_path / "model_prefix.safetensors")
    _, a1 = _run(transformer, inputs)

    sd = {k.replace("model.diffusion_model.", "transformer."): v for k, v in sd.items()}
    save_file(sd, str(tmp_path / "diffusers_prefix.safetensors"))
    load_idlora(transformer, tmp_path / "diffusers_prefix.safetensors")
    _, a2 = _run(transformer, inputs)
    torch.testing.assert_close(a1, a2, atol=0, rtol=0)


def test_checkpoint_matching_nothing_raises_with_file_and_keys(transformer, tmp_path) -> None:
    sd = {
        "diffusion_model.unet_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 16),
        "diffusion_model.unet_blocks.0.attn.to_q.lora_B.weight": torch.zeros(16, 4),
    }
    path = tmp_path / "sdxl_style.safetensors"
    save_file(sd, str(path))
    with pytest.raises(LoRAError) as err:
        load_idlora(transformer, path)
    msg = str(err.value)
    assert "sdxl_style.safetensors" in msg
    assert "matches no module" in msg
    assert "unet_blocks.0.attn.to_q" in msg
    assert isinstance(err.value, EngineError)
    assert not getattr(transformer, "peft_config", None)  # nothing was injected


def test_partial_match_raises_listing_unmatched(transformer, tmp_path) -> None:
    lora = _random_lora(transformer)
    path = _save_original(tmp_path / "partial.safetensors", lora)
    from safetensors.torch import load_file

    sd = load_file(str(path))
    sd["diffusion_model.transformer_blocks.7.audio_attn1.to_q.lora_A.weight"] = torch.zeros(4, 16)
    sd["diffusion_model.transformer_blocks.7.audio_attn1.to_q.lora_B.weight"] = torch.zeros(16, 4)
    save_file(sd, str(path))
    with pytest.raises(LoRAError, match=r"1 of \d+ LoRA layers match no module") as err:
        load_idlora(transformer, path)
    assert "transformer_blocks.7.audio_attn1.to_q" in str(err.value)


def test_shape_mismatch_and_bad_keys_raise(transformer, tmp_path) -> None:
    sd = {
        "diffusion_model.transformer_blocks.0.audio_attn1.to_q.lora_A.weight": torch.zeros(4, 99),
        "diffusion_model.transformer_blocks.0.audio_attn1.to_q.lora_B.weight": torch.zeros(16, 4),
    }
    save_file(sd, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(LoRAError, match="do not fit"):
        load_idlora(transformer, tmp_path / "wrong.safetensors")

    save_file({"diffusion_model.x.weight": torch.zeros(2)}, str(tmp_path / "full.safetensors"))
    with pytest.raises(LoRAError, match="not LoRA weights"):
        load_idlora(transformer, tmp_path / "full.safetensors")

    half = {
        "diffusion_model.transformer_blocks.0.audio_attn1.to_q.lora_A.weight": torch.zeros(4, 16)
    }
    save_file(half, str(tmp_path / "half.safetensors"))
    with pytest.raises(LoRAError, match="without both A"):
        load_idlora(transformer, tmp_path / "half.safetensors")

    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(LoRAError, match="junk.safetensors"):
        load_idlora(transformer, tmp_path / "junk.safetensors")
    with pytest.raises(LoRAError, match="file not found"):
        load_idlora(transformer, tmp_path / "missing.safetensors")


def test_pipeline_path(transformer, inputs, tmp_path) -> None:
    from diffusers import LTX2Pipeline

    pipe = LTX2Pipeline(
        scheduler=None,
        vae=None,
        audio_vae=None,
        text_encoder=None,
        tokenizer=None,
        connectors=None,
        transformer=transformer,
        vocoder=None,
    )
    _, base_audio = _run(transformer, inputs)
    path = _save_original(tmp_path / "p.safetensors", _random_lora(transformer))
    load_idlora(pipe, path, strength=0.5)
    _, half = _run(pipe.transformer, inputs)
    set_lora_strength(pipe, 0.0)
    _, zero = _run(pipe.transformer, inputs)
    assert torch.equal(zero, base_audio)
    assert not torch.equal(half, base_audio)
    assert unload_idlora(pipe)
    assert torch.equal(_run(pipe.transformer, inputs)[1], base_audio)


def test_two_adapters_switched_without_reload(transformer, inputs, tmp_path) -> None:
    """ID-LoRA and distilled LoRA loaded at once; per-stage strengths are switched in place."""
    from engine.lora import adapter_strengths, set_adapter_strengths
    from engine.models.tiny import build_tiny_lora

    _, base_audio = _run(transformer, inputs)
    base_video, _ = _run(transformer, inputs)
    id_lora = _random_lora(transformer, seed=1)
    id_path = _save_original(tmp_path / "id.safetensors", id_lora)
    dist_sd = build_tiny_lora(transformer, "distilled")
    dist_path = tmp_path / "distilled.safetensors"
    save_file(dist_sd, str(dist_path))
    dist = {
        k.removeprefix("diffusion_model.").removesuffix(".lora_A.weight"): (
            v,
            dist_sd[k.replace("lora_A", "lora_B")],
        )
        for k, v in dist_sd.items()
        if k.endswith("lora_A.weight")
    }
    load_idlora(transformer, id_path, 1.0, "idlora")
    load_idlora(transformer, dist_path, 0.25, "distilled")
    weights_before = {n: p.clone() for n, p in transformer.named_parameters() if "lora" not in n}
    # loading the second adapter keeps the first one's strength
    assert adapter_strengths(transformer) == {"idlora": 1.0, "distilled": 0.25}

    transformer_base = _tiny_transformer()  # the same seeded weights as ``transformer``

    def expected(f_id: float, f_dist: float):
        merged = _merged(transformer_base, id_lora, f_id)
        modules = dict(merged.named_modules())
        with torch.no_grad():
            for name, (a, b) in dist.items():
                modules[name].weight += f_dist * (b @ a)
        return _run(merged, inputs)

    v, a = _run(transformer, inputs)
    ev, ea = expected(1.0, 0.25)
    assert torch.allclose(v, ev, atol=1e-5) and torch.allclose(a, ea, atol=1e-5)
    # stage 2 of two-stage: ID-LoRA off, distilled 0.8
    set_adapter_strengths(transformer, {"idlora": 0.0, "distilled": 0.8})
    assert adapter_strengths(transformer) == pytest.approx({"idlora": 0.0, "distilled": 0.8})
    v, a = _run(transformer, inputs)
    ev, ea = expected(0.0, 0.8)
    assert torch.allclose(v, ev, atol=1e-5) and torch.allclose(a, ea, atol=1e-5)
    # both off: the base model exactly; switching never touched the base weights
    set_adapter_strengths(transformer, {"idlora": 0.0, "distilled": 0.0})
    v, a = _run(transformer, inputs)
    assert torch.equal(v, base_video) and torch.equal(a, base_audio)
    for n, p in transformer.named_parameters():
        if n in weights_before:
            assert torch.equal(p, weights_before[n])
    # back on: same as before, no reload
    set_adapter_strengths(transformer, {"idlora": 1.0, "distilled": 0.25})
    v2, _ = _run(transformer, inputs)
    ev, _ = expected(1.0, 0.25)
    assert torch.allclose(v2, ev, atol=1e-5)
    with pytest.raises(InvalidRequestError, match="no LoRA adapter named 'other'"):
        set_adapter_strengths(transformer, {"other": 1.0})
