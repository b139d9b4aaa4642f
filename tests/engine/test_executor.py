"""The fast pass executor equals the sequential one (tiny LTX-2 / LTX-2.3, float32, CPU)."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from engine.pipeline import lanes as L  # noqa: E402
from engine.pipeline.denoise import (  # noqa: E402
    DenoiseState,
    TextEmbeds,
    default_stg_mode,
    denoise,
    pass_inputs,
)
from engine.pipeline.executor import (  # noqa: E402
    FastExecutor,
    SequentialExecutor,
    make_executor,
)
from engine.pipeline.guidance import GuidanceScales, PassSpec, build_pass_specs  # noqa: E402
from engine.pipeline.positions import audio_coords, video_coords  # noqa: E402
from engine.pipeline.stg import STGMode, install_stg_processors  # noqa: E402

TOL = 1e-5
STG_BLOCK = 1


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiny model is dominated by per-op overhead; extra threads only contend (CI has 2
    cores shared by two xdist workers)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module", params=["ltx2", "ltx2.3"])
def transformer(request):
    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components(request.param)["transformer"].float().eval()
    install_stg_processors(tr, [STG_BLOCK], default_stg_mode(tr))
    tr._variant = request.param
    return tr


def _dims(tr):
    cfg = tr.config
    if cfg.use_prompt_embeddings:
        return cfg.caption_channels, cfg.caption_channels
    return (
        cfg.num_attention_heads * cfg.attention_head_dim,
        cfg.audio_num_attention_heads * cfg.audio_attention_head_dim,
    )


def make_state(tr, seed=1, lf=2, lh=2, lw=3, nr=5, nt=7, text_len=6, text_seed=None):
    """A random denoising state (first latent frame clean, ``nr`` reference tokens)."""
    cfg = tr.config
    g = torch.Generator().manual_seed(seed)
    gt = torch.Generator().manual_seed(seed if text_seed is None else text_seed)

    def r(*s, gen=g):
        return torch.randn(*s, generator=gen)

    vd, ad = _dims(tr)

    def text():
        mask = torch.ones(1, text_len, dtype=torch.long)
        return TextEmbeds(r(1, text_len, vd, gen=gt), r(1, text_len, ad, gen=gt), mask)

    nv = lf * lh * lw
    video = r(1, nv, cfg.in_channels)
    mask = torch.ones(1, nv)
    mask[:, : lh * lw] = 0
    return DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=r(1, nr, cfg.audio_in_channels),
        audio=r(1, nt, cfg.audio_in_channels),
        video_coords=video_coords(1, lf, lh, lw, 25.0),
        audio_coords=audio_coords(1, nr, nt),
        positive=text(),
        negative=text(),
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
        fps=25.0,
    )


def _copy(state):
    import dataclasses

    return dataclasses.replace(state, video=state.video.clone(), audio=state.audio.clone())


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def _uct(tr):
    return tr._variant == "ltx2.3"


COMBOS = list(itertools.product([False, True], repeat=5))


def _scales(combo):
    vcfg, acfg, ident, stg, mod = combo
    return GuidanceScales(
        video_cfg=3.0 if vcfg else 1.0,
        audio_cfg=7.0 if acfg else 1.0,
        identity=3.0 if ident else 0.0,
        stg=1.0 if stg else 0.0,
        modality=3.0 if mod else 1.0,
        stg_block=STG_BLOCK,
    )


def test_fast_equals_sequential_for_every_guidance_combination(transformer) -> None:
    """Two denoising steps (the second reuses cached keys/values) with each of the 32 on/off
    combinations of video CFG, audio CFG, identity, STG and modality guidance: final latents
    agree to < 1e-5 relative."""
    tr = transformer
    base = make_state(tr)
    sigmas = [1.0, 0.6, 0.0]
    worst = 0.0
    for combo in COMBOS:
        scales = _scales(combo)
        seq = denoise(
            tr,
            _copy(base),
            sigmas,
            scales,
            use_cross_timestep=_uct(tr),
            pass_runner=SequentialExecutor(),
        )
        fast = denoise(
            tr,
            _copy(base),
            sigmas,
            scales,
            use_cross_timestep=_uct(tr),
            pass_runner=FastExecutor(compile=False),
        )
        for a, b in ((fast.video, seq.video), (fast.audio, seq.audio)):
            err = rel(a, b)
            worst = max(worst, err)
            assert err < TOL, (combo, err)
    # the comparison is not vacuous: guidance moves the result
    plain = denoise(
        tr,
        _copy(base),
        sigmas,
        _scales((False,) * 5),
        use_cross_timestep=_uct(tr),
        pass_runner=SequentialExecutor(),
    )
    full = denoise(
        tr,
        _copy(base),
        sigmas,
        _scales((True,) * 5),
        use_cross_timestep=_uct(tr),
        pass_runner=FastExecutor(compile=False),
    )
    assert rel(full.video, plain.video) > 1e-3 and rel(full.audio, plain.audio) > 1e-3


def test_every_pass_equals_its_sequential_pass(transformer) -> None:
    """Per-pass x0 (not only the guided sum) match, for all five passes at once."""
    tr = transformer
    st = make_state(tr, seed=3)
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    assert [s.name for s in specs] == ["cond", "negative", "identity", "stg", "modality"]
    seq = SequentialExecutor()(tr, specs, st, 0.55, _uct(tr))
    fast = FastExecutor(compile=False)(tr, specs, st, 0.55, _uct(tr))
    assert list(fast) == list(seq)
    for name in seq:
        for a, b in zip(fast[name], seq[name], strict=True):
            assert a.shape == b.shape
            assert rel(a, b) < TOL, name
    # each pass differs from the conditional one (each perturbation does something)
    for name in ("negative", "stg", "modality"):
        assert rel(seq[name][0], seq["cond"][0]) > 1e-4, name


def test_stg_lane_forks_at_its_block(transformer) -> None:
    """The STG lane joins the batch at its perturbed block: with all passes on the 2-block tiny
    model, the main group runs 3 lanes through block 0 and 4 through block 1, the identity
    group 1 lane through both: 9 lane-blocks instead of 10."""
    tr = transformer
    st = make_state(tr)
    ex = FastExecutor(compile=False)
    ex(tr, build_pass_specs(GuidanceScales(stg_block=STG_BLOCK)), st, 0.5, _uct(tr))
    assert ex.stats == {"forwards": 2, "lane_blocks": 9, "sequential_passes": 0}
    ex2 = FastExecutor(compile=False, share_prefix=False)
    ex2(tr, build_pass_specs(GuidanceScales(stg_block=STG_BLOCK)), st, 0.5, _uct(tr))
    assert ex2.stats["lane_blocks"] == 10


def _block_inputs(tr, st, sigma=0.6):
    """Group inputs and lane hidden states (3 identical lanes) entering block 0."""
    ex = FastExecutor(compile=False)
    spec = PassSpec("cond")
    inp = pass_inputs(tr, spec, st, sigma, _uct(tr))
    g = ex._group_inputs(tr, st, inp, _uct(tr), {"positive"})
    h = tr.proj_in(inp.kwargs["hidden_states"])
    a = tr.audio_proj_in(inp.kwargs["audio_hidden_states"])
    kv = {"positive": L.block_text_kv(tr.transformer_blocks[0], g.texts["positive"], g)}
    return g, h, a, kv


@pytest.mark.parametrize("mode", [L.STG_VALUE, L.STG_DROP])
def test_per_lane_masks_touch_only_their_lanes(transformer, mode) -> None:
    """In one batch [plain, STG, isolated], each lane equals that lane run alone, and the plain
    lane is untouched by its neighbours' perturbations."""
    tr = transformer
    st = make_state(tr, seed=4)
    block = tr.transformer_blocks[0]
    g, h, a, kv = _block_inputs(tr, st)
    h3, a3 = h.expand(3, -1, -1).clone(), a.expand(3, -1, -1).clone()
    # make the lanes' inputs differ so a leak between lanes would show
    h3[1] += 0.1
    h3[2] -= 0.1
    a3[2] += 0.05
    runs = ((0, 3, "positive"),)
    both, both_a = L.block_forward(
        block, h3, a3, g, kv, L.BlockPlan(3, runs, n_cross=2, stg_lanes=(1,), stg_mode=mode)
    )

    def alone(i, stg, isolated):
        plan = L.BlockPlan(
            1,
            ((0, 1, "positive"),),
            n_cross=0 if isolated else 1,
            stg_lanes=(0,) if stg else (),
            stg_mode=mode,
        )
        return L.block_forward(block, h3[i : i + 1], a3[i : i + 1], g, kv, plan)

    for i, (stg, iso) in enumerate([(False, False), (True, False), (False, True)]):
        ref_h, ref_a = alone(i, stg, iso)
        assert rel(both[i : i + 1], ref_h) < TOL and rel(both_a[i : i + 1], ref_a) < TOL, i
    # and the perturbations change their lane (against the same input unperturbed)
    for i in (1, 2):
        plain_h, _ = alone(i, False, False)
        assert rel(both[i : i + 1], plain_h) > 1e-4, i


def test_stg_skip_mode_drops_the_self_attention_contribution(transformer) -> None:
    """``STG_DROP`` (LTX-2's ltx-core) equals diffusers' block with both self-attention outputs
    forced to zero and the engine's DROP processor; ``STG_VALUE`` equals the VALUE processor."""
    tr = transformer
    st = make_state(tr, seed=5)
    block = tr.transformer_blocks[0]
    g, h, a, kv = _block_inputs(tr, st)
    runs = ((0, 1, "positive"),)
    skip_h, skip_a = L.block_forward(
        block, h, a, g, kv, L.BlockPlan(1, runs, 1, stg_lanes=(0,), stg_mode=L.STG_DROP)
    )
    # diffusers' block with both self-attentions returning zeros, through the model forward
    inp = pass_inputs(tr, PassSpec("cond"), st, 0.6, _uct(tr))
    captured = {}

    def zero(module, args, output):
        return torch.zeros_like(output)

    def grab(module, args, output):
        captured["out"] = output

    hooks = [
        block.attn1.register_forward_hook(zero),
        block.audio_attn1.register_forward_hook(zero),
        block.register_forward_hook(grab),
    ]
    try:
        tr(**inp.kwargs)
    finally:
        for hk in hooks:
            hk.remove()
    ref_h, ref_a = captured["out"]
    assert rel(skip_h, ref_h) < TOL and rel(skip_a, ref_a) < TOL
    # the engine's STG processors through diffusers' forward, both modes (block 0 perturbed)
    refs = {}
    for mode in (STGMode.DROP, STGMode.VALUE):
        install_stg_processors(tr, [0], mode)
        hooks = [block.register_forward_hook(grab)]
        try:
            tr(**inp.kwargs, spatio_temporal_guidance_blocks=[0])
        finally:
            for hk in hooks:
                hk.remove()
        refs[mode] = captured["out"]
    assert rel(skip_h, refs[STGMode.DROP][0]) < TOL and rel(skip_a, refs[STGMode.DROP][1]) < TOL
    val_h, val_a = L.block_forward(
        block, h, a, g, kv, L.BlockPlan(1, runs, 1, stg_lanes=(0,), stg_mode=L.STG_VALUE)
    )
    vref_h, vref_a = refs[STGMode.VALUE]
    assert rel(val_h, vref_h) < TOL and rel(val_a, vref_a) < TOL
    assert rel(val_h, skip_h) > 1e-4


def test_caches_follow_prompt_size_and_reference(transformer) -> None:
    """One executor reused across changing inputs never serves stale caches: after each change
    the result still equals the sequential executor's, and repeated calls hit the caches."""
    tr = transformer
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    ex = FastExecutor(compile=False)
    seq = SequentialExecutor()

    def check(st, sigma=0.5):
        f = ex(tr, specs, st, sigma, _uct(tr))
        s = seq(tr, specs, st, sigma, _uct(tr))
        for name in s:
            for x, y in zip(f[name], s[name], strict=True):
                assert x.shape == y.shape and rel(x, y) < TOL, name
        return f

    st = make_state(tr, seed=1)
    first = check(st, 0.8)
    hits = ex.texts.hits, ex.ropes.hits
    check(st, 0.4)  # next step: same prompt, size and reference -> cached
    assert ex.texts.hits > hits[0] and ex.ropes.hits > hits[1]
    if not tr.config.cross_attn_mod:  # LTX-2: text keys/values kept across steps
        assert len(ex.kv) == 2
    # new prompt (other text embeddings)
    st2 = make_state(tr, seed=1, text_seed=9)
    out2 = check(st2, 0.8)
    assert rel(out2["cond"][0], first["cond"][0]) > 1e-4
    # the same prompt tensor edited in place
    st2.positive.video.add_(0.5)
    check(st2, 0.8)
    # new size
    check(make_state(tr, seed=1, lf=3, lh=2, lw=2))
    # new reference length
    check(make_state(tr, seed=1, nr=9))
    # no reference at all (identity pass dropped)
    st0 = make_state(tr, seed=1, nr=0)
    specs0 = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK), has_reference=False)
    f = ex(tr, specs0, st0, 0.5, _uct(tr))
    s = seq(tr, specs0, st0, 0.5, _uct(tr))
    assert "identity" not in f and all(rel(f[k][0], s[k][0]) < TOL for k in s)
    ex.reset()
    assert len(ex.kv) == len(ex.texts) == len(ex.ropes) == 0


def test_masked_text_tokens_use_the_bias(transformer) -> None:
    """A prompt with padded (masked) tokens: same result as the sequential path, which differs
    from ignoring the mask."""
    tr = transformer
    st = make_state(tr, seed=6)
    st.positive.mask[:, :2] = 0
    specs = [PassSpec("cond")]
    f = FastExecutor(compile=False)(tr, specs, st, 0.5, _uct(tr))
    s = SequentialExecutor()(tr, specs, st, 0.5, _uct(tr))
    assert rel(f["cond"][0], s["cond"][0]) < TOL
    st.positive.mask[:] = 1
    unmasked = SequentialExecutor()(tr, specs, st, 0.5, _uct(tr))
    assert rel(unmasked["cond"][0], s["cond"][0]) > 1e-4


def test_prompts_with_and_without_masked_tokens_share_one_batch(transformer) -> None:
    """Lanes of two prompts in one attention call: one prompt padded (bias), the other not (a
    zero bias stands in for it); and prompts of different lengths (one call per prompt). Both
    equal the sequential executor."""
    tr = transformer
    specs = build_pass_specs(GuidanceScales(identity=0.0, stg=0.0, modality=1.0))
    assert [s.name for s in specs] == ["cond", "negative"]
    st = make_state(tr, seed=8)
    st.negative.mask[:, :3] = 0
    for state in (st, _with_negative_length(tr, make_state(tr, seed=8), 9)):
        f = FastExecutor(compile=False)(tr, specs, state, 0.5, _uct(tr))
        s = SequentialExecutor()(tr, specs, state, 0.5, _uct(tr))
        for name in s:
            for x, y in zip(f[name], s[name], strict=True):
                assert rel(x, y) < TOL, name


def _with_negative_length(tr, st, length):
    g = torch.Generator().manual_seed(5)
    vd, ad = _dims(tr)
    st.negative = TextEmbeds(
        torch.randn(1, length, vd, generator=g),
        torch.randn(1, length, ad, generator=g),
        torch.ones(1, length, dtype=torch.long),
    )
    return st


def test_timestep_grouping_is_found_once_per_mask(transformer, monkeypatch) -> None:
    """Which tokens share a timestep is computed once per mask (``torch.unique`` waits for the
    GPU), reused at the next steps, and found again when the mask changes in place."""
    tr = transformer
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    st = make_state(tr, seed=2)
    ex = FastExecutor(compile=False)
    calls = []
    real_unique = torch.unique

    def counting_unique(*a, **k):
        calls.append(1)
        return real_unique(*a, **k)

    monkeypatch.setattr(torch, "unique", counting_unique)
    ex(tr, specs, st, 0.9, _uct(tr))
    first = len(calls)
    assert first == 3  # video mask, audio with the reference, audio without it
    for sigma in (0.6, 0.0, 0.3):  # later steps, sigma 0 included: no new grouping
        f = ex(tr, specs, st, sigma, _uct(tr))
    assert len(calls) == first
    s = SequentialExecutor()(tr, specs, st, 0.3, _uct(tr))
    assert all(rel(f[k][0], s[k][0]) < TOL and rel(f[k][1], s[k][1]) < TOL for k in s)
    # the first frame's mask edited in place: a new grouping, still exact
    st.video_mask[:, :2] = 1.0
    f = ex(tr, specs, st, 0.3, _uct(tr))
    s = SequentialExecutor()(tr, specs, st, 0.3, _uct(tr))
    assert len(calls) == first + 1
    assert all(rel(f[k][0], s[k][0]) < TOL and rel(f[k][1], s[k][1]) < TOL for k in s)


def _add_random_lora(tr, std: float) -> None:
    """A peft LoRA adapter "idlora" on the attention projections, with random B matrices (so it
    changes the output)."""
    from peft import LoraConfig

    tr.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"]),
        adapter_name="idlora",
    )
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in tr.named_parameters():
            if "lora_B" in name:
                p.normal_(0, std)


def test_lora_adapted_transformer(transformer) -> None:
    """With a peft LoRA adapter on the block linears, fast still equals sequential (and the
    adapter changes the output, so it really ran)."""
    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components(transformer._variant)["transformer"].float().eval()
    install_stg_processors(tr, [STG_BLOCK], default_stg_mode(tr))
    st = make_state(tr, seed=7)
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    uct = _uct(transformer)
    before = SequentialExecutor()(tr, specs, st, 0.5, uct)
    _add_random_lora(tr, 0.1)
    seq = SequentialExecutor()(tr, specs, st, 0.5, uct)
    fast = FastExecutor(compile=False)(tr, specs, st, 0.5, uct)
    assert rel(seq["cond"][0], before["cond"][0]) > 1e-3
    for name in seq:
        for a, b in zip(fast[name], seq[name], strict=True):
            assert rel(a, b) < TOL, name


def test_fp8_quantized_lora_transformer(transformer) -> None:
    """The fp8_fast profile's transformer (fp8 linears under peft LoRA layers, CPU numerics of
    ``engine.fp8``): fast equals sequential, and the quantization really changed the result."""
    from engine.fp8 import quantize_linears
    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components(transformer._variant)["transformer"].float().eval()
    install_stg_processors(tr, [STG_BLOCK], default_stg_mode(tr))
    _add_random_lora(tr, 0.1)
    st = make_state(tr, seed=3)
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    uct = _uct(transformer)
    full = SequentialExecutor()(tr, specs, st, 0.5, uct)
    assert quantize_linears(tr) > 0
    seq = SequentialExecutor()(tr, specs, st, 0.5, uct)
    fast = FastExecutor(compile=False)(tr, specs, st, 0.5, uct)
    assert rel(seq["cond"][0], full["cond"][0]) > 1e-4
    for name in seq:
        for a, b in zip(fast[name], seq[name], strict=True):
            assert rel(a, b) < TOL, name


def test_caches_follow_lora_strengths_and_weight_edits(transformer) -> None:
    """One executor kept across LoRA changes (the stages of the two-stage / HQ presets switch
    adapters and strengths on the same transformer, with the same prompt tensors): the cached
    text projections and keys/values miss, and each result equals the sequential executor's."""
    from engine.models.tiny import build_tiny_components

    tr = build_tiny_components(transformer._variant)["transformer"].float().eval()
    install_stg_processors(tr, [STG_BLOCK], default_stg_mode(tr))
    _add_random_lora(tr, 0.3)
    st = make_state(tr, seed=7)
    specs = build_pass_specs(GuidanceScales(stg_block=STG_BLOCK))
    uct = _uct(transformer)
    ex = FastExecutor(compile=False)
    seq = SequentialExecutor()
    results = []

    def check():
        f, s = ex(tr, specs, st, 0.5, uct), seq(tr, specs, st, 0.5, uct)
        for name in s:
            for x, y in zip(f[name], s[name], strict=True):
                assert rel(x, y) < TOL, name
        results.append(s["cond"][0])

    check()
    misses = ex.texts.misses
    check()  # nothing changed: cached
    assert ex.texts.misses == misses
    tr.set_adapters(["idlora"], [0.25])
    check()
    tr.disable_adapters()
    check()
    tr.enable_adapters()
    with torch.no_grad():  # weights edited in place (as fuse_lora / load_state_dict do)
        tr.transformer_blocks[0].attn2.to_k.base_layer.weight.mul_(1.5)
    check()
    assert ex.texts.misses == misses + 3 * 2  # both prompts, three changes
    for a, b in itertools.pairwise(results[1:]):
        assert rel(a, b) > 1e-4  # every change changed the output


def test_unknown_pass_kwargs_and_group_offload_fall_back(transformer) -> None:
    """A pass spec with kwargs the lanes cannot express, and a group-offloaded transformer (its
    hooks sit on the block forwards the lanes do not call), run sequentially: same result."""
    from diffusers.hooks import apply_group_offloading

    from engine.models.tiny import build_tiny_components

    tr = transformer
    st = make_state(tr, seed=8)
    specs = [PassSpec("cond"), PassSpec("odd", kwargs={"attention_kwargs": {"scale": 0.5}})]
    ex = FastExecutor(compile=False)
    out = ex(tr, specs, st, 0.5, _uct(tr))
    ref = SequentialExecutor()(tr, specs, st, 0.5, _uct(tr))
    assert ex.stats["sequential_passes"] == 1 and list(out) == ["cond", "odd"]
    assert all(rel(out[k][0], ref[k][0]) < TOL for k in ref)

    off = build_tiny_components(tr._variant)["transformer"].float().eval()
    install_stg_processors(off, [STG_BLOCK], default_stg_mode(off))
    plain = FastExecutor(compile=False)(off, [PassSpec("cond")], st, 0.5, _uct(tr))
    apply_group_offloading(
        off, onload_device=torch.device("cpu"), offload_type="block_level", num_blocks_per_group=1
    )
    ex = FastExecutor(compile=False)
    res = ex(off, [PassSpec("cond")], st, 0.5, _uct(tr))
    assert ex.stats["sequential_passes"] == 1 and ex.stats["forwards"] == 0
    assert rel(res["cond"][0], plain["cond"][0]) < TOL


def test_make_executor_names(monkeypatch) -> None:
    assert make_executor().name == "fast"
    assert make_executor("sequential").name == "sequential"
    monkeypatch.setenv("IDLORA_EXECUTOR", "sequential")
    assert make_executor().name == "sequential"
    with pytest.raises(ValueError, match="unknown executor 'nope'"):
        make_executor("nope")


def test_pipeline_default_executor_is_fast_and_exact(tiny_pipeline) -> None:
    """A whole tiny generation (prompt encoding, image and voice conditioning, 2 steps with all
    guidances): the default (fast) executor gives the sequential executor's latents."""
    import math

    g = torch.Generator().manual_seed(5)
    img = torch.rand(3, 64, 64, generator=g) * 2 - 1
    t = torch.arange(16000 * 2) / 16000
    ref = (0.3 * torch.sin(2 * math.pi * 220 * t))[None]
    kw = dict(
        image=img,
        reference_audio=ref,
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=2,
        stg_block=1,
        output_type="latent",
    )
    outs = {}
    for name in (None, "sequential"):
        outs[name] = tiny_pipeline(
            "[VISUAL]: a man speaking",
            "bad",
            generator=torch.Generator().manual_seed(0),
            pass_executor=name,
            **kw,
        )
    assert rel(outs[None].frames, outs["sequential"].frames) < TOL
    assert rel(outs[None].audio, outs["sequential"].audio) < TOL
