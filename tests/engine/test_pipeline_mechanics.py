"""Mechanics of IDLoRAPipeline on the tiny real LTX-2 stack: clean tokens, passes, seeds, cancel."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from engine.api import Cancelled, CancelToken  # noqa: E402

H = W = 64
F = 9
# the sequential executor calls transformer.forward once per pass, which Capture records
KW = dict(
    height=H, width=W, num_frames=F, num_inference_steps=2, stg_block=1, pass_executor="sequential"
)


def _inputs():
    g = torch.Generator().manual_seed(5)
    img = torch.rand(3, H, W, generator=g) * 2 - 1
    t = torch.arange(16000 * 2) / 16000
    ref = (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.randn(t.shape, generator=g))[None]
    return img, ref


class Capture:
    """Forward pre-hook recording the transformer's keyword inputs."""

    def __init__(self, transformer):
        self.calls: list[dict] = []
        self.handle = transformer.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.calls.append({k: (v.clone() if torch.is_tensor(v) else v) for k, v in kwargs.items()})

    def close(self):
        self.handle.remove()


def test_clean_tokens_and_timesteps(tiny_pipeline) -> None:
    pipe = tiny_pipeline
    img, ref = _inputs()
    ref_tokens = pipe.encode_reference_audio(ref, 16000)
    first = pipe.pack_video(pipe.encode_image(img[None]))
    nr, n_first = ref_tokens.shape[1], first.shape[1]
    cap = Capture(pipe.transformer)
    try:
        out = pipe(
            "[VISUAL]: a man speaking",
            "bad",
            image=img,
            reference_audio=ref,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
            **KW,
        )
    finally:
        cap.close()
    assert len(cap.calls) == 2 * 5
    for kw in cap.calls:
        at, vt = kw["audio_timestep"], kw["timestep"]
        assert (vt[:, :n_first] == 0).all() and (vt[:, n_first:] > 0).all()
        if kw["audio_coords"][0, 0, 0, 1] < 0:  # passes with the reference
            assert (at[:, :nr] == 0).all() and (at[:, nr:] > 0).all()
            # reference tokens bit-identical at every step
            assert torch.equal(kw["audio_hidden_states"][:, :nr], ref_tokens)
            # the last reference interval ends 0.04 s before zero (in bfloat16, as trained)
            end = kw["audio_coords"][0, 0, nr - 1, 1]
            assert end.dtype == torch.bfloat16
            assert end.item() == torch.tensor(-0.04, dtype=torch.bfloat16).item()
        else:  # identity pass: target only, starting at 0
            assert (at > 0).all() and kw["audio_coords"][0, 0, 0, 0] == 0
        assert torch.equal(kw["hidden_states"][:, :n_first], first)
    # after the loop the first latent frame is still the image latent
    final_first = pipe.pack_video(pipe._video_norm(out.frames[:, :, :1]))
    assert torch.allclose(final_first, first, atol=1e-5)
    # LTX-2: own per-token timesteps for a<->v modulation
    assert all(kw["use_cross_timestep"] is False for kw in cap.calls)
    # target audio length = duration x 25 latents/s
    assert out.audio.shape[2] == round(F / 25 * 25)


def _count(pipe, **scales):
    img, ref = _inputs()
    cap = Capture(pipe.transformer)
    try:
        pipe(
            "p",
            "n",
            image=img,
            reference_audio=ref,
            output_type="latent",
            generator=torch.Generator().manual_seed(0),
            **{**KW, **scales},
        )
    finally:
        cap.close()
    names = []
    for kw in cap.calls:
        if kw.get("isolate_modalities"):
            names.append("modality")
        elif kw.get("spatio_temporal_guidance_blocks"):
            names.append("stg")
        elif kw["audio_coords"][0, 0, 0, 1] >= 0:
            names.append("identity")
        else:
            names.append("other")
    return names


def test_pass_counts(tiny_pipeline) -> None:
    off = dict(
        video_guidance_scale=1.0,
        audio_guidance_scale=1.0,
        identity_guidance_scale=0.0,
        stg_scale=0.0,
        modality_scale=1.0,
    )
    assert len(_count(tiny_pipeline, **off)) == 2 * 1
    assert len(_count(tiny_pipeline)) == 2 * 5
    n = _count(tiny_pipeline, identity_guidance_scale=0.0)
    assert len(n) == 8 and "identity" not in n
    n = _count(tiny_pipeline, stg_scale=0.0)
    assert len(n) == 8 and "stg" not in n
    n = _count(tiny_pipeline, modality_scale=1.0)
    assert len(n) == 8 and "modality" not in n
    n = _count(tiny_pipeline, video_guidance_scale=1.0, audio_guidance_scale=1.0)
    assert len(n) == 8 and n.count("other") == 2


def test_stg_pass_changes_output(tiny_pipeline) -> None:
    """The STG pass must really perturb the model (diffusers ignores it without perturbed attn)."""
    from engine.pipeline.denoise import run_pass

    pipe = tiny_pipeline
    img, ref = _inputs()
    outs = {}

    def runner(transformer, specs, state, sigma, uct):
        res = {s.name: run_pass(transformer, s, state, sigma, uct) for s in specs}
        outs.update(res)
        return res

    pipe(
        "p",
        "n",
        image=img,
        reference_audio=ref,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
        **{**KW, "pass_executor": runner},
    )
    assert not torch.allclose(outs["stg"][0], outs["cond"][0])
    assert not torch.allclose(outs["modality"][1], outs["cond"][1])


def test_seed_determinism(tiny_pipeline) -> None:
    img, ref = _inputs()

    def run(seed):
        return tiny_pipeline(
            "p",
            "n",
            image=img,
            reference_audio=ref,
            output_type="np",
            generator=torch.Generator().manual_seed(seed),
            **KW,
        )

    a, b, c = run(1), run(1), run(2)
    assert (a.frames == b.frames).all() and (a.audio == b.audio).all()
    assert not (a.frames == c.frames).all()
    assert not (a.audio == c.audio).all()
    assert a.frames.shape == (1, F, H, W, 3) and a.audio.shape[:2] == (1, 2)


def test_cancel_within_one_step_skips_decode(tiny_pipeline, monkeypatch) -> None:
    pipe = tiny_pipeline
    img, ref = _inputs()
    token = CancelToken()
    decoded = []
    monkeypatch.setattr(pipe.vae, "decode", lambda *a, **k: decoded.append(1))
    monkeypatch.setattr(pipe.audio_vae, "decode", lambda *a, **k: decoded.append(1))
    seen = []

    def progress(rep, preview):
        seen.append(rep.index)
        assert preview is not None and preview.dtype.name == "uint8" and preview.shape[-1] == 3
        if rep.index == 0:
            token.cancel()

    cap = Capture(pipe.transformer)
    try:
        with pytest.raises(Cancelled):
            pipe(
                "p",
                "n",
                image=img,
                reference_audio=ref,
                progress=progress,
                cancel=token,
                generator=torch.Generator().manual_seed(0),
                **{**KW, "num_inference_steps": 3},
            )
    finally:
        cap.close()
    assert seen == [0]
    assert len(cap.calls) == 5  # one step's passes only
    assert decoded == []


def test_ltx23_uses_cross_timestep(tiny_model_dir_23) -> None:
    from engine.pipeline import IDLoRAPipeline

    pipe = IDLoRAPipeline.from_pretrained(tiny_model_dir_23)
    img, ref = _inputs()
    cap = Capture(pipe.transformer)
    try:
        out = pipe(
            "p",
            "n",
            image=img,
            reference_audio=ref,
            generator=torch.Generator().manual_seed(0),
            **{**KW, "num_inference_steps": 1},
        )
    finally:
        cap.close()
    assert all(kw["use_cross_timestep"] is True for kw in cap.calls)
    assert out.sample_rate == 48000 and out.frames.shape == (1, F, H, W, 3)


def test_import_engine_is_light() -> None:
    code = (
        "import sys, engine, engine.api, engine.pipeline, engine.pipeline.positions; "
        "bad=[m for m in ('torch','PySide6','diffusers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
