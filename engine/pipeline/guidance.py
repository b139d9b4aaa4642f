"""Guidance passes and their combination on x0 estimates (method.md, "Sampling").

Per denoising step the transformer runs a list of *pass specs*; the first is always the
conditional pass P. Each guidance adds one pass, and a guidance switched off removes it:

==========  ==================================================  ============================
pass        input change vs P                                   added to the x0 estimate
==========  ==================================================  ============================
negative    negative prompt                                     (s_v-1)(P-N) / (s_a-1)(P-N)
identity    audio without the reference tokens                  s_id (P_target - R), audio
stg         video and audio self-attention perturbed in one     s_stg (P - S), both
            block (``spatio_temporal_guidance_blocks``):
            LTX-2 drops the block's self-attention (adds
            nothing), LTX-2.3 passes the values through
            (``engine.pipeline.stg``)
modality    a<->v cross-attention off (``isolate_modalities``)  (s_m-1)(P-B), both
==========  ==================================================  ============================

Off means: CFG and modality at 1.0, STG at 0.0, identity at 0.0 or below (the public code
runs identity guidance only for a scale > 0). CFG is one pass (N) serving both modalities, so
it runs when either CFG scale differs from 1.

**CFG-star** (``cfg_star``, the LTX-2.3 HQ preset): the negative prediction is first projected
onto the conditional one, per sample, ``N' = (<P, N> / (||N||^2 + 1e-8)) N``, and CFG adds
``(s-1)(P-N')``. The public HQ script's "rescale 0.45 / 1.0" values only switch it on.

**Identity window** (``identity_start`` / ``identity_end``, fractions of the schedule): step
``i`` of ``n`` runs the identity pass when ``identity_start <= i/n < identity_end``. The
default window (0, 1) is the whole schedule, as the reference does.

The specs are plain data (``PassSpec``) so that a faster executor can batch passes or share
work (e.g. the STG pass equals P up to its perturbed block) without touching the maths here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

COND = "cond"
NEGATIVE = "negative"
IDENTITY = "identity"
STG = "stg"
MODALITY = "modality"


@dataclass(frozen=True)
class GuidanceScales:
    """Guidance strengths; the defaults are the reference's."""

    video_cfg: float = 3.0
    audio_cfg: float = 7.0
    identity: float = 3.0
    stg: float = 1.0
    modality: float = 3.0
    stg_block: int = 29
    cfg_star: bool = False
    identity_start: float = 0.0
    identity_end: float = 1.0

    @property
    def cfg_on(self) -> bool:
        return self.video_cfg != 1.0 or self.audio_cfg != 1.0

    @property
    def identity_on(self) -> bool:
        return self.identity > 0.0

    @property
    def stg_on(self) -> bool:
        return self.stg != 0.0

    @property
    def modality_on(self) -> bool:
        return self.modality != 1.0

    def identity_in_window(self, step: int | None, total: int | None) -> bool:
        """Whether step ``step`` (0-based) of ``total`` lies in the identity window.

        ``None`` (no step known) counts as inside: the window only ever removes passes.
        """
        if step is None or not total:
            return True
        frac = step / total
        return self.identity_start <= frac < self.identity_end


@dataclass(frozen=True)
class PassSpec:
    """One transformer pass per step.

    ``prompt``: "positive" or "negative" text embeddings. ``with_reference``: whether the audio
    sequence carries the clean reference tokens (False: target audio only).
    ``kwargs``: extra transformer keyword arguments (STG blocks, modality isolation).
    """

    name: str
    prompt: str = "positive"
    with_reference: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)


def build_pass_specs(
    scales: GuidanceScales,
    has_reference: bool = True,
    step: int | None = None,
    total: int | None = None,
) -> list[PassSpec]:
    """The passes step ``step`` of ``total`` needs for ``scales``: P first, then one per active
    guidance (the identity pass only inside the identity window)."""
    specs = [PassSpec(COND)]
    if scales.cfg_on:
        specs.append(PassSpec(NEGATIVE, prompt="negative"))
    if scales.identity_on and has_reference and scales.identity_in_window(step, total):
        specs.append(PassSpec(IDENTITY, with_reference=False))
    if scales.stg_on:
        specs.append(PassSpec(STG, kwargs={"spatio_temporal_guidance_blocks": [scales.stg_block]}))
    if scales.modality_on:
        specs.append(PassSpec(MODALITY, kwargs={"isolate_modalities": True}))
    return specs


def projection_coefficient(cond: torch.Tensor, uncond: torch.Tensor) -> torch.Tensor:
    """Per-sample ``<cond, uncond> / (||uncond||^2 + 1e-8)``, shaped to broadcast over ``uncond``.

    The CFG-star factor: ``coef * uncond`` is the projection of ``cond`` onto the line of
    ``uncond`` (over all of a sample's tokens and channels at once, as the public guider does).
    """
    b = cond.shape[0]
    c = cond.reshape(b, -1)
    u = uncond.reshape(b, -1)
    coef = (c * u).sum(dim=1, keepdim=True) / ((u * u).sum(dim=1, keepdim=True) + 1e-8)
    return coef.reshape(b, *([1] * (uncond.ndim - 1)))


def combine_x0(
    x0: dict[str, tuple[torch.Tensor, torch.Tensor]],
    scales: GuidanceScales,
    num_reference: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided (video, audio) x0 from the per-pass x0 estimates.

    ``x0[name] = (video (B, Nv, C), audio (B, Na, D))``; audio of every pass but ``identity``
    holds reference + target tokens, ``identity``'s audio holds the target tokens only.
    """
    p_v, p_a = x0[COND]
    video = p_v.clone()
    audio = p_a.clone()
    if NEGATIVE in x0:
        n_v, n_a = x0[NEGATIVE]
        if scales.cfg_star:
            n_v = projection_coefficient(p_v, n_v) * n_v
            n_a = projection_coefficient(p_a, n_a) * n_a
        video = video + (scales.video_cfg - 1.0) * (p_v - n_v)
        audio = audio + (scales.audio_cfg - 1.0) * (p_a - n_a)
    if STG in x0:
        s_v, s_a = x0[STG]
        video = video + scales.stg * (p_v - s_v)
        audio = audio + scales.stg * (p_a - s_a)
    if MODALITY in x0:
        b_v, b_a = x0[MODALITY]
        video = video + (scales.modality - 1.0) * (p_v - b_v)
        audio = audio + (scales.modality - 1.0) * (p_a - b_a)
    if IDENTITY in x0:
        _, r_a = x0[IDENTITY]
        target = audio[:, num_reference:] + scales.identity * (p_a[:, num_reference:] - r_a)
        audio = audio.clone()
        audio[:, num_reference:] = target
    return video, audio
