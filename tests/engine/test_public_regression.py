"""The engine reproduces the public one-stage loop: committed final latents, fp32, < 1e-3.

``data/regression_one_stage.npz`` holds the final latents of LTX-2 and LTX-2.3 generations of
the tiny model with every guidance on (STG included), computed by an independent
re-implementation of the public loop (``public_one_stage.py``; regenerate with
``python -m tests.engine.make_regression_fixture``). Here the engine's ``IDLoRAPipeline`` runs
the same inputs and must land on the same latents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.engine import public_one_stage as ref  # noqa: E402

FIXTURE = Path(__file__).parent / "data" / "regression_one_stage.npz"
TOLERANCE = 1e-3
STALE = "the fixture is stale: run python -m tests.engine.make_regression_fixture"


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _engine_final(pipe, inputs: ref.Inputs, **overrides) -> tuple[torch.Tensor, torch.Tensor]:
    """Run IDLoRAPipeline on the fixture inputs; returns its final packed (video, audio)."""
    import engine.pipeline.pipeline_idlora as mod

    final = {}
    original = mod.run_sampler  # the one-stage preset runs one stage (Euler)

    def capture(*args, **kwargs):
        state = original(*args, **kwargs)
        final["video"], final["audio"] = state.video.clone(), state.audio.clone()
        return state

    mod.run_sampler = capture
    try:
        pipe(
            ref.PROMPT,
            ref.NEGATIVE,
            image=inputs.image,
            reference_audio=inputs.wave,
            reference_sample_rate=ref.SAMPLE_RATE,
            height=ref.HEIGHT,
            width=ref.WIDTH,
            num_frames=ref.NUM_FRAMES,
            frame_rate=ref.FPS,
            num_inference_steps=ref.STEPS,
            stg_block=ref.STG_BLOCK,
            latents=inputs.video_noise,
            audio_latents=inputs.audio_noise,
            output_type="latent",
            **overrides,
        )
    finally:
        mod.run_sampler = original
    return final["video"], final["audio"]


@pytest.fixture(scope="module")
def fixture() -> dict:
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def pipes(tiny_model_dir, tiny_model_dir_23) -> dict:
    from engine.pipeline import IDLoRAPipeline

    return {
        "ltx2": IDLoRAPipeline.from_pretrained(tiny_model_dir),
        "ltx2.3": IDLoRAPipeline.from_pretrained(tiny_model_dir_23),
    }


@pytest.mark.parametrize("case", list(ref.CASES))
def test_engine_matches_the_public_loop(case, fixture, pipes) -> None:
    from engine.models.tiny import TINY_VERSION

    variant, position_dtype = ref.CASES[case]
    pipe = pipes[variant]
    inputs = ref.regression_inputs(pipe)
    assert int(fixture["tiny_version"]) == TINY_VERSION, STALE
    checksum = float(fixture[f"{case}/weights_checksum"])
    assert ref.weights_checksum(pipe.transformer) == pytest.approx(checksum, rel=1e-9), STALE
    inputs_sum = float(fixture[f"{case}/inputs_checksum"])
    assert inputs.checksum() == pytest.approx(inputs_sum, rel=1e-9), STALE
    want_v = torch.from_numpy(fixture[f"{case}/video"])
    want_a = torch.from_numpy(fixture[f"{case}/audio"])

    dtype = "float32" if position_dtype == torch.float32 else "bfloat16"
    video, audio = _engine_final(pipe, inputs, position_dtype=dtype)
    assert video.shape == want_v.shape and audio.shape == want_a.shape
    assert _rel(video, want_v) < TOLERANCE
    assert _rel(audio, want_a) < TOLERANCE
    if position_dtype == torch.float32:
        return
    # The case tells the generations' STG apart: the other perturbation misses it by far.
    other = "value" if variant == "ltx2" else "drop"
    video_o, audio_o = _engine_final(pipe, inputs, stg_mode=other)
    assert max(_rel(video_o, want_v), _rel(audio_o, want_a)) > 30 * TOLERANCE
