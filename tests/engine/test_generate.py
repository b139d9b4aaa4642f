"""Request-level API: size/frame rules, media and voice checks, result shapes on the tiny model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.api import GenerationRequest, InvalidRequestError, MediaError, ModelNotFoundError
from engine.generate import resolve_frames, resolve_size


def test_resolve_size_auto_and_snap() -> None:
    r = GenerationRequest()
    assert resolve_size(r, (1920, 1080))[:2] == (512, 288)
    assert resolve_size(r, (1000, 1000))[:2] == (512, 512)
    assert resolve_size(r, (720, 1280))[:2] == (288, 512)
    w, h, notes = resolve_size(GenerationRequest(auto_long_side=1024), (1920, 1080))
    assert (w, h) == (1024, 576) and w * h <= 576 * 1024 and notes
    # area cap binds for a square at long side 1024
    w, h, _ = resolve_size(GenerationRequest(auto_long_side=1024), (1000, 1000))
    assert w * h <= 576 * 1024 and w % 32 == 0 and h % 32 == 0 and w == h
    w, h, notes = resolve_size(GenerationRequest(width=500, height=300), (10, 10))
    assert (w, h) == (512, 288) and any("snapped" in n for n in notes)
    assert resolve_size(GenerationRequest(width=512, height=256), (10, 10)) == (512, 256, [])
    with pytest.raises(InvalidRequestError):
        resolve_size(GenerationRequest(width=500, height=300, snap=False), (10, 10))
    assert resolve_size(GenerationRequest(width=256), (1920, 1080))[:2] == (256, 160)


def _public_auto_size(iw: int, ih: int, long_side: int = 512) -> tuple[int, int]:
    """compute_resolution_match_aspect of the public scripts, restated: (width, height)."""
    scale = min(long_side / max(ih, iw), (576 * 1024 / (ih * iw)) ** 0.5)

    def snap(v: int) -> int:
        return max(int(round(v / 32)) * 32, 32)

    return snap(int(round(iw * scale))), snap(int(round(ih * scale)))


def test_auto_size_rounds_like_the_public_scripts() -> None:
    # 1000x723 at long side 512 is 512x370.2: the scripts round to 384, flooring gave 352
    assert resolve_size(GenerationRequest(), (1000, 723))[:2] == (512, 384)
    for iw in range(200, 4000, 97):
        for ih in range(180, 4000, 131):
            for long_side in (512, 768):
                got = resolve_size(GenerationRequest(auto_long_side=long_side), (iw, ih))[:2]
                assert got == _public_auto_size(iw, ih, long_side), (iw, ih, long_side)


def test_resolve_frames() -> None:
    assert resolve_frames(GenerationRequest()) == (121, [])
    assert resolve_frames(GenerationRequest(num_frames=17)) == (17, [])
    n, notes = resolve_frames(GenerationRequest(num_frames=100))
    assert n == 97 and notes
    assert resolve_frames(GenerationRequest(duration_s=2.0))[0] == 49
    assert resolve_frames(GenerationRequest(duration_s=4.84, fps=25))[0] == 121
    with pytest.raises(InvalidRequestError):
        resolve_frames(GenerationRequest(num_frames=100, snap=False))


def _media(tmp: Path, voice_s: float = 2.5) -> tuple[Path, Path]:
    from PIL import Image

    from engine.media.audio import write_wav

    rng = np.random.default_rng(0)
    img = tmp / "face.png"
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(img)
    sr = 22050
    t = np.arange(int(sr * voice_s)) / sr
    wav = tmp / f"voice{voice_s}.wav"
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 180 * t))[None].astype(np.float32), sr)
    return img, wav


@pytest.fixture(scope="module")
def generator(tiny_model_dir: Path):
    from engine.generate import IDLoRAGenerator

    gen = IDLoRAGenerator.load("tiny", cache_dir=tiny_model_dir.parent, device="cpu")
    yield gen
    gen.close()


def test_generate_tiny_shapes_and_effective(generator, tmp_path: Path) -> None:
    img, wav = _media(tmp_path)
    seen = []
    req = GenerationRequest(
        prompt="[VISUAL]: a woman is speaking [SPEECH]: hello",
        image=img,
        voice=wav,
        num_frames=10,
        steps=2,
        auto_long_side=128,
        seed=3,
    )
    res = generator.generate(req, progress=seen.append)
    # auto size from the 128x96 image at long side 128: aspect kept, multiples of 32
    assert res.frames.shape == (9, 96, 128, 3) and res.frames.dtype == np.uint8
    assert res.audio.dtype == np.float32 and res.audio.shape[0] == 2
    assert res.sample_rate == 24000
    assert abs(res.audio.shape[1] / res.sample_rate - 9 / 25) <= 0.04
    eff = res.effective
    assert (eff["width"], eff["height"], eff["num_frames"], eff["steps"], eff["seed"]) == (
        128,
        96,
        9,
        2,
        3,
    )
    assert eff["stg_block"] == 1 and any("STG block 29" in w for w in res.warnings)
    assert eff["model"]["variant"] == "ltx2" and eff["model"]["tiny"] is True
    assert {"encode_prompt", "denoise", "decode", "load_inputs"} <= set(res.timings)
    assert {"decode_video", "decode_audio"} <= set(res.timings)
    # Each stage is reported as it starts, denoising after every step, in the order they run.
    assert [(p.stage, p.step) for p in seen] == [
        ("load_inputs", 0),
        ("encode_prompt", 0),
        ("prepare", 0),
        ("denoise", 0),
        ("denoise", 1),
        ("denoise", 2),
        ("decode_video", 2),
        ("decode_audio", 2),
    ]
    assert {p.total for p in seen} == {2}
    steps = [p for p in seen if p.stage == "denoise" and p.step > 0]
    assert steps[-1].eta_s == 0 and all(p.preview is not None for p in steps)
    info = generator.model_info()
    assert {"model", "variant", "lora", "lora_sha256", "dtype", "device"} <= set(info)


def test_generate_voice_length_rules(generator, tmp_path: Path) -> None:
    img, short = _media(tmp_path, voice_s=1.5)
    with pytest.raises(InvalidRequestError, match="at least 2"):
        generator.generate(
            GenerationRequest(
                prompt="p", image=img, voice=short, num_frames=9, steps=1, width=64, height=64
            )
        )
    _, long = _media(tmp_path, voice_s=16.0)
    res = generator.generate(
        GenerationRequest(
            prompt="p", image=img, voice=long, num_frames=9, steps=1, width=64, height=64
        )
    )
    assert any("16.0 s" in w for w in res.warnings)


def test_generate_errors(generator, tmp_path: Path) -> None:
    from engine.generate import IDLoRAGenerator

    img, wav = _media(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(MediaError):
        generator.generate(GenerationRequest(prompt="p", image=bad, voice=wav, steps=1))
    with pytest.raises(InvalidRequestError):
        generator.generate(
            GenerationRequest(
                prompt="p",
                image=img,
                voice=wav,
                steps=1,
                width=60,
                height=64,
                snap=False,
                num_frames=9,
            )
        )
    with pytest.raises(ModelNotFoundError):
        IDLoRAGenerator.load(tmp_path / "no-such-model", device="cpu")


@pytest.fixture(scope="module")
def generator_with_idlora(tiny_model_dir: Path):
    from engine.generate import IDLoRAGenerator
    from engine.models.tiny import tiny_parts

    gen = IDLoRAGenerator.load(
        "tiny",
        tiny_parts(tiny_model_dir)["id_lora"],
        cache_dir=tiny_model_dir.parent,
        device="cpu",
    )
    yield gen
    gen.close()


def test_two_stage_take_doubles_the_size_and_the_mp4_agrees(
    generator_with_idlora, tmp_path: Path
) -> None:
    from engine.media.video import probe_media, write_mp4
    from engine.recipe import build_recipe, request_from_recipe

    img, wav = _media(tmp_path)
    seen = []
    req = GenerationRequest(
        prompt="p",
        image=img,
        voice=wav,
        width=64,
        height=32,
        num_frames=9,
        steps=2,
        pipeline="two-stage",
        seed=1,
    )
    res = generator_with_idlora.generate(req, progress=seen.append)
    assert res.frames.shape == (9, 64, 128, 3)
    eff = res.effective
    assert eff["pipeline"] == "two-stage"
    assert (eff["width"], eff["height"], eff["stage1_width"], eff["stage1_height"]) == (
        128,
        64,
        64,
        32,
    )
    s1, s2 = eff["stages"]
    assert (s1["sampler"], s1["steps"], s1["width"], s1["guidance"]) == ("euler", 2, 64, True)
    assert (s2["sampler"], s2["steps"], s2["width"], s2["height"]) == ("euler", 3, 128, 64)
    assert s2["sigmas"] == [0.909375, 0.725, 0.421875, 0.0] and s2["guidance"] is False
    assert s1["loras"] == {"idlora": 1.0, "distilled": 0.0}
    assert s2["loras"] == {"idlora": 0.0, "distilled": 0.8}
    # LTX-2 one-stage stretches the first frame; two-stage centre-crops it (public scripts)
    assert eff["first_frame_fit"] == "crop"
    assert {lo["adapter"] for lo in eff["loras"]} == {"idlora", "distilled"}
    assert all(len(lo["sha256"]) == 64 for lo in eff["loras"])
    # progress counts both stages; each phase is said as it starts, the upsample between them
    steps = [p for p in seen if p.eta_s is not None]  # after each step (a start has no ETA)
    assert all(p.stage == "denoise" for p in steps)
    assert [p.step for p in steps] == [1, 2, 3, 4, 5] and {p.total for p in seen} == {5}
    starts = [(p.stage, p.step) for p in seen if p.eta_s is None]
    assert starts == [
        ("load_inputs", 0),
        ("encode_prompt", 0),
        ("prepare", 0),
        ("denoise", 0),
        ("upsample", 2),
        ("denoise", 2),
        ("decode_video", 5),
        ("decode_audio", 5),
    ]

    out = tmp_path / "take.mp4"
    write_mp4(out, res.frames, res.fps, res.audio, res.sample_rate)
    media = probe_media(out)
    assert (media.width, media.height, media.num_frames) == (128, 64, 9)
    assert media.audio_codec is not None
    assert abs(media.audio_duration_s - 9 / 25) <= 0.05
    recipe = build_recipe(
        req, res, model_info=generator_with_idlora.model_info(), lora_info=None, output=out
    )
    assert recipe["pipeline"]["name"] == "two-stage"
    assert [s["loras"]["distilled"] for s in recipe["pipeline"]["stages"]] == [0.0, 0.8]
    assert request_from_recipe(recipe) == req


def test_fast_and_pipeline_errors(generator_with_idlora, tmp_path: Path) -> None:
    img, wav = _media(tmp_path)
    base = dict(prompt="p", image=img, voice=wav, width=64, height=64, num_frames=9)
    res = generator_with_idlora.generate(GenerationRequest(pipeline="fast", **base))
    assert res.frames.shape == (9, 64, 64, 3)
    eff = res.effective
    assert eff["steps"] == 8 and eff["video_cfg"] == 1.0 and eff["stg_scale"] == 0.0
    assert eff["identity_scale"] == 3.0
    assert eff["stages"][0]["loras"] == {"idlora": 1.0, "distilled": 1.0}
    with pytest.raises(InvalidRequestError, match="fixed 8-step"):
        generator_with_idlora.generate(GenerationRequest(pipeline="fast", steps=4, **base))
    with pytest.raises(InvalidRequestError, match="LTX-2.3 model"):
        generator_with_idlora.generate(GenerationRequest(pipeline="hq", steps=1, **base))
    with pytest.raises(InvalidRequestError, match="unknown pipeline"):
        generator_with_idlora.generate(GenerationRequest(pipeline="turbo", **base))
    with pytest.raises(InvalidRequestError, match="identity-guidance window"):
        generator_with_idlora.generate(
            GenerationRequest(identity_start=0.8, identity_end=0.2, steps=1, **base)
        )


def test_pipeline_needs_its_parts(tmp_path: Path, tiny_model_dir: Path) -> None:
    from engine.generate import IDLoRAGenerator

    # a plain diffusers folder without upsampler or distilled LoRA: one-stage only
    gen = IDLoRAGenerator.load(str(tiny_model_dir), device="cpu")
    try:
        assert gen.missing_for("one-stage") == []
        assert gen.missing_for("two-stage") == ["spatial_upsampler", "distilled_lora"]
        img, wav = _media(tmp_path)
        with pytest.raises(ModelNotFoundError, match="spatial latent upsampler"):
            gen.generate(
                GenerationRequest(
                    prompt="p",
                    image=img,
                    voice=wav,
                    pipeline="two-stage",
                    steps=1,
                    width=64,
                    height=64,
                    num_frames=9,
                )
            )
    finally:
        gen.close()


def test_fast_on_a_distilled_checkpoint_needs_no_distilled_lora(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """``distilled_checkpoint``: the model itself is distilled, so fast runs with the ID-LoRA
    alone; the 2x pipelines still need the distilled LoRA for their stage 2."""
    from engine.generate import IDLoRAGenerator
    from engine.lora import adapter_strengths
    from engine.models.tiny import tiny_parts

    gen = IDLoRAGenerator.load(
        "tiny",
        tiny_parts(tiny_model_dir)["id_lora"],
        cache_dir=tiny_model_dir.parent,
        device="cpu",
        distilled_checkpoint=True,
    )
    try:
        assert set(adapter_strengths(gen.pipe)) == {"idlora"}  # no distilled LoRA loaded
        assert gen.missing_for("fast") == []
        assert gen.missing_for("two-stage") == ["distilled_lora"]
        assert gen.model_info()["distilled_checkpoint"] is True
        img, wav = _media(tmp_path)
        req = GenerationRequest(
            prompt="p", image=img, voice=wav, width=64, height=64, num_frames=9, pipeline="fast"
        )
        res = gen.generate(req)
        assert res.frames.shape == (9, 64, 64, 3)
        assert res.effective["steps"] == 8
        assert res.effective["stages"][0]["loras"] == {"idlora": 1.0}
        with pytest.raises(ModelNotFoundError, match="distilled LoRA"):
            gen.generate(dataclasses.replace(req, pipeline="two-stage", steps=1))
    finally:
        gen.close()
