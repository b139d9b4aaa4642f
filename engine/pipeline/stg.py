"""STG (spatio-temporal guidance) self-attention perturbation, per model generation and per sample.

What "perturbed" means differs between the two code bases the ID-LoRA checkpoints were trained
and evaluated with (checked against the public ID-LoRA code, ``ltx-core`` transformer blocks):

* **LTX-2** (``packages/ltx-core``): a perturbed sample's self-attention *adds nothing* to the
  residual stream of the block. The block computes ``x + attn(norm(x)) * gate * mask`` with a
  per-sample mask (1 keep, 0 perturbed); with every sample perturbed it skips the attention
  altogether. Nothing of the attention module reaches the residual: no value projection, no
  ``to_out`` bias. -> :attr:`STGMode.DROP`.
* **LTX-2.3** (``ID-LoRA-2.3/packages/ltx-core``): *value passthrough*. The attention output
  (before the per-head gate and ``to_out``) is blended with the value projection,
  ``out = attn * mask + to_v(x) * (1 - mask)``; with every sample perturbed the query/key path
  is skipped and ``out = to_v(x)``. The per-head gate (``to_gate_logits``, LTX-2.3) and
  ``to_out`` (with its bias) are then applied as usual, and the block multiplies by its AdaLN
  gate. -> :attr:`STGMode.VALUE`.

diffusers' ``LTX2PerturbedAttnProcessor`` implements value passthrough only, which is right
for LTX-2.3 and wrong for LTX-2 (method.md, "Sampling": 15-37% relative error in the final
latents with STG on). Both modes perturb video *and* audio self-attention (the reference's
``stg_av`` mode) of the STG blocks only.

API (for the denoising loop and for batched executors)
------------------------------------------------------
1. ``install_stg_processors(transformer, blocks, mode)`` puts an :class:`STGAttnProcessor`
   of ``mode`` on ``attn1`` and ``audio_attn1`` of every block in ``blocks`` and marks those
   blocks ``perturbed_attn`` so that diffusers forwards the mask to them. Idempotent; a block
   keeps behaving exactly like the plain processor whenever no mask reaches it. The mode for a
   checkpoint comes from ``engine.pipeline.denoise.default_stg_mode`` (the same generation test
   that decides ``use_cross_timestep``).
2. Drive it through diffusers' own transformer arguments:
   ``transformer(..., spatio_temporal_guidance_blocks=blocks, perturbation_mask=m)`` with
   ``m`` a float tensor of shape ``(B,)``: **1 = normal attention, 0 = perturbed**, one value
   per batch element. Without ``perturbation_mask`` diffusers perturbs every element. Blocks not
   listed in ``spatio_temporal_guidance_blocks`` never see the mask.
   So one batched forward can hold the conditional pass (mask 1) and the STG pass (mask 0):
   each element's output equals the output of its own batch-1 run (up to the usual batched
   float rounding), in both modes.
3. Fractional masks blend linearly (LTX-2: the self-attention contribution is scaled by m;
   LTX-2.3: ``attn * m + v * (1 - m)``), as the public code does; ID-LoRA only uses 0 and 1.

The processor subclasses diffusers' ``LTX2PerturbedAttnProcessor``, so attention backends set
with ``transformer.set_attention_backend`` apply to it, and with no mask it runs exactly
diffusers' plain LTX-2 attention.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor


class STGMode(StrEnum):
    """How a perturbed sample's self-attention behaves (see the module docstring)."""

    DROP = "drop"  # LTX-2: the block's self-attention adds nothing
    VALUE = "value"  # LTX-2.3: value passthrough (to_v, then gate and to_out)


class STGAttnProcessor(LTX2PerturbedAttnProcessor):
    """Self-attention processor honouring a per-sample ``perturbation_mask`` in ``mode``.

    ``perturbation_mask``: ``(B, 1, 1)`` (diffusers unsqueezes a ``(B,)`` mask) with 1 keep and
    0 perturb; ``None`` means plain attention. ``all_perturbed`` may be given to skip the
    check (diffusers passes it).
    """

    def __init__(self, mode: STGMode | str) -> None:
        super().__init__()
        self.mode = STGMode(mode)

    def __call__(  # noqa: D102 - documented on the class
        self,
        attn: Any,
        hidden_states: Any,
        encoder_hidden_states: Any = None,
        attention_mask: Any = None,
        query_rotary_emb: Any = None,
        key_rotary_emb: Any = None,
        perturbation_mask: Any = None,
        all_perturbed: Any = None,
    ) -> Any:
        import torch

        mask = perturbation_mask
        if mask is not None:
            if mask.ndim == 1:
                mask = mask[:, None, None]
            mask = mask.to(device=hidden_states.device, dtype=hidden_states.dtype)
        if mask is None:
            everything = False
        elif all_perturbed is None:
            everything = bool(torch.all(mask == 0))
        else:
            everything = bool(all_perturbed)
        args = (attn, hidden_states, encoder_hidden_states, attention_mask)
        rope = (query_rotary_emb, key_rotary_emb)

        if self.mode is STGMode.VALUE:
            return super().__call__(*args, *rope, perturbation_mask=mask, all_perturbed=everything)

        # DROP: the attention output is multiplied by the mask before the block's gate, so a
        # perturbed sample's residual gets exactly zero (ltx-core: attn * gate * mask).
        if everything:
            batch, tokens = hidden_states.shape[:2]
            width = attn.to_out[0].out_features
            return hidden_states.new_zeros(batch, tokens, width)
        out = super().__call__(*args, *rope, perturbation_mask=None, all_perturbed=False)
        return out if mask is None else out * mask


def install_stg_processors(transformer: Any, blocks: list[int], mode: STGMode | str) -> None:
    """Give the video and audio self-attention of ``blocks`` an :class:`STGAttnProcessor`.

    Raises ``ValueError`` for a block the transformer does not have. Re-installing with the
    same mode changes nothing; another mode replaces the processors.
    """
    mode = STGMode(mode)
    n = len(transformer.transformer_blocks)
    for b in blocks:
        if not 0 <= b < n:
            raise ValueError(f"STG block {b} does not exist: the transformer has {n} blocks")
    for b in blocks:
        block = transformer.transformer_blocks[b]
        for attn in (block.attn1, block.audio_attn1):
            current = getattr(attn, "processor", None)
            if not (isinstance(current, STGAttnProcessor) and current.mode is mode):
                processor = STGAttnProcessor(mode)
                for setting in ("_attention_backend", "_parallel_config"):  # keep the backend
                    value = getattr(current, setting, None)
                    if value is not None:
                        setattr(processor, setting, value)
                attn.set_processor(processor)
        block.perturbed_attn = True


def installed_stg_mode(transformer: Any, block: int) -> STGMode | None:
    """The mode installed on ``block``'s video self-attention, or None (no STG processor)."""
    current = getattr(transformer.transformer_blocks[block].attn1, "processor", None)
    return current.mode if isinstance(current, STGAttnProcessor) else None


__all__ = ["STGAttnProcessor", "STGMode", "install_stg_processors", "installed_stg_mode"]
