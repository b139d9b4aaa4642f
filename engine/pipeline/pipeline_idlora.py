"""``IDLoRAPipeline``: one-stage ID-LoRA sampling on diffusers' LTX-2 components.

Read top to bottom like a diffusers pipeline: ``__call__`` checks inputs, encodes the prompts,
prepares the first-frame video latents and the reference-voice audio tokens, builds positions
and the sigma schedule, runs the guided denoising loop (``engine.pipeline.denoise``) and decodes.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
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
    denoise,
)
from engine.pipeline.executor import EXECUTOR_ENV, make_executor
from engine.pipeline.guidance import GuidanceScales
from engine.pipeline.positions import DEFAULT_POSITION_DTYPE, audio_coords, video_coords
from engine.pipeline.schedule import ltx2_sigmas
from engine.pipeline.stg import STGMode

AUDIO_LATENTS_PER_SECOND = 25.0
PREVIEW_SEED = 20260310


@dataclass
class IDLoRAPipelineOutput:
    """``frames``: float (B, F, H, W, 3) in [0, 1] (numpy for "np", torch for "pt") or the
    unnormalised video latents (B, C, F, h, w) for ``output_type="latent"``; ``audio``: float
    (B, 2, N) waveform at ``sample_rate`` or the unnormalised target audio latents
    (B, C, L, M) for "latent"."""

    frames: Any
    audio: Any
    sample_rate: int


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

    model_cpu_offload_seq = "text_encoder->connectors->transformer->vae->audio_vae->vocoder"
    _optional_components: list[str] = []

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
        )
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
        hidden = hidden.to(device=device, dtype=self.connectors.dtype)
        video, audio, conn_mask = self.connectors(hidden, mask, padding_side="left")
        tdtype = self.transformer.dtype
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
        num_inference_steps: int = 30,
        video_guidance_scale: float = 3.0,
        audio_guidance_scale: float = 7.0,
        identity_guidance_scale: float = 3.0,
        stg_scale: float = 1.0,
        stg_block: int = 29,
        modality_scale: float = 3.0,
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
        output_type: str = "np",
        progress: Any | None = None,
        cancel: CancelToken | None = None,
        preview: bool = True,
        after_text_encoding: Any | None = None,
        stopwatch: Stopwatch | None = None,
        pass_executor: Any | None = None,
    ) -> IDLoRAPipelineOutput:
        """Generate a video with audio in the reference voice.

        Args:
            prompt / negative_prompt: tagged prompt and negative prompt.
            image: first frame, float (3, H, W) or (1, 3, H, W) in [-1, 1] at (height, width);
                None: no image conditioning (text-to-video).
            reference_audio: reference voice waveform (C, N) or (1, C, N) at
                ``reference_sample_rate``; None: no reference tokens (identity pass dropped).
            latents: initial packed video noise (1, Nv, C) in normalised space, or clean
                unnormalised latents (1, C, F, h, w) noised to ``sigmas[0]``.
            audio_latents: initial packed target audio noise (1, Nt, D), or clean unnormalised
                (1, C, L, M) latents noised to ``sigmas[0]``.
            sigmas: explicit schedule (``steps + 1`` values ending in 0); default the LTX-2 one.
            use_cross_timestep / stg_mode: None follows the model generation
                (``default_use_cross_timestep`` / ``default_stg_mode``: LTX-2 drops the STG
                block's self-attention, LTX-2.3 passes its values through).
            position_dtype: dtype of the RoPE coordinates: "bfloat16" (default) as the LoRA
                was trained, "float32" for exact positions (``engine.pipeline.positions``).
            progress: ``callable(step_report, preview_or_None)`` after each step.
            cancel: ``engine.api.CancelToken``; checked before every step, raises ``Cancelled``.
            output_type: "np", "pt" or "latent".
            after_text_encoding: called once the prompt embeddings exist (e.g. to free the
                text encoder's memory).
            stopwatch: ``engine.api.Stopwatch`` receiving the phases ``encode_prompt``,
                ``prepare``, ``denoise`` and ``decode``.
            pass_executor: runs one step's transformer passes
                (``engine.pipeline.guided.PassExecutor``): an executor object, or a name,
                "fast" (the default: batched, exact) or "sequential" (one after another).
        """
        sw = stopwatch or Stopwatch()
        # 1. check inputs
        scales = GuidanceScales(
            video_cfg=video_guidance_scale,
            audio_cfg=audio_guidance_scale,
            identity=identity_guidance_scale,
            stg=stg_scale,
            modality=modality_scale,
            stg_block=stg_block,
        )
        if image is not None and image.ndim == 3:
            image = image.unsqueeze(0)
        if reference_audio is not None and reference_audio.ndim == 2:
            reference_audio = reference_audio.unsqueeze(0)
        self.check_inputs(height, width, num_frames, num_inference_steps, scales, image)
        device = self._device()
        if use_cross_timestep is None:
            use_cross_timestep = default_use_cross_timestep(self.transformer)
        stg_mode = default_stg_mode(self.transformer) if stg_mode is None else STGMode(stg_mode)

        # 2. encode prompts (negative only when CFG is on), as one batch: the text encoder's
        # weights are read (or streamed from CPU memory) once
        with sw.phase("encode_prompt"):
            if scales.cfg_on:
                both = self.encode_text([prompt, negative_prompt], max_sequence_length)
                positive, negative = both.row(0), both.row(1)
            else:
                positive, negative = self.encode_text([prompt], max_sequence_length), None
        if after_text_encoding is not None:
            after_text_encoding()
        prep = sw.phase("prepare")
        prep.__enter__()

        # 3. video latents: first frame = VAE(image) with mask 0, the rest noise
        lf = (num_frames - 1) // self.vae_temporal + 1
        lh, lw = height // self.vae_spatial, width // self.vae_spatial
        channels = self.transformer.config.in_channels
        if sigmas is None:
            sigmas = ltx2_sigmas(num_inference_steps)
        sigmas = [float(s) for s in sigmas]
        if len(sigmas) != num_inference_steps + 1:
            raise ValueError("sigmas must hold num_inference_steps + 1 values")
        noise = randn_tensor(
            (1, channels, lf, lh, lw), generator=generator, device=device, dtype=torch.float32
        )
        video = self.pack_video(noise)
        if latents is not None:
            if latents.ndim == 5:  # clean unnormalised latents, noised to sigmas[0]
                clean = self.pack_video(self._video_norm(latents.to(device, torch.float32)))
                video = sigmas[0] * video + (1 - sigmas[0]) * clean
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

        # 4. reference voice -> clean prepended tokens; target audio noise (duration x 25/s)
        if reference_audio is not None:
            audio_ref = self.encode_reference_audio(reference_audio, reference_sample_rate).to(
                device
            )
        else:
            audio_ref = torch.zeros(
                (1, 0, self.transformer.config.audio_in_channels), device=device
            )
        num_target = round(num_frames / frame_rate * AUDIO_LATENTS_PER_SECOND)
        a_ch = self.audio_vae.config.latent_channels
        mel_lat = self.audio_vae.config.mel_bins // self.audio_vae.mel_compression_ratio
        audio_noise = randn_tensor(
            (1, a_ch, num_target, mel_lat), generator=generator, device=device, dtype=torch.float32
        )
        audio = self.pack_audio(audio_noise)
        if audio_latents is not None:
            if audio_latents.ndim == 4:
                clean_a = self._audio_norm(self.pack_audio(audio_latents.to(device, torch.float32)))
                audio = sigmas[0] * audio[:, : clean_a.shape[1]] + (1 - sigmas[0]) * clean_a
            else:
                audio = audio_latents.to(device, torch.float32)
            num_target = audio.shape[1]

        # 5. positions (reference audio at negative times)
        state = DenoiseState(
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

        prep.__exit__(None, None, None)

        # 6. denoising loop
        def on_step(rep: StepReport) -> None:
            if progress is not None:
                pv = latent_preview(rep.video_x0, lf, lh, lw) if preview else None
                progress(rep, pv)

        check = cancel.raise_if_cancelled if cancel is not None else None
        if callable(pass_executor):
            runner = pass_executor
        else:  # options from the memory profile (engine.memory.apply_profile)
            name = pass_executor or os.environ.get(EXECUTOR_ENV) or "fast"
            opts = getattr(self, "executor_options", {}) if name == "fast" else {}
            runner = make_executor(name, **opts)
        with sw.phase("denoise"):
            state = denoise(
                self.transformer,
                state,
                sigmas,
                scales,
                use_cross_timestep=use_cross_timestep,
                on_step=on_step,
                check_cancel=check,
                pass_runner=runner,
                stg_mode=stg_mode,
            )

        # 7. drop reference tokens (already separate), unnormalise
        video_lat = self._video_norm(self.unpack_video(state.video, lf, lh, lw), inverse=True)
        audio_lat = self.unpack_audio(self._audio_norm(state.audio, inverse=True), mel_lat)
        if not (torch.isfinite(video_lat).all() and torch.isfinite(audio_lat).all()):
            raise NonFiniteResultError(
                "the generation diverged: its final latents hold NaN or infinite values, so "
                "nothing usable can be decoded; lower the guidance scales or change the seed"
            )
        if output_type == "latent":
            return IDLoRAPipelineOutput(video_lat, audio_lat, self.audio_sample_rate)

        # 8. decode video (timestep/noise as diffusers' LTX-2 pipelines) and audio
        if cancel is not None:
            cancel.raise_if_cancelled()
        dec = sw.phase("decode")
        dec.__enter__()
        dec_t = None
        if self.vae.config.timestep_conditioning:
            norm = self._video_norm(video_lat)
            ns = decode_timestep if decode_noise_scale is None else decode_noise_scale
            dn = randn_tensor(norm.shape, generator=generator, device=device, dtype=norm.dtype)
            video_lat = self._video_norm((1 - ns) * norm + ns * dn, inverse=True)
            dec_t = torch.tensor([decode_timestep], device=device, dtype=self.vae.dtype)
        frames = self.vae.decode(video_lat.to(self.vae.dtype), dec_t, return_dict=False)[0]
        frames = ((frames.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 4, 1)  # (B, F, H, W, 3)
        mel = self.audio_vae.decode(audio_lat.to(self.audio_vae.dtype), return_dict=False)[0]
        wave = self.vocoder(mel.to(self.vocoder.dtype)).float()
        self.maybe_free_model_hooks()
        dec.__exit__(None, None, None)
        if output_type == "np":
            return IDLoRAPipelineOutput(
                frames.cpu().numpy(), wave.cpu().numpy(), self.audio_sample_rate
            )
        return IDLoRAPipelineOutput(frames, wave, self.audio_sample_rate)


__all__ = ["Cancelled", "IDLoRAPipeline", "IDLoRAPipelineOutput", "latent_preview"]
