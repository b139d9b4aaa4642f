"""RoPE positions: reference voice at negative times; bfloat16 as the trainer built them."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline.positions import (  # noqa: E402
    audio_coords,
    audio_intervals,
    reference_audio_intervals,
    video_coords,
)

BF16 = torch.bfloat16


def test_reference_coordinates_negative_and_spaced_like_target() -> None:
    n_ref, n_tgt = 126, 10  # ~5 s reference
    c = audio_coords(1, n_ref, n_tgt, dtype="float32")
    assert c.shape == (1, 1, n_ref + n_tgt, 2) and c.dtype == torch.float32
    ref, tgt = c[0, 0, :n_ref], c[0, 0, n_ref:]
    assert (ref[:, 1] < 0).all() and (ref[:, 0] < 0).all()
    # the last reference interval ends 0.04 s before zero
    assert ref[-1, 1].item() == pytest.approx(-0.04, abs=1e-6)
    # target starts at 0: [max(4i-3,0)*0.01, (4i+1)*0.01)
    assert tgt[0].tolist() == pytest.approx([0.0, 0.01], abs=1e-7)
    assert tgt[3].tolist() == pytest.approx([0.09, 0.13], abs=1e-7)
    # internal spacing equals the target tokens' spacing (0.04 s after the first token)
    d_ref = torch.diff(ref[1:, 0])
    d_tgt = torch.diff(tgt[1:, 0])
    assert torch.allclose(d_ref, torch.full_like(d_ref, 0.04), atol=1e-5)
    assert torch.allclose(d_tgt, torch.full_like(d_tgt, 0.04), atol=1e-5)
    # same lengths as unshifted, shift = end of last + 0.04
    raw = audio_intervals(n_ref, dtype="float32")
    assert torch.allclose(ref - raw, torch.full_like(ref, -(raw[-1, 1].item() + 0.04)), atol=1e-5)
    assert reference_audio_intervals(0).shape == (0, 2)


def test_exact_positions_match_diffusers() -> None:
    from engine.models.tiny import _build_transformer

    tr = _build_transformer("ltx2")
    ours = audio_coords(2, 0, 17, dtype="float32")
    theirs = tr.audio_rope.prepare_audio_coords(2, 17, torch.device("cpu"))
    assert torch.allclose(ours, theirs, atol=1e-6)
    ours_v = video_coords(2, 3, 2, 4, 25.0, dtype="float32")
    theirs_v = tr.rope.prepare_video_coords(2, 3, 2, 4, torch.device("cpu"), fps=25.0)
    assert torch.allclose(ours_v, theirs_v, atol=1e-6)
    # latent frame k covers [(8k-7)/fps, (8k+1)/fps); frame 0 is [0, 1/fps)
    assert ours_v[0, 0, 0].tolist() == pytest.approx([0.0, 1 / 25])
    k2 = ours_v[0, 0, 2 * 8]  # first token of latent frame 2
    assert k2.tolist() == pytest.approx([9 / 25, 17 / 25])


# --- what the ID-LoRA trainer computes (ltx-trainer base_strategy / audio_ref_only_ic), with
# --- dtype = the cached video latents' dtype, bfloat16: written out op by op


def _trainer_video(lf: int, lh: int, lw: int, fps: float) -> torch.Tensor:
    axes = torch.meshgrid(torch.arange(lf), torch.arange(lh), torch.arange(lw), indexing="ij")
    idx = torch.stack([a.reshape(-1) for a in axes])[None]  # latent [start] (1, 3, N)
    latent = torch.stack([idx, idx + 1], dim=-1)  # (1, 3, N, 2)
    pixel = latent * torch.tensor([8, 32, 32]).view(1, 3, 1, 1)
    pixel[:, 0] = (pixel[:, 0] + 1 - 8).clamp(min=0)
    pixel = pixel.to(BF16)  # .to(dtype) first ...
    pixel[:, 0] = pixel[:, 0] / fps  # ... then the time axis divided by fps in bfloat16
    return pixel


def _trainer_audio(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float32)
    start = (i * 4 + 1 - 4).clip(min=0) * 160 / 16000
    end = ((i + 1) * 4 + 1 - 4).clip(min=0) * 160 / 16000
    return torch.stack([start, end], dim=-1)[None, None].to(BF16)


def _trainer_reference(n: int) -> torch.Tensor:
    pos = _trainer_audio(n)
    duration = pos[:, :, -1, 1].max().item()
    return pos - duration - 160 * 4 / 16000


@pytest.mark.parametrize(("lf", "lh", "lw", "fps"), [(16, 16, 16, 25.0), (16, 12, 20, 24.0)])
def test_default_video_positions_are_the_trainers_bfloat16(lf, lh, lw, fps) -> None:
    ours = video_coords(1, lf, lh, lw, fps)
    assert ours.dtype == BF16
    assert torch.equal(ours, _trainer_video(lf, lh, lw, fps))


@pytest.mark.parametrize(("n_ref", "n_tgt"), [(126, 121), (376, 121), (51, 9)])
def test_default_audio_positions_are_the_trainers_bfloat16(n_ref, n_tgt) -> None:
    ours = audio_coords(1, n_ref, n_tgt)
    assert ours.dtype == BF16
    trainer = torch.cat([_trainer_reference(n_ref), _trainer_audio(n_tgt)], dim=2)
    assert torch.equal(ours, trainer)
    # the precision is visible: bfloat16 moves positions by a sizeable part of a latent (0.04 s)
    exact = audio_coords(1, n_ref, n_tgt, dtype="float32")
    assert (ours.float() - exact).abs().max() > 0.004


def test_position_dtype_is_checked() -> None:
    with pytest.raises(ValueError, match="position dtype"):
        audio_coords(1, 2, 3, dtype="float16")


def test_pipeline_passes_bfloat16_positions_unless_asked(tiny_pipeline) -> None:
    seen: list[tuple] = []
    tr = tiny_pipeline.transformer
    # the RoPE modules get the coordinates on every executor's path (the fast executor does not
    # call transformer.forward)
    got: dict[str, torch.dtype] = {}
    hooks = [
        tr.rope.register_forward_pre_hook(lambda m, a: got.__setitem__("v", a[0].dtype)),
        tr.audio_rope.register_forward_pre_hook(lambda m, a: seen.append((got["v"], a[0].dtype))),
    ]
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, 64, 64, generator=g) * 2 - 1
    ref = 0.1 * torch.randn(1, 32000, generator=g)
    kw = dict(image=img, reference_audio=ref, height=64, width=64, num_frames=9,
              num_inference_steps=1, stg_scale=0.0, output_type="latent")  # fmt: skip
    try:
        tiny_pipeline("p", "n", **kw)
        assert seen and all(s == (BF16, BF16) for s in seen)
        seen.clear()
        tiny_pipeline("p", "n", position_dtype="float32", **kw)
        assert seen and all(s == (torch.float32, torch.float32) for s in seen)
    finally:
        for hook in hooks:
            hook.remove()
