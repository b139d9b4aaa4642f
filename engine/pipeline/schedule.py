"""The LTX-2 sigma schedule used by the reference one-stage sampler (method.md, "Sampling").

1. ``sigmas = linspace(1, 0, steps + 1)``;
2. every non-zero sigma is shifted: ``s' = e^m / (e^m + 1/s - 1)``; ``m`` is interpolated
   linearly from 0.95 at 1,024 tokens to 2.05 at 4,096 tokens, but the reference computes the
   schedule without a latent, so ``m = 2.05`` always (``num_tokens=None``);
3. the shifted sigmas are stretched so that the last non-zero one equals ``terminal`` (0.1):
   ``1 - s'' = (1 - s') * (1 - terminal) / (1 - s'_last)``.
"""

from __future__ import annotations

import math

BASE_SHIFT = 0.95
MAX_SHIFT = 2.05
BASE_TOKENS = 1024
MAX_TOKENS = 4096
TERMINAL = 0.1


def shift_exponent(num_tokens: int | None = None) -> float:
    """The shift ``m``: 2.05 without a token count (the reference), else the linear interpolation."""
    if num_tokens is None:
        return MAX_SHIFT
    slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_TOKENS - BASE_TOKENS)
    return BASE_SHIFT + slope * (num_tokens - BASE_TOKENS)


def ltx2_sigmas(
    steps: int, num_tokens: int | None = None, terminal: float | None = TERMINAL
) -> list[float]:
    """``steps + 1`` sigmas (float64 values, last one 0.0) of the LTX-2 schedule."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    m = shift_exponent(num_tokens)
    em = math.exp(m)
    raw = [1.0 - k / steps for k in range(steps)]  # the non-zero part of linspace(1, 0, steps+1)
    shifted = [em / (em + 1.0 / s - 1.0) for s in raw]
    if terminal is not None:
        scale = (1.0 - shifted[-1]) / (1.0 - terminal)
        shifted = [1.0 - (1.0 - s) / scale for s in shifted]
    return shifted + [0.0]
