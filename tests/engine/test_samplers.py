"""Samplers and the guided-x0 seam: res2s coefficients and evaluations, CFG-star, identity
window, frozen tokens (method.md, "Sampling")."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline.denoise import DenoiseState, TextEmbeds  # noqa: E402
from engine.pipeline.guidance import (  # noqa: E402
    GuidanceScales,
    build_pass_specs,
    combine_x0,
    projection_coefficient,
)
from engine.pipeline.guided import GuidedDenoiser  # noqa: E402
from engine.pipeline.samplers import res2s  # noqa: E402
from engine.pipeline.samplers.euler import euler_sample  # noqa: E402
from engine.pipeline.samplers.res2s import res2s_sample  # noqa: E402

NO_STG = GuidanceScales(stg=0.0)


def _state(nr: int = 3, nt: int = 4, frozen_audio: bool = False) -> DenoiseState:
    from engine.pipeline.positions import audio_coords, video_coords

    g = torch.Generator().manual_seed(3)
    nv, c, d = 8, 5, 6
    mask = torch.ones(1, nv)
    mask[:, :4] = 0
    video = torch.randn(1, nv, c, generator=g)
    audio = torch.randn(1, nt, d, generator=g)

    def text() -> TextEmbeds:
        return TextEmbeds(torch.randn(1, 3, 4, generator=g), torch.randn(1, 3, 4), torch.ones(1, 3))

    return DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=torch.randn(1, nr, d, generator=g),
        audio=audio,
        video_coords=video_coords(1, 2, 2, 2, 25.0),
        audio_coords=audio_coords(1, nr, nt),
        positive=text(),
        negative=text(),
        latent_frames=2,
        latent_height=2,
        latent_width=2,
        fps=25.0,
        audio_mask=torch.zeros(1, nt) if frozen_audio else None,
        audio_clean=audio.clone() if frozen_audio else None,
    )


class CountingExecutor:
    """A pass executor that records the pass names of every call and returns x0 estimates
    that depend on the state (so the sampler really moves)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []

    def __call__(self, transformer, specs, state, sigma, use_cross_timestep):
        self.calls.append((sigma, [s.name for s in specs]))
        out = {}
        for k, s in enumerate(specs):
            audio = (
                state.audio
                if not s.with_reference or state.num_reference == 0
                else (torch.cat([state.audio_ref, state.audio], dim=1))
            )
            out[s.name] = (0.5 * state.video + 0.01 * k, 0.5 * audio.float() - 0.02 * k)
        return out


# ----------------------------------------------------------------------------- res2s maths


def test_res2s_coefficients_closed_form() -> None:
    # at h = ln 2: phi1(-h) = (1/2 - 1)/(-ln 2); phi2(-h) = (1/2 - 1 + ln 2)/(ln 2)^2;
    # phi1(-h/2) = (2^-1/2 - 1)/(-ln 2 / 2)
    h = math.log(2.0)
    phi1 = 0.5 / h
    phi2 = (h - 0.5) / h**2
    a21, b1, b2 = res2s.res2s_coefficients(h)
    assert a21 == pytest.approx(0.5 * (1 - 2**-0.5) / (h / 2), rel=1e-12)
    assert b2 == pytest.approx(2 * phi2, rel=1e-12)
    assert b1 == pytest.approx(phi1 - 2 * phi2, rel=1e-12)
    # the weights of a consistent method sum to phi1(-h); at h -> 0 they become Euler's (1, 0)
    assert b1 + b2 == pytest.approx(phi1, rel=1e-12)
    a0, b10, b20 = res2s.res2s_coefficients(1e-12)
    assert (a0, b10, b20) == pytest.approx((0.5, 0.0, 1.0))


def test_res2s_schedule_and_sde_coefficients() -> None:
    assert res2s.res2s_schedule([0.909375, 0.725, 0.421875, 0.0]) == [
        0.909375,
        0.725,
        0.421875,
        0.0011,
        0.0,
    ]
    alpha, down, up = res2s.sde_coefficients(0.5)
    residual = math.sqrt(0.5**2 - 0.25**2)
    assert up == pytest.approx(0.25)
    assert alpha == pytest.approx(0.5 + residual)
    assert down == pytest.approx(residual / (0.5 + residual))
    # points on the flow line x = (1 - s) x0 + s n: the renoised point sits at sigma_next with
    # the old noise shrunk to the residual and fresh noise of std sigma_up added
    x0, n, fresh = (torch.tensor([v], dtype=torch.float64) for v in (2.0, 1.0, -3.0))
    sample = (1 - 0.8) * x0 + 0.8 * n
    target = (1 - 0.5) * x0 + 0.5 * n
    out = res2s.sde_step(sample, target, 0.8, 0.5, fresh)
    assert out.item() == pytest.approx((1 - 0.5) * 2.0 + residual * 1.0 + 0.25 * -3.0, rel=1e-12)
    assert residual**2 + up**2 == pytest.approx(0.5**2)
    assert res2s.sde_step(sample, target, 0.8, 0.0, fresh) is target


def test_res2s_31_guided_evaluations_for_15_steps() -> None:
    ex = CountingExecutor()
    st = _state()
    den = GuidedDenoiser(object(), NO_STG, use_cross_timestep=False, executor=ex, total_steps=15)
    from engine.pipeline.schedule import ltx2_sigmas

    sigmas = ltx2_sigmas(15, num_tokens=st.video.shape[1])
    res2s_sample(den, st, sigmas)
    assert len(ex.calls) == 31 == res2s.evaluations(15)
    # every evaluation ran the full guided pass list, at sigma, the midpoint, ..., then 0.0011
    assert all(names == ["cond", "negative", "identity", "modality"] for _, names in ex.calls)
    seen = [s for s, _ in ex.calls]
    assert seen[0] == pytest.approx(sigmas[0])
    assert seen[1] == pytest.approx(math.sqrt(sigmas[0] * sigmas[1]))
    assert seen[2] == pytest.approx(sigmas[1])
    assert seen[-1] == pytest.approx(0.0011)
    assert torch.isfinite(st.video).all() and torch.isfinite(st.audio).all()


def test_res2s_noise_is_fixed_seed_and_frozen_tokens_stay() -> None:
    def run() -> DenoiseState:
        st = _state(frozen_audio=True)
        den = GuidedDenoiser(
            object(), NO_STG, use_cross_timestep=False, executor=CountingExecutor()
        )
        return res2s_sample(den, st, [0.909375, 0.725, 0.421875, 0.0])

    a, b = run(), run()
    assert torch.equal(a.video, b.video)  # SDE noise from fixed-seed generators
    ref = _state(frozen_audio=True)
    assert torch.equal(a.audio, ref.audio)  # frozen audio: bit-identical
    assert torch.equal(a.video[:, :4], ref.video[:, :4])  # first frame: bit-identical
    assert not torch.allclose(a.video[:, 4:], ref.video[:, 4:])
    # another noise seed gives another result
    st = _state(frozen_audio=True)
    den = GuidedDenoiser(object(), NO_STG, use_cross_timestep=False, executor=CountingExecutor())
    c = res2s_sample(den, st, [0.909375, 0.725, 0.421875, 0.0], noise_seed=7)
    assert not torch.equal(c.video, a.video)


def test_euler_one_evaluation_per_step_and_frozen_audio() -> None:
    ex = CountingExecutor()
    st = _state(nr=0, frozen_audio=True)
    before = st.audio.clone()
    den = GuidedDenoiser(
        object(),
        GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0),
        use_cross_timestep=False,
        executor=ex,
    )
    euler_sample(den, st, [0.909375, 0.725, 0.421875, 0.0])
    assert [names for _, names in ex.calls] == [["cond"]] * 3
    assert [s for s, _ in ex.calls] == [0.909375, 0.725, 0.421875]
    assert torch.equal(st.audio, before)


# ----------------------------------------------------------------------------- guidance


def test_cfg_star_projection_on_known_vectors() -> None:
    cond = torch.tensor([[[1.0, 0.0]]])
    uncond = torch.tensor([[[1.0, 1.0]]])
    # <c, u> / ||u||^2 = 1/2 -> projected negative (0.5, 0.5)
    assert projection_coefficient(cond, uncond).item() == pytest.approx(0.5, abs=1e-7)
    x0 = {"cond": (cond, cond), "negative": (uncond, uncond)}
    star = GuidanceScales(video_cfg=3.0, audio_cfg=7.0, cfg_star=True)
    v, a = combine_x0(x0, star, num_reference=0)
    assert torch.allclose(v, torch.tensor([[[1.0 + 2 * 0.5, 2 * -0.5]]]))
    assert torch.allclose(a, torch.tensor([[[1.0 + 6 * 0.5, 6 * -0.5]]]))
    plain, _ = combine_x0(x0, GuidanceScales(video_cfg=3.0), num_reference=0)
    assert torch.allclose(plain, torch.tensor([[[1.0, -2.0]]]))
    # per sample: a batch of two gets two coefficients
    c2 = torch.stack([cond[0], 2 * cond[0]])
    u2 = torch.stack([uncond[0], torch.tensor([[0.0, 3.0]])])
    assert projection_coefficient(c2, u2).flatten().tolist() == pytest.approx([0.5, 0.0])


def test_identity_window_passes_per_step() -> None:
    scales = GuidanceScales(stg=0.0, identity_start=0.25, identity_end=0.75)
    per_step = [
        "identity" in [s.name for s in build_pass_specs(scales, step=i, total=4)] for i in range(4)
    ]
    assert per_step == [False, True, True, False]
    # counted through the sampler: 6 steps, window [0.5, 1) -> identity on steps 3, 4, 5
    ex = CountingExecutor()
    st = _state()
    window = GuidanceScales(stg=0.0, identity_start=0.5)
    den = GuidedDenoiser(object(), window, use_cross_timestep=False, executor=ex, total_steps=6)
    euler_sample(den, st, [1.0, 0.8, 0.6, 0.4, 0.3, 0.1, 0.0])
    assert [len(names) for _, names in ex.calls] == [3, 3, 3, 4, 4, 4]
    # the default window is the whole schedule
    assert all(
        "identity" in [s.name for s in build_pass_specs(GuidanceScales(), step=i, total=30)]
        for i in range(30)
    )
