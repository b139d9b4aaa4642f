"""The two-stage, HQ and fast presets on the tiny LTX-2 / LTX-2.3 stacks (method.md, "Sampling"):
stage-2 sigmas, the noise blend, the first frame at the new size, frozen audio, LoRA adapters per
stage, guided evaluations, the identity window, tiled decoding."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from diffusers.utils.torch_utils import randn_tensor  # noqa: E402

from engine.lora import adapter_strengths, load_idlora  # noqa: E402
from engine.pipeline.presets import DISTILLED, IDLORA, STAGE2_SIGMAS  # noqa: E402

H = W = 64
F = 9


def _inputs():
    g = torch.Generator().manual_seed(5)
    img = torch.rand(3, H, W, generator=g) * 2 - 1
    img2 = torch.rand(3, 2 * H, 2 * W, generator=g) * 2 - 1
    t = torch.arange(16000 * 2) / 16000
    ref = (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.randn(t.shape, generator=g))[None]
    return img, img2, ref


def _kw() -> dict:
    """The inputs every call here shares: first frame (and its 2x version), reference voice,
    stage-1 size and length."""
    img, img2, ref = _inputs()
    return dict(image=img, image_2x=img2, reference_audio=ref, height=H, width=W, num_frames=F)


def _full_pipeline(model_dir):
    from engine.models.tiny import tiny_parts
    from engine.models.upsampler import load_upsampler
    from engine.pipeline import IDLoRAPipeline

    parts = tiny_parts(model_dir)
    pipe = IDLoRAPipeline.from_pretrained(model_dir)
    pipe.register_modules(latent_upsampler=load_upsampler(parts["spatial_upsampler"]))
    load_idlora(pipe, parts["id_lora"], 1.0, IDLORA)
    load_idlora(pipe, parts["distilled_lora"], 0.0, DISTILLED)
    return pipe


@pytest.fixture(scope="module")
def pipe2(tiny_model_dir):
    return _full_pipeline(tiny_model_dir)


@pytest.fixture(scope="module")
def pipe23(tiny_model_dir_23):
    return _full_pipeline(tiny_model_dir_23)


class Calls:
    """Forward pre-hook: each transformer call's inputs and the adapter strengths at that moment.

    Only the sequential executor calls ``transformer.forward`` once per pass (the fast one runs
    the blocks itself, passes batched): tests that look at the passes' inputs ask for it, and
    :func:`test_default_executor_matches_sequential_per_stage` checks the default gives the same.
    """

    def __init__(self, pipe):
        self.pipe = pipe
        self.calls: list[dict] = []
        self.handle = pipe.transformer.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        rec = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        rec["adapters"] = adapter_strengths(self.pipe)
        self.calls.append(rec)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def _sigma(call) -> float:
    return float(call["sigma"][0]) / 1000.0


def test_two_stage_mechanics(pipe2) -> None:
    img2 = _inputs()[1]
    with Calls(pipe2) as cap:
        out = pipe2(
            "p",
            "n",
            **_kw(),
            num_inference_steps=1,
            stg_block=1,
            pipeline="two-stage",
            generator=torch.Generator().manual_seed(3),
            output_type="latent",
            pass_executor="sequential",
        )
    s1, s2 = cap.calls[:5], cap.calls[5:]
    assert len(s1) == 5 and len(s2) == 3  # stage 1 guided (5 passes), stage 2 one pass per step
    # stage-2 sigmas
    assert [_sigma(c) for c in s2] == pytest.approx(list(STAGE2_SIGMAS[:-1]), abs=1e-6)
    # LoRAs: ID-LoRA on and distilled off in stage 1; ID-LoRA off, distilled 0.8 in stage 2
    assert all(c["adapters"] == {IDLORA: 1.0, DISTILLED: 0.0} for c in s1)
    assert all(c["adapters"][IDLORA] == 0.0 for c in s2)
    assert all(c["adapters"][DISTILLED] == pytest.approx(0.8) for c in s2)
    assert out.stages[1].lora_strengths == {IDLORA: 0.0, DISTILLED: 0.8}

    lf, lh, lw = 2, H // 32, W // 32
    n_first = (2 * lh) * (2 * lw)
    first_2x = pipe2.pack_video(pipe2.encode_image(img2[None]))
    nt = out.stages[0].audio.shape[2]
    for c in s2:
        # 2x video tokens; first frame at mask 0 (timestep 0) holding the 2x image's latents
        assert c["hidden_states"].shape[1] == lf * (2 * lh) * (2 * lw)
        assert (c["timestep"][:, :n_first] == 0).all() and (c["timestep"][:, n_first:] > 0).all()
        assert torch.allclose(c["hidden_states"][:, :n_first], first_2x, atol=1e-6)
        # frozen audio: no reference, every target token at timestep 0, unchanged values
        assert c["audio_hidden_states"].shape[1] == nt
        assert (c["audio_timestep"] == 0).all()
        assert (c["audio_coords"][..., 0] >= 0).all()
        # positive prompt only
        assert c.get("isolate_modalities") in (None, False)
    # the stage-1 target audio goes through stage 2 bit-identical
    assert torch.equal(out.stages[1].audio, out.stages[0].audio)
    assert torch.equal(out.audio, out.stages[0].audio)
    assert out.frames.shape[-2:] == (2 * lh, 2 * lw)

    # noise blend: the same generator continues after stage 1's draws
    g = torch.Generator().manual_seed(3)
    c_lat = pipe2.transformer.config.in_channels
    randn_tensor((1, c_lat, lf, lh, lw), generator=g, dtype=torch.float32)
    ac, ml = pipe2._audio_channels, pipe2._mel_latent
    randn_tensor((1, ac, nt, ml), generator=g, dtype=torch.float32)
    noise = pipe2.pack_video(randn_tensor((1, c_lat, lf, 2 * lh, 2 * lw), generator=g))
    from engine.pipeline.stages import upsample_video_latents

    up = pipe2.pack_video(
        upsample_video_latents(
            pipe2.latent_upsampler, out.stages[0].video, pipe2._video_norm, "cpu"
        )
    )
    expected = noise * 0.909375 + up * (1 - 0.909375)
    got = s2[0]["hidden_states"]
    assert torch.allclose(got[:, n_first:], expected[:, n_first:], atol=1e-5)


def test_two_stage_stage1_only_and_errors(pipe2, tiny_pipeline) -> None:
    kw = dict(
        **_kw(),
        num_inference_steps=1,
        stg_block=1,
        output_type="latent",
    )
    out = pipe2("p", "n", pipeline="two-stage", stop_after_stage=1, **kw)
    assert len(out.stages) == 1 and out.frames.shape[-2:] == (H // 32, W // 32)
    # the plain tiny pipeline has no upsampler / distilled LoRA
    with pytest.raises(ValueError, match="upsampler"):
        tiny_pipeline("p", "n", pipeline="two-stage", **kw)
    with pytest.raises(ValueError, match="distilled LoRA"):
        tiny_pipeline("p", "n", pipeline="fast", **{**kw, "num_inference_steps": None})
    with pytest.raises(ValueError, match="ltx2.3"):
        pipe2("p", "n", pipeline="hq", **kw)
    with pytest.raises(ValueError, match="fixed 8-step"):
        pipe2("p", "n", pipeline="fast", **{**kw, "num_inference_steps": 3})
    with pytest.raises(ValueError, match="unknown pipeline"):
        pipe2("p", "n", pipeline="turbo", **kw)


def _counting_executor(evals):
    from engine.pipeline.denoise import run_passes

    def executor(transformer, specs, state, sigma, uct):
        evals.append((sigma, [s.name for s in specs]))
        return run_passes(transformer, specs, state, sigma, uct)

    return executor


def test_hq_31_guided_evaluations_for_15_steps(pipe23) -> None:
    evals: list[tuple[float, list[str]]] = []
    off = dict(
        video_guidance_scale=1.0,
        audio_guidance_scale=1.0,
        identity_guidance_scale=0.0,
        modality_scale=1.0,
    )  # one pass per evaluation keeps this cheap; the count is the sampler's
    out = pipe23(
        "p",
        "n",
        **_kw(),
        pipeline="hq",
        pass_executor=_counting_executor(evals),
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
        **off,
    )
    assert out.stages[0].sigmas[-1] == 0.0 and len(out.stages[0].sigmas) == 16
    # 15 res2s steps: 31 guided evaluations in stage 1; stage 2: 3 steps -> 7
    assert len(evals) == 31 + 7
    assert evals[30][0] == pytest.approx(0.0011) and evals[-1][0] == pytest.approx(0.0011)
    assert [s for s, _ in evals[31::2]][:3] == pytest.approx([0.909375, 0.725, 0.421875])
    # the schedule depends on the latent: 2x2x2 = 8 tokens, not the fixed shift
    from engine.pipeline.schedule import ltx2_sigmas

    assert out.stages[0].sigmas == pytest.approx(ltx2_sigmas(15, num_tokens=8))
    assert out.stages[0].sigmas != pytest.approx(ltx2_sigmas(15))


def test_hq_guidance_and_loras(pipe23) -> None:
    evals: list[tuple[float, list[str]]] = []
    with Calls(pipe23) as cap:
        out = pipe23(
            "p",
            "n",
            **_kw(),
            num_inference_steps=2,
            pipeline="hq",
            pass_executor=_counting_executor(evals),
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
        )
    # stage 1: 2 steps -> 5 evaluations of CFG(-star) + identity + modality, STG off
    assert [names for _, names in evals[:5]] == [["cond", "negative", "identity", "modality"]] * 5
    assert [names for _, names in evals[5:]] == [["cond"]] * 7
    assert not any(c.get("spatio_temporal_guidance_blocks") for c in cap.calls)
    # LoRAs: ID-LoRA 1 + distilled 0.25, then distilled 0.5 only
    n1 = 5 * 4
    assert all(
        c["adapters"] == {IDLORA: 1.0, DISTILLED: pytest.approx(0.25)} for c in cap.calls[:n1]
    )
    assert all(
        c["adapters"] == {IDLORA: 0.0, DISTILLED: pytest.approx(0.5)} for c in cap.calls[n1:]
    )
    assert torch.equal(out.stages[1].audio, out.stages[0].audio)


def test_fast_two_passes_per_step_and_identity_window(pipe2) -> None:
    kw = dict(
        **_kw(),
        output_type="latent",
        pass_executor="sequential",
    )
    with Calls(pipe2) as cap:
        out = pipe2("p", "n", pipeline="fast", generator=torch.Generator().manual_seed(0), **kw)
    assert len(cap.calls) == 16  # 8 steps x (conditional + identity)
    assert [_sigma(c) for c in cap.calls[::2]] == pytest.approx(
        [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
    )
    assert all(c["adapters"] == {IDLORA: 1.0, DISTILLED: 1.0} for c in cap.calls)
    assert len(out.stages) == 1
    # identity window [0.5, 1): the identity pass only on steps 4..7
    with Calls(pipe2) as cap:
        pipe2("p", "n", pipeline="fast", identity_window=(0.5, 1.0), **kw)
    per_step = {}
    for c in cap.calls:
        per_step.setdefault(round(_sigma(c), 6), []).append(c)
    counts = [len(v) for v in per_step.values()]
    assert counts == [1, 1, 1, 1, 2, 2, 2, 2]


@pytest.mark.parametrize(("which", "pipeline"), [("2", "two-stage"), ("2", "fast"), ("23", "hq")])
def test_default_executor_matches_sequential_per_stage(pipe2, pipe23, which, pipeline) -> None:
    """The default (fast) executor gives the sequential result in every stage, also when one
    executor object is passed for the whole run: the LoRA strengths change between stages and
    its cached text keys/values go through the distilled LoRA's cross-attention projections."""
    from engine.pipeline.executor import FastExecutor

    pipe = pipe2 if which == "2" else pipe23
    kw = dict(
        **_kw(),
        stg_block=1,
        pipeline=pipeline,
        output_type="latent",
    )
    if pipeline != "fast":
        kw["num_inference_steps"] = 2
    shared = FastExecutor()
    outs = {
        name: pipe("p", "n", generator=torch.Generator().manual_seed(4), pass_executor=ex, **kw)
        for name, ex in (("sequential", "sequential"), ("default", None), ("shared", shared))
    }
    assert shared.stats["forwards"] > 0 and shared.stats["sequential_passes"] == 0
    ref_out = outs.pop("sequential")
    for name, out in outs.items():
        for k, (got, want) in enumerate(zip(out.stages, ref_out.stages, strict=True)):
            for a, b in ((got.video, want.video), (got.audio, want.audio)):
                rel = float((a - b).abs().max() / b.abs().max())
                assert rel < 1e-4, (name, got.name, k, rel)


def test_tiled_decode_at_2x(pipe2, monkeypatch) -> None:
    from engine.pipeline.stages import DecodeTiling

    calls = []
    orig = pipe2.vae.tiled_decode

    def spy(*a, **k):
        calls.append(a[0].shape)
        return orig(*a, **k)

    monkeypatch.setattr(pipe2.vae, "tiled_decode", spy)
    out = pipe2(
        "p",
        "n",
        **_kw(),
        num_inference_steps=1,
        stg_block=1,
        pipeline="two-stage",
        decode_tiling=DecodeTiling(tile_px=96, overlap_px=32, tile_frames=16, overlap_frames=8),
        generator=torch.Generator().manual_seed(0),
    )
    assert calls, "the 2x decode did not use tiles"
    assert out.frames.shape == (1, F, 2 * H, 2 * W, 3)
    assert pipe2.vae.use_tiling is False  # settings restored
