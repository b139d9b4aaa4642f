"""Pass executors: how the guidance passes of one denoising step are run on the transformer.

An executor is a callable ``(transformer, specs, state, sigma, use_cross_timestep) -> {name:
(x0_video, x0_audio)}`` (the ``pass_runner`` of ``engine.pipeline.denoise``): it gets the pass
specs of ``engine.pipeline.guidance`` and returns one float32 x0 estimate per pass, so the
guidance arithmetic and the sampler never see how the passes ran (and a multi-GPU executor can
split the dict's entries across devices).

``SequentialExecutor``  every pass alone through diffusers' ``transformer.forward`` at batch 1,
                        as the reference does. The definition of the result.
``FastExecutor``        (the default) the same passes, exactly: passes with the same token count
                        run as the lanes of one batched forward (``engine.pipeline.lanes``) with
                        per-lane STG and modality isolation; an STG pass joins the batch at its
                        first perturbed block as a copy of the conditional lane (the two are
                        equal up to there); text keys/values, caption projections and RoPE tables
                        are cached while their inputs stay the same; the transformer block can be
                        compiled with ``torch.compile`` (``compile=True``; default on CUDA only).

Exactness: on the tiny model in float32, fast == sequential to < 1e-5 relative for every
combination of guidances (``tests/engine/test_executor.py``); the GPU benchmark prints the bf16
difference at full size.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.pipeline.denoise import (
    DenoiseState,
    PassInputs,
    TextEmbeds,
    pass_inputs,
    run_passes,
    velocity_to_x0,
)
from engine.pipeline.guidance import PassSpec

if TYPE_CHECKING:
    import torch

X0 = dict[str, tuple["torch.Tensor", "torch.Tensor"]]
PassExecutor = Callable[[Any, list[PassSpec], DenoiseState, float, bool], X0]

EXECUTORS = ("fast", "sequential")
# Environment override for the default executor (benchmarks, bisecting a suspected executor bug).
EXECUTOR_ENV = "IDLORA_EXECUTOR"

# Spec kwargs the fast executor understands; a spec with anything else runs sequentially.
_STG_KW = "spatio_temporal_guidance_blocks"
_ISOLATE_KW = "isolate_modalities"


class SequentialExecutor:
    """Each pass alone through ``transformer.forward`` (batch 1, one after another)."""

    name = "sequential"

    def __call__(
        self,
        transformer: Any,
        specs: list[PassSpec],
        state: DenoiseState,
        sigma: float,
        use_cross_timestep: bool,
    ) -> X0:
        return run_passes(transformer, specs, state, sigma, use_cross_timestep)


@dataclass(frozen=True)
class Lane:
    """One pass as a batch element: which prompt, which blocks perturb its self-attention,
    whether its audio<->video cross-attention is off."""

    spec: PassSpec
    stg_blocks: frozenset[int]
    isolated: bool

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def prompt(self) -> str:
        return self.spec.prompt

    @property
    def sort_key(self) -> tuple[int, int]:
        # isolated lanes last (cross-attention runs on a prefix), negative prompts first
        return (int(self.isolated), 0 if self.prompt == "negative" else 1)

    def base_of(self, other: Lane) -> bool:
        """True if ``other`` equals this lane without its perturbation (its fork source)."""
        return (
            not other.stg_blocks
            and other.prompt == self.prompt
            and other.isolated == self.isolated
            and other.spec.with_reference == self.spec.with_reference
        )


def lane_of(spec: PassSpec) -> Lane | None:
    """The lane for ``spec``, or None when it asks for something the lanes cannot express."""
    if set(spec.kwargs) - {_STG_KW, _ISOLATE_KW}:
        return None
    blocks = frozenset(int(b) for b in (spec.kwargs.get(_STG_KW) or ()))
    return Lane(spec, blocks, bool(spec.kwargs.get(_ISOLATE_KW, False)))


@dataclass
class GroupPlan:
    """Lanes of one token-count group: ``start`` run from block 0 (sorted), ``forks`` join at a
    block as a copy of their base lane."""

    start: list[Lane]
    forks: dict[int, list[tuple[Lane, Lane]]]


def plan_group(lanes: list[Lane], share_prefix: bool = True) -> GroupPlan:
    """Order the lanes and decide which STG lanes fork from their base lane."""
    start: list[Lane] = []
    forks: dict[int, list[tuple[Lane, Lane]]] = {}
    plain = [ln for ln in lanes if not ln.stg_blocks]
    for ln in lanes:
        if not ln.stg_blocks:
            start.append(ln)
            continue
        base = next((b for b in plain if ln.base_of(b)), None) if share_prefix else None
        if base is None:
            start.append(ln)
        else:
            forks.setdefault(min(ln.stg_blocks), []).append((ln, base))
    start.sort(key=lambda ln: ln.sort_key)
    return GroupPlan(start, forks)


def text_runs(lanes: list[Lane]) -> tuple[tuple[int, int, str], ...]:
    """(start, end, prompt) runs of consecutive lanes sharing a prompt."""
    runs: list[tuple[int, int, str]] = []
    for i, ln in enumerate(lanes):
        if runs and runs[-1][2] == ln.prompt:
            runs[-1] = (runs[-1][0], i + 1, ln.prompt)
        else:
            runs.append((i, i + 1, ln.prompt))
    return tuple(runs)


def stg_mode_for(transformer: Any, block: int) -> str | None:
    """How the sequential path perturbs ``block``'s self-attention for an STG pass, read from
    the processor it would run: ``engine.pipeline.stg.STGAttnProcessor``'s mode ("drop" /
    "value"), "value" for diffusers' own perturbed processor, None where diffusers ignores the
    perturbation (a block without ``perturbed_attn``): the lanes then do the same."""
    from diffusers.models.transformers.transformer_ltx2 import LTX2PerturbedAttnProcessor

    from engine.pipeline.stg import STGAttnProcessor

    blk = transformer.transformer_blocks[block]
    proc = getattr(blk.attn1, "processor", None)
    if isinstance(proc, STGAttnProcessor):
        return str(proc.mode.value)
    if getattr(blk, "perturbed_attn", False) and isinstance(proc, LTX2PerturbedAttnProcessor):
        return "value"
    return None


# ----------------------------------------------------------------------------- caches


def tensor_key(t: Any) -> tuple[Any, ...] | None:
    """Identity of a tensor's contents for caching: storage, view geometry and version counter.

    The cache keeps the tensor alive (see ``_Cache``), so its storage cannot be recycled while
    the key is held; an in-place write bumps ``_version`` and misses.
    """
    if t is None:
        return None
    return (
        t.untyped_storage().data_ptr(),
        t.storage_offset(),
        tuple(t.shape),
        tuple(t.stride()),
        t.dtype,
        str(t.device),
        t._version,
    )


class _Cache:
    """A small LRU of computed values keyed by input tensors (kept alive with the value)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any, anchors: Any, compute: Callable[[], Any]) -> Any:
        if key in self._d:
            self._d.move_to_end(key)
            self.hits += 1
            return self._d[key][1]
        self.misses += 1
        value = compute()
        self._d[key] = (anchors, value)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
        return value

    def clear(self) -> None:
        self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


# ----------------------------------------------------------------------------- compile

_COMPILED: dict[str, Any] = {}


def _block_fn(compiled: bool) -> Any:
    from engine.pipeline import lanes

    if not compiled:
        return lanes.block_forward
    fn = _COMPILED.get("block")
    if fn is None:
        import torch

        # one graph per lane layout (batch, STG block, isolation) is expected: allow several
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        fn = torch.compile(lanes.block_forward, fullgraph=False, dynamic=False)
        _COMPILED["block"] = fn
    return fn


# ----------------------------------------------------------------------------- executor


class FastExecutor:
    """Batched, prefix-sharing, caching executor (see the module docstring).

    ``compile``: regional ``torch.compile`` of the transformer block (None: on CUDA only).
    ``cache_text_kv``: keep text keys/values across steps when they do not depend on sigma
    (LTX-2: ~1.2 GB per prompt at full size, bf16). ``share_prefix``: fork STG lanes from the
    conditional lane. ``attention_backends``: optional list of
    ``torch.nn.attention.SDPBackend`` to restrict SDPA to.
    """

    name = "fast"

    def __init__(
        self,
        *,
        compile: bool | None = None,
        cache_text_kv: bool = True,
        share_prefix: bool = True,
        attention_backends: list[Any] | None = None,
    ) -> None:
        self.compile = compile
        self.cache_text_kv = cache_text_kv
        self.share_prefix = share_prefix
        self.attention_backends = attention_backends
        self.ropes = _Cache(4)
        self.texts = _Cache(4)
        self.kv = _Cache(2)  # per prompt: {block index: (video k, v, audio k, v)}
        self.groupings = _Cache(4)  # per mask: which tokens share a timestep
        self.stats = {"forwards": 0, "lane_blocks": 0, "sequential_passes": 0}
        self._weights: tuple[Any, ...] = ()

    def reset(self) -> None:
        """Drop every cache (call when a generation ends to free their memory)."""
        self.ropes.clear()
        self.texts.clear()
        self.kv.clear()
        self.groupings.clear()

    # -------------------------------------------------------------- call

    def __call__(
        self,
        transformer: Any,
        specs: list[PassSpec],
        state: DenoiseState,
        sigma: float,
        use_cross_timestep: bool,
    ) -> X0:
        import torch

        out: X0 = {}
        scan = _scan(transformer) if _is_ltx2(transformer) else None
        if scan is None or scan[0]:  # not an LTX-2 transformer, or group offloaded
            self.stats["sequential_passes"] += len(specs)
            return run_passes(transformer, specs, state, sigma, use_cross_timestep)
        _onload(transformer)
        self._weights = scan[1]
        groups: dict[bool, list[Lane]] = {}
        for spec in specs:
            lane = lane_of(spec)
            if lane is None:
                out.update(run_passes(transformer, [spec], state, sigma, use_cross_timestep))
                self.stats["sequential_passes"] += 1
                continue
            groups.setdefault(spec.with_reference, []).append(lane)
        ctx = _attention_context(self.attention_backends, state.video.is_cuda)
        with torch.no_grad(), ctx:
            for lanes in groups.values():
                out.update(self._run_group(transformer, lanes, state, sigma, use_cross_timestep))
        return {s.name: out[s.name] for s in specs}

    # -------------------------------------------------------------- one group

    def _run_group(
        self,
        model: Any,
        lanes_in: list[Lane],
        state: DenoiseState,
        sigma: float,
        use_cross_timestep: bool,
    ) -> X0:
        import torch

        from engine.pipeline import lanes as L

        inputs = pass_inputs(model, lanes_in[0].spec, state, sigma, use_cross_timestep)
        kw = inputs.kwargs
        plan = plan_group(lanes_in, self.share_prefix)
        order = list(plan.start)

        g = self._group_inputs(
            model, state, inputs, use_cross_timestep, {ln.prompt for ln in lanes_in}
        )
        use_compile = self.compile if self.compile is not None else kw["hidden_states"].is_cuda
        block_fn = _block_fn(bool(use_compile))

        b = len(order)
        h = model.proj_in(kw["hidden_states"])
        a = model.audio_proj_in(kw["audio_hidden_states"])
        h = h.expand(b, *h.shape[1:])
        a = a.expand(b, *a.shape[1:])
        sigma_dep = g.temb_prompt is not None
        text_keys = {p: self._text_key(state, p) for p in g.texts}

        for i, block in enumerate(model.transformer_blocks):
            for lane, base in plan.forks.get(i, []):
                j = order.index(base)
                order.insert(j + 1, lane)
                h = torch.cat([h[: j + 1], h[j : j + 1], h[j + 1 :]], dim=0)
                a = torch.cat([a[: j + 1], a[j : j + 1], a[j + 1 :]], dim=0)
            n_cross = sum(1 for ln in order if not ln.isolated)
            stg_lanes = tuple(k for k, ln in enumerate(order) if i in ln.stg_blocks)
            mode = stg_mode_for(model, i) if stg_lanes else None
            bp = L.BlockPlan(
                batch=len(order),
                text_runs=text_runs(order),
                n_cross=n_cross,
                stg_lanes=stg_lanes if mode is not None else (),
                stg_mode=mode or L.STG_VALUE,
            )
            kv = {
                p: self._block_kv(block, i, g.texts[p], text_keys[p], g, sigma_dep) for p in g.texts
            }
            h, a = block_fn(block, h, a, g, kv, bp)
            self.stats["lane_blocks"] += len(order)
        self.stats["forwards"] += 1
        v_out, a_out = L.output_layer(model, h, a, g)
        result: X0 = {}
        for k, ln in enumerate(order):
            result[ln.name] = velocity_to_x0(inputs, v_out[k : k + 1], a_out[k : k + 1])
        return result

    # -------------------------------------------------------------- shared inputs

    def _text_key(self, state: DenoiseState, prompt: str) -> tuple[Any, ...]:
        text = state.positive if prompt == "positive" else state.negative
        if text is None:
            raise ValueError(f"prompt {prompt!r} has no embeddings")
        return (
            tensor_key(text.video),
            tensor_key(text.audio),
            tensor_key(text.mask),
            self._weights,
        )

    def _group_inputs(
        self,
        model: Any,
        state: DenoiseState,
        inputs: PassInputs,
        use_cross_timestep: bool,
        prompts: set[str],
    ) -> Any:
        from engine.pipeline import lanes as L

        kw = inputs.kwargs
        dtype = model.dtype
        # which tokens share a timestep follows from the masks alone (the timesteps are sigma
        # times them): found once per mask, so no step waits for the GPU (torch.unique)
        vm, am = inputs.video_mask, inputs.audio_mask
        v_group = a_group = None
        if vm is not None and am is not None:
            v_group = self.groupings.get(
                ("video", tensor_key(state.video_mask)),
                state.video_mask,
                lambda: L.token_index(vm[0]),
            )
            a_group = self.groupings.get(
                (
                    "audio",
                    am.shape[1] - state.audio.shape[1],  # reference tokens in this pass
                    state.audio.shape[1],
                    tensor_key(state.audio_mask),
                ),
                state.audio_mask,
                lambda: L.token_index(am[0]),
            )
        mods = L.modulations(
            model,
            kw["timestep"][:1],
            kw["audio_timestep"][:1],
            kw["sigma"][:1],
            kw["audio_sigma"][:1],
            use_cross_timestep,
            dtype,
            video_grouping=v_group,
            audio_grouping=a_group,
        )
        vc, ac = kw["video_coords"][:1], kw["audio_coords"][:1]
        rope = self.ropes.get(
            (tensor_key(vc), tensor_key(ac)), (vc, ac), lambda: L.ropes(model, vc, ac)
        )
        texts = {}
        for p in sorted(prompts):
            text: TextEmbeds = state.positive if p == "positive" else state.negative
            texts[p] = self.texts.get(
                self._text_key(state, p),
                text,
                lambda t=text: L.text_context(model, t.video[:1], t.audio[:1], t.mask[:1]),
            )
        return L.GroupInputs(texts=texts, **mods, **rope)

    def _block_kv(
        self, block: Any, index: int, text: Any, key: Any, g: Any, sigma_dep: bool
    ) -> tuple[Any, ...]:
        from engine.pipeline import lanes as L

        if sigma_dep or not self.cache_text_kv:
            return L.block_text_kv(block, text, g)
        per_block = self.kv.get(key, text, dict)
        if index not in per_block:
            per_block[index] = L.block_text_kv(block, text, g)
        return per_block[index]


def weights_key(transformer: Any) -> tuple[Any, ...]:
    """What the cached text projections and keys/values depend on besides the prompt: which
    transformer, the state of its peft LoRA layers (active adapters, their strengths, merged or
    disabled) and its weights' in-place edits (the sum of the parameters' version counters:
    ``fuse_lora``, ``load_state_dict`` and the like bump it). Stages that switch LoRAs or
    strengths between them can share one executor: the keys change and the caches miss."""
    return _scan(transformer)[1]


def _scan(transformer: Any) -> tuple[bool, tuple[Any, ...]]:
    """(group offloading on?, ``weights_key``) in one walk over the modules: the executor asks
    both at every step, and each walk over the ~3,000 modules of the full-size model costs
    milliseconds of CPU while the GPU waits (the step starts after the last one's sync)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        BaseTunerLayer = ()  # noqa: N806
    offloaded = False
    adapters = []
    versions = 0
    for m in transformer.modules():
        registry = m.__dict__.get("_diffusers_hook")  # (plain attribute; getattr on a module
        # without it goes through nn.Module.__getattr__'s exception: slow)
        if registry is not None and registry.get_hook(_GROUP_OFFLOADING) is not None:
            offloaded = True
        if isinstance(m, BaseTunerLayer):
            active = () if m.disable_adapters else tuple(m.active_adapters)
            scaling = getattr(m, "scaling", {})
            adapters.append((bool(m.merged), tuple((a, scaling.get(a)) for a in active)))
        for p in m._parameters.values():
            if p is not None:
                versions += _version(p)
    return offloaded, (id(transformer), hash(tuple(adapters)), versions)


_GROUP_OFFLOADING = "group_offloading"  # diffusers.hooks.group_offloading's hook name


def _version(t: Any) -> int:
    try:
        return int(t._version)
    except RuntimeError:  # an inference-mode tensor has no version counter (and cannot change)
        return 0


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _attention_context(backends: list[Any] | None, cuda: bool) -> Any:
    """SDPA backend selection for the lanes. Given ``backends``: exactly those. On CUDA by
    default: cuDNN first, then Flash, memory-efficient and math, as a priority order. On an
    H200 with torch 2.11 cuDNN ran the 4 x 32 x 4096 x 128 bf16 video self-attention in 1.64 ms
    against Flash's 3.1-3.3 ms, and PyTorch's own choice was already cuDNN (its generic priority
    list starts with Flash; Hopper is special-cased): the explicit order keeps that choice on
    other torch versions. Under ``torch.compile`` the choice is made while tracing, inside this
    context."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if backends:
        return sdpa_kernel(backends)
    if not cuda:
        return _null()
    order = [
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.MATH,
    ]
    try:
        return sdpa_kernel(order, set_priority=True)
    except TypeError:  # older torch without priorities: PyTorch's default order
        return _null()


def _is_ltx2(transformer: Any) -> bool:
    try:
        from diffusers import LTX2VideoTransformer3DModel
    except ImportError:  # pragma: no cover - diffusers without LTX-2
        return False
    return isinstance(transformer, LTX2VideoTransformer3DModel)


def _supported(transformer: Any) -> bool:
    """Whether the lanes can run this transformer: a diffusers LTX-2 transformer without group
    offloading (its hooks sit on the blocks' ``forward``, which the lanes do not call). Anything
    else (another class, a test double) runs sequentially."""
    return _is_ltx2(transformer) and not _scan(transformer)[0]


def _onload(transformer: Any) -> None:
    """Let accelerate's model-offload hook move the transformer to its device (it normally
    runs on ``transformer.forward``, which the lanes do not call)."""
    hook = getattr(transformer, "_hf_hook", None)
    if hook is not None and hasattr(hook, "pre_forward"):
        hook.pre_forward(transformer)


def make_executor(name: str | None = None, **options: Any) -> PassExecutor:
    """The executor called ``name`` ("fast" or "sequential"; default: ``$IDLORA_EXECUTOR`` or
    "fast"); ``options`` go to ``FastExecutor``."""
    name = name or os.environ.get(EXECUTOR_ENV) or "fast"
    if name == "fast":
        return FastExecutor(**options)
    if name == "sequential":
        return SequentialExecutor()
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")
