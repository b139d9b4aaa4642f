"""Several guidance passes through diffusers' LTX-2 transformer as one batched forward ("lanes").

``engine.pipeline.executor.FastExecutor`` runs the passes of one denoising step that share a
token count as the lanes of one batch. This module is the arithmetic: it re-states diffusers'
``LTX2VideoTransformer3DModel.forward`` and ``LTX2VideoTransformerBlock.forward`` (0.42.1) over
the model's own sub-modules (so peft LoRA layers, fp8 linears and the attention processors'
weights are the ones the sequential path uses) with four differences, none of which changes
a lane's result:

* **Per-lane perturbations.** A lane may skip the self-attention of some blocks (STG; the
  contribution is dropped or replaced by the value projection, per model generation) and may
  run without the audio<->video cross-attention (modality isolation). Both act on their own
  batch elements only; isolated lanes sit at the end of the batch so the cross-attention runs
  on the contiguous prefix of the others and skips their work.
* **Shared inputs are computed once.** Every lane of a group sees the same latents, timesteps
  and positions (they differ only in prompt and perturbation), so the input projections,
  timestep embeddings and RoPE tables are computed at batch 1 and broadcast.
* **Per-token timestep embeddings by value.** diffusers embeds every token's timestep (4,096 rows
  of a 4,096 x 24,576 linear per modulation); the tokens hold only a few distinct timesteps
  (0 for clean tokens, sigma for the rest), so each distinct value is embedded once and the
  per-token modulation is a gather.
* **Text keys/values per prompt.** Lanes with the same prompt share the text cross-attention's
  keys and values; their queries are folded into one sequence against one copy of them. When the
  keys/values do not depend on the step (LTX-2: no prompt modulation) the executor caches them
  across steps.

Everything here is eager PyTorch; ``block_forward`` is the unit a regional ``torch.compile``
wraps. Shapes: video (B, Nv, D), audio (B, Na, Da); modulations (1, U, k*D) with a token index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_ltx2 import (
    apply_interleaved_rotary_emb,
    apply_split_rotary_emb,
)

STG_DROP = "drop"  # LTX-2 (ltx-core): the perturbed self-attention adds nothing
STG_VALUE = "value"  # LTX-2.3: the attention output is replaced by the values
# (the values of ``engine.pipeline.stg.STGMode``)


@dataclass
class Modulation:
    """Per-token modulation rows: ``rows`` (1, U, k*D) for U distinct timesteps and ``index``
    (N,) mapping each token to its row; ``index`` None means one row for every token."""

    rows: torch.Tensor
    index: torch.Tensor | None

    def params(self, table: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """diffusers' ``get_mod_params``: ``table`` (k, D) + rows, split into k (1, N|1, D)."""
        k = table.shape[0]
        u = self.rows.shape[1]
        ada = table[None, None].to(self.rows.device) + self.rows.reshape(1, u, k, -1)
        if self.index is not None:
            ada = ada[:, self.index]
        return ada.unbind(dim=2)

    def take(self) -> torch.Tensor:
        """The rows per token (1, N|1, k*D)."""
        return self.rows[:, self.index] if self.index is not None else self.rows


@dataclass
class TextContext:
    """One prompt's projected embeddings (1, L, D) / (1, L, Da) and its additive attention bias
    (1, 1, 1, L) or None when no token is masked."""

    video: torch.Tensor
    audio: torch.Tensor
    video_bias: torch.Tensor | None
    audio_bias: torch.Tensor | None


@dataclass
class GroupInputs:
    """What every block of one lane group needs besides the hidden states (shared by the lanes).

    ``texts`` maps a prompt name to its ``TextContext``; ``text_kv[block][prompt]`` holds cached
    (k, v) pairs for the video and audio text attention, or is filled per step.
    """

    temb: Modulation
    temb_audio: Modulation
    ca_video: Modulation  # a<->v scale/shift (4 params), video side
    ca_audio: Modulation
    ca_video_gate: Modulation  # a2v gate (1 param)
    ca_audio_gate: Modulation  # v2a gate
    temb_prompt: torch.Tensor | None  # LTX-2.3 prompt modulation rows (1, 1, 2D) or None
    temb_prompt_audio: torch.Tensor | None
    video_rope: tuple[torch.Tensor, torch.Tensor]
    audio_rope: tuple[torch.Tensor, torch.Tensor]
    ca_video_rope: tuple[torch.Tensor, torch.Tensor]
    ca_audio_rope: tuple[torch.Tensor, torch.Tensor]
    texts: dict[str, TextContext]
    embedded: Modulation  # output-layer modulation rows (video)
    embedded_audio: Modulation


@dataclass(frozen=True)
class BlockPlan:
    """The per-block layout of the lanes, as plain Python values (compile-friendly).

    ``text_runs``: (start, end, prompt) runs of consecutive lanes with the same prompt.
    ``n_cross``: lanes [0, n_cross) run the a<->v cross-attention; the rest are isolated.
    ``stg_lanes``: lanes whose self-attention this block perturbs (empty: none).
    """

    batch: int
    text_runs: tuple[tuple[int, int, str], ...]
    n_cross: int
    stg_lanes: tuple[int, ...] = ()
    stg_mode: str = STG_VALUE


@dataclass
class LaneState:
    """Hidden states of one group between blocks."""

    video: torch.Tensor
    audio: torch.Tensor
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- attention


def _rope(attn: Any, x: torch.Tensor, freqs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    if attn.rope_type == "interleaved":
        return apply_interleaved_rotary_emb(x, freqs)
    return apply_split_rotary_emb(x, freqs)


def _expand_rope(
    freqs: tuple[torch.Tensor, torch.Tensor], batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    cos, sin = freqs
    if cos.shape[0] == batch:
        return cos, sin
    return cos.expand(batch, *cos.shape[1:]), sin.expand(batch, *sin.shape[1:])


def _sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, bias: torch.Tensor | None
) -> torch.Tensor:
    """(B, Sq, H*D) x (B, Sk, H*D) -> (B, Sq, H*D), as diffusers' native backend computes it."""
    q, k, v = (t.unflatten(2, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=0.0, is_causal=False)
    return out.transpose(1, 2).flatten(2, 3)


def _finish(attn: Any, x_in: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-head gates (LTX-2.3) and the output projection."""
    if attn.to_gate_logits is not None:
        gates = 2.0 * torch.sigmoid(attn.to_gate_logits(x_in))  # (B, T, H)
        out = (out.unflatten(2, (attn.heads, -1)) * gates.unsqueeze(-1)).flatten(2, 3)
    out = attn.to_out[0](out)
    return attn.to_out[1](out)


def self_attention(
    attn: Any,
    x: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor],
    perturbed: torch.Tensor | None = None,
    mode: str = STG_VALUE,
) -> torch.Tensor:
    """Self-attention of ``x`` (B, T, C). ``perturbed`` (B, 1, 1) bool marks STG lanes: with
    ``STG_VALUE`` their attention output is the value projection; with ``STG_DROP`` the caller
    drops their contribution (``engine.pipeline.stg`` states both)."""
    q = attn.norm_q(attn.to_q(x))
    k = attn.norm_k(attn.to_k(x))
    v = attn.to_v(x)
    q = _rope(attn, q, rope)
    k = _rope(attn, k, rope)
    out = _sdpa(q, k, v, attn.heads, None).to(q.dtype)
    if perturbed is not None and mode == STG_VALUE:
        out = torch.where(perturbed, v, out)
    return _finish(attn, x, out)


def cross_attention(
    attn: Any,
    x: torch.Tensor,
    context: torch.Tensor,
    q_rope: tuple[torch.Tensor, torch.Tensor],
    k_rope: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """Audio<->video cross-attention (queries from ``x``, keys/values from ``context``)."""
    q = attn.norm_q(attn.to_q(x))
    k = attn.norm_k(attn.to_k(context))
    v = attn.to_v(context)
    q = _rope(attn, q, q_rope)
    k = _rope(attn, k, k_rope)
    out = _sdpa(q, k, v, attn.heads, None).to(q.dtype)
    return _finish(attn, x, out)


def text_kv(attn: Any, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of one prompt for a text cross-attention (1, L, H*D) each."""
    return attn.norm_k(attn.to_k(context)), attn.to_v(context)


def text_attention(
    attn: Any,
    x: torch.Tensor,
    runs: tuple[tuple[int, int, str], ...],
    kv: dict[str, tuple[torch.Tensor, torch.Tensor]],
    bias: dict[str, torch.Tensor | None],
) -> torch.Tensor:
    """Text cross-attention of all lanes against their prompts' keys/values (exact: queries are
    independent). One SDPA call over the batch: each lane gets its prompt's keys/values (a copy
    per lane, ~8 MB at full size) and bias. Folding a run's queries into one long sequence
    against a single copy was slower on the H200: cuDNN ran 3 x 4,096 folded queries at
    294 TFLOP/s against ~550 for 4,096 (torch 2.11). Prompts of different lengths fall back to
    one call per run."""
    q = attn.norm_q(attn.to_q(x))
    b, t, c = q.shape
    lengths = {kv[p][0].shape[1] for _, _, p in runs}
    if len(runs) == 1 or len(lengths) == 1:
        k = _per_lane(runs, {p: kk for p, (kk, _) in kv.items()})
        v = _per_lane(runs, {p: vv for p, (_, vv) in kv.items()})
        mask = None
        if any(bias[p] is not None for _, _, p in runs):
            mask = _per_lane(
                runs,
                {
                    p: bias[p] if bias[p] is not None else torch.zeros_like(_any_bias(bias))
                    for _, _, p in runs
                },
            )
        out = _sdpa(q, k, v, attn.heads, mask)
    else:
        outs = []
        for start, end, prompt in runs:
            kk, vv = kv[prompt]
            qr = q[start:end].reshape(1, (end - start) * t, c)
            outs.append(_sdpa(qr, kk, vv, attn.heads, bias[prompt]).reshape(end - start, t, c))
        out = torch.cat(outs, dim=0)
    return _finish(attn, x, out.to(q.dtype))


def _per_lane(
    runs: tuple[tuple[int, int, str], ...], per_prompt: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Stack a per-prompt (1, ...) tensor into (B, ...) following the lanes' prompts."""
    parts = [per_prompt[p].expand(end - start, *per_prompt[p].shape[1:]) for start, end, p in runs]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)


def _any_bias(bias: dict[str, torch.Tensor | None]) -> torch.Tensor:
    return next(b for b in bias.values() if b is not None)


# ----------------------------------------------------------------------------- block


def block_forward(
    block: Any,
    h: torch.Tensor,
    a: torch.Tensor,
    g: GroupInputs,
    kv: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    plan: BlockPlan,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``LTX2VideoTransformerBlock`` over the lanes of a group.

    ``kv[prompt] = (video_k, video_v, audio_k, audio_v)`` for the text attention of this block.
    """
    batch = h.shape[0]
    perturbed = None
    keep = None
    if plan.stg_lanes:
        lane = torch.arange(batch, device=h.device).view(batch, 1, 1)
        perturbed = torch.zeros(batch, 1, 1, dtype=torch.bool, device=h.device)
        for i in plan.stg_lanes:
            perturbed = perturbed | (lane == i)
        if plan.stg_mode == STG_DROP:
            keep = (~perturbed).to(h.dtype)

    # 1.1 video self-attention
    vp = g.temb.params(block.scale_shift_table)
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = vp[:6]
    norm_h = block.norm1(h) * (1 + scale_msa) + shift_msa
    attn_h = self_attention(
        block.attn1, norm_h, _expand_rope(g.video_rope, batch), perturbed, plan.stg_mode
    )
    contrib = attn_h * gate_msa
    h = h + (contrib * keep if keep is not None else contrib)

    # 1.2 audio self-attention
    ap = g.temb_audio.params(block.audio_scale_shift_table)
    a_shift_msa, a_scale_msa, a_gate_msa, a_shift_mlp, a_scale_mlp, a_gate_mlp = ap[:6]
    norm_a = block.audio_norm1(a) * (1 + a_scale_msa) + a_shift_msa
    attn_a = self_attention(
        block.audio_attn1, norm_a, _expand_rope(g.audio_rope, batch), perturbed, plan.stg_mode
    )
    contrib_a = attn_a * a_gate_msa
    a = a + (contrib_a * keep if keep is not None else contrib_a)

    # 2. text cross-attention (keys/values per prompt, precomputed)
    vkv = {p: (kk[0], kk[1]) for p, kk in kv.items()}
    akv = {p: (kk[2], kk[3]) for p, kk in kv.items()}
    vbias = {p: t.video_bias for p, t in g.texts.items()}
    abias = {p: t.audio_bias for p, t in g.texts.items()}
    norm_h = block.norm2(h)
    if block.video_cross_attn_adaln:
        shift_q, scale_q, gate_q = vp[6:9]
        norm_h = norm_h * (1 + scale_q) + shift_q
    attn_h = text_attention(block.attn2, norm_h, plan.text_runs, vkv, vbias)
    if block.video_cross_attn_adaln:
        attn_h = attn_h * gate_q
    h = h + attn_h

    norm_a = block.audio_norm2(a)
    if block.audio_cross_attn_adaln:
        a_shift_q, a_scale_q, a_gate_q = ap[6:9]
        norm_a = norm_a * (1 + a_scale_q) + a_shift_q
    attn_a = text_attention(block.audio_attn2, norm_a, plan.text_runs, akv, abias)
    if block.audio_cross_attn_adaln:
        attn_a = attn_a * a_gate_q
    a = a + attn_a

    # 3. audio<->video cross-attention on the non-isolated lanes [0, n_cross)
    n = plan.n_cross
    if n > 0:
        hx, ax = h[:n], a[:n]
        norm_h = block.audio_to_video_norm(hx)
        norm_a = block.video_to_audio_norm(ax)
        v_a2v_scale, v_a2v_shift, v_v2a_scale, v_v2a_shift = g.ca_video.params(
            block.video_a2v_cross_attn_scale_shift_table[:4, :]
        )
        (a2v_gate,) = g.ca_video_gate.params(block.video_a2v_cross_attn_scale_shift_table[4:, :])
        a_a2v_scale, a_a2v_shift, a_v2a_scale, a_v2a_shift = g.ca_audio.params(
            block.audio_a2v_cross_attn_scale_shift_table[:4, :]
        )
        (v2a_gate,) = g.ca_audio_gate.params(block.audio_a2v_cross_attn_scale_shift_table[4:, :])
        ca_v = _expand_rope(g.ca_video_rope, n)
        ca_a = _expand_rope(g.ca_audio_rope, n)

        mod_h = norm_h * (1 + v_a2v_scale) + v_a2v_shift
        mod_a = norm_a * (1 + a_a2v_scale) + a_a2v_shift
        a2v = cross_attention(block.audio_to_video_attn, mod_h, mod_a, ca_v, ca_a)
        hx = hx + a2v_gate * a2v

        mod_h = norm_h * (1 + v_v2a_scale) + v_v2a_shift
        mod_a = norm_a * (1 + a_v2a_scale) + a_v2a_shift
        v2a = cross_attention(block.video_to_audio_attn, mod_a, mod_h, ca_a, ca_v)
        ax = ax + v2a_gate * v2a
        if n == batch:
            h, a = hx, ax
        else:
            h = torch.cat([hx, h[n:]], dim=0)
            a = torch.cat([ax, a[n:]], dim=0)

    # 4. feed-forward
    norm_h = block.norm3(h) * (1 + scale_mlp) + shift_mlp
    h = h + block.ff(norm_h) * gate_mlp
    norm_a = block.audio_norm3(a) * (1 + a_scale_mlp) + a_shift_mlp
    a = a + block.audio_ff(norm_a) * a_gate_mlp
    return h, a


def block_text_kv(
    block: Any, text: TextContext, g: GroupInputs
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(video k, v, audio k, v) of one prompt for ``block``'s text attention (LTX-2.3's prompt
    modulation applied, which makes them depend on sigma)."""
    enc, aenc = text.video, text.audio
    if block.cross_attn_adaln:
        if g.temb_prompt is not None:
            shift_kv, scale_kv = Modulation(g.temb_prompt, None).params(
                block.prompt_scale_shift_table
            )
        else:
            shift_kv, scale_kv = (
                block.prompt_scale_shift_table[None, None].to(enc.device, enc.dtype).unbind(dim=2)
            )
        if g.temb_prompt_audio is not None:
            a_shift_kv, a_scale_kv = Modulation(g.temb_prompt_audio, None).params(
                block.audio_prompt_scale_shift_table
            )
        else:
            a_shift_kv, a_scale_kv = (
                block.audio_prompt_scale_shift_table[None, None]
                .to(aenc.device, aenc.dtype)
                .unbind(dim=2)
            )
        enc = enc * (1 + scale_kv) + shift_kv
        aenc = aenc * (1 + a_scale_kv) + a_shift_kv
    vk, vv = text_kv(block.attn2, enc)
    ak, av = text_kv(block.audio_attn2, aenc)
    return vk, vv, ak, av


# ----------------------------------------------------------------------------- model level


@dataclass
class TokenIndex:
    """Which tokens share a timestep: ``first`` (U,) the first token of each distinct value,
    ``index`` (N,) each token's row (None: one token)."""

    first: torch.Tensor
    index: torch.Tensor | None


def token_index(pattern: torch.Tensor) -> TokenIndex:
    """The grouping of a (N,) or (1,) per-token tensor by value (``torch.unique`` waits for the
    GPU: the executor computes this once per mask and reuses it across steps)."""
    flat = pattern.reshape(-1)
    if flat.numel() == 1:
        return TokenIndex(torch.zeros(1, dtype=torch.long, device=flat.device), None)
    values, index = torch.unique(flat, return_inverse=True)
    n = flat.numel()
    first = torch.full((values.numel(),), n, dtype=torch.long, device=flat.device)
    first.scatter_reduce_(0, index, torch.arange(n, device=flat.device), "amin")
    return TokenIndex(first, index)


def _distinct(
    ts: torch.Tensor, grouping: TokenIndex | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Distinct timestep values of ``ts`` and each token's index into them. ``grouping`` (from a
    mask ``ts`` is a multiple of) picks one token per value without waiting for the GPU."""
    flat = ts.reshape(-1)
    if grouping is None:
        grouping = token_index(flat)
    return flat[grouping.first], grouping.index


def _embed(module: Any, values: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """``LTX2AdaLayerNormSingle`` over distinct timestep values: (1, U, k*D), (1, U, D)."""
    temb, embedded = module(values, batch_size=1, hidden_dtype=dtype)
    return temb.unsqueeze(0), embedded.unsqueeze(0)


def modulations(
    model: Any,
    timestep: torch.Tensor,
    audio_timestep: torch.Tensor,
    sigma: torch.Tensor,
    audio_sigma: torch.Tensor,
    use_cross_timestep: bool,
    dtype: torch.dtype,
    video_grouping: TokenIndex | None = None,
    audio_grouping: TokenIndex | None = None,
) -> dict[str, Any]:
    """Every timestep-dependent modulation of one group (batch-1 inputs: the lanes share them).

    ``timestep`` (1, Nv) / ``audio_timestep`` (1, Na) per token, ``sigma`` / ``audio_sigma`` (1,).
    ``video_grouping`` / ``audio_grouping``: ``token_index`` of the masks the timesteps are
    multiples of (None: found from the timesteps, which waits for the GPU).
    """
    cfg = model.config
    v_vals, v_idx = _distinct(timestep[0], video_grouping)
    a_vals, a_idx = _distinct(audio_timestep[0], audio_grouping)
    temb, emb = _embed(model.time_embed, v_vals, dtype)
    temb_a, emb_a = _embed(model.audio_time_embed, a_vals, dtype)
    out: dict[str, Any] = {
        "temb": Modulation(temb, v_idx),
        "embedded": Modulation(emb, v_idx),
        "temb_audio": Modulation(temb_a, a_idx),
        "embedded_audio": Modulation(emb_a, a_idx),
        "temb_prompt": None,
        "temb_prompt_audio": None,
    }
    if model.prompt_modulation and cfg.use_prompt_adaln_single:
        tp, _ = model.prompt_adaln(sigma.flatten(), batch_size=1, hidden_dtype=dtype)
        tpa, _ = model.audio_prompt_adaln(audio_sigma.flatten(), batch_size=1, hidden_dtype=dtype)
        out["temb_prompt"] = tp.view(1, -1, tp.size(-1))
        out["temb_prompt_audio"] = tpa.view(1, -1, tpa.size(-1))
    gate_factor = cfg.cross_attn_timestep_scale_multiplier / cfg.timestep_scale_multiplier
    if use_cross_timestep:
        vca_vals, vca_idx = audio_sigma.flatten(), None
        aca_vals, aca_idx = sigma.flatten(), None
    else:
        vca_vals, vca_idx = v_vals, v_idx
        aca_vals, aca_idx = a_vals, a_idx
    vss, _ = _embed(model.av_cross_attn_video_scale_shift, vca_vals, dtype)
    vgate, _ = _embed(model.av_cross_attn_video_a2v_gate, vca_vals * gate_factor, dtype)
    ass, _ = _embed(model.av_cross_attn_audio_scale_shift, aca_vals, dtype)
    agate, _ = _embed(model.av_cross_attn_audio_v2a_gate, aca_vals * gate_factor, dtype)
    out["ca_video"] = Modulation(vss, vca_idx)
    out["ca_video_gate"] = Modulation(vgate, vca_idx)
    out["ca_audio"] = Modulation(ass, aca_idx)
    out["ca_audio_gate"] = Modulation(agate, aca_idx)
    return out


def ropes(
    model: Any, video_coords: torch.Tensor, audio_coords: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """RoPE tables (batch 1) for self- and cross-attention."""
    dev = video_coords.device
    return {
        "video_rope": model.rope(video_coords, device=dev),
        "audio_rope": model.audio_rope(audio_coords, device=dev),
        "ca_video_rope": model.cross_attn_rope(video_coords[:, 0:1, :], device=dev),
        "ca_audio_rope": model.cross_attn_audio_rope(audio_coords[:, 0:1, :], device=dev),
    }


def text_context(
    model: Any, video: torch.Tensor, audio: torch.Tensor, mask: torch.Tensor | None
) -> TextContext:
    """Project one prompt's embeddings (LTX-2 caption projection) and build its attention bias.

    The bias is dropped when no token is masked (adding zeros changes nothing, and SDPA without
    a mask may use faster kernels)."""
    dtype = model.dtype
    if model.config.use_prompt_embeddings:
        video = model.caption_projection(video)
        audio = model.audio_caption_projection(audio)
    vbias = abias = None
    if mask is not None and not bool((mask == 1).all()):
        vbias = ((1 - mask.to(dtype)) * -10000.0).view(1, 1, 1, -1)
        abias = ((1 - mask.to(audio.dtype)) * -10000.0).view(1, 1, 1, -1)
    return TextContext(video, audio, vbias, abias)


def output_layer(
    model: Any, h: torch.Tensor, a: torch.Tensor, g: GroupInputs
) -> tuple[torch.Tensor, torch.Tensor]:
    """Final norm, modulation and projection (diffusers' "Output layers")."""
    emb = g.embedded.take()  # (1, N|1, D)
    ssv = model.scale_shift_table[None, None] + emb[:, :, None]
    shift, scale = ssv[:, :, 0], ssv[:, :, 1]
    out = model.proj_out(model.norm_out(h) * (1 + scale) + shift)
    emb_a = g.embedded_audio.take()
    assv = model.audio_scale_shift_table[None, None] + emb_a[:, :, None]
    a_shift, a_scale = assv[:, :, 0], assv[:, :, 1]
    audio_out = model.audio_proj_out(model.audio_norm_out(a) * (1 + a_scale) + a_shift)
    return out, audio_out
