"""``GroupGenerator``: a whole tiny take on two CPU processes (gloo) equals the one-process
take, progress comes from rank 0, cancel stops every rank at the same step and the group stays
usable, and a rank that dies fails the take with a sentence instead of hanging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.api import Cancelled, CancelToken, EngineError, GenerationRequest  # noqa: E402


def _media(tmp: Path) -> tuple[Path, Path]:
    from PIL import Image

    from engine.media.audio import write_wav

    rng = np.random.default_rng(0)
    img = tmp / "face.png"
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(img)
    sr = 22050
    t = np.arange(int(sr * 2.5)) / sr
    wav = tmp / "voice.wav"
    write_wav(wav, (0.3 * np.sin(2 * np.pi * 180 * t))[None].astype(np.float32), sr)
    return img, wav


@pytest.fixture(scope="module")
def request_(tmp_path_factory: pytest.TempPathFactory) -> GenerationRequest:
    img, wav = _media(tmp_path_factory.mktemp("group-media"))
    return GenerationRequest(
        prompt="[VISUAL]: a woman is speaking [SPEECH]: hello",
        image=img,
        voice=wav,
        num_frames=9,
        steps=3,
        auto_long_side=128,
        seed=5,
    )


@pytest.fixture(scope="module")
def single(tiny_model_dir: Path, request_: GenerationRequest):
    from engine.generate import IDLoRAGenerator

    gen = IDLoRAGenerator.load("tiny", cache_dir=tiny_model_dir.parent, device="cpu")
    try:
        yield gen.generate(request_)
    finally:
        gen.close()


def _group(tiny_model_dir: Path, mode: str):
    from engine.distributed.group import GroupGenerator

    return GroupGenerator.load(
        "tiny",
        devices=["cpu", "cpu"],
        mode=mode,
        cache_dir=tiny_model_dir.parent,
        inner_executor="sequential",
    )


@pytest.fixture(scope="module")
def passes_group(tiny_model_dir: Path):
    group = _group(tiny_model_dir, "passes")
    yield group
    group.close()


@pytest.mark.parametrize("mode", ["passes", "sequence"])
def test_group_take_equals_one_process(
    tiny_model_dir, request_, single, passes_group, mode: str
) -> None:
    group = passes_group if mode == "passes" else _group(tiny_model_dir, mode)
    try:
        seen = []
        res = group.generate(request_, progress=seen.append)
        info = group.model_info()
    finally:
        if group is not passes_group:
            group.close()
    # rank 0's progress: once per denoising step (and at each stage's start)
    assert [p.step for p in seen if p.stage == "denoise" and p.step] == [1, 2, 3]
    assert info["parallel"]["mode"] == mode and info["parallel"]["world_size"] == 2
    assert info["parallel"]["backend"] == "gloo"
    assert res.frames.shape == single.frames.shape
    diff = np.abs(res.frames.astype(int) - single.frames.astype(int))
    assert diff.max() <= 1, diff.max()  # uint8 rounding of latents equal to 1e-5
    assert np.allclose(res.audio, single.audio, rtol=0, atol=1e-4 * np.abs(single.audio).max())
    assert res.effective["seed"] == single.effective["seed"]


def test_group_cancel_stops_every_rank_and_the_group_goes_on(passes_group, request_) -> None:
    """Runs after the equality test on the same group, and ends it (a rank is killed)."""
    group = passes_group
    token = CancelToken()

    def progress(p) -> None:  # noqa: ANN001
        if p.stage == "denoise" and p.step == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        group.generate(request_, progress=progress, cancel=token)
    # every rank stopped at the same check: the next take runs to the end
    steps = []
    res = group.generate(request_, progress=steps.append)
    assert [p.step for p in steps if p.stage == "denoise" and p.step] == [1, 2, 3]
    assert res.frames.shape[0] == 9
    # a rank that dies mid-take fails the take with a sentence (no hang)
    group._procs[1].kill()
    with pytest.raises(EngineError, match="rank 1"):
        group.generate(request_)
    with pytest.raises(EngineError, match="shut down"):
        group.generate(request_)


def test_group_load_error_is_the_ranks_error(tmp_path: Path) -> None:
    from engine.api import ModelNotFoundError
    from engine.distributed.group import GroupGenerator

    with pytest.raises((ModelNotFoundError, EngineError)):
        GroupGenerator.load(str(tmp_path / "no-such-model"), devices=["cpu", "cpu"])
    with pytest.raises(EngineError, match="not one of"):
        GroupGenerator.load("tiny", devices=["cpu"], mode="jobs")
