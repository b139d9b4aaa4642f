"""First-order Euler on x0 (method.md, "Sampling"), in float32.

Per step ``i``: guided x0 from ``x0_fn``; tokens with mask 0 (first frame, frozen audio) take
their clean values; ``v = (x - x0) / sigma``; ``x <- x + v * (sigma_next - sigma)``. One x0
evaluation per step; the last step (sigma_next = 0) lands on x0.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.pipeline.denoise import DenoiseState, StepReport
from engine.pipeline.guided import X0Fn
from engine.pipeline.samplers import audio_clean_of, keep_clean


def euler_sample(
    x0_fn: X0Fn,
    state: DenoiseState,
    sigmas: list[float],
    *,
    on_step: Callable[[StepReport], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> DenoiseState:
    """Run ``len(sigmas) - 1`` Euler steps; returns ``state`` (updated in place).

    ``check_cancel`` is called before each step (it raises to stop) and once after the last;
    ``on_step`` after each step with the guided x0.
    """
    import torch

    total = len(sigmas) - 1
    audio_mask = state.target_audio_mask()
    audio_clean = audio_clean_of(state)
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(total):
            if check_cancel is not None:
                check_cancel()
            sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
            # 1. guided x0 (all passes of this step); clean tokens keep their values
            video_x0, audio_x0 = x0_fn(state, sigma, i)
            video_x0 = keep_clean(video_x0, state.video_mask, state.video_clean)
            audio_x0 = keep_clean(audio_x0, audio_mask, audio_clean)
            # 2. Euler step on x0 (float32): v = (x - x0)/sigma; x += v * (sigma_next - sigma)
            v_video = (state.video - video_x0) / sigma
            v_audio = (state.audio - audio_x0) / sigma
            new_video = state.video + v_video * (sigma_next - sigma)
            new_audio = state.audio + v_audio * (sigma_next - sigma)
            # 3. clean tokens (mask 0) are reset to their clean values, bit for bit
            state.video = keep_clean(new_video, state.video_mask, state.video_clean)
            state.audio = keep_clean(new_audio, audio_mask, audio_clean)
            if on_step is not None:
                on_step(StepReport(i, total, time.perf_counter() - t0, video_x0, audio_x0))
    if check_cancel is not None and total > 0:
        check_cancel()
    return state
