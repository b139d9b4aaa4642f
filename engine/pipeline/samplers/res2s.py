"""The res_2s second-order sampler of the LTX-2.3 HQ preset (method.md, "Sampling").

Written from the public LTX-2.3 pipelines' description and behaviour (``res2s`` helpers and
``Res2sDiffusionStep``); the public code is the authority for every constant here.

The schedule: a final sigma of 0 becomes ``[0.0011, 0]``, so ``n`` steps run on
``sigma_0 .. sigma_{n-1} -> 0.0011`` and one last x0 evaluation at 0.0011 lands on 0.

Per step, with ``h = -ln(sigma_next / sigma)`` and ``c2 = 1/2``:

1. ``d1 = x0(x, sigma)`` (guided); ``e1 = d1 - x``;
2. midpoint ``x_mid = x + h a21 e1`` with ``a21 = c2 phi1(-h c2)``, then SDE-renoised from
   ``sigma`` to ``sub = sqrt(sigma sigma_next)`` (:func:`sde_step`, noise from the *substep*
   generator);
3. anchor refinement ("bong" iteration) when ``h < 0.5`` and ``sigma > 0.03``: 100 times
   ``x = x_mid - h a21 e1; e1 = d1 - x`` (pulls the anchor to the one the noisy midpoint
   implies);
4. ``d2 = x0(x_mid, sub)`` (guided); ``e2 = d2 - x``;
5. ``x_next = x + h (b1 e1 + b2 e2)`` with ``b2 = phi2(-h) / c2``, ``b1 = phi1(-h) - b2``,
   then SDE-renoised from ``sigma`` to ``sigma_next`` (noise from the *step* generator).

So ``n`` steps cost ``2n + 1`` guided evaluations (31 for 15 steps). The arithmetic runs in
float64; the state keeps its dtype between steps. Tokens with mask 0 (first frame, frozen
audio) are reset to their clean values after every update ("legacy" post-processing).

SDE noise: ``sigma_up = sigma_next / 2``; ``sigma_down`` and ``alpha_ratio`` keep the variance
of the flow's interpolation (see :func:`sde_step`). Noise is float64 standard normal drawn
with the latent's full shape (reference audio tokens included, as the reference state holds
them), normalised to zero mean / unit std. The two generators are seeded with fixed seeds
(``-1`` and ``-1 + 10000``, the public loop's defaults), independent of the generation seed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.pipeline.denoise import DenoiseState, StepReport
from engine.pipeline.guided import X0Fn
from engine.pipeline.samplers import audio_clean_of, keep_clean

C2 = 0.5  # midpoint
FINAL_SIGMA = 0.0011  # replaces a final 0 so that the last step's h is finite
SDE_UP_FRACTION = 0.5  # sigma_up = 0.5 * sigma_next
BONG_MAX_H = 0.5
BONG_MIN_SIGMA = 0.03
BONG_ITERATIONS = 100
DEFAULT_NOISE_SEED = -1
SUBSTEP_SEED_OFFSET = 10000

if TYPE_CHECKING:
    import torch


def phi(j: int, z: float) -> float:
    """``phi_j(z) = (e^z - sum_{k<j} z^k / k!) / z^j``; ``1/j!`` at ``z = 0``."""
    if abs(z) < 1e-10:
        return 1.0 / math.factorial(j)
    head = sum(z**k / math.factorial(k) for k in range(j))
    return (math.exp(z) - head) / z**j


def res2s_coefficients(h: float, c2: float = C2) -> tuple[float, float, float]:
    """``(a21, b1, b2)`` of the res_2s step of size ``h`` (log-sigma space)."""
    a21 = c2 * phi(1, -h * c2)
    b2 = phi(2, -h) / c2
    b1 = phi(1, -h) - b2
    return a21, b1, b2


def res2s_schedule(sigmas: list[float]) -> list[float]:
    """The sigmas the loop walks: a final 0 becomes ``[FINAL_SIGMA, 0]``."""
    out = [float(s) for s in sigmas]
    if out and out[-1] == 0.0:
        out = out[:-1] + [FINAL_SIGMA, 0.0]
    return out


def evaluations(steps: int, ends_at_zero: bool = True) -> int:
    """Guided x0 evaluations of ``steps`` res_2s steps: two per step, plus the final one."""
    return 2 * steps + (1 if ends_at_zero else 0)


def sde_noise(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """float64 normal noise, normalised over the whole tensor, then per sample over (N, C)."""
    import torch

    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    noise = (noise - noise.mean()) / noise.std()
    mean = noise.mean(dim=(-2, -1), keepdim=True)
    std = noise.std(dim=(-2, -1), keepdim=True)
    return (noise - mean) / std


def sde_coefficients(sigma_next: float) -> tuple[float, float, float]:
    """``(alpha_ratio, sigma_down, sigma_up)`` for renoising to ``sigma_next``.

    ``sigma_up = min(0.5 sigma_next, 0.9999 sigma_next)``; the residual
    ``sqrt(sigma_next^2 - sigma_up^2)`` and the signal ``1 - sigma_next`` give
    ``alpha_ratio = signal + residual`` and ``sigma_down = residual / alpha_ratio``.
    """
    sigma_up = min(SDE_UP_FRACTION * sigma_next, sigma_next * 0.9999)
    residual = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
    alpha_ratio = (1.0 - sigma_next) + residual
    sigma_down = residual / alpha_ratio if alpha_ratio != 0 else sigma_next
    return alpha_ratio, sigma_down, sigma_up


def sde_step(
    sample: torch.Tensor,
    target: torch.Tensor,
    sigma: float,
    sigma_next: float,
    noise: torch.Tensor,
) -> torch.Tensor:
    """Renoise the deterministic update ``target`` (reached from ``sample`` at ``sigma``) so that
    it sits at ``sigma_next`` with fresh noise; ``target`` unchanged when ``sigma_next`` is 0.

    ``eps = (sample - target) / (sigma - sigma_next)`` is the flow direction of the update
    (noise minus clean); the clean point it implies is ``x0 = sample - sigma eps``; the result
    is ``alpha_ratio (x0 + sigma_down eps) + sigma_up noise``, i.e.
    ``(1 - sigma_next) x0 + residual (x0 + eps) + sigma_up noise`` with
    ``residual^2 + sigma_up^2 = sigma_next^2``: a point at ``sigma_next`` again.
    """
    alpha_ratio, sigma_down, sigma_up = sde_coefficients(sigma_next)
    if sigma_up == 0.0 or sigma_next == 0.0:
        return target
    eps = (sample - target) / (sigma - sigma_next)
    clean = sample - sigma * eps
    return alpha_ratio * (clean + sigma_down * eps) + sigma_up * noise


def res2s_sample(
    x0_fn: X0Fn,
    state: DenoiseState,
    sigmas: list[float],
    *,
    noise_seed: int = DEFAULT_NOISE_SEED,
    substep_noise_seed: int | None = None,
    bongmath: bool = True,
    bongmath_iterations: int = BONG_ITERATIONS,
    on_step: Callable[[StepReport], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> DenoiseState:
    """Run ``len(sigmas) - 1`` res_2s steps (see the module docstring); returns the final state.

    ``check_cancel`` is called before each step; ``on_step`` after each (the final x0
    evaluation belongs to the last step).
    """
    import torch

    n = len(sigmas) - 1
    walk = res2s_schedule(sigmas)
    lands_on_zero = walk[-1] == 0.0
    if substep_noise_seed is None:
        substep_noise_seed = noise_seed + SUBSTEP_SEED_OFFSET
    step_gen = torch.Generator(device="cpu").manual_seed(noise_seed)
    sub_gen = torch.Generator(device="cpu").manual_seed(substep_noise_seed)

    dtype = state.video.dtype
    device = state.video.device
    v_mask, v_clean = state.video_mask, state.video_clean
    a_mask, a_clean = state.target_audio_mask(), audio_clean_of(state)
    nr = state.num_reference
    a_full = (state.audio.shape[0], nr + state.audio.shape[1], state.audio.shape[2])

    def noise_pair(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        nv = sde_noise(tuple(state.video.shape), gen).to(device)
        na = sde_noise(a_full, gen)[:, nr:].to(device)
        return nv, na

    def guided(st: DenoiseState, sigma: float, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        v, a = x0_fn(st, sigma, step)
        return keep_clean(v, v_mask, v_clean).double(), keep_clean(a, a_mask, a_clean).double()

    t0 = time.perf_counter()
    with torch.no_grad():
        for i in range(n):
            if check_cancel is not None:
                check_cancel()
            sigma, sigma_next = walk[i], walk[i + 1]
            h = -math.log(sigma_next / sigma)
            a21, b1, b2 = res2s_coefficients(h)
            sub = math.sqrt(sigma * sigma_next)
            x_v, x_a = state.video.double(), state.audio.double()

            # 1. x0 at the current point
            d1_v, d1_a = guided(state, sigma, i)
            e1_v, e1_a = d1_v - x_v, d1_a - x_a

            # 2. midpoint, renoised to sqrt(sigma * sigma_next)
            nv, na = noise_pair(sub_gen)
            m_v = keep_clean(sde_step(x_v, x_v + h * a21 * e1_v, sigma, sub, nv), v_mask, v_clean)
            m_a = keep_clean(sde_step(x_a, x_a + h * a21 * e1_a, sigma, sub, na), a_mask, a_clean)

            # 3. anchor refinement
            if bongmath and h < BONG_MAX_H and sigma > BONG_MIN_SIGMA:
                for _ in range(bongmath_iterations):
                    x_v = m_v - h * a21 * e1_v
                    e1_v = d1_v - x_v
                    x_a = m_a - h * a21 * e1_a
                    e1_a = d1_a - x_a

            # 4. x0 at the midpoint
            mid = dataclasses.replace(state, video=m_v.to(dtype), audio=m_a.to(dtype))
            d2_v, d2_a = guided(mid, sub, i)
            e2_v, e2_a = d2_v - x_v, d2_a - x_a

            # 5. second-order update, renoised to sigma_next
            nv, na = noise_pair(step_gen)
            n_v = sde_step(x_v, x_v + h * (b1 * e1_v + b2 * e2_v), sigma, sigma_next, nv)
            n_a = sde_step(x_a, x_a + h * (b1 * e1_a + b2 * e2_a), sigma, sigma_next, na)
            state.video = keep_clean(n_v, v_mask, v_clean).to(dtype)
            state.audio = keep_clean(n_a, a_mask, a_clean).to(dtype)

            # the final evaluation at FINAL_SIGMA lands on x0
            if i == n - 1 and lands_on_zero:
                f_v, f_a = guided(state, walk[n], i)
                state.video, state.audio = f_v.to(dtype), f_a.to(dtype)
            if on_step is not None:
                report = StepReport(i, n, time.perf_counter() - t0, d1_v.to(dtype), d1_a.to(dtype))
                on_step(report)
    if check_cancel is not None and n > 0:
        check_cancel()
    return state
