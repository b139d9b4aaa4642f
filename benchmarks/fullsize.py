"""Full-size LTX-2 components with random weights, for the GPU benchmark (not a test).

Every builder makes the class the real model uses at its real configuration (or, with
``tiny=True``, at the tiny test stack's), with random weights, directly on the target device:

* ``build_transformer``: diffusers' ``LTX2VideoTransformer3DModel`` at LTX-2 (19B) dimensions;
* ``build_reference``: ltx-core's ``LTXModel`` (the public ID-LoRA code's model class, from the
  ``ltx-core`` package on PyPI) at the same dimensions;
* ``build_text_encoder``: transformers' ``Gemma3ForConditionalGeneration`` at Gemma 3 12B's
  configuration (48 layers, hidden 3840, SigLIP vision tower) -- ~12B parameters;
* ``build_components``: the whole ``IDLoRAPipeline`` component set (video VAE, audio VAE,
  vocoder and text connectors at diffusers' LTX-2 defaults, which are the released configs).

Weights: normal(0, 1/sqrt(fan_in)) for matrices, 1 for norm scales, 0 for biases; a fixed
generator per builder, so two runs build identical models.
"""

from __future__ import annotations

import math
from typing import Any

LTX2_TRANSFORMER_CONFIG: dict[str, Any] = {
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

#: diffusers' LTX-2.3 options on top of the LTX-2 dimensions (gated attention, prompt
#: cross-attention modulation, per-modality text widths, no caption projection); the 22B
#: checkpoint's exact sizes are not known offline, so LTX-2.3 is benchmarked at LTX-2's.
LTX23_FLAGS: dict[str, Any] = {
    "gated_attn": True,
    "audio_gated_attn": True,
    "cross_attn_mod": True,
    "audio_cross_attn_mod": True,
    "use_prompt_embeddings": False,
}

# Gemma 3 12B (google/gemma-3-12b-pt config.json, the LTX-2 text encoder)
GEMMA3_12B_TEXT = {
    "vocab_size": 262208,
    "hidden_size": 3840,
    "intermediate_size": 15360,
    "num_hidden_layers": 48,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 256,
    "max_position_embeddings": 131072,
    "sliding_window": 1024,
    "rope_theta": 1_000_000.0,
    "rope_local_base_freq": 10_000.0,
    "rope_scaling": {"rope_type": "linear", "factor": 8.0},
    "query_pre_attn_scalar": 256,
}
GEMMA3_12B_VISION = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "image_size": 896,
    "patch_size": 14,
}


def randomize_(module: Any, seed: int = 0) -> Any:
    """Fill every parameter in place: matrices normal(0, 1/sqrt(fan_in)), norm scales 1,
    biases 0 (on the parameter's device)."""
    import torch

    gen: dict[str, Any] = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dtype not in (torch.float32, torch.bfloat16, torch.float16):
                continue
            dev = str(p.device)
            if dev not in gen:
                gen[dev] = torch.Generator(device=p.device).manual_seed(seed)
            if p.ndim == 1 and "norm" in name:
                p.fill_(1.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                fan_in = p[0].numel() if p.ndim > 1 else p.shape[0]
                p.normal_(0.0, 1.0 / math.sqrt(max(fan_in, 1)), generator=gen[dev])
    return module


def _on_device(device: str, dtype: Any, build: Any) -> Any:
    """Construct a module directly on ``device`` with ``dtype`` as the default dtype."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return build()
    finally:
        torch.set_default_dtype(old)


def transformer_config(tiny: bool, layers: int | None = None, variant: str = "ltx2") -> dict:
    if tiny:
        from engine.models.tiny import _build_transformer

        cfg = {k: v for k, v in _build_transformer(variant).config.items() if not k[0] == "_"}
    else:
        cfg = dict(LTX2_TRANSFORMER_CONFIG)
        if variant == "ltx2.3":
            cfg.update(LTX23_FLAGS)
    if layers is not None:
        cfg["num_layers"] = layers
    return cfg


def build_transformer(
    tiny: bool,
    device: str,
    dtype: Any,
    layers: int | None = None,
    seed: int = 0,
    variant: str = "ltx2",
) -> Any:
    """diffusers' LTX-2 (or, ``variant="ltx2.3"``, LTX-2.3-option) transformer, built on
    ``meta`` and materialised on ``device``."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    with torch.device("meta"):
        model = LTX2VideoTransformer3DModel(**transformer_config(tiny, layers, variant))
    model = model.to_empty(device=device).to(dtype)
    return randomize_(model, seed).eval()


def build_reference(tiny: bool, device: str, dtype: Any, layers: int | None = None) -> Any:
    """ltx-core's LTXModel (PyPI ``ltx-core``) at the same dimensions, wrapped in X0Model."""
    import torch
    from ltx_core.model.transformer.model import LTXModel, LTXModelType, X0Model
    from ltx_core.model.transformer.rope import LTXRopeType
    from ltx_core.model.transformer.text_projection import PixArtAlphaTextProjection

    c = transformer_config(tiny, layers)
    inner = c["num_attention_heads"] * c["attention_head_dim"]
    a_inner = c["audio_num_attention_heads"] * c["audio_attention_head_dim"]
    with torch.device("meta"):
        model = LTXModel(
            model_type=LTXModelType.AudioVideo,
            num_attention_heads=c["num_attention_heads"],
            attention_head_dim=c["attention_head_dim"],
            in_channels=c["in_channels"],
            out_channels=c["out_channels"],
            num_layers=c["num_layers"],
            cross_attention_dim=c["cross_attention_dim"],
            audio_num_attention_heads=c["audio_num_attention_heads"],
            audio_attention_head_dim=c["audio_attention_head_dim"],
            audio_in_channels=c["audio_in_channels"],
            audio_out_channels=c["audio_out_channels"],
            audio_cross_attention_dim=c["audio_cross_attention_dim"],
            rope_type=LTXRopeType(c.get("rope_type", "split")),
            double_precision_rope=bool(c.get("rope_double_precision", True)),
            caption_projection=PixArtAlphaTextProjection(c["caption_channels"], inner),
            audio_caption_projection=PixArtAlphaTextProjection(c["caption_channels"], a_inner),
        )
    model = model.to_empty(device=device).to(dtype)
    return X0Model(randomize_(model, 1).eval())


def gemma3_12b_config(tiny: bool) -> Any:
    from transformers import Gemma3Config

    if tiny:
        from engine.models.tiny import _build_text_encoder, _build_tokenizer

        return _build_text_encoder(len(_build_tokenizer())).config
    return Gemma3Config(
        text_config=GEMMA3_12B_TEXT,
        vision_config=GEMMA3_12B_VISION,
        mm_tokens_per_image=256,
        boi_token_index=255999,
        eoi_token_index=256000,
        image_token_index=262144,
    )


def build_text_encoder(tiny: bool, device: str, dtype: Any) -> Any:
    """Gemma 3 (12B at the real configuration) with random weights, built on ``device``."""
    from transformers import Gemma3ForConditionalGeneration

    cfg = gemma3_12b_config(tiny)
    model = _on_device(device, dtype, lambda: Gemma3ForConditionalGeneration(cfg))
    return randomize_(model, 2).eval()


def build_components(tiny: bool, device: str, dtype: Any, layers: int | None = None) -> dict:
    """An ``IDLoRAPipeline`` component dict: the full-size transformer, Gemma 3 12B, and the
    VAEs/vocoder/connectors at their released configurations (all random), on ``device``."""
    from diffusers import AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    from engine.models import tiny as tiny_mod

    tok = tiny_mod._build_tokenizer()  # ids only need to be < vocab: any Gemma tokenizer works
    tok.model_max_length = tiny_mod.TINY_MAX_SEQUENCE_LENGTH if tiny else 1024
    if tiny:
        small = tiny_mod.build_tiny_components("ltx2")
        comps = {k: v.to(device=device) for k, v in small.items() if hasattr(v, "to")}
        comps["tokenizer"] = small["tokenizer"]
        comps["scheduler"] = small["scheduler"]
        return comps
    comps = {
        "tokenizer": tok,
        "scheduler": tiny_mod._build_scheduler(),
        "transformer": build_transformer(False, device, dtype, layers),
        "text_encoder": build_text_encoder(False, device, dtype),
        # the released config states the compression ratios (the class defaults derive 64/16)
        "vae": randomize_(
            _on_device(
                device,
                dtype,
                lambda: AutoencoderKLLTX2Video(
                    spatial_compression_ratio=32, temporal_compression_ratio=8
                ),
            ),
            3,
        ).eval(),
        "audio_vae": randomize_(_on_device(device, dtype, AutoencoderKLLTX2Audio), 4).eval(),
        "vocoder": randomize_(_on_device(device, dtype, LTX2Vocoder), 5).eval(),
        "connectors": randomize_(_on_device(device, dtype, LTX2TextConnectors), 6).eval(),
    }
    import torch

    with torch.no_grad():  # buffers the random init does not touch
        for name in ("vae", "audio_vae"):
            comps[name].latents_mean.zero_()
            comps[name].latents_std.fill_(1.0)
    return comps


def param_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
