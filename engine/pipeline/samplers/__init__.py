"""Samplers: how a stage walks its sigma schedule, given guided x0 estimates.

Each sampler takes an ``x0_fn(state, sigma, step) -> (video_x0, target_audio_x0)`` -- in the
engine always a :class:`engine.pipeline.guided.GuidedDenoiser` -- a
:class:`~engine.pipeline.denoise.DenoiseState` and the stage's sigmas, and returns the final
state. They never run the transformer themselves.

* :mod:`.euler`: first-order Euler on x0 (the one-stage reference, stage 2 of two-stage,
  the distilled fast preset): one x0 evaluation per step.
* :mod:`.res2s`: the second-order res_2s sampler of the LTX-2.3 HQ preset: two evaluations
  per step (at sigma and at the midpoint) plus one final, SDE noise, anchor refinement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def keep_clean(x: torch.Tensor, mask: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Tokens with mask 0 take their clean value, the others keep ``x`` (dtype of ``x``).

    ``x``/``clean`` (B, N, C), ``mask`` (B, N) with values 0 or 1. This is the reference's
    post-processing of denoised estimates (``x * m + clean * (1 - m)`` for 0/1 masks), exact.
    """
    import torch

    return torch.where(mask.unsqueeze(-1) > 0, x, clean.to(x.dtype))


def audio_clean_of(state: object) -> torch.Tensor:
    """The clean target audio values of a state (its current audio when none are frozen)."""
    clean = getattr(state, "audio_clean", None)
    return clean if clean is not None else state.audio  # type: ignore[attr-defined]


SAMPLERS = ("euler", "res2s")
