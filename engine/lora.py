"""Load ID-LoRA checkpoints (original LTX-2 key naming) into diffusers' LTX-2 transformer.

Public ID-LoRA checkpoints name their tensors like the original LTX-2 code:
``diffusion_model.transformer_blocks.N.<module>.lora_A.weight`` / ``lora_B.weight``.
diffusers' ``LTX2LoraLoaderMixin`` converts that naming, but it rejects (or silently drops)
some common variants, and peft only *warns* about keys that match no module. This module:

1. reads the safetensors file and normalises it: strips the ``model.diffusion_model.``,
   ``diffusion_model.``, ``transformer.`` and ``base_model.model.`` prefixes, renames
   ``lora_down``/``lora_up`` to ``lora_A``/``lora_B`` and folds ``.alpha`` keys into ``lora_B``
   (scaled by ``alpha / rank``), so peft's own scale is 1;
2. renames original module names to diffusers' with diffusers' LTX-2 converter;
3. checks every LoRA pair against the transformer's modules (name and shape). A checkpoint
   that matches nothing, or only partly, is an error (:class:`LoRAError`) naming the file and
   the keys, never a warning; no key kind is known to be safely ignorable, so none is skipped;
4. loads it as a named peft adapter (``pipe.load_lora_weights`` for pipelines so offload hooks
   are handled, ``transformer.load_lora_adapter`` for a bare transformer) and sets its strength.

Several adapters can be loaded at once (the ID-LoRA as ``idlora``, the distilled LoRA as
``distilled``). :func:`set_adapter_strengths` switches the whole set in one call -- the
two-stage presets use it between stages instead of reloading the transformer -- and
:func:`adapter_strengths` reads back what peft's layers actually hold.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.api import InvalidRequestError
from engine.fsutil import sha256_file

if TYPE_CHECKING:
    import torch

DEFAULT_ADAPTER = "idlora"

# Prefixes seen in the wild for the LTX-2 transformer, longest first.
_TRANSFORMER_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "base_model.model.")
_DIFFUSERS_PREFIX = "transformer."
_CONNECTOR_PREFIX = "text_embedding_projection."  # original naming of the text connectors

_SUFFIXES = {
    ".lora_A.weight": "A",
    ".lora_B.weight": "B",
    ".lora_down.weight": "A",
    ".lora_up.weight": "B",
    ".alpha": "alpha",
}

_BLOCK_INDEX = re.compile(r"\.(\d+)\.")

_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
#: The modules of every transformer block the public ID-LoRAs adapt (rank 128): audio
#: self-attention, the a<->v cross-attentions and the audio feed-forward (method.md).
IDLORA_TARGETS: tuple[str, ...] = (
    *(
        f"{a}.{p}"
        for a in ("audio_attn1", "audio_to_video_attn", "video_to_audio_attn")
        for p in _PROJECTIONS
    ),
    "audio_ff.net.0.proj",
    "audio_ff.net.2",
)
#: The modules the LTX-2 / LTX-2.3 distilled LoRAs (rank 384) adapt: every attention (video,
#: audio, text cross-attention, a<->v) and both feed-forwards of each block.
DISTILLED_TARGETS: tuple[str, ...] = (
    *(
        f"{a}.{p}"
        for a in (
            "attn1",
            "attn2",
            "audio_attn1",
            "audio_attn2",
            "audio_to_video_attn",
            "video_to_audio_attn",
        )
        for p in _PROJECTIONS
    ),
    "ff.net.0.proj",
    "ff.net.2",
    "audio_ff.net.0.proj",
    "audio_ff.net.2",
)


def random_lora_state_dict(
    transformer: Any,
    modules: tuple[str, ...],
    rank: int,
    generator: torch.Generator,
    *,
    prefix: str = "diffusion_model.",
    a_scale: float | None = None,
    b_scale: float = 1.0,
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """A random LoRA over ``modules`` of every block (``<prefix>transformer_blocks.N.<module>
    .lora_A/B.weight``), for the tiny test stack and the GPU benchmark -- never a real model.

    Per module, A then B are drawn from ``generator`` (on its device): A standard normal times
    ``a_scale`` (None: ``1/sqrt(in_features)``), B times ``b_scale``; cast to ``dtype``.
    """
    import math

    import torch

    named = dict(transformer.named_modules())
    device = generator.device
    sd: dict[str, torch.Tensor] = {}
    for i in range(len(transformer.transformer_blocks)):
        for m in modules:
            lin = named[f"transformer_blocks.{i}.{m}"]
            key = f"{prefix}transformer_blocks.{i}.{m}"
            a = torch.randn(rank, lin.in_features, generator=generator, device=device)
            b = torch.randn(lin.out_features, rank, generator=generator, device=device)
            a = a * (1.0 / math.sqrt(lin.in_features) if a_scale is None else a_scale)
            b = b * b_scale
            sd[f"{key}.lora_A.weight"] = (a if dtype is None else a.to(dtype)).contiguous()
            sd[f"{key}.lora_B.weight"] = (b if dtype is None else b.to(dtype)).contiguous()
    return sd


class LoRAError(InvalidRequestError):
    """A LoRA checkpoint that cannot be applied to the loaded model. ``path`` and ``keys`` name it."""

    def __init__(self, path: Path | str, problem: str, keys: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.problem = problem
        self.keys = keys
        shown = ", ".join(keys[:5])
        more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
        detail = f" Keys: {shown}{more}." if keys else ""
        super().__init__(f"LoRA {self.path.name}: {problem}.{detail}")


@dataclass(frozen=True)
class LoRAInfo:
    """What was loaded: file identity, rank, tensor count and the module kinds it targets.

    ``targets`` are module names with the block index removed (``transformer_blocks.audio_attn1
    .to_q``); ``n_modules`` counts adapted modules; ``alpha_folded`` tells whether ``.alpha``
    keys were folded into ``lora_B``.
    """

    path: Path
    sha256: str
    rank: int
    n_tensors: int
    targets: tuple[str, ...]
    n_modules: int = 0
    alpha_folded: bool = False
    adapter_name: str = DEFAULT_ADAPTER
    strength: float = 1.0


@dataclass
class _Pair:
    A: Any = None  # noqa: N815 - the LoRA names
    B: Any = None  # noqa: N815
    alpha: Any = None


# ----------------------------------------------------------------------------- reading


def _split_key(key: str) -> tuple[str, str, str] | None:
    """``key`` -> (namespace, module, part) with namespace ``transformer``/``connectors``."""
    suffix = next((s for s in _SUFFIXES if key.endswith(s)), None)
    if suffix is None:
        return None
    part = _SUFFIXES[suffix]
    module = key[: -len(suffix)]
    namespace = "transformer-original"
    for prefix in _TRANSFORMER_PREFIXES:
        if module.startswith(prefix):
            module = module[len(prefix) :]
            break
    else:
        if module.startswith(_DIFFUSERS_PREFIX):
            module = module[len(_DIFFUSERS_PREFIX) :]
            namespace = "transformer-diffusers"
    if module.startswith(_CONNECTOR_PREFIX):
        namespace = "connectors"
        module = module[len(_CONNECTOR_PREFIX) :]
    return namespace, module, part


def normalise_lora_state_dict(
    state_dict: dict[str, torch.Tensor], path: Path | str = "<state dict>"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Turn a LoRA state dict in any supported naming into diffusers' (``transformer.`` /
    ``connectors.`` prefixed, ``lora_A``/``lora_B``, alpha folded into ``lora_B``).

    Returns the converted dict and facts about it (``rank``, ``alpha_folded``, ``n_modules``,
    ``source_keys``: converted module name -> an original key, for error messages).
    Raises :class:`LoRAError` for unrecognised keys or incomplete A/B pairs.
    """
    import torch
    from diffusers.loaders.lora_conversion_utils import (
        _convert_non_diffusers_ltx2_lora_to_diffusers,
    )

    pairs: dict[tuple[str, str], _Pair] = {}
    origin: dict[tuple[str, str], str] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        split = _split_key(key)
        if split is None:
            unknown.append(key)
            continue
        namespace, module, part = split
        pair = pairs.setdefault((namespace, module), _Pair())
        setattr(pair, part, value)
        origin.setdefault((namespace, module), key)
    if unknown:
        raise LoRAError(
            path,
            f"{len(unknown)} tensors are not LoRA weights (expected *.lora_A/B.weight, "
            "*.lora_down/up.weight or *.alpha)",
            tuple(sorted(unknown)),
        )
    if not pairs:
        raise LoRAError(path, "the file contains no LoRA tensors")

    incomplete = [origin[k] for k, p in pairs.items() if p.A is None or p.B is None]
    if incomplete:
        raise LoRAError(
            path, "LoRA pairs without both A (down) and B (up) weights", tuple(incomplete)
        )

    original: dict[str, torch.Tensor] = {}
    diffusers_named: dict[str, torch.Tensor] = {}
    ranks: Counter[int] = Counter()
    alpha_folded = False
    for (namespace, module), pair in pairs.items():
        a, b = pair.A, pair.B
        rank = int(a.shape[0])
        if a.ndim < 2 or b.ndim < 2 or b.shape[1] != rank:
            raise LoRAError(
                path,
                f"lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not form a LoRA pair",
                (origin[(namespace, module)],),
            )
        ranks[rank] += 1
        if pair.alpha is not None:
            alpha = float(torch.as_tensor(pair.alpha).float().reshape(-1)[0])
            b = (b.float() * (alpha / rank)).to(b.dtype)
            alpha_folded = True
        if namespace == "transformer-diffusers":
            diffusers_named[f"transformer.{module}.lora_A.weight"] = a
            diffusers_named[f"transformer.{module}.lora_B.weight"] = b
            continue
        prefix = (
            "diffusion_model"
            if namespace == "transformer-original"
            else "text_embedding_projection"
        )
        original[f"{prefix}.{module}.lora_A.weight"] = a
        original[f"{prefix}.{module}.lora_B.weight"] = b

    converted: dict[str, torch.Tensor] = dict(diffusers_named)
    for prefix in ("diffusion_model", "text_embedding_projection"):
        if any(k.startswith(prefix + ".") for k in original):
            converted.update(_convert_non_diffusers_ltx2_lora_to_diffusers(original, prefix))

    # converted module name -> one original key, for messages
    source_keys: dict[str, str] = {}
    for (namespace, module), key in origin.items():
        probe_prefix = {
            "transformer-original": "diffusion_model",
            "connectors": "text_embedding_projection",
        }.get(namespace)
        if probe_prefix is None:
            name = f"transformer.{module}"
        else:
            probe = {f"{probe_prefix}.{module}.lora_A.weight": None}
            name = next(iter(_convert_non_diffusers_ltx2_lora_to_diffusers(probe, probe_prefix)))
            name = name.removesuffix(".lora_A.weight")
        source_keys[name] = key
    facts = {
        "rank": max(ranks) if ranks else 0,
        "ranks": dict(ranks),
        "alpha_folded": alpha_folded,
        "n_modules": len(pairs),
        "source_keys": source_keys,
    }
    return converted, facts


def read_lora_file(path: Path | str) -> tuple[dict[str, torch.Tensor], int]:
    """Load a ``.safetensors`` LoRA file: (state dict, tensor count). Errors become LoRAError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise LoRAError(path, "file not found")
    if path.suffix.lower() != ".safetensors":
        raise LoRAError(path, "only .safetensors LoRA files are supported")
    try:
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise LoRAError(path, f"not a readable safetensors file ({err})") from err
    return state_dict, len(state_dict)


# ----------------------------------------------------------------------------- matching


def _transformer_of(pipe_or_transformer: Any) -> Any:
    transformer = getattr(pipe_or_transformer, "transformer", None)
    return pipe_or_transformer if transformer is None else transformer


def _targets_for(owner: Any, namespace: str) -> Any:
    if namespace == "transformer":
        return _transformer_of(owner)
    return getattr(owner, "connectors", None)


def check_lora_matches(
    owner: Any, converted: dict[str, torch.Tensor], path: Path | str, source_keys: dict[str, str]
) -> list[str]:
    """Check every converted LoRA pair against the modules it targets; return matched names.

    Raises :class:`LoRAError` when nothing matches, when some pairs match no module, or when
    shapes disagree (a LoRA made for another model size or generation).
    """
    module_cache: dict[str, dict[str, Any]] = {}
    matched: list[str] = []
    unmatched: list[str] = []
    wrong_shape: list[str] = []
    for key, a in converted.items():
        if not key.endswith(".lora_A.weight"):
            continue
        name = key.removesuffix(".lora_A.weight")
        namespace, _, module_name = name.partition(".")
        if namespace not in module_cache:
            target = _targets_for(owner, namespace)
            module_cache[namespace] = dict(target.named_modules()) if target is not None else {}
        module = module_cache[namespace].get(module_name)
        shown = source_keys.get(name, key)
        if module is None:
            unmatched.append(shown)
            continue
        b = converted[f"{name}.lora_B.weight"]
        in_f = getattr(module, "in_features", None)
        out_f = getattr(module, "out_features", None)
        if in_f is None or out_f is None:
            wrong_shape.append(f"{shown} (module {module_name} is not a linear layer)")
        elif a.shape[1] != in_f or b.shape[0] != out_f:
            wrong_shape.append(f"{shown} (LoRA {a.shape[1]}->{b.shape[0]}, module {in_f}->{out_f})")
        else:
            matched.append(name)
    if not matched and not wrong_shape:
        raise LoRAError(
            path,
            "matches no module of the loaded transformer; is it an LTX-2 ID-LoRA checkpoint?",
            tuple(unmatched),
        )
    if wrong_shape:
        raise LoRAError(
            path,
            f"{len(wrong_shape)} LoRA layers do not fit the loaded model's layer sizes "
            "(made for another LTX-2 generation or size?)",
            tuple(wrong_shape),
        )
    if unmatched:
        raise LoRAError(
            path,
            f"{len(unmatched)} of {len(unmatched) + len(matched)} LoRA layers match no module "
            "of the loaded model",
            tuple(unmatched),
        )
    return matched


# ----------------------------------------------------------------------------- adapters


def _is_pipeline(obj: Any) -> bool:
    return hasattr(obj, "load_lora_weights") and hasattr(obj, "transformer")


def _adapter_names(pipe_or_transformer: Any) -> set[str]:
    transformer = _transformer_of(pipe_or_transformer)
    config = getattr(transformer, "peft_config", None)
    return set(config) if config else set()


def load_idlora(
    pipe_or_transformer: Any,
    path: Path,
    strength: float = 1.0,
    adapter_name: str = DEFAULT_ADAPTER,
) -> LoRAInfo:
    """Load an ID-LoRA ``.safetensors`` file as adapter ``adapter_name`` at ``strength``.

    ``pipe_or_transformer``: an LTX-2 diffusers pipeline (``LTX2LoraLoaderMixin``) or a bare
    ``LTX2VideoTransformer3DModel``. An adapter already loaded under the same name is replaced.
    Raises :class:`LoRAError` (an ``InvalidRequestError``) for unreadable files, keys that
    match no module (all or some), shape mismatches and incomplete pairs.
    """
    path = Path(path)
    state_dict, n_tensors = read_lora_file(path)
    converted, facts = normalise_lora_state_dict(state_dict, path)
    has_connectors = any(k.startswith("connectors.") for k in converted)
    if has_connectors and getattr(pipe_or_transformer, "connectors", None) is None:
        raise LoRAError(
            path,
            "it also adapts the text connectors, which a bare transformer does not have; "
            "load it into the pipeline",
            tuple(k for k in facts["source_keys"].values() if k.startswith(_CONNECTOR_PREFIX)),
        )
    matched = check_lora_matches(pipe_or_transformer, converted, path, facts["source_keys"])

    if adapter_name in _adapter_names(pipe_or_transformer):
        unload_idlora(pipe_or_transformer, adapter_name)
    others = adapter_strengths(pipe_or_transformer) if _adapter_names(pipe_or_transformer) else {}
    with warnings.catch_warnings():
        # peft warns whenever a second adapter joins the first: several are what we want
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        if _is_pipeline(pipe_or_transformer):
            pipe_or_transformer.load_lora_weights(converted, adapter_name=adapter_name)
        else:
            transformer = _transformer_of(pipe_or_transformer)
            transformer.load_lora_adapter(
                converted, prefix="transformer", adapter_name=adapter_name
            )
    # the adapters loaded before keep their strengths; the new one gets ``strength``
    set_adapter_strengths(pipe_or_transformer, {**others, adapter_name: float(strength)})

    targets = sorted({_BLOCK_INDEX.sub(".", m.partition(".")[2]) for m in matched})
    return LoRAInfo(
        path=path,
        sha256=sha256_file(path),
        rank=int(facts["rank"]),
        n_tensors=n_tensors,
        targets=tuple(targets),
        n_modules=len(matched),
        alpha_folded=bool(facts["alpha_folded"]),
        adapter_name=adapter_name,
        strength=float(strength),
    )


def set_lora_strength(
    pipe_or_transformer: Any, strength: float, adapter_name: str = DEFAULT_ADAPTER
) -> None:
    """Set one loaded adapter's strength (0 = off, 1 = as trained); the others keep theirs."""
    if adapter_name not in _adapter_names(pipe_or_transformer):
        raise InvalidRequestError(f"no LoRA adapter named {adapter_name!r} is loaded")
    strengths = adapter_strengths(pipe_or_transformer)
    strengths[adapter_name] = float(strength)
    set_adapter_strengths(pipe_or_transformer, strengths)


def set_adapter_strengths(pipe_or_transformer: Any, strengths: dict[str, float]) -> None:
    """Make exactly the adapters in ``strengths`` with a non-zero strength active, at those
    strengths; every other loaded adapter is switched off (it stays loaded).

    A strength of 0 deactivates the adapter, so the layers run the base weights exactly and
    peft skips the adapter's matmuls. Naming an adapter that is not loaded with a non-zero
    strength is an :class:`InvalidRequestError`.
    """
    loaded = _adapter_names(pipe_or_transformer)
    missing = sorted(n for n, w in strengths.items() if w != 0.0 and n not in loaded)
    if missing:
        raise InvalidRequestError(
            f"no LoRA adapter named {', '.join(map(repr, missing))} is loaded"
        )
    active = {n: float(w) for n, w in strengths.items() if n in loaded and w != 0.0}
    owner = (
        pipe_or_transformer
        if _is_pipeline(pipe_or_transformer)
        else _transformer_of(pipe_or_transformer)
    )
    if not loaded:
        return
    if not active:
        owner.disable_lora()
        return
    owner.enable_lora()
    owner.set_adapters(list(active), list(active.values()))


def adapter_strengths(pipe_or_transformer: Any) -> dict[str, float]:
    """``{adapter: strength}`` of every loaded adapter as peft's layers hold it (0 = inactive).

    Read from the first LoRA layer carrying each adapter: its scaling divided by
    ``lora_alpha / r`` (1 for the checkpoints this module loads, alpha being folded).
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    out = dict.fromkeys(_adapter_names(pipe_or_transformer), 0.0)
    pending = set(out)
    for module in _transformer_of(pipe_or_transformer).modules():
        if not pending:
            break
        if not isinstance(module, BaseTunerLayer):
            continue
        scaling = getattr(module, "scaling", {})
        for name in list(pending):
            if name not in scaling:
                continue
            pending.discard(name)
            if module.disable_adapters or name not in module.active_adapters:
                continue
            base = module.lora_alpha[name] / module.r[name]
            out[name] = float(scaling[name]) / base
    return out


def unload_idlora(pipe_or_transformer: Any, adapter_name: str = DEFAULT_ADAPTER) -> bool:
    """Remove the adapter; returns False when it was not loaded. The base weights are untouched."""
    if adapter_name not in _adapter_names(pipe_or_transformer):
        return False
    if _is_pipeline(pipe_or_transformer):
        pipe_or_transformer.delete_adapters(adapter_name)
    else:
        _transformer_of(pipe_or_transformer).delete_adapters(adapter_name)
    return True
