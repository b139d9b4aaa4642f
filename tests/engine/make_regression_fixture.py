"""Write ``tests/engine/data/regression_one_stage.npz``: final latents of the public loop.

Run from the repository root (offline, CPU, ~1 min)::

    .venv/bin/python -m tests.engine.make_regression_fixture

For each case of :data:`tests.engine.public_one_stage.CASES` (LTX-2 and LTX-2.3 with
bfloat16 positions as the trainer built them, and LTX-2 with exact float32 positions) it
encodes the fixed inputs of :func:`tests.engine.public_one_stage.regression_inputs` with the
tiny model's encoders, runs the independent re-implementation of the public one-stage loop
(:func:`tests.engine.public_one_stage.public_one_stage`, not the engine) with every guidance
on (CFG 3/7, identity 3, STG 1.0 in block 0, AV-bimodal 3), and stores the final packed
latents (float32) with checksums of the inputs and of the tiny weights.
``tests/engine/test_public_regression.py`` asserts the engine reproduces them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.engine import public_one_stage as ref

FIXTURE = Path(__file__).parent / "data" / "regression_one_stage.npz"


def main() -> int:
    from engine.models.tiny import TINY_VERSION, ensure_tiny_model
    from engine.pipeline import IDLoRAPipeline

    arrays: dict[str, np.ndarray] = {
        "tiny_version": np.array(TINY_VERSION),
        "steps": np.array(ref.STEPS),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (variant, position_dtype) in ref.CASES.items():
            pipe = IDLoRAPipeline.from_pretrained(ensure_tiny_model(Path(tmp), variant))
            inputs = ref.regression_inputs(pipe)
            cond = ref.encode_conditioning(pipe, inputs)
            video, audio = ref.public_one_stage(
                pipe.transformer,
                cond,
                inputs.video_noise,
                inputs.audio_noise,
                generation=variant,
                latent_dims=ref.LATENT_DIMS,
                fps=ref.FPS,
                steps=ref.STEPS,
                stg_blocks=(ref.STG_BLOCK,),
                position_dtype=position_dtype,
            )
            arrays[f"{name}/video"] = video.numpy()
            arrays[f"{name}/audio"] = audio.numpy()
            arrays[f"{name}/weights_checksum"] = np.array(ref.weights_checksum(pipe.transformer))
            arrays[f"{name}/inputs_checksum"] = np.array(inputs.checksum())
            print(f"{name}: video {tuple(video.shape)}, audio {tuple(audio.shape)}")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
