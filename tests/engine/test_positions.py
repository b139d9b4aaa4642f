"""RoPE positions: reference voice at negative times, video/target audio as diffusers computes them."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline.positions import (  # noqa: E402
    audio_coords,
    audio_intervals,
    reference_audio_intervals,
    video_coords,
)


def test_reference_coordinates_negative_and_spaced_like_target() -> None:
    n_ref, n_tgt = 126, 10  # ~5 s reference
    c = audio_coords(1, n_ref, n_tgt)
    assert c.shape == (1, 1, n_ref + n_tgt, 2)
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
    raw = audio_intervals(n_ref)
    assert torch.allclose(ref - raw, torch.full_like(ref, -(raw[-1, 1].item() + 0.04)), atol=1e-5)
    assert reference_audio_intervals(0).shape == (0, 2)


def test_target_audio_matches_diffusers_and_video_coords_match() -> None:
    from engine.models.tiny import _build_transformer

    tr = _build_transformer("ltx2")
    ours = audio_coords(2, 0, 17)
    theirs = tr.audio_rope.prepare_audio_coords(2, 17, torch.device("cpu"))
    assert torch.allclose(ours, theirs, atol=1e-6)
    ours_v = video_coords(2, 3, 2, 4, 25.0)
    theirs_v = tr.rope.prepare_video_coords(2, 3, 2, 4, torch.device("cpu"), fps=25.0)
    assert torch.allclose(ours_v, theirs_v, atol=1e-6)
    # latent frame k covers [(8k-7)/fps, (8k+1)/fps); frame 0 is [0, 1/fps)
    assert ours_v[0, 0, 0].tolist() == pytest.approx([0.0, 1 / 25])
    k2 = ours_v[0, 0, 2 * 8]  # first token of latent frame 2
    assert k2.tolist() == pytest.approx([9 / 25, 17 / 25])
