"""Model sources: diffusers folder, missing parts, offline hub, single-file checkpoints."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.api import InvalidRequestError, ModelNotFoundError
from engine.models.sources import COMPONENTS, load_components, variant_from_keys
from engine.models.tiny import save_tiny_model


@pytest.fixture(scope="module")
def tiny_ltx2(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny-ltx2", "ltx2")


@pytest.fixture(scope="module")
def tiny_ltx23(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("m") / "tiny-ltx23", "ltx2.3")


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same_weights(a, b) -> None:
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_diffusers_folder_loads_all_components(tiny_ltx2: Path) -> None:
    from diffusers import LTX2Pipeline
    from safetensors.torch import load_file

    comps, info = load_components(tiny_ltx2)
    assert set(comps) == set(COMPONENTS)
    assert info.kind == "diffusers-folder" and info.variant == "ltx2"
    assert info.paths["audio_vae"] == tiny_ltx2 / "audio_vae"
    assert info.revision and len(info.revision) == 64
    saved = load_file(str(tiny_ltx2 / "transformer" / "diffusion_pytorch_model.safetensors"))
    loaded = comps["transformer"].state_dict()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert type(comps["vocoder"]).__name__ == "LTX2Vocoder"
    pipe = LTX2Pipeline(**comps)  # the dict is what the pipelines take
    assert pipe.transformer is comps["transformer"]

    comps16, _ = load_components(tiny_ltx2, torch_dtype=torch.bfloat16)
    assert next(comps16["transformer"].parameters()).dtype == torch.bfloat16


def test_variant_detection_and_mismatch(tiny_ltx23: Path) -> None:
    comps, info = load_components(tiny_ltx23)
    assert info.variant == "ltx2.3"
    assert type(comps["vocoder"]).__name__ == "LTX2VocoderWithBWE"
    with pytest.raises(InvalidRequestError, match="LTX2.3 model, but LTX2 was asked"):
        load_components(tiny_ltx23, variant="ltx2")


def test_missing_subfolder_and_weights_are_listed(tiny_ltx2: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_ltx2, broken)
    shutil.rmtree(broken / "audio_vae")
    (broken / "vocoder" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError) as err:
        load_components(broken)
    assert set(err.value.missing) == {"audio_vae/", "vocoder/ (no weight files)"}
    assert "audio_vae/" in str(err.value) and str(broken) in str(err.value)

    # the missing parts can come from a companion model
    comps, info = load_components(broken, base=tiny_ltx2)
    assert info.paths["audio_vae"] == tiny_ltx2 / "audio_vae"
    assert info.paths["transformer"] == broken / "transformer"
    assert set(comps) == set(COMPONENTS)

    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    with pytest.raises(ModelNotFoundError, match="not a diffusers model folder"):
        load_components(not_a_model)


def test_offline_unknown_repo_names_the_repo(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError) as err:
        load_components("nobody-here/ltx2-not-cached", cache_dir=tmp_path / "hub")
    msg = str(err.value)
    assert "nobody-here/ltx2-not-cached" in msg
    assert "offline" in msg and "hf download" in msg
    assert err.value.missing == ("nobody-here/ltx2-not-cached",)


def test_cached_hub_repo_loads_offline(tiny_ltx2: Path, tmp_path: Path) -> None:
    """A repo present in the hub cache layout loads with HF_HUB_OFFLINE=1 (no network)."""
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / "models--someone--tiny-ltx2"
    shutil.copytree(tiny_ltx2, repo_dir / "snapshots" / commit)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    comps, info = load_components("someone/tiny-ltx2", cache_dir=cache)
    assert info.kind == "hub" and info.revision == commit
    assert set(comps) == set(COMPONENTS)

    shutil.rmtree(repo_dir / "snapshots" / commit / "connectors")
    with pytest.raises(ModelNotFoundError) as err:
        load_components("someone/tiny-ltx2", cache_dir=cache)
    assert "someone/tiny-ltx2" in str(err.value) and "connectors/" in str(err.value)


# ----------------------------------------------------------------------------- single file

# diffusers -> original LTX-2 names: the inverse of diffusers' single-file converter
_TRANSFORMER_TO_ORIGINAL = [
    ("proj_in", "patchify_proj"),  # also audio_proj_in -> audio_patchify_proj
    ("av_cross_attn_video_scale_shift", "av_ca_video_scale_shift_adaln_single"),
    ("av_cross_attn_video_a2v_gate", "av_ca_a2v_gate_adaln_single"),
    ("av_cross_attn_audio_scale_shift", "av_ca_audio_scale_shift_adaln_single"),
    ("av_cross_attn_audio_v2a_gate", "av_ca_v2a_gate_adaln_single"),
    ("video_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_video"),
    ("audio_a2v_cross_attn_scale_shift_table", "scale_shift_table_a2v_ca_audio"),
    ("norm_q", "q_norm"),
    ("norm_k", "k_norm"),
]


def _original_transformer_key(key: str) -> str:
    for new, old in _TRANSFORMER_TO_ORIGINAL:
        key = key.replace(new, old)
    if key.startswith("time_embed."):
        key = "adaln_single." + key[len("time_embed.") :]
    if key.startswith("audio_time_embed."):
        key = "audio_adaln_single." + key[len("audio_time_embed.") :]
    for new in ("audio_prompt_adaln.", "prompt_adaln."):  # LTX-2.3
        if key.startswith(new):
            key = new[:-1] + "_single." + key[len(new) :]
            break
    return "model.diffusion_model." + key


def _original_audio_vae_key(key: str) -> str:
    key = key.replace("latents_mean", "per_channel_statistics.mean-of-means")
    key = key.replace("latents_std", "per_channel_statistics.std-of-means")
    return "audio_vae." + key


def _original_vae_key(key: str) -> str:
    """diffusers video VAE name -> original (inverse of diffusers' block renumbering)."""
    key = key.replace("latents_mean", "per_channel_statistics.mean-of-means")
    key = key.replace("latents_std", "per_channel_statistics.std-of-means")
    if key.startswith("encoder."):
        m = re.match(r"encoder\.down_blocks\.(\d)\.downsamplers\.0\.(.*)", key)
        if m:
            key = f"encoder.down_blocks.{2 * int(m[1]) + 1}.{m[2]}"
        else:
            key = re.sub(
                r"^encoder\.down_blocks\.(\d)\.",
                lambda g: f"encoder.down_blocks.{2 * int(g[1])}.",
                key,
            )
            key = key.replace("encoder.mid_block.", "encoder.down_blocks.8.")
    elif key.startswith("decoder."):
        m = re.match(r"decoder\.up_blocks\.(\d)\.upsamplers\.0\.(.*)", key)
        if m:
            key = f"decoder.up_blocks.{2 * int(m[1]) + 1}.{m[2]}"
        else:
            key = re.sub(
                r"^decoder\.up_blocks\.(\d)\.",
                lambda g: f"decoder.up_blocks.{2 * int(g[1]) + 2}.",
                key,
            )
            key = key.replace("decoder.mid_block.", "decoder.up_blocks.0.")
    return "vae." + key.replace("resnets", "res_blocks")


def _write_single_file(
    base: Path, path: Path, with_vocoder: bool = True, with_vae: bool = False
) -> dict:
    """An original-layout checkpoint made from the tiny folder's transformer and audio VAE."""
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    g = torch.Generator().manual_seed(7)
    transformer = LTX2VideoTransformer3DModel.from_pretrained(base / "transformer")
    audio_vae = AutoencoderKLLTX2Audio.from_pretrained(base / "audio_vae")
    # new random values, so that loading from the base folder by mistake would be detected
    with torch.no_grad():
        for p in list(transformer.parameters()) + list(audio_vae.parameters()):
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    sd = {_original_transformer_key(k): v.contiguous() for k, v in transformer.state_dict().items()}
    sd.update(
        {_original_audio_vae_key(k): v.contiguous() for k, v in audio_vae.state_dict().items()}
    )
    if with_vocoder and (base / "vocoder" / "config.json").is_file():
        cfg = json.loads((base / "vocoder" / "config.json").read_text())
        if cfg["_class_name"] == "LTX2Vocoder":
            voc = LTX2Vocoder.from_pretrained(base / "vocoder")
            sd.update({"vocoder." + k: v.contiguous() for k, v in voc.state_dict().items()})
    out = {"transformer": transformer, "audio_vae": audio_vae}
    if with_vae:
        vae = AutoencoderKLLTX2Video.from_pretrained(base / "vae")
        with torch.no_grad():
            for p in vae.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
        sd.update({_original_vae_key(k): v.contiguous() for k, v in vae.state_dict().items()})
        out["vae"] = vae
    save_file(sd, str(path))
    return out


@pytest.mark.parametrize("variant", ["ltx2", "ltx2.3"])
def test_single_file_transformer_and_audio_vae(
    variant: str, tiny_ltx2: Path, tiny_ltx23: Path, tmp_path: Path
) -> None:
    base = tiny_ltx2 if variant == "ltx2" else tiny_ltx23
    ckpt = tmp_path / f"{variant}-tiny.safetensors"
    expected = _write_single_file(base, ckpt)

    comps, info = load_components(ckpt, base=base)
    assert info.kind == "single-file" and info.variant == variant
    assert info.paths["transformer"] == ckpt and info.paths["audio_vae"] == ckpt
    assert info.paths["vae"] == base / "vae"  # no video VAE in this file: from the base
    assert set(comps) == set(COMPONENTS)
    _assert_same_weights(comps["transformer"], expected["transformer"])
    _assert_same_weights(comps["audio_vae"], expected["audio_vae"])
    if variant == "ltx2":
        assert any("vocoder" in n and "cannot convert" in n for n in info.notes)


def test_single_file_errors(tiny_ltx2: Path, tiny_ltx23: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "tiny.safetensors"
    _write_single_file(tiny_ltx2, ckpt, with_vocoder=False)
    with pytest.raises(InvalidRequestError, match="companion diffusers model"):
        load_components(ckpt)
    with pytest.raises(InvalidRequestError, match="same generation"):
        load_components(ckpt, base=tiny_ltx23)

    # a file whose transformer lacks weights the model needs: an error, not random weights
    from safetensors.torch import load_file

    sd = load_file(str(ckpt))
    dropped = [k for k in sd if k.startswith("model.diffusion_model.proj_out.")]
    for k in dropped:
        del sd[k]
    save_file(sd, str(ckpt))
    with pytest.raises(InvalidRequestError, match="proj_out"):
        load_components(ckpt, base=tiny_ltx2)

    save_file({"unet.x": torch.zeros(2)}, str(tmp_path / "sd.safetensors"))
    with pytest.raises(InvalidRequestError, match="not an LTX-2 checkpoint"):
        load_components(tmp_path / "sd.safetensors", base=tiny_ltx2)
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_components(tmp_path / "nope.safetensors", base=tiny_ltx2)


def test_variant_from_keys() -> None:
    assert variant_from_keys(["model.diffusion_model.patchify_proj.weight"]) == "ltx2"
    assert (
        variant_from_keys(["model.diffusion_model.prompt_adaln_single.linear.weight"]) == "ltx2.3"
    )
    assert (
        variant_from_keys(
            ["model.diffusion_model.transformer_blocks.0.attn1.to_gate_logits.weight"]
        )
        == "ltx2.3"
    )


def test_single_file_with_video_vae(tiny_ltx2: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "full.safetensors"
    expected = _write_single_file(tiny_ltx2, ckpt, with_vae=True)
    comps, info = load_components(ckpt, base=tiny_ltx2)
    assert info.paths["vae"] == ckpt
    _assert_same_weights(comps["vae"], expected["vae"])
    _assert_same_weights(comps["transformer"], expected["transformer"])
