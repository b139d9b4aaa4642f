"""``IDLoRAPipeline``: ID-LoRA sampling on diffusers' LTX-2 components, every preset.

Read top to bottom like a diffusers pipeline: ``__call__`` checks inputs, encodes the prompts,
prepares the first-frame video latents and the reference-voice audio tokens (stage 1), then
runs each stage of the chosen preset (``engine.pipeline.presets``: one-stage, two-stage, hq,
fast) -- switching the LoRA adapters' strengths, moving to 2x through the spatial upsampler
between stages (``engine.pipeline.stages``), denoising with the stage's sampler
(``engine.pipeline.samplers``) on guided x0 (``engine.pipeline.guided``) -- and decodes
(in tiles for the 2x presets).
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.loaders import LTX2LoraLoaderMixin
from diffusers.utils.torch_utils import randn_tensor

from engine.api import Cancelled, CancelToken, NonFiniteResultError, Stopwatch
from engine.pipeline.denoise import (
    DenoiseState,
    StepReport,
    TextEmbeds,
    default_stg_mode,
    default_use_cross_timestep,
)
from engine.pipeline.executor import EXECUTOR_ENV, make_executor
from engine.pipeline.guidance import GuidanceScales
from engine.pipeline.guided import GuidedDenoiser
from engine.pipeline.positions import DEFAULT_POSITION_DTYPE, audio_coords, video_coords
from engine.pipeline.presets import DISTILLED, IDLORA, Preset, get_preset, stage_sigmas
from engine.pipeline.stages import (
    DecodeTiling,
    Stage2Inputs,
    run_sampler,
    stage2_state,
    tiled_decoding,
    upsample_video_latents,
)
from engine.pipeline.stg import STGMode

AUDIO_LATENTS_PER_SECOND = 25.0
PREVIEW_SEED = 20260310


NO_GUIDANCE = GuidanceScales(video_cfg=1.0, audio_cfg=1.0, identity=0.0, stg=0.0, modality=1.0)


@dataclass
class StageLatents:
    """One stage's result: unnormalised video (B, C, F, h, w) and target audio (B, C, L, M)
    latents, the sigmas it walked and the LoRA strengths it ran with."""

    name: str
    video: torch.Tensor
    audio: torch.Tensor
    sigmas: list[float]
    lora_strengths: dict[str, float]


@dataclass
class IDLoRAPipelineOutput:
    """``frames``: float (B, F, H, W, 3) in [0, 1] (numpy for "np", torch for "pt") or the
    unnormalised video latents (B, C, F, h, w) for ``output_type="latent"``; ``audio``: float
    (B, 2, N) waveform at ``sample_rate`` or the unnormalised target audio latents
    (B, C, L, M) for "latent". ``stages``: every stage's latents (any ``output_type``)."""

    frames: Any
    audio: Any
    sample_rate: int
    stages: list[StageLatents] = field(default_factory=list)


def latent_preview(x0_video: torch.Tensor, frames: int, height: int, width: int) -> np.ndarray:
    """Cheap RGB preview (h, w, 3) uint8 of the middle latent frame of a packed x0 latent.

    A fixed random linear map from the latent channels to RGB (no VAE), upscaled 4x nearest.
    """
    c = x0_video.shape[-1]
    g = torch.Generator().manual_seed(PREVIEW_SEED)
    proj = torch.randn(c, 3, generator=g) / math.sqrt(c)
    lat = x0_video[0].reshape(frames, height, width, c)[frames // 2].float().cpu()
    rgb = torch.tanh(lat @ proj * 2.0) * 0.5 + 0.5
    rgb = rgb.repeat_interleave(4, dim=0).repeat_interleave(4, dim=1)
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class IDLoRAPipeline(DiffusionPipeline, LTX2LoraLoaderMixin):
    """ID-LoRA on LTX-2 / LTX-2.3: prompt + first-frame image + reference voice -> video + audio.

    Components are those of diffusers' LTX-2 pipelines, so ``IDLoRAPipeline.from_pretrained``
    loads a ``Lightricks/LTX-2``-style diffusers folder.
    """

    model_cpu_offload_seq = (
        "text_encoder->connectors->transformer->latent_upsampler->vae->audio_vae->vocoder"
    )
    _optional_components: list[str] = ["latent_upsampler"]

    def __init__(
        self,
        scheduler: Any,
        vae: Any,
        audio_vae: Any,
        text_encoder: Any,
        tokenizer: Any,
        connectors: Any,
        transformer: Any,
        vocoder: Any,
        latent_upsampler: Any = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            audio_vae=audio_vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            connectors=connectors,
            transformer=transformer,
            vocoder=vocoder,
            scheduler=scheduler,
            latent_upsampler=latent_upsampler,
        )
        #: True when the transformer itself is a distilled checkpoint (the fast preset then
        #: needs no distilled LoRA).
        self.transformer_is_distilled = False
        self.vae_spatial = vae.spatial_compression_ratio if vae is not None else 32
        self.vae_temporal = vae.temporal_compression_ratio if vae is not None else 8

    # ------------------------------------------------------------------ helpers

    @property
    def num_blocks(self) -> int:
        return len(self.transformer.transformer_blocks)

    @property
    def audio_sample_rate(self) -> int:
        cfg = self.vocoder.config
        return int(cfg.get("output_sampling_rate", 24000))

    @property
    def is_ltx23(self) -> bool:
        return default_use_cross_timestep(self.transformer)

    def _device(self) -> torch.device:
        return self._execution_device

    @torch.no_grad()
    def encode_text(self, prompts: list[str], max_sequence_length: int = 1024) -> TextEmbeds:
        """Gemma hidden states of every layer -> LTX-2 text connectors (as diffusers does)."""
        device = self._device()
        tok = self.tokenizer
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        max_len = min(max_sequence_length, int(getattr(tok, "model_max_length", 1024) or 1024))
        inputs = tok(
            [p.strip() for p in prompts],
            padding="max_length",
            max_length=max_len,
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        ids = inputs.input_ids.to(device)
        mask = inputs.attention_mask.to(device)
        te_device = self.text_encoder.device
        extra = {}
        if "logits_to_keep" in inspect.signature(self.text_encoder.forward).parameters:
            # only the hidden states are used: skip the (tokens x 262k vocabulary) logits,
            # ~1 GiB per 1,024-token prompt in bf16 (it decided the 24 GiB peak)
            extra["logits_to_keep"] = 1
        out = self.text_encoder(
            input_ids=ids.to(te_device),
            attention_mask=mask.to(te_device),
            output_hidden_states=True,
            **extra,
        )
        hidden = torch.stack(out.hidden_states, dim=-1).flatten(2, 3)
        del out
        hidden = hidden.to(device=device, dtype=self.connectors.dtype)
        # One prompt at a time through the connectors: their per-layer normalisation makes
        # several float32 copies of every layer's hidden states (1.4 GiB each for two 1,024-token
        # prompts), which decided the 24 GiB profiles' peak; each row is computed on its own.
        rows = [
            self.connectors(hidden[i : i + 1], mask[i : i + 1], padding_side="left")
            for i in range(hidden.shape[0])
        ]
        tdtype = self.transformer.dtype
        video, audio, conn_mask = (torch.cat(parts) for parts in zip(*rows, strict=True))
        return TextEmbeds(video.to(tdtype), audio.to(tdtype), conn_mask)

    @staticmethod
    def pack_video(latents: torch.Tensor) -> torch.Tensor:
        """(B, C, F, H, W) -> (B, F*H*W, C) (patch size 1)."""
        return latents.flatten(2).transpose(1, 2)

    @staticmethod
    def unpack_video(tokens: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """(B, F*H*W, C) -> (B, C, F, H, W)."""
        b, _, c = tokens.shape
        return tokens.transpose(1, 2).reshape(b, c, frames, height, width)

    @staticmethod
    def pack_audio(latents: torch.Tensor) -> torch.Tensor:
        """(B, C, L, M) -> (B, L, C*M)."""
        return latents.transpose(1, 2).flatten(2, 3)

    @staticmethod
    def unpack_audio(tokens: torch.Tensor, mel_bins: int) -> torch.Tensor:
        """(B, L, C*M) -> (B, C, L, M)."""
        return tokens.unflatten(2, (-1, mel_bins)).transpose(1, 2)

    def _video_norm(self, latents: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        mean = self.vae.latents_mean.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        std = self.vae.latents_std.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        sf = float(self.vae.config.scaling_factor)
        return latents * std / sf + mean if inverse else (latents - mean) * sf / std

    def _audio_norm(self, tokens: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        mean = self.audio_vae.latents_mean.to(tokens.device, tokens.dtype)
        std = self.audio_vae.latents_std.to(tokens.device, tokens.dtype)
        return tokens * std + mean if inverse else (tokens - mean) / std

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> normalised first-frame latents (B, C, 1, h, w), float32."""
        img = image.to(device=self.vae.device, dtype=self.vae.dtype).unsqueeze(2)
        lat = self.vae.encode(img).latent_dist.mode()
        return self._video_norm(lat.float())

    @torch.no_grad()
    def encode_reference_audio(self, waveform: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Waveform (B, C, N) or (C, N) -> normalised packed reference tokens (B, L, D), float32."""
        from engine.audio_frontend import waveform_to_mel

        mel = waveform_to_mel(waveform.float().cpu(), sample_rate)  # (B, 2, T, 64)
        mel = mel.to(device=self.audio_vae.device, dtype=self.audio_vae.dtype)
        lat = self.audio_vae.encode(mel).latent_dist.mode()  # (B, C, L, M')
        return self._audio_norm(self.pack_audio(lat.float()))

    # ------------------------------------------------------------------ LoRAs

    def loaded_adapters(self) -> set[str]:
        """Names of the LoRA adapters loaded into the transformer."""
        config = getattr(self.transformer, "peft_config", None)
        return set(config) if config else set()

    def stage_lora_strengths(
        self, preset: Preset, idlora_strength: float = 1.0, distilled: Sequence[float | None] = ()
    ) -> list[dict[str, float]]:
        """Per stage ``{adapter: strength}`` for ``preset`` (``distilled[k]`` overrides stage
        ``k``'s distilled-LoRA strength)."""
        out = []
        for k, stage in enumerate(preset.stages):
            override = distilled[k] if k < len(distilled) else None
            out.append(stage.lora_strengths(idlora_strength, override))
        return out

    def _apply_lora_strengths(self, strengths: Mapping[str, float], preset: Preset) -> dict:
        """Switch the adapters' strengths for a stage (no reload); returns what was set."""
        from engine.lora import set_adapter_strengths

        loaded = self.loaded_adapters()
        wanted = dict(strengths)
        if wanted.get(DISTILLED, 0.0) and DISTILLED not in loaded:
            if self.transformer_is_distilled:
                wanted.pop(DISTILLED)  # the checkpoint is distilled already
            else:
                raise ValueError(
                    f"the {preset.title} preset needs the distilled LoRA (load it as adapter "
                    f"'{DISTILLED}') or a distilled checkpoint"
                )
        if IDLORA not in loaded:
            wanted.pop(IDLORA, None)  # base model without an ID-LoRA (tests, self-test)
        used = {n: float(w) for n, w in wanted.items() if n in loaded}
        if loaded:
            set_adapter_strengths(self, used)
        return used

    # ------------------------------------------------------------------ call

    def check_inputs(
        self,
        height: int,
        width: int,
        num_frames: int,
        steps: int,
        scales: GuidanceScales,
        image: torch.Tensor | None,
    ) -> None:
        """Validate sizes, frame count, steps and the STG block."""
        if height % self.vae_spatial or width % self.vae_spatial:
            raise ValueError(
                f"height and width must be multiples of {self.vae_spatial}, got {width}x{height}"
            )
        if (num_frames - 1) % self.vae_temporal:
            raise ValueError(f"num_frames must be 8k+1, got {num_frames}")
        if steps < 1:
            raise ValueError("num_inference_steps must be >= 1")
        if scales.stg_on and not 0 <= scales.stg_block < self.num_blocks:
            raise ValueError(
                f"stg_block {scales.stg_block} does not exist: the transformer has "
                f"{self.num_blocks} blocks (0..{self.num_blocks - 1})"
            )
        if image is not None and tuple(image.shape[-2:]) != (height, width):
            raise ValueError(f"image is {tuple(image.shape[-2:])}, expected {(height, width)}")

    def _check_preset(self, preset: Preset, stages: int) -> None:
        variant = "ltx2.3" if self.is_ltx23 else "ltx2"
        if variant not in preset.variants:
            raise ValueError(
                f"the {preset.title} preset runs on {' / '.join(preset.variants)} models; "
                f"this model is {variant}"
            )
        if any(s.scale != 1 for s in preset.stages[:stages]) and self.latent_upsampler is None:
            raise ValueError(
                f"the {preset.title} preset needs the spatial latent upsampler "
                "(pipeline.latent_upsampler is not loaded)"
            )

    def _stage1_state(
        self,
        image: torch.Tensor | None,
        reference_audio: torch.Tensor | None,
        reference_sample_rate: int,
        num_frames: int,
        frame_rate: float,
        lf: int,
        lh: int,
        lw: int,
        sigma0: float,
        generator: torch.Generator | None,
        latents: torch.Tensor | None,
        audio_latents: torch.Tensor | None,
        positive: TextEmbeds,
        negative: TextEmbeds | None,
        position_dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
    ) -> DenoiseState:
        """Stage 1's initial state: first frame = VAE(image) with mask 0, the rest noise; the
        reference voice as clean prepended tokens at negative times; target audio noise."""
        device = self._device()
        channels = self.transformer.config.in_channels
        # video noise first, then audio noise (the generator's order)
        noise = randn_tensor(
            (1, channels, lf, lh, lw), generator=generator, device=device, dtype=torch.float32
        )
        video = self.pack_video(noise)
        if latents is not None:
            if latents.ndim == 5:  # clean unnormalised latents, noised to sigmas[0]
                clean = self.pack_video(self._video_norm(latents.to(device, torch.float32)))
                video = sigma0 * video + (1 - sigma0) * clean
            else:
                video = latents.to(device, torch.float32)
        mask = torch.ones((1, lf, lh, lw), device=device)
        video_clean = torch.zeros_like(video)
        if image is not None:
            first = self.pack_video(self.encode_image(image).to(device))  # (1, lh*lw, C)
            mask[:, 0] = 0.0
            video_clean[:, : lh * lw] = first
            video[:, : lh * lw] = first
        mask = mask.flatten(1)

        if reference_audio is not None:
            audio_ref = self.encode_reference_audio(reference_audio, reference_sample_rate)
            audio_ref = audio_ref.to(device)
        else:
            audio_ref = torch.zeros(
                (1, 0, self.transformer.config.audio_in_channels), device=device
            )
        num_target = round(num_frames / frame_rate * AUDIO_LATENTS_PER_SECOND)
        audio_noise = randn_tensor(
            (1, self._audio_channels, num_target, self._mel_latent),
            generator=generator,
            device=device,
            dtype=torch.float32,
        )
        audio = self.pack_audio(audio_noise)
        if audio_latents is not None:
            if audio_latents.ndim == 4:
                clean_a = self._audio_norm(self.pack_audio(audio_latents.to(device, torch.float32)))
                audio = sigma0 * audio[:, : clean_a.shape[1]] + (1 - sigma0) * clean_a
            else:
                audio = audio_latents.to(device, torch.float32)
            num_target = audio.shape[1]

        return DenoiseState(
            video=video,
            video_clean=video_clean,
            video_mask=mask,
            audio_ref=audio_ref,
            audio=audio,
            video_coords=video_coords(
                1, lf, lh, lw, frame_rate, device=device, dtype=position_dtype
            ),
            audio_coords=audio_coords(
                1, audio_ref.shape[1], num_target, device=device, dtype=position_dtype
            ),
            positive=positive,
            negative=negative,
            latent_frames=lf,
            latent_height=lh,
            latent_width=lw,
            fps=frame_rate,
        )

    def _stage2_from(
        self,
        state: DenoiseState,
        image_2x: torch.Tensor | None,
        sigma0: float,
        generator: torch.Generator | None,
        position_dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
    ) -> DenoiseState:
        """Stage 2's state from stage 1's: upsample 2x, re-encode the first frame, blend the
        same generator's noise at ``sigma0``, freeze the target audio, drop the reference."""
        device = self._device()
        lf, lh, lw = state.latent_frames, state.latent_height, state.latent_width
        stage1 = self._video_norm(self.unpack_video(state.video, lf, lh, lw), inverse=True)
        up = upsample_video_latents(self.latent_upsampler, stage1, self._video_norm, device)
        lh2, lw2 = up.shape[-2], up.shape[-1]
        first = None
        if image_2x is not None:
            first = self.pack_video(self.encode_image(image_2x).to(device))
        # the generator continues: video noise for the blend, then the audio draw the
        # reference's noiser makes for the (frozen, noise scale 0) audio state
        video_noise = randn_tensor(
            tuple(up.shape), generator=generator, device=device, dtype=torch.float32
        )
        randn_tensor(
            (1, self._audio_channels, state.audio.shape[1], self._mel_latent),
            generator=generator,
            device=device,
            dtype=torch.float32,
        )
        inputs = Stage2Inputs(
            video=self.pack_video(up),
            first_frame=first,
            audio=state.audio,
            latent_frames=lf,
            latent_height=lh2,
            latent_width=lw2,
        )
        return stage2_state(
            inputs,
            sigma0=sigma0,
            video_noise=self.pack_video(video_noise),
            positive=state.positive,
            fps=state.fps,
            position_dtype=position_dtype,
        )

    def _stage_executor(self, pass_executor: Any | None) -> Any:
        """The pass executor of one stage (see ``__call__``'s ``pass_executor``).

        Caches must not cross stages: the LoRA strengths change between them, and the fast
        executor's text keys/values go through LoRA-adapted cross-attention projections.
        """
        if callable(pass_executor):
            reset = getattr(pass_executor, "reset", None)
            if callable(reset):
                reset()
            return pass_executor
        # options from the memory profile (engine.memory.apply_profile)
        name = pass_executor or os.environ.get(EXECUTOR_ENV) or "fast"
        opts = getattr(self, "executor_options", {}) if name == "fast" else {}
        return make_executor(name, **opts)

    @property
    def _audio_channels(self) -> int:
        return int(self.audio_vae.config.latent_channels)

    @property
    def _mel_latent(self) -> int:
        return int(self.audio_vae.config.mel_bins // self.audio_vae.mel_compression_ratio)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        negative_prompt: str = "",
        image: torch.Tensor | None = None,
        reference_audio: torch.Tensor | None = None,
        reference_sample_rate: int = 16000,
        height: int = 512,
        width: int = 512,
        num_frames: int = 121,
        frame_rate: float = 25.0,
        num_inference_steps: int | None = None,
        video_guidance_scale: float | None = None,
        audio_guidance_scale: float | None = None,
        identity_guidance_scale: float | None = None,
        stg_scale: float | None = None,
        stg_block: int | None = None,
        modality_scale: float | None = None,
        cfg_star: bool | None = None,
        identity_window: tuple[float, float] = (0.0, 1.0),
        pipeline: str = "one-stage",
        lora_strengths: Sequence[Mapping[str, float]] | None = None,
        image_2x: torch.Tensor | None = None,
        sigmas: list[float] | None = None,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        audio_latents: torch.Tensor | None = None,
        max_sequence_length: int = 1024,
        use_cross_timestep: bool | None = None,
        stg_mode: STGMode | str | None = None,
        position_dtype: torch.dtype | str = DEFAULT_POSITION_DTYPE,
        decode_timestep: float = 0.0,
        decode_noise_scale: float | None = None,
        decode_tiling: DecodeTiling | str | None = "auto",
        output_type: str = "np",
        progress: Any | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
        after_text_encoding: Any | None = None,
        stopwatch: Stopwatch | None = None,
        pass_executor: Any | None = None,
        stop_after_stage: int | None = None,
    ) -> IDLoRAPipelineOutput:
        """Generate a video with audio in the reference voice.

        Args:
            prompt / negative_prompt: tagged prompt and negative prompt.
            image: first frame, float (3, H, W) or (1, 3, H, W) in [-1, 1] at (height, width);
                None: no image conditioning (text-to-video).
            reference_audio: reference voice waveform (C, N) or (1, C, N) at
                ``reference_sample_rate``; None: no reference tokens (identity pass dropped).
            height / width: stage 1's size; the 2x presets output twice each.
            pipeline: "one-stage", "two-stage", "hq" or "fast" (``engine.pipeline.presets``).
            num_inference_steps, guidance scales, ``stg_block``, ``cfg_star``: None takes the
                preset's public default. Stage 2 of the 2x presets runs without guidance.
            identity_window: (start, end) fractions of stage 1's schedule where the identity
                pass runs; (0, 1) = every step.
            lora_strengths: per stage ``{adapter: strength}`` (adapters "idlora", "distilled");
                default: the preset's (ID-LoRA 1 in stage 1 only). Adapters are switched, never
                reloaded.
            image_2x: the first frame at (2 height, 2 width) for stage 2; default: ``image``
                resized bilinearly.
            latents: initial packed video noise (1, Nv, C) in normalised space, or clean
                unnormalised latents (1, C, F, h, w) noised to ``sigmas[0]`` (stage 1).
            audio_latents: initial packed target audio noise (1, Nt, D), or clean unnormalised
                (1, C, L, M) latents noised to ``sigmas[0]`` (stage 1).
            sigmas: explicit stage-1 schedule (``steps + 1`` values ending in 0).
            use_cross_timestep / stg_mode: None follows the model generation
                (``default_use_cross_timestep`` / ``default_stg_mode``: LTX-2 drops the STG
                block's self-attention, LTX-2.3 passes its values through).
            position_dtype: dtype of the RoPE coordinates: "bfloat16" (default) as the LoRA
                was trained, "float32" for exact positions (``engine.pipeline.positions``).
            decode_tiling: tiles of the VAE decode; "auto" = the public tiles for the 2x
                presets, none otherwise.
            progress: ``callable(step_report, preview_or_None)`` after each step; the report
                counts steps over all stages.
            cancel: ``engine.api.CancelToken``; checked before every step, raises ``Cancelled``.
            output_type: "np", "pt" or "latent".
            after_text_encoding: called once the prompt embeddings exist (e.g. to free the
                text encoder's memory).
            stopwatch: ``engine.api.Stopwatch`` receiving the phases ``encode_prompt``,
                ``prepare``, ``upsample`` (2x stages), ``denoise`` (once per stage) and
                ``decode`` (made of ``decode_video`` and ``decode_audio``).
            pass_executor: runs one step's transformer passes
                (``engine.pipeline.guided.PassExecutor``): an executor object, or a name,
                "fast" (the default: batched, exact) or "sequential" (one after another).
                A named executor is made afresh for each stage; an object's ``reset()`` (if
                any) is called before each stage: its cached text keys/values were computed
                under the previous stage's LoRA strengths.
            stop_after_stage: run only the first N stages (e.g. 1: stage 1 of a 2x preset).
        """
        sw = stopwatch or Stopwatch()
        # 1. check inputs; the preset fills what the caller left unset
        preset = get_preset(pipeline)
        n_stages = len(preset.stages) if stop_after_stage is None else int(stop_after_stage)
        if not 1 <= n_stages <= len(preset.stages):
            raise ValueError(f"stop_after_stage must be 1..{len(preset.stages)}")
        stages = preset.stages[:n_stages]
        d = preset.defaults()
        scales = GuidanceScales(
            video_cfg=_or(video_guidance_scale, d["video_cfg"]),
            audio_cfg=_or(audio_guidance_scale, d["audio_cfg"]),
            identity=_or(identity_guidance_scale, d["identity_scale"]),
            stg=_or(stg_scale, d["stg_scale"]),
            modality=_or(modality_scale, d["modality_scale"]),
            stg_block=int(_or(stg_block, d["stg_block"])),
            cfg_star=bool(_or(cfg_star, d["cfg_star"])),
            identity_start=float(identity_window[0]),
            identity_end=float(identity_window[1]),
        )
        fixed = stages[0].fixed_steps
        if sigmas is not None:
            steps = len(sigmas) - 1
        elif fixed is not None:
            if num_inference_steps not in (None, fixed):
                raise ValueError(
                    f"the {preset.title} preset runs a fixed {fixed}-step schedule, "
                    f"not {num_inference_steps} steps"
                )
            steps = fixed
        else:
            steps = int(_or(num_inference_steps, d["steps"]))
        if image is not None and image.ndim == 3:
            image = image.unsqueeze(0)
        if image_2x is not None and image_2x.ndim == 3:
            image_2x = image_2x.unsqueeze(0)
        if reference_audio is not None and reference_audio.ndim == 2:
            reference_audio = reference_audio.unsqueeze(0)
        self.check_inputs(height, width, num_frames, steps, scales, image)
        self._check_preset(preset, n_stages)
        if image_2x is not None and tuple(image_2x.shape[-2:]) != (2 * height, 2 * width):
            raise ValueError(
                f"image_2x is {tuple(image_2x.shape[-2:])}, expected {(2 * height, 2 * width)}"
            )
        if lora_strengths is None:
            lora_strengths = self.stage_lora_strengths(preset)
        if len(lora_strengths) < n_stages:
            raise ValueError(f"lora_strengths needs one mapping per stage ({n_stages})")
        device = self._device()
        if use_cross_timestep is None:
            use_cross_timestep = default_use_cross_timestep(self.transformer)
        stg_mode = default_stg_mode(self.transformer) if stg_mode is None else STGMode(stg_mode)

        # 2. encode prompts (negative only when stage 1 uses CFG), as one batch: the text
        # encoder's weights are read (or streamed from CPU memory) once
        with sw.phase("encode_prompt"):
            if scales.cfg_on:
                both = self.encode_text([prompt, negative_prompt], max_sequence_length)
                positive, negative = both.row(0), both.row(1)
            else:
                positive, negative = self.encode_text([prompt], max_sequence_length), None
        if after_text_encoding is not None:
            after_text_encoding()

        # 3. stage 1: first frame, reference voice, noise, positions
        lf = (num_frames - 1) // self.vae_temporal + 1
        lh, lw = height // self.vae_spatial, width // self.vae_spatial
        with sw.phase("prepare"):
            stage_sigma_lists = [
                [float(s) for s in sigmas]
                if (k == 0 and sigmas is not None)
                else stage_sigmas(st, steps, num_tokens=lf * lh * lw)
                for k, st in enumerate(stages)
            ]
            state = self._stage1_state(
                image,
                reference_audio,
                reference_sample_rate,
                num_frames,
                frame_rate,
                lf,
                lh,
                lw,
                stage_sigma_lists[0][0],
                generator,
                latents,
                audio_latents,
                positive,
                negative,
                position_dtype,
            )

        # 4. every stage: LoRA strengths, (2x transition), sampler on guided x0
        total = sum(len(s) - 1 for s in stage_sigma_lists)
        check = cancel.raise_if_cancelled if cancel is not None else None
        results: list[StageLatents] = []
        done = 0
        t0 = time.perf_counter()
        for k, stage in enumerate(stages):
            stage_sig = stage_sigma_lists[k]
            if stage.scale != 1:
                if check is not None:
                    check()
                with sw.phase("upsample"):
                    if image_2x is None and image is not None:
                        image_2x = torch.nn.functional.interpolate(
                            image, size=(2 * height, 2 * width), mode="bilinear"
                        )
                    state = self._stage2_from(
                        state, image_2x, stage_sig[0], generator, position_dtype
                    )
            used = self._apply_lora_strengths(lora_strengths[k], preset)
            denoiser = GuidedDenoiser(
                self.transformer,
                scales if stage.guided else NO_GUIDANCE,
                use_cross_timestep=use_cross_timestep,
                executor=self._stage_executor(pass_executor),
                total_steps=len(stage_sig) - 1,
                stg_mode=stg_mode,
            )
            dims = (state.latent_frames, state.latent_height, state.latent_width)

            def on_step(rep: StepReport, offset: int = done, dims: tuple = dims) -> None:
                if progress is None:
                    return
                report = StepReport(
                    offset + rep.index,
                    total,
                    time.perf_counter() - t0,
                    rep.video_x0,
                    rep.audio_x0,
                )
                pv = latent_preview(rep.video_x0, *dims) if preview else None
                progress(report, pv)

            with sw.phase("denoise"):
                state = run_sampler(
                    stage.sampler, denoiser, state, stage_sig, on_step=on_step, check_cancel=check
                )
            done += len(stage_sig) - 1
            results.append(
                StageLatents(
                    stage.name,
                    self._video_norm(self.unpack_video(state.video, *dims), inverse=True),
                    self.unpack_audio(
                        self._audio_norm(state.audio, inverse=True), self._mel_latent
                    ),
                    stage_sig,
                    used,
                )
            )

        # 5. the last stage's latents (reference tokens are separate), unnormalised
        video_lat, audio_lat = results[-1].video, results[-1].audio
        if not (torch.isfinite(video_lat).all() and torch.isfinite(audio_lat).all()):
            raise NonFiniteResultError(
                "the generation diverged: its final latents hold NaN or infinite values, so "
                "nothing usable can be decoded; lower the guidance scales or change the seed"
            )
        if output_type == "latent":
            return IDLoRAPipelineOutput(video_lat, audio_lat, self.audio_sample_rate, results)

        # 6. decode video (timestep/noise as diffusers' LTX-2 pipelines; tiles at 2x) and audio
        if cancel is not None:
            cancel.raise_if_cancelled()
        if decode_tiling == "auto":
            decode_tiling = DecodeTiling() if any(s.scale != 1 for s in stages) else None
        dec = sw.phase("decode")
        dec.__enter__()
        dec_t = None
        if self.vae.config.timestep_conditioning:
            norm = self._video_norm(video_lat)
            ns = decode_timestep if decode_noise_scale is None else decode_noise_scale
            dn = randn_tensor(norm.shape, generator=generator, device=device, dtype=norm.dtype)
            video_lat = self._video_norm((1 - ns) * norm + ns * dn, inverse=True)
            dec_t = torch.tensor([decode_timestep], device=device, dtype=self.vae.dtype)
        with sw.phase("decode_video"), tiled_decoding(self.vae, decode_tiling):  # type: ignore[arg-type]
            frames = self.vae.decode(video_lat.to(self.vae.dtype), dec_t, return_dict=False)[0]
            frames = ((frames.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 4, 1)  # B,F,H,W,3
        with sw.phase("decode_audio"):
            mel = self.audio_vae.decode(audio_lat.to(self.audio_vae.dtype), return_dict=False)[0]
            wave = self.vocoder(mel.to(self.vocoder.dtype)).float()
        self.maybe_free_model_hooks()
        dec.__exit__(None, None, None)
        if output_type == "np":
            return IDLoRAPipelineOutput(
                frames.cpu().numpy(), wave.cpu().numpy(), self.audio_sample_rate, results
            )
        return IDLoRAPipelineOutput(frames, wave, self.audio_sample_rate, results)


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


__all__ = [
    "Cancelled",
    "IDLoRAPipeline",
    "IDLoRAPipelineOutput",
    "StageLatents",
    "latent_preview",
]
