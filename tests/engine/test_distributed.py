"""Pass parallel and sequence parallel on two CPU processes (torch.distributed, gloo) against
one process: the tiny LTX-2 transformer in float32, every guidance on, a reference voice at
negative RoPE times, 3 Euler steps (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.engine import distributed_workers as W  # noqa: E402

TOL = 1e-5


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.fixture(scope="module")
def two_ranks() -> dict[str, dict]:
    """Both ranks' results of every case (one spawn of two gloo processes for the module)."""
    import torch.multiprocessing as mp

    from engine.distributed.context import free_port

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    init = f"tcp://127.0.0.1:{free_port()}"
    procs = [ctx.Process(target=W.rank_main, args=(r, 2, init, results)) for r in range(2)]
    for p in procs:
        p.start()
    out: dict[int, dict] = {}
    try:
        for _ in procs:
            rank, payload = results.get(timeout=240)
            assert not isinstance(payload, str), f"rank {rank} failed:\n{payload}"
            out[rank] = payload
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return {f"rank{r}": v for r, v in out.items()}


@pytest.fixture(scope="module")
def single() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    torch.set_num_threads(1)
    tr = W.build_transformer()
    return {case: W.run_case(tr, case) for case in W.CASES}


@pytest.mark.parametrize(
    ("mode", "case"),
    [("passes", "even"), ("passes", "uneven"), ("passes-fast", "even"), ("sequence", "even")],
)
def test_parallel_equals_single_process(two_ranks, single, mode: str, case: str) -> None:
    ref_video, ref_audio = single[case]
    for rank in ("rank0", "rank1"):
        video, audio = two_ranks[rank][f"{mode}/{case}"]
        assert video.shape == ref_video.shape and audio.shape == ref_audio.shape
        assert _rel(video, ref_video) < TOL, (mode, case, rank, _rel(video, ref_video))
        # the audio stream (reference tokens at negative times, identity pass without them)
        assert _rel(audio, ref_audio) < TOL, (mode, case, rank, _rel(audio, ref_audio))


def test_sequence_parallel_splits_the_video_and_keeps_the_audio_whole(two_ranks) -> None:
    lf, lh, lw, nr, nt, _length = W.CASES["even"]
    # the blocks of each rank see half the video tokens and every audio token (reference and
    # target for most passes, target only for the identity pass)
    expected = sorted({(lf * lh * lw // 2, nr + nt), (lf * lh * lw // 2, nt)})
    for rank in ("rank0", "rank1"):
        assert two_ranks[rank]["sequence/tokens_seen"] == expected


def test_uneven_sequence_split_on_gloo_is_refused_with_the_sizes(two_ranks) -> None:
    for rank in ("rank0", "rank1"):
        msg = two_ranks[rank]["sequence/uneven_error"]
        assert "27 video and 7 text tokens" in msg and "divide by 2" in msg, msg


def test_the_fast_executor_keeps_stg_with_the_conditional_pass(two_ranks) -> None:
    """With the fast executor each rank batches its share as lanes; STG forks from P, so the
    two stay on one rank."""
    share0 = two_ranks["rank0"]["passes-fast/share"]
    share1 = two_ranks["rank1"]["passes-fast/share"]
    assert {"cond", "stg"} <= set(share0) and share1
    assert sorted(share0 + share1) == sorted(["cond", "negative", "identity", "stg", "modality"])


def test_each_rank_ran_a_share_of_the_passes(two_ranks) -> None:
    shares = [two_ranks["rank0"]["passes/share"], two_ranks["rank1"]["passes/share"]]
    assert all(shares), shares  # both ranks worked
    assert sorted(shares[0] + shares[1]) == sorted(
        ["cond", "negative", "identity", "stg", "modality"]
    )


def test_the_cases_are_sensitive_to_the_reference_positions(single) -> None:
    """The comparison above would not notice lost reference positions if they did not matter:
    moving the reference tokens to positive times changes the result."""
    from engine.pipeline.positions import audio_coords

    tr = W.build_transformer()
    original = W.make_state

    def shifted(transformer, case):  # noqa: ANN001, ANN202
        state = original(transformer, case)
        nr, nt = state.num_reference, state.audio.shape[1]
        coords = audio_coords(1, nr, nt)
        coords[:, :, :nr] += 100.0
        state.audio_coords = coords
        return state

    W.make_state = shifted
    try:
        _video, audio = W.run_case(tr, "even")
    finally:
        W.make_state = original
    assert _rel(audio, single["even"][1]) > 1e-3


def test_assign_passes_is_balanced_and_keeps_stg_with_cond() -> None:
    from engine.distributed.passes import assign_passes

    names = ["cond", "negative", "identity", "stg", "modality"]
    two = assign_passes(names, 2)
    assert "cond" in two[0] and "stg" in two[0]
    assert sorted(sum(two, [])) == sorted(names)
    assert assign_passes(names, 2, stg_fork=False) == [
        ["cond", "identity", "modality"],
        ["negative", "stg"],
    ]
    eight = assign_passes(names, 8, stg_fork=False)
    assert [len(s) for s in eight] == [1, 1, 1, 1, 1, 0, 0, 0]
    with pytest.raises(ValueError):
        assign_passes(names, 0)


def test_world_size_one_is_the_inner_executor(single) -> None:
    """A group of one (what a single GPU under torchrun --nproc_per_node 1 is) gives the
    single-process result through both executors, without joining any process group."""
    from engine.distributed.context import DistContext
    from engine.distributed.passes import PassParallelExecutor
    from engine.distributed.sequence import SequenceParallel, SequenceParallelExecutor
    from engine.pipeline.denoise import run_passes

    ctx = DistContext(0, 1, "cpu", "gloo")
    tr = W.build_transformer()
    video, audio = W.run_case(tr, "even", PassParallelExecutor(ctx, run_passes))
    assert np.array_equal(video, single["even"][0]) and np.array_equal(audio, single["even"][1])
    sp = SequenceParallel(tr, ctx)
    assert sp.config is None  # nothing to split
    video, audio = W.run_case(tr, "even", SequenceParallelExecutor(sp))
    assert np.array_equal(video, single["even"][0])


def test_ring_attention_on_the_cpu_is_refused_with_a_reason() -> None:
    from engine.api import InvalidRequestError
    from engine.distributed.context import DistContext
    from engine.distributed.sequence import SequenceParallel

    with pytest.raises(InvalidRequestError, match="ring attention needs a CUDA GPU"):
        SequenceParallel(W.build_transformer(), DistContext(0, 2, "cpu", "gloo"), "ring")
    with pytest.raises(InvalidRequestError, match="not one of"):
        SequenceParallel(W.build_transformer(), DistContext(0, 1, "cpu", "gloo"), "spiral")


def test_parse_gpus() -> None:
    from engine.distributed.context import parse_gpus

    assert parse_gpus("0,1") == [0, 1]
    assert parse_gpus(" 2 , 0 ") == [2, 0]
    assert parse_gpus("") is None and parse_gpus(None) is None
    for bad in ("0,a", "-1", "1,1"):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_gpus(bad)
