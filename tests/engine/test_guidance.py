"""Guidance arithmetic on x0 and the pass list (method.md, "Sampling")."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline.denoise import DenoiseState, TextEmbeds, denoise  # noqa: E402
from engine.pipeline.guidance import GuidanceScales, build_pass_specs, combine_x0  # noqa: E402

ALL = GuidanceScales(video_cfg=3.0, audio_cfg=7.0, identity=3.0, stg=1.0, modality=3.0, stg_block=1)


def test_pass_lists() -> None:
    names = [s.name for s in build_pass_specs(ALL)]
    assert names == ["cond", "negative", "identity", "stg", "modality"]
    off = GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0)
    assert [s.name for s in build_pass_specs(off)] == ["cond"]
    for field, value, removed in [
        ("identity", 0.0, "identity"),
        ("stg", 0.0, "stg"),
        ("modality", 1.0, "modality"),
    ]:
        sc = GuidanceScales(**{**ALL.__dict__, field: value})
        assert [s.name for s in build_pass_specs(sc)] == [n for n in names if n != removed]
    no_cfg = GuidanceScales(**{**ALL.__dict__, "video_cfg": 1.0, "audio_cfg": 1.0})
    assert "negative" not in [s.name for s in build_pass_specs(no_cfg)]
    # audio CFG alone still needs the negative pass
    a_only = GuidanceScales(**{**ALL.__dict__, "video_cfg": 1.0})
    assert "negative" in [s.name for s in build_pass_specs(a_only)]
    # identity guidance runs only for a scale > 0, as in the public code (not for < 0)
    for scale, on in ((-1.0, False), (-1e-6, False), (1e-6, True)):
        sc = GuidanceScales(**{**ALL.__dict__, "identity": scale})
        assert ("identity" in [s.name for s in build_pass_specs(sc)]) is on
    # without reference tokens there is no identity pass
    assert "identity" not in [s.name for s in build_pass_specs(ALL, has_reference=False)]
    stg = next(s for s in build_pass_specs(ALL) if s.name == "stg")
    assert stg.kwargs == {"spatio_temporal_guidance_blocks": [1]}
    mod = next(s for s in build_pass_specs(ALL) if s.name == "modality")
    assert mod.kwargs == {"isolate_modalities": True}
    ident = next(s for s in build_pass_specs(ALL) if s.name == "identity")
    assert ident.with_reference is False and ident.prompt == "positive"


def test_combine_formulas_random() -> None:
    g = torch.Generator().manual_seed(0)
    nr, nt = 4, 6
    x0 = {
        n: (torch.randn(1, 5, 3, generator=g), torch.randn(1, nr + nt, 2, generator=g))
        for n in ("cond", "negative", "stg", "modality")
    }
    x0["identity"] = (torch.randn(1, 5, 3, generator=g), torch.randn(1, nt, 2, generator=g))
    v, a = combine_x0(x0, ALL, nr)
    P, N, S, B = (x0[k] for k in ("cond", "negative", "stg", "modality"))
    R = x0["identity"][1]
    ev = P[0] + 2 * (P[0] - N[0]) + 1 * (P[0] - S[0]) + 2 * (P[0] - B[0])
    ea = P[1] + 6 * (P[1] - N[1]) + 1 * (P[1] - S[1]) + 2 * (P[1] - B[1])
    ea_t = ea[:, nr:] + 3 * (P[1][:, nr:] - R)
    assert torch.allclose(v, ev, atol=1e-6)
    # identity guidance touches only the target audio tokens
    assert torch.allclose(a[:, :nr], ea[:, :nr], atol=1e-6)
    assert torch.allclose(a[:, nr:], ea_t, atol=1e-6)
    # identity does not touch video: identical with identity off
    v2, a2 = combine_x0({k: x0[k] for k in x0 if k != "identity"}, ALL, nr)
    assert torch.equal(v, v2) and torch.equal(a[:, :nr], a2[:, :nr])
    assert not torch.allclose(a[:, nr:], a2[:, nr:])


# velocity each pass returns (video, audio), so the pass is identifiable in the result
V = {
    "cond": (1.0, 10.0),
    "negative": (2.0, 20.0),
    "identity": (3.0, 30.0),
    "stg": (4.0, 40.0),
    "modality": (5.0, 50.0),
}


class _FakeAttention:
    def __init__(self) -> None:
        self.processor = None

    def set_processor(self, processor) -> None:
        self.processor = processor


class _FakeBlock:
    def __init__(self) -> None:
        self.attn1, self.audio_attn1 = _FakeAttention(), _FakeAttention()
        self.perturbed_attn = False


class FakeTransformer:
    """Returns a constant velocity per pass; identifies the pass from its inputs/kwargs."""

    dtype = torch.float32

    def __init__(self, state: DenoiseState) -> None:
        self.state = state
        self.calls: list[tuple[str, dict]] = []
        self.config: dict = {}  # an LTX-2 config: STG drops self-attention
        self.transformer_blocks = [_FakeBlock() for _ in range(2)]

    def __call__(self, **kw):
        if kw.get("isolate_modalities"):
            name = "modality"
        elif kw.get("spatio_temporal_guidance_blocks"):
            name = "stg"
        elif kw["encoder_hidden_states"] is self.state.negative.video:
            name = "negative"
        elif kw["audio_hidden_states"].shape[1] == self.state.audio.shape[1]:
            name = "identity"
        else:
            name = "cond"
        self.calls.append((name, kw))
        vv, va = V[name]
        return (
            torch.full_like(kw["hidden_states"], vv),
            torch.full_like(kw["audio_hidden_states"], va),
        )


def _state(nr: int = 3, nt: int = 4) -> DenoiseState:
    g = torch.Generator().manual_seed(1)
    nv, c, d = 2 * 2 * 2, 5, 6  # 2 latent frames of 2x2
    mask = torch.ones(1, nv)
    mask[:, :4] = 0
    video = torch.randn(1, nv, c, generator=g)
    pos = TextEmbeds(
        torch.randn(1, 3, 4, generator=g), torch.randn(1, 3, 4, generator=g), torch.ones(1, 3)
    )
    neg = TextEmbeds(
        torch.randn(1, 3, 4, generator=g), torch.randn(1, 3, 4, generator=g), torch.ones(1, 3)
    )
    from engine.pipeline.positions import audio_coords, video_coords

    return DenoiseState(
        video=video,
        video_clean=video.clone() * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=torch.randn(1, nr, d, generator=g),
        audio=torch.randn(1, nt, d, generator=g),
        video_coords=video_coords(1, 2, 2, 2, 25.0),
        audio_coords=audio_coords(1, nr, nt),
        positive=pos,
        negative=neg,
        latent_frames=2,
        latent_height=2,
        latent_width=2,
        fps=25.0,
    )


def test_one_step_combined_prediction_numbers() -> None:
    st = _state()
    x_v, x_a, ref = st.video.clone(), st.audio.clone(), st.audio_ref.clone()
    fake = FakeTransformer(st)
    sig, sig_next = 0.8, 0.5
    denoise(fake, st, [sig, sig_next], ALL, use_cross_timestep=False)
    assert [n for n, _ in fake.calls] == ["cond", "negative", "identity", "stg", "modality"]
    # x0_pass = x - sigma * v_pass on noisy tokens; guidance on x0; Euler on x0
    pv, nv, sv, bv = V["cond"][0], V["negative"][0], V["stg"][0], V["modality"][0]
    g_v = sig * (pv + 2 * (pv - nv) + 1 * (pv - sv) + 2 * (pv - bv))  # x - x0_guided
    pa, na, ra, sa, ba = (V[k][1] for k in ("cond", "negative", "identity", "stg", "modality"))
    g_a = sig * (pa + 6 * (pa - na) + 1 * (pa - sa) + 2 * (pa - ba) + 3 * (pa - ra))
    exp_v = x_v + (g_v / sig) * (sig_next - sig)
    exp_a = x_a + (g_a / sig) * (sig_next - sig)
    assert torch.allclose(st.video[:, 4:], exp_v[:, 4:], atol=1e-5)
    assert torch.allclose(st.audio, exp_a, atol=1e-4)
    # clean tokens bit-identical
    assert torch.equal(st.video[:, :4], x_v[:, :4])
    assert torch.equal(st.audio_ref, ref)


def test_pass_inputs_timesteps_and_reference() -> None:
    st = _state()
    fake = FakeTransformer(st)
    denoise(fake, st, [1.0, 0.6, 0.3, 0.0], ALL, use_cross_timestep=False)
    assert len(fake.calls) == 15
    nr = st.num_reference
    for name, kw in fake.calls:
        at = kw["audio_timestep"]
        if name == "identity":
            assert at.shape == (1, st.audio.shape[1]) and (at > 0).all()
            assert kw["audio_coords"].shape[2] == st.audio.shape[1]
            assert (kw["audio_coords"][..., 0] >= 0).all()
        else:
            assert (at[:, :nr] == 0).all() and (at[:, nr:] > 0).all()
            assert (kw["audio_coords"][0, 0, :nr, 1] < 0).all()
        assert (kw["timestep"][:, :4] == 0).all() and (kw["timestep"][:, 4:] > 0).all()
    assert [n for n, _ in fake.calls[:5]] == [n for n, _ in fake.calls[5:10]]
