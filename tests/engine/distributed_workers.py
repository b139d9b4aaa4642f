"""Code the distributed tests run in spawned processes (importable by the children).

``run_case`` denoises a fixed random state with the tiny LTX-2 transformer (float32, every
guidance on, a 2 s reference voice at negative RoPE times) through a given executor; the
parent runs it with the sequential executor in one process, the children with the parallel
executors on a 2-process gloo group.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

CASES = {
    # name: (latent frames, height, width, reference tokens, target audio tokens, text tokens)
    "even": (3, 2, 2, 5, 6, 8),
    # 3*3*3 = 27 video tokens, 7 text tokens: uneven splits (diffusers' "anything" variant)
    "uneven": (3, 3, 3, 5, 7, 7),
}
STEPS = 3


def build_transformer() -> Any:
    import torch

    from engine.models.tiny import _build_transformer

    torch.manual_seed(0)
    return _build_transformer("ltx2").eval()


def make_state(transformer: Any, case: str) -> Any:
    import torch

    from engine.pipeline.denoise import DenoiseState, TextEmbeds
    from engine.pipeline.positions import audio_coords, video_coords

    lf, lh, lw, nr, nt, length = CASES[case]
    cfg = transformer.config
    g = torch.Generator().manual_seed(11)
    nv = lf * lh * lw
    mask = torch.ones(1, nv)
    mask[:, : lh * lw] = 0.0  # first frame clean: per-token timesteps 0 there
    video = torch.randn(1, nv, cfg.in_channels, generator=g)

    def text() -> TextEmbeds:
        return TextEmbeds(
            torch.randn(1, length, cfg.caption_channels, generator=g),
            torch.randn(1, length, cfg.caption_channels, generator=g),
            torch.ones(1, length),
        )

    return DenoiseState(
        video=video,
        video_clean=video * (1 - mask[..., None]),
        video_mask=mask,
        audio_ref=torch.randn(1, nr, cfg.audio_in_channels, generator=g),
        audio=torch.randn(1, nt, cfg.audio_in_channels, generator=g),
        video_coords=video_coords(1, lf, lh, lw, 25.0),
        audio_coords=audio_coords(1, nr, nt),
        positive=text(),
        negative=text(),
        latent_frames=lf,
        latent_height=lh,
        latent_width=lw,
        fps=25.0,
    )


def run_case(transformer: Any, case: str, executor: Any = None) -> tuple[Any, Any]:
    """Final (video, target audio) latents as numpy arrays after ``STEPS`` Euler steps."""
    import torch

    from engine.pipeline.denoise import denoise, run_passes
    from engine.pipeline.guidance import GuidanceScales
    from engine.pipeline.schedule import ltx2_sigmas

    state = make_state(transformer, case)
    scales = GuidanceScales(stg_block=1)  # every guidance on; the tiny model has 2 blocks
    with torch.no_grad():
        out = denoise(
            transformer,
            state,
            ltx2_sigmas(STEPS),
            scales,
            use_cross_timestep=False,
            pass_runner=executor if executor is not None else run_passes,
        )
    return out.video.numpy().copy(), out.audio.numpy().copy()


def rank_main(rank: int, world: int, init_method: str, results: Any) -> None:
    """One gloo rank: pass parallel and sequence parallel on every case."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        from engine.distributed.context import destroy, init_group
        from engine.distributed.passes import PassParallelExecutor
        from engine.distributed.sequence import SequenceParallel, SequenceParallelExecutor
        from engine.pipeline.denoise import run_passes

        ctx = init_group(rank, world, "cpu", init_method, timeout_s=120)
        out: dict[str, Any] = {}
        tr = build_transformer()
        executor = PassParallelExecutor(ctx, run_passes)
        for case in CASES:
            out[f"passes/{case}"] = run_case(tr, case, executor)
        out["passes/share"] = executor.last_share
        # the batched fast executor (the default on one GPU) for each rank's share
        from engine.pipeline.executor import make_executor

        fast = PassParallelExecutor(ctx, make_executor("fast"))
        out["passes-fast/even"] = run_case(tr, "even", fast)
        out["passes-fast/share"] = fast.last_share
        sp_tr = build_transformer()
        sp = SequenceParallel(sp_tr, ctx, "ulysses")
        sp_exec = SequenceParallelExecutor(sp)
        seen: list[tuple[int, int]] = []  # (video, audio) tokens a block of this rank sees

        def record(_module: Any, _args: Any, kwargs: Any) -> None:
            seen.append((kwargs["hidden_states"].shape[1], kwargs["audio_hidden_states"].shape[1]))

        hook = sp_tr.transformer_blocks[0].register_forward_pre_hook(record, with_kwargs=True)
        out["sequence/even"] = run_case(sp_tr, "even", sp_exec)
        hook.remove()
        out["sequence/tokens_seen"] = sorted(set(seen))
        try:  # gloo has no all-gather of unequal pieces: refused with the sizes
            run_case(sp_tr, "uneven", sp_exec)
        except Exception as exc:  # noqa: BLE001 - the message is checked by the test
            out["sequence/uneven_error"] = str(exc)
        results.put((rank, out))
        destroy()
    except BaseException:  # noqa: BLE001 - the parent shows it
        results.put((rank, traceback.format_exc()))
