"""A tiny, randomly initialised but real LTX-2 / LTX-2.3 component stack for tests and demos.

Every component is the class the real model uses (diffusers' LTX-2 transformer, video VAE,
audio VAE, vocoder, text connectors, flow-match scheduler; transformers' Gemma 3 text encoder
and Gemma tokenizer), only shrunk. The stack is written as an ordinary diffusers folder
(``model_index.json`` + one subfolder per component, ``_class_name`` ``LTX2Pipeline`` like the
real ``Lightricks/LTX-2`` repository), so it loads through exactly the code path a real
downloaded model uses.

Seeds are fixed: the same ``variant`` always gives bit-identical weights.

Tiny dimensions (both variants):

* transformer: 2 blocks; video 2 heads x 16 (inner 32), audio 2 heads x 8 (inner 16);
  text embeddings of width 32; video latent channels 128, audio packed width 32.
  The reference STG block (29) does not exist in a 2-block model: ``stg_block`` is validated
  against ``len(transformer.transformer_blocks)`` by the generator and ``TINY_STG_BLOCK`` (1,
  the last block) is the block used for tiny models (see ``engine.generate``).
* video VAE: 32x spatial / 8x temporal compression, 128 latent channels.
* audio VAE: 64 mel bins, 2 latent channels -> packed width 2 x 16 = 32, 4x time compression.
* vocoder: 24 kHz (``ltx2``) or a bandwidth-extension vocoder to 48 kHz (``ltx2.3``).
* text encoder: Gemma 3 (text + tiny SigLIP vision tower), 2 layers, hidden 32.
* tokenizer: Gemma BPE with byte fallback over a small vocabulary, ``model_max_length`` 64.
* spatial latent upsampler (``latent_upsampler/``, diffusers' ``LTX2LatentUpsamplerModel``):
  128 channels, 32 in the middle, one residual block per stage, 2x; LTX-2's pixel-shuffle
  upsampler for ``ltx2``, the rational resampler for ``ltx2.3`` (both code paths get used).
* two LoRAs in the original key naming, rank 4, beside the components: a *distilled* LoRA
  (``TINY_DISTILLED_LORA``: video and audio self/cross-attention and feed-forwards, like the
  real distilled LoRA) and an *ID-LoRA* (``TINY_IDLORA``: audio self-attention, a<->v
  cross-attention and the audio feed-forward, the modules ID-LoRA trains). Random, so the
  "distilled" model is not faster to sample: the tiny stack checks mechanics only.

LTX-2.3 differences mirrored from diffusers 0.42.1's options: gated attention (transformer and
connectors), prompt cross-attention AdaLN modulation (``cross_attn_mod``), per-modality text
projections in the connectors (no caption projection in the transformer), the BWE vocoder at
48 kHz. The pipeline picks ``use_cross_timestep`` from these (see ``engine.pipeline``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

VARIANTS = ("ltx2", "ltx2.3")
TINY_VERSION = 2
TINY_UPSAMPLER = "latent_upsampler"
TINY_DISTILLED_LORA = "tiny-distilled-lora.safetensors"
TINY_IDLORA = "tiny-idlora.safetensors"
TINY_LORA_RANK = 4
TINY_STG_BLOCK = 1  # last block of the 2-block tiny transformer
TINY_MAX_SEQUENCE_LENGTH = 64
TINY_SEED = 1234

# tiny dimensions
_TEXT_HIDDEN = 32
_TEXT_LAYERS = 2
_V_HEADS, _V_HEAD_DIM = 2, 16
_A_HEADS, _A_HEAD_DIM = 2, 8
_VIDEO_LATENT_CHANNELS = 128
_AUDIO_LATENT_CHANNELS = 2
_MEL_BINS = 64
_REGISTERS = 8


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown tiny model variant {variant!r}; expected one of {VARIANTS}")
    return variant


def _build_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    vocab: dict[str, int] = {}
    for tok in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>"):
        vocab[tok] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for ch in "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-[]()":
        if ch not in vocab:
            vocab[ch] = len(vocab)
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = TINY_MAX_SEQUENCE_LENGTH
    tok.padding_side = "left"
    return tok


def _build_text_encoder(vocab_size: int) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": _TEXT_HIDDEN,
        "intermediate_size": 64,
        "num_hidden_layers": _TEXT_LAYERS,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
        "max_position_embeddings": 256,
        "sliding_window": 16,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
    }
    vision_config = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
    }
    config = Gemma3Config(
        text_config=text_config,
        vision_config=vision_config,
        mm_tokens_per_image=4,
        boi_token_index=vocab_size - 3,
        eoi_token_index=vocab_size - 2,
        image_token_index=vocab_size - 1,
    )
    model = Gemma3ForConditionalGeneration(config)
    model.eval()
    return model


def _build_transformer(variant: str) -> Any:
    from diffusers import LTX2VideoTransformer3DModel

    is23 = variant == "ltx2.3"
    return LTX2VideoTransformer3DModel(
        in_channels=_VIDEO_LATENT_CHANNELS,
        out_channels=_VIDEO_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=_V_HEADS,
        attention_head_dim=_V_HEAD_DIM,
        cross_attention_dim=_V_HEADS * _V_HEAD_DIM,
        vae_scale_factors=(8, 32, 32),
        audio_in_channels=_AUDIO_LATENT_CHANNELS * _MEL_BINS // 4,
        audio_out_channels=_AUDIO_LATENT_CHANNELS * _MEL_BINS // 4,
        audio_num_attention_heads=_A_HEADS,
        audio_attention_head_dim=_A_HEAD_DIM,
        audio_cross_attention_dim=_A_HEADS * _A_HEAD_DIM,
        num_layers=2,
        caption_channels=_TEXT_HIDDEN,
        rope_type="split",
        gated_attn=is23,
        audio_gated_attn=is23,
        cross_attn_mod=is23,
        audio_cross_attn_mod=is23,
        use_prompt_embeddings=not is23,
        perturbed_attn=True,
    )


def _build_connectors(variant: str) -> Any:
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

    is23 = variant == "ltx2.3"
    if is23:
        # per-modality projections straight to the transformer widths
        return LTX2TextConnectors(
            caption_channels=_TEXT_HIDDEN,
            text_proj_in_factor=_TEXT_LAYERS + 1,
            video_connector_num_attention_heads=_V_HEADS,
            video_connector_attention_head_dim=_V_HEAD_DIM,
            video_connector_num_layers=1,
            video_connector_num_learnable_registers=_REGISTERS,
            video_gated_attn=True,
            audio_connector_num_attention_heads=_A_HEADS,
            audio_connector_attention_head_dim=_A_HEAD_DIM,
            audio_connector_num_layers=1,
            audio_connector_num_learnable_registers=_REGISTERS,
            audio_gated_attn=True,
            rope_type="split",
            per_modality_projections=True,
            video_hidden_dim=_V_HEADS * _V_HEAD_DIM,
            audio_hidden_dim=_A_HEADS * _A_HEAD_DIM,
            proj_bias=True,
        )
    return LTX2TextConnectors(
        caption_channels=_TEXT_HIDDEN,
        text_proj_in_factor=_TEXT_LAYERS + 1,
        video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=_TEXT_HIDDEN // 2,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=_REGISTERS,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=_TEXT_HIDDEN // 2,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=_REGISTERS,
        rope_type="split",
    )


def _build_vae() -> Any:
    import torch
    from diffusers import AutoencoderKLLTX2Video

    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=_VIDEO_LATENT_CHANNELS,
        block_out_channels=(8, 16, 32, 32),
        decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )
    with torch.no_grad():
        vae.latents_mean.copy_(0.1 * torch.randn(_VIDEO_LATENT_CHANNELS))
        vae.latents_std.copy_(0.5 + torch.rand(_VIDEO_LATENT_CHANNELS))
    return vae


def _build_audio_vae() -> Any:
    import torch
    from diffusers import AutoencoderKLLTX2Audio

    base = _AUDIO_LATENT_CHANNELS * _MEL_BINS // 4
    avae = AutoencoderKLLTX2Audio(
        base_channels=base,
        output_channels=2,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        in_channels=2,
        latent_channels=_AUDIO_LATENT_CHANNELS,
        sample_rate=16000,
        mel_hop_length=160,
        mel_bins=_MEL_BINS,
    )
    with torch.no_grad():
        avae.latents_mean.copy_(0.1 * torch.randn(base))
        avae.latents_std.copy_(0.5 + torch.rand(base))
    return avae


def _build_vocoder(variant: str) -> Any:
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE

    if variant == "ltx2.3":
        return LTX2VocoderWithBWE(
            in_channels=2 * _MEL_BINS,
            hidden_channels=64,
            out_channels=2,
            upsample_kernel_sizes=[11, 4, 4, 4, 4, 4],
            upsample_factors=[5, 2, 2, 2, 2, 2],
            resnet_kernel_sizes=[3],
            resnet_dilations=[[1]],
            bwe_in_channels=2 * _MEL_BINS,
            bwe_hidden_channels=32,
            bwe_out_channels=2,
            bwe_upsample_kernel_sizes=[12, 11, 4, 4, 4],
            bwe_upsample_factors=[6, 5, 2, 2, 2],
            bwe_resnet_kernel_sizes=[3],
            bwe_resnet_dilations=[[1]],
            num_mel_channels=_MEL_BINS,
            input_sampling_rate=16000,
            output_sampling_rate=48000,
        )
    return LTX2Vocoder(
        in_channels=2 * _MEL_BINS,
        hidden_channels=64,
        out_channels=2,
        upsample_kernel_sizes=[16, 15, 8, 4, 4],
        upsample_factors=[6, 5, 2, 2, 2],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1]],
        output_sampling_rate=24000,
    )


def _build_scheduler() -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler

    # LTX-2's configuration (method.md, "Sampling"); the pipeline computes its own sigmas from it.
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
        time_shift_type="exponential",
    )


def build_tiny_upsampler(variant: str = "ltx2", seed: int = TINY_SEED) -> Any:
    """The tiny spatial latent upsampler (seeded)."""
    import torch
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    _check_variant(variant)
    torch.manual_seed(seed + 100)
    return LTX2LatentUpsamplerModel(
        in_channels=_VIDEO_LATENT_CHANNELS,
        mid_channels=32,
        num_blocks_per_stage=1,
        dims=3,
        spatial_upsample=True,
        temporal_upsample=False,
        rational_spatial_scale=2.0,
        use_rational_resampler=variant == "ltx2.3",
    ).eval()


def build_tiny_lora(
    transformer: Any, kind: str, seed: int = TINY_SEED, scale: float = 0.3
) -> dict[str, Any]:
    """A random rank-4 LoRA state dict for ``transformer`` in the original LTX-2 key naming
    (``diffusion_model.transformer_blocks.N.<module>.lora_A/B.weight``).

    ``kind``: ``"distilled"`` or ``"idlora"`` (which modules it adapts, see the module doc).
    """
    import torch

    from engine.lora import DISTILLED_TARGETS, IDLORA_TARGETS, random_lora_state_dict

    modules = {"distilled": DISTILLED_TARGETS, "idlora": IDLORA_TARGETS}[kind]
    g = torch.Generator().manual_seed(seed + (200 if kind == "distilled" else 300))
    return random_lora_state_dict(
        transformer, modules, TINY_LORA_RANK, g, a_scale=scale, b_scale=scale
    )


def build_tiny_components(variant: str = "ltx2", seed: int = TINY_SEED) -> dict[str, Any]:
    """Build the tiny component dict (keys as in diffusers' LTX-2 pipelines), seeded.

    Each component is built after ``torch.manual_seed(seed + k)`` so weights do not depend on
    the order other components are built in.
    """
    import torch

    _check_variant(variant)
    comps: dict[str, Any] = {}
    builders = [
        ("tokenizer", _build_tokenizer),
        ("transformer", lambda: _build_transformer(variant)),
        ("vae", _build_vae),
        ("audio_vae", _build_audio_vae),
        ("vocoder", lambda: _build_vocoder(variant)),
        ("connectors", lambda: _build_connectors(variant)),
        ("scheduler", _build_scheduler),
    ]
    for k, (name, build) in enumerate(builders):
        torch.manual_seed(seed + k)
        comps[name] = build()
    torch.manual_seed(seed + len(builders))
    comps["text_encoder"] = _build_text_encoder(len(comps["tokenizer"]))
    for name in ("transformer", "vae", "audio_vae", "vocoder", "connectors"):
        comps[name].eval()
    return comps


def save_tiny_model(path: Path | str, variant: str = "ltx2", seed: int = TINY_SEED) -> Path:
    """Write the tiny stack as a diffusers folder (``model_index.json`` + subfolders) at ``path``."""
    from diffusers import LTX2Pipeline

    _check_variant(variant)
    path = Path(path)
    comps = build_tiny_components(variant, seed)
    pipe = LTX2Pipeline(**comps)
    pipe.save_pretrained(path, safe_serialization=True)
    # the two-stage / fast parts: upsampler and LoRAs, beside the components
    from safetensors.torch import save_file

    build_tiny_upsampler(variant, seed).save_pretrained(path / TINY_UPSAMPLER)
    for kind, name in (("distilled", TINY_DISTILLED_LORA), ("idlora", TINY_IDLORA)):
        save_file(build_tiny_lora(comps["transformer"], kind, seed), str(path / name))
    # record what this folder is, for model_info() and for humans
    info = {
        "tiny": True,
        "variant": variant,
        "version": TINY_VERSION,
        "seed": seed,
        "stg_block": TINY_STG_BLOCK,
        "max_sequence_length": TINY_MAX_SEQUENCE_LENGTH,
    }
    (path / "idlora_tiny.json").write_text(json.dumps(info, indent=2))
    return path


def tiny_parts(path: Path | str) -> dict[str, Path]:
    """Paths of the tiny folder's extra parts: ``spatial_upsampler``, ``distilled_lora``,
    ``id_lora`` (the keys are the registry's file roles)."""
    path = Path(path)
    return {
        "spatial_upsampler": path / TINY_UPSAMPLER,
        "distilled_lora": path / TINY_DISTILLED_LORA,
        "id_lora": path / TINY_IDLORA,
    }


def read_tiny_info(path: Path | str) -> dict[str, Any] | None:
    """The ``idlora_tiny.json`` marker of a tiny model folder, or None for other folders."""
    marker = Path(path) / "idlora_tiny.json"
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def ensure_tiny_model(cache_dir: Path | str, variant: str = "ltx2") -> Path:
    """Return the tiny model folder for ``variant`` under ``cache_dir``, building it once.

    The folder is built under a temporary name in ``cache_dir`` and renamed into place, so a
    crash or a concurrent builder never leaves a half-written model under the final name.
    """
    _check_variant(variant)
    cache_dir = Path(cache_dir)
    target = cache_dir / f"tiny-{variant}-v{TINY_VERSION}"
    if (target / "model_index.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".tmp-tiny-"))
    try:
        save_tiny_model(tmp, variant)
        try:
            os.replace(tmp, target)
        except OSError:
            # another process won the race (target exists and is not empty)
            if not (target / "model_index.json").is_file():
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
