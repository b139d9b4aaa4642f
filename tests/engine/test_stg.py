"""STG perturbation per model generation and per batch element (engine.pipeline.stg).

The references here are hand-written from the public ltx-core blocks: on a perturbed sample
LTX-2 adds *nothing* from the block's self-attention; LTX-2.3 adds ``to_out(gate * to_v(x))``
(value passthrough). They are applied with forward hooks that replace the self-attention
output of a plain (unperturbed) forward, so they do not share code with the processor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline.denoise import (  # noqa: E402
    default_stg_mode,
    default_use_cross_timestep,
    model_generation,
)
from engine.pipeline.positions import audio_coords, video_coords  # noqa: E402
from engine.pipeline.stg import (  # noqa: E402
    STGAttnProcessor,
    STGMode,
    install_stg_processors,
    installed_stg_mode,
)

BLOCK = 0  # perturb the first of the two tiny blocks: its effect then crosses block 1 too


@pytest.fixture(scope="module")
def pipes(tiny_model_dir, tiny_model_dir_23):
    """Fresh tiny LTX-2 and LTX-2.3 pipelines (not the session one: processors get swapped)."""
    from engine.pipeline import IDLoRAPipeline

    return {
        "ltx2": IDLoRAPipeline.from_pretrained(tiny_model_dir),
        "ltx2.3": IDLoRAPipeline.from_pretrained(tiny_model_dir_23),
    }


def _kwargs(pipe, seed: int) -> dict:
    """ID-LoRA-like transformer inputs at batch 1: clean first frame, clean reference audio."""
    tr = pipe.transformer
    g = torch.Generator().manual_seed(seed)
    text = pipe.encode_text([f"[VISUAL]: a person speaking, take {seed}"])
    lf = lh = lw = 2
    nv, nr, nt = lf * lh * lw, 6, 9
    sigma = 0.7
    vmask = torch.ones(1, nv)
    vmask[:, : lh * lw] = 0
    a_sig = torch.full((1, nr + nt), sigma)
    a_sig[:, :nr] = 0
    return dict(
        hidden_states=torch.randn(1, nv, tr.config.in_channels, generator=g),
        audio_hidden_states=torch.randn(1, nr + nt, tr.config.audio_in_channels, generator=g),
        encoder_hidden_states=text.video,
        audio_encoder_hidden_states=text.audio,
        timestep=vmask * sigma * 1000,
        audio_timestep=a_sig * 1000,
        sigma=torch.full((1,), sigma * 1000),
        audio_sigma=torch.full((1,), sigma * 1000),
        encoder_attention_mask=text.mask,
        audio_encoder_attention_mask=text.mask,
        num_frames=lf,
        height=lh,
        width=lw,
        fps=25.0,
        audio_num_frames=nr + nt,
        video_coords=video_coords(1, lf, lh, lw, 25.0),
        audio_coords=audio_coords(1, nr, nt),
        use_cross_timestep=default_use_cross_timestep(tr),
        return_dict=False,
    )


def _batch(*kws: dict) -> dict:
    out = dict(kws[0])
    for k, v in kws[0].items():
        if torch.is_tensor(v):
            out[k] = torch.cat([kw[k] for kw in kws], dim=0)
    return out


def _value_passthrough(attn, x: torch.Tensor) -> torch.Tensor:
    """LTX-2.3 ltx-core Attention with every sample perturbed: to_out(gate * to_v(x))."""
    out = attn.to_v(x)
    if attn.to_gate_logits is not None:
        gates = 2.0 * torch.sigmoid(attn.to_gate_logits(x))  # (B, T, H)
        out = (out.unflatten(-1, (attn.heads, -1)) * gates.unsqueeze(-1)).flatten(-2)
    return attn.to_out[1](attn.to_out[0](out))


@contextlib.contextmanager
def _self_attention_hooks(block, change=None) -> Iterator[list]:
    """Hook ``block``'s video and audio self-attention; yields the outputs seen (after
    ``change(module, x, output)``, which may return a replacement output)."""
    seen: list[torch.Tensor] = []

    def hook(module, args, kwargs, output):
        out = output if change is None else change(module, kwargs["hidden_states"], output)
        seen.append(out.detach().clone())
        return out

    handles = [
        a.register_forward_hook(hook, with_kwargs=True) for a in (block.attn1, block.audio_attn1)
    ]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def _replace_self_attention(block, how: str, rows: list[int]):  # noqa: ANN202
    """Replace the self-attention output of ``block`` for batch ``rows`` (``how``: drop/value)."""

    def change(module, x, output):
        out = output.clone()
        for r in rows:
            out[r] = 0.0 if how == "drop" else _value_passthrough(module, x[r : r + 1])[0]
        return out

    return _self_attention_hooks(block, change)


def _record_self_attention(block):  # noqa: ANN202
    return _self_attention_hooks(block)


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    return bool(((a - b).abs().max() / b.abs().max().clamp(min=1e-12)) < tol)


def test_generation_decides_mode_and_cross_timestep(pipes) -> None:
    t2, t23 = pipes["ltx2"].transformer, pipes["ltx2.3"].transformer
    assert model_generation(t2) == "ltx2" and model_generation(t23) == "ltx2.3"
    assert default_stg_mode(t2) is STGMode.DROP and not default_use_cross_timestep(t2)
    assert default_stg_mode(t23) is STGMode.VALUE and default_use_cross_timestep(t23)


@pytest.mark.parametrize("variant", ["ltx2", "ltx2.3"])
def test_stg_pass_matches_public_perturbation(pipes, variant) -> None:
    """The STG pass equals a plain pass whose STG block's self-attention output is replaced
    by the public code's perturbation: nothing (LTX-2) or the value projection (LTX-2.3)."""
    pipe = pipes[variant]
    tr = pipe.transformer
    kw = _kwargs(pipe, 1)
    install_stg_processors(tr, [BLOCK], default_stg_mode(tr))
    block = tr.transformer_blocks[BLOCK]
    with torch.no_grad():
        plain_v, plain_a = tr(**kw)
        with _record_self_attention(block) as seen:
            stg_v, stg_a = tr(**kw, spatio_temporal_guidance_blocks=[BLOCK])
        how = "drop" if variant == "ltx2" else "value"
        with _replace_self_attention(block, how, rows=[0]):
            ref_v, ref_a = tr(**kw)
    assert len(seen) == 2  # video and audio self-attention of the STG block
    if variant == "ltx2":
        # the perturbed block's self-attention contributes exactly nothing
        assert all(bool((s == 0).all()) for s in seen)
    else:
        x_v = seen[0]
        assert x_v.abs().max() > 0  # value passthrough is not zero
    assert _close(stg_v, ref_v) and _close(stg_a, ref_a)
    assert not _close(stg_v, plain_v, 1e-3) and not _close(stg_a, plain_a, 1e-3)
    # the other generation's perturbation gives a clearly different pass
    other = "value" if variant == "ltx2" else "drop"
    with torch.no_grad(), _replace_self_attention(block, other, rows=[0]):
        wrong_v, wrong_a = tr(**kw)
    assert not _close(stg_v, wrong_v, 1e-3) or not _close(stg_a, wrong_a, 1e-3)


@pytest.mark.parametrize("variant", ["ltx2", "ltx2.3"])
@pytest.mark.parametrize("mask", [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0)])
def test_perturbation_mask_perturbs_only_masked_elements(pipes, variant, mask) -> None:
    """A batch of 2 with a per-sample mask equals the two batch-1 runs it stands for."""
    pipe = pipes[variant]
    tr = pipe.transformer
    install_stg_processors(tr, [BLOCK], default_stg_mode(tr))
    kws = [_kwargs(pipe, 2), _kwargs(pipe, 3)]
    with torch.no_grad():
        singles = []
        for kw, m in zip(kws, mask, strict=True):
            extra = {} if m == 1.0 else {"spatio_temporal_guidance_blocks": [BLOCK]}
            singles.append(tr(**kw, **extra))
        both_v, both_a = tr(
            **_batch(*kws),
            spatio_temporal_guidance_blocks=[BLOCK],
            perturbation_mask=torch.tensor(mask),
        )
    for i in range(2):
        assert _close(both_v[i], singles[i][0][0]) and _close(both_a[i], singles[i][1][0])
    # and the perturbed element really is perturbed (differs from its plain run)
    with torch.no_grad():
        plain = [tr(**kw) for kw in kws]
    for i, m in enumerate(mask):
        same = _close(both_v[i], plain[i][0][0], 1e-3) and _close(both_a[i], plain[i][1][0], 1e-3)
        assert same == (m == 1.0)


def test_batched_drop_matches_hand_reference(pipes) -> None:
    """LTX-2 batch [keep, perturb]: element 1 equals a run with its self-attention zeroed."""
    pipe = pipes["ltx2"]
    tr = pipe.transformer
    install_stg_processors(tr, [BLOCK], STGMode.DROP)
    kw = _batch(_kwargs(pipe, 4), _kwargs(pipe, 5))
    block = tr.transformer_blocks[BLOCK]
    with torch.no_grad():
        v, a = tr(
            **kw,
            spatio_temporal_guidance_blocks=[BLOCK],
            perturbation_mask=torch.tensor([1.0, 0.0]),
        )
        with _replace_self_attention(block, "drop", rows=[1]):
            rv, ra = tr(**kw)
    assert _close(v, rv) and _close(a, ra)


def test_processor_without_mask_is_plain_attention(pipes) -> None:
    """Installed but not driven (no STG blocks in the call): outputs bit-identical to before."""
    from diffusers import LTX2VideoTransformer3DModel

    pipe = pipes["ltx2"]
    fresh = LTX2VideoTransformer3DModel.from_config(pipe.transformer.config)
    fresh.load_state_dict(pipe.transformer.state_dict())
    kw = _kwargs(pipe, 6)
    with torch.no_grad():
        before = fresh(**kw)
        install_stg_processors(fresh, [0, 1], STGMode.DROP)
        after = fresh(**kw)
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1])


def test_install_is_idempotent_and_switches_modes(pipes) -> None:
    tr = pipes["ltx2"].transformer
    install_stg_processors(tr, [1], STGMode.DROP)
    proc = tr.transformer_blocks[1].attn1.processor
    install_stg_processors(tr, [1], "drop")
    assert tr.transformer_blocks[1].attn1.processor is proc
    assert installed_stg_mode(tr, 1) is STGMode.DROP
    install_stg_processors(tr, [1], STGMode.VALUE)
    assert installed_stg_mode(tr, 1) is STGMode.VALUE
    assert isinstance(tr.transformer_blocks[1].audio_attn1.processor, STGAttnProcessor)
    assert tr.transformer_blocks[1].perturbed_attn is True
    with pytest.raises(ValueError, match="STG block 7 does not exist"):
        install_stg_processors(tr, [7], STGMode.DROP)
    install_stg_processors(tr, [1], default_stg_mode(tr))


def test_pipeline_installs_mode_of_its_generation(pipes) -> None:
    """A generation with STG on perturbs the way its model generation does."""
    H = W = 64
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, H, W, generator=g) * 2 - 1
    ref = 0.1 * torch.randn(1, 16000 * 2, generator=g)
    for variant, mode in (("ltx2", STGMode.DROP), ("ltx2.3", STGMode.VALUE)):
        pipe = pipes[variant]
        install_stg_processors(pipe.transformer, [1], "value" if mode is STGMode.DROP else "drop")
        pipe(
            "p",
            "n",
            image=img,
            reference_audio=ref,
            height=H,
            width=W,
            num_frames=9,
            num_inference_steps=1,
            stg_block=1,
            output_type="latent",
            generator=torch.Generator().manual_seed(0),
        )
        assert installed_stg_mode(pipe.transformer, 1) is mode
