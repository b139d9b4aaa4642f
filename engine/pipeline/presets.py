"""The four generation presets, as data, with the public scripts' defaults (method.md, "Sampling").

==========  =========  ======================================================================
preset      models     stages
==========  =========  ======================================================================
one-stage   2, 2.3     30 Euler steps at the target size, full guidance, ID-LoRA
two-stage   2, 2.3     stage 1 = one-stage; stage 2 at 2x: spatial upsampler, first frame
                       re-encoded, noise blend at 0.909375, stage-1 audio frozen, distilled
                       LoRA 0.8 and no ID-LoRA, 3 Euler steps on [0.909375, 0.725, 0.421875,
                       0], positive prompt only (one pass per step); tiled VAE decode
hq          2.3        stage 1: res2s 15 steps on the latent-dependent schedule, CFG-star,
                       STG off (block 28), ID-LoRA + distilled 0.25; stage 2 as two-stage but
                       res2s and distilled 0.5
fast        2, 2.3     8 Euler steps on the distilled schedule, no CFG / STG / modality,
                       identity guidance kept (2 passes per step), ID-LoRA + distilled LoRA
                       1.0 (or a distilled checkpoint)
==========  =========  ======================================================================

Plain data, no torch: the Studio's Generate page, the CLI and the recipe read it too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Names accepted by ``--pipeline`` and ``GenerationRequest.pipeline``.
PIPELINES = ("one-stage", "two-stage", "hq", "fast")
DEFAULT_PIPELINE = "one-stage"

#: The distilled model's 8-step schedule (public ``DISTILLED_SIGMA_VALUES``).
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0)
#: Stage 2 of the two-stage presets (public ``STAGE_2_DISTILLED_SIGMA_VALUES``); its first
#: value is also the noise fraction blended into the upsampled latent.
STAGE2_SIGMAS = (0.909375, 0.725, 0.421875, 0.0)

#: Adapter names of the LoRAs a pipeline switches between stages.
IDLORA = "idlora"
DISTILLED = "distilled"

#: What a preset needs beyond the base model and the ID-LoRA.
NEEDS_UPSAMPLER = "spatial_upsampler"
NEEDS_DISTILLED = "distilled_lora"


@dataclass(frozen=True)
class StageSpec:
    """One denoising stage.

    ``schedule``: ``"ltx2"`` (LTX-2 scheduler with the fixed shift, ``steps`` steps),
    ``"ltx2-latent"`` (the shift from the stage's token count), ``"distilled"``
    (:data:`DISTILLED_SIGMAS`) or ``"stage2"`` (:data:`STAGE2_SIGMAS`). ``guided``: the
    request's guidance (False: positive prompt only, one pass per step). ``idlora`` is a factor
    on the request's ID-LoRA strength (1 or 0); ``distilled`` the distilled LoRA's strength.
    ``scale``: spatial factor against stage 1 (2 = upsampled).
    """

    name: str
    sampler: str
    schedule: str
    guided: bool
    idlora: float
    distilled: float
    scale: int = 1

    def lora_strengths(self, idlora_strength: float, distilled: float | None = None) -> dict:
        """``{adapter: strength}`` for this stage (``distilled`` overrides the preset's)."""
        return {
            IDLORA: self.idlora * idlora_strength,
            DISTILLED: self.distilled if distilled is None else distilled,
        }

    @property
    def fixed_steps(self) -> int | None:
        """Steps a fixed schedule implies (None: the request's step count)."""
        if self.schedule == "distilled":
            return len(DISTILLED_SIGMAS) - 1
        if self.schedule == "stage2":
            return len(STAGE2_SIGMAS) - 1
        return None


@dataclass(frozen=True)
class Preset:
    """A named pipeline with its public defaults.

    ``steps`` is stage 1's step count; ``stg_block`` / scales are the guidance defaults a
    request gets when it leaves them unset; ``variants`` the model generations it runs on;
    ``needs`` the parts it needs beyond base model + ID-LoRA (a distilled *checkpoint* stands
    in for the distilled LoRA in ``fast``).
    """

    name: str
    title: str
    description: str
    stages: tuple[StageSpec, ...]
    steps: int
    video_cfg: float = 3.0
    audio_cfg: float = 7.0
    identity: float = 3.0
    stg: float = 1.0
    stg_block: int = 29
    modality: float = 3.0
    cfg_star: bool = False
    variants: tuple[str, ...] = ("ltx2", "ltx2.3")
    needs: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def upscale(self) -> int:
        """Output size factor against the requested (stage-1) size."""
        return max(s.scale for s in self.stages)

    @property
    def total_steps_extra(self) -> int:
        """Steps of the stages after stage 1 (fixed schedules)."""
        return sum(s.fixed_steps or 0 for s in self.stages[1:])

    def total_steps(self, steps: int) -> int:
        """Progress total for a stage-1 step count."""
        return steps + self.total_steps_extra

    def defaults(self) -> dict:
        """The request fields this preset fills when they are left unset."""
        return {
            "steps": self.steps,
            "video_cfg": self.video_cfg,
            "audio_cfg": self.audio_cfg,
            "identity_scale": self.identity,
            "stg_scale": self.stg,
            "stg_block": self.stg_block,
            "modality_scale": self.modality,
            "cfg_star": self.cfg_star,
        }


_STAGE2_EULER = StageSpec("stage 2 (2x)", "euler", "stage2", False, 0.0, 0.8, scale=2)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "one-stage",
            "One-stage",
            "The paper's sampler: 30 guided Euler steps at the chosen size.",
            (StageSpec("stage 1", "euler", "ltx2", True, 1.0, 0.0),),
            steps=30,
        ),
        Preset(
            "two-stage",
            "Two-stage (2x)",
            "One-stage, then a 2x spatial upsample refined in 3 steps with the distilled LoRA; "
            "the output is twice the chosen width and height.",
            (StageSpec("stage 1", "euler", "ltx2", True, 1.0, 0.0), _STAGE2_EULER),
            steps=30,
            needs=(NEEDS_UPSAMPLER, NEEDS_DISTILLED),
        ),
        Preset(
            "hq",
            "HQ (LTX-2.3)",
            "LTX-2.3 two-stage with the res2s second-order sampler (15 steps), CFG-star "
            "guidance and the distilled LoRA at 0.25 / 0.5; output at 2x.",
            (
                StageSpec("stage 1", "res2s", "ltx2-latent", True, 1.0, 0.25),
                StageSpec("stage 2 (2x)", "res2s", "stage2", False, 0.0, 0.5, scale=2),
            ),
            steps=15,
            stg=0.0,
            stg_block=28,
            cfg_star=True,
            variants=("ltx2.3",),
            needs=(NEEDS_UPSAMPLER, NEEDS_DISTILLED),
        ),
        Preset(
            "fast",
            "Fast (distilled)",
            "A quick preview take: 8 distilled steps, no CFG, identity guidance kept.",
            (StageSpec("stage 1", "euler", "distilled", True, 1.0, 1.0),),
            steps=8,
            video_cfg=1.0,
            audio_cfg=1.0,
            stg=0.0,
            modality=1.0,
            needs=(NEEDS_DISTILLED,),
            notes=("Beyond the paper: the distilled model with the ID-LoRA, as Wan2GP runs it.",),
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown pipeline {name!r}; choose one of: {', '.join(PIPELINES)}"
        ) from None


def stage_sigmas(stage: StageSpec, steps: int, num_tokens: int | None = None) -> list[float]:
    """The sigma schedule of ``stage`` (``num_tokens``: the stage's video tokens)."""
    from engine.pipeline.schedule import ltx2_sigmas

    if stage.schedule == "ltx2":
        return ltx2_sigmas(steps)
    if stage.schedule == "ltx2-latent":
        return ltx2_sigmas(steps, num_tokens=num_tokens)
    if stage.schedule == "distilled":
        return list(DISTILLED_SIGMAS)
    if stage.schedule == "stage2":
        return list(STAGE2_SIGMAS)
    raise ValueError(f"unknown schedule {stage.schedule!r}")
